"""Optimizers updating a params dict in place from a grads dict with the same keys: the
book's chapter 6.1 (defaults as in the book: lr 0.01, Adam 0.001, momentum 0.9, Adam's beta1
0.9 and beta2 0.999). Each keeps its state (velocity, sums) per key, made on first use."""

from __future__ import annotations

from typing import Protocol

import numpy as np

Arrays = dict[str, np.ndarray]


class Optimizer(Protocol):
    lr: float

    def update(self, params: Arrays, grads: Arrays) -> None: ...


class SGD:
    """``param -= lr * grad``."""

    def __init__(self, lr: float = 0.01) -> None:
        self.lr = lr

    def update(self, params: Arrays, grads: Arrays) -> None:
        for key, grad in grads.items():
            params[key] -= self.lr * grad


class Momentum:
    """``v = momentum * v - lr * grad; param += v``."""

    def __init__(self, lr: float = 0.01, momentum: float = 0.9) -> None:
        self.lr, self.momentum = lr, momentum
        self.velocity: Arrays = {}

    def update(self, params: Arrays, grads: Arrays) -> None:
        for key, grad in grads.items():
            v = self.velocity.setdefault(key, np.zeros_like(params[key]))
            v *= self.momentum
            v -= self.lr * grad
            params[key] += v


class AdaGrad:
    """``h += grad**2; param -= lr * grad / (sqrt(h) + 1e-7)``."""

    def __init__(self, lr: float = 0.01) -> None:
        self.lr = lr
        self.sum_sq: Arrays = {}

    def update(self, params: Arrays, grads: Arrays) -> None:
        for key, grad in grads.items():
            h = self.sum_sq.setdefault(key, np.zeros_like(params[key]))
            h += grad * grad
            params[key] -= self.lr * grad / (np.sqrt(h) + 1e-7)


class Adam:
    """Adam (Kingma & Ba, 2015) with bias-corrected first and second moments."""

    def __init__(self, lr: float = 0.001, beta1: float = 0.9, beta2: float = 0.999) -> None:
        self.lr, self.beta1, self.beta2 = lr, beta1, beta2
        self.step = 0
        self.m: Arrays = {}
        self.v: Arrays = {}

    def update(self, params: Arrays, grads: Arrays) -> None:
        self.step += 1
        m_scale, v_scale = 1 - self.beta1**self.step, 1 - self.beta2**self.step
        for key, grad in grads.items():
            m = self.m.setdefault(key, np.zeros_like(params[key]))
            v = self.v.setdefault(key, np.zeros_like(params[key]))
            m += (1 - self.beta1) * (grad - m)
            v += (1 - self.beta2) * (grad * grad - v)
            params[key] -= self.lr * (m / m_scale) / (np.sqrt(v / v_scale) + 1e-7)
