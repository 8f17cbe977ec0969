"""What a training run records in MLflow: its name, params, tags, figures and files.

``Recorder`` opens the store through the writer process (failing fast when it cannot),
finds the sweep's parent run, tells whether an identical run already finished, and at the
end sends figures, weights and config files.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np

from pipeline import provenance
from pipeline.tracking import RunSink, artifact_location, check_server, resolve_uri, writer

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
        check_server(self.uri)  # an unreachable server fails here, before any work
        writer().start()  # MLflow imports in the writer while this process loads data
        self.cfg, self.job, self.resolved = cfg, job, resolved
        self.fingerprint = provenance.fingerprint(resolved)
        self.experiment_id: str | None = None
        self.parent_id: str | None = None

    def open(self) -> None:
        """Connect to the store (raises ``TrackingError`` at once if it cannot)."""
        location = artifact_location(self.uri, self.cfg.outputs_dir)
        self.experiment_id = writer().call(
            "open",
            uri=self.uri,
            experiment=self.cfg.tracking.experiment,
            artifact_location=location,
        )
        if self.job.sweep_dir is not None:
            parents = self._find(f"tags.`{SWEEP_DIR_TAG}` = {_quoted(self.job.sweep_dir)}")
            self.parent_id = parents[0]["run_id"] if parents else None

    def _find(self, filter_string: str) -> list[dict[str, str]]:
        return writer().call(
            "find_runs", experiment_id=self.experiment_id, filter_string=filter_string
        )

    def finished_twin(self) -> dict[str, Any] | None:
        """A FINISHED run with this job's fingerprint (same config and code), if any:
        ``{"run_id": ..., "status": ..., "metrics": {...}}``."""
        runs = self._find(
            f"tags.`{FINGERPRINT_TAG}` = {_quoted(self.fingerprint)} "
            "and attributes.status = 'FINISHED'"
        )
        return runs[0] if runs else None

    def start(self, extra_tags: dict[str, str]) -> RunSink:
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
        run_id = writer().call(
            "start_run",
            experiment_id=self.experiment_id,
            run_name=run_name(self.cfg),
            tags=tags,
            params=flatten(self.resolved),
        )
        self.report_to_parent(run_id)
        sink = RunSink(run_id, self.experiment_id, figures=self.cfg.tracking.log_figures)
        self._save_config(sink)
        return sink

    def report_to_parent(self, run_id: str) -> None:
        """Tell the sweep's parent run which run holds this job (new or reused)."""
        if self.parent_id and self.job.job_num is not None:
            tag = {f"{JOB_TAG_PREFIX}{self.job.job_num}": run_id}
            writer().send("tags", run_id=self.parent_id, tags=tag)

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
