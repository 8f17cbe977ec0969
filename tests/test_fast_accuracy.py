"""scratchnn.fast.accuracy: BlockedAccuracy against the textbook ``TwoLayerNet.accuracy``."""

from __future__ import annotations

import numpy as np
import pytest

from scratchnn.fast.accuracy import BlockedAccuracy
from scratchnn.networks import TwoLayerNet

D, H, C, M = 30, 12, 7, 1003  # M: not a multiple of any block size below


def trained_looking(activation: str, dtype: type) -> tuple[TwoLayerNet, np.ndarray, np.ndarray]:
    """A net with large random weights (its predictions vary) and data labelled by a second
    net, so that about half the rows are right."""
    rng = np.random.default_rng(4)
    net = TwoLayerNet(D, H, C, 1.0, activation=activation, rng=rng, dtype=dtype)
    x = rng.standard_normal((M, D)).astype(dtype)
    labels = np.where(rng.random(M) < 0.5, net.scores(x).argmax(axis=1), rng.integers(0, C, M))
    return net, x, labels


@pytest.mark.parametrize("dtype", [np.float32, np.float64])
@pytest.mark.parametrize("activation", ["sigmoid", "relu"])
@pytest.mark.parametrize("block", [1, 64, 1000, 5000])
def test_blocked_accuracy_is_the_textbook_accuracy_exactly(activation, dtype, block):
    net, x, labels = trained_looking(activation, dtype)
    expected = net.accuracy(x, labels)
    assert 0.3 < expected < 0.8
    blocked = BlockedAccuracy(net, block)
    assert blocked.accuracy(x, labels) == expected
    assert blocked.accuracy(x, np.eye(C, dtype=dtype)[labels]) == expected  # one-hot labels
    assert blocked.accuracy(x[:5], labels[:5]) == net.accuracy(x[:5], labels[:5])


def test_it_reads_the_params_as_they_are_at_each_call():
    net, x, labels = trained_looking("sigmoid", np.float32)
    blocked = BlockedAccuracy(net)
    before = blocked.accuracy(x, labels)
    net.params["W2"] *= -1  # in place, as a training step updates them
    assert blocked.accuracy(x, labels) == net.accuracy(x, labels) != before
