"""Errors at the tracking edge: one line naming the store or run and what is wrong, a non-zero
exit, no traceback, and nothing written."""

from __future__ import annotations

import os
import shutil
import subprocess
import sys

import numpy as np
import pytest

from pipeline.tracking.mlflow_run import MlflowRun
from tests.conftest import ROOT, run_pipeline
from tests.services import free_port

SMALL = ("data=synthetic", "train.iters=20", "progress=none")


def one_error_line(done: subprocess.CompletedProcess) -> str:
    lines = done.stderr.strip().splitlines()
    assert len(lines) == 1, done.stderr[-3000:]
    assert "Traceback" not in done.stderr
    return lines[0]


@pytest.mark.parametrize("multirun", [False, True], ids=["run", "sweep"])
def test_a_store_file_that_is_not_sqlite(tmp_path, multirun):
    store = tmp_path / "mlflow.db"
    store.write_bytes(b"this is a text file, not a database\n" * 100)
    before = store.read_bytes()
    args = ["--multirun", "train.lr=0.5,1.0"] if multirun else []
    done = run_pipeline(*args, *SMALL, f"outputs_dir={tmp_path}")
    assert done.returncode == 1
    assert one_error_line(done) == (
        f"error: tracking store sqlite:///{store}: {store} is not an SQLite database "
        "(it starts with b'this is '); point tracking.uri at another file"
    )
    assert store.read_bytes() == before
    assert [p.name for p in tmp_path.iterdir()] == ["mlflow.db"]  # no run dir, no artifacts


def test_a_tracking_uri_whose_scheme_mlflow_does_not_support(tmp_path):
    ftp = "tracking.uri=ftp://files.example/mlruns"
    done = run_pipeline(*SMALL, ftp, f"outputs_dir={tmp_path}")
    assert done.returncode == 1
    assert one_error_line(done) == (
        "error: tracking store ftp://files.example/mlruns: MLflow cannot track to ftp:// URIs; "
        "allowed: sqlite:///<file>, postgresql://, mysql://, mssql://, http(s)://<server> "
        "or a folder"
    )
    assert list(tmp_path.iterdir()) == []


def rerun(run_id: str, outputs) -> subprocess.CompletedProcess:
    command = [sys.executable, "-m", "pipeline.tools.rerun", run_id, "--outputs-dir", str(outputs)]
    return subprocess.run(command, cwd=ROOT, capture_output=True, text=True, timeout=300)


def test_a_rerun_of_a_run_that_does_not_exist(tmp_path, empty_store):
    done = rerun("0123456789abcdef", tmp_path)  # no store at all: none is created
    assert done.returncode == 1
    store = f"sqlite:///{tmp_path}/mlflow.db"
    assert one_error_line(done) == (
        f"error: tracking store {store} does not exist: no run 0123456789abcdef in it"
    )
    assert list(tmp_path.iterdir()) == []
    shutil.copyfile(empty_store, tmp_path / "mlflow.db")
    before = (tmp_path / "mlflow.db").read_bytes()
    done = rerun("0123456789abcdef", tmp_path)  # a store without that run
    assert done.returncode == 1
    assert one_error_line(done).startswith(f"error: run 0123456789abcdef in {store}: ")
    assert "0123456789abcdef" in one_error_line(done).partition(f"{store}: ")[2]
    assert (tmp_path / "mlflow.db").read_bytes() == before
    assert [p.name for p in tmp_path.iterdir()] == ["mlflow.db"]


def test_a_dataset_that_does_not_fit_in_memory_is_refused_before_anything_runs(tmp_path):
    done = run_pipeline("data=synthetic", "data.n_train=100000000", f"outputs_dir={tmp_path}")
    assert done.returncode == 2
    line = one_error_line(done)
    assert line.startswith("error: data.n_train=100000000, data.n_test=200 needs ")
    assert " GB of memory for its arrays; this machine has " in line
    needed = float(line.split(" needs ")[1].split(" GB")[0])
    assert needed == pytest.approx(100_000_200 * 328 / 1e9 + 3 * 100_000_000 * 512 / 1e9, abs=0.1)
    assert list(tmp_path.iterdir()) == []


class RecordingClient:
    """Stands in for ``MlflowClient``: records each ``log_batch`` call's sizes."""

    def __init__(self) -> None:
        self.batches: list[tuple[int, int, int]] = []

    def log_batch(self, run_id, metrics=(), params=(), tags=()) -> None:
        self.batches.append((len(metrics), len(params), len(tags)))


def test_metric_points_reach_mlflow_by_log_batch_at_most_1000_a_call():
    client = RecordingClient()
    run = MlflowRun(client, "run")
    run.log_series("train_loss", np.arange(1500), np.linspace(2.0, 0.1, 1500))
    assert client.batches == [(1000, 0, 0), (500, 0, 0)]  # a full buffer: out in <= 1000s
    client.batches.clear()
    for start in range(0, 2500, 100):  # as the train stage sends them: every 100 iterations
        run.log_series("train_loss", np.arange(start, start + 100), np.ones(100))
    run.flush()
    assert client.batches == [(1000, 0, 0), (1000, 0, 0), (500, 0, 0)]
    run.set_tags({f"t{i}": "x" for i in range(150)})
    assert client.batches[-2:] == [(0, 0, 100), (0, 0, 50)]


@pytest.mark.parametrize(
    ("store", "expected"),
    [
        ("postgresql+psycopg://team:s3cret@127.0.0.1:{port}/mlflow", "does not answer (connection"),
        (
            "postgresql+psycopg2://team@127.0.0.1:{port}/mlflow",
            "its driver psycopg2 is not installed",
        ),
    ],
)
def test_make_server_refuses_a_database_it_cannot_use_in_one_line(tmp_path, store, expected):
    pytest.importorskip("psycopg", reason="needs the team extra: pip install -e '.[team]'")
    store = store.format(port=free_port())  # nothing listens there
    done = subprocess.run(
        [sys.executable, "-m", "pipeline.tools.server", "--backend-store-uri", store,
         "--port", str(free_port()), "--outputs-dir", str(tmp_path)],
        cwd=ROOT, capture_output=True, text=True, timeout=60,
    )  # fmt: skip
    assert done.returncode == 2
    assert done.stderr.startswith("error: tracking store postgresql+psycopg")
    assert expected in done.stderr and len(done.stderr.splitlines()) == 1
    assert "s3cret" not in done.stderr + done.stdout  # the password is never printed
    assert done.stdout == ""  # refused before the server's banner


def test_make_ui_on_a_tracking_server_points_at_the_servers_own_ui(tmp_path):
    done = subprocess.run(
        [sys.executable, "-m", "pipeline.tools.ui", "--outputs-dir", str(tmp_path)],
        cwd=ROOT, capture_output=True, text=True, timeout=60,
        env={**os.environ, "MLFLOW_TRACKING_URI": "http://127.0.0.1:5999"},
    )  # fmt: skip
    assert done.returncode == 2
    server = "http://127.0.0.1:5999"
    assert (
        done.stderr
        == f"error: MLFLOW_TRACKING_URI={server} is a tracking server: open its UI at {server}\n"
    )
