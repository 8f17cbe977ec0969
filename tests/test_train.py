"""The train stage against the book's loop written out here in plain numpy (no scratchnn).

Same seed, same minibatches: the stage's loss curve must equal the plain loop's to the
precision of the dtype, for both implementations (``train.impl``) and both float types.
"""

from __future__ import annotations

from types import SimpleNamespace

import numpy as np
import pytest
from omegaconf import OmegaConf

from pipeline.config import DataConfig
from pipeline.stages.data import load_data
from pipeline.stages.train import is_epoch_start, iterations, train
from tests.conftest import ROOT

ITERS, BATCH, HIDDEN, LR, SEED = 300, 50, 16, 0.5, 4
# Relative tolerance on every loss, in units of the dtype's machine epsilon: the two differ
# only in the order of floating-point operations (measured here: at most 2.2 eps over the 300
# steps, in both dtypes and both implementations).
ULPS = 16


def plain_textbook_losses(x: np.ndarray, t: np.ndarray, n_classes: int, seed: int) -> np.ndarray:
    """The book's ch.4 loop: sigmoid net, softmax cross entropy, backprop, SGD; the weights
    from the first child of ``seed`` (0.01 * N(0, 1)), the batches from the second."""
    dtype = x.dtype
    init_seed, batch_seed = np.random.SeedSequence(seed).spawn(2)
    draw = np.random.default_rng(init_seed).standard_normal
    w1 = (0.01 * draw((x.shape[1], HIDDEN))).astype(dtype)
    w2 = (0.01 * draw((HIDDEN, n_classes))).astype(dtype)
    b1, b2 = np.zeros(HIDDEN, dtype), np.zeros(n_classes, dtype)
    batches = np.random.default_rng(batch_seed).integers(0, len(x), size=(ITERS, BATCH))
    rows, losses = np.arange(BATCH), []
    for idx in batches:
        xb, tb = x[idx], t[idx]
        z1 = 1 / (1 + np.exp(-(xb @ w1 + b1)))
        a2 = z1 @ w2 + b2
        shifted = a2 - a2.max(axis=1, keepdims=True)
        e = np.exp(shifted)
        losses.append(np.mean(np.log(e.sum(axis=1)) - shifted[rows, tb]))
        dy = e / e.sum(axis=1, keepdims=True)
        dy[rows, tb] -= 1
        dy /= BATCH
        dz1 = (dy @ w2.T) * z1 * (1 - z1)
        w2, b2 = w2 - LR * (z1.T @ dy), b2 - LR * dy.sum(axis=0)
        w1, b1 = w1 - LR * (xb.T @ dz1), b1 - LR * dz1.sum(axis=0)
    return np.array(losses)


@pytest.fixture(scope="module")
def synthetic():
    conf = OmegaConf.load(ROOT / "conf" / "data" / "synthetic.yaml")
    return OmegaConf.merge(OmegaConf.structured(DataConfig), conf)


def model_config(activation: str = "sigmoid", weight_init: str = "std") -> SimpleNamespace:
    return SimpleNamespace(
        hidden_size=HIDDEN, weight_init=weight_init, weight_init_std=0.01, activation=activation
    )


def train_config(impl: str, optimizer: str = "sgd", lr: float = LR) -> SimpleNamespace:
    return SimpleNamespace(
        gradient="analytic", impl=impl, optimizer=optimizer, lr=lr, momentum=0.9, beta1=0.9,
        beta2=0.999, batch_size=BATCH, iters=ITERS, h=1e-4, numerical_threads=1,
        diverge_factor=10.0,
    )  # fmt: skip


@pytest.mark.parametrize("impl", ["fast", "textbook"])
@pytest.mark.parametrize("dtype", ["float32", "float64"])
def test_the_stage_trains_as_the_books_loop(synthetic, impl, dtype):
    data = load_data(synthetic, dtype, seed=0)
    _, history = train(data, model_config(), train_config(impl), SEED)
    expected = plain_textbook_losses(data.x_train, data.t_train, data.n_classes, SEED)
    assert history.losses.dtype == np.float64 and history.iters_run == ITERS
    assert expected[-20:].mean() < 0.5 * expected[:20].mean()  # it learnt: a real comparison
    eps = np.finfo(dtype).eps
    np.testing.assert_allclose(history.losses, expected, rtol=ULPS * eps, atol=0)


# Each optimizer at a learning rate it learns with here (Adam's and AdaGrad's steps are ~lr
# per weight, so they take smaller ones).
LEARNING_RATES = {"sgd": 0.5, "momentum": 0.1, "adagrad": 0.05, "adam": 0.01}
# fast vs textbook: the same arithmetic in another order (SGD's lr fused, buffers), each
# step's rounding carried into the next. A loss is a difference of scores of the size of the
# first loss, so its rounding is measured against that: |fast - textbook| <= FAST_ULPS * eps
# * first loss at every step. Measured here over 300 steps: at most 4.8 eps.
FAST_ULPS = 16


@pytest.mark.parametrize("optimizer", sorted(LEARNING_RATES))
@pytest.mark.parametrize("dtype", ["float32", "float64"])
@pytest.mark.parametrize(("activation", "init"), [("sigmoid", "std"), ("relu", "he")])
def test_fast_and_textbook_train_alike_with_every_optimizer(
    synthetic, activation, init, optimizer, dtype
):
    data = load_data(synthetic, dtype, seed=0)
    model, lr = model_config(activation, init), LEARNING_RATES[optimizer]
    fast, textbook = (
        train(data, model, train_config(impl, optimizer, lr), SEED)[1].losses
        for impl in ("fast", "textbook")
    )
    assert fast[-20:].mean() < 0.5 * fast[:20].mean()  # it learnt: a real comparison
    eps = np.finfo(dtype).eps
    np.testing.assert_allclose(fast, textbook, rtol=0, atol=FAST_ULPS * eps * textbook[0])


def test_epochs_start_where_the_notebook_evaluates():
    """The notebook evaluates when ``i % iter_per_epoch == 0``, iter_per_epoch = 600.0."""
    per_epoch = max(60000 / 100, 1)
    starts = [i for i in range(10000) if is_epoch_start(i, per_epoch)]
    assert starts == [i for i in range(10000) if i % per_epoch == 0]
    assert len(starts) == 17


def length(iters=None, epochs=None, batch_size=BATCH) -> SimpleNamespace:
    return SimpleNamespace(iters=iters, epochs=epochs, batch_size=batch_size)


def test_a_run_lasts_its_iterations_or_its_epochs():
    assert iterations(length(iters=6000, batch_size=200), 50000) == 6000
    assert [iterations(length(epochs=10, batch_size=b), 50000) for b in (50, 100, 200)] == [
        10000, 5000, 2500,
    ]  # fmt: skip
    assert iterations(length(epochs=5, batch_size=128), 50000) == 1954  # 5 x 390.625, rounded up
    assert iterations(length(epochs=0.1, batch_size=100), 50000) == 50
    assert iterations(length(epochs=3, batch_size=2000), 1000) == 3  # an epoch is >= 1 step
    assert iterations(length(epochs=1e-9, batch_size=100), 50000) == 1


def test_the_stage_trains_for_its_epochs(synthetic):
    data = load_data(synthetic, "float32", seed=0)
    cfg = train_config("fast")
    cfg.iters, cfg.epochs = None, 2.5  # 1000 rows / batch 50: 20 iterations an epoch
    _, history = train(data, model_config(), cfg, SEED)
    assert (history.iters_run, history.epochs_run, history.per_epoch) == (50, 2.5, 20.0)
    assert history.epochs == [0, 20, 40]
