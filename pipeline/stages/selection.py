"""The selection stage: a sweep's jobs in, its configs ranked out, judged on validation data.

What "best" and "better" mean is written here once. A config's score is the mean of its jobs'
``SELECT_BY`` (the final validation accuracy) over its replicates, the jobs that differ only
in ``REPLICATE_KEY`` (the seed). The test accuracy (``REPORTED``) is carried along to be
reported for the model chosen, never compared: hyperparameters tuned on the test data are
fitted to the test data (the book's section 6.5), and the test accuracy would no longer
estimate how the chosen model does on new data.

A config with a replicate that has no validation accuracy (it diverged or failed) cannot be
chosen: the seeds it finished on flatter it. Two configs are *within noise* when the gap
between their means is smaller than ``NOISE_SES`` standard errors of the difference
(``within_noise``).
"""

from __future__ import annotations

import math
from dataclasses import dataclass

import numpy as np

SELECT_BY = "final_val_acc"  # what "best" and "better" mean: validation accuracy, at the end
REPORTED = "final_test_acc"  # the chosen model's estimate on new data: reported, never compared
REPLICATE_KEY = "seed"  # jobs that differ only in this config key are replicates of one config
NOISE_SES = 2.0  # a gap under this many standard errors of the difference is within noise


def binomial_se(accuracy: float, n_rows: int) -> float:
    """The standard error of an accuracy measured on ``n_rows`` rows: sqrt(p (1 - p) / n)."""
    return math.sqrt(accuracy * (1 - accuracy) / n_rows) if n_rows else math.nan


@dataclass(frozen=True)
class Job:
    """One job of a sweep as the selection sees it: its number, the values of its config
    (``config``: (key, value) pairs, the replicate key left out), its ``SELECT_BY`` and
    ``REPORTED`` (None: it has none, e.g. it diverged) and its validation rows."""

    number: int
    config: tuple[tuple[str, str], ...]
    val_acc: float | None
    test_acc: float | None
    n_val: int


@dataclass(frozen=True)
class Candidate:
    """A config and its replicates (``jobs``: one per seed)."""

    config: tuple[tuple[str, str], ...]
    jobs: tuple[Job, ...]

    @property
    def eligible(self) -> bool:
        """Every replicate has a validation accuracy: the config can be chosen."""
        return all(job.val_acc is not None for job in self.jobs)

    @property
    def val_accs(self) -> np.ndarray:
        """The replicates' validation accuracies that exist: (n,) float64."""
        return np.array([j.val_acc for j in self.jobs if j.val_acc is not None], dtype=float)

    @property
    def val_mean(self) -> float:
        return float(self.val_accs.mean()) if len(self.val_accs) else math.nan

    @property
    def val_std(self) -> float:
        """The sample standard deviation over seeds (NaN with fewer than two)."""
        return float(self.val_accs.std(ddof=1)) if len(self.val_accs) > 1 else math.nan

    @property
    def test_mean(self) -> float:
        tests = [j.test_acc for j in self.jobs if j.test_acc is not None]
        return float(np.mean(tests)) if tests else math.nan

    @property
    def spread(self) -> float:
        """What one run of the config varies by: the std over seeds, or with one seed the
        binomial standard error of its accuracy on its validation rows."""
        if len(self.val_accs) > 1:
            return self.val_std
        return binomial_se(self.val_mean, self.jobs[0].n_val)

    @property
    def standard_error(self) -> float:
        """The standard error of ``val_mean``: ``spread`` over the root of the seeds."""
        return self.spread / math.sqrt(max(len(self.val_accs), 1))

    @property
    def best_job(self) -> Job:
        """The replicate with the best validation accuracy (the first of equals)."""
        scored = [job for job in self.jobs if job.val_acc is not None]
        return max(scored, key=lambda job: job.val_acc) if scored else self.jobs[0]


def candidates(jobs: list[Job]) -> list[Candidate]:
    """The jobs grouped by config, configs and replicates in the order of ``jobs``."""
    groups: dict[tuple, list[Job]] = {}
    for job in jobs:
        groups.setdefault(job.config, []).append(job)
    return [Candidate(config, tuple(group)) for config, group in groups.items()]


def ranked(jobs: list[Job]) -> list[Candidate]:
    """The configs that can be chosen (``Candidate.eligible``), best mean ``SELECT_BY``
    first; equal means keep the sweep's order."""
    eligible = [c for c in candidates(jobs) if c.eligible]
    return sorted(eligible, key=lambda c: -c.val_mean)


def noise_bar(winner: Candidate, runner_up: Candidate) -> float:
    """``NOISE_SES`` standard errors of the difference of two configs' means,
    sqrt(se1**2 + se2**2): a smaller gap between them is noise."""
    return NOISE_SES * math.hypot(winner.standard_error, runner_up.standard_error)


def within_noise(winner: Candidate, runner_up: Candidate) -> bool:
    """Whether the gap between two configs' mean validation accuracies is under
    ``noise_bar``."""
    return abs(winner.val_mean - runner_up.val_mean) < noise_bar(winner, runner_up)
