"""scratchnn.fast.step: FusedStep against the textbook backprop (the layers) and optimizers."""

from __future__ import annotations

import warnings

import numpy as np
import pytest

from scratchnn.fast.step import FusedStep
from scratchnn.networks import PARAM_KEYS, TwoLayerNet
from scratchnn.optimizers import SGD, AdaGrad, Adam, Momentum

D, H, C, N, M = 20, 8, 5, 16, 300
# float32 losses/params: rounding of sums of ~D terms, amplified a little over the steps
RTOL = {np.float64: 1e-10, np.float32: 2e-5}
ATOL = {np.float64: 1e-12, np.float32: 2e-6}


def make_net(activation: str, dtype: type, seed: int = 3, std: float = 0.5) -> TwoLayerNet:
    return TwoLayerNet(
        D, H, C, std, activation=activation, rng=np.random.default_rng(seed), dtype=dtype
    )


def make_data(dtype: type, seed: int = 1) -> tuple[np.ndarray, np.ndarray]:
    rng = np.random.default_rng(seed)
    x = rng.standard_normal((M, D)).astype(dtype)
    x[:, :3] = 0.0  # like MNIST's blank border pixels
    return x, rng.integers(0, C, M)


# Each optimizer of the book with its own defaults but the learning rate: two copies, one for
# the textbook step (the layers' backprop, then ``update``), one inside ``FusedStep``.
OPTIMIZERS = {
    "sgd": lambda: SGD(lr=0.3),
    "momentum": lambda: Momentum(lr=0.1),
    "adagrad": lambda: AdaGrad(lr=0.1),
    "adam": lambda: Adam(lr=0.01),
}


@pytest.mark.parametrize("optimizer", sorted(OPTIMIZERS))
@pytest.mark.parametrize("dtype", [np.float64, np.float32])
@pytest.mark.parametrize("activation", ["sigmoid", "relu"])
def test_steps_match_layers_backprop_and_the_optimizer(
    activation: str, dtype: type, optimizer: str
) -> None:
    x, labels = make_data(dtype)
    ref, net = make_net(activation, dtype), make_net(activation, dtype)
    textbook, fused = OPTIMIZERS[optimizer](), FusedStep(net, N, OPTIMIZERS[optimizer]())
    originals = dict(net.params)
    rng = np.random.default_rng(7)
    for _ in range(12):
        idx = rng.integers(0, M, size=N)
        ref_loss, grads = ref.loss_and_gradient(x[idx], labels[idx])
        textbook.update(ref.params, grads)
        xb, tb = fused.gather(x, labels, idx)
        loss = fused.step(xb, tb)
        assert isinstance(loss, float)
        assert loss == pytest.approx(ref_loss, rel=RTOL[dtype], abs=ATOL[dtype])
        for key in PARAM_KEYS:
            np.testing.assert_allclose(
                net.params[key], ref.params[key], rtol=RTOL[dtype], atol=ATOL[dtype], err_msg=key
            )
    for key in PARAM_KEYS:
        assert net.params[key] is originals[key]  # updated in place, never rebound
        assert net.params[key].dtype == dtype


def test_step_accepts_plain_arrays_and_onehot_free_labels() -> None:
    x, labels = make_data(np.float64)
    ref, net = make_net("sigmoid", np.float64), make_net("sigmoid", np.float64)
    ref_loss = ref.loss(x[:N], labels[:N])
    onehot = np.eye(C)[labels[:N]]
    assert ref.loss(x[:N], onehot) == pytest.approx(ref_loss)
    assert FusedStep(net, N, SGD(0.1)).step(x[:N], labels[:N]) == pytest.approx(ref_loss, rel=1e-12)


def test_gather_fills_the_preallocated_buffers() -> None:
    x, labels = make_data(np.float32)
    fused = FusedStep(make_net("relu", np.float32), N, SGD(0.1))
    idx = np.random.default_rng(0).integers(0, M, size=N)
    xb, tb = fused.gather(x, labels, idx)
    assert xb is fused.x and tb is fused.labels
    np.testing.assert_array_equal(xb, x[idx])
    np.testing.assert_array_equal(tb, labels[idx])
    assert fused.gather(x, labels, idx[::-1])[0] is xb
    _, tb32 = fused.gather(x, labels.astype(np.int32), idx)  # other int labels work too
    np.testing.assert_array_equal(tb32, labels[idx])
    assert tb32 is fused.labels


@pytest.mark.parametrize("activation", ["sigmoid", "relu"])
def test_no_warnings_for_huge_inputs(activation: str) -> None:
    x, labels = make_data(np.float32)
    x *= np.float32(1e6)  # hidden pre-activations far beyond exp's range
    net = make_net(activation, np.float32)
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        with np.errstate(over="raise", divide="raise", invalid="raise"):
            loss = FusedStep(net, N, SGD(1e-12)).step(x[:N], labels[:N])
    assert loss == pytest.approx(make_net(activation, np.float32).loss(x[:N], labels[:N]))
