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
from pipeline.tracking.lookup import newest_sweep_run
from pipeline.tracking.store import TrackingError, without_password

VIEW_TAG_PREFIX = "mlflow.sharedViewState."  # the UI's saved views: experiment tags
VIEW_ID = "scratchnn-jobs"  # the view's tag is VIEW_TAG_PREFIX + VIEW_ID
VIEW_NAME = "Jobs by validation accuracy"  # its name under the runs page's "Views"


def column(kind: str, key: str) -> str:
    """The UI's name of a column and sort key: ``metrics.`final_val_acc```."""
    return f"{kind}.`{key}`"


SORT_KEY = column("metrics", SELECT_BY)  # best first
# The columns shown, in this order, and their widths in pixels (each header fits).
COLUMNS = {
    SORT_KEY: 120,
    column("metrics", REPORTED): 120,  # reported beside it, never sorted by
    column("params", "train.lr"): 80,
    column("params", "train.batch_size"): 130,
    column("params", "model.hidden_size"): 150,
    column("attributes", "Description"): 300,  # a run's description, cut to its first words
}


def view_state() -> dict[str, Any]:
    """The view: every run, best validation accuracy first (children as rows of their own),
    with the validation and test accuracies, learning rate, batch size, hidden size and
    description as columns."""
    return {
        "orderByKey": SORT_KEY,
        "orderByAsc": False,
        "selectedColumns": list(COLUMNS),
        "columnOrder": list(COLUMNS),
        "columnWidths": COLUMNS,
        "runsHiddenMode": "SHOW_ALL",  # the charts draw every run, not the first 10
    }


def envelope(held: str | None, now_ms: int) -> str | None:
    """The tag's new value, or None when ``held`` (its value now) already is this view."""
    state = json.dumps(view_state(), sort_keys=True)
    try:
        old = json.loads(held) if held else {}
    except ValueError:
        old = {}
    old = old if isinstance(old, dict) else {}
    if old.get("name") == VIEW_NAME and old.get("state") == state:
        return None
    created = old.get("createdAt") if isinstance(old.get("createdAt"), int) else now_ms
    return json.dumps({"name": VIEW_NAME, "createdAt": created, "updatedAt": now_ms,
                       "state": state})  # fmt: skip


def save_view(uri: str, experiment_id: str) -> str:
    """Keep the view as a tag of experiment ``experiment_id`` in store ``uri`` (written only
    when missing or different); returns its id, for ``?viewStateShareKey=``."""
    from mlflow.exceptions import MlflowException
    from mlflow.tracking import MlflowClient

    key = VIEW_TAG_PREFIX + VIEW_ID
    try:
        client = MlflowClient(uri)
        held = client.get_experiment(experiment_id).tags.get(key)
        value = envelope(held, time.time_ns() // 10**6)
        if value is not None:
            client.set_experiment_tag(experiment_id, key, value)
    except MlflowException as exc:
        raise TrackingError(
            f"tracking store {without_password(uri)}: cannot save the runs view: {one_line(exc)}"
        ) from None
    return VIEW_ID


def newest_sweep(uri: str, experiment_id: str) -> str | None:
    """The run id of the newest sweep's parent run in experiment ``experiment_id``, if any."""
    from mlflow.tracking import MlflowClient

    sweep = newest_sweep_run(MlflowClient(uri), experiment_id)
    return sweep.info.run_id if sweep else None
