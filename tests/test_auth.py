"""``make server AUTH=1`` for real, on loopback: MLflow's basic auth, its refusals in one
line before anything runs, credentials through every client, no password left in a file.

One server (SQLite store) per module: the admin, a user with EDIT on the experiment granted
through MLflow's own Python API, a user with the default READ. Then runs and a sweep log to
it as that user, a run whose password changes mid-run keeps its points in the spool, and
``make sync`` with the new password sends them.
"""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import pytest
from mlflow.server import get_app_client
from mlflow.tracking import MlflowClient

from pipeline.tracking.server_auth import ADMIN, ADMIN_PASSWORD_VAR
from pipeline.tracking.store import PASSWORD_VAR, USERNAME_VAR
from tests.conftest import ROOT
from tests.services import (
    answers,
    free_port,
    search_status,
    start_logged,
    stop_group,
    wait_until,
)

pytest.importorskip("flask_wtf", reason="MLflow's auth app needs the team extra: make test")

ADMIN_PASSWORD = "Adm1n-only-in-env"  # found nowhere on disk after the tests (checked)
WRITER, WRITER_PASSWORD = "ada", "Ada-writes-42"
READER, READER_PASSWORD = "rex", "Rex-reads-42"
SHORT = ("data=synthetic", "train.iters=40", "train.batch_size=50", "progress=none")


def server_command(root: Path, port: int, *extra: str) -> list[str]:
    return [sys.executable, "-m", "pipeline.tools.server", "--port", str(port),
            "--outputs-dir", str(root), "--workers", "1", *extra]  # fmt: skip


@pytest.fixture(scope="module")
def server(tmp_path_factory):
    """A running ``make server AUTH=1`` (its outputs dir, URL), with users ada (EDIT on the
    experiment ``scratchnn``, MANAGE on ``scratchnn-synthetic``) and rex (the default)."""
    root, port = tmp_path_factory.mktemp("auth-server"), free_port()
    env = {**os.environ, ADMIN_PASSWORD_VAR: ADMIN_PASSWORD}
    process = start_logged(server_command(root, port, "--auth"), root / "server.log", env=env)
    url = f"http://127.0.0.1:{port}"
    try:
        wait_until(lambda: answers(f"{url}/health"), process, root / "server.log", 240, "server")
        with credentials(ADMIN, ADMIN_PASSWORD):
            auth = get_app_client("basic-auth", tracking_uri=url)
            auth.create_user(WRITER, WRITER_PASSWORD)
            auth.create_user(READER, READER_PASSWORD)
            client = MlflowClient(url)
            experiment = client.create_experiment("scratchnn")
            client.create_registered_model("scratchnn-synthetic")
            auth.grant_user_permission(WRITER, "experiment", experiment, "EDIT")
            auth.grant_user_permission(WRITER, "registered_model", "scratchnn-synthetic", "MANAGE")
        yield root, url
    finally:
        stop_group(process)


class credentials:
    """MLflow's credentials in this process's environment for the block (None: none)."""

    def __init__(self, user: str | None, password: str | None) -> None:
        self.values = {USERNAME_VAR: user, PASSWORD_VAR: password}

    def __enter__(self):
        self.saved = {name: os.environ.get(name) for name in self.values}
        set_environment(self.values)

    def __exit__(self, *exc):
        set_environment(self.saved)


def set_environment(values: dict[str, str | None]) -> None:
    """Each variable of ``values`` set, or unset where its value is None."""
    for name, value in values.items():
        if value is None:
            os.environ.pop(name, None)
        else:
            os.environ[name] = value


def as_user(user: str | None, password: str | None) -> dict[str, str]:
    env = {k: v for k, v in os.environ.items() if k not in (USERNAME_VAR, PASSWORD_VAR)}
    return {**env, **({USERNAME_VAR: user, PASSWORD_VAR: password} if user else {})}


def run_as(user, password, root: Path, url: str, *args: str) -> subprocess.CompletedProcess:
    """``python -m pipeline`` logging to the server as ``user``, outputs in ``root``."""
    env = as_user(user, password)
    return subprocess.run(
        [sys.executable, "-m", "pipeline", *[a for a in args if a.startswith("--")], *SHORT,
         f"tracking.uri={url}", f"outputs_dir={root}", *[a for a in args if a[:2] != "--"]],
        cwd=ROOT, env=env, capture_output=True, text=True, timeout=600,
    )  # fmt: skip


def test_the_admin_password_is_required_and_never_mlflows_default(tmp_path):
    for value in ("", "password1234", None):
        env = {k: v for k, v in os.environ.items() if k != ADMIN_PASSWORD_VAR}
        env.update({ADMIN_PASSWORD_VAR: value} if value is not None else {})
        done = subprocess.run(server_command(tmp_path, free_port(), "--auth"), env=env,
                              capture_output=True, text=True, timeout=120)  # fmt: skip
        assert done.returncode == 2
        (line,) = done.stderr.strip().splitlines()
        assert line.startswith(f"error: {ADMIN_PASSWORD_VAR} is ")


def test_a_network_host_needs_auth_or_a_trusted_network(tmp_path):
    done = subprocess.run(server_command(tmp_path, free_port(), "--host", "0.0.0.0"),
                          capture_output=True, text=True, timeout=120)  # fmt: skip
    assert done.returncode == 2
    (line,) = done.stderr.strip().splitlines()
    assert line.startswith("error: --host 0.0.0.0 is not allowed without AUTH=1")


@pytest.mark.slow
def test_the_server_lets_in_only_who_it_knows_and_new_users_only_read(server):
    root, url = server
    assert search_status(url) == 401
    assert search_status(url, ADMIN, ADMIN_PASSWORD) == 200
    assert search_status(url, ADMIN, "wrong") == 401
    assert search_status(url, READER, READER_PASSWORD) == 200
    config = (root / "server" / "basic_auth.ini").read_text()
    assert "default_permission = READ" in config and ADMIN_PASSWORD not in config
    assert (root / "server" / "basic_auth.ini").stat().st_mode & 0o077 == 0
    assert (root / "server" / "basic_auth.db").is_file()  # beside the store


@pytest.mark.slow
@pytest.mark.parametrize(
    ("user", "password", "says"),
    [
        (None, None, "refused the credentials of no user (MLFLOW_TRACKING_USERNAME is not set)"),
        (WRITER, "wrong", f"refused the credentials of user {WRITER!r}"),
        (READER, READER_PASSWORD, f"refused user {READER!r}: it holds READ on experiment"),
    ],
    ids=["anonymous", "wrong password", "read only"],
)
def test_who_may_not_log_is_refused_before_anything_runs(server, tmp_path, user, password, says):
    _, url = server
    sweep = ("--multirun", "train.lr=0.5,1.0") if user == READER else ()  # it may create one
    for args in {(), sweep}:
        done = run_as(user, password, tmp_path, url, *args)
        assert done.returncode == 1, done.stderr[-2000:]
        lines = done.stderr.strip().splitlines()
        assert len(lines) == 1, lines
        assert lines[0].startswith(f"error: tracking server {url} ") and says in lines[0], lines
        assert "Traceback" not in done.stderr and (password or "\0") not in done.stderr
        assert not (tmp_path / "spool").exists() and not (tmp_path / "sweeps").exists()


@pytest.mark.slow
def test_a_user_with_edit_logs_runs_and_a_sweep_and_leaves_no_password(server, tmp_path):
    _, url = server
    single = run_as(WRITER, WRITER_PASSWORD, tmp_path, url)
    assert single.returncode == 0, single.stderr[-2000:]
    sweep = run_as(WRITER, WRITER_PASSWORD, tmp_path, url, "--multirun", "train.lr=0.5,1.0")
    assert sweep.returncode == 0, sweep.stderr[-2000:]
    assert "registered: models:/scratchnn-synthetic/1" in sweep.stdout
    with credentials(WRITER, WRITER_PASSWORD):
        client = MlflowClient(url)
        runs = client.search_runs([client.get_experiment_by_name("scratchnn").experiment_id])
    assert len(runs) == 4  # the run, the sweep's parent and its two jobs
    for found in runs:
        assert WRITER_PASSWORD not in str(found.data.params) + str(found.data.tags)
    assert not left_anywhere(WRITER_PASSWORD, tmp_path, server[0])
    assert not left_anywhere(ADMIN_PASSWORD, tmp_path, server[0])


def left_anywhere(secret: str, *folders: Path) -> list[Path]:
    """The files under ``folders`` whose bytes hold ``secret``."""
    needle = secret.encode()
    return [path for folder in folders for path in folder.rglob("*")
            if path.is_file() and needle in path.read_bytes()]  # fmt: skip


@pytest.mark.slow
def test_a_password_changed_mid_run_keeps_the_points_for_sync(server, tmp_path):
    _, url = server
    user, old, new = "max", "Max-first-42", "Max-second-42"
    with credentials(ADMIN, ADMIN_PASSWORD):
        auth = get_app_client("basic-auth", tracking_uri=url)
        auth.create_user(user, old)
        experiment = MlflowClient(url).get_experiment_by_name("scratchnn").experiment_id
        auth.grant_user_permission(user, "experiment", experiment, "EDIT")
    command = [
        sys.executable,
        "-m",
        "pipeline",
        *SHORT,
        "train.iters=3000",
        f"tracking.uri={url}",
        f"outputs_dir={tmp_path}",
        "tracking.outage_wait=5",
    ]
    log = tmp_path / "run.log"
    run = start_logged(command, log, cwd=ROOT, env=as_user(user, old))  # fmt: skip
    try:
        spool = tmp_path / "spool"
        wait_until(lambda: any(spool.glob("*.sent")), run, log, 120, "the run's first records")
        with credentials(ADMIN, ADMIN_PASSWORD):
            auth.update_user_password(user, new)
        assert run.wait(timeout=300) == 75, log.read_text()[-2000:]
    finally:
        stop_group(run)
    text = log.read_text()
    assert f"refused the credentials of user {user!r}" in text and old not in text
    assert list(spool.glob("*.jsonl")), "the spool kept the run"
    synced = subprocess.run(
        [sys.executable, "-m", "pipeline.tools.sync", "--outputs-dir", str(tmp_path)],
        cwd=ROOT, env=as_user(user, new), capture_output=True, text=True, timeout=300,
    )  # fmt: skip
    assert synced.returncode == 0, synced.stdout + synced.stderr[-2000:]
    with credentials(user, new):
        client = MlflowClient(url)
        (finished,) = client.search_runs(
            [experiment], "params.`train.iters` = '3000' and attributes.status = 'FINISHED'"
        )
        points = client.get_metric_history(finished.info.run_id, "train_loss")
    assert len(points) == 3000
