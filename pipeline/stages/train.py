"""The train stage: mini-batch SGD of the two-layer net, by analytic or numerical gradient.

Arrays and config in, a trained network and its history out. Metrics leave through a
``MetricsSink`` (tracking lives at the edge), progress through a ``Progress`` callback.
Each SGD step is taken as ``train.gradient`` and ``train.impl`` say (``steps.STEPS``).
"""

from __future__ import annotations

import math
from collections.abc import Iterator
from dataclasses import dataclass, field
from typing import Any, Protocol

import numpy as np

from pipeline.stages.data import Dataset
from pipeline.stages.evaluate import split_metrics
from pipeline.stages.steps import STEPS
from scratchnn import TwoLayerNet
from scratchnn.fast.accuracy import BlockedAccuracy
from scratchnn.functions import labels_of

SEND_EVERY = 100  # iterations: losses reach the sink at least this often
DRAW_EVERY = 1000  # iterations whose minibatch indices are drawn in one call


class MetricsSink(Protocol):
    """Where metrics go: ``values[i]`` is the value of ``key`` at ``steps[i]``."""

    def log_series(self, key: str, steps: np.ndarray, values: np.ndarray) -> None: ...


class Progress(Protocol):
    def iteration(self, i: int, loss: float) -> None: ...

    def epoch(self, epoch: int, i: int, measured: dict[str, float]) -> None: ...


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
    val_acc: list[float] = field(default_factory=list)  # empty when no rows are held out
    val_loss: list[float] = field(default_factory=list)
    test_acc: list[float] = field(default_factory=list)
    iters_run: int = 0
    diverged_at: int | None = None  # iteration whose loss was non-finite or exploded

    def add_evaluation(self, i: int, measured: dict[str, float]) -> None:
        """The evaluation at iteration ``i``: ``measure``'s values."""
        self.epochs.append(i)
        self.train_acc.append(measured["train_acc"])
        if "val_acc" in measured:
            self.val_acc.append(measured["val_acc"])
            self.val_loss.append(measured["val_loss"])
        self.test_acc.append(measured["test_acc"])

    @property
    def stop_reason(self) -> str | None:
        if self.diverged_at is None:
            return None
        loss = self.losses[self.diverged_at]
        return f"loss diverged at iteration {self.diverged_at}: loss={loss:.6g}"


def make_network(data: Dataset, model_cfg: Any, seed: int) -> TwoLayerNet:
    """The untrained net for ``data``; its weights come from the first child of ``seed``,
    scaled as ``model.weight_init`` says (``std``: by ``model.weight_init_std``)."""
    init_seed, _ = np.random.SeedSequence(seed).spawn(2)
    init = model_cfg.weight_init
    return TwoLayerNet(
        data.x_train.shape[1],
        model_cfg.hidden_size,
        data.n_classes,
        model_cfg.weight_init_std if init == "std" else init,
        activation=model_cfg.activation,
        rng=np.random.default_rng(init_seed),
        dtype=data.x_train.dtype,
    )


def batch_indices(rng: np.random.Generator, n_rows: int, batch_size: int, iters: int) -> Iterator:
    """Each iteration's minibatch: ``batch_size`` row numbers in ``[0, n_rows)`` drawn with
    replacement, an array (batch_size,); ``DRAW_EVERY`` iterations per ``rng`` call."""
    for start in range(0, iters, DRAW_EVERY):
        yield from rng.integers(0, n_rows, size=(min(DRAW_EVERY, iters - start), batch_size))


def is_epoch_start(i: int, per_epoch: float) -> bool:
    """True at the first iteration of each epoch: the notebook's ``i % iter_per_epoch == 0``
    with ``iter_per_epoch = max(train_size / batch_size, 1)``, extended to fractional epoch
    lengths (evaluate where ``floor(i / per_epoch)`` steps up)."""
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

    At the start of every epoch the network is measured on the whole sets (``measure``):
    the accuracies of the training and test rows, the accuracy and loss of the validation
    rows. Losses reach ``sink`` as ``train_loss`` (step = iteration) at least every
    ``SEND_EVERY`` iterations and when training ends for any reason (``KeyboardInterrupt``
    too); ``train_acc``, ``val_acc``, ``val_loss``, ``test_acc`` and ``epoch`` at each
    evaluation, at the iteration it was made (as PyTorch Lightning's MLFlowLogger logs at
    the global step), on the loss's axis. A non-finite loss, or one above
    ``train_cfg.diverge_factor`` times the first, stops training: ``history.diverged_at``.
    """
    sink = sink or NullSink()
    net = make_network(data, model_cfg, seed)
    _, batch_seed = np.random.SeedSequence(seed).spawn(2)
    split_labels = {split: labels_of(t) for split, _, t in data.splits()}  # once, not per batch
    labels, blocked = split_labels["train"], BlockedAccuracy(net)
    step = STEPS[train_cfg.gradient, train_cfg.impl](net, train_cfg, data.x_train, labels)
    per_epoch = max(len(labels) / train_cfg.batch_size, 1.0)
    history = History(losses=np.empty(train_cfg.iters))
    batches = batch_indices(
        np.random.default_rng(batch_seed), len(labels), train_cfg.batch_size, train_cfg.iters
    )
    diverge_factor = float(train_cfg.diverge_factor)  # once: a config lookup costs ~30 µs
    sent = 0
    try:
        with np.errstate(over="ignore", invalid="ignore", divide="ignore"):
            for i, batch in enumerate(batches):
                history.losses[i] = loss = step(batch)
                history.iters_run = i + 1
                if not math.isfinite(loss) or loss > diverge_factor * history.losses[0]:
                    history.diverged_at = i
                    break
                if progress:
                    progress.iteration(i, loss)
                if is_epoch_start(i, per_epoch):
                    sent = _send_losses(sink, history, sent)
                    measured = measure(blocked, data, split_labels)
                    _record_epoch(i, measured, history, sink, progress)
                elif i + 1 - sent >= SEND_EVERY:
                    sent = _send_losses(sink, history, sent)
    finally:
        _send_losses(sink, history, sent)
    return net, history


def _send_losses(sink: MetricsSink, history: History, sent: int) -> int:
    """Send the losses not sent yet; returns how many have been sent."""
    done = history.iters_run
    if done > sent:
        sink.log_series("train_loss", np.arange(sent, done), history.losses[sent:done])
    return done


def measure(
    blocked: BlockedAccuracy, data: Dataset, labels: dict[str, np.ndarray]
) -> dict[str, float]:
    """An epoch's evaluation of ``blocked.net`` on the whole sets: ``train_acc``, ``val_acc``
    and ``val_loss`` (when rows are held out) and ``test_acc``; ``labels``: each split's
    (N,). ``BlockedAccuracy`` gives ``net.accuracy``'s numbers exactly, faster."""
    measured = {"train_acc": blocked.accuracy(data.x_train, labels["train"])}
    if "val" in labels:
        val = split_metrics(blocked.net, data.x_val, labels["val"])
        measured["val_acc"], measured["val_loss"] = val[:2]
    measured["test_acc"] = blocked.accuracy(data.x_test, labels["test"])
    return measured


def _record_epoch(
    i: int, measured: dict[str, float], history: History, sink: MetricsSink, progress
) -> None:
    """Add the evaluation at iteration ``i`` (``measure``'s) to ``history``; send it to
    ``sink`` and ``progress``."""
    epoch = len(history.epochs)
    history.add_evaluation(i, measured)
    step = np.array([i])  # the loss's x-axis: accuracies line up with it on one chart
    for key, value in measured.items():
        sink.log_series(key, step, np.array([value]))
    sink.log_series("epoch", step, np.array([epoch]))
    if progress:
        progress.epoch(epoch, i, measured)
