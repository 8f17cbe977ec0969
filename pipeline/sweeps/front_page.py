"""What a sweep's parent run shows first in MLflow's UI: its params, counts and description.

Params (set when the sweep starts): the fixed config, each swept axis with its values
(``train.lr`` = ``0.05, 0.1, 0.5``). Metrics (at its end): the job counts, so that they are
columns of the runs table. Description (``mlflow.note.content``, markdown): what was swept,
how the jobs ended, the config chosen by validation accuracy and the runner-up
(``verdict``), the chosen job's test accuracy and run, and the command that reruns the sweep.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

import numpy as np
from omegaconf import DictConfig, OmegaConf

from pipeline.stages.selection import REPORTED, SELECT_BY
from pipeline.sweeps import verdict
from pipeline.sweeps.summary import Summary
from pipeline.tracking.mlflow_run import MlflowRun
from pipeline.tracking.recorder import command_line, flatten
from pipeline.tracking.run_status import FINISHED
from pipeline.tracking.runs_view import run_page
from pipeline.tracking.store import ui_hint
from pipeline.tracking.tags import NOTE_TAG

FORCE = "force=true"  # runs every job again, finished or not
SWEEP_LOG = "sweep.log"  # in the sweep's dir: the launching process's log and the summary
MULTIRUN_YAML = "multirun.yaml"  # in the sweep's dir: Hydra's config of the whole sweep
ACCURACIES = (SELECT_BY, REPORTED)  # a job's line shows these: val_acc=0.9712 test_acc=0.9680


def log_front_page(
    parent: MlflowRun, summary: Summary, axes: dict[str, str], overrides: list[str],
    sweep_dir: Path, lines: list[str],
) -> None:  # fmt: skip
    """Give the sweep's ``parent`` its counts as metrics, its description, Hydra's
    ``multirun.yaml`` and ``sweep.log`` (with the terminal summary ``lines`` appended)."""
    for key, value in counts(summary.rows).items():
        parent.log_series(key, np.array([0]), np.array([value]))
    experiment_id = parent.client.get_run(parent.run_id).info.experiment_id
    parent.set_tags({NOTE_TAG: description(summary, axes, overrides, experiment_id)})
    if (sweep_dir / MULTIRUN_YAML).is_file():
        parent.log_artifact(sweep_dir / MULTIRUN_YAML, None)
    with open(sweep_dir / SWEEP_LOG, "a") as log:
        log.write("\n".join(lines) + "\n")
    parent.log_artifact(sweep_dir / SWEEP_LOG, None)


def parent_params(config: DictConfig, axes: dict[str, str]) -> dict[str, str]:
    """The sweep's config without ``hydra``, flattened (``train.lr`` -> ``0.1``), each key of
    ``axes`` (key -> its values, ``preflight.axis_values``) holding its values instead."""
    without_hydra = OmegaConf.masked_copy(config, [key for key in config if key != "hydra"])
    return {**flatten(OmegaConf.to_container(without_hydra, resolve=True)), **axes}


def counts(rows: list[dict[str, Any]]) -> dict[str, int]:
    """How the jobs of the summary ``rows`` ended: ``n_jobs``, ``n_finished`` (run now),
    ``n_reused`` (finished earlier), ``n_diverged``, ``n_failed`` (failed or killed)."""
    diverged = [r for r in rows if r["diverged_at"]]
    reused = [r for r in rows if r["reused"]]
    finished = [r for r in rows if r["status"] == FINISHED and not r["reused"]]
    return {
        "n_jobs": len(rows),
        "n_finished": len(finished),
        "n_reused": len(reused),
        "n_diverged": len(diverged),
        "n_failed": len(rows) - len(finished) - len(reused) - len(diverged),
    }


def rerun_command(overrides: list[str]) -> str:
    """The command that runs the sweep of ``overrides`` (Hydra's task overrides) again, every
    job anew."""
    kept = [o for o in overrides if not o.startswith("force=")]
    return command_line([*kept, FORCE], multirun=True)


def description(
    summary: Summary, axes: dict[str, str], overrides: list[str], experiment_id: str
) -> str:
    """The parent's description: a markdown page of the sweep (see the module's docstring),
    in experiment ``experiment_id``."""
    swept = " × ".join(key.rpartition(".")[2] for key in axes) or "no axis"
    n = counts(summary.rows)
    lines = [f"### Sweep of {swept}: {n['n_jobs']} jobs", ""]
    if axes:
        lines += ["| axis | values |", "|---|---|"]
        lines += [f"| `{key}` | {values} |" for key, values in axes.items()]
        lines.append("")
    lines.append(
        f"**Jobs**: {n['n_finished']} finished, {n['n_reused']} reused (finished earlier), "
        f"{n['n_diverged']} diverged, {n['n_failed']} failed or killed."
    )
    lines += reused_jobs(summary.rows, experiment_id)
    chosen = verdict.markdown(summary)
    lines += ["", *chosen, *([""] if chosen else [])]
    return "\n".join([*lines, f"Rerun every job: `{rerun_command(overrides)}`"])


def reused_jobs(rows: list[dict[str, Any]], experiment_id: str) -> list[str]:
    """The jobs of ``rows`` that reused a run finished earlier, each linked to its run's page:
    MLflow's UI nests that run under the sweep that made it, not under this one."""
    reused = [row for row in rows if row["reused"]]
    if not reused:
        return []
    lines = ["", "**Reused jobs** (nested under the sweep that ran them):", ""]
    for row in reused:
        link = f"[{row['run_id'][:8]}]({run_page(experiment_id, row['run_id'])})"
        lines.append(f"- #{row['job']} {varying(row) or 'the one job'}: run {link}")
    return lines


def varying(row: dict[str, Any]) -> str:
    """The params of a summary row that vary between the sweep's jobs: ``lr=0.1 hidden_size=50``."""
    return " ".join(f"{k.split('.')[-1]}={v}" for k, v in row.items() if k.startswith("params."))


def terminal_lines(summary: Summary, parent_id: str, uri: str) -> list[str]:
    """The sweep's jobs, one line each (the params that vary, the outcome), the choice, and
    what next."""
    lines = ["", f"sweep {parent_id}: {len(summary.rows)} jobs"]
    for row in summary.rows:
        metrics = {
            k.removeprefix("metrics."): v for k, v in row.items() if k.startswith("metrics.")
        }
        if row["diverged_at"]:
            outcome = f"diverged at iteration {row['diverged_at']}"
        elif any(key in metrics for key in ACCURACIES):
            outcome = " ".join(f"{k.removeprefix('final_')}={metrics[k]:.4f}" for k in ACCURACIES
                               if k in metrics)  # fmt: skip
        else:
            outcome = " ".join(f"{k}={v:.6g}" for k, v in metrics.items()) or row["status"]
        reused = "  (reused: finished earlier)" if row["reused"] else ""
        lines.append(f"  #{row['job']:<3} {varying(row)}  {outcome}{reused}")
    return [*lines, *verdict.terminal(summary), ui_hint(uri)]
