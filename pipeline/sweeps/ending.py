"""A sweep's end: its parent's summary, front page and end, and the chosen model registered.

``SweepEnd`` holds all the end needs, so it can also happen later: when the tracking
server is down as a sweep ends (past ``tracking.outage_wait``), the launching process saves
it as ``<spool>/sweeps/<parent run id>.json`` and ``make sync`` ends the sweep once the
server has its jobs' spooled runs (``pipeline.tracking.drain``).
"""

from __future__ import annotations

import json
import os
from collections.abc import Callable
from dataclasses import asdict, dataclass
from pathlib import Path
from typing import Any

from pipeline.config import Task
from pipeline.errors import one_line
from pipeline.sweeps.diff_summary import log_error_vs_h
from pipeline.sweeps.front_page import log_front_page, terminal_lines
from pipeline.sweeps.summary import Summary, register_best, summarize
from pipeline.tracking.drain import Drained, drain
from pipeline.tracking.lookup import open_run, running_children
from pipeline.tracking.mlflow_run import MlflowRun
from pipeline.tracking.run_status import FAILED, FINISHED, NEVER_ENDED
from pipeline.tracking.spool import parent_of
from pipeline.tracking.store import ENV_URI, TrackingError

SWEEPS_DIR = "sweeps"  # under the spool: the ends of sweeps whose server was down


@dataclass
class SweepEnd:
    """A sweep to end: its store and parent run, its dir, task and axes (key -> values),
    its overrides, the model to register its best run as (and the alias), the spool its jobs
    use, and its status: FINISHED (summarized) or KILLED (interrupted: its parent and its
    runs still open are ended, nothing more)."""

    uri: str
    parent_run_id: str
    sweep_dir: str
    task: str
    axes: dict[str, str]
    overrides: list[str]
    registered_model: str | None
    model_alias: str
    spool_dir: str
    status: str = FINISHED

    def save(self) -> Path:
        """As ``<spool>/sweeps/<parent run id>.json``, for ``make sync``."""
        path = Path(self.spool_dir) / SWEEPS_DIR / f"{self.parent_run_id}.json"
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_text(json.dumps(asdict(self), indent=1))
        return path


def saved_ends(spool: Path) -> list[tuple[Path, SweepEnd]]:
    """The sweep ends saved in ``spool``, oldest first."""
    paths = sorted((spool / SWEEPS_DIR).glob("*.json"), key=lambda p: p.stat().st_mtime)
    return [(path, SweepEnd(**json.loads(path.read_text()))) for path in paths]


@dataclass
class Owed:
    """What ``send_owed`` sent: the spooled runs (``drain``'s report) and the sweeps ended."""

    drained: Drained
    ended: list[SweepEnd]


def send_owed(
    spool: Path, uri: str | None, wait: float, say: Callable[[str], None] = print
) -> Owed:
    """Send the runs spooled in ``spool`` for the store ``uri`` (None: every store), waiting
    up to ``wait`` seconds for a server that is down; then end each saved sweep all of whose
    runs are sent."""
    drained = drain(spool, uri, wait, say)
    left = {parent_of(path) for path in drained.busy} | {
        parent_of(path) for paths in drained.down.values() for path in paths
    }
    ended = []
    for path, end in saved_ends(spool):
        if uri not in (None, end.uri) or end.parent_run_id in left or end.uri in drained.down:
            continue
        end_sweep(end)
        path.unlink()
        ended.append(end)
    return Owed(drained, ended)


def end_sweep(end: SweepEnd) -> None:
    """End the sweep: mark its jobs' runs still open KILLED; if it FINISHED, log its summary
    and front page and print them; end its parent; register the chosen job's model."""
    client, _ = open_run(end.uri, end.parent_run_id)
    parent = MlflowRun(client, end.parent_run_id)
    end_orphans(parent)
    if end.status != FINISHED:
        parent.end(end.status)
        return
    status, sweep_dir = FAILED, Path(end.sweep_dir)
    try:
        summary = summarize(parent, sweep_dir, list(end.axes))
        if end.task == Task.NUMERICAL_DIFF:
            log_error_vs_h(parent)
        lines = terminal_lines(summary, parent.run_id, end.uri)
        log_front_page(parent, summary, end.axes, end.overrides, sweep_dir, lines)
        status = FINISHED
    finally:
        parent.end(status)
    print("\n".join(lines))
    register_best_model(parent.client, summary, end)


def end_orphans(parent: MlflowRun) -> None:
    """Mark KILLED the children of ``parent`` still RUNNING: their job's process died without
    ending them (SIGKILL, out of memory), so no job will."""
    for run_id in running_children(parent.client, parent.run_id):
        MlflowRun(parent.client, run_id).end(NEVER_ENDED)


def register_best_model(client: Any, summary: Summary, end: SweepEnd) -> None:
    """The chosen job's model (``Summary.selected``) as a new version of
    ``end.registered_model`` (None: none), with ``end.model_alias`` on it if it beats the
    version that has it, else ``challenger``; one line says which. MLflow's registry
    resolves the model through the process's tracking URI, which is set to the sweep's
    store."""
    os.environ[ENV_URI] = end.uri
    try:
        registered = register_best(client, summary, end.registered_model, end.model_alias)
    except Exception as exc:  # noqa: BLE001 - MLflow's and SQLAlchemy's errors
        name = end.registered_model
        raise TrackingError(f"registering the best model as {name}: {one_line(exc)}") from None
    if registered is not None:
        print(registered.line())
