"""The view of the runs table that `make ui` links to, kept as a saved view of MLflow's UI.

MLflow 3.17's UI reads only the search facets of its runs table from a link's query
(``searchFilter``, ``orderByKey``, ``orderByAsc``, ``startTime``, ``lifecycleFilter``,
``modelVersionFilter``, ``datasetsFilter``); the columns shown, the expanded rows and the rest
of the table's state live in the browser's localStorage. The one other preset a link can carry
is a saved view: an experiment tag ``mlflow.sharedViewState.<id>`` whose value is
``{"name", "createdAt", "updatedAt", "state"}`` (``state``: the facets and that table state as
JSON), opened by ``?viewStateShareKey=<id>`` and listed under the page's *Views*. Sorting by a
metric also lists the child runs flat, each a row of its own (the table nests children under
their parent only when sorted by start time and unfiltered). See docs/mlflow-ui.md.
"""

from __future__ import annotations

import json
import time
from typing import Any

from pipeline.errors import one_line
from pipeline.stages.selection import REPORTED, SELECT_BY
from pipeline.tracking.lookup import newest_sweep_run, on_default_rows
from pipeline.tracking.store import TrackingError, without_password

CLASSIC = "workflowType=machine_learning"  # MLflow 3's runs table and run pages, not GenAI's
VIEW_TAG_PREFIX = "mlflow.sharedViewState."  # the UI's saved views: experiment tags
VIEW_ID = "scratchnn-jobs-{data}"  # a view per dataset; its tag: VIEW_TAG_PREFIX + its id
VIEW_NAME = "{data} jobs by validation accuracy"  # under the runs page's "Views"


def run_page(experiment_id: str, run_id: str) -> str:
    """A run's page in the UI, relative to its root (a link in a run's description works)."""
    return f"#/experiments/{experiment_id}/runs/{run_id}?{CLASSIC}"


def column(kind: str, key: str) -> str:
    """The UI's name of a column and sort key: ``metrics.`final_val_acc```."""
    return f"{kind}.`{key}`"


SORT_KEY = column("metrics", SELECT_BY)  # best first
# The columns shown, in this order, and their widths in pixels (each header fits).
COLUMNS = {
    SORT_KEY: 120,
    column("metrics", REPORTED): 120,  # reported beside it, never sorted by
    column("params", "data.name"): 100,  # the dataset, and a subset if the filter is edited
    column("params", "data.n_train"): 110,
    column("params", "train.lr"): 80,
    column("params", "train.batch_size"): 130,
    column("params", "model.hidden_size"): 150,
    column("attributes", "Description"): 300,  # a run's description, cut to its first words
}


def view_state(data: Any) -> dict[str, Any]:
    """The view of dataset ``data`` (its config): every run on the rows it takes by default
    (``on_default_rows``: MNIST's every row), best
    validation accuracy first (children as rows of their own), with the validation and test
    accuracies, the dataset, learning rate, batch size, hidden size and description as
    columns."""
    return {
        "searchFilter": on_default_rows(data),
        "orderByKey": SORT_KEY,
        "orderByAsc": False,
        "selectedColumns": list(COLUMNS),
        "columnOrder": list(COLUMNS),
        "columnWidths": COLUMNS,
        "runsHiddenMode": "SHOW_ALL",  # the charts draw every run, not the first 10
    }


def view_name(data: Any) -> str:
    """The name the view of dataset ``data`` has under the runs page's "Views"."""
    return VIEW_NAME.format(data=data.name)


def envelope(data: Any, held: str | None, now_ms: int) -> str | None:
    """The tag's new value for the view of ``data``, or None when ``held`` (its value now)
    already is this view."""
    state, name = json.dumps(view_state(data), sort_keys=True), view_name(data)
    try:
        old = json.loads(held) if held else {}
    except ValueError:
        old = {}
    old = old if isinstance(old, dict) else {}
    if old.get("name") == name and old.get("state") == state:
        return None
    created = old.get("createdAt") if isinstance(old.get("createdAt"), int) else now_ms
    return json.dumps({"name": name, "createdAt": created, "updatedAt": now_ms,
                       "state": state})  # fmt: skip


def save_view(uri: str, experiment_id: str, data: Any) -> str:
    """Keep the view of dataset ``data`` as a tag of experiment ``experiment_id`` in store
    ``uri`` (written only when missing or different); returns its id, for
    ``?viewStateShareKey=``."""
    from mlflow.exceptions import MlflowException
    from mlflow.tracking import MlflowClient

    view = VIEW_ID.format(data=data.name)
    key = VIEW_TAG_PREFIX + view
    try:
        client = MlflowClient(uri)
        held = client.get_experiment(experiment_id).tags.get(key)
        value = envelope(data, held, time.time_ns() // 10**6)
        if value is not None:
            client.set_experiment_tag(experiment_id, key, value)
    except MlflowException as exc:
        raise TrackingError(
            f"tracking store {without_password(uri)}: cannot save the runs view: {one_line(exc)}"
        ) from None
    return view


def newest_sweep(uri: str, experiment_id: str, data: Any) -> str | None:
    """The run id of the newest sweep's parent run on the default rows of dataset ``data``
    (its config, ``on_default_rows``) in experiment ``experiment_id``, if any."""
    from mlflow.tracking import MlflowClient

    sweep = newest_sweep_run(MlflowClient(uri), experiment_id, on_default_rows(data))
    return sweep.info.run_id if sweep else None
