"""A run's network as an MLflow 3 logged model: made, found.

A job's run logs its network (the folder of ``pipeline.model.save``) as a logged model named
``model`` (``new_logged_model``, through ``messages.LogModel``): the experiment's Models tab
lists it with the run as its source, the run's params and its final metrics, each linked to
the dataset it was measured on. ``models:/<model id>`` loads it, and so does
``runs:/<run id>/model``, which MLflow resolves to the run's logged model of that name.
"""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager
from typing import Any

from pipeline.model.card import COPIED_TAGS
from pipeline.model.save import MODEL_DIR
from pipeline.tracking.datasets import CONTEXTS, datasets
from pipeline.tracking.mlflow_run import MlflowRun
from pipeline.tracking.provenance import is_semantic

MODEL_TYPE = "TwoLayerNet"  # the Models tab's Type column
MODEL_PARAMS = ("data.", "model.", "train.", "seed")  # the run params its logged model gets


@contextmanager
def new_logged_model(
    client: Any, experiment: str, run: MlflowRun, metrics: list[str]
) -> Iterator[Any]:
    """A new logged model ``model`` of ``run``, its output, for the block to log its artifacts
    into (``client.log_model_artifacts``): READY when the block ends, FAILED if it raises.

    It gets the run's params (``MODEL_PARAMS``, semantic ones), tags (``COPIED_TAGS``) and
    ``metrics``: the final metrics the run logged at step 0, each linked to its dataset.
    """
    from mlflow.entities import LoggedModelOutput

    source = client.get_run(run.run_id)
    params = {k: v for k, v in source.data.params.items() if k.startswith(MODEL_PARAMS)}
    params = {k: v for k, v in params.items() if is_semantic(k)}
    tags = {k: source.data.tags[k] for k in COPIED_TAGS if k in source.data.tags}
    model = client.create_logged_model(experiment, MODEL_DIR, run.run_id, tags, params, MODEL_TYPE)
    try:
        client.log_outputs(run.run_id, [LoggedModelOutput(model.model_id, 0)])
        link_metrics(client, run, model.model_id, metrics, datasets(source))
        yield model
    except BaseException:
        client.finalize_logged_model(model.model_id, "FAILED")
        raise
    client.finalize_logged_model(model.model_id, "READY")


def link_metrics(
    client: Any, run: MlflowRun, model_id: str, keys: list[str], data: dict[str, tuple]
) -> None:
    """Log the run's step-0 points of ``keys`` again with ``model_id`` and their dataset
    (``final_val_acc``: the validation set's, by ``CONTEXTS``): the model's metrics. Same
    key, value, step and time: the run keeps one point each."""
    from mlflow.entities import Metric

    run.flush()  # the final metrics may still be buffered
    points = []
    for key in keys:
        split = next((s for s in CONTEXTS if s in key.split("_")), None)
        name, digest = data.get(CONTEXTS.get(split), (None, None))
        history = [m for m in client.get_metric_history(run.run_id, key) if m.step == 0]
        points += [
            Metric(key, m.value, m.timestamp, 0, model_id=model_id, dataset_name=name,
                   dataset_digest=digest)
            for m in history[-1:]
        ]  # fmt: skip
    client.log_batch(run.run_id, metrics=points)


def run_model(client: Any, run_id: str) -> Any | None:
    """The run's READY logged model ``model`` (an MLflow ``LoggedModel``), if any."""
    from mlflow.entities import LoggedModelStatus

    outputs = client.get_run(run_id).outputs
    for output in outputs.model_outputs if outputs else []:
        model = client.get_logged_model(output.model_id)
        if model.name == MODEL_DIR and model.status == LoggedModelStatus.READY:
            return model
    return None
