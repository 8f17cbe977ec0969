"""A team's setup, for real: ``make server`` on a PostgreSQL database, sweeps logging to it,
and a Ray cluster of two nodes running ``make sweep LAUNCHER=ray``.

PostgreSQL is Debian's server (``make postgres`` installs it), started here in a temporary
directory on 127.0.0.1 at a free port (as the ``postgres`` user when the tests run as root:
PostgreSQL refuses root). Every server and the Ray cluster run in process groups of their
own, stopped in the fixtures' teardown, also when a test fails.
"""

from __future__ import annotations

import glob
import json
import os
import shutil
import subprocess
import sys
import tempfile
from collections.abc import Iterator
from pathlib import Path

import pytest
from mlflow.tracking import MlflowClient

from pipeline.tracking.server_auth import ADMIN, ADMIN_PASSWORD_VAR
from pipeline.tracking.store import PASSWORD_VAR, USERNAME_VAR
from pipeline.tracking.tags import ROLE_TAG
from tests.conftest import ROOT
from tests.services import (
    answers,
    free_port,
    listening_sockets,
    non_loopback_listeners,
    search_status,
    start_logged,
    stop_group,
    wait_until,
)
from tests.test_scale_out import NEEDS, sweep_children

pytestmark = pytest.mark.slow
JOBLIB_2 = "hydra.launcher.n_jobs=2"  # conf/sweep/small.yaml: 4 jobs, 2 at a time
SERVER_BINARIES = sorted(glob.glob("/usr/lib/postgresql/*/bin/postgres"))
RAY_LOOPBACK = {"RAY_ENABLE_WINDOWS_OR_OSX_CLUSTER": "0"}  # Ray binds 127.0.0.1 only
ADMIN_PASSWORD = "Team-admin-only-in-env"  # no file under the tests' folders holds it
PASSWORD = ADMIN_PASSWORD.encode()


def as_postgres(command: list[str]) -> list[str]:
    """``command`` as the ``postgres`` user when we are root (PostgreSQL refuses root)."""
    return ["runuser", "-u", "postgres", "--", *command] if os.geteuid() == 0 else command


def accepts_connections(uri: str) -> bool:
    import psycopg

    try:
        psycopg.connect(uri, connect_timeout=2).close()
        return True
    except psycopg.OperationalError:
        return False


@pytest.fixture(scope="module")
def listeners_before() -> set[tuple[str, int]]:
    """The TCP sockets listening before this module starts anything."""
    return listening_sockets()


@pytest.fixture(scope="module")
def postgres(listeners_before) -> Iterator[str]:
    """A PostgreSQL server of its own on 127.0.0.1 (trust auth for local test users), with a
    brand-new database ``mlflow``; yields the SQLAlchemy URI of that database."""
    if not SERVER_BINARIES:
        pytest.skip("PostgreSQL's server is not installed: `make postgres` (as root) installs it")
    psycopg = pytest.importorskip("psycopg", reason=NEEDS.format("team"))
    bin_dir = Path(SERVER_BINARIES[-1]).parent
    root = Path(tempfile.mkdtemp(prefix="pg", dir="/tmp"))  # readable by the postgres user
    if os.geteuid() == 0:
        shutil.chown(root, "postgres")
    data, log, port = root / "data", root / "postgres.log", free_port()
    initdb = [str(bin_dir / "initdb"), "-D", str(data), "-U", "postgres", "--auth=trust"]
    subprocess.run(as_postgres([*initdb, "-E", "UTF8", "--no-instructions"]), check=True)
    options = ["-c", "listen_addresses=127.0.0.1", "-p", str(port), "-k", str(root)]
    server = start_logged(as_postgres([str(bin_dir / "postgres"), "-D", str(data), *options]), log)
    base = f"postgresql://postgres@127.0.0.1:{port}"
    try:
        wait_until(lambda: accepts_connections(f"{base}/postgres"), server, log, 60, "PostgreSQL")
        with psycopg.connect(f"{base}/postgres", autocommit=True) as admin:
            admin.execute("CREATE DATABASE mlflow")
        yield f"postgresql+psycopg://postgres@127.0.0.1:{port}/mlflow"
    finally:
        stop_group(server, timeout=30)  # SIGTERM: PostgreSQL's smart shutdown
        shutil.rmtree(root, ignore_errors=True)


def make(*args: str, env: dict[str, str], timeout: float = 600) -> subprocess.CompletedProcess:
    """``make *args`` in the project, with ``env`` added to this environment."""
    return subprocess.run(
        ["make", "--no-print-directory", *args],
        cwd=ROOT,
        capture_output=True,
        text=True,
        timeout=timeout,
        env={**os.environ, **env},
    )


@pytest.fixture(scope="module")
def team_server(postgres, tmp_path_factory) -> Iterator[str]:
    """``make server AUTH=1 STORE_URI=<postgres>`` on a free loopback port, this process
    logging in as its admin (MLflow's credentials in the environment the commands inherit);
    yields its URL."""
    pytest.importorskip("flask_wtf", reason=NEEDS.format("team"))
    outputs = tmp_path_factory.mktemp("team-server")
    port, log = free_port(), outputs / "server.log"
    command = ["make", "--no-print-directory", "server", f"PORT={port}", f"STORE_URI={postgres}",
               "AUTH=1"]  # fmt: skip
    env = {**os.environ, ADMIN_PASSWORD_VAR: ADMIN_PASSWORD}
    server = start_logged(
        [*command, f"ARGS=--outputs-dir {outputs} --workers 1"], log, cwd=ROOT, env=env
    )
    url = f"http://127.0.0.1:{port}"
    try:
        startup = wait_until(lambda: answers(f"{url}/health"), server, log, 120, "make server")
        print(f"make server on PostgreSQL answered after {startup:.1f} s")
        assert f"MLflow tracking server for {postgres}" in log.read_text()
        with pytest.MonkeyPatch.context() as patch:
            patch.setenv(USERNAME_VAR, ADMIN)
            patch.setenv(PASSWORD_VAR, ADMIN_PASSWORD)
            assert search_status(url) == 401
            yield url
    finally:
        stop_group(server)


def sweep(url: str, experiment: str, outputs: Path, *make_args: str, args: str = "", env=None):
    """``make sweep SWEEP=small`` (4 jobs on the synthetic data: lr x hidden_size) logging to
    the server at ``url``, experiment ``experiment``."""
    args = f"ARGS={args} progress=none outputs_dir={outputs} tracking.experiment={experiment}"
    env = {"MLFLOW_TRACKING_URI": url, **(env or {})}
    done = make("sweep", "SWEEP=small", *make_args, args, env=env)
    assert done.returncode == 0, done.stderr[-3000:]
    return done


def job_runs(url: str, experiment: str) -> list:
    client = MlflowClient(url)
    experiment_id = client.get_experiment_by_name(experiment).experiment_id
    return client.search_runs([experiment_id], f"tags.`{ROLE_TAG}` = 'job'")


def test_a_sweep_on_a_postgresql_server_reruns_and_resumes(team_server, listeners_before, tmp_path):
    sweep(team_server, "team", tmp_path, args=JOBLIB_2)
    client, parent, children = sweep_children(team_server, 4, "team")
    for child in children:  # every point of the loss curve went through the server
        history = client.get_metric_history(child.info.run_id, "train_loss")
        assert [m.step for m in history] == list(range(int(child.data.params["train.iters"])))
    summary = {a.path for a in client.list_artifacts(parent.info.run_id)}
    assert "summary.csv" in summary, summary

    on_server = {"MLFLOW_TRACKING_URI": team_server}
    rerun = make(
        "rerun", f"RUN={children[0].info.run_id}", f"ARGS=--outputs-dir {tmp_path}", env=on_server
    )
    assert rerun.returncode == 0, rerun.stderr[-3000:]
    assert "identical: rerun" in rerun.stdout

    before = {run.info.run_id for run in job_runs(team_server, "team")}
    resumed = sweep(team_server, "team", tmp_path, args=JOBLIB_2)
    assert resumed.stdout.count("(reused: finished earlier)") == 4, resumed.stdout
    assert f"open the MLflow UI at {team_server}" in resumed.stdout
    assert {run.info.run_id for run in job_runs(team_server, "team")} == before  # none new
    assert non_loopback_listeners(listeners_before) == set()  # PostgreSQL and the server
    assert not [p for p in tmp_path.rglob("*") if p.is_file() and PASSWORD in p.read_bytes()]


@pytest.fixture
def ray_cluster(tmp_path) -> Iterator[dict]:
    """Two Ray nodes on 127.0.0.1 (``tests/ray_cluster.py``); yields its address, node ids
    and the environment that joins it."""
    pytest.importorskip("hydra_plugins.hydra_ray_launcher", reason=NEEDS.format("ray"))
    temp_dir = tempfile.mkdtemp(prefix="ray", dir="/tmp")  # Ray's socket paths must be short
    env = {**RAY_LOOPBACK, "RAY_TMPDIR": temp_dir}
    os.mkdir(f"{temp_dir}/ray")  # where Ray writes the address of its newest cluster
    log = tmp_path / "ray.log"
    with open(log, "w") as out:
        without = {k: v for k, v in os.environ.items() if k not in (USERNAME_VAR, PASSWORD_VAR)}
        cluster = subprocess.Popen(  # its workers log in with what the sweep sends them
            [sys.executable, "-m", "tests.ray_cluster", f"{temp_dir}/ray", "2"],
            cwd=ROOT,
            env={**without, **env},
            stdout=subprocess.PIPE,
            stderr=out,
            start_new_session=True,
            text=True,
        )
    try:
        started = json.loads(cluster.stdout.readline() or "{}")
        if "address" not in started:
            pytest.fail(f"the Ray cluster did not start:\n{log.read_text()[-3000:]}")
        yield {**started, "env": {**env, "RAY_ADDRESS": started["address"]}}
    finally:
        cluster.terminate()  # the script shuts its cluster down; stop_group ends what is left
        try:
            cluster.wait(timeout=60)
        except subprocess.TimeoutExpired:
            pass
        stop_group(cluster, timeout=5)
        shutil.rmtree(temp_dir, ignore_errors=True)


def results(url: str, experiment: str) -> dict[tuple, tuple]:
    """Per job (lr, hidden size): its final metrics, loss history and weights' sha256."""
    client, found = MlflowClient(url), {}
    for run in job_runs(url, experiment):
        key = (run.data.params["train.lr"], run.data.params["model.hidden_size"])
        losses = [m.value for m in client.get_metric_history(run.info.run_id, "train_loss")]
        found[key] = (run.data.metrics, losses, run.data.tags["weights_sha256"])
    return found


def test_a_ray_sweep_across_two_nodes_equals_the_joblib_sweep(
    team_server, ray_cluster, listeners_before, tmp_path
):
    done = sweep(team_server, "ray", tmp_path / "ray", "LAUNCHER=ray", env=ray_cluster["env"])
    assert "Connected to Ray cluster" in done.stderr  # its nodes started without credentials:
    assert not [p for p in tmp_path.rglob("*") if p.is_file() and PASSWORD in p.read_bytes()]
    assert non_loopback_listeners(listeners_before) == set()  # Ray's nodes and the servers
    nodes = {run.data.tags["scratchnn.node"] for run in job_runs(team_server, "ray")}
    assert len(nodes) > 1 and nodes <= set(ray_cluster["node_ids"]), nodes

    sweep(team_server, "joblib", tmp_path / "joblib", args=JOBLIB_2)
    on_ray, on_joblib = results(team_server, "ray"), results(team_server, "joblib")
    assert len(on_ray) == 4 and on_ray == on_joblib  # metrics, losses and weights, bit for bit
