"""``python -m pipeline.tools.ui [--port N] [--host H]``: the MLflow UI on the project's store.

Binds 127.0.0.1 unless ``--host`` says otherwise, prints the link to the runs table (MLflow
3 opens in its GenAI view by default) and does not start MLflow's job runners, which this
project never uses.
"""

from __future__ import annotations

import argparse
import os
import sys

from pipeline import loopback
from pipeline.config import project_config
from pipeline.errors import ExitCode, fail
from pipeline.tracking.store import experiment_id, is_server, resolve_uri, set_mlflow_environment

PORT = 5000  # MLflow's own default


def runs_url(host: str, port: int, experiment_id: str | None) -> str:
    base = f"http://{host}:{port}/"
    if experiment_id is None:
        return base
    return f"{base}#/experiments/{experiment_id}/runs?workflowType=machine_learning"


def parse_args(argv: list[str] | None = None) -> argparse.Namespace:
    defaults = project_config()
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--port", type=int, default=PORT)
    parser.add_argument("--host", default=loopback.HOST, help="default: loopback only")
    parser.add_argument("--experiment", default=defaults.tracking.experiment)
    parser.add_argument("--outputs-dir", default=defaults.outputs_dir)
    return parser.parse_args(argv)


def mlflow_program() -> str:
    """The ``mlflow`` command of this Python environment (the one the project installed)."""
    return os.path.join(os.path.dirname(sys.executable), "mlflow")


def mlflow_command(args: argparse.Namespace, uri: str) -> list[str]:
    """The ``mlflow ui`` command line for ``args``."""
    where = ["--host", args.host, "--port", str(args.port)]
    return [mlflow_program(), "ui", "--backend-store-uri", uri, *where]


def main(argv: list[str] | None = None) -> None:
    args = parse_args(argv)
    uri = resolve_uri(None, args.outputs_dir)
    if is_server(uri):  # $MLFLOW_TRACKING_URI names a server, which has a UI of its own
        message = f"MLFLOW_TRACKING_URI={uri} is a tracking server: open its UI at {uri}"
        fail(message, ExitCode.BAD_INPUT)
    found = experiment_id(uri, args.experiment)
    print(f"MLflow UI for {uri}\n  open {runs_url(args.host, args.port, found)}", flush=True)
    if found is None:
        print(f"  (no experiment {args.experiment!r} yet: run `make train` or `make sweep`)")
    set_mlflow_environment(server=True)
    command = mlflow_command(args, uri)
    os.execv(command[0], command)


if __name__ == "__main__":
    main()
