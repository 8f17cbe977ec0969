"""A finished run's network as an MLflow model: logged, loaded by URI, registered."""

from __future__ import annotations

import shutil

import mlflow
import numpy as np
import pytest
from mlflow.exceptions import MlflowException
from mlflow.models import Model
from mlflow.tracking import MlflowClient

from pipeline.jobs.training import EXAMPLE_ROWS
from pipeline.run import run
from pipeline.stages.data import load_data
from pipeline.sweeps.summary import register_best
from pipeline.tracking.recorder import JobInfo
from pipeline.tracking.registry import check_alias, has_model, register
from scratchnn import TwoLayerNet
from tests.conftest import compose_config, run_pipeline

OVERRIDES = ("train.iters=120", "train.batch_size=50", "train.lr=1.0", "model.hidden_size=16")


@pytest.fixture(scope="module")
def logged(tmp_path_factory, empty_store):
    """A finished synthetic run (its MLflow calls in the writer process, as for `make
    train`): (client, run id, the test inputs, the run's weights)."""
    tmp_path = tmp_path_factory.mktemp("model")
    shutil.copyfile(empty_store, tmp_path / "mlflow.db")
    cfg = compose_config(tmp_path, *OVERRIDES)
    run_id = run(cfg, JobInfo(output_dir=tmp_path / "job"))["run_id"]
    client = MlflowClient(f"sqlite:///{tmp_path}/mlflow.db")
    path = client.download_artifacts(run_id, "weights.npz", str(tmp_path))
    with np.load(path, allow_pickle=False) as weights:
        params = {key: weights[key] for key in weights.files}
    x_test = load_data(cfg.data, "float32", cfg.seed).x_test
    return client, run_id, x_test, params


@pytest.fixture
def uri(logged, monkeypatch):
    """The store of ``logged`` as MLflow's tracking (and registry) URI, for ``runs:/``."""
    uri = logged[0].tracking_uri
    monkeypatch.setenv("MLFLOW_TRACKING_URI", uri)
    return uri


def reference_probabilities(x: np.ndarray, p: dict[str, np.ndarray]) -> np.ndarray:
    """The forward pass written out: softmax(sigmoid(x W1 + b1) W2 + b2), row by row."""
    scores = (1 / (1 + np.exp(-(x @ p["W1"] + p["b1"])))) @ p["W2"] + p["b2"]
    e = np.exp(scores - scores.max(axis=1, keepdims=True))
    return e / e.sum(axis=1, keepdims=True)


def network(params: dict[str, np.ndarray]) -> TwoLayerNet:
    net = TwoLayerNet(64, 16, 10, dtype=np.float32)
    net.params.update(params)
    return net


def test_the_model_predicts_what_the_network_does(logged, uri):
    _, run_id, x_test, params = logged
    model = mlflow.pyfunc.load_model(f"runs:/{run_id}/model")
    probabilities = model.predict(x_test)
    assert probabilities.shape == (200, 10)
    assert np.array_equal(probabilities, network(params).predict(x_test))
    np.testing.assert_allclose(probabilities, reference_probabilities(x_test, params), rtol=1e-5)


def test_the_model_has_a_signature_an_example_and_no_pickle(logged, uri, tmp_path):
    client, run_id, x_test, _ = logged
    path = client.download_artifacts(run_id, "model", str(tmp_path))
    model = Model.load(path)
    assert model.signature.inputs.inputs[0].shape == (-1, 64)
    assert model.signature.inputs.inputs[0].type == np.dtype(np.float32)
    assert model.signature.outputs.inputs[0].shape == (-1, 10)
    assert np.array_equal(model.load_input_example(path), x_test[:EXAMPLE_ROWS])
    files = [p.name for p in tmp_path.rglob("*") if p.is_file()]
    assert "weights.npz" in files and "network_model.py" in files and "networks.py" in files
    assert not [name for name in files if name.endswith((".pkl", ".pickle", ".cloudpickle"))]
    assert (tmp_path / "model" / "requirements.txt").read_text().split() == [
        f"mlflow=={mlflow.__version__}",
        f"numpy=={np.__version__}",
    ]


@pytest.mark.parametrize(
    ("change", "message"),
    [
        (lambda x: x[:, :63], r"Shape of input \(3, 63\) does not match expected shape \(-1, 64\)"),
        (lambda x: np.where(x > 0.5, np.nan, x), r"input\[0, \d+\]=nan is not allowed"),
        (lambda x: x + 1.5, r"input\[0, 0\]=1.5 is not allowed; allowed: pixels in \[0, 1\]"),
        (lambda x: -x - 0.5, r"input\[0, 0\]=-0.5 is not allowed"),
    ],
    ids=["width", "nan", "above 1", "below 0"],
)
def test_bad_input_is_refused_in_one_line(logged, uri, change, message):
    _, run_id, x_test, _ = logged
    model = mlflow.pyfunc.load_model(f"runs:/{run_id}/model")
    with pytest.raises(MlflowException, match=message) as error:
        model.predict(change(x_test[:3]).astype(np.float32))
    assert "\n" not in str(error.value).rpartition("Error: ")[2]


def test_registering_makes_a_version_the_alias_points_at(logged, uri):
    client, run_id, x_test, params = logged
    version = register(client, run_id, "scratchnn-test", "champion")
    assert version == "1"
    model = mlflow.pyfunc.load_model("models:/scratchnn-test@champion")
    assert np.array_equal(model.predict(x_test), network(params).predict(x_test))
    assert register(client, run_id, "scratchnn-test", "champion") == "1"  # no second version
    assert len(client.search_model_versions("name = 'scratchnn-test'")) == 1


def test_a_sweep_without_a_finished_run_registers_nothing(logged, make_cfg):
    client, run_id, _, _ = logged
    rows = [{"run_id": run_id, "status": "FAILED", "metrics.final_test_acc": None}]
    tracking = make_cfg().tracking
    assert register_best(client, rows, tracking.registered_model, tracking.model_alias) is None
    assert client.search_registered_models("name = 'scratchnn-synthetic'") == []


def test_the_model_keeps_the_runs_activation(make_cfg, outputs, monkeypatch):
    cfg = make_cfg(*OVERRIDES, "model.activation=relu", "tracking.writer_process=false")
    run_id = run(cfg, JobInfo(output_dir=outputs / "job"))["run_id"]
    monkeypatch.setenv("MLFLOW_TRACKING_URI", f"sqlite:///{outputs}/mlflow.db")
    x_test = load_data(cfg.data, "float32", cfg.seed).x_test
    with np.load(outputs / "job" / "weights.npz", allow_pickle=False) as weights:
        params = {key: weights[key] for key in weights.files}
    relu = TwoLayerNet(64, 16, 10, activation="relu", dtype=np.float32)
    relu.params.update(params)
    predicted = mlflow.pyfunc.load_model(f"runs:/{run_id}/model").predict(x_test)
    assert np.array_equal(predicted, relu.predict(x_test))
    assert not np.allclose(predicted, network(params).predict(x_test))  # sigmoid differs


def test_a_run_without_a_model_is_not_registered(make_cfg, outputs):
    cfg = make_cfg(*OVERRIDES, "tracking.log_model=false", "tracking.writer_process=false")
    run_id = run(cfg, JobInfo(output_dir=outputs / "job"))["run_id"]
    client = MlflowClient(f"sqlite:///{outputs}/mlflow.db")
    assert not has_model(client, run_id)
    assert client.list_artifacts(run_id, "model") == []
    assert register(client, run_id, "scratchnn-test", "champion") is None


@pytest.mark.parametrize("alias", ["latest", "v3", "new champion", ""])
def test_aliases_mlflow_refuses_are_refused_first(alias):
    with pytest.raises(ValueError, match=f"tracking.model_alias={alias!r} is not allowed"):
        check_alias(alias)
    check_alias("champion")


@pytest.mark.slow
def test_a_sweep_registers_its_best_run_as_champion(tmp_path, monkeypatch):
    done = run_pipeline("--multirun", "sweep=small", f"outputs_dir={tmp_path}", "train.iters=100")
    assert done.returncode == 0, done.stderr[-2000:]
    uri = f"sqlite:///{tmp_path}/mlflow.db"
    monkeypatch.setenv("MLFLOW_TRACKING_URI", uri)
    client = MlflowClient(uri)
    (parent,) = client.search_runs(
        [client.get_experiment_by_name("scratchnn").experiment_id], "tags.best_run_id LIKE '%'"
    )
    best = parent.data.tags["best_run_id"]
    version = client.get_model_version_by_alias("scratchnn-synthetic", "champion")
    assert version.run_id == best and str(version.version) == "1"
    assert f"registered: models:/scratchnn-synthetic@champion is version 1, run {best}" in (
        done.stdout
    )
    path = client.download_artifacts(best, "weights.npz", str(tmp_path))
    with np.load(path, allow_pickle=False) as weights:
        params = {key: weights[key] for key in weights.files}
    hidden = params["W1"].shape[1]
    net = TwoLayerNet(64, hidden, 10, dtype=np.float32)
    net.params.update(params)
    x_test = load_data(compose_config(tmp_path).data, "float32", 0).x_test
    model = mlflow.pyfunc.load_model("models:/scratchnn-synthetic@champion")
    assert np.array_equal(model.predict(x_test), net.predict(x_test))


def test_a_bad_alias_stops_a_sweep_before_it_starts(tmp_path):
    done = run_pipeline(
        "--multirun", "sweep=small", f"outputs_dir={tmp_path}", "tracking.model_alias=v1"
    )
    assert done.returncode == 2
    assert done.stderr.strip().splitlines()[-1] == (
        "error: tracking.model_alias='v1' is not allowed; allowed: letters, digits, _ and -, "
        "other than latest and v<number>"
    )
