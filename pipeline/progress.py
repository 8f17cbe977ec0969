"""Progress of a training run: a tqdm bar for a single run, plain lines in a parallel sweep."""

from __future__ import annotations

import sys
from typing import Any


class Bar:
    """A tqdm bar: iteration, loss, last accuracies."""

    def __init__(self, total: int, label: str) -> None:
        from tqdm import tqdm

        self.bar = tqdm(total=total, desc=label, unit="it", mininterval=0.5, leave=True)
        self.last = ""

    def iteration(self, i: int, loss: float) -> None:
        self.bar.update(1)
        if i % 50 == 0:
            self.bar.set_postfix_str(f"loss={loss:.4f}{self.last}", refresh=False)

    def epoch(self, epoch: int, i: int, measured: dict[str, float]) -> None:
        self.last = accuracies(measured)

    def close(self) -> None:
        self.bar.close()


class Lines:
    """One line per epoch, prefixed with the job: readable when jobs run side by side."""

    def __init__(self, total: int, label: str) -> None:
        self.total, self.label, self.loss = total, label, float("nan")

    def iteration(self, i: int, loss: float) -> None:
        self.loss = loss

    def epoch(self, epoch: int, i: int, measured: dict[str, float]) -> None:
        print(
            f"[{self.label}] epoch {epoch} iter {i + 1}/{self.total} loss={self.loss:.4f}"
            f"{accuracies(measured)}",
            flush=True,
        )

    def close(self) -> None:
        pass


def accuracies(measured: dict[str, float]) -> str:
    """`` train_acc=0.9012 val_acc=0.8976 test_acc=0.9031``: the accuracies of an epoch's
    evaluation (``measured``: metric -> value), in its order."""
    return "".join(f" {key}={value:.4f}" for key, value in measured.items() if key.endswith("_acc"))


def make_progress(mode: str, total: int, label: str, in_sweep: bool) -> Any:
    """``auto`` is a bar on a terminal outside sweeps and lines otherwise; ``none`` is None."""
    if mode == "none":
        return None
    if mode == "bar" or (mode == "auto" and not in_sweep and sys.stderr.isatty()):
        return Bar(total, label)
    return Lines(total, label)
