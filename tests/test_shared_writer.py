"""The writer a sweep's launcher shares with its jobs (``Writer.share``, ``--listen``)."""

from __future__ import annotations

import json
import os
import subprocess
import sys
import time
from pathlib import Path

from mlflow.tracking import MlflowClient

from pipeline.tracking import ENV_WRITER_SOCKET, Writer
from tests.conftest import ROOT

JOB = """
import json, sys
from pipeline.tracking import writer
w = writer()
w.call("open", uri=sys.argv[1], experiment="e", artifact_location=None)
ended = w.call("start_run", key="a", run_name="ended", tags={}, params={"p": 1})
w.send("metrics", run="a", key="loss", steps=[0, 1, 2], values=[1.0, 0.5, 0.25])
w.call("end", run="a", status="FINISHED")
left = w.call("start_run", key="b", run_name="left open", tags={}, params={})
w.send("metrics", run="b", key="loss", steps=[0], values=[2.0])
print(json.dumps({"shared": w._proc is None, "ended": ended, "left": left}))
"""  # exits without ending run "b": its connection closes


def wait_for(condition, seconds: float = 20.0) -> bool:
    deadline = time.monotonic() + seconds
    while time.monotonic() < deadline:
        if condition():
            return True
        time.sleep(0.1)
    return condition()


def test_a_job_process_uses_the_launchers_writer(tmp_path, outputs, monkeypatch):
    monkeypatch.delenv(ENV_WRITER_SOCKET, raising=False)  # restored to absent afterwards
    uri = f"sqlite:///{outputs}/mlflow.db"
    launcher = Writer()
    launcher.share()
    socket_path = Path(os.environ[ENV_WRITER_SOCKET])
    assert launcher.call("open", uri=uri, experiment="e", artifact_location=None)
    job = subprocess.run(
        [sys.executable, "-c", JOB, uri], cwd=ROOT, capture_output=True, text=True, timeout=120
    )
    assert job.returncode == 0, job.stderr[-2000:]
    answer = json.loads(job.stdout.splitlines()[-1])
    assert answer["shared"], "the job started a writer of its own"
    client = MlflowClient(uri)
    ended = client.get_run(answer["ended"])
    assert ended.info.status == "FINISHED" and ended.data.params == {"p": "1"}
    history = client.get_metric_history(answer["ended"], "loss")
    assert [(m.step, m.value) for m in history] == [(0, 1.0), (1, 0.5), (2, 0.25)]
    # the job's connection closed with run "b" open: the writer marks it KILLED, keeping its
    # metric, and goes on serving the launcher
    assert wait_for(lambda: client.get_run(answer["left"]).info.status == "KILLED")
    assert [m.value for m in client.get_metric_history(answer["left"], "loss")] == [2.0]
    assert launcher.call("find_runs", filter_string="attributes.status = 'KILLED'")
    launcher.close()
    assert wait_for(lambda: not socket_path.parent.exists()), "socket folder left behind"


def test_a_job_that_cannot_reach_the_shared_writer_starts_its_own(tmp_path, outputs, monkeypatch):
    monkeypatch.setenv(ENV_WRITER_SOCKET, str(tmp_path / "no-such-socket"))
    uri = f"sqlite:///{outputs}/mlflow.db"
    job = Writer()
    try:
        assert job.call("open", uri=uri, experiment="e", artifact_location=None)
        assert job._proc is not None  # its own writer process
    finally:
        job.close()
