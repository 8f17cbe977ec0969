"""``python -m pipeline.tools.serve [--run ID] [--port N]``: serve a run's model over HTTP.

Checks the run, then runs ``python -m pipeline.model.scoring runs:/<id>/model HOST PORT`` on
the project's store, in this environment: the model loaded once, behind a small app of MLflow's
scoring protocol that checks each request against the model's input schema before
``predict``. Without ``--run`` it serves the best run of the newest sweep on the dataset
``--data`` as its config takes it by default (MNIST: every row; never a sweep on a
``data.n_train``/``data.n_test`` subset). Binds 127.0.0.1
unless ``--host`` says otherwise, on port ``PORT`` (5001: beside ``make ui`` on 5000).
``POST /invocations`` with ``{"inputs": [[784 pixels in [0, 1]], ...]}`` answers
``{"predictions": [[10 probabilities], ...]}``; a request of another shape, or with a value
outside [0, 1], HTTP 400 and one short line (``{"error_code": "INVALID_PARAMETER_VALUE",
"message": "input of shape (1, 64) is not allowed; allowed: (N, 784) pixels in [0, 1]"}``),
never the input echoed as ``mlflow models serve`` does. ``GET /ping`` answers when it is
ready; Ctrl-C or SIGTERM stops it.
"""

from __future__ import annotations

import argparse
import os
import sys

from pipeline import loopback
from pipeline.config import dataset_config, project_config
from pipeline.errors import ExitCode, fail
from pipeline.tools import store_options
from pipeline.tools.ui import PORT as UI_PORT
from pipeline.tracking.lookup import open_run
from pipeline.tracking.registry import has_model, model_source, model_uri, newest_best_run
from pipeline.tracking.store import ENV_URI, TrackingError, resolve_uri, set_mlflow_environment

PORT = UI_PORT + 1  # so that `make ui` and `make serve` run side by side


def parse_args(argv: list[str] | None = None) -> argparse.Namespace:
    defaults = project_config()
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--run", help="the run id; default: the best run of the newest sweep")
    parser.add_argument("--port", type=int, default=PORT)
    parser.add_argument("--host", default=loopback.HOST, help="default: loopback only")
    store_options(parser, defaults, data=True)
    return parser.parse_args(argv)


def run_to_serve(uri: str, run_id: str | None, experiment: str, data: str) -> tuple[str, str]:
    """``run_id``, or the best run of the newest sweep of ``experiment`` on dataset ``data``
    as its config takes it by default, once checked to have a model, and where its model is
    loaded from (``model_source``); a one-line ``TrackingError`` otherwise."""
    if run_id is None:
        run_id = newest_best_run(uri, experiment, dataset_config(data))
        if not run_id:
            raise TrackingError(
                f"no sweep on all of {data} with a best run in experiment {experiment!r} of "
                f"{uri}: run `make sweep`, or name a run: make serve RUN=<run id>"
            )
    client, _ = open_run(uri, run_id)
    if not has_model(client, run_id):
        raise TrackingError(
            f"run {run_id} has no model (it diverged, or ran with tracking.log_model=false "
            "or before runs logged models); allowed: a finished run with model/"
        )
    return run_id, model_source(client, run_id)


def scoring_command(args: argparse.Namespace, source: str) -> list[str]:
    """The command line of ``pipeline.model.scoring`` serving the model at ``source`` (a
    ``runs:/`` URI or a folder) as ``args`` say."""
    return [
        sys.executable, "-m", "pipeline.model.scoring", source, args.host, str(args.port),
    ]  # fmt: skip


def main(argv: list[str] | None = None) -> None:
    args = parse_args(argv)
    uri = resolve_uri(None, args.outputs_dir)
    try:
        run_id, source = run_to_serve(uri, args.run, args.experiment, args.data)
    except TrackingError as error:
        fail(error, ExitCode.FAILED)
    moved = "" if source == model_uri(run_id) else f"  from {source} (the store was moved)\n"
    print(
        f"serving {model_uri(run_id)} of {uri}\n{moved}"
        f'  POST http://{args.host}:{args.port}/invocations  {{"inputs": [[pixels]]}}',
        flush=True,
    )
    os.environ[ENV_URI] = uri  # where MLflow finds runs:/
    set_mlflow_environment()
    command = scoring_command(args, source)
    os.execv(command[0], command)


if __name__ == "__main__":
    main()
