"""``make serve``: which run it serves, its one-line refusals, and a real server on MNIST."""

from __future__ import annotations

import json
import os
import subprocess
import sys
import time
import urllib.error
import urllib.request
from pathlib import Path

import numpy as np
import pytest
from mlflow.entities import LoggedModelOutput
from mlflow.tracking import MlflowClient

from pipeline.run import run
from pipeline.stages.data import load_data
from pipeline.tools import serve
from pipeline.tracking.recorder import JobInfo
from pipeline.tracking.registry import latest_sweep_best
from scratchnn import TwoLayerNet
from tests.conftest import ROOT
from tests.services import free_port, stop_group

STARTUP_TIMEOUT = 120  # seconds for the server to answer /ping (a loaded shared machine)


def refusal(capsys, *argv: str) -> str:
    """The one line ``serve.main(argv)`` prints before exiting 1."""
    with pytest.raises(SystemExit) as stop:
        serve.main(list(argv))
    assert stop.value.code == 1
    lines = capsys.readouterr().err.strip().splitlines()
    assert len(lines) == 1, lines
    return lines[0]


@pytest.fixture
def experiment(outputs):
    client = MlflowClient(f"sqlite:///{outputs}/mlflow.db")
    return client, client.create_experiment("scratchnn")


def test_serve_refuses_an_unknown_run(capsys, outputs, experiment):
    line = refusal(capsys, "--outputs-dir", str(outputs), "--run", "0123456789abcdef")
    assert line.startswith("error: run 0123456789abcdef in sqlite:///")
    assert "not found" in line


def test_serve_refuses_a_run_without_a_model(capsys, outputs, experiment):
    client, experiment_id = experiment
    run_id = client.create_run(experiment_id).info.run_id
    line = refusal(capsys, "--outputs-dir", str(outputs), "--run", run_id)
    assert line == (
        f"error: run {run_id} has no model (it diverged, or ran with tracking.log_model=false "
        "or before runs logged models); allowed: a finished run with model/"
    )


def test_serve_takes_a_run_whose_logged_model_is_ready(capsys, outputs, experiment):
    client, experiment_id = experiment
    run_id = client.create_run(experiment_id).info.run_id
    model = client.create_logged_model(experiment_id, "model", run_id)
    client.log_outputs(run_id, [LoggedModelOutput(model.model_id, 0)])
    line = refusal(capsys, "--outputs-dir", str(outputs), "--run", run_id)  # still PENDING
    assert line.startswith(f"error: run {run_id} has no model")
    client.finalize_logged_model(model.model_id, "READY")
    uri = f"sqlite:///{outputs}/mlflow.db"
    assert serve.run_to_serve(uri, run_id, "scratchnn") == run_id


def test_a_run_from_before_logged_models_still_has_its_model(outputs, experiment, tmp_path):
    client, experiment_id = experiment
    run_id = client.create_run(experiment_id).info.run_id
    (tmp_path / "model").mkdir()
    (tmp_path / "model" / "MLmodel").write_text("flavors: {}\n")
    client.log_artifacts(run_id, str(tmp_path / "model"), "model")  # MLflow 2's place
    assert serve.run_to_serve(f"sqlite:///{outputs}/mlflow.db", run_id, "scratchnn") == run_id


def test_serve_without_a_run_needs_a_sweep(capsys, outputs, experiment):
    client, experiment_id = experiment
    client.create_run(experiment_id, tags={"scratchnn.role": "sweep"})  # no best run
    line = refusal(capsys, "--outputs-dir", str(outputs))
    assert line.startswith("error: no sweep with a best run in experiment 'scratchnn' of sqlite:")


def test_the_newest_sweep_with_a_best_run_is_chosen(experiment):
    client, experiment_id = experiment
    for start, best in ((1000, "older"), (3000, None), (2000, "newer")):
        tags = {"scratchnn.role": "sweep", **({"best_run_id": best} if best else {})}
        client.create_run(experiment_id, start_time=start, tags=tags)
    client.create_run(experiment_id, start_time=4000, tags={"best_run_id": "not a sweep"})
    assert latest_sweep_best(client, experiment_id) == "newer"


def test_the_command_is_mlflows_in_this_environment():
    args = serve.parse_args(["--run", "abc", "--port", "6000"])
    assert serve.PORT == 5001 and serve.parse_args([]).host == "127.0.0.1"
    command = serve.mlflow_command(args, "abc")
    assert command[0] == str(Path(sys.executable).parent / "mlflow")
    assert command[1:] == [
        "models", "serve", "-m", "runs:/abc/model", "--env-manager", "local",
        "--host", "127.0.0.1", "--port", "6000",
    ]  # fmt: skip


def wait_until_ready(url: str, server: subprocess.Popen) -> float:
    """Seconds until ``url`` answers; fails if the server exits or the time runs out."""
    start = time.perf_counter()
    while time.perf_counter() - start < STARTUP_TIMEOUT:
        if server.poll() is not None:
            pytest.fail(f"the server exited with {server.returncode}: {server.stdout.read()}")
        try:
            with urllib.request.urlopen(url, timeout=2):
                return time.perf_counter() - start
        except (urllib.error.URLError, OSError):
            time.sleep(0.2)
    pytest.fail(f"no answer from {url} in {STARTUP_TIMEOUT} s")


@pytest.mark.slow
def test_make_serve_answers_like_the_network_on_real_mnist(make_cfg, outputs):
    cfg = make_cfg(
        "data.n_train=500", "data.n_test=100", "train.iters=200", "train.batch_size=50",
        data="mnist",
    )  # fmt: skip
    run_id = run(cfg, JobInfo(output_dir=outputs / "job"))["run_id"]
    x_test = load_data(cfg.data, "float32", cfg.seed).x_test
    with np.load(outputs / "job" / "weights.npz", allow_pickle=False) as weights:
        net = TwoLayerNet(784, 50, 10, dtype=np.float32)
        net.params.update({key: weights[key] for key in weights.files})
    port = free_port()
    env = {k: v for k, v in os.environ.items() if k != "MLFLOW_TRACKING_URI"}
    env["PATH"] = "/usr/bin:/bin"  # uvicorn must be found without the venv on PATH
    server = subprocess.Popen(
        [sys.executable, "-m", "pipeline.tools.serve", "--run", run_id, "--port", str(port),
         "--outputs-dir", str(outputs)],
        cwd=ROOT, env=env, stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True,
        start_new_session=True,
    )  # fmt: skip
    try:
        startup = wait_until_ready(f"http://127.0.0.1:{port}/ping", server)
        print(f"server answered /ping after {startup:.1f} s")
        request = urllib.request.Request(
            f"http://127.0.0.1:{port}/invocations",
            data=json.dumps({"inputs": x_test.tolist()}).encode(),
            headers={"Content-Type": "application/json"},
        )
        with urllib.request.urlopen(request, timeout=30) as answer:
            predictions = np.array(json.load(answer)["predictions"])
        assert predictions.shape == (100, 10)
        assert np.array_equal(predictions.argmax(1), net.predict(x_test).argmax(1))
        np.testing.assert_allclose(predictions, net.predict(x_test), rtol=1e-6)
    finally:
        stop_group(server, timeout=20)
