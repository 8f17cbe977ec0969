"""Fast training step and accuracy for ``TwoLayerNet``: preallocated, fused, in the net's dtype.

``FusedSGD.step`` computes the same loss and plain-SGD update as ``net.loss_and_gradient``
followed by ``scratchnn.optimizers.SGD.update`` (to floating-point rounding) with no
allocation per step: ``out=`` products into buffers made once, a fused softmax-cross-entropy
backward with ``lr / N`` folded into the score gradient, and no gradient for the input. The
scores are kept transposed, (C, N), so the per-sample reductions run over a contiguous axis.
"""

from __future__ import annotations

import numpy as np

from scratchnn.networks import TwoLayerNet


def sigmoid_into(a: np.ndarray, out: np.ndarray) -> np.ndarray:
    """``out[...] = 1 / (1 + exp(-a))`` elementwise, no overflow warning; ``out`` may be ``a``.

    Where ``exp(-a)`` overflows (``a < -88.7`` in float32) it is ``inf`` and the result the
    correct limit 0, so the overflow is silenced rather than clipped. Relative error: a few
    ulps everywhere (the ``0.5 * tanh(0.5 * a) + 0.5`` form loses all relative accuracy
    below ``a = -17`` in float32 and is slower here).
    """
    np.negative(a, out=out)
    with np.errstate(over="ignore"):
        np.exp(out, out=out)
    out += 1.0
    return np.reciprocal(out, out=out)


class FusedSGD:
    """Plain SGD (``param -= lr * grad``) on a ``TwoLayerNet``, one minibatch per ``step``.

    Parameters
    ----------
    net : TwoLayerNet
        Its ``params`` arrays are updated in place (the same objects, never rebound).
    batch_size : int
        N, the rows of every batch passed to ``step``.
    lr : float
        The learning rate.
    """

    def __init__(self, net: TwoLayerNet, batch_size: int, lr: float) -> None:
        self.net, self.batch_size, self.lr = net, batch_size, float(lr)
        p = net.params
        (d, h), c, n = p["W1"].shape, p["W2"].shape[1], batch_size
        dt = p["W1"].dtype
        self.x = np.empty((n, d), dt)  # gather() fills these two
        self.labels = np.empty(n, np.int64)
        self._a1, self._z1, self._tmp = (np.empty((n, h), dt) for _ in range(3))
        self._scores_t = np.empty((c, n), dt)  # scores, then their gradient, (C, N)
        self._col = np.empty(n, dt)  # per-sample values: max, sum of exp, ...
        self._picked, self._log_sum = np.empty(n, dt), np.empty(n, dt)
        self._flat = np.empty(n, np.intp)  # flat index of (label, sample) in (C, N)
        self._rows = np.arange(n)
        self._ones = np.ones(n, dt)
        self._dW1, self._db1 = np.empty((d, h), dt), np.empty(h, dt)
        self._dW2, self._db2 = np.empty((h, c), dt), np.empty(c, dt)
        self._b2_col = p["b2"][:, np.newaxis]  # a view: stays valid, b2 is updated in place

    def gather(
        self, x_train: np.ndarray, labels_train: np.ndarray, idx: np.ndarray
    ) -> tuple[np.ndarray, np.ndarray]:
        """Copy rows ``idx`` (N,) of ``x_train`` (M, D) and ``labels_train`` (M,) into the
        preallocated batch buffers ``self.x`` (N, D) and ``self.labels`` (N,); return both.

        ``x_train`` should already have the net's dtype (convert it once, not per batch).
        ``idx`` must be valid row numbers: out-of-range ones are clipped, not reported.
        """
        if self.labels.dtype != labels_train.dtype:  # np.take casts only "safely"
            self.labels = np.empty(self.batch_size, labels_train.dtype)
        # mode="clip": with the default "raise", ``out=`` makes np.take use a temporary copy
        np.take(x_train, idx, axis=0, out=self.x, mode="clip")
        np.take(labels_train, idx, out=self.labels, mode="clip")
        return self.x, self.labels

    def step(self, x: np.ndarray, labels: np.ndarray) -> float:
        """One SGD update on the batch ``x`` (N, D), ``labels`` (N,) ints.

        Returns the mean cross-entropy loss of the batch at the parameters before the update.
        """
        p = self.net.params
        a1, z1, s_t = self._a1, self._z1, self._scores_t
        np.matmul(x, p["W1"], out=a1)
        a1 += p["b1"]
        if self.net.activation == "sigmoid":
            sigmoid_into(a1, z1)
        else:
            np.maximum(a1, 0.0, out=z1)
        np.matmul(p["W2"].T, z1.T, out=s_t)
        s_t += self._b2_col
        loss = self._softmax_cross_entropy_backward(labels)
        self._backward_and_update(x)
        return loss

    def _softmax_cross_entropy_backward(self, labels: np.ndarray) -> float:
        """Mean loss of the scores (C, N); overwrite them with ``lr * dloss/dscores``."""
        s_t, col, n = self._scores_t, self._col, self.batch_size
        np.multiply(labels, n, out=self._flat)
        self._flat += self._rows
        np.maximum.reduce(s_t, axis=0, out=col)
        s_t -= col  # shifted: every column's maximum is 0
        np.take(s_t.reshape(-1), self._flat, out=self._picked, mode="clip")
        np.exp(s_t, out=s_t)
        np.add.reduce(s_t, axis=0, out=col)
        log_sum = np.log(col, out=self._log_sum)
        log_sum -= self._picked
        loss = float(log_sum.sum()) / n
        np.divide(self.lr / n, col, out=col)
        s_t *= col  # lr * softmax / N
        flat_scores = s_t.reshape(-1)
        flat_scores[self._flat] -= self.lr / n  # lr * (softmax - onehot) / N
        return loss

    def _backward_and_update(self, x: np.ndarray) -> None:
        """Backprop the scaled score gradient (C, N) and apply ``param -= lr * grad``."""
        p, g_t, z1, dz = self.net.params, self._scores_t, self._z1, self._a1
        np.matmul(g_t.T, p["W2"].T, out=dz)  # before W2 changes
        np.matmul(z1.T, g_t.T, out=self._dW2)
        np.add.reduce(g_t, axis=1, out=self._db2)
        p["W2"] -= self._dW2
        p["b2"] -= self._db2
        if self.net.activation == "sigmoid":  # dz *= z (1 - z)
            np.multiply(dz, z1, out=dz)
            np.multiply(dz, z1, out=self._tmp)
            dz -= self._tmp
        else:  # ReLU: zero where the input was <= 0, i.e. where the output is 0
            np.greater(z1, 0.0, out=self._tmp)
            dz *= self._tmp
        np.matmul(x.T, dz, out=self._dW1)
        np.matmul(self._ones, dz, out=self._db1)
        p["W1"] -= self._dW1
        p["b1"] -= self._db1


def accuracy(net: TwoLayerNet, x: np.ndarray, labels: np.ndarray, chunk_size: int = 1024) -> float:
    """Fraction of the rows of ``x`` (M, D) whose highest score is ``labels`` (M,).

    Equal to ``net.accuracy(x, labels)`` up to rounding, without allocating per chunk: the
    scores ``act(x @ W1 + b1) @ W2 + b2`` of ``chunk_size`` rows at a time go into buffers
    in the net's dtype (``x`` should already have it), and the argmax needs no softmax.
    """
    p = net.params
    m, dt = x.shape[0], p["W1"].dtype
    rows = max(1, min(chunk_size, m))
    hidden = np.empty((rows, p["W1"].shape[1]), dt)
    scores = np.empty((rows, p["W2"].shape[1]), dt)
    pred = np.empty(rows, np.intp)
    correct = 0
    for start in range(0, m, rows):
        stop = min(start + rows, m)
        h, s, k = hidden[: stop - start], scores[: stop - start], pred[: stop - start]
        np.matmul(x[start:stop], p["W1"], out=h)
        h += p["b1"]
        if net.activation == "sigmoid":
            sigmoid_into(h, h)
        else:
            np.maximum(h, 0.0, out=h)
        np.matmul(h, p["W2"], out=s)
        s += p["b2"]
        np.argmax(s, axis=1, out=k)
        correct += int(np.count_nonzero(k == labels[start:stop]))
    return correct / m if m else 0.0
