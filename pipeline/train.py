"""The train stage: mini-batch SGD of the two-layer net, by analytic or numerical gradient.

Arrays and config in, a trained network and its history out. Metrics leave through a
``MetricsSink`` (tracking lives at the edge); progress through a ``Progress`` callback.
"""

from __future__ import annotations

import math
from dataclasses import dataclass, field
from typing import Any, Protocol

import numpy as np

from pipeline.data import Dataset
from pipeline.evaluator import EpochResult, make_evaluator
from pipeline.switches import off
from scratchnn import TwoLayerNet
from scratchnn.functions import labels_of
from scratchnn.fused import FusedSGD

SEND_EVERY = 100  # iterations: losses reach the sink at least this often
DRAW_EVERY = 1000  # iterations whose minibatch indices are drawn in one call


class MetricsSink(Protocol):
    """Where metrics go: ``values[i]`` is the value of ``key`` at ``steps[i]``."""

    def log_series(self, key: str, steps: np.ndarray, values: np.ndarray) -> None: ...


class Progress(Protocol):
    def iteration(self, i: int, loss: float) -> None: ...

    def epoch(self, epoch: int, i: int, train_acc: float, test_acc: float) -> None: ...


class NullSink:
    """Discards every metric."""

    def log_series(self, key: str, steps: np.ndarray, values: np.ndarray) -> None:
        pass


@dataclass
class History:
    """What training produced; ``losses`` (iters_run,) is the batch loss before each update."""

    losses: np.ndarray
    epochs: list[int] = field(default_factory=list)  # iteration of each evaluation
    train_acc: list[float] = field(default_factory=list)
    test_acc: list[float] = field(default_factory=list)
    iters_run: int = 0
    diverged_at: int | None = None  # iteration whose loss was non-finite or exploded

    @property
    def stop_reason(self) -> str | None:
        if self.diverged_at is None:
            return None
        loss = self.losses[self.diverged_at]
        return f"loss diverged at iteration {self.diverged_at}: loss={loss:.6g}"


def make_network(data: Dataset, model_cfg: Any, seed: int) -> TwoLayerNet:
    """The untrained net for ``data``; its weights come from the first child of ``seed``."""
    init_seed, _ = np.random.SeedSequence(seed).spawn(2)
    return TwoLayerNet(
        data.x_train.shape[1],
        model_cfg.hidden_size,
        data.n_classes,
        model_cfg.weight_init_std,
        activation=model_cfg.activation,
        rng=np.random.default_rng(init_seed),
        dtype=data.x_train.dtype,
    )


def iters_per_epoch(n_train: int, batch_size: int) -> float:
    """The notebook's ``max(train_size / batch_size, 1)``."""
    return max(n_train / batch_size, 1.0)


def is_epoch_start(i: int, per_epoch: float) -> bool:
    """True at the first iteration of each epoch: the notebook's ``i % iter_per_epoch == 0``,
    extended to fractional epoch lengths (evaluate where ``floor(i / per_epoch)`` steps up)."""
    return i == 0 or math.floor(i / per_epoch) > math.floor((i - 1) / per_epoch)


def train(
    data: Dataset,
    model_cfg: Any,
    train_cfg: Any,
    seed: int,
    sink: MetricsSink | None = None,
    progress: Progress | None = None,
) -> tuple[TwoLayerNet, History]:
    """Train a fresh net on ``data``; returns it and its history.

    Losses reach ``sink`` as ``train_loss`` (step = iteration) at every evaluation and when
    training ends for any reason (including ``KeyboardInterrupt``), and ``train_acc`` /
    ``test_acc`` (step = epoch) once each evaluation is done: at once, or with
    ``train_cfg.background_eval`` in a worker process while training goes on. A non-finite
    loss, or one above ``train_cfg.diverge_factor`` times the first, stops training:
    ``history.diverged_at``.
    """
    sink = sink or NullSink()
    net = make_network(data, model_cfg, seed)
    _, batch_seed = np.random.SeedSequence(seed).spawn(2)
    rng = np.random.default_rng(batch_seed)
    labels = labels_of(data.t_train), labels_of(data.t_test)  # once, not per batch or epoch
    step = _stepper(net, train_cfg, data.x_train, labels[0])
    per_epoch = iters_per_epoch(len(labels[0]), train_cfg.batch_size)
    history = History(losses=np.empty(train_cfg.iters))
    eval_data = {"x_train": data.x_train, "labels_train": labels[0]}
    eval_data |= {"x_test": data.x_test, "labels_test": labels[1]}
    evaluator = make_evaluator(net, eval_data, bool(train_cfg.background_eval))
    batches = batch_indices(rng, len(labels[0]), train_cfg.batch_size, train_cfg.iters)
    diverge_factor = float(train_cfg.diverge_factor)  # once: a config lookup costs ~30 µs
    sent = 0
    try:
        with np.errstate(over="ignore", invalid="ignore", divide="ignore"):
            for i, batch in enumerate(batches):
                loss = step(batch)
                history.losses[i] = loss
                history.iters_run = i + 1
                if _diverged(loss, history.losses[0], diverge_factor):
                    history.diverged_at = i
                    break
                if progress:
                    progress.iteration(i, loss)
                if is_epoch_start(i, per_epoch):
                    sent = _send_losses(sink, history, sent)
                    evaluator.submit(i)
                    _record_epochs(evaluator.ready(), history, sink, progress)
                elif i + 1 - sent >= SEND_EVERY:
                    sent = _send_losses(sink, history, sent)
        _record_epochs(evaluator.wait_all(), history, sink, progress)
    finally:
        _record_epochs(evaluator.close(), history, sink, progress)
        _send_losses(sink, history, sent)
    return net, history


def batch_indices(rng: np.random.Generator, n_rows: int, batch_size: int, iters: int):
    """Yield each iteration's minibatch: ``batch_size`` row numbers in ``[0, n_rows)`` drawn
    with replacement, as an array (batch_size,); ``DRAW_EVERY`` iterations per ``rng`` call."""
    for start in range(0, iters, DRAW_EVERY):
        yield from rng.integers(0, n_rows, size=(min(DRAW_EVERY, iters - start), batch_size))


def _stepper(net: TwoLayerNet, train_cfg: Any, x_train: np.ndarray, labels: np.ndarray):
    """A function ``(batch indices (N,)) -> loss`` doing one SGD step by the chosen gradient
    on rows of ``x_train`` (M, D) and ``labels`` (M,); the loss is the batch's at the
    parameters before the step."""
    if train_cfg.gradient == "analytic" and off("fused"):
        from scratchnn.optimizers import SGD

        sgd = SGD(train_cfg.lr)

        def plain_step(idx: np.ndarray) -> float:
            loss, grads = net.loss_and_gradient(x_train[idx], labels[idx])
            sgd.update(net.params, grads)
            return loss

        return plain_step
    if train_cfg.gradient == "analytic":
        fused = FusedSGD(net, train_cfg.batch_size, train_cfg.lr)

        def analytic_step(idx: np.ndarray) -> float:
            return fused.step(*fused.gather(x_train, labels, idx))

        return analytic_step

    from scratchnn.numerical import numerical_loss_and_gradient

    def numerical_step(idx: np.ndarray) -> float:
        loss, grads = numerical_loss_and_gradient(
            net, x_train[idx], labels[idx], train_cfg.h, n_threads=train_cfg.numerical_threads
        )
        for key, grad in grads.items():
            net.params[key] -= train_cfg.lr * grad
        return loss

    return numerical_step


def _diverged(loss: float, first: float, factor: float) -> bool:
    return not math.isfinite(loss) or loss > factor * first


def _send_losses(sink: MetricsSink, history: History, sent: int) -> int:
    """Send the losses not sent yet; returns how many have been sent."""
    done = history.iters_run
    if done > sent:
        sink.log_series("train_loss", np.arange(sent, done), history.losses[sent:done])
    return done


def _record_epochs(results: list[EpochResult], history: History, sink, progress) -> None:
    """Add finished evaluations to ``history`` and send them to ``sink`` and ``progress``."""
    for result in results:
        history.epochs.append(result.iteration)
        history.train_acc.append(result.train_acc)
        history.test_acc.append(result.test_acc)
        steps = np.array([result.epoch])
        sink.log_series("train_acc", steps, np.array([result.train_acc]))
        sink.log_series("test_acc", steps, np.array([result.test_acc]))
        if progress:
            progress.epoch(result.epoch, result.iteration, result.train_acc, result.test_acc)
