"""The chapter's networks: ``SimpleNet`` (section 4.4.2) and ``TwoLayerNet`` (section 4.5)."""

from __future__ import annotations

import numpy as np

from scratchnn import gradient
from scratchnn.functions import cross_entropy_error, labels_of, softmax
from scratchnn.layers import ACTIVATIONS, Affine, Relu, Sigmoid, SoftmaxWithLoss

PARAM_KEYS = ("W1", "b1", "W2", "b2")
# weight_init_std by name, as the book's chapter 6.2 ``MultiLayerNet`` takes it: each weight
# matrix is sqrt(gain / fan_in) * N(0, 1), fan_in = the rows of the matrix.
WEIGHT_INITS = {"he": 2.0, "xavier": 1.0}  # He for ReLU, Xavier for sigmoid


class SimpleNet:
    """One weight matrix ``W`` (2, 3), softmax and cross entropy, as in section 4.4.2."""

    def __init__(self, *, rng: np.random.Generator) -> None:
        self.W = rng.standard_normal((2, 3))

    def predict(self, x: np.ndarray) -> np.ndarray:
        """x: (2,) or (N, 2) -> scores (3,) or (N, 3)."""
        return x @ self.W

    def loss(self, x: np.ndarray, t: np.ndarray) -> float:
        """The book's ``cross_entropy_error(softmax(x @ W), t)``."""
        return cross_entropy_error(softmax(self.predict(x)), t)


class TwoLayerNet:
    """Affine -> sigmoid (or ReLU) -> Affine -> softmax with cross-entropy loss.

    Parameters
    ----------
    input_size, hidden_size, output_size : int
        D, H and C: ``W1`` is (D, H), ``b1`` (H,), ``W2`` (H, C), ``b2`` (C,).
    weight_init_std : float or {"he", "xavier"}
        Weights are ``weight_init_std * N(0, 1)``, or scaled by ``WEIGHT_INITS``; biases start
        at zero.
    activation : {"sigmoid", "relu"}
        The hidden layer; sigmoid as in chapter 4, ReLU as in chapter 5.
    rng : numpy.random.Generator, optional
        The only source of randomness; the same seed gives bitwise-identical weights.
    dtype : numpy float dtype
        float64 by default; float32 works end to end.
    """

    def __init__(
        self,
        input_size: int,
        hidden_size: int,
        output_size: int,
        weight_init_std: float | str = 0.01,
        *,
        activation: str = "sigmoid",
        rng: np.random.Generator | None = None,
        dtype: np.dtype | type = np.float64,
    ) -> None:
        if activation not in ACTIVATIONS:
            raise ValueError(
                f"activation={activation!r} is unknown; allowed: {sorted(ACTIVATIONS)}"
            )
        if isinstance(weight_init_std, str) and weight_init_std not in WEIGHT_INITS:
            raise ValueError(
                f"weight_init_std={weight_init_std!r} is unknown; allowed: a number or one of "
                f"{sorted(WEIGHT_INITS)}"
            )
        rng = np.random.default_rng() if rng is None else rng
        self.activation = activation

        def weights(fan_in: int, fan_out: int) -> np.ndarray:
            std = weight_init_std
            if isinstance(std, str):
                std = np.sqrt(WEIGHT_INITS[std] / fan_in)
            return (std * rng.standard_normal((fan_in, fan_out))).astype(dtype)

        self.params: dict[str, np.ndarray] = {
            "W1": weights(input_size, hidden_size),
            "b1": np.zeros(hidden_size, dtype=dtype),
            "W2": weights(hidden_size, output_size),
            "b2": np.zeros(output_size, dtype=dtype),
        }

    def _layers(self) -> tuple[Affine, Sigmoid | Relu, Affine]:
        p = self.params
        return Affine(p["W1"], p["b1"]), ACTIVATIONS[self.activation](), Affine(p["W2"], p["b2"])

    def scores(self, x: np.ndarray) -> np.ndarray:
        """x: (N, D) -> pre-softmax scores (N, C)."""
        for layer in self._layers():
            x = layer.forward(x)
        return x

    def predict(self, x: np.ndarray) -> np.ndarray:
        """x: (N, D) -> class probabilities (N, C), as in the book."""
        return softmax(self.scores(x))

    def loss(self, x: np.ndarray, t: np.ndarray) -> float:
        """Mean cross-entropy of the batch; t: (N,) labels or (N, C) one-hot."""
        return SoftmaxWithLoss().forward(self.scores(x), t)

    def accuracy(self, x: np.ndarray, t: np.ndarray) -> float:
        """Fraction of the N samples whose highest score is the correct class."""
        return float(np.mean(self.scores(x).argmax(axis=1) == labels_of(t)))

    def numerical_gradient(self, x: np.ndarray, t: np.ndarray, h: float = 1e-4) -> dict:
        """Gradient of ``loss(x, t)`` by central differences, one parameter at a time.

        The textbook method: 2 loss evaluations per parameter. Returns a dict keyed like
        ``params`` with arrays of the same shapes.
        """

        def loss_at_current_params(_: np.ndarray) -> float:
            return self.loss(x, t)

        return {
            key: gradient.numerical_gradient(loss_at_current_params, self.params[key], h)
            for key in PARAM_KEYS
        }

    def gradient(self, x: np.ndarray, t: np.ndarray) -> dict:
        """Gradient of ``loss(x, t)`` by backpropagation; dict keyed like ``params``."""
        return self.loss_and_gradient(x, t)[1]

    def loss_and_gradient(self, x: np.ndarray, t: np.ndarray) -> tuple[float, dict]:
        """``loss(x, t)`` and its backprop gradient from one forward pass."""
        affine1, hidden, affine2 = self._layers()
        head = SoftmaxWithLoss()
        loss = head.forward(affine2.forward(hidden.forward(affine1.forward(x))), t)
        affine1.backward(hidden.backward(affine2.backward(head.backward(1.0))))
        grads = {"W1": affine1.dW, "b1": affine1.db, "W2": affine2.dW, "b2": affine2.db}
        return loss, grads
