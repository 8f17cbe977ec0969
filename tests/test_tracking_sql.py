"""Bulk metric inserts store exactly what MLflow's own ``log_batch`` stores."""

from __future__ import annotations

import math
import shutil

import pytest
from mlflow.entities import Metric
from mlflow.tracking import MlflowClient

from pipeline.tracking_sql import SqlMetricWriter

POINTS = [  # (key, value, timestamp ms, step): odd values, steps out of order, repeats
    ("loss", 2.5, 1000, 0),
    ("loss", math.nan, 1000, 1),
    ("loss", math.inf, 1001, 2),
    ("loss", -math.inf, 1001, 3),
    ("loss", 0.125, 1002, 1),  # a second point at step 1
    ("loss", 0.125, 1002, 1),  # the same point twice: stored once
    ("acc", 0.5, 1000, 5),
    ("acc", 0.75, 1000, 4),  # an older step logged later: not the latest
    ("acc", 0.25, 999, 5),  # same step, earlier timestamp: not the latest
]


def history(client: MlflowClient, run_id: str, key: str) -> list[tuple]:
    points = client.get_metric_history(run_id, key)
    return sorted((m.step, m.timestamp, repr(m.value)) for m in points)


@pytest.fixture
def client(tmp_path, empty_store) -> MlflowClient:
    shutil.copyfile(empty_store, tmp_path / "mlflow.db")
    return MlflowClient(f"sqlite:///{tmp_path}/mlflow.db")


def test_bulk_inserts_read_back_like_log_batch(client):
    experiment = client.create_experiment("parity")
    by_mlflow = client.create_run(experiment).info.run_id
    by_bulk = client.create_run(experiment).info.run_id
    writer = SqlMetricWriter.for_client(client)
    assert writer is not None
    for batch in (POINTS[:4], POINTS[4:]):  # two batches: the latest values are merged
        client.log_batch(by_mlflow, metrics=[Metric(*point) for point in batch])
        writer.log(by_bulk, batch)
    for key in ("loss", "acc"):
        assert history(client, by_bulk, key) == history(client, by_mlflow, key)
    assert len(history(client, by_bulk, "loss")) == 5
    latest_bulk = client.get_run(by_bulk).data.metrics
    latest_mlflow = client.get_run(by_mlflow).data.metrics
    assert latest_bulk.keys() == latest_mlflow.keys() == {"loss", "acc"}
    for key in latest_mlflow:
        assert repr(latest_bulk[key]) == repr(latest_mlflow[key])
    assert latest_bulk["acc"] == 0.5


def test_a_deleted_run_refuses_points_as_mlflow_does(client):
    experiment = client.create_experiment("deleted")
    run_id = client.create_run(experiment).info.run_id
    client.delete_run(run_id)
    with pytest.raises(Exception, match="active") as by_mlflow:
        client.log_batch(run_id, metrics=[Metric(*POINTS[0])])
    with pytest.raises(type(by_mlflow.value), match="active"):
        SqlMetricWriter.for_client(client).log(run_id, POINTS[:1])


def test_a_tracking_server_uses_log_batch():
    assert SqlMetricWriter.for_client(MlflowClient("http://127.0.0.1:9")) is None
