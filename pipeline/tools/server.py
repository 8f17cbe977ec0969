"""``python -m pipeline.tools.server [--port N]``: an MLflow tracking server for runs and sweeps.

Binds 127.0.0.1 unless ``--host`` says otherwise, keeps runs in a SQLite file under
``outputs/server/`` (any SQLAlchemy URI through ``--backend-store-uri``) and serves the
artifacts itself (``--serve-artifacts``): clients upload through HTTP, so jobs on other
machines need nothing but the URL. Point runs at it with
``MLFLOW_TRACKING_URI=http://127.0.0.1:5000`` or ``tracking.uri=``. Other options go to
``mlflow server`` unchanged (e.g. ``--allowed-hosts mlflow.lab:5000`` for a cluster's nodes).

``--auth`` (``make server AUTH=1``) serves MLflow's basic-auth app
(``pipeline.tracking.server_auth``): users and passwords, READ for a new user. A host other
than loopback is refused without it, unless ``--trusted-network`` says the network is the
team's own.
"""

from __future__ import annotations

import argparse
import os
from pathlib import Path

from pipeline import loopback
from pipeline.config import dataset_config, project_config
from pipeline.errors import ExitCode, fail
from pipeline.tools import store_options
from pipeline.tools.ui import PORT, mlflow_program, runs_link, runs_url
from pipeline.tracking.artifacts import artifact_location
from pipeline.tracking.server_auth import ADMIN_PASSWORD_VAR, APP, auth_environment
from pipeline.tracking.store import (
    TrackingError,
    check_store,
    experiment_id,
    set_mlflow_environment,
    without_password,
)

SERVER_DIR = "server"  # under the outputs dir: the server's own store, apart from `make ui`'s


def parse_args(argv: list[str] | None = None) -> argparse.Namespace:
    defaults = project_config()
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--port", type=int, default=PORT)
    parser.add_argument("--host", default=loopback.HOST, help="default: loopback only")
    store_options(parser, defaults, data=True)
    parser.add_argument(
        "--backend-store-uri", help="SQLAlchemy URI; default: SQLite under <outputs>/server/"
    )
    parser.add_argument(
        "--artifacts-destination",
        help="where served artifacts go; default: beside a SQLite store, else <outputs>/server/",
    )
    parser.add_argument("--workers", type=int, default=2, help="request-handling processes")
    parser.add_argument(
        "--auth", action="store_true",
        help=f"MLflow's basic auth (AUTH=1); the admin's password: ${ADMIN_PASSWORD_VAR}",
    )  # fmt: skip
    parser.add_argument(
        "--trusted-network", action="store_true",
        help="serve a host other than loopback without --auth: anyone who reaches it may write",
    )  # fmt: skip
    args, args.mlflow_options = parser.parse_known_args(argv)
    return args


def default_locations(outputs_dir: str) -> tuple[str, str]:
    """(store URI, artifacts URI) under ``<outputs_dir>/server/``, by absolute path (the
    server may be started from any directory)."""
    root = Path(outputs_dir).resolve() / SERVER_DIR
    root.mkdir(parents=True, exist_ok=True)
    store = f"sqlite:///{(root / 'mlflow.db').as_posix()}"
    return store, artifact_location(store)


def mlflow_command(args: argparse.Namespace) -> list[str]:
    """The ``mlflow server`` command line for ``args``: a SQLite store's artifacts beside
    its file unless ``--artifacts-destination`` says otherwise."""
    store, artifacts = default_locations(args.outputs_dir)
    store = args.backend_store_uri or store
    artifacts = args.artifacts_destination or artifact_location(store) or artifacts
    return [
        mlflow_program(),
        "server",
        "--host",
        args.host,
        "--port",
        str(args.port),
        "--workers",
        str(args.workers),
        "--backend-store-uri",
        store,
        "--serve-artifacts",
        "--artifacts-destination",
        artifacts,
        *(["--app-name", APP] if args.auth else []),
        *args.mlflow_options,
    ]


def check_host(args: argparse.Namespace) -> None:
    """Refuse, in one line, a host other than loopback for a server anyone there may write
    to: without ``--auth`` (``AUTH=1``), unless ``--trusted-network`` says so."""
    if loopback.is_loopback(args.host) or args.auth or args.trusted_network:
        return
    fail(
        f"--host {args.host} is not allowed without AUTH=1: anyone who reaches it could read, "
        "write and delete every run and move the champion; allowed: make server AUTH=1 "
        "(docs/team.md), or ARGS='--trusted-network' on a network only your team reaches",
        ExitCode.BAD_INPUT,
    )


def main(argv: list[str] | None = None) -> None:
    args = parse_args(argv)
    check_host(args)
    command = mlflow_command(args)
    store = command[command.index("--backend-store-uri") + 1]
    try:
        check_store(store)
        folder = Path(args.outputs_dir).resolve() / SERVER_DIR
        os.environ.update(auth_environment(store, folder) if args.auth else {})
    except TrackingError as exc:
        fail(exc, ExitCode.BAD_INPUT)
    url = runs_url(args.host, args.port, None).rstrip("/")
    found = experiment_id(store, args.experiment)
    link, _ = runs_link(args.host, args.port, store, found, dataset_config(args.data))
    print(
        f"MLflow tracking server for {without_password(store)}\n"
        f"  open {link}\n"
        f"  log to it: MLFLOW_TRACKING_URI={url} make sweep   (or ARGS='tracking.uri={url}')",
        flush=True,
    )
    set_mlflow_environment(server=True)
    os.execv(command[0], command)


if __name__ == "__main__":
    main()
