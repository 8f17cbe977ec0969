import warnings

import numpy as np
import pytest

from scratchnn.functions import cross_entropy_error, relu, sigmoid, softmax


def test_sigmoid_matches_the_definition_and_never_overflows():
    x = np.linspace(-30, 30, 601)
    np.testing.assert_allclose(sigmoid(x), 1 / (1 + np.exp(-x)), rtol=1e-14)
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        out = sigmoid(np.array([-1e6, -800.0, 0.0, 800.0, 1e6]))
    np.testing.assert_array_equal(out, [0.0, 0.0, 0.5, 1.0, 1.0])


def test_sigmoid_keeps_float32():
    assert sigmoid(np.ones(3, dtype=np.float32)).dtype == np.float32


def test_relu():
    np.testing.assert_array_equal(relu(np.array([-2.0, 0.0, 3.0])), [0.0, 0.0, 3.0])


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
