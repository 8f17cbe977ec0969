"""What a job tells the tracking store, one message class per kind of call.

A job never calls MLflow itself: it builds a message (here, a figure's in
``figure_messages``, a dataset's in ``datasets``) and gives it to a channel
(``pipeline.tracking.writer``), which applies it to a ``Session`` in this process or sends
it, as a JSON line, to the writer process that applies it there. ``message.apply(session)``
is the one place each call is carried out. Every field is JSON (lists, not arrays); MLflow
is imported only where a message is applied.
"""

from __future__ import annotations

import dataclasses
import json
import tempfile
import time
from dataclasses import asdict, dataclass
from pathlib import Path
from typing import Any, get_args

import numpy as np

from pipeline.tracking.datasets import LogDataset
from pipeline.tracking.figure_messages import LogDescentFigure
from pipeline.tracking.mlflow_run import MlflowRun
from pipeline.tracking.run_status import NEVER_ENDED
from pipeline.tracking.session import Session
from pipeline.tracking.store import connect
from pipeline.tracking.tags import SPOOL_TAG


@dataclass
class OpenStore:
    """Use ``experiment`` of the store at ``uri`` (creating it, with its artifacts at
    ``artifact_location``, when new); connected once per process and store."""

    uri: str
    experiment: str
    artifact_location: str | None

    def apply(self, session: Session) -> str:
        key = self.uri, self.experiment
        if key not in session.stores:
            session.stores[key] = connect(self.uri, self.experiment, self.artifact_location)
        session.client, session.experiment_id = session.stores[key]
        return session.experiment_id


@dataclass
class FindRuns:
    """The runs of the experiment that match ``filter_string`` (MLflow's search syntax):
    ``{"run_id", "status", "metrics", "params"}`` of each, newest first."""

    filter_string: str

    def apply(self, session: Session) -> list[dict[str, Any]]:
        runs = session.client.search_runs(
            [session.experiment_id], self.filter_string, max_results=100
        )
        return [
            {
                "run_id": r.info.run_id,
                "status": r.info.status,
                "metrics": r.data.metrics,
                "params": r.data.params,
            }
            for r in runs
        ]


@dataclass
class StartRun:
    """Create the job's run, started at ``start_time`` (ms since the epoch), with its tags
    (``mlflow.parentRunId`` nests it) and params. A spooled run (tag ``SPOOL_TAG``) is
    created once: replayed again, it finds the run it made."""

    run_name: str
    tags: dict[str, str]
    params: dict[str, str]
    start_time: int

    def apply(self, session: Session) -> str:
        session.end_open_run(NEVER_ENDED)  # an earlier job of this process that never ended
        run = self._spooled_twin(session) or MlflowRun.start(
            session.client, session.experiment_id, self.run_name, self.tags, self.start_time
        )
        run.log_params(self.params)
        session.run = run
        return run.run_id

    def _spooled_twin(self, session: Session) -> MlflowRun | None:
        if SPOOL_TAG not in self.tags:
            return None
        found = session.client.search_runs(
            [session.experiment_id], f"tags.`{SPOOL_TAG}` = '{self.tags[SPOOL_TAG]}'"
        )
        return MlflowRun(session.client, found[0].info.run_id) if found else None


@dataclass
class LogSeries:
    """Metric ``key``: ``values[i]`` at step ``steps[i]``, logged at ``timestamp`` (ms since
    the epoch: when the job sent it, not when it reached the store)."""

    key: str
    steps: list[int]
    values: list[float]
    timestamp: int

    def apply(self, session: Session) -> None:
        steps, values = np.array(self.steps), np.array(self.values)
        session.run.log_series(self.key, steps, values, self.timestamp)


@dataclass
class SetTags:
    tags: dict[str, str]

    def apply(self, session: Session) -> None:
        session.run.set_tags(self.tags)


@dataclass
class ReportJob:
    """A sweep job names its run on the sweep's parent: ``run_id`` (a reused one), or None
    for the run open in this session (its id is not known before the store made it)."""

    parent_run_id: str
    job: int
    run_id: str | None

    def apply(self, session: Session) -> None:
        run_id = self.run_id or session.run.run_id
        MlflowRun(session.client, self.parent_run_id).log_job(self.job, run_id)


@dataclass
class LogArtifact:
    """The file or folder ``path`` under ``artifact_path`` (None: the run's root)."""

    path: str
    artifact_path: str | None

    def apply(self, session: Session) -> None:
        session.run.log_artifact(self.path, self.artifact_path)


@dataclass
class LogModel:
    """The network of ``weights_path`` (``.npz``) as the run's MLflow 3 logged model
    ``model`` (``logged_model.new_logged_model``), the rows of ``example_path`` (``.npy``) its
    input example, the run's final ``metrics`` (keys) its metrics: saved as a folder
    (``pipeline.model.save``), logged through the run's client (no fluent active run, whose
    end would mark the run FINISHED; no global tracking URI)."""

    weights_path: str
    example_path: str
    activation: str
    metrics: list[str]

    def apply(self, session: Session) -> None:
        from pipeline.model.save import MODEL_DIR, save_model
        from pipeline.tracking.logged_model import new_logged_model, run_model

        client, run = session.client, session.run
        if run_model(client, run.run_id) is not None:  # logged before this message was replayed
            return
        with (
            new_logged_model(client, session.experiment_id, run, self.metrics) as model,
            tempfile.TemporaryDirectory() as tmp,
        ):
            folder = Path(tmp) / MODEL_DIR
            save_model(folder, self.weights_path, self.example_path, self.activation,
                       run.run_id, model.model_id)  # fmt: skip
            client.log_model_artifacts(model.model_id, str(folder))


@dataclass
class EndRun:
    """Send what is buffered, mark the run ``status`` as of ``end_time`` (ms since the
    epoch); answers its run id."""

    status: str
    end_time: int

    def apply(self, session: Session) -> str:
        run, session.run = session.run, None
        return run.end(self.status, self.end_time)


Message = (
    OpenStore | FindRuns | StartRun | LogSeries | SetTags | ReportJob | LogArtifact | LogDataset
    | LogDescentFigure | LogModel | EndRun
)  # fmt: skip
MESSAGES = {kind.__name__: kind for kind in get_args(Message)}  # to decode the JSON lines


def now_ms() -> int:
    """The time now, in ms since the epoch: MLflow's unit for metric, start and end times."""
    return int(time.time() * 1000)


def encode(message: Message, **extra: Any) -> str:
    """``message`` as one JSON line (no newline): its kind, its fields and ``extra``."""
    return json.dumps({"kind": type(message).__name__, **extra, **asdict(message)})


def decode(line: str) -> tuple[Message, dict[str, Any]]:
    """The message of an ``encode``d line, and the line's ``extra`` fields."""
    fields = json.loads(line)
    kind = MESSAGES[fields.pop("kind")]
    names = {f.name for f in dataclasses.fields(kind)}
    extra = {key: fields.pop(key) for key in list(fields) if key not in names}
    return kind(**fields), extra
