"""``python -m pipeline.tools.serve [--run ID] [--port N]``: serve a run's model over HTTP.

Runs ``mlflow models serve -m runs:/<id>/model --env-manager local`` on the project's store:
the project's own environment, no conda or virtualenv built. Without ``--run`` it serves the
best run of the newest sweep. Binds 127.0.0.1 unless ``--host`` says otherwise, on port
``PORT`` (5001: beside ``make ui`` on 5000). ``POST /invocations`` with
``{"inputs": [[784 pixels in [0, 1]], ...]}`` answers ``{"predictions": [[10
probabilities], ...]}``; ``GET /ping`` answers when it is ready.
"""

from __future__ import annotations

import argparse
import os
import sys

from pipeline import loopback
from pipeline.config import project_config
from pipeline.errors import ExitCode, fail
from pipeline.tools.ui import PORT as UI_PORT
from pipeline.tools.ui import mlflow_program
from pipeline.tracking.lookup import open_run
from pipeline.tracking.registry import has_model, model_uri, newest_best_run
from pipeline.tracking.store import ENV_URI, TrackingError, resolve_uri, set_mlflow_environment

PORT = UI_PORT + 1  # so that `make ui` and `make serve` run side by side


def parse_args(argv: list[str] | None = None) -> argparse.Namespace:
    defaults = project_config()
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--run", help="the run id; default: the best run of the newest sweep")
    parser.add_argument("--port", type=int, default=PORT)
    parser.add_argument("--host", default=loopback.HOST, help="default: loopback only")
    parser.add_argument("--experiment", default=defaults.tracking.experiment)
    parser.add_argument("--outputs-dir", default=defaults.outputs_dir)
    return parser.parse_args(argv)


def run_to_serve(uri: str, run_id: str | None, experiment: str) -> str:
    """``run_id``, or the best run of the newest sweep of ``experiment``, once checked to
    have a model; a one-line ``TrackingError`` otherwise."""
    if run_id is None:
        run_id = newest_best_run(uri, experiment)
        if not run_id:
            raise TrackingError(
                f"no sweep with a best run in experiment {experiment!r} of {uri}: "
                "run `make sweep`, or name a run: make serve RUN=<run id>"
            )
    client, _ = open_run(uri, run_id)
    if not has_model(client, run_id):
        raise TrackingError(
            f"run {run_id} has no model (it diverged, or ran with tracking.log_model=false "
            "or before runs logged models); allowed: a finished run with model/"
        )
    return run_id


def mlflow_command(args: argparse.Namespace, run_id: str) -> list[str]:
    """The ``mlflow models serve`` command line for ``args`` and ``run_id``."""
    return [
        mlflow_program(), "models", "serve", "-m", model_uri(run_id), "--env-manager", "local",
        "--host", args.host, "--port", str(args.port),
    ]  # fmt: skip


def main(argv: list[str] | None = None) -> None:
    args = parse_args(argv)
    uri = resolve_uri(None, args.outputs_dir)
    try:
        run_id = run_to_serve(uri, args.run, args.experiment)
    except TrackingError as error:
        fail(error, ExitCode.FAILED)
    print(
        f"serving {model_uri(run_id)} of {uri}\n"
        f'  POST http://{args.host}:{args.port}/invocations  {{"inputs": [[pixels]]}}',
        flush=True,
    )
    os.environ[ENV_URI] = uri  # where `mlflow models serve` finds runs:/
    set_mlflow_environment()
    # MLflow starts the scoring server as `uvicorn`, found on PATH: this environment's
    bin_dir = os.path.dirname(sys.executable)
    os.environ["PATH"] = os.pathsep.join([bin_dir, os.environ.get("PATH", "")])
    command = mlflow_command(args, run_id)
    os.execv(command[0], command)


if __name__ == "__main__":
    main()
