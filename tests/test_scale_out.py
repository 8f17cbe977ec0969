"""Beyond one machine: a tracking server, Ray and submitit launchers, an Optuna search.

Every server and Ray head is started here on 127.0.0.1 (free ports) in its own process
group, and that whole group is stopped in the fixture's teardown, also when a test fails.
The slow tests need the extras (``pip install -e '.[ray,slurm,optuna]'``) and skip without.
"""

from __future__ import annotations

import os
import secrets
import shutil
import subprocess
import sys
import tempfile
from pathlib import Path

import pytest
from mlflow.tracking import MlflowClient
from omegaconf import OmegaConf

from pipeline.config import ConfigError
from pipeline.sweeps.launchers import check_launcher_store, is_local_ray, remote_reason
from tests.conftest import ROOT, run_pipeline
from tests.services import answers, free_port, start_logged, stop_group, wait_until

BIN = Path(sys.executable).parent
SYNTHETIC = ("data=synthetic", "progress=none", "train.iters=60", "train.batch_size=50")
NEEDS = "needs the {0} extra: pip install -e '.[{0}]' (the make targets that use it install it)"


@pytest.fixture(scope="module")
def tracking_server(tmp_path_factory):
    """``python -m pipeline.tools.server`` on a free loopback port, shared by this module's tests
    (each logs to its own experiment); yields its URL."""
    tmp_path = tmp_path_factory.mktemp("server")
    port, log = free_port(), tmp_path / "server.log"
    command = [sys.executable, "-m", "pipeline.tools.server", "--port", str(port), "--workers", "1"]
    server = start_logged(
        [*command, "--outputs-dir", str(tmp_path / "server-outputs")], log, cwd=ROOT
    )
    url = f"http://127.0.0.1:{port}"
    try:
        wait_until(lambda: answers(f"{url}/health"), server, log, 120, "the tracking server")
        yield url
    finally:
        stop_group(server)


@pytest.fixture
def ray_head(tmp_path):
    """A Ray head on 127.0.0.1 only (token auth on); yields the environment to join it."""
    pytest.importorskip("hydra_plugins.hydra_ray_launcher", reason=NEEDS.format("ray"))
    ports = {name: free_port() for name in RAY_PORTS}
    temp_dir = tempfile.mkdtemp(prefix="ray", dir="/tmp")  # Ray's socket paths must be short
    env = {
        "RAY_ENABLE_WINDOWS_OR_OSX_CLUSTER": "0",  # node address 127.0.0.1: bind loopback only
        "RAY_AUTH_MODE": "token",
        "RAY_AUTH_TOKEN": secrets.token_hex(16),
        "RAY_ADDRESS": f"127.0.0.1:{ports['port']}",
    }
    flags = [f"--{name}={port}" for name, port in ports.items()]
    log = tmp_path / "ray.log"
    head = start_logged(
        [str(BIN / "ray"), "start", "--head", "--block", "--node-ip-address=127.0.0.1"]
        + [*flags, "--num-cpus=2", "--include-dashboard=false", "--disable-usage-stats"]
        + [f"--temp-dir={temp_dir}"],
        log,
        cwd=ROOT,
        env={**os.environ, **env},
    )
    try:
        wait_until(lambda: "Ray runtime started" in log.read_text(), head, log, 120, "Ray")
        yield env
    finally:
        stop_group(head, timeout=5)  # a graceful `ray stop` takes half a minute
        shutil.rmtree(temp_dir, ignore_errors=True)


RAY_PORTS = (
    "port",
    "ray-client-server-port",
    "node-manager-port",
    "object-manager-port",
    "dashboard-agent-listen-port",
    "dashboard-agent-grpc-port",
    "runtime-env-agent-port",
    "metrics-export-port",
)


def sweep_children(uri: str, n_jobs: int, experiment: str = "scratchnn") -> tuple:
    """(client, the one sweep parent, its children), each child FINISHED."""
    client = MlflowClient(uri)
    experiment = client.get_experiment_by_name(experiment).experiment_id
    parents = client.search_runs([experiment], "tags.`scratchnn.role` = 'sweep'")
    assert len(parents) == 1
    parent = parents[0]
    children = client.search_runs(
        [experiment], f"tags.`mlflow.parentRunId` = '{parent.info.run_id}'"
    )
    assert len(children) == n_jobs
    assert {c.info.status for c in children} == {"FINISHED"}
    assert parent.info.status == "FINISHED"
    accuracy = {c.info.run_id: c.data.metrics["final_val_acc"] for c in children}
    assert accuracy[parent.data.tags["best_run_id"]] == max(accuracy.values())  # ties allowed
    return client, parent, children


def run_with_env(*args: str, env: dict[str, str]) -> subprocess.CompletedProcess:
    """``python -m pipeline *args`` with ``env`` added ($MLFLOW_TRACKING_URI kept)."""
    return subprocess.run(
        [sys.executable, "-m", "pipeline", *args],
        cwd=ROOT,
        capture_output=True,
        text=True,
        timeout=600,
        env={**os.environ, **env},
    )


@pytest.mark.slow
def test_a_sweep_logs_to_a_tracking_server(tmp_path, tracking_server):
    done = run_pipeline(
        "--multirun", *SYNTHETIC, "train.lr=0.5,1.0", f"outputs_dir={tmp_path}",
        f"tracking.uri={tracking_server}", "tracking.experiment=joblib",
    )  # fmt: skip
    assert done.returncode == 0, done.stderr[-3000:]
    client, parent, children = sweep_children(tracking_server, 2, "joblib")
    for child in children:  # artifacts went through the server, not to a local path
        assert child.info.artifact_uri.startswith("mlflow-artifacts:")
        assert {a.path for a in client.list_artifacts(child.info.run_id)} >= {"weights.npz"}
    assert not (tmp_path / "mlflow.db").exists()


@pytest.mark.slow
def test_a_ray_sweep_on_a_local_head_logs_to_the_server(tmp_path, ray_head, tracking_server):
    # The store comes from $MLFLOW_TRACKING_URI, which the Ray workers (children of the head)
    # do not have: the sweep hands it to every job.
    done = run_with_env(
        "--multirun", "launcher=ray", *SYNTHETIC, "train.lr=0.5,1.0", f"outputs_dir={tmp_path}",
        "tracking.experiment=ray", env={**ray_head, "MLFLOW_TRACKING_URI": tracking_server},
    )  # fmt: skip
    assert done.returncode == 0, done.stderr[-3000:]
    assert "Connected to Ray cluster" in done.stderr
    sweep_children(tracking_server, 2, "ray")
    assert not (tmp_path / "mlflow.db").exists()


@pytest.mark.slow
def test_a_submitit_local_sweep(tmp_path, store_uri):
    pytest.importorskip("hydra_plugins.hydra_submitit_launcher", reason=NEEDS.format("slurm"))
    done = run_pipeline(
        "--multirun", "launcher=submitit_local", *SYNTHETIC, "train.lr=0.5,1.0",
        f"outputs_dir={tmp_path}",
    )  # fmt: skip
    assert done.returncode == 0, done.stderr[-3000:]
    sweep_children(store_uri, 2)
    assert list(tmp_path.glob("sweeps/*/*/.submitit/*/*_result.pkl"))  # ran through submitit


@pytest.mark.slow
def test_an_optuna_search_tags_its_best_trial(tmp_path, store_uri):
    pytest.importorskip("hydra_plugins.hydra_optuna_sweeper", reason=NEEDS.format("optuna"))
    search = ("search=default", "hydra.sweeper.n_trials=3", "hydra.sweeper.n_jobs=2")
    done = run_pipeline(
        "--multirun", *search, "data=synthetic", "progress=none", "train.iters=60",
        f"outputs_dir={tmp_path}",
    )  # fmt: skip
    assert done.returncode == 0, done.stderr[-3000:]
    _, parent, children = sweep_children(store_uri, 3)
    lrs = {c.data.params["train.lr"] for c in children}
    assert len(lrs) == 3  # sampled from the log-uniform range, one per trial
    assert all(0.01 <= float(lr) <= 2.0 for lr in lrs)
    results = OmegaConf.load(next(tmp_path.glob("sweeps/*/*/optimization_results.yaml")))
    best = max(c.data.metrics["final_val_acc"] for c in children)  # what it maximises
    assert results.best_value == pytest.approx(best)


def launcher(target: str, **ray_init):
    return OmegaConf.create({"_target_": f"hydra_plugins.x.{target}", "ray": {"init": ray_init}})


def test_which_launchers_run_jobs_elsewhere(monkeypatch):
    monkeypatch.delenv("RAY_ADDRESS", raising=False)
    assert remote_reason(launcher("JoblibLauncher")) is None
    assert remote_reason(launcher("LocalLauncher")) is None  # submitit_local
    assert remote_reason(launcher("RayLauncher")) is None  # Ray started here
    assert remote_reason(launcher("RayLauncher", address="127.0.0.1:6379")) is None
    assert "SLURM" in remote_reason(launcher("SlurmLauncher"))
    assert "head.lab:6379" in remote_reason(launcher("RayLauncher", address="head.lab:6379"))
    monkeypatch.setenv("RAY_ADDRESS", "ray://head.lab:10001")
    assert "ray://head.lab:10001" in remote_reason(launcher("RayLauncher"))
    assert [is_local_ray(a) for a in ("localhost", "[::1]:6379", "auto")] == [True, True, False]


def test_a_remote_launcher_refuses_a_local_store(monkeypatch, tmp_path):
    monkeypatch.delenv("MLFLOW_TRACKING_URI", raising=False)
    cfg = OmegaConf.create(
        {
            "hydra": {"launcher": launcher("SlurmLauncher")},
            "tracking": {"enabled": True, "uri": None},
            "outputs_dir": str(tmp_path),
        }
    )
    with pytest.raises(ConfigError, match=r"submitit_slurm .* cannot write .*sqlite:///"):
        check_launcher_store(cfg)
    cfg.tracking.uri = "http://mlflow.lab:5000"
    check_launcher_store(cfg)  # a tracking server is fine
    cfg.tracking = {"enabled": False, "uri": None}
    check_launcher_store(cfg)  # and so is no tracking at all


def test_the_command_line_refuses_a_ray_cluster_with_a_local_store(tmp_path):
    pytest.importorskip("hydra_plugins.hydra_ray_launcher", reason=NEEDS.format("ray"))
    done = run_pipeline(
        "--multirun", "launcher=ray", *SYNTHETIC, f"outputs_dir={tmp_path}",
        env={"RAY_ADDRESS": "ray-head.invalid:6379"},  # refused before any connection
    )  # fmt: skip
    assert done.returncode == 2
    assert done.stderr.startswith("error: hydra/launcher=ray runs jobs on the Ray cluster at")
    assert "make server" in done.stderr and len(done.stderr.splitlines()) == 1
    assert not (tmp_path / "mlflow.db").exists()


def test_preflight_checks_each_value_a_search_may_pick():
    from hydra.core.override_parser.overrides_parser import OverridesParser

    from pipeline.sweeps.preflight import each_value

    axes = ["train.lr=tag(log, interval(0.01, 2.0))", "model.hidden_size=choice(25,50)", "seed=1"]
    assert each_value(OverridesParser.create().parse_overrides(axes)) == [
        ["train.lr=0.01", "model.hidden_size=25", "seed=1"],
        ["train.lr=2.0", "model.hidden_size=25", "seed=1"],
        ["train.lr=0.01", "model.hidden_size=50", "seed=1"],
    ]


def test_a_search_with_a_bad_value_in_its_ranges_stops_before_any_trial(tmp_path):
    pytest.importorskip("hydra_plugins.hydra_optuna_sweeper", reason=NEEDS.format("optuna"))
    done = run_pipeline(
        "--multirun", "search=default", "model.hidden_size=choice(25,0)", f"outputs_dir={tmp_path}"
    )
    assert done.returncode == 2
    expected = "error: model.hidden_size=0 is not allowed; allowed: an integer >= 1"
    assert done.stderr.strip() == expected
    assert not (tmp_path / "mlflow.db").exists()
