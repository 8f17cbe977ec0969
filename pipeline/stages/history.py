"""What training produced (``History``), and how it reaches a ``MetricsSink`` as it happens.

The train stage records, on the loss's axis (step = iteration): every minibatch's loss
(``train_loss``), each evaluation at an epoch's start (``train_acc``, ``val_acc``,
``val_loss``, ``test_acc``, ``epoch``), each epoch's mean minibatch loss (``train_loss_epoch``,
at the epoch's last step, as PyTorch Lightning logs ``on_epoch``), and, once the evaluate
stage has measured the trained network, the same accuracies at the last step (``record_end``):
the last point of every curve is its final value.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Protocol

import numpy as np

END_METRICS = ("train_acc", "val_acc", "val_loss", "test_acc")  # logged again at the end


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
    """What training produced; ``losses`` (iters_run,) is the batch loss before each update,
    ``per_epoch`` the iterations an epoch takes (fractional when the batches do not divide
    the training rows)."""

    losses: np.ndarray
    per_epoch: float = 1.0
    epochs: list[int] = field(default_factory=list)  # iteration of each evaluation
    train_acc: list[float] = field(default_factory=list)
    val_acc: list[float] = field(default_factory=list)  # empty when no rows are held out
    val_loss: list[float] = field(default_factory=list)
    test_acc: list[float] = field(default_factory=list)
    iters_run: int = 0
    diverged_at: int | None = None  # iteration whose loss was non-finite or exploded

    def add_evaluation(self, i: int, measured: dict[str, float]) -> None:
        """The evaluation at iteration ``i``: ``evaluate.measure``'s values."""
        self.epochs.append(i)
        self.train_acc.append(measured["train_acc"])
        if "val_acc" in measured:
            self.val_acc.append(measured["val_acc"])
            self.val_loss.append(measured["val_loss"])
        self.test_acc.append(measured["test_acc"])

    @property
    def epochs_run(self) -> float:
        """Passes over the training rows the updates made: ``iters_run / per_epoch``."""
        return self.iters_run / self.per_epoch

    @property
    def stop_reason(self) -> str | None:
        if self.diverged_at is None:
            return None
        loss = self.losses[self.diverged_at]
        return f"loss diverged at iteration {self.diverged_at}: loss={loss:.6g}"


def send_losses(sink: MetricsSink, history: History, sent: int) -> int:
    """Send the losses not sent yet; returns how many have been sent."""
    done = history.iters_run
    if done > sent:
        sink.log_series("train_loss", np.arange(sent, done), history.losses[sent:done])
    return done


def send_epoch_loss(sink: MetricsSink, history: History, end: int) -> None:
    """``train_loss_epoch``: the mean minibatch loss of the epoch that started at the last
    evaluation and ends before iteration ``end``, at its last step ``end - 1``."""
    start = history.epochs[-1] if history.epochs else 0
    if end > start:
        mean = float(np.mean(history.losses[start:end], dtype=np.float64))
        sink.log_series("train_loss_epoch", np.array([end - 1]), np.array([mean]))


def record_evaluation(
    history: History, i: int, measured: dict[str, float], sink: MetricsSink, progress=None,
    epoch: float | None = None,
) -> None:  # fmt: skip
    """Add the evaluation at iteration ``i`` (``measured``: metric -> value) to ``history``;
    send it to ``sink`` with its ``epoch`` (default: the evaluation's number) and to
    ``progress``."""
    epoch = len(history.epochs) if epoch is None else epoch
    history.add_evaluation(i, measured)
    step = np.array([i])  # the loss's x-axis: accuracies line up with it on one chart
    for key, value in measured.items():
        sink.log_series(key, step, np.array([value]))
    sink.log_series("epoch", step, np.array([epoch]))
    if progress:
        progress.epoch(int(epoch), i, measured)


def record_end(history: History, final: dict[str, float], sink: MetricsSink) -> None:
    """The evaluate stage's final accuracies (``final``: ``final_train_acc`` ...) as the last
    point of their curves, at the last iteration, with the epochs run: the runs table's
    ``train_acc`` ... columns then show the final values, and the accuracy figure ends
    there. Nothing when the last iteration was an evaluation already (the same numbers)."""
    end = history.iters_run - 1
    if history.epochs and history.epochs[-1] == end:
        return
    measured = {key: final[f"final_{key}"] for key in END_METRICS if f"final_{key}" in final}
    record_evaluation(history, end, measured, sink, epoch=history.epochs_run)
