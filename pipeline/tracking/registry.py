"""A run's model in MLflow's registry: found, registered, its alias moved only to a better one.

``register`` makes a run's logged model (``logged_model``) a version of a registered model,
described and tagged (``pipeline.model.card``), and moves the alias (champion) to it only if
it beats the version holding it, judged on the same evaluation rows (``judge``:
validation accuracy on the validation split; for a run without one, test accuracy on the
test set); else the version gets ``CHALLENGER``. ``check_alias`` refuses, before a sweep
starts, an alias refused at its end.
"""

from __future__ import annotations

import json
import logging
import re
from dataclasses import dataclass
from typing import Any

from pipeline.model.card import DATA_TAG, describe, version_tags
from pipeline.model.save import MODEL_DIR
from pipeline.stages.selection import REPORTED, SELECT_BY
from pipeline.tracking.artifacts import relocated
from pipeline.tracking.datasets import CONTEXTS, datasets
from pipeline.tracking.logged_model import run_model
from pipeline.tracking.lookup import newest_sweep_run, on_default_rows
from pipeline.tracking.store import ENV_URI, TrackingError, check_store, experiment_id
from pipeline.tracking.tags import BEST_RUN_TAG

ALIAS_PATTERN = r"[\w-]{1,255}"  # MLflow's aliases: letters, digits, _ and -
RESERVED_ALIAS = r"latest|v\d+"  # MLflow refuses these: they name versions
CHALLENGER = "challenger"  # the alias of a new version that does not beat the alias's holder
VERSIONS_TAG = "mlflow.modelVersions"  # MLflow's: a logged model's registered versions
log = logging.getLogger(__name__)


def model_uri(run_id: str) -> str:
    return f"runs:/{run_id}/{MODEL_DIR}"


def model_source(client: Any, run_id: str) -> str:
    """Where the run's model is loaded from: ``runs:/<id>/model``, or, in a SQLite store whose
    folder was moved (``relocated``), the model's folder beside the store's file."""
    model = run_model(client, run_id)
    recorded = (
        model.artifact_location if model
        else f"{client.get_run(run_id).info.artifact_uri}/{MODEL_DIR}"
    )  # fmt: skip
    here = relocated(client.tracking_uri, recorded)
    return model_uri(run_id) if here == recorded else here


def check_alias(alias: str) -> None:
    """Refuse, in one line, an alias MLflow would refuse at the end of a sweep, or
    ``CHALLENGER``, which the versions that lose get."""
    valid = re.fullmatch(ALIAS_PATTERN, alias) and not re.fullmatch(RESERVED_ALIAS, alias)
    if not valid or alias == CHALLENGER:
        raise ValueError(
            f"tracking.model_alias={alias!r} is not allowed; allowed: letters, digits, _ and -, "
            f"other than latest, v<number> and {CHALLENGER}"
        )


def has_model(client: Any, run_id: str) -> bool:
    """Whether the run logged a model: a READY logged model, or (before MLflow 3 models) the
    folder ``model/`` among its artifacts. (Its root only: MLflow resolves a listing of
    ``model/`` to the run's logged model through the process's tracking URI.)"""
    if run_model(client, run_id) is not None:
        return True
    return any(a.path == MODEL_DIR and a.is_dir for a in client.list_artifacts(run_id))


@dataclass(frozen=True)
class Registration:
    """Version ``version`` of ``name``, the model of run ``run_id``: whether it took ``alias``
    (``took``) from version ``held`` (None: no version had it), by the metric ``key``
    (``score`` vs ``held_score``), compared only when both were judged on the same rows
    (``same_data``); ``new`` False: registered earlier."""

    name: str
    version: str
    run_id: str
    alias: str
    took: bool
    score: float | None = None
    held: str | None = None
    held_score: float | None = None
    same_data: bool = True
    new: bool = True
    key: str = SELECT_BY

    def line(self) -> str:
        """What happened, in one line."""
        where = f"models:/{self.name}/{self.version} (run {self.run_id})"
        if not self.new:
            held = f" @{self.alias}" if self.took else ""
            return f"registered: nothing new: {where}{held} was registered earlier"
        acc, holder = shown(self.score), f"{self.alias} v{self.held}"
        key = self.key.removeprefix("final_")  # val_acc, as the lines name it
        if self.held is None:
            why = f"{key} {acc}; no {self.alias} before"
        elif not self.same_data:
            why = f"{key} {acc}; {holder} was judged on other evaluation data: not comparable"
        else:
            sign = ">" if self.took else "<="
            why = f"{key} {acc} {sign} {holder}'s {shown(self.held_score)}"
        if self.took:
            return f"registered: {where} as {self.alias} ({why})"
        stays = f"{self.alias} stays at version {self.held}"
        return f"registered: {where} as {CHALLENGER} ({why}); {stays}"


def shown(score: float | None) -> str:
    """An accuracy as the lines show it."""
    return "unknown" if score is None else f"{score:.4f}"


def register(client: Any, run_id: str, name: str, alias: str) -> Registration | None:
    """Make the run's logged model a new version of ``name`` (created if absent), described
    and tagged, and point ``alias`` at it if it beats the version holding it (``judge``),
    else ``CHALLENGER``. A run registered earlier gets no second version (a resumed sweep);
    a run without a logged model gets none either (None, and a warning)."""
    model = run_model(client, run_id)
    if model is None:
        log.warning("run %s has no logged model %r: nothing registered", run_id, MODEL_DIR)
        return None
    check_process_uri(client)
    create_registered_model(client, name)
    earlier = client.search_model_versions(f"name = '{name}' and run_id = '{run_id}'")
    if earlier:
        held = client.get_model_version(name, earlier[0].version).aliases  # search has none
        return Registration(name, str(earlier[0].version), run_id, alias, alias in held, new=False)
    run = client.get_run(run_id)
    verdict = judge(client, name, alias, evaluation(run))
    version = new_version(client, name, run, model)
    client.set_registered_model_alias(name, alias if verdict["took"] else CHALLENGER, version)
    return Registration(name, version, run_id, alias, **verdict)


def new_version(client: Any, name: str, run: Any, model: Any) -> str:
    """A new version of ``name`` whose source is the logged ``model`` of ``run``, with its
    description and tags (``pipeline.model.card``), named on the model (the Models tab)."""
    run_id, data = run.info.run_id, run.data
    version = client.create_model_version(
        name, model.model_uri, run_id=run_id, model_id=model.model_id,
        tags=version_tags(run_id, model.model_id, data.metrics, data.tags),
        description=describe(run_id, model.model_id, data.params, data.metrics,
                             data.tags.get(DATA_TAG)),
    ).version  # fmt: skip
    versions = json.loads(model.tags.get(VERSIONS_TAG, "[]"))
    versions.append({"name": name, "version": str(version)})
    client.set_logged_model_tags(model.model_id, {VERSIONS_TAG: json.dumps(versions)})
    return str(version)


@dataclass(frozen=True)
class Evaluation:
    """What a run (an MLflow ``Run``) was judged on: the metric ``key`` (``SELECT_BY`` on
    its validation split; ``REPORTED`` on its test set when it has none), its ``score`` and
    the ``digest`` of the rows (that split's dataset digest, None if it logged none)."""

    key: str
    score: float | None
    digest: str | None

    def comparable(self, other: Evaluation) -> bool:
        """Judged by the same metric on the same rows."""
        return self.digest is not None and (self.key, self.digest) == (other.key, other.digest)


def evaluation(run: Any) -> Evaluation:
    """The ``Evaluation`` of ``run``: on its validation rows if it had any, else its test rows."""
    found = datasets(run)
    split, key = ("val", SELECT_BY) if CONTEXTS["val"] in found else ("test", REPORTED)
    digest = found.get(CONTEXTS[split], (None, None))[1]
    return Evaluation(key, run.data.metrics.get(key), digest)


def judge(client: Any, name: str, alias: str, new: Evaluation) -> dict[str, Any]:
    """Whether a model judged as ``new`` takes ``alias``: yes if no version has it; else only
    if the holder was judged by the same metric on the same rows and ``new`` scores higher.
    ``took``, ``score``, ``key``, ``held`` (the holder's version), ``held_score`` and
    ``same_data``."""
    from mlflow.exceptions import MlflowException

    try:
        holder = client.get_model_version_by_alias(name, alias)
    except MlflowException:  # no version has the alias yet
        return {"took": True, "score": new.score, "key": new.key}
    held = evaluation(client.get_run(holder.run_id)) if holder.run_id else None
    same = held is not None and new.comparable(held)
    held_score = held.score if same else None
    took = same and (held_score is None or (new.score is not None and new.score > held_score))
    return {
        "took": took, "score": new.score, "key": new.key, "held": str(holder.version),
        "held_score": held_score, "same_data": same,
    }  # fmt: skip


def create_registered_model(client: Any, name: str) -> None:
    """Registered model ``name``, unless it exists."""
    from mlflow.exceptions import MlflowException

    try:
        client.create_registered_model(name)
    except MlflowException as exc:
        if exc.error_code != "RESOURCE_ALREADY_EXISTS":
            raise


def check_process_uri(client: Any) -> None:
    """Refuse, in one line, to register when this process's tracking URI is not the client's:
    MLflow's registry resolves a version's source ``models:/<model id>`` through it."""
    import mlflow

    if mlflow.get_tracking_uri() != client.tracking_uri:
        raise TrackingError(
            f"registering a model of {client.tracking_uri} needs {ENV_URI}={client.tracking_uri} "
            f"(it is {mlflow.get_tracking_uri()})"
        )


def latest_sweep_best(client: Any, experiment_id: str, data: Any) -> str | None:
    """The best run of the newest sweep (a parent run with a ``best_run_id`` tag) on the
    default rows of dataset ``data`` (its config: ``on_default_rows``), if any."""
    chosen = f"tags.`{BEST_RUN_TAG}` LIKE '%' and {on_default_rows(data)}"
    sweep = newest_sweep_run(client, experiment_id, chosen)
    return sweep.data.tags[BEST_RUN_TAG] if sweep else None


def newest_best_run(uri: str, experiment: str, data: Any) -> str | None:
    """``latest_sweep_best`` of ``experiment`` in the store ``uri`` (None: no such experiment
    or no sweep on the default rows of ``data`` with a best run)."""
    check_store(uri)
    found = experiment_id(uri, experiment)
    if found is None:
        return None
    from mlflow.tracking import MlflowClient

    return latest_sweep_best(MlflowClient(uri), found, data)
