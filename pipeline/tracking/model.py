"""A run's network as an MLflow model: logged as the run's ``model/``, registered, found.

``log_model`` saves the pyfunc model of ``network_model.py`` (models from code: no pickle)
with ``mlflow.pyfunc.save_model`` into a temporary folder and logs that folder as the run's
``model/`` artifacts through the run's ``MlflowClient``: no fluent active run (whose end
would mark our run FINISHED), no global tracking URI, so it works in the writer process and
for any run id. ``runs:/<id>/model`` then loads, and ``register`` makes a version of it.
"""

from __future__ import annotations

import logging
import re
import tempfile
from pathlib import Path
from typing import Any

import numpy as np

import scratchnn
from pipeline.tracking.mlflow_run import MlflowRun
from pipeline.tracking.recorder import ROLE_TAG
from pipeline.tracking.summary import BEST_RUN_TAG, best_row

MODEL_DIR = "model"  # the run's artifact folder of its model: runs:/<id>/model
MODEL_CODE = Path(__file__).with_name("network_model.py")
ALIAS_PATTERN = r"[\w-]{1,255}"  # MLflow's aliases: letters, digits, _ and -
RESERVED_ALIAS = r"latest|v\d+"  # MLflow refuses these: they name versions
log = logging.getLogger(__name__)


def model_uri(run_id: str) -> str:
    return f"runs:/{run_id}/{MODEL_DIR}"


def check_alias(alias: str) -> None:
    """Refuse, in one line, an alias MLflow would refuse at the end of a sweep."""
    if not re.fullmatch(ALIAS_PATTERN, alias) or re.fullmatch(RESERVED_ALIAS, alias):
        raise ValueError(
            f"tracking.model_alias={alias!r} is not allowed; allowed: letters, digits, _ and -, "
            "other than latest and v<number>"
        )


def log_model(run: MlflowRun, weights_path: str, example_path: str, activation: str) -> None:
    """Log the network of ``weights_path`` (``weights.npz``) as ``run``'s ``model/``.

    Parameters
    ----------
    weights_path : str
        ``.npz`` of ``W1`` (D, H), ``b1`` (H,), ``W2`` (H, C), ``b2`` (C,).
    example_path : str
        ``.npy`` of a few real input rows (n, D), float32: the model's input example.
    activation : str
        The hidden layer's, a key of ``scratchnn.layers.ACTIVATIONS``.
    """
    import mlflow.pyfunc
    from mlflow.models import ModelSignature
    from mlflow.types import Schema, TensorSpec

    from pipeline.tracking.network_model import ACTIVATION_KEY, WEIGHTS_ARTIFACT, load_network

    net = load_network(weights_path, activation)
    example = np.load(example_path, allow_pickle=False).astype(np.float32)
    (n_features, _), n_classes = net.params["W1"].shape, net.params["b2"].shape[0]
    signature = ModelSignature(
        Schema([TensorSpec(np.dtype(np.float32), (-1, n_features))]),
        Schema([TensorSpec(net.predict(example).dtype, (-1, n_classes))]),
    )
    quiet = logging.getLogger("mlflow.pyfunc")  # its INFO line, once per run, says nothing
    level = quiet.level
    quiet.setLevel(logging.WARNING)
    try:
        with tempfile.TemporaryDirectory() as tmp:
            mlflow.pyfunc.save_model(
                Path(tmp) / MODEL_DIR,
                python_model=str(MODEL_CODE),
                artifacts={WEIGHTS_ARTIFACT: weights_path},
                model_config={ACTIVATION_KEY: activation},
                code_paths=[str(Path(scratchnn.__file__).parent)],
                signature=signature,
                input_example=example,
                pip_requirements=[f"mlflow=={mlflow.__version__}", f"numpy=={np.__version__}"],
            )
            run.log_artifact(Path(tmp) / MODEL_DIR, MODEL_DIR)
    finally:
        quiet.setLevel(level)


def has_model(client: Any, run_id: str) -> bool:
    """Whether the run logged a model (``model/MLmodel``)."""
    return f"{MODEL_DIR}/MLmodel" in {a.path for a in client.list_artifacts(run_id, MODEL_DIR)}


def register(client: Any, run_id: str, name: str, alias: str) -> str | None:
    """Make the run's model a new version of registered model ``name`` (created if absent)
    and point ``alias`` at it. Returns the version ``alias`` points at: the new one, or the
    one it already pointed at if that is this run's (a resumed sweep); None if the run has
    no model."""
    from mlflow.exceptions import MlflowException

    if not has_model(client, run_id):
        log.warning("run %s has no %s/: nothing registered", run_id, MODEL_DIR)
        return None
    try:
        client.create_registered_model(name)
    except MlflowException as exc:
        if exc.error_code != "RESOURCE_ALREADY_EXISTS":
            raise
        try:
            current = client.get_model_version_by_alias(name, alias)
        except MlflowException:  # no version has the alias yet
            current = None
        if current is not None and current.run_id == run_id:
            return str(current.version)
    source = f"{client.get_run(run_id).info.artifact_uri}/{MODEL_DIR}"
    version = client.create_model_version(name, source, run_id=run_id).version
    client.set_registered_model_alias(name, alias, version)
    return str(version)


def register_best(
    client: Any, rows: list[dict[str, Any]], name: str | None, alias: str
) -> tuple[str, str] | None:
    """``register`` the model of the best finished run of a sweep's summary ``rows``
    (``pipeline.tracking.summary``): (its run id, the version), or None if nothing was
    registered (``name`` None, no finished run, or the best has no model)."""
    best = best_row(rows)
    if name is None or best is None:
        return None
    version = register(client, best["run_id"], name, alias)
    return None if version is None else (best["run_id"], version)


def latest_sweep_best(client: Any, experiment_id: str) -> str | None:
    """The best run of the newest sweep (a parent run with a ``best_run_id`` tag), if any."""
    sweeps = client.search_runs(
        [experiment_id],
        f"tags.`{ROLE_TAG}` = 'sweep' and tags.`{BEST_RUN_TAG}` LIKE '%'",
        order_by=["attributes.start_time DESC"],
        max_results=1,
    )
    return sweeps[0].data.tags[BEST_RUN_TAG] if sweeps else None
