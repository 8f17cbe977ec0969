"""A run and its rerun compared: the first point that differs, and why it may.

``first_difference`` walks every logged metric point in the order training made them, then
the weights' sha256. When they differ, ``explanation`` says why they may: every recorded
environment difference (``ENVIRONMENT``: the BLAS kernel, numpy's SIMD level, the numerics
mode, numpy, Python, the code), or, when there is none, that the same code on the same
numerics gave other bits (a determinism bug); then how far apart the results are: the final
accuracies side by side with their binomial standard error, and the largest loss difference.
"""

from __future__ import annotations

from typing import Any

from pipeline.stages.selection import REPORTED, SELECT_BY, binomial_se
from pipeline.tracking.lookup import metric_points
from pipeline.tracking.tags import MLFLOW_GIT_COMMIT, NUMERICS_TAG

TRAINING_ORDER = ("train_loss", "train_acc", "val_acc", "val_loss", "test_acc")  # first made
# Tags recording what a run computed with: a rerun that differs names each one that changed
ENVIRONMENT = ("blas", "simd", NUMERICS_TAG, "numpy_version", "python_version", "code_version")
PROVENANCE = (MLFLOW_GIT_COMMIT, "data_sha256")  # a change is warned about whatever the verdict
LOSS = "train_loss"  # the curve whose largest difference is shown


def _training_order(key: str) -> tuple[int, str]:
    return (TRAINING_ORDER.index(key) if key in TRAINING_ORDER else len(TRAINING_ORDER), key)


def first_difference(client: Any, original: Any, rerun: Any) -> str | None:
    """``None`` when every metric point of the original and the weights match, else what
    differs first. Metrics only the rerun has come from keys the run predates (a feature added
    since, e.g. the gradient check): ``rerun`` names them, they are no difference."""
    for key in sorted(original.data.metrics, key=_training_order):
        before = metric_points(client, original.info.run_id, key)
        after = metric_points(client, rerun.info.run_id, key)
        if len(before) != len(after):
            return f"{key}: {len(before)} points originally, {len(after)} now"
        for (step, old), (_, new) in zip(before, after, strict=True):
            if old != new and not (old != old and new != new):  # NaN equals NaN here
                return (
                    f"{key} at step {step}: {old!r} originally, {new!r} now (diff {new - old:+.3g})"
                )
    old_sha = original.data.tags.get("weights_sha256")
    new_sha = rerun.data.tags.get("weights_sha256")
    if old_sha != new_sha:
        return f"weights sha256: {old_sha} originally, {new_sha} now"
    return None


def changed(original: Any, rerun: Any, tags: tuple[str, ...]) -> list[str]:
    """``<tag>: <value> originally, <value> now`` for each of ``tags`` that differs."""
    lines = []
    for tag in tags:
        before, after = original.data.tags.get(tag), rerun.data.tags.get(tag)
        if before != after:
            lines.append(f"{tag}: {before or 'not recorded'} originally, {after} now")
    return lines


def explanation(client: Any, original: Any, rerun: Any, rows: dict[str, int]) -> list[str]:
    """Why a rerun that differs may, and by how much (see the module's docstring); ``rows``:
    the validation and test rows the accuracies were measured on (``val``, ``test``)."""
    differences = changed(original, rerun, ENVIRONMENT)
    if differences:
        lines = ["environment differs: " + "; ".join(differences)]
    else:
        recorded = ", ".join(ENVIRONMENT)
        lines = [f"same environment ({recorded}): a determinism bug, not the machine"]
    return [*lines, *final_accuracies(original, rerun, rows), *largest_loss_difference(
        client, original, rerun)]  # fmt: skip


def final_accuracies(original: Any, rerun: Any, rows: dict[str, int]) -> list[str]:
    """Each final accuracy both runs have, side by side, with the binomial standard error of
    the original's on its rows."""
    lines = []
    for key, split in ((SELECT_BY, "val"), (REPORTED, "test")):
        old, new = original.data.metrics.get(key), rerun.data.metrics.get(key)
        if old is None or new is None or not rows.get(split):
            continue
        error = binomial_se(old, rows[split])
        lines.append(
            f"{key} {old:.4f} originally, {new:.4f} now (binomial standard error {error:.4f} "
            f"on {rows[split]} rows)"
        )
    return lines


def largest_loss_difference(client: Any, original: Any, rerun: Any) -> list[str]:
    """The largest difference between the two ``LOSS`` curves, at the step it occurs."""
    before = dict(metric_points(client, original.info.run_id, LOSS))
    after = dict(metric_points(client, rerun.info.run_id, LOSS))
    gaps = [(abs(after[s] - v), s) for s, v in before.items() if s in after]
    if not gaps:
        return []
    gap, step = max(gaps)
    return [f"largest {LOSS} difference: {gap:.3g} at step {step}"]
