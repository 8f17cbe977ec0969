"""What a job records in MLflow: its run's name, params, tags, metrics, figures and files.

``Recorder`` checks the store (failing fast, in one line), tells whether an identical run
already finished (a resumed sweep skips it), starts the run and sends what the job
produced, all as messages (``pipeline.tracking.messages``) through one channel: for a
tracking server, a spool file that a thread sends (``pipeline.tracking.spooled``: an outage
loses nothing); else the writer process for a single run (``tracking.writer_process``), this
process for a sweep job (``pipeline.tracking.writer``).
"""

from __future__ import annotations

import atexit
import shlex
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np

from pipeline.stages.data import Dataset
from pipeline.tracking import provenance
from pipeline.tracking.artifacts import artifact_location
from pipeline.tracking.datasets import dataset_messages
from pipeline.tracking.messages import (
    EndRun,
    FindRuns,
    LogArtifact,
    LogModel,
    LogSeries,
    OpenStore,
    ReportJob,
    SetTags,
    StartRun,
    now_ms,
)
from pipeline.tracking.reuse import reusable
from pipeline.tracking.spool import spool_dir
from pipeline.tracking.spooled import Spooled
from pipeline.tracking.store import check_store, is_server, resolve_uri
from pipeline.tracking.tags import FINGERPRINT_TAG, JOB_ROLE, JOB_TAG, PARENT_TAG, ROLE_TAG
from pipeline.tracking.writer import InProcess, WriterProcess

ENTRY = "python -m pipeline"  # the command of every run, before its overrides
CONFIG_DIR, CONFIG_FILE = "config", "config_resolved.yaml"  # the resolved config: what reruns run
WRITER, IN_PROCESS = WriterProcess(), InProcess()  # one of each per process, reused by its jobs
atexit.register(WRITER.close)


@dataclass(frozen=True)
class JobInfo:
    """Where a job runs: its output dir and, in a sweep, its number and the parent run."""

    output_dir: Path
    job_num: int | None = None
    parent_run_id: str | None = None
    tags: dict[str, str] = field(default_factory=dict)  # extra run tags, e.g. rerun_of
    command: str = ENTRY  # what ran the job: its run's Source in MLflow's UI

    @property
    def in_sweep(self) -> bool:
        return self.job_num is not None


def command_line(overrides: list[str], multirun: bool = False) -> str:
    """The ``python -m pipeline`` command with ``overrides``, as a shell would take it."""
    return shlex.join([*ENTRY.split(), *(["--multirun"] if multirun else []), *overrides])


def flatten(config: dict[str, Any], prefix: str = "") -> dict[str, str]:
    """Nested config -> ``{"train.lr": "0.1", ...}``; lists become their string form."""
    flat: dict[str, str] = {}
    for key, value in config.items():
        name = f"{prefix}{key}"
        if isinstance(value, dict):
            flat.update(flatten(value, f"{name}."))
        else:
            flat[name] = str(value)
    return flat


def quoted(value: str) -> str:
    """``value`` as a string literal of MLflow's search syntax."""
    return "'" + value.replace("'", "\\'") + "'"


Channel = WriterProcess | InProcess | Spooled


def uses_writer(cfg: Any, in_sweep: bool) -> bool:
    """Whether the job ``cfg`` sends its MLflow calls to the writer process (``WRITER``): a
    tracked single run (``tracking.writer_process``) on a store without a server."""
    uri = resolve_uri(cfg.tracking.uri, cfg.outputs_dir)
    tracking = cfg.tracking
    return tracking.enabled and tracking.writer_process and not in_sweep and not is_server(uri)


def series(key: str, steps: Any, values: Any) -> LogSeries:
    """``LogSeries`` of ``values`` at ``steps``, stamped with the time now."""
    values = np.asarray(values, float).tolist()
    return LogSeries(key, np.asarray(steps).tolist(), values, now_ms())


class RunSink:
    """The train stage's ``MetricsSink``: each series goes to the run as ``LogSeries``."""

    def __init__(self, channel: Channel) -> None:
        self.channel = channel

    def log_series(self, key: str, steps: np.ndarray, values: np.ndarray) -> None:
        self.channel.send(series(key, steps, values))


class Recorder:
    """The MLflow side of one job (``cfg``: its config; ``resolved``: that config as plain
    containers, interpolations resolved)."""

    def __init__(self, cfg: Any, job: JobInfo, resolved: dict[str, Any]) -> None:
        self.uri = resolve_uri(cfg.tracking.uri, cfg.outputs_dir)
        # a bad store fails here, before any work; a sweep's server may be down for a while
        check_store(self.uri, answer=not job.in_sweep)
        self.channel = self._channel(cfg, job)
        self.cfg, self.job, self.resolved = cfg, job, resolved
        self.fingerprint = provenance.fingerprint(resolved)
        self.sink = RunSink(self.channel)
        location = artifact_location(self.uri)
        self.channel.send(OpenStore(self.uri, cfg.tracking.experiment, location))

    def _channel(self, cfg: Any, job: JobInfo) -> Channel:
        """A spool for a tracking server (it may go down), the writer process for a single
        run (``uses_writer``), else this process."""
        if is_server(self.uri):
            folder, wait = spool_dir(cfg.outputs_dir), cfg.tracking.outage_wait
            return Spooled(folder, self.uri, wait, hand_off=job.in_sweep)
        return WRITER if uses_writer(cfg, job.in_sweep) else IN_PROCESS

    def finished_twin(self) -> dict[str, Any] | None:
        """A FINISHED run with this job's fingerprint (same config and code) that holds what
        this job's tracking settings ask for (``reuse.reusable``), if any: ``{"run_id",
        "status", "metrics", "params"}``."""
        twins = self.channel.call(
            FindRuns(
                f"tags.`{FINGERPRINT_TAG}` = {quoted(self.fingerprint)} "
                "and attributes.status = 'FINISHED'"
            )
        )
        return reusable(twins, self.cfg.tracking)

    def start(self, run_name: str, extra_tags: dict[str, str]) -> RunSink:
        """Start the run (without waiting for it) with its params, tags and config files."""
        tags = {
            **provenance.system_tags(self.job.command),
            **provenance.environment_tags(),
            FINGERPRINT_TAG: self.fingerprint,
            ROLE_TAG: JOB_ROLE,
            "seed": str(self.cfg.seed),
            **self.job.tags,
            **extra_tags,
        }
        if self.job.parent_run_id:
            tags[PARENT_TAG] = self.job.parent_run_id
        if self.job.in_sweep:
            tags[JOB_TAG] = str(self.job.job_num)
        self.channel.send(StartRun(run_name, tags, flatten(self.resolved), now_ms()))
        self._save_config()
        return self.sink

    def reuse(self, run_id: str) -> None:
        """Name ``run_id``, a run that finished earlier, as this job's run on the sweep's
        parent, and wait until the store has it."""
        self._report_to_parent(run_id)
        self.channel.close()

    def _report_to_parent(self, run_id: str | None) -> None:
        """Name ``run_id`` (None: the run this job started) as its run on the sweep's parent."""
        if self.job.parent_run_id and self.job.in_sweep:
            self.channel.send(ReportJob(self.job.parent_run_id, self.job.job_num, run_id))

    def set_tags(self, tags: dict[str, str]) -> None:
        self.channel.send(SetTags(tags))

    def log_metrics(self, metrics: dict[str, float]) -> None:
        """Single values (step 0), e.g. the final accuracies."""
        for key, value in metrics.items():
            self.channel.send(series(key, [0], [value]))

    def log(self, message: Any) -> None:
        """Any other message for the run, e.g. its figures."""
        self.channel.send(message)

    def log_datasets(self, data: Dataset) -> None:
        """Each split of ``data`` as one of the run's inputs (``datasets``)."""
        for message in dataset_messages(self.cfg, data):
            self.channel.send(message)

    def save_arrays(self, name: str, **arrays: np.ndarray) -> Path:
        """``<name>.npz`` of plain arrays (no pickle) in the job's dir, logged to the run."""
        path = self._output_dir() / f"{name}.npz"
        np.savez(path, **arrays)
        self.channel.send(LogArtifact(str(path), None))
        return path

    def log_model(
        self, weights_path: Path, activation: str, example: np.ndarray, metrics: list[str]
    ) -> None:
        """The network of ``weights_path`` as the run's MLflow logged model, ``example`` (n, D)
        the input example it shows (a few real rows), ``metrics`` the keys of the run's final
        metrics (logged before) it carries as its own."""
        example_path = self._output_dir() / "input_example.npy"
        np.save(example_path, example, allow_pickle=False)
        self.channel.send(LogModel(str(weights_path), str(example_path), activation, metrics))

    def save_file(self, path: Path, artifact_path: str | None = None) -> None:
        self.channel.send(LogArtifact(str(path), artifact_path))

    def end(self, status: str) -> str | None:
        """Name the run on the sweep's parent (a sweep job), mark it ``status`` and wait
        until the store has everything; return its id (None if a tracking server that is
        down never made the run: the spool keeps it)."""
        self._report_to_parent(None)
        return self.channel.call(EndRun(status, now_ms()))

    def _save_config(self) -> None:
        """The resolved config (what a rerun executes) and Hydra's ``.hydra/`` files."""
        from omegaconf import OmegaConf

        out = self._output_dir()
        (out / CONFIG_FILE).write_text(OmegaConf.to_yaml(self.resolved))
        self.save_file(out / CONFIG_FILE, CONFIG_DIR)
        if (out / ".hydra").is_dir():
            self.save_file(out / ".hydra", "hydra")

    def _output_dir(self) -> Path:
        self.job.output_dir.mkdir(parents=True, exist_ok=True)
        return self.job.output_dir
