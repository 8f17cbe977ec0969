"""Every layer's backward pass against the reference ``numerical_gradient``."""

import numpy as np
import pytest

from scratchnn.gradient import numerical_gradient
from scratchnn.layers import Affine, Relu, Sigmoid, SoftmaxWithLoss, softmax_cross_entropy

RNG_SEED = 7


def weighted_sum_loss(layer, x, weights):
    """A scalar of the layer's output, so dL/dout = weights."""
    return float(np.sum(layer.forward(x) * weights))


@pytest.mark.parametrize("make_layer", [Sigmoid, Relu], ids=["sigmoid", "relu"])
def test_elementwise_layers_backward(make_layer):
    rng = np.random.default_rng(RNG_SEED)
    x = rng.standard_normal((4, 5))
    x[np.abs(x) < 1e-2] = 0.5  # keep ReLU's kink away from the finite difference
    dout = rng.standard_normal((4, 5))
    layer = make_layer()
    layer.forward(x)
    dout_before = dout.copy()
    dx = layer.backward(dout)
    np.testing.assert_array_equal(dout, dout_before)
    expected = numerical_gradient(lambda _: weighted_sum_loss(make_layer(), x, dout), x)
    np.testing.assert_allclose(dx, expected, rtol=1e-6, atol=1e-9)


@pytest.mark.parametrize("make_layer", [Sigmoid, Relu], ids=["sigmoid", "relu"])
def test_elementwise_layers_write_into_out_as_they_would_allocate(make_layer):
    """``scratchnn.fast`` passes buffers (``out=``, the input itself): same numbers."""
    rng = np.random.default_rng(RNG_SEED)
    x, dout = rng.standard_normal((4, 5)), rng.standard_normal((4, 5))
    plain, buffered = make_layer(), make_layer()
    expected_out, expected_dx = plain.forward(x.copy()), plain.backward(dout.copy())
    out, grad = np.empty_like(x), dout.copy()
    assert buffered.forward(x, out=out) is out
    assert buffered.backward(grad, out=grad) is grad
    np.testing.assert_array_equal(out, expected_out)
    np.testing.assert_array_equal(grad, expected_dx)


def test_affine_backward_for_input_weights_and_bias():
    rng = np.random.default_rng(RNG_SEED)
    x, W, b = rng.standard_normal((3, 4)), rng.standard_normal((4, 2)), rng.standard_normal(2)
    dout = rng.standard_normal((3, 2))
    layer = Affine(W, b)
    layer.forward(x)
    dout_before = dout.copy()
    dx = layer.backward(dout)
    np.testing.assert_array_equal(dout, dout_before)
    loss = lambda _: weighted_sum_loss(Affine(W, b), x, dout)  # noqa: E731
    np.testing.assert_allclose(dx, numerical_gradient(loss, x), rtol=1e-7)
    np.testing.assert_allclose(layer.dW, numerical_gradient(loss, W), rtol=1e-7)
    np.testing.assert_allclose(layer.db, numerical_gradient(loss, b), rtol=1e-7)


@pytest.mark.parametrize("one_hot", [False, True])
def test_softmax_with_loss_backward(one_hot):
    rng = np.random.default_rng(RNG_SEED)
    x = rng.standard_normal((6, 10)) * 3
    labels = rng.integers(0, 10, size=6)
    t = np.eye(10)[labels] if one_hot else labels
    head = SoftmaxWithLoss()
    head.forward(x, t)
    dx = head.backward(1.0)
    expected = numerical_gradient(lambda _: SoftmaxWithLoss().forward(x, t), x)
    np.testing.assert_allclose(dx, expected, rtol=1e-6, atol=1e-10)


def test_softmax_cross_entropy_equals_the_log_of_softmax():
    rng = np.random.default_rng(RNG_SEED)
    scores = rng.standard_normal((5, 10))
    labels = rng.integers(0, 10, size=5)
    probs = np.exp(scores) / np.exp(scores).sum(axis=1, keepdims=True)
    np.testing.assert_allclose(
        softmax_cross_entropy(scores, labels), -np.log(probs[np.arange(5), labels])
    )
    big = scores * 1e4  # exp would overflow: log-sum-exp must not
    reference = np.logaddexp.reduce(big, axis=1) - big[np.arange(5), labels]
    np.testing.assert_allclose(softmax_cross_entropy(big, labels), reference, rtol=1e-12)
