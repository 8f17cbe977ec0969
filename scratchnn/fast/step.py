"""The training step of ``TwoLayerNet``, on buffers made once.

``FusedStep.step`` reproduces ``TwoLayerNet.loss_and_gradient`` followed by an optimizer's
``update`` (``scratchnn.optimizers``): the same forward pass through the same hidden layer
(``scratchnn.layers.ACTIVATIONS``), the same loss and the same update, equal up to
floating-point rounding. What makes it faster is only where the numbers go: every product is
written into a buffer made once (``out=``), the softmax-cross-entropy gradient is computed in
place in the score buffer, and no gradient is computed for the input. For ``SGD``, whose
update is ``param -= lr * grad``, ``lr / N`` is folded into that gradient, so the update is a
plain subtraction; any other optimizer updates the params from the gradient buffers itself.
"""

from __future__ import annotations

import numpy as np

from scratchnn.layers import ACTIVATIONS
from scratchnn.networks import TwoLayerNet
from scratchnn.optimizers import SGD, Optimizer


class FusedStep:
    """One minibatch of training of a ``TwoLayerNet`` per ``step``: backprop, then the update.

    Parameters
    ----------
    net : TwoLayerNet
        Its ``params`` arrays are updated in place (the same objects, never rebound).
    batch_size : int
        N, the rows of every batch passed to ``step``.
    optimizer : scratchnn.optimizers optimizer
        ``SGD`` is fused into the gradient (see the module); any other updates the params from
        ``self.steps``, the gradient keyed like ``net.params``.
    """

    def __init__(self, net: TwoLayerNet, batch_size: int, optimizer: Optimizer) -> None:
        self.net, self.optimizer = net, optimizer
        self.fused = type(optimizer) is SGD
        self.scale = float(optimizer.lr) if self.fused else 1.0  # the gradient's factor
        p = net.params
        (d, h), c, n, dtype = p["W1"].shape, p["W2"].shape[1], batch_size, p["W1"].dtype
        self.hidden = ACTIVATIONS[net.activation]()  # the book's layer, on the buffers below
        self.x, self.labels = np.empty((n, d), dtype), np.empty(n, np.int64)
        self.a1, self.z1 = np.empty((n, h), dtype), np.empty((n, h), dtype)
        self.scores = np.empty((n, c), dtype)  # the scores, then scale * their gradient
        self.steps = {key: np.empty_like(value) for key, value in p.items()}  # scale * grad
        self.rows = np.arange(n)

    def gather(
        self, x_train: np.ndarray, labels_train: np.ndarray, idx: np.ndarray
    ) -> tuple[np.ndarray, np.ndarray]:
        """Copy rows ``idx`` (N,) of ``x_train`` (M, D) and ``labels_train`` (M,) into the
        batch buffers ``self.x`` (N, D) and ``self.labels`` (N,); returns both.

        ``x_train`` should already have the net's dtype; ``idx`` must be valid row numbers
        (``mode="clip"``: with numpy's default, ``out=`` would go through a temporary copy).
        """
        np.take(x_train, idx, axis=0, out=self.x, mode="clip")
        np.take(labels_train.astype(np.int64, copy=False), idx, out=self.labels, mode="clip")
        return self.x, self.labels

    def step(self, x: np.ndarray, labels: np.ndarray) -> float:
        """One update on the batch ``x`` (N, D), ``labels`` (N,) ints.

        Returns the mean cross-entropy loss of the batch at the parameters before the update.
        """
        loss = self.gradient(x, labels)
        p, steps = self.net.params, self.steps
        if not self.fused:
            self.optimizer.update(p, steps)
            return loss
        for key, step in steps.items():
            p[key] -= step
        return loss

    def gradient(self, x: np.ndarray, labels: np.ndarray) -> float:
        """Backprop on the batch ``x`` (N, D), ``labels`` (N,) ints, nothing updated: returns
        the batch's mean cross-entropy loss and leaves ``scale`` times its gradient in
        ``self.steps``, keyed like ``net.params`` (the gradient itself for an ``SGD`` of lr 1:
        what ``pipeline.stages.gradient_check`` checks)."""
        p, steps = self.net.params, self.steps
        np.matmul(x, p["W1"], out=self.a1)
        self.a1 += p["b1"]
        z1 = self.hidden.forward(self.a1, out=self.z1)
        np.matmul(z1, p["W2"], out=self.scores)
        self.scores += p["b2"]
        loss = self._loss_and_scaled_gradient(labels)
        dscores = self.scores  # scale * dloss/dscores, (N, C)
        dz1 = np.matmul(dscores, p["W2"].T, out=self.a1)  # a1 is not needed any more
        np.matmul(z1.T, dscores, out=steps["W2"])
        np.sum(dscores, axis=0, out=steps["b2"])
        dz1 = self.hidden.backward(dz1, out=dz1)
        np.matmul(x.T, dz1, out=steps["W1"])
        np.sum(dz1, axis=0, out=steps["b1"])
        return loss

    def _loss_and_scaled_gradient(self, labels: np.ndarray) -> float:
        """The mean loss ``logsumexp(s_n) - s_n[t_n]`` of the scores (N, C), which are then
        overwritten with ``scale * (softmax(s) - onehot(t)) / N``."""
        s, n = self.scores, len(self.scores)
        s -= s.max(axis=1, keepdims=True)  # shifted: exp cannot overflow
        picked = s[self.rows, labels]
        np.exp(s, out=s)
        sums = s.sum(axis=1, keepdims=True)
        loss = float(np.mean(np.log(sums[:, 0]) - picked))
        s *= (self.scale / n) / sums
        s[self.rows, labels] -= self.scale / n
        return loss
