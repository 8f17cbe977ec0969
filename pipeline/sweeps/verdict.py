"""What a sweep concludes, in words: the config chosen by validation accuracy, the runner-up,
whether the two are within noise, and the chosen model's test accuracy, reported only.

``markdown`` is the parent run's description's part, ``terminal`` the lines printed when
the sweep ends. The numbers come from ``pipeline.stages.selection`` through the ``Summary``.
"""

from __future__ import annotations

from pipeline.stages.selection import (
    NOISE_SES,
    REPORTED,
    SELECT_BY,
    Candidate,
    noise_bar,
    within_noise,
)
from pipeline.sweeps.summary import Summary
from pipeline.tracking.run_status import FINISHED


def config_text(config: Candidate) -> str:
    """``train.lr=0.5 train.batch_size=200``: what sets the config apart (its swept values)."""
    return " ".join(f"{key}={value}" for key, value in config.config) or "the one config"


def score_text(config: Candidate) -> str:
    """``0.9712 ± 0.0004 (std over 3 seeds)``: the mean validation accuracy and what one run
    varies by (the std over seeds; with one seed, the binomial standard error on its
    validation rows)."""
    n = len(config.val_accs)
    spread = f"std over {n} seeds" if n > 1 else (
        f"one seed: binomial SE on {config.jobs[0].n_val} validation rows")  # fmt: skip
    return f"{config.val_mean:.4f} ± {config.spread:.4f} ({spread})"


def noise_text(winner: Candidate, runner_up: Candidate) -> str:
    """Whether the runner-up could as well have won, plainly."""
    gap, bar = winner.val_mean - runner_up.val_mean, noise_bar(winner, runner_up)
    if within_noise(winner, runner_up):
        return (
            f"Within noise: the gap, {gap:.4f}, is less than {NOISE_SES:g} standard errors of "
            f"the difference ({bar:.4f}): other seeds could reverse the order."
        )
    return f"Clear: the gap, {gap:.4f}, exceeds {NOISE_SES:g} standard errors ({bar:.4f})."


def length_text(summary: Summary) -> str:
    """How long the jobs trained: ``10 epochs each (train.epochs): the same data for every
    batch size: 10,000 iterations at batch 50, ...``, or the iterations and the epochs they
    came to per batch size (as finished jobs ran them)."""
    lengths = {(p.get("train.iters"), p.get("train.epochs")) for p in summary.params}
    if len(lengths) != 1:
        return "the jobs' lengths differ (their train.iters and train.epochs)"
    iters, epochs = lengths.pop()
    ran = {}  # batch size -> (iterations, epochs) a finished job ran
    for p, row in zip(summary.params, summary.rows, strict=True):
        if row["status"] == FINISHED and "metrics.iters_run" in row:
            ran[int(p["train.batch_size"])] = (row["metrics.iters_run"], row["metrics.epochs_run"])
    by_batch = sorted(ran.items())
    if epochs != "None":
        each = ", ".join(f"{i:,.0f} iterations at batch {b}" for b, (i, _) in by_batch)
        count = f"{float(epochs):g} epoch{'s' * (float(epochs) != 1)}"
        return f"{count} each (train.epochs): the same data for every batch size: {each}"
    each = ", ".join(f"{e:.3g} epochs at batch {b}" for b, (_, e) in by_batch)
    unequal = "; unequal data across batch sizes" if len(ran) > 1 else ""
    return f"{iters} iterations each (train.iters): {each}{unequal}"


def markdown(summary: Summary) -> list[str]:
    """The description's lines on the jobs' length and the choice (none for lessons)."""
    if not summary.trained:
        return []
    length, selected = f"**Length**: {length_text(summary)}.", summary.selected
    if selected is None:
        return [length, "", _nothing_chosen(summary)]
    winner, *rest = summary.ranking
    lines = [
        length,
        "",
        f"**Chosen by validation accuracy** (`{SELECT_BY}`, mean over each config's seeds; "
        "`configs.csv` ranks every config):",
        "",
        "| | config | validation accuracy |",
        "|---|---|---|",
        f"| chosen | `{config_text(winner)}` | **{score_text(winner)}** |",
    ]
    if rest:
        lines += [f"| runner-up | `{config_text(rest[0])}` | {score_text(rest[0])} |", ""]
        lines.append(noise_text(winner, rest[0]))
    test_acc = selected.get(f"metrics.{REPORTED}")
    shown = "unknown" if test_acc is None else f"**{test_acc:.4f}**"
    lines += [
        "",
        f"**Best job**: #{selected['job']} (run `{selected['run_id']}`), the chosen config's "
        f"best seed: test accuracy {shown}, its estimate on new data (`selected_test_acc`), "
        "never used to choose.",
    ]
    return lines


def terminal(summary: Summary) -> list[str]:
    """The lines printed at the sweep's end on the jobs' length and the choice (none for
    lessons)."""
    if not summary.trained:
        return []
    lines, selected = [f"length: {length_text(summary)}"], summary.selected
    if selected is None:
        return [*lines, _nothing_chosen(summary).replace("**", "").replace("`", "")]
    winner, *rest = summary.ranking
    lines.append(f"chosen by validation accuracy: {config_text(winner)}: {score_text(winner)}")
    if rest:
        lines.append(f"runner-up: {config_text(rest[0])}: {score_text(rest[0])}")
        lines.append(noise_text(winner, rest[0]))
    test_acc = selected.get(f"metrics.{REPORTED}", float("nan"))
    lines.append(f"its best job: #{selected['job']}, test_acc={test_acc:.4f} (reported only)")
    return lines


def _nothing_chosen(summary: Summary) -> str:
    if not summary.validated:
        return (
            "**Chosen**: nothing: no job has a validation split (`data.val_size=0`), and a "
            "sweep never chooses by test accuracy."
        )
    return "**Chosen**: nothing: no config finished every seed with a validation accuracy."
