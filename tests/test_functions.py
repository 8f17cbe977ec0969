import warnings

import numpy as np
import pytest

from scratchnn.functions import cross_entropy_error, relu, sigmoid, softmax


@pytest.mark.parametrize("dtype", [np.float64, np.float32])
def test_sigmoid_is_the_logistic_function_to_a_few_ulps(dtype):
    x = np.concatenate([np.linspace(-80, 80, 4001), [-700.0, -100.0, 100.0, 700.0]])
    x = x.astype(dtype)
    reference = 1 / (1 + np.exp(-x.astype(np.longdouble)))  # in extended precision
    got = sigmoid(x)
    assert got.dtype == dtype
    eps = np.finfo(dtype).eps
    tiny = np.finfo(dtype).tiny  # below it float32 loses relative precision (subnormals)
    np.testing.assert_allclose(got, reference.astype(dtype), rtol=4 * eps, atol=tiny)


def test_sigmoid_never_warns_and_writes_into_out():
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        out = sigmoid(np.array([-1e6, -800.0, 0.0, 800.0, 1e6]))
    np.testing.assert_array_equal(out, [0.0, 0.0, 0.5, 1.0, 1.0])
    x = np.array([-1.0, 0.0, 2.0])
    expected = sigmoid(x)
    assert sigmoid(x, out=x) is x
    np.testing.assert_array_equal(x, expected)
    np.testing.assert_array_equal(sigmoid(np.array([0, 1])), sigmoid(np.array([0.0, 1.0])))


def test_relu():
    x = np.array([-2.0, 0.0, 3.0])
    np.testing.assert_array_equal(relu(x), [0.0, 0.0, 3.0])
    assert relu(x, out=x) is x and x.tolist() == [0.0, 0.0, 3.0]


def test_softmax_one_sample_and_batch_agree_and_resist_overflow():
    a = np.array([1010.0, 1000.0, 990.0])
    expected = np.exp(a - 1010) / np.exp(a - 1010).sum()
    np.testing.assert_allclose(softmax(a), expected)
    batch = softmax(np.stack([a, a - 5000]))
    np.testing.assert_allclose(batch, [expected, expected])
    np.testing.assert_allclose(batch.sum(axis=1), 1.0)


# The book's example: t = 2, y the network's output for it.
Y = np.array([0.1, 0.05, 0.6, 0.0, 0.05, 0.1, 0.0, 0.1, 0.0, 0.0])
T = np.eye(10)[2]


def test_cross_entropy_error_book_example():
    assert cross_entropy_error(Y, T) == pytest.approx(0.510825457099338)
    assert cross_entropy_error(Y, np.array(2)) == cross_entropy_error(Y, T)


def test_cross_entropy_error_batch_with_labels_or_one_hot():
    y = np.stack([Y, np.roll(Y, 1)])
    labels = np.array([2, 3])
    expected = -(np.log(0.6 + 1e-7) + np.log(0.6 + 1e-7)) / 2
    assert cross_entropy_error(y, labels) == pytest.approx(expected)
    assert cross_entropy_error(y, np.eye(10)[labels]) == pytest.approx(expected)
