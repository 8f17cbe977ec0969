"""The spool (``pipeline.tracking.spool``) and its replay, against a SQLite store: each record
reaches the store once, however often a file is replayed or wherever a replay stopped; a cut
tail, a job that died, a file still locked. The outage tests with a real server are in
``tests/test_outage.py``."""

from __future__ import annotations

import os
import shutil
import subprocess
import sys
import time

import pytest
from mlflow.tracking import MlflowClient

from pipeline.config import ConfigError
from pipeline.tracking import spool
from pipeline.tracking.artifacts import artifact_location
from pipeline.tracking.messages import (
    EndRun,
    LogSeries,
    OpenStore,
    ReportJob,
    SetTags,
    StartRun,
    now_ms,
)
from pipeline.tracking.replay import Replay, send_file
from pipeline.tracking.tags import SPOOL_TAG
from pipeline.validation import validate
from tests.conftest import ROOT

POINTS, CHUNK = 1000, 100  # loss points of the run, points a record


def spooled_run(folder, uri: str, ended: bool = True, parent: str | None = None):
    """A spool file as a job writes it: the run, ``POINTS`` losses in chunks, a tag, its end."""
    file = spool.SpoolFile.create(folder)
    file.append(OpenStore(uri, "spooled", None))
    tags = {SPOOL_TAG: file.name, **({"mlflow.parentRunId": parent} if parent else {})}
    file.append(StartRun("spooled", tags, {"train.lr": "0.1"}, now_ms() - 5000))
    for start in range(0, POINTS, CHUNK):
        steps = list(range(start, start + CHUNK))
        file.append(LogSeries("train_loss", steps, [1.0 / (s + 1) for s in steps], now_ms()))
    file.append(SetTags({"grad_check": "passed"}))
    if ended:
        file.append(EndRun("FINISHED", now_ms()))
    file.close()
    return file.path


# ``outputs``: a store with its schema made, at ``store_uri``


def runs(uri: str) -> list:
    client = MlflowClient(uri)
    experiment = client.get_experiment_by_name("spooled")
    return client.search_runs([experiment.experiment_id]) if experiment else []


def losses(uri: str, run_id: str) -> list[int]:
    return sorted(m.step for m in MlflowClient(uri).get_metric_history(run_id, "train_loss"))


def test_a_spool_file_is_sent_whole_and_removed(tmp_path, outputs, store_uri):
    path = spooled_run(tmp_path / "spool", store_uri)
    sent = send_file(path, time.monotonic())
    [run] = runs(store_uri)
    assert (sent.run_id, sent.status, sent.points) == (run.info.run_id, "FINISHED", POINTS)
    assert run.info.status == "FINISHED" and run.data.tags["grad_check"] == "passed"
    assert losses(store_uri, run.info.run_id) == list(range(POINTS))
    assert run.info.start_time < run.info.end_time  # as the job saw them, not the replay
    assert not path.exists() and not path.with_suffix(spool.SENT).exists()


def test_a_file_replayed_again_changes_nothing(tmp_path, outputs, store_uri):
    path = spooled_run(tmp_path / "spool", store_uri)
    copy = shutil.copy(path, tmp_path / "copy.jsonl")
    send_file(path, time.monotonic())
    shutil.copy(copy, path)  # as if the replay died before removing the file
    send_file(path, time.monotonic())
    [run] = runs(store_uri)  # the StartRun found the run it made
    assert losses(store_uri, run.info.run_id) == list(range(POINTS))


@pytest.mark.parametrize("stop_after", [3, 7, 12])
def test_a_replay_stopped_anywhere_resumes_without_gaps_or_duplicates(
    tmp_path, outputs, store_uri, stop_after
):
    path = spooled_run(tmp_path / "spool", store_uri)
    records = spool.read(path).records
    replay = Replay(path)
    for record in records[:stop_after]:  # then the process died
        replay.step(record)
    assert spool.sent(path) <= stop_after
    send_file(path, time.monotonic())
    [run] = runs(store_uri)
    assert run.info.status == "FINISHED"
    assert losses(store_uri, run.info.run_id) == list(range(POINTS))


def test_a_run_whose_job_died_ends_killed_as_of_its_last_record(tmp_path, outputs, store_uri):
    path = spooled_run(tmp_path / "spool", store_uri, ended=False)
    last_write = path.stat().st_mtime
    sent = send_file(path, time.monotonic())
    [run] = runs(store_uri)
    assert sent.status == run.info.status == "KILLED"
    assert run.info.end_time == int(last_write * 1000)
    assert losses(store_uri, run.info.run_id) == list(range(POINTS))


def test_a_cut_tail_is_reported_and_the_whole_records_are_sent(tmp_path, outputs, store_uri):
    path = spooled_run(tmp_path / "spool", store_uri, ended=False)
    data = path.read_bytes()
    last_line = data.rstrip(b"\n").rfind(b"\n") + 1  # the SetTags record
    cut = data[: last_line - 40]  # into the last LogSeries record
    path.write_bytes(cut)
    contents = spool.read(path)
    assert len(contents.records) == 2 + POINTS // CHUNK - 1
    assert contents.damage.startswith("damaged tail: ") and "not sent" in contents.damage
    sent = send_file(path, time.monotonic())
    [run] = runs(store_uri)
    assert sent.status == run.info.status == "FAILED" and sent.error == contents.damage
    assert losses(store_uri, run.info.run_id) == list(range(POINTS - CHUNK))
    assert (path.parent / spool.DAMAGED_DIR / path.name).is_file() and not path.exists()


def test_a_file_its_job_still_writes_is_left_alone(tmp_path, outputs, store_uri):
    file = spool.SpoolFile.create(tmp_path / "spool")
    file.append(OpenStore(store_uri, "spooled", None))
    assert send_file(file.path, time.monotonic()) is None  # locked by the job
    file.close()
    assert send_file(file.path, time.monotonic()).run_id is None  # nothing to send in it
    assert not file.path.exists()


def test_a_sweep_job_names_its_run_on_the_parent_before_its_store_made_it(
    tmp_path, outputs, store_uri
):
    client = MlflowClient(store_uri)
    experiment = client.create_experiment("spooled", artifact_location(store_uri))
    parent = client.create_run(experiment).info.run_id
    file = spool.SpoolFile.create(tmp_path / "spool")
    file.append(OpenStore(store_uri, "spooled", None))
    file.append(StartRun("job", {SPOOL_TAG: file.name}, {}, now_ms()))
    file.append(ReportJob(parent, 3, None))
    file.append(EndRun("FINISHED", now_ms()))
    file.close()
    run_id = send_file(file.path, time.monotonic()).run_id
    text = client.download_artifacts(parent, "jobs/3.json", str(tmp_path))
    assert run_id in open(text).read()


def test_sync_with_nothing_spooled_says_so(tmp_path):
    done = subprocess.run(
        [sys.executable, "-m", "pipeline.tools.sync", "--outputs-dir", str(tmp_path)],
        cwd=ROOT, capture_output=True, text=True, timeout=120,
        env={**os.environ, "MLFLOW_TRACKING_URI": ""},
    )  # fmt: skip
    assert done.returncode == 0, done.stderr
    assert done.stdout.strip() == f"nothing to send: {tmp_path / spool.SPOOL_DIR} holds no runs"


def test_sync_refuses_a_negative_wait_in_one_line(tmp_path):
    done = subprocess.run(
        [sys.executable, "-m", "pipeline.tools.sync", "--outputs-dir", str(tmp_path), "--wait=-1"],
        cwd=ROOT, capture_output=True, text=True, timeout=120,
    )  # fmt: skip
    assert done.returncode == 2
    assert "--wait=-1.0 is not allowed; allowed: seconds >= 0" in done.stderr
    assert "Traceback" not in done.stderr


@pytest.mark.parametrize("value", ["-1", "nan"])
def test_a_negative_outage_wait_is_refused(make_cfg, value):
    with pytest.raises(ConfigError, match=f"tracking.outage_wait={value}.* allowed: seconds >= 0"):
        validate(make_cfg(f"tracking.outage_wait={value}"))
