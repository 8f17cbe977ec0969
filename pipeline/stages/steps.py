"""How one step of the train stage is taken: the tables of ``train.optimizer`` (the book's
chapter 6 update rules), ``train.gradient`` (backprop or central differences) and
``train.impl`` (the book's code as written, or its equivalent in ``scratchnn.fast``).

Each entry of ``STEPS`` makes, for a net, the train config and the training arrays, a
function from a batch's row numbers to the batch's loss before the update, which it applies
in place with the optimizer ``OPTIMIZERS[train.optimizer]`` makes. ``BACKPROP`` gives, per
``train.impl``, the gradient its analytic step computes, for the gradient check.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

import numpy as np

from scratchnn import TwoLayerNet
from scratchnn.fast.numerical import numerical_loss_and_gradient
from scratchnn.fast.step import FusedStep
from scratchnn.optimizers import SGD, AdaGrad, Adam, Momentum, Optimizer

Step = Callable[[np.ndarray], float]  # batch row numbers (N,) -> the batch's loss

# train.optimizer -> the optimizer, from the train config's lr and its own hyperparameters
OPTIMIZERS: dict[str, Callable[[Any], Optimizer]] = {
    "sgd": lambda cfg: SGD(cfg.lr),
    "momentum": lambda cfg: Momentum(cfg.lr, cfg.momentum),
    "adagrad": lambda cfg: AdaGrad(cfg.lr),
    "adam": lambda cfg: Adam(cfg.lr, cfg.beta1, cfg.beta2),
}


def fast_gradient(net: TwoLayerNet, x: np.ndarray, labels: np.ndarray) -> dict:
    """The gradient ``fast_backprop`` steps by, on the batch ``x`` (N, D), ``labels`` (N,):
    ``FusedStep.gradient`` in the net's dtype, keyed like ``net.params`` (nothing updated)."""
    fused = FusedStep(net, len(x), SGD(1.0))  # lr 1: the steps are the gradient itself
    fused.gradient(*fused.gather(x, labels, np.arange(len(x))))
    return {key: value.copy() for key, value in fused.steps.items()}


def textbook_gradient(net: TwoLayerNet, x: np.ndarray, labels: np.ndarray) -> dict:
    """The gradient ``textbook_backprop`` steps by: the book's layers' backward."""
    return net.loss_and_gradient(x, labels)[1]


# train.impl -> the gradient its analytic step computes: what the gradient check checks
BACKPROP: dict[str, Callable[[TwoLayerNet, np.ndarray, np.ndarray], dict]] = {
    "fast": fast_gradient,
    "textbook": textbook_gradient,
}


def fast_backprop(net: TwoLayerNet, cfg: Any, x: np.ndarray, labels: np.ndarray) -> Step:
    """``scratchnn.fast.step.FusedStep``: backprop and the update on buffers made once."""
    fused = FusedStep(net, cfg.batch_size, OPTIMIZERS[cfg.optimizer](cfg))
    return lambda idx: fused.step(*fused.gather(x, labels, idx))


def textbook_backprop(net: TwoLayerNet, cfg: Any, x: np.ndarray, labels: np.ndarray) -> Step:
    """The book's loop: ``net.loss_and_gradient`` (its layers' backward), then the update."""
    return update_step(net, cfg, x, labels, net.loss_and_gradient)


def fast_numerical(net: TwoLayerNet, cfg: Any, x: np.ndarray, labels: np.ndarray) -> Step:
    """``scratchnn.fast.numerical``: every central difference, evaluated where it can move."""

    def loss_and_gradient(xb: np.ndarray, tb: np.ndarray) -> tuple[float, dict]:
        return numerical_loss_and_gradient(net, xb, tb, cfg.h, n_threads=cfg.numerical_threads)

    return update_step(net, cfg, x, labels, loss_and_gradient)


def textbook_numerical(net: TwoLayerNet, cfg: Any, x: np.ndarray, labels: np.ndarray) -> Step:
    """The book's ``net.numerical_gradient``: two whole-batch losses per parameter."""

    def loss_and_gradient(xb: np.ndarray, tb: np.ndarray) -> tuple[float, dict]:
        return net.loss(xb, tb), net.numerical_gradient(xb, tb, cfg.h)

    return update_step(net, cfg, x, labels, loss_and_gradient)


def update_step(
    net: TwoLayerNet, cfg: Any, x: np.ndarray, labels: np.ndarray, loss_and_gradient
) -> Step:
    """A step of the optimizer ``train.optimizer`` names, by ``loss_and_gradient(x (N, D),
    labels (N,))``, which returns the batch's loss and its gradient keyed like ``net.params``."""
    optimizer = OPTIMIZERS[cfg.optimizer](cfg)

    def step(idx: np.ndarray) -> float:
        loss, grads = loss_and_gradient(x[idx], labels[idx])
        optimizer.update(net.params, grads)
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
