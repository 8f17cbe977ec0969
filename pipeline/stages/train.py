"""The train stage: mini-batch SGD of the two-layer net, by analytic or numerical gradient.

Arrays and config in, a trained network and its history out. Metrics leave through a
``MetricsSink`` (tracking lives at the edge), progress through a ``Progress`` callback
(``history``). Each SGD step is taken as ``train.gradient`` and ``train.impl`` say
(``steps.STEPS``). A run lasts ``train.iters`` iterations, or ``train.epochs`` passes over
the training rows (``iterations``): equal epochs give every batch size the same data budget.
"""

from __future__ import annotations

import math
from collections.abc import Iterator
from typing import Any

import numpy as np

from pipeline.stages.data import Dataset
from pipeline.stages.evaluate import measure
from pipeline.stages.history import (
    History,
    MetricsSink,
    NullSink,
    Progress,
    record_evaluation,
    send_epoch_loss,
    send_losses,
)
from pipeline.stages.steps import STEPS
from scratchnn import TwoLayerNet
from scratchnn.fast.accuracy import BlockedAccuracy
from scratchnn.functions import labels_of

SEND_EVERY = 100  # iterations: losses reach the sink at least this often
DRAW_EVERY = 1000  # iterations whose minibatch indices are drawn in one call


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


def epoch_length(n_rows: int, batch_size: int) -> float:
    """Iterations per epoch: the notebook's ``iter_per_epoch = max(train_size / batch_size,
    1)``, fractional when the batches do not divide the rows."""
    return max(n_rows / batch_size, 1.0)


def iterations(train_cfg: Any, n_rows: int) -> int:
    """The iterations a run takes: ``train.iters``, or ``train.epochs`` passes over the
    ``n_rows`` training rows (rounded up), whichever the config sets."""
    if train_cfg.iters is not None:
        return int(train_cfg.iters)
    exact = train_cfg.epochs * epoch_length(n_rows, train_cfg.batch_size)
    return max(math.ceil(exact - 1e-9), 1)  # 1e-9: a whole number stays whole despite rounding


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
    """Train a fresh net on ``data`` for ``iterations(train_cfg, ...)``; returns it and its
    history.

    At the start of every epoch the network is measured on the whole sets (``measure``):
    the accuracies of the training and test rows, the accuracy and loss of the validation
    rows. Losses reach ``sink`` as ``train_loss`` (step = iteration) at least every
    ``SEND_EVERY`` iterations and when training ends for any reason (``KeyboardInterrupt``
    too); ``train_acc``, ``val_acc``, ``val_loss``, ``test_acc`` and ``epoch`` at each
    evaluation, at the iteration it was made (as PyTorch Lightning's MLFlowLogger logs at
    the global step), on the loss's axis; ``train_loss_epoch`` at each epoch's last step.
    A non-finite loss, or one above ``train_cfg.diverge_factor`` times the first, stops
    training: ``history.diverged_at``.
    """
    sink = sink or NullSink()
    net = make_network(data, model_cfg, seed)
    _, batch_seed = np.random.SeedSequence(seed).spawn(2)
    split_labels = {split: labels_of(t) for split, _, t in data.splits()}  # once, not per batch
    labels, blocked = split_labels["train"], BlockedAccuracy(net)
    step = STEPS[train_cfg.gradient, train_cfg.impl](net, train_cfg, data.x_train, labels)
    per_epoch, iters = (
        epoch_length(len(labels), train_cfg.batch_size),
        iterations(train_cfg, len(labels)),
    )
    history = History(losses=np.empty(iters), per_epoch=per_epoch)
    batches = batch_indices(
        np.random.default_rng(batch_seed), len(labels), train_cfg.batch_size, iters
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
                    sent = send_losses(sink, history, sent)
                    if i:
                        send_epoch_loss(sink, history, i)  # the epoch that ended
                    measured = measure(blocked, data, split_labels)
                    record_evaluation(history, i, measured, sink, progress)
                elif i + 1 - sent >= SEND_EVERY:
                    sent = send_losses(sink, history, sent)
    finally:
        send_losses(sink, history, sent)
    if history.diverged_at is None:
        send_epoch_loss(sink, history, history.iters_run)  # the last, whole or not
    return net, history
