"""scratchnn: the "Deep Learning from Scratch" chapter-4 network, in plain numpy.

The library knows nothing of Hydra or MLflow: arrays in, arrays out.

Modules
-------
functions   activation and loss functions (sigmoid, relu, softmax, cross entropy)
gradient    numerical differentiation and gradient descent for any function
layers      Affine, Sigmoid, Relu, SoftmaxWithLoss with forward/backward
networks    SimpleNet (section 4.4.2) and TwoLayerNet (section 4.5)
optimizers  SGD, Momentum, AdaGrad, Adam updating a params dict in place
numerical   the TwoLayerNet's numerical gradient at full scale (numerical_kernels: its maths)
fused       a preallocated float32/float64 SGD step and accuracy for fast training
"""

from scratchnn.networks import SimpleNet, TwoLayerNet
from scratchnn.optimizers import SGD

__all__ = ["SGD", "SimpleNet", "TwoLayerNet"]
__version__ = "0.1.0"
