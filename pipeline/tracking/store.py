"""Where runs are stored: the tracking URI, the checks that fail fast, the experiment.

Every problem with a store becomes a ``TrackingError`` whose message is one line naming the
store and what is wrong. ``check_store`` needs no MLflow import, so a bad store is refused
before any work starts.
"""

from __future__ import annotations

import os
import urllib.error
import urllib.parse
import urllib.request
from pathlib import Path
from typing import Any

from pipeline.errors import one_line

ENV_URI = "MLFLOW_TRACKING_URI"
# The stores this project tracks to: MLflow's SQL databases (SQLAlchemy URIs, with or without
# "+driver"), a tracking server, and a local folder.
SCHEMES = ("sqlite", "postgresql", "mysql", "mssql", "http", "https", "file")
SERVER_SCHEMES = ("http", "https")
# Databases checked by connecting once (MLflow's own connection retries for minutes); the
# driver (e.g. psycopg, the `team` extra) takes a timeout in seconds under this name.
CONNECT_TIMEOUT_ARG = {"postgresql": "connect_timeout", "mysql": "connect_timeout"}
SQLITE_HEADER = b"SQLite format 3\x00"  # the first 16 bytes of every SQLite database file
# MLflow's settings in every process of ours that loads it: no telemetry calls (they also delay
# the exit), no progress bars in the logs; a call to a tracking server that does not answer
# fails after ~3 s, not MLflow's ~2.5 minutes of retries: the spool (``spooled``) waits for
# the server itself, as long as it takes. A server or UI starts no job runners (never used).
MLFLOW_DEFAULTS = {
    "MLFLOW_DISABLE_TELEMETRY": "true",
    "MLFLOW_ENABLE_ARTIFACTS_PROGRESS_BAR": "false",
    "MLFLOW_HTTP_REQUEST_MAX_RETRIES": "2",
    "MLFLOW_HTTP_REQUEST_BACKOFF_FACTOR": "1",
}
SERVER_DEFAULTS = {"MLFLOW_SERVER_ENABLE_JOB_EXECUTION": "false"}


class TrackingError(RuntimeError):
    """The tracking store refused or could not be reached; the message is one line."""


class NotLetIn(TrackingError):
    """A tracking server refused this client's credentials (HTTP 401) or their permission
    (403): nothing it was sent is lost, it waits for the right credentials."""


USERNAME_VAR, PASSWORD_VAR = "MLFLOW_TRACKING_USERNAME", "MLFLOW_TRACKING_PASSWORD"  # MLflow's
NOT_LET_IN = ("UNAUTHENTICATED", "PERMISSION_DENIED")  # MLflow's error codes for 401, 403


def not_let_in(uri: str, error_code: str, what: str) -> NotLetIn:
    """The one-line ``NotLetIn`` of server ``uri`` answering ``error_code`` to ``what``,
    naming the user (never the password) and what to set."""
    user = os.environ.get(USERNAME_VAR)
    who = f"user {user!r}" if user else f"no user ({USERNAME_VAR} is not set)"
    if error_code == "UNAUTHENTICATED":
        why = f"refused the credentials of {who}"
    else:
        why = f"refused {who} permission for {what}"
    return NotLetIn(
        f"tracking server {without_password(uri)} {why}; set {USERNAME_VAR} and {PASSWORD_VAR} "
        "(or ~/.mlflow/credentials) to a user with EDIT on the experiment (docs/team.md)"
    )


def default_uri(outputs_dir: str | os.PathLike[str]) -> str:
    """``sqlite:///`` URI of the local store, by absolute path (a relative one would resolve
    against each job's working directory)."""
    return f"sqlite:///{(Path(outputs_dir).resolve() / 'mlflow.db').as_posix()}"


def resolve_uri(uri: str | None, outputs_dir: str | os.PathLike[str]) -> str:
    """``uri`` (``tracking.uri``) if set, else ``$MLFLOW_TRACKING_URI``, else the local store."""
    return uri or os.environ.get(ENV_URI) or default_uri(outputs_dir)


def scheme(uri: str) -> str:
    """``sqlite`` of ``sqlite:///x``, ``postgresql`` of ``postgresql+psycopg://...``; ``file``
    for a plain path."""
    head, found, _ = uri.partition(":")
    return head.split("+")[0].lower() if found and len(head) > 1 else "file"


def is_server(uri: str) -> bool:
    return scheme(uri) in SERVER_SCHEMES


def ui_hint(uri: str) -> str:
    """Where to look at the runs in store ``uri``: a tracking server's own UI, else ``make ui``
    (which opens ``$MLFLOW_TRACKING_URI`` or the local store)."""
    if is_server(uri):
        return f"open the MLflow UI at {uri.rstrip('/')}"
    return "open the MLflow UI with `make ui`"


def sqlite_path(uri: str) -> Path:
    """The database file of a ``sqlite:///`` URI."""
    return Path(uri.partition(":///")[2])


def check_store(uri: str, timeout: float = 5.0, answer: bool = True) -> None:
    """Refuse, in one line, a store that cannot work: an unsupported scheme, a tracking
    server that does not answer its health check (unless ``answer`` is False: a sweep's job,
    whose server answered the sweep and may be down for a while), a SQLite file that is not a
    database or whose folder cannot be written."""
    if scheme(uri) not in SCHEMES:
        allowed = "sqlite:///<file>, postgresql://, mysql://, mssql://, http(s)://<server>"
        raise TrackingError(
            f"tracking store {uri}: MLflow cannot track to {scheme(uri)}:// URIs; "
            f"allowed: {allowed} or a folder"
        )
    if is_server(uri) and answer:
        _check_server(uri, timeout)
    elif scheme(uri) in CONNECT_TIMEOUT_ARG:
        _check_database(uri, timeout)
    elif scheme(uri) == "sqlite":
        _check_sqlite(uri, sqlite_path(uri))


def _check_server(uri: str, timeout: float) -> None:
    try:
        with urllib.request.urlopen(f"{uri.rstrip('/')}/health", timeout=timeout) as answer:
            answer.read()
    except (urllib.error.URLError, OSError) as exc:
        reason = getattr(exc, "reason", exc)
        raise TrackingError(f"tracking server {uri} does not answer ({reason})") from None


def server_answers(uri: str, timeout: float = 2.0) -> bool:
    """Whether the tracking server ``uri`` answers its health check within ``timeout`` s."""
    try:
        _check_server(uri, timeout)
    except TrackingError:
        return False
    return True


def without_password(uri: str) -> str:
    """``uri`` with its password, if any, shown as ``***`` (for messages and logs)."""
    parts = urllib.parse.urlsplit(uri)
    if parts.password is None:
        return uri
    return parts._replace(netloc=parts.netloc.replace(f":{parts.password}@", ":***@", 1)).geturl()


def _check_database(uri: str, timeout: float) -> None:
    from sqlalchemy import create_engine
    from sqlalchemy.exc import SQLAlchemyError

    where = f"tracking store {without_password(uri)}"
    try:
        engine = create_engine(uri, connect_args={CONNECT_TIMEOUT_ARG[scheme(uri)]: int(timeout)})
        with engine.connect():
            pass
        engine.dispose()
    except ModuleNotFoundError as exc:
        raise TrackingError(
            f"{where}: its driver {exc.name} is not installed "
            "(postgresql+psycopg:// takes the `team` extra: pip install -e '.[team]')"
        ) from None
    except (SQLAlchemyError, ValueError) as exc:  # ValueError: a malformed URI
        reason = one_line(getattr(exc, "orig", None) or exc)
        raise TrackingError(f"{where} does not answer ({reason})") from None


def _check_sqlite(uri: str, path: Path) -> None:
    try:
        path.parent.mkdir(parents=True, exist_ok=True)
    except OSError as exc:
        raise TrackingError(f"tracking store {uri}: cannot create its folder ({exc})") from None
    if not os.access(path.parent, os.W_OK):
        raise TrackingError(f"tracking store {uri}: cannot write its folder {path.parent}")
    if path.is_dir():
        raise TrackingError(f"tracking store {uri}: {path} is a folder, not an SQLite database")
    if path.is_file() and path.stat().st_size > 0:
        with open(path, "rb") as handle:
            head = handle.read(len(SQLITE_HEADER))
        if head != SQLITE_HEADER:
            raise TrackingError(
                f"tracking store {uri}: {path} is not an SQLite database "
                f"(it starts with {head[:8]!r}); point tracking.uri at another file"
            )


def connect(uri: str, experiment: str, location: str | None) -> tuple[Any, str]:
    """An ``MlflowClient`` of ``uri`` and the id of ``experiment`` there, created (with its
    artifacts at ``location``) when it is new. MLflow's errors become ``TrackingError``."""
    from mlflow.exceptions import MlflowException
    from mlflow.tracking import MlflowClient

    try:
        client = MlflowClient(uri)
        found = client.get_experiment_by_name(experiment)
        if found is None:
            try:
                client.create_experiment(experiment, artifact_location=location)
            except MlflowException:  # created meanwhile by another process
                pass
            found = client.get_experiment_by_name(experiment)
    except MlflowException as exc:
        if exc.error_code in NOT_LET_IN:
            raise not_let_in(uri, exc.error_code, f"experiment {experiment!r}") from None
        raise TrackingError(f"tracking store {uri}: {one_line(exc)}") from None
    return client, found.experiment_id


def experiment_id(uri: str, name: str) -> str | None:
    """The id of experiment ``name`` in the store ``uri``; None if it has none (yet)."""
    from mlflow.tracking import MlflowClient

    found = MlflowClient(uri).get_experiment_by_name(name)
    return found.experiment_id if found else None


def set_mlflow_environment(server: bool = False) -> None:
    """MLflow's settings for a process that loads it (``MLFLOW_DEFAULTS``; for an ``mlflow``
    server or UI also ``SERVER_DEFAULTS``), unless the user's environment sets them."""
    for name, value in {**MLFLOW_DEFAULTS, **(SERVER_DEFAULTS if server else {})}.items():
        os.environ.setdefault(name, value)


def import_mlflow() -> None:
    """Import MLflow's client and the model flavour a run logs (~2 s) now: the writer process,
    which a single run starts before it needs them."""
    import mlflow.pyfunc  # noqa: F401
    import mlflow.tracking  # noqa: F401
