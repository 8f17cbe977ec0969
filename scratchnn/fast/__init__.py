"""Speed-ups of the textbook code: each reproduces a function of ``scratchnn`` exactly, up to
floating-point rounding, and is tested against it.

step              ``FusedStep.step`` reproduces ``TwoLayerNet.loss_and_gradient`` followed by
                  an optimizer's ``update`` (``SGD`` fused in), on buffers made once
numerical         ``numerical_loss_and_gradient`` reproduces ``TwoLayerNet.numerical_gradient``
                  (central differences of every parameter), evaluating only what a
                  perturbation can change
numerical_kernels the pieces of ``numerical``
accuracy          ``BlockedAccuracy.accuracy`` reproduces ``TwoLayerNet.accuracy`` exactly, a
                  block of rows at a time on buffers made once
"""
