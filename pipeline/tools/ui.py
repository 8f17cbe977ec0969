"""``python -m pipeline.tools.ui [--port N] [--host H]``: the MLflow UI on the project's store.

Binds 127.0.0.1 unless ``--host`` says otherwise and does not start MLflow's job runners,
which this project never uses. Prints the link to the runs table as the saved view "mnist jobs
by validation accuracy" (``pipeline.tracking.runs_view``: every run on the dataset ``--data``
as its config takes it by default (MNIST: every row) a row, best validation accuracy first,
with the test accuracy, the dataset, lr, batch size and hidden size as columns) and the link
to the newest sweep on that data. Runs on a ``data.n_train``/``data.n_test`` subset or on
other data stay in the experiment, outside the view (clear its filter to see them).
Every link asks for MLflow 3's classic layout (``workflowType=machine_learning``): without it
the UI opens in its GenAI view.
"""

from __future__ import annotations

import argparse
import os
import sys
from typing import Any
from urllib.parse import quote

from pipeline import loopback
from pipeline.config import dataset_config, project_config
from pipeline.errors import ExitCode, fail
from pipeline.tools import store_options
from pipeline.tracking.runs_view import (
    CLASSIC,
    SORT_KEY,
    newest_sweep,
    run_page,
    save_view,
    view_name,
)
from pipeline.tracking.store import (
    TrackingError,
    experiment_id,
    is_server,
    resolve_uri,
    set_mlflow_environment,
    without_password,
)

PORT = 5000  # MLflow's own default
SHOWN = (
    "every run on {data} a row, best validation accuracy first; test accuracy, dataset, "
    "lr, batch size and hidden size as columns"
)


def runs_url(host: str, port: int, experiment_id: str | None, view: str | None = None) -> str:
    """The experiment's runs table; opened as saved view ``view`` (its id) if given."""
    base = f"http://{host}:{port}/"
    if experiment_id is None:
        return base
    shared = f"&viewStateShareKey={quote(view)}" if view else ""
    return f"{base}#/experiments/{experiment_id}/runs?{CLASSIC}{shared}"


def sorted_runs_url(host: str, port: int, experiment_id: str) -> str:
    """The runs table sorted by validation accuracy, best first: what a link can say without a
    saved view (the columns stay the browser's own)."""
    order = quote(SORT_KEY)
    return f"{runs_url(host, port, experiment_id)}&orderByKey={order}&orderByAsc=false"


def run_url(host: str, port: int, experiment_id: str, run_id: str) -> str:
    """A run's page (its description, params, metrics, artifacts) in the classic layout."""
    return f"http://{host}:{port}/{run_page(experiment_id, run_id)}"


def runs_link(host: str, port: int, uri: str, experiment: str | None, data: Any) -> tuple[str, str]:
    """The link to the runs table and a line saying what it shows: the saved view of dataset
    ``data`` (written into the store first), the table sorted by validation accuracy when the
    store refuses it, the UI's front page when there is no experiment yet."""
    if experiment is None:
        return runs_url(host, port, None), "no runs yet: run `make train` or `make sweep`"
    try:
        view = save_view(uri, experiment, data)
    except TrackingError as exc:
        return sorted_runs_url(host, port, experiment), f"sorted by validation accuracy ({exc})"
    shown = f'the view "{view_name(data)}": ' + SHOWN.format(data=data.name)
    return runs_url(host, port, experiment, view), shown


def parse_args(argv: list[str] | None = None) -> argparse.Namespace:
    defaults = project_config()
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--port", type=int, default=PORT)
    parser.add_argument("--host", default=loopback.HOST, help="default: loopback only")
    parser.add_argument("--workers", type=int, default=None, help="default: MLflow's (4)")
    store_options(parser, defaults, data=True)
    return parser.parse_args(argv)


def mlflow_program() -> str:
    """The ``mlflow`` command of this Python environment (the one the project installed)."""
    return os.path.join(os.path.dirname(sys.executable), "mlflow")


def mlflow_command(args: argparse.Namespace, uri: str) -> list[str]:
    """The ``mlflow ui`` command line for ``args``."""
    where = ["--host", args.host, "--port", str(args.port)]
    workers = ["--workers", str(args.workers)] if getattr(args, "workers", None) else []
    return [mlflow_program(), "ui", "--backend-store-uri", uri, *where, *workers]


def store_of(args: argparse.Namespace) -> str:
    """The store the UI shows; refuses a tracking server, which has a UI of its own."""
    uri = resolve_uri(None, args.outputs_dir)
    if is_server(uri):  # $MLFLOW_TRACKING_URI names a server
        message = f"MLFLOW_TRACKING_URI={uri} is a tracking server: open its UI at {uri}"
        fail(message, ExitCode.BAD_INPUT)
    return uri


def main(argv: list[str] | None = None) -> None:
    args = parse_args(argv)
    uri = store_of(args)
    found = experiment_id(uri, args.experiment)
    data = dataset_config(args.data)
    link, shows = runs_link(args.host, args.port, uri, found, data)
    lines = [f"MLflow UI for {without_password(uri)}", f"  open {link}", f"    ({shows})"]
    sweep = newest_sweep(uri, found, data) if found is not None else None
    if sweep is not None:
        lines.append(f"  newest sweep: {run_url(args.host, args.port, found, sweep)}")
    print("\n".join(lines), flush=True)
    set_mlflow_environment(server=True)
    command = mlflow_command(args, uri)
    os.execv(command[0], command)


if __name__ == "__main__":
    main()
