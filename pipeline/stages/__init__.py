"""The pipeline's stages: plain functions, arrays and config in, arrays and metrics out.

data      load_data: the full MNIST (offline, verified, cached) or a synthetic set, with its
          validation rows held out of the training rows
train     train: mini-batch SGD of the chapter's two-layer net, evaluated every epoch
steps     how one step is taken: analytic or numerical gradient, textbook or fast code
evaluate  evaluate: final accuracies, losses, the confusion matrix, the test predictions
selection ranked: a sweep's configs by mean validation accuracy over seeds; what "best" means
descent   descend: the notebook's gradient descent on f(x0, x1) = x0**2 + x1**2

A stage imports only ``scratchnn``, other stages and ``pipeline.errors``: never Hydra, MLflow
or the tracking code, which stay at the edge (``tests/test_layout.py`` checks it).
"""
