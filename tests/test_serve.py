"""``make serve``: which run it serves, its one-line refusals, a request's one-line refusals
(never echoing the input), and a real server on MNIST."""

from __future__ import annotations

import json
import os
import subprocess
import sys
import time
import urllib.error
import urllib.request
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

import numpy as np
import pytest
from mlflow.entities import LoggedModelOutput
from mlflow.tracking import MlflowClient
from mlflow.types import TensorSpec

from pipeline.config import dataset_config
from pipeline.model.scoring import Refusal, tensor
from pipeline.run import run
from pipeline.stages.data import load_data
from pipeline.tools import serve
from pipeline.tracking.artifacts import artifact_location
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
    return client, client.create_experiment("scratchnn", artifact_location(client.tracking_uri))


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
    assert serve.run_to_serve(uri, run_id, "scratchnn", "mnist") == (
        run_id,
        f"runs:/{run_id}/model",
    )


def test_a_run_from_before_logged_models_still_has_its_model(outputs, experiment, tmp_path):
    client, experiment_id = experiment
    run_id = client.create_run(experiment_id).info.run_id
    (tmp_path / "model").mkdir()
    (tmp_path / "model" / "MLmodel").write_text("flavors: {}\n")
    client.log_artifacts(run_id, str(tmp_path / "model"), "model")  # MLflow 2's place
    uri = f"sqlite:///{outputs}/mlflow.db"
    assert serve.run_to_serve(uri, run_id, "scratchnn", "mnist") == (
        run_id,
        f"runs:/{run_id}/model",
    )


def test_serve_without_a_run_needs_a_sweep(capsys, outputs, experiment):
    client, experiment_id = experiment
    client.create_run(experiment_id, tags={"scratchnn.role": "sweep"})  # no best run
    line = refusal(capsys, "--outputs-dir", str(outputs))
    assert line.startswith(
        "error: no sweep on all of mnist with a best run in experiment 'scratchnn' of sqlite:"
    )


def sweep_on(client, experiment_id: str, start: int, best: str | None, **data: str) -> None:
    """A sweep's parent run started at ``start`` (ms) with its best run ``best`` (None: it
    has none) and its data params (``data.name``, ``data.n_train``, ``data.n_test``)."""
    tags = {"scratchnn.role": "sweep", **({"best_run_id": best} if best else {})}
    run_id = client.create_run(experiment_id, start_time=start, tags=tags).info.run_id
    for key, value in {"name": "mnist", "n_train": "None", "n_test": "None", **data}.items():
        client.log_param(run_id, f"data.{key}", value)


def test_the_newest_sweep_on_all_of_the_data_with_a_best_run_is_chosen(experiment):
    client, experiment_id = experiment
    for start, best in ((1000, "older"), (3000, None), (2000, "newer")):
        sweep_on(client, experiment_id, start, best)
    sweep_on(client, experiment_id, 4000, "on a subset", n_train="1000")
    sweep_on(client, experiment_id, 5000, "a test subset", n_test="500")
    sweep_on(client, experiment_id, 6000, "synthetic", name="synthetic", n_train="1000",
             n_test="200")  # fmt: skip
    client.create_run(experiment_id, start_time=7000, tags={"best_run_id": "not a sweep"})
    assert latest_sweep_best(client, experiment_id, dataset_config("mnist")) == "newer"
    assert latest_sweep_best(client, experiment_id, dataset_config("synthetic")) == "synthetic"


def test_the_command_is_our_scoring_server_in_this_environment():
    args = serve.parse_args(["--run", "abc", "--port", "6000"])
    assert serve.PORT == 5001 and serve.parse_args([]).host == "127.0.0.1"
    command = serve.scoring_command(args, "runs:/abc/model")
    assert command == [
        sys.executable, "-m", "pipeline.model.scoring", "runs:/abc/model", "127.0.0.1", "6000",
    ]  # fmt: skip


SPEC = TensorSpec(np.dtype(np.float32), (-1, 64))  # the signature of a synthetic run's model
ALLOWED = "allowed: (N, 64) pixels in [0, 1]"
BAD_REQUESTS = [  # what is wrong, a request so (bad pixels: the model's check_pixels)
    ("input of shape (1, 784)", {"inputs": [[0.5] * 784]}),
    ("input of shape (64,)", {"instances": [0.5] * 64}),
    ("input of shape ()", {"inputs": 0.5}),
    ("input with rows of 63 to 64 values", {"inputs": [[0.5] * 64, [0.5] * 63]}),
    ("input that is not an array of numbers", {"inputs": [["a"] * 64]}),
    ('a body without exactly one of "inputs", "instances"', {"data": [[0.5] * 64]}),
    ("a body that is not JSON", "[[0.5]"),
]  # fmt: skip


@pytest.mark.parametrize(("problem", "content"), BAD_REQUESTS, ids=lambda v: str(v)[:30])
def test_a_bad_request_is_refused_in_one_line_naming_what_is_allowed(problem, content):
    body = content if isinstance(content, str) else json.dumps(content)
    with pytest.raises(Refusal) as refusal:
        tensor(body.encode(), SPEC)
    assert str(refusal.value) == f"{problem} is not allowed; {ALLOWED}"


def test_a_good_request_is_the_array_of_the_schema():
    rows = [[0, 0.25, 1.0, True] * 16, [0.5] * 64]
    for key in ("inputs", "instances"):
        x = tensor(json.dumps({key: rows}).encode(), SPEC)
        assert x.dtype == np.float32 and np.array_equal(x, np.array(rows, dtype=np.float32))


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


def post(url: str, content: dict) -> tuple[int, bytes]:
    """POST ``content`` as JSON to ``url``: the status and the body of the answer."""
    request = urllib.request.Request(
        url, data=json.dumps(content).encode(), headers={"Content-Type": "application/json"}
    )
    try:
        with urllib.request.urlopen(request, timeout=30) as answer:
            return answer.status, answer.read()
    except urllib.error.HTTPError as error:
        return error.code, error.read()


@contextmanager
def serving(run_id: str, outputs: Path) -> Iterator[str]:
    """``python -m pipeline.tools.serve --run run_id`` on a free port, as ``make serve`` runs
    it, until the block ends: the base URL once it answers /ping."""
    port = free_port()
    env = {k: v for k, v in os.environ.items() if k != "MLFLOW_TRACKING_URI"}
    env["PATH"] = "/usr/bin:/bin"  # as from a shell whose PATH has no venv
    server = subprocess.Popen(
        [sys.executable, "-m", "pipeline.tools.serve", "--run", run_id, "--port", str(port),
         "--outputs-dir", str(outputs)],
        cwd=ROOT, env=env, stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True,
        start_new_session=True,
    )  # fmt: skip
    try:
        startup = wait_until_ready(f"http://127.0.0.1:{port}/ping", server)
        print(f"server answered /ping after {startup:.1f} s")
        yield f"http://127.0.0.1:{port}"
    finally:
        stop_group(server, timeout=20)


def network(weights_path: Path) -> TwoLayerNet:
    """The ``TwoLayerNet`` (default activation) of a run's ``weights.npz``."""
    with np.load(weights_path, allow_pickle=False) as weights:
        (n_features, hidden_size), n_classes = weights["W1"].shape, weights["b2"].shape[0]
        net = TwoLayerNet(n_features, hidden_size, n_classes, dtype=np.float32)
        net.params.update({key: weights[key] for key in weights.files})
    return net


@pytest.mark.slow
def test_make_serve_refuses_a_bad_request_in_one_short_line(make_cfg, outputs):
    """Against ``mlflow models serve`` this fails: it answers each of these with the whole
    input (kilobytes) before the model's message."""
    cfg = make_cfg("train.iters=20", "train.batch_size=50")
    run_id = run(cfg, JobInfo(output_dir=outputs / "job"))["run_id"]
    x = load_data(cfg.data, "float32", cfg.seed).x_test[:5]
    filler = 0.123456789  # a value to look for in an answer: the input echoed
    bad = {
        "input of shape (1, 784) is not allowed": {"inputs": [[filler] * 784]},
        "input of shape (64,) is not allowed": {"inputs": [filler] * 64},
        "input with rows of 63 to 64 values is not allowed": {
            "inputs": [[filler] * 64, [filler] * 63]
        },
        "input[0, 63]=2.5 is not allowed": {"inputs": [[filler] * 63 + [2.5]]},
        "input[1, 0]=nan is not allowed": {"instances": [[filler] * 64, [None] + [filler] * 63]},
        "input[0, 0]=inf is not allowed": {"inputs": [[1e39] + [filler] * 63]},  # > float32
    }
    with serving(run_id, outputs) as url:
        for start, content in bad.items():
            status, body = post(f"{url}/invocations", content)
            assert status == 400 and len(body) < 300, body[:300]
            assert "0.1234" not in body.decode()
            answer = json.loads(body)
            assert answer["error_code"] == "INVALID_PARAMETER_VALUE"
            assert answer["message"].startswith(f"{start}; allowed: "), answer["message"]
            assert "pixels in [0, 1]" in answer["message"]
            assert "\n" not in answer["message"]
        with urllib.request.urlopen(f"{url}/health", timeout=5) as health:
            assert health.status == 200
        for key in ("inputs", "instances"):
            status, body = post(f"{url}/invocations", {key: x.tolist()})
            assert status == 200, body[:300]
            predictions = np.array(json.loads(body)["predictions"])
            np.testing.assert_allclose(
                predictions, network(outputs / "job" / "weights.npz").predict(x), rtol=1e-6
            )


@pytest.mark.slow
def test_make_serve_answers_like_the_network_on_real_mnist(make_cfg, outputs):
    cfg = make_cfg(
        "data.n_train=500", "data.n_test=100", "train.iters=200", "train.batch_size=50",
        data="mnist",
    )  # fmt: skip
    run_id = run(cfg, JobInfo(output_dir=outputs / "job"))["run_id"]
    x_test = load_data(cfg.data, "float32", cfg.seed).x_test
    net = network(outputs / "job" / "weights.npz")
    with serving(run_id, outputs) as url:
        status, body = post(f"{url}/invocations", {"inputs": x_test.tolist()})
    assert status == 200, body[:300]
    predictions = np.array(json.loads(body)["predictions"])
    assert predictions.shape == (100, 10)
    assert np.array_equal(predictions.argmax(1), net.predict(x_test).argmax(1))
    np.testing.assert_allclose(predictions, net.predict(x_test), rtol=1e-6)
