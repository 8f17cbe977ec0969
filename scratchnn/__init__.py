"""scratchnn: the "Deep Learning from Scratch" chapter-4 network, in plain numpy.

The library knows nothing of Hydra or MLflow: arrays in, arrays out.

The textbook code, top to bottom:

functions   activation and loss functions (sigmoid, relu, softmax, cross entropy)
layers      Affine, Sigmoid, Relu, SoftmaxWithLoss with forward/backward; ACTIVATIONS
networks    SimpleNet (section 4.4.2) and TwoLayerNet (section 4.5)
gradient    numerical differentiation and gradient descent for any function
optimizers  SGD, Momentum, AdaGrad, Adam updating a params dict in place

fast/       speed-ups, each reproducing one of the functions above (its docstring says which)
"""

from scratchnn.networks import SimpleNet, TwoLayerNet
from scratchnn.optimizers import SGD

__all__ = ["SGD", "SimpleNet", "TwoLayerNet"]
__version__ = "0.1.0"
