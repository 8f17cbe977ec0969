"""How one SGD step of the train stage is taken: the one table of ``train.gradient``
(backprop or central differences) and ``train.impl`` (the book's code as written, or its
equivalent in ``scratchnn.fast``).

Each entry of ``STEPS`` makes, for a net and the training arrays, a function from a batch's
row numbers to the batch's loss before the update, which it applies in place.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

import numpy as np

from scratchnn import SGD, TwoLayerNet
from scratchnn.fast.numerical import numerical_loss_and_gradient
from scratchnn.fast.sgd import FusedSGD

Step = Callable[[np.ndarray], float]  # batch row numbers (N,) -> the batch's loss


def fast_backprop(net: TwoLayerNet, cfg: Any, x: np.ndarray, labels: np.ndarray) -> Step:
    """``scratchnn.fast.sgd.FusedSGD``: backprop and the SGD update on buffers made once."""
    fused = FusedSGD(net, cfg.batch_size, cfg.lr)
    return lambda idx: fused.step(*fused.gather(x, labels, idx))


def textbook_backprop(net: TwoLayerNet, cfg: Any, x: np.ndarray, labels: np.ndarray) -> Step:
    """The book's loop: ``net.loss_and_gradient`` (its layers' backward), then ``SGD``."""
    return sgd_step(net, cfg, x, labels, net.loss_and_gradient)


def fast_numerical(net: TwoLayerNet, cfg: Any, x: np.ndarray, labels: np.ndarray) -> Step:
    """``scratchnn.fast.numerical``: every central difference, evaluated where it can move."""

    def loss_and_gradient(xb: np.ndarray, tb: np.ndarray) -> tuple[float, dict]:
        return numerical_loss_and_gradient(net, xb, tb, cfg.h, n_threads=cfg.numerical_threads)

    return sgd_step(net, cfg, x, labels, loss_and_gradient)


def textbook_numerical(net: TwoLayerNet, cfg: Any, x: np.ndarray, labels: np.ndarray) -> Step:
    """The book's ``net.numerical_gradient``: two whole-batch losses per parameter."""

    def loss_and_gradient(xb: np.ndarray, tb: np.ndarray) -> tuple[float, dict]:
        return net.loss(xb, tb), net.numerical_gradient(xb, tb, cfg.h)

    return sgd_step(net, cfg, x, labels, loss_and_gradient)


def sgd_step(
    net: TwoLayerNet, cfg: Any, x: np.ndarray, labels: np.ndarray, loss_and_gradient
) -> Step:
    """A step of ``scratchnn.optimizers.SGD`` by ``loss_and_gradient(x (N, D), labels (N,))``,
    which returns the batch's loss and its gradient keyed like ``net.params``."""
    sgd = SGD(cfg.lr)

    def step(idx: np.ndarray) -> float:
        loss, grads = loss_and_gradient(x[idx], labels[idx])
        sgd.update(net.params, grads)
        return loss

    return step


# (train.gradient, train.impl) -> the step: the one table of both choices
STEPS: dict[tuple[str, str], Callable[..., Step]] = {
    ("analytic", "fast"): fast_backprop,
    ("analytic", "textbook"): textbook_backprop,
    ("numerical", "fast"): fast_numerical,
    ("numerical", "textbook"): textbook_numerical,
}
GRADIENTS = tuple(dict.fromkeys(gradient for gradient, _ in STEPS))
IMPLS = tuple(dict.fromkeys(impl for _, impl in STEPS))
