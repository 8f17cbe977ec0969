"""Whether a tracking server lets this client in to log: checked before anything runs.

A server started with MLflow's basic-auth app (``make server AUTH=1``) lets in only the users
it knows, and lets them write only where they hold EDIT or MANAGE. ``check_access`` asks it,
with the credentials every MLflow client of this process sends (``MLFLOW_TRACKING_USERNAME``
and ``MLFLOW_TRACKING_PASSWORD``, else MLflow's ``~/.mlflow/credentials``), whether they are
let in and whether the user may write to the experiment and the registered model a sweep
moves its alias in. A refusal is one ``NotLetIn`` line naming the server, the user and what
to set, never the password, before any run or spool file exists. A server without the auth
app lets everyone in: there is nothing more to check.
"""

from __future__ import annotations

import warnings
from typing import Any

from pipeline.errors import one_line
from pipeline.tracking.store import NOT_LET_IN, NotLetIn, TrackingError, not_let_in
from pipeline.tracking.store import without_password as shown

WRITE = ("EDIT", "MANAGE")  # MLflow's permissions that let a user log runs, versions, aliases


def check_access(uri: str, experiment: str, registered_model: str | None) -> None:
    """Refuse, in one line, credentials server ``uri`` does not take, or a user who may not
    write to ``experiment`` (if it exists: a new one is its creator's) or to
    ``registered_model`` (if set and it exists)."""
    from mlflow.exceptions import MlflowException
    from mlflow.tracking import MlflowClient
    from mlflow.utils.credentials import read_mlflow_creds

    client = MlflowClient(uri)
    try:
        found = client.get_experiment_by_name(experiment)
        model = registered(client, registered_model)
    except MlflowException as exc:
        if exc.error_code in NOT_LET_IN:
            raise not_let_in(uri, exc.error_code, f"experiment {experiment!r}") from None
        raise TrackingError(f"tracking server {shown(uri)}: {one_line(exc)}") from None
    user = read_mlflow_creds().username
    if user is None:  # let in without credentials: a server without the auth app
        return
    resources = [("experiment", found.experiment_id, f"experiment {experiment!r}")] if found else []
    if model:
        resources.append(("registered_model", model, f"registered model {model!r}"))
    check_permissions(uri, user, resources)


def registered(client: Any, name: str | None) -> str | None:
    """``name`` if a registered model of that name exists (None: no name, or none yet)."""
    if not name:
        return None
    return name if client.search_registered_models(f"name = '{name}'") else None


def check_permissions(uri: str, user: str, resources: list[tuple[str, str, str]]) -> None:
    """Refuse a ``user`` who holds less than ``WRITE`` on one of ``resources`` ((MLflow's
    resource type, its id, how to name it)); an admin may do anything."""
    from mlflow.exceptions import MlflowException

    with warnings.catch_warnings():  # mlflow.server's imports warn of Starlette's deprecations
        warnings.simplefilter("ignore")
        from mlflow.server import get_app_client

        auth = get_app_client("basic-auth", tracking_uri=uri)
    try:
        if auth.get_user(user).is_admin:
            return
        for kind, resource, what in resources:
            permission = auth.get_user_permission(user, kind, resource).permission
            if permission not in WRITE:
                raise NotLetIn(
                    f"tracking server {shown(uri)} refused user {user!r}: it holds {permission} "
                    f"on {what}, a run needs {' or '.join(WRITE)}, which an admin grants "
                    "(docs/team.md)"
                )
    except MlflowException as exc:
        if exc.get_http_status_code() == 404:  # no auth app: nothing to check
            return
        raise TrackingError(f"tracking server {shown(uri)}: {one_line(exc)}") from None
