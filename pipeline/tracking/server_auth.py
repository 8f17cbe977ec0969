"""MLflow's basic-auth app for ``make server AUTH=1``: its config beside the store, no secret
in any file.

MLflow's auth app (``mlflow server --app-name basic-auth``, the ``team`` extra's Flask-WTF)
keeps users, their hashed passwords and permissions in a database of its own:
``basic_auth.db`` beside a SQLite store, the store's own database otherwise (its tables and
migration table apart from MLflow's). ``auth_environment`` writes the app's config file
(``AUTH_CONFIG``: the database, ``default_permission = READ``, no password; mode 600) beside
the store and returns the environment the server starts with: that file, the admin's
password from ``SCRATCHNN_ADMIN_PASSWORD`` (read by MLflow when it creates the admin user on
first start, ``MLFLOW_AUTH_ADMIN_PASSWORD``) and a random key for the UI's CSRF protection
(unless ``MLFLOW_FLASK_SERVER_SECRET_KEY`` is set).
"""

from __future__ import annotations

import os
import secrets
import urllib.parse
from pathlib import Path

from pipeline.tracking.store import TrackingError, scheme, sqlite_path

APP = "basic-auth"  # `mlflow server --app-name`
ADMIN = "admin"  # the admin user MLflow creates on the app's first start
ADMIN_PASSWORD_VAR = "SCRATCHNN_ADMIN_PASSWORD"  # where `make server AUTH=1` reads it
DEFAULT_PERMISSION = "READ"  # what a new user may do: read, never write
AUTH_CONFIG = "basic_auth.ini"  # beside the store (a SQLite one), else in the server's folder
MLFLOW_LEGACY_PASSWORD = "password1234"  # MLflow's old built-in default: never the admin's
# A worker checks a user's password (PBKDF2) once per this many seconds, not at every request
# (a run's thousands): a changed or deleted password may still work this long on the other
# workers of the server than the one that changed it.
AUTH_CACHE_SECONDS = 30


def admin_password() -> str:
    """``SCRATCHNN_ADMIN_PASSWORD``; one line naming it when it is missing, empty, or MLflow's
    old default."""
    password = os.environ.get(ADMIN_PASSWORD_VAR, "")
    if not password or password == MLFLOW_LEGACY_PASSWORD:
        shown = "missing or empty" if not password else "MLflow's old default"
        raise TrackingError(
            f"{ADMIN_PASSWORD_VAR} is {shown}; allowed: the admin's password, set in the "
            f"environment of `make server AUTH=1` (e.g. {ADMIN_PASSWORD_VAR}=$(openssl rand "
            "-base64 18))"
        )
    return password


def auth_database(store: str) -> tuple[str, dict[str, str]]:
    """The auth app's database, ``basic_auth.db`` beside a SQLite store, else the store's own
    without its password, and the environment that gives the password (``PGPASSWORD``, read
    by PostgreSQL's driver), so that no file holds it."""
    if scheme(store) == "sqlite":
        path = sqlite_path(store).resolve().parent / "basic_auth.db"
        return f"sqlite:///{path.as_posix()}", {}
    parts = urllib.parse.urlsplit(store)
    if parts.password is None:
        return store, {}
    netloc = parts.netloc.replace(f":{parts.password}@", "@", 1)
    password = urllib.parse.unquote(parts.password)
    return parts._replace(netloc=netloc).geturl(), {"PGPASSWORD": password}


def auth_environment(store: str, folder: Path) -> dict[str, str]:
    """Write the app's config (no secret in it) into ``folder`` and return the environment
    variables the server needs (see the module's docstring)."""
    password = admin_password()
    database, secret = auth_database(store)
    path = folder / AUTH_CONFIG
    path.parent.mkdir(parents=True, exist_ok=True)
    text = (
        "[mlflow]\n"
        f"default_permission = {DEFAULT_PERMISSION}\n"
        f"database_uri = {database}\n"
        f"admin_username = {ADMIN}\n"
        "authorization_function = mlflow.server.auth:authenticate_request_basic_auth\n"
        f"auth_cache_ttl_seconds = {AUTH_CACHE_SECONDS}\n"
    )
    descriptor = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
    with os.fdopen(descriptor, "w") as handle:
        handle.write(text)
    return {
        **secret,
        "MLFLOW_AUTH_CONFIG_PATH": str(path),
        "MLFLOW_AUTH_ADMIN_PASSWORD": password,
        "MLFLOW_FLASK_SERVER_SECRET_KEY": os.environ.get(
            "MLFLOW_FLASK_SERVER_SECRET_KEY", secrets.token_hex(32)
        ),
    }
