"""What a training run records in MLflow: its name, params, tags, figures and files.

``Recorder`` opens the store through the writer process (failing fast when it cannot),
finds the sweep's parent run, tells whether an identical run already finished, and at the
end sends figures, weights and config files.
"""

from __future__ import annotations

import uuid
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np

from pipeline import provenance
from pipeline.tracking import RunSink, artifact_location, check_store, resolve_uri, writer

SWEEP_DIR_TAG = "scratchnn.sweep_dir"
FINGERPRINT_TAG = "scratchnn.fingerprint"
ROLE_TAG = "scratchnn.role"
JOB_TAG_PREFIX = "scratchnn.job."


@dataclass(frozen=True)
class JobInfo:
    """Where this job runs: its output dir, and for a sweep job its sweep dir and number."""

    output_dir: Path
    sweep_dir: str | None = None
    job_num: int | None = None
    tags: dict[str, str] = field(default_factory=dict)  # extra run tags, e.g. rerun_of


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


def run_name(cfg: Any) -> str:
    """A name a person can read, e.g. ``lr=0.1 bs=100 h=50 analytic``."""
    if cfg.task == "gradient_descent":
        return f"gradient descent lr={cfg.gd.lr:g}"
    return (
        f"lr={cfg.train.lr:g} bs={cfg.train.batch_size} h={cfg.model.hidden_size} "
        f"{cfg.train.gradient}"
    )


def _quoted(value: str) -> str:
    return "'" + value.replace("'", "\\'") + "'"


class Recorder:
    """The MLflow side of one job; every call goes through this process's writer."""

    def __init__(self, cfg: Any, job: JobInfo, resolved: dict[str, Any]) -> None:
        self.uri = resolve_uri(cfg.tracking, cfg.outputs_dir)
        check_store(self.uri)  # an unreachable server fails here, before any work
        writer().start()  # MLflow imports in the writer while this process works
        self.cfg, self.job, self.resolved = cfg, job, resolved
        self.fingerprint = provenance.fingerprint(resolved)
        self.parent_id: str | None = None

    def open(self) -> None:
        """Connect to the store. A sweep job waits for it (it must find its parent run and
        whether it already finished); a single run does not, and its training starts while
        the writer is still importing MLflow."""
        location = artifact_location(self.uri, self.cfg.outputs_dir)
        fields = {"uri": self.uri, "experiment": self.cfg.tracking.experiment}
        if self.job.sweep_dir is None:
            writer().send("open", **fields, artifact_location=location)
            return
        writer().call("open", **fields, artifact_location=location)
        parents = self._find(f"tags.`{SWEEP_DIR_TAG}` = {_quoted(self.job.sweep_dir)}")
        self.parent_id = parents[0]["run_id"] if parents else None

    def _find(self, filter_string: str) -> list[dict[str, Any]]:
        return writer().call("find_runs", filter_string=filter_string)

    def finished_twin(self) -> dict[str, Any] | None:
        """A FINISHED run with this job's fingerprint (same config and code), if any:
        ``{"run_id": ..., "status": ..., "metrics": {...}}``."""
        runs = self._find(
            f"tags.`{FINGERPRINT_TAG}` = {_quoted(self.fingerprint)} "
            "and attributes.status = 'FINISHED'"
        )
        return runs[0] if runs else None

    def start(self, extra_tags: dict[str, str]) -> RunSink:
        """Create the run (asynchronously) with its params and tags; log its config."""
        tags = {
            **provenance.environment_tags(),
            FINGERPRINT_TAG: self.fingerprint,
            ROLE_TAG: "job",
            "seed": str(self.cfg.seed),
            **self.job.tags,
            **extra_tags,
        }
        if self.parent_id:
            tags["mlflow.parentRunId"] = self.parent_id
        key = uuid.uuid4().hex
        writer().send(
            "start_run",
            key=key,
            run_name=run_name(self.cfg),
            tags=tags,
            params=flatten(self.resolved),
            report_to=self._job_tag(),
        )
        sink = RunSink(key, figures=self.cfg.tracking.log_figures)
        self._save_config(sink)
        return sink

    def _job_tag(self) -> tuple[str, str] | None:
        """(parent run id, tag) under which the sweep's parent records this job's run."""
        if self.parent_id and self.job.job_num is not None:
            return self.parent_id, f"{JOB_TAG_PREFIX}{self.job.job_num}"
        return None

    def report_to_parent(self, run_id: str) -> None:
        """Tell the sweep's parent run that ``run_id`` (finished earlier) holds this job."""
        job_tag = self._job_tag()
        if job_tag:
            writer().send("tags", run=job_tag[0], tags={job_tag[1]: run_id})

    def save_history(self, sink: RunSink, history: Any) -> None:
        """``history.npz``: losses (iters_run,), epochs, train_acc and test_acc (epochs,)."""
        path = self._output_dir() / "history.npz"
        np.savez(
            path,
            losses=history.losses[: history.iters_run],
            epochs=np.array(history.epochs, dtype=np.int64),
            train_acc=np.array(history.train_acc),
            test_acc=np.array(history.test_acc),
        )
        sink.log_artifact(path, None)

    def save_model(self, sink: RunSink, params: dict[str, np.ndarray]) -> str:
        """``weights.npz`` (plain arrays, no pickle); returns the weights' sha256."""
        path = self._output_dir() / "weights.npz"
        np.savez(path, **params)
        sink.log_artifact(path, None)
        return provenance.weights_sha256(params)

    def _save_config(self, sink: RunSink) -> None:
        """The resolved config (what a rerun executes) and Hydra's ``.hydra/`` files."""
        from omegaconf import OmegaConf

        out = self._output_dir()
        (out / "config_resolved.yaml").write_text(OmegaConf.to_yaml(self.resolved))
        sink.log_artifact(out / "config_resolved.yaml", "config")
        if (out / ".hydra").is_dir():
            sink.log_artifact(out / ".hydra", "hydra")

    def _output_dir(self) -> Path:
        self.job.output_dir.mkdir(parents=True, exist_ok=True)
        return self.job.output_dir
