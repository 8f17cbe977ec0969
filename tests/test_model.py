"""A finished run's network as an MLflow 3 logged model: logged, loaded by URI, registered,
its alias moved only to a better model. Read back through ``MlflowClient``."""

from __future__ import annotations

import json
import shutil
from pathlib import Path

import mlflow
import numpy as np
import pytest
from mlflow.exceptions import MlflowException
from mlflow.models import Model
from mlflow.tracking import MlflowClient

from pipeline.jobs.training import EXAMPLE_ROWS
from pipeline.run import run
from pipeline.stages.data import load_data
from pipeline.sweeps.summary import Summary, register_best
from pipeline.tracking.artifacts import artifact_location
from pipeline.tracking.datasets import datasets
from pipeline.tracking.logged_model import new_logged_model
from pipeline.tracking.mlflow_run import MlflowRun
from pipeline.tracking.recorder import JobInfo
from pipeline.tracking.registry import check_alias, evaluation, has_model, register
from pipeline.tracking.store import TrackingError
from scratchnn import TwoLayerNet
from tests.conftest import compose_config, run_pipeline

OVERRIDES = ("train.iters=120", "train.batch_size=50", "train.lr=1.0", "model.hidden_size=16")
FINAL = {f"final_{split}_{kind}" for split in ("train", "val", "test") for kind in ("acc", "loss")}


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


def the_logged_model(client: MlflowClient, run_id: str):
    """The one logged model of the run's experiment whose source is the run."""
    experiment_id = client.get_run(run_id).info.experiment_id
    found = [m for m in client.search_logged_models([experiment_id]) if m.source_run_id == run_id]
    assert len(found) == 1, found
    return found[0]


def test_the_run_logs_an_mlflow_3_logged_model(logged, uri):
    client, run_id, x_test, params = logged
    model = the_logged_model(client, run_id)
    run = client.get_run(run_id)
    assert (model.name, str(model.status), model.model_type) == ("model", "READY", "TwoLayerNet")
    assert [output.model_id for output in run.outputs.model_outputs] == [model.model_id]
    assert model.params["train.lr"] == "1.0" and model.params["model.hidden_size"] == "16"
    assert model.params == {
        key: value
        for key, value in run.data.params.items()
        if key.split(".")[0] in ("data", "model", "train", "seed")
        and key not in ("data.data_dir", "train.numerical_threads")
    }
    assert model.tags["data_sha256"] == run.data.tags["data_sha256"]
    assert model.tags["weights_sha256"] == run.data.tags["weights_sha256"]
    metrics = {m.key: m for m in model.metrics}
    assert set(metrics) == FINAL
    assert {key: m.value for key, m in metrics.items()} == {k: run.data.metrics[k] for k in FINAL}
    inputs = datasets(run)  # by context: (name, digest)
    assert set(inputs) == {"training", "validation", "test"}
    for key, context in (
        ("final_test_acc", "test"),
        ("final_val_acc", "validation"),
        ("final_val_loss", "validation"),
        ("final_train_loss", "training"),
    ):
        assert (metrics[key].dataset_name, metrics[key].dataset_digest) == inputs[context], key
    assert inputs["validation"][0] == "synthetic-val"
    assert len(client.get_metric_history(run_id, "final_test_acc")) == 1  # the run's, not twice
    loaded = mlflow.pyfunc.load_model(model.model_uri)  # models:/<model id>
    assert np.array_equal(loaded.predict(x_test), network(params).predict(x_test))
    assert (loaded.metadata.model_id, loaded.metadata.run_id) == (model.model_id, run_id)
    run_files = {a.path for a in client.list_artifacts(run_id)}
    assert "weights.npz" in run_files and "model" not in run_files  # the logged model's files


def test_the_model_has_a_signature_an_example_and_no_pickle(logged, uri, tmp_path):
    client, run_id, x_test, _ = logged
    path = client.download_artifacts(run_id, "model", str(tmp_path))  # runs:/<id>/model
    model = Model.load(path)
    assert model.model_id == the_logged_model(client, run_id).model_id
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


def test_registering_makes_a_described_tagged_version_the_alias_points_at(logged, uri):
    client, run_id, x_test, params = logged
    registration = register(client, run_id, "scratchnn-test", "champion")
    assert (registration.version, registration.took, registration.new) == ("1", True, True)
    model, run = the_logged_model(client, run_id), client.get_run(run_id)
    version = client.get_model_version_by_alias("scratchnn-test", "champion")
    assert (str(version.version), version.run_id) == ("1", run_id)
    assert version.source == f"models:/{model.model_id}"  # the logged model (the SQL registry
    # keeps no model_id of its own: the tags have it)
    score, digest = run.data.metrics["final_val_acc"], run.data.tags["data_sha256"]
    test_score = run.data.metrics["final_test_acc"]
    assert version.tags == {
        "run_id": run_id, "model_id": model.model_id, "data_sha256": digest,
        "weights_sha256": run.data.tags["weights_sha256"],
        **{key: str(run.data.metrics[key]) for key in FINAL},
    }  # fmt: skip
    description = version.description
    assert f"Source run `{run_id}`, logged model `{model.model_id}`." in description
    for row in (
        "| `train.lr` | 1.0 |",
        "| `train.batch_size` | 50 |",
        "| `model.hidden_size` | 16 |",
    ):
        assert row in description
    assert (
        f"Validation accuracy **{score:.4f}** (what chose it); test accuracy **{test_score:.4f}** "
        f"(its estimate on new data, never used to choose); on the data of sha256 `{digest}`."
    ) in description
    assert "| `data.val_size` | 200 |" in description
    versions = client.get_logged_model(model.model_id).tags["mlflow.modelVersions"]
    assert json.loads(versions) == [{"name": "scratchnn-test", "version": "1"}]  # Models tab
    loaded = mlflow.pyfunc.load_model("models:/scratchnn-test@champion")
    assert np.array_equal(loaded.predict(x_test), network(params).predict(x_test))
    again = register(client, run_id, "scratchnn-test", "champion")  # a resumed sweep
    assert (again.version, again.new) == ("1", False)
    assert again.line() == (
        f"registered: nothing new: models:/scratchnn-test/1 (run {run_id}) @champion was "
        "registered earlier"
    )
    assert len(client.search_model_versions("name = 'scratchnn-test'")) == 1


@pytest.fixture(scope="module")
def rivals(logged):
    """Runs in the store of ``logged`` (the best of them): {"low", "mid", "other", "no_val"}
    -> run id, low and mid worse on the same validation rows, other judged on other rows
    (other synthetic data: ``data.seed=1``), no_val without a validation split."""
    client, _, _, _ = logged
    outputs = Path(client.tracking_uri.removeprefix("sqlite:///")).parent
    found = {}
    for name, overrides in (
        ("low", ("train.lr=0.01", "train.iters=10")),
        ("mid", ("train.iters=80",)),
        ("other", ("train.lr=0.01", "train.iters=10", "data.seed=1")),
        ("no_val", ("train.lr=0.01", "train.iters=10", "data.val_size=0")),
    ):
        cfg = compose_config(outputs, *OVERRIDES, *overrides, "tracking.writer_process=false")
        found[name] = run(cfg, JobInfo(output_dir=outputs / name))["run_id"]
    return found


def test_the_alias_moves_only_to_a_better_model_on_the_same_validation_rows(logged, rivals, uri):
    client, best, _, _ = logged
    low, mid, other = rivals["low"], rivals["mid"], rivals["other"]
    acc = {r: client.get_run(r).data.metrics["final_val_acc"] for r in (low, mid, best, other)}
    assert acc[low] < acc[mid] < acc[best]
    lines = [register(client, r, "ranked", "champion").line() for r in (mid, low, best, other)]
    assert lines == [
        f"registered: models:/ranked/1 (run {mid}) as champion (val_acc {acc[mid]:.4f}; "
        "no champion before)",
        f"registered: models:/ranked/2 (run {low}) as challenger (val_acc {acc[low]:.4f} <= "
        f"champion v1's {acc[mid]:.4f}); champion stays at version 1",
        f"registered: models:/ranked/3 (run {best}) as champion (val_acc {acc[best]:.4f} > "
        f"champion v1's {acc[mid]:.4f})",
        f"registered: models:/ranked/4 (run {other}) as challenger (val_acc {acc[other]:.4f}; "
        "champion v3 was judged on other evaluation data: not comparable); champion stays at "
        "version 3",
    ]
    aliases = [client.get_model_version("ranked", str(v)).aliases for v in (1, 2, 3, 4)]
    assert aliases == [[], [], ["champion"], ["challenger"]]
    assert client.get_model_version_by_alias("ranked", "champion").run_id == best


def test_a_run_without_a_validation_split_is_judged_on_its_test_rows(logged, rivals, uri):
    client, best, _, _ = logged
    judged = {name: evaluation(client.get_run(rivals[name])) for name in ("no_val", "low")}
    no_val_run = client.get_run(rivals["no_val"])
    assert judged["no_val"].key == "final_test_acc"
    assert judged["no_val"].score == no_val_run.data.metrics["final_test_acc"]
    assert judged["no_val"].digest == datasets(no_val_run)["test"][1]
    assert judged["low"].key == "final_val_acc"
    assert not judged["no_val"].comparable(judged["low"])
    register(client, rivals["no_val"], "test-judged", "champion")
    line = register(client, best, "test-judged", "champion").line()
    assert line.endswith(
        "champion v1 was judged on other evaluation data: not comparable); champion stays at "
        "version 1"
    )


def test_registering_needs_the_stores_uri_as_the_processs(logged, monkeypatch):
    client, run_id, _, _ = logged
    monkeypatch.setenv("MLFLOW_TRACKING_URI", "sqlite:////elsewhere/mlflow.db")
    with pytest.raises(TrackingError, match="needs MLFLOW_TRACKING_URI=sqlite:///") as error:
        register(client, run_id, "elsewhere", "champion")
    assert "\n" not in str(error.value)
    assert client.search_registered_models("name = 'elsewhere'") == []


def test_a_sweep_without_a_finished_run_registers_nothing(logged, make_cfg):
    client, run_id, _, _ = logged
    rows = [{"job": 0, "run_id": run_id, "status": "FAILED", "diverged_at": "3"}]
    summary = Summary(rows, params=[{}], configs=[], ranking=[], trained=True)
    tracking = make_cfg().tracking
    assert register_best(client, summary, tracking.registered_model, tracking.model_alias) is None
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
    assert not client.get_run(run_id).outputs.model_outputs
    assert register(client, run_id, "scratchnn-test", "champion") is None


def test_a_model_whose_logging_fails_is_marked_failed(outputs):
    client = MlflowClient(f"sqlite:///{outputs}/mlflow.db")
    experiment = client.create_experiment("failing", artifact_location(client.tracking_uri))
    run = MlflowRun.start(client, experiment, "fails", {})
    with pytest.raises(OSError), new_logged_model(client, experiment, run, []) as model:
        raise OSError("disk full")  # e.g. while its files are uploaded
    assert str(client.get_logged_model(model.model_id).status) == "FAILED"
    assert not has_model(client, run.run_id)


@pytest.mark.parametrize("alias", ["latest", "v3", "new champion", "", "challenger"])
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
    score = client.get_run(best).data.metrics["final_val_acc"]
    assert (
        f"registered: models:/scratchnn-synthetic/1 (run {best}) as champion "
        f"(val_acc {score:.4f}; no champion before)"
    ) in done.stdout.splitlines()
    jobs = client.search_runs([parent.info.experiment_id], "tags.`scratchnn.role` = 'job'")
    models = client.search_logged_models([parent.info.experiment_id])
    assert sorted(m.source_run_id for m in models) == sorted(r.info.run_id for r in jobs)
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
        "other than latest, v<number> and challenger"
    )


@pytest.mark.slow
def test_a_quick_sweep_on_a_subset_never_takes_the_champion(tmp_path, monkeypatch):
    """The sequence that once handed the champion to a chance-level network: a sweep, then a
    sweep of 5 iterations on 100 training rows. The second is judged on the same
    validation rows (its training subset is not other evaluation data) and loses."""
    common = ("--multirun", "data=synthetic", "train.lr=0.5,0.1", f"outputs_dir={tmp_path}")
    first = run_pipeline(*common, "train.iters=300")
    assert first.returncode == 0, first.stderr[-2000:]
    quick = run_pipeline(*common, "train.iters=5", "data.n_train=100")
    assert quick.returncode == 0, quick.stderr[-2000:]
    uri = f"sqlite:///{tmp_path}/mlflow.db"
    monkeypatch.setenv("MLFLOW_TRACKING_URI", uri)
    client = MlflowClient(uri)
    champion = client.get_model_version_by_alias("scratchnn-synthetic", "champion")
    challenger = client.get_model_version_by_alias("scratchnn-synthetic", "challenger")
    assert (str(champion.version), str(challenger.version)) == ("1", "2")
    held, new = (client.get_run(v.run_id) for v in (champion, challenger))
    scores = [run.data.metrics["final_val_acc"] for run in (new, held)]
    assert scores[0] < scores[1]
    assert datasets(new)["validation"] == datasets(held)["validation"]
    assert datasets(new)["training"][1] != datasets(held)["training"][1]
    assert (
        f"registered: models:/scratchnn-synthetic/2 (run {new.info.run_id}) as challenger "
        f"(val_acc {scores[0]:.4f} <= champion v1's {scores[1]:.4f}); champion stays at version 1"
    ) in quick.stdout.splitlines()
