"""Each optimizer against its update rule written out by hand for a few steps."""

import numpy as np
import pytest

from scratchnn.optimizers import SGD, AdaGrad, Adam, Momentum

GRADS = [np.array([0.5, -1.0]), np.array([0.25, 2.0]), np.array([-1.0, 0.1])]


def run(optimizer):
    params = {"w": np.array([1.0, -2.0])}
    for g in GRADS:
        optimizer.update(params, {"w": g})
    return params["w"]


def test_sgd():
    np.testing.assert_allclose(run(SGD(lr=0.1)), np.array([1.0, -2.0]) - 0.1 * sum(GRADS))


def test_momentum():
    w, v = np.array([1.0, -2.0]), np.zeros(2)
    for g in GRADS:
        v = 0.9 * v - 0.1 * g
        w = w + v
    np.testing.assert_allclose(run(Momentum(lr=0.1, momentum=0.9)), w)


def test_adagrad():
    w, h = np.array([1.0, -2.0]), np.zeros(2)
    for g in GRADS:
        h = h + g * g
        w = w - 0.1 * g / (np.sqrt(h) + 1e-7)
    np.testing.assert_allclose(run(AdaGrad(lr=0.1)), w)


@pytest.mark.parametrize("lr", [0.001, 0.1])
def test_adam(lr):
    w, m, v = np.array([1.0, -2.0]), np.zeros(2), np.zeros(2)
    for step, g in enumerate(GRADS, start=1):
        m = 0.9 * m + 0.1 * g
        v = 0.999 * v + 0.001 * g * g
        m_hat, v_hat = m / (1 - 0.9**step), v / (1 - 0.999**step)
        w = w - lr * m_hat / (np.sqrt(v_hat) + 1e-7)
    np.testing.assert_allclose(run(Adam(lr=lr)), w, rtol=1e-6)
