"""Layers with the book's ``forward(x)`` / ``backward(dout)`` protocol (section 5 of the book).

Each layer keeps what its backward pass needs from the last forward pass. ``backward``
never modifies the incoming ``dout``; it returns a new array, the gradient for the input.
"""

from __future__ import annotations

import numpy as np

from scratchnn.functions import labels_of, relu, sigmoid, softmax


class Affine:
    """``out = x @ W + b``.

    Parameters
    ----------
    W : ndarray, shape (D_in, D_out)
    b : ndarray, shape (D_out,)

    After ``backward``, ``dW`` (D_in, D_out) and ``db`` (D_out,) hold the parameter gradients.
    """

    def __init__(self, W: np.ndarray, b: np.ndarray) -> None:
        self.W, self.b = W, b
        self.x: np.ndarray | None = None
        self.dW: np.ndarray | None = None
        self.db: np.ndarray | None = None

    def forward(self, x: np.ndarray) -> np.ndarray:
        """x: (N, D_in) -> (N, D_out)."""
        self.x = x
        return x @ self.W + self.b

    def backward(self, dout: np.ndarray) -> np.ndarray:
        """dout: (N, D_out) -> dx: (N, D_in); sets ``dW`` and ``db``."""
        self.dW = self.x.T @ dout
        self.db = dout.sum(axis=0)
        return dout @ self.W.T


class Sigmoid:
    """``out = sigmoid(x)``, elementwise; backward uses ``out * (1 - out)``.

    ``forward`` and ``backward`` take an optional ``out`` array to write into (it may be
    their input): the book's layers allocate, ``scratchnn.fast`` reuses its buffers.
    """

    def __init__(self) -> None:
        self.out: np.ndarray | None = None

    def forward(self, x: np.ndarray, out: np.ndarray | None = None) -> np.ndarray:
        self.out = sigmoid(x, out=out)
        return self.out

    def backward(self, dout: np.ndarray, out: np.ndarray | None = None) -> np.ndarray:
        """The book's ``dout * (1 - y) * y`` for the forward output y; ``out`` may be ``dout``."""
        dx = np.multiply(dout, 1.0 - self.out, out=out)
        dx *= self.out
        return dx


class Relu:
    """``out = max(0, x)``, elementwise; backward passes ``dout`` where ``x > 0``.

    ``forward`` and ``backward`` take an optional ``out`` array, as ``Sigmoid``'s do.
    """

    def __init__(self) -> None:
        self.mask: np.ndarray | None = None

    def forward(self, x: np.ndarray, out: np.ndarray | None = None) -> np.ndarray:
        self.mask = x <= 0
        return relu(x, out=out)

    def backward(self, dout: np.ndarray, out: np.ndarray | None = None) -> np.ndarray:
        """``dout`` with the entries where ``x <= 0`` set to 0; ``out`` may be ``dout``."""
        dx = np.copy(dout) if out is None else out
        if dx is not dout:
            dx[...] = dout
        dx[self.mask] = 0.0
        return dx


# The hidden layers a network can use, by the name ``TwoLayerNet(activation=...)`` takes: the
# one list of activations (the config's choices and the fast kernels read it too).
ACTIVATIONS: dict[str, type[Sigmoid] | type[Relu]] = {"sigmoid": Sigmoid, "relu": Relu}


class SoftmaxWithLoss:
    """Softmax followed by the mean cross-entropy loss over the batch.

    The loss is computed exactly as ``logsumexp(x_n) - x_n[t_n]`` (log-softmax), which is the
    function whose derivative ``(softmax(x) - onehot(t)) / N`` ``backward`` returns. The book's
    ``cross_entropy_error(softmax(x), t)`` adds 1e-7 inside the log; the two agree to within
    ``1e-7 / y`` and this one has no floor, so numerical and analytic gradients agree.
    """

    def __init__(self) -> None:
        self.y: np.ndarray | None = None
        self.labels: np.ndarray | None = None

    def forward(self, x: np.ndarray, t: np.ndarray) -> float:
        """x: (N, C) scores, t: (N,) labels or (N, C) one-hot -> mean loss."""
        self.labels = labels_of(t)
        self.y = softmax(x)
        return float(np.mean(softmax_cross_entropy(x, self.labels)))

    def backward(self, dout: float = 1.0) -> np.ndarray:
        """Gradient of the mean loss for the scores, shape (N, C)."""
        n = self.y.shape[0]
        dx = self.y.copy()
        dx[np.arange(n), self.labels] -= 1.0
        return dx * (dout / n)


def softmax_cross_entropy(scores: np.ndarray, labels: np.ndarray) -> np.ndarray:
    """Per-sample loss ``logsumexp(scores[n]) - scores[n, labels[n]]``.

    Parameters
    ----------
    scores : ndarray, shape (N, C)
    labels : ndarray of ints, shape (N,)

    Returns
    -------
    ndarray, shape (N,)
    """
    peak = scores.max(axis=1, keepdims=True)
    log_norm = np.log(np.exp(scores - peak).sum(axis=1)) + peak[:, 0]
    return log_norm - scores[np.arange(scores.shape[0]), labels]
