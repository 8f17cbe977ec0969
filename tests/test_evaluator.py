"""Epoch evaluation in a worker process: the same numbers as inline, and nothing left behind."""

from __future__ import annotations

import os
from pathlib import Path
from types import SimpleNamespace

import numpy as np
import pytest

from pipeline.data import load_data
from pipeline.evaluator import (
    BackgroundEvaluator,
    InlineEvaluator,
    background_by_default,
    make_evaluator,
)
from pipeline.train import train
from scratchnn import TwoLayerNet

SHM = Path("/dev/shm")
MODEL = SimpleNamespace(hidden_size=16, weight_init_std=0.01, activation="sigmoid")


def train_cfg(background: bool, iters: int = 200) -> SimpleNamespace:
    return SimpleNamespace(
        gradient="analytic", lr=1.0, batch_size=50, iters=iters, diverge_factor=10.0,
        background_eval=background,
    )  # fmt: skip


def shm_blocks() -> set[str]:
    return {p.name for p in SHM.iterdir()} if SHM.is_dir() else set()


@pytest.fixture(scope="module")
def data():
    return load_data({"name": "synthetic", "dtype": "float32", "n_train": 500}, seed=3)


def test_background_evaluation_gives_the_inline_numbers_bit_for_bit(data):
    before = shm_blocks()
    net_bg, hist_bg = train(data, MODEL, train_cfg(True), seed=5)
    net_in, hist_in = train(data, MODEL, train_cfg(False), seed=5)
    assert hist_bg.epochs == hist_in.epochs == list(range(0, 200, 10))
    assert hist_bg.train_acc == hist_in.train_acc  # exact float equality
    assert hist_bg.test_acc == hist_in.test_acc
    assert hist_in.test_acc[-1] > 0.5  # learnt something: the numbers mean something
    for key in net_in.params:
        np.testing.assert_array_equal(net_bg.params[key], net_in.params[key])
    assert shm_blocks() == before  # the shared memory was freed


def test_results_come_back_in_order_even_when_every_slot_is_busy(data):
    net = TwoLayerNet(64, 8, 10, rng=np.random.default_rng(0), dtype=np.float32)
    arrays = {"x_train": data.x_train, "labels_train": data.t_train}
    arrays |= {"x_test": data.x_test, "labels_test": data.t_test}
    inline, background = InlineEvaluator(net, arrays), BackgroundEvaluator(net, arrays)
    try:
        for epoch in range(6):  # more submissions than slots: submit waits for a free one
            net.params["W1"] += 0.5 * np.random.default_rng(epoch).standard_normal((64, 8))
            inline.submit(10 * epoch)
            background.submit(10 * epoch)
        assert background.wait_all() == inline.wait_all()
    finally:
        background.close()


def test_a_dead_worker_is_reported_and_cleaned_up(data):
    before = shm_blocks()
    net = TwoLayerNet(64, 8, 10, rng=np.random.default_rng(0), dtype=np.float32)
    arrays = {"x_train": data.x_train, "labels_train": data.t_train}
    arrays |= {"x_test": data.x_test, "labels_test": data.t_test}
    evaluator = BackgroundEvaluator(net, arrays)
    evaluator._proc.kill()
    evaluator.submit(0)
    with pytest.raises(RuntimeError, match="evaluation worker stopped"):
        evaluator.wait_all()
    assert evaluator.close() == []
    assert shm_blocks() == before


def test_an_interrupted_run_keeps_its_finished_epochs_and_stops_the_worker(data):
    class Interrupt:
        epochs: list[int] = []

        def iteration(self, i: int, loss: float) -> None:
            if i == 95:
                raise KeyboardInterrupt

        def epoch(self, epoch: int, i: int, train_acc: float, test_acc: float) -> None:
            self.epochs.append(epoch)

    before = shm_blocks()
    progress = Interrupt()
    with pytest.raises(KeyboardInterrupt):
        train(data, MODEL, train_cfg(True), seed=5, progress=progress)
    assert progress.epochs == list(range(len(progress.epochs)))  # in order, none twice
    assert shm_blocks() == before


@pytest.mark.parametrize(
    ("in_sweep", "gradient", "blas_threads", "expected"),
    [
        (False, "analytic", 1, (os.cpu_count() or 1) > 1),
        (True, "analytic", 1, False),  # a sweep keeps every core busy
        (False, "numerical", 1, False),  # the numerical gradient uses every core
        (False, "analytic", os.cpu_count() or 1, False),  # BLAS uses every core
    ],
)
def test_background_evaluation_is_on_only_when_a_core_is_idle(
    in_sweep, gradient, blas_threads, expected
):
    assert background_by_default(in_sweep, gradient, blas_threads) is expected


def test_without_room_in_shared_memory_epochs_are_evaluated_inline(data, monkeypatch):
    monkeypatch.setattr("pipeline.evaluator.free_bytes", lambda: 1000.0)
    net = TwoLayerNet(64, 8, 10, rng=np.random.default_rng(0), dtype=np.float32)
    arrays = {"x_train": data.x_train, "labels_train": data.t_train}
    arrays |= {"x_test": data.x_test, "labels_test": data.t_test}
    assert type(make_evaluator(net, arrays, background=True)) is InlineEvaluator
