"""Outages of a tracking server, for real: jobs that log to ``python -m pipeline.tools.server``
while it is SIGKILLed, kept down and started again on the same port and store.

- (a) a 4-job sweep whose server is down for over three minutes (longer than MLflow's own
  retries) ends normally once it is back;
- (b) a sweep that ends while its server is down exits 75, and ``pipeline.tools.sync`` ends
  it later, on SQLite and on PostgreSQL; a second sync changes nothing;
- (c) a single run SIGKILLed during the outage ends KILLED with every loss point it spooled;
- (d) a spool file cut mid-record: its whole records are sent, the run FAILED, the file set
  aside; (e) a single run that ends during the outage exits 75, and sync sends it.

Scenario (a) needs its server down for ``DOWN_FOR`` seconds, so it starts first (a module
fixture, in a thread) and the other tests run meanwhile with servers of their own; its
assertions come last. Every server and job runs in a process group of its own, stopped in
the fixtures' and tests' ``finally``, also when a test fails. Runs are read back with
``MlflowClient``; nothing of MLflow or the server is mocked.
"""

from __future__ import annotations

import json
import os
import random
import re
import signal
import socket
import subprocess
import sys
import threading
import time
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from pathlib import Path

import pytest
from mlflow.tracking import MlflowClient

from pipeline.tracking.artifacts import artifact_location
from pipeline.tracking.tags import PARENT_TAG, ROLE_TAG, SPOOL_TAG
from tests.conftest import ROOT
from tests.services import answers, gone_within, stop_group
from tests.test_team import listeners_before, postgres  # noqa: F401 - the PostgreSQL fixture

LONG_ITERS = 12_000  # (a): jobs of ~4 s alone, ~10 s beside the other tests
SHORT_ITERS = 4_000  # (b): jobs still training when the server is killed
ENDING_ITERS = 12_000  # (e): of a wide network (~12 s alone): still training at the kill
ENDLESS_ITERS = 10_000_000  # (c), (d): single runs SIGKILLed long before their end
DOWN_FOR = 187.0  # s: longer than MLflow's default retries (7, backoff 2: about 2.5 minutes)
CELLS = {("0.5", "16"), ("0.5", "32"), ("1.0", "16"), ("1.0", "32")}  # conf/sweep/small.yaml
SYNC_HINT = "`make sync` (python -m pipeline.tools.sync)"
LONG_TEST = "test_a_sweep_outlives_a_server_down_for_over_three_minutes"
PORTS: set[int] = set()  # handed out: a server down for minutes keeps its port


def steady_port() -> int:
    """A free loopback port below the kernel's ephemeral range, never handed out before: no
    client connection or other test's ``free_port`` takes it while its server is down."""
    low = int(Path("/proc/sys/net/ipv4/ip_local_port_range").read_text().split()[0])
    for port in random.sample(range(min(20_000, low - 5_000), low), 500):
        if port in PORTS:
            continue
        with socket.socket() as sock:
            try:
                sock.bind(("127.0.0.1", port))
            except OSError:
                continue
        PORTS.add(port)
        return port
    raise RuntimeError("no free port below the ephemeral range")


def environment(**extra: str) -> dict[str, str]:
    """This process's environment without ``MLFLOW_TRACKING_URI``, with ``extra``."""
    env = {k: v for k, v in os.environ.items() if k != "MLFLOW_TRACKING_URI"}
    return {**env, **extra}


def launch(command: list[str], log: Path, **env: str) -> subprocess.Popen:
    """``command`` in the project, in a process group of its own, its stdout and stderr
    into ``log``.out and ``log``.err."""
    log.parent.mkdir(parents=True, exist_ok=True)
    with open(f"{log}.out", "w") as out, open(f"{log}.err", "w") as err:
        return subprocess.Popen(
            command, cwd=ROOT, stdout=out, stderr=err, env=environment(**env),
            start_new_session=True,
        )  # fmt: skip


def output(log: Path) -> tuple[str, str]:
    return Path(f"{log}.out").read_text(), Path(f"{log}.err").read_text()


class Server:
    """``python -m pipeline.tools.server`` on a port and outputs dir of its own (and the
    SQLAlchemy store ``store_uri``, else SQLite there), SIGKILLed and started again on both."""

    def __init__(self, root: Path, store_uri: str | None = None) -> None:
        self.root, self.store_uri, self.port = root, store_uri, steady_port()
        self.url = f"http://127.0.0.1:{self.port}"
        self.process: subprocess.Popen | None = None
        self.starts = 0

    def start(self, abort: threading.Event | None = None, timeout: float = 240.0) -> float:
        """Start it; seconds until it answers ``/health`` (fails past ``timeout``)."""
        self.starts += 1
        log = self.root / f"server-{self.starts}"
        command = [sys.executable, "-m", "pipeline.tools.server", "--port", str(self.port),
                   "--outputs-dir", str(self.root), "--workers", "1"]  # fmt: skip
        if self.store_uri:
            command += ["--backend-store-uri", self.store_uri]
        self.process = launch(command, log)
        began = time.monotonic()
        while not answers(f"{self.url}/health"):
            late = time.monotonic() - began > timeout
            if self.process.poll() is not None or late or (abort and abort.is_set()):
                pytest.fail(f"the tracking server did not start:\n{output(log)[1][-3000:]}")
            time.sleep(0.3)
        return time.monotonic() - began

    def kill(self) -> None:
        """SIGKILL its whole process group: no shutdown of any kind."""
        os.killpg(self.process.pid, signal.SIGKILL)
        assert gone_within(self.process, 10), "the tracking server survived SIGKILL"
        assert not answers(f"{self.url}/health")

    def stop(self) -> None:
        """SIGKILL it too (nothing is asked of it any more: no minutes of shutdown), then
        check that nothing of its group is left."""
        if self.process is not None:
            try:
                os.killpg(self.process.pid, signal.SIGKILL)
            except ProcessLookupError:
                pass
            stop_group(self.process)


def sent_counts(spool: Path) -> dict[Path, int]:
    """Each spool file in ``spool`` -> its ``.sent`` count (records the store holds)."""
    counts = {}
    for path in spool.glob("*.jsonl"):
        try:
            counts[path] = int(path.with_suffix(".sent").read_text() or 0)
        except (FileNotFoundError, ValueError):  # none yet, or replaced while read
            counts[path] = 0
    return counts


def training_sent(spool: Path, records: int, files: int = 1) -> bool:
    """Whether ``files`` jobs spool into ``spool``, the store holds ``records`` records of
    one of them, and every one's ``StartRun`` (record 2) is counted as sent.

    The last condition keeps the kill out of ``StartRun``, whose two calls (the run, then its
    params) are not one: ``test_a_run_whose_params_an_outage_cut_off_gets_them_on_replay``."""
    counts = sent_counts(spool)
    return len(counts) >= files and min(counts.values()) >= 2 and max(counts.values()) >= records


def wait_for(
    ready: Callable[[], bool],
    processes: list[subprocess.Popen],
    timeout: float,
    what: str,
    abort: threading.Event | None = None,
) -> None:
    """Until ``ready()``; fails if one of ``processes`` exits or ``timeout`` s pass first."""
    began = time.monotonic()
    while not ready():
        exited = [p.args[2:5] for p in processes if p.poll() is not None]
        if exited or time.monotonic() - began > timeout or (abort and abort.is_set()):
            pytest.fail(f"{what}: not within {timeout:g} s (exited: {exited})")
        time.sleep(0.2)


def sweep_command(outputs: Path, *overrides: str) -> list[str]:
    """The 4-job sweep of ``conf/sweep/small.yaml`` (lr x hidden size, synthetic data)."""
    return [sys.executable, "-m", "pipeline", "--multirun", "sweep=small", "progress=none",
            f"outputs_dir={outputs}", "force=true", *overrides]  # fmt: skip


def run_command(outputs: Path, *overrides: str) -> list[str]:
    return [sys.executable, "-m", "pipeline", "data=synthetic", "progress=none",
            f"outputs_dir={outputs}", "force=true", *overrides]  # fmt: skip


def sync_command(outputs: Path) -> list[str]:
    """``python -m pipeline.tools.sync --outputs-dir outputs`` (``make sync``), waiting up to
    a minute for the server; the spool names it, so no ``MLFLOW_TRACKING_URI``."""
    return [sys.executable, "-m", "pipeline.tools.sync", "--outputs-dir", str(outputs),
            "--wait", "60"]  # fmt: skip


def sync(outputs: Path) -> subprocess.CompletedProcess:
    return subprocess.run(
        sync_command(outputs), cwd=ROOT, capture_output=True, text=True, timeout=600,
        env=environment(),
    )  # fmt: skip


def sent_lines(stdout: str) -> list[str]:
    return [line for line in stdout.splitlines() if line.startswith("sent run ")]


def loss_steps(path: Path) -> list[int]:
    """The steps of the ``train_loss`` points in the whole lines (ending in a newline) of
    the spool file ``path``, read as plain JSON."""
    steps = []
    for line in path.read_bytes().split(b"\n")[:-1]:
        record = json.loads(line)
        if record["kind"] == "LogSeries" and record["key"] == "train_loss":
            steps += record["steps"]
    return steps


def spooled(spool: Path) -> list[str]:
    """What is left in ``spool``: its files' names, those of ``sweeps/``, but not
    ``damaged/``."""
    left = [p.name for p in spool.glob("*") if p.is_file()]
    return left + [f"sweeps/{p.name}" for p in (spool / "sweeps").glob("*")]


def store_contents(url: str) -> dict[str, tuple]:
    """Every run of the experiment ``scratchnn``: its status, metrics and params, and the
    points of its loss and accuracy curves."""
    client = MlflowClient(url)
    experiment = client.get_experiment_by_name("scratchnn").experiment_id
    found = {}
    for run in client.search_runs([experiment], max_results=1000):
        curves = [key for key in ("train_loss", "test_acc") if key in run.data.metrics]
        points = [len(client.get_metric_history(run.info.run_id, key)) for key in curves]
        found[run.info.run_id] = (run.info.status, run.data.metrics, run.data.params, points)
    return found


def check_sweep(url: str, iters: int) -> str:
    """The one sweep of ``url`` ended whole: its 4 jobs FINISHED with their params and every
    loss point once; the parent FINISHED with its summary. Returns the parent's run id."""
    client = MlflowClient(url)
    experiment = client.get_experiment_by_name("scratchnn").experiment_id
    [parent] = client.search_runs([experiment], f"tags.`{ROLE_TAG}` = 'sweep'")
    parent_id = parent.info.run_id
    children = client.search_runs([experiment], f"tags.`{PARENT_TAG}` = '{parent_id}'")
    runs = client.search_runs([experiment], f"tags.`{ROLE_TAG}` = 'job'")
    assert {r.info.run_id for r in runs} == {c.info.run_id for c in children}  # no stray run
    assert sorted(c.info.status for c in children) == ["FINISHED"] * 4
    cells = {
        (c.data.params.get("train.lr"), c.data.params.get("model.hidden_size")) for c in children
    }
    assert cells == CELLS, "a job run lost its params"
    accuracy = {}
    for child in children:
        run_id = child.info.run_id
        assert child.data.tags[SPOOL_TAG]  # it went through the spool
        assert child.data.params["train.iters"] == str(iters)
        steps = [m.step for m in client.get_metric_history(run_id, "train_loss")]
        assert len(steps) == iters and sorted(steps) == list(range(iters)), (
            f"{run_id}: {len(steps)} points, {len(set(steps))} steps"
        )
        assert len(client.get_run(run_id).inputs.dataset_inputs) == 3  # train, val, test: once
        accuracy[run_id] = child.data.metrics["final_val_acc"]

    assert parent.info.status == "FINISHED"
    metrics = parent.data.metrics
    assert (metrics["n_jobs"], metrics["n_finished"]) == (4, 4), metrics
    assert metrics["best_val_acc"] == max(accuracy.values())
    assert accuracy[parent.data.tags["best_run_id"]] == max(accuracy.values())
    assert "summary.csv" in {a.path for a in client.list_artifacts(parent_id)}
    jobs = client.list_artifacts(parent_id, "jobs")
    assert sorted(a.path for a in jobs) == [f"jobs/{n}.json" for n in range(4)]
    named = set()
    for n in range(4):
        text = client.download_artifacts(parent_id, f"jobs/{n}.json")
        named.add(json.loads(Path(text).read_text())["run_id"])
    assert named == set(accuracy)
    return parent_id


# (a) a server down for over three minutes, while the other tests run


@dataclass
class LongOutage:
    """Scenario (a), run by ``thread``: its server, its sweep and when things happened."""

    server: Server
    outputs: Path
    log: Path
    abort: threading.Event
    thread: threading.Thread | None = None
    sweep: subprocess.Popen | None = None
    error: BaseException | None = None
    killed_at: float | None = None
    restarted_at: float | None = None
    running_at_kill: bool = False
    running_at_restart: bool = False
    spooled_at_restart: list[str] | None = None

    def run(self) -> None:
        try:
            self.server.start(self.abort)
            uri = {"MLFLOW_TRACKING_URI": self.server.url}
            overrides = (f"train.iters={LONG_ITERS}", "tracking.outage_wait=600")
            self.sweep = launch(sweep_command(self.outputs, *overrides), self.log, **uri)
            spool = self.outputs / "spool"
            ready = lambda: training_sent(spool, 6, files=2)  # noqa: E731 - datasets sent
            wait_for(ready, [self.sweep], 240, "(a): two jobs training", self.abort)
            self.server.kill()
            self.killed_at, self.running_at_kill = time.monotonic(), self.sweep.poll() is None
            if self.abort.wait(DOWN_FOR):
                return
            self.spooled_at_restart = sorted(p.name for p in spool.glob("*.jsonl"))
            self.running_at_restart = self.sweep.poll() is None
            self.restarted_at = time.monotonic()
            self.server.start(self.abort)
        except BaseException as error:  # noqa: BLE001 - pytest.fail's too: the test raises it
            self.error = error

    def stop(self) -> None:
        self.abort.set()
        if self.thread is not None:
            self.thread.join(timeout=300)
        if self.sweep is not None:
            stop_group(self.sweep)
        self.server.stop()


@pytest.fixture(scope="session", autouse=True)
def long_outage(request, tmp_path_factory) -> Iterator[LongOutage | None]:
    """Scenario (a), started in a thread before this module's first test when its test is
    selected: a server, a sweep logging to it, the server SIGKILLed while two jobs train,
    ``DOWN_FOR`` seconds later started again on the same port and store. The suite runs
    this module first and its test (``runs_last``) last, so the outage overlaps the rest
    (under ``make test``'s pytest-xdist, which keeps a file's tests in one worker: this
    module's other tests, and whatever the other worker runs meanwhile)."""
    if not any(
        item.nodeid.endswith(f"test_outage.py::{LONG_TEST}") for item in request.session.items
    ):
        yield None
        return
    root = tmp_path_factory.mktemp("long-outage")
    outage = LongOutage(
        Server(root / "server"), root / "outputs", root / "sweep", threading.Event()
    )
    outage.thread = threading.Thread(target=outage.run, daemon=True)
    outage.thread.start()
    try:
        yield outage
    finally:
        outage.stop()


# (b) a sweep that ends while its server is down, ended by sync


@pytest.mark.slow
@pytest.mark.parametrize("backend", ["sqlite", "postgresql"])
def test_a_sweep_ending_during_an_outage_exits_75_and_sync_ends_it(backend, request, tmp_path):
    store_uri = request.getfixturevalue("postgres") if backend == "postgresql" else None
    server, outputs = Server(tmp_path / "server", store_uri), tmp_path / "outputs"
    spool, log, sweep = (outputs / "spool").resolve(), tmp_path / "sweep", None
    try:
        server.start()
        overrides = (f"train.iters={SHORT_ITERS}", "tracking.outage_wait=1")
        sweep = launch(sweep_command(outputs, *overrides), log, MLFLOW_TRACKING_URI=server.url)
        ready = lambda: training_sent(spool, 100, files=2)  # noqa: E731
        wait_for(ready, [sweep], 240, "two jobs sending losses")
        server.kill()
        code = sweep.wait(timeout=600)
        out, err = output(log)
        assert code == 75, err[-3000:]
        errors = [line for line in err.splitlines() if line.startswith("error: ")]
        assert errors == [
            f"error: tracking server {server.url} did not answer: the sweep's end and 4 spooled "
            f"runs wait in {spool}; {SYNC_HINT} sends them once the server is back"
        ], err[-3000:]
        assert "does not answer: waiting up to 1 s for it" in out + err
        [parent_id] = re.findall(r"sweep parent run (\w+)", out + err)
        assert (spool / "sweeps" / f"{parent_id}.json").is_file()
        assert len(list(spool.glob("*.jsonl"))) == 4  # every job's run waits in the spool

        waiting = subprocess.Popen(  # started while the server is still down: it waits
            sync_command(outputs), cwd=ROOT, stdout=subprocess.PIPE, stderr=subprocess.PIPE,
            text=True, env=environment(), start_new_session=True,
        )  # fmt: skip
        try:
            server.start()
            stdout, stderr = waiting.communicate(timeout=600)
        finally:
            stop_group(waiting)
        first = subprocess.CompletedProcess(waiting.args, waiting.returncode, stdout, stderr)
        assert first.returncode == 0, first.stderr[-3000:]
        assert f"tracking server {server.url} does not answer: waiting up to 60 s" in stdout
        assert f"tracking server {server.url} is back" in stdout
        sent = sent_lines(first.stdout)
        assert len(sent) == 4 and all(" (FINISHED, " in line for line in sent), first.stdout
        total = r"^sent 4 spooled runs \(\d+ metric points\) and ended 1 sweeps; nothing left in "
        assert re.search(f"{total}{re.escape(str(spool))}$", first.stdout, re.M), first.stdout
        assert check_sweep(server.url, SHORT_ITERS) == parent_id
        assert spooled(spool) == []
        before = store_contents(server.url)

        again = sync(outputs)
        assert again.returncode == 0, again.stderr[-3000:]
        assert again.stdout.strip() == f"nothing to send: {spool} holds no runs"
        assert store_contents(server.url) == before
    finally:
        if sweep is not None:
            stop_group(sweep)
        server.stop()


# (c), (d), (e): single runs through an outage


@dataclass
class KilledRun:
    """A SIGKILLed single run's outputs dir, its spool file, the loss steps of the file's
    whole records and its last write (ms since the epoch), as sync finds them."""

    outputs: Path
    path: Path
    steps: list[int]
    mtime_ms: int


@pytest.fixture(scope="module")
def single_runs(tmp_path_factory) -> Iterator[dict]:
    """One server and three single runs logging to it, all started while it answers; the
    server is SIGKILLed while they train. Then (c) and (d) are SIGKILLed, (d)'s spool file is
    cut in the middle of its last line, (e) ends on its own (``tracking.outage_wait=3``),
    and the server starts again. Yields what each left."""
    root = tmp_path_factory.mktemp("single-runs")
    server, jobs = Server(root / "server"), {}
    try:
        server.start()
        uri = {"MLFLOW_TRACKING_URI": server.url}
        for name, iters in (("c", ENDLESS_ITERS), ("d", ENDLESS_ITERS), ("e", ENDING_ITERS)):
            overrides = (f"train.iters={iters}", "tracking.outage_wait=3", f"seed={ord(name)}")
            overrides += ("model.hidden_size=300",) if name == "e" else ()
            jobs[name] = launch(run_command(root / name, *overrides), root / f"{name}-run", **uri)
        spools = {name: root / name / "spool" for name in jobs}
        ready = lambda: (  # noqa: E731
            all(training_sent(spools[n], 100) for n in ("c", "d")) and training_sent(spools["e"], 2)
        )
        wait_for(ready, list(jobs.values()), 240, "single runs sending losses")
        server.kill()
        e_running_at_kill = jobs["e"].poll() is None
        [c_path], [d_path] = sent_counts(spools["c"]), sent_counts(spools["d"])
        sizes = {path: path.stat().st_size for path in (c_path, d_path)}
        time.sleep(4)  # the jobs train on; their thread finds the server down and waits
        for name in ("c", "d"):
            os.killpg(jobs[name].pid, signal.SIGKILL)
            assert gone_within(jobs[name], 10)
        grown = {path: path.stat().st_size - size for path, size in sizes.items()}
        assert min(grown.values()) > 10_000, f"the spool files did not grow: {grown}"

        data = d_path.read_bytes()
        last = data.rstrip(b"\n").rfind(b"\n") + 1
        d_path.write_bytes(data[: last + (len(data) - last) // 2])  # cut mid-record

        e_code = jobs["e"].wait(timeout=300)
        killed = {
            name: KilledRun(root / name, path, loss_steps(path), int(path.stat().st_mtime * 1000))
            for name, path in (("c", c_path), ("d", d_path))
        }
        server.start()
        yield {
            "url": server.url,
            **killed,
            "e": (root / "e", e_code, output(root / "e-run"), e_running_at_kill),
        }
    finally:
        for job in jobs.values():
            stop_group(job)
        server.stop()


def sent_run(url: str, stdout: str, status: str) -> tuple[MlflowClient, object]:
    """The run the one ``sent run`` line of ``stdout`` names, which says ``status``."""
    [line] = sent_lines(stdout)
    assert f" ({status}, " in line, line
    client = MlflowClient(url)
    return client, client.get_run(line.split()[2])


@pytest.mark.slow
def test_a_single_run_killed_during_an_outage_ends_killed_with_its_spooled_points(single_runs):
    killed: KilledRun = single_runs["c"]
    assert killed.steps == list(range(len(killed.steps))) and len(killed.steps) > 1000
    done = sync(killed.outputs)
    assert done.returncode == 0, done.stderr[-3000:]
    client, run = sent_run(single_runs["url"], done.stdout, "KILLED")
    assert run.info.status == "KILLED" and run.info.end_time == killed.mtime_ms
    assert run.data.tags[SPOOL_TAG] == killed.path.stem
    assert run.data.params["train.iters"] == str(ENDLESS_ITERS)
    steps = [m.step for m in client.get_metric_history(run.info.run_id, "train_loss")]
    assert len(steps) == len(set(steps)), "duplicate loss points"
    assert sorted(steps) == killed.steps  # every point of the spool, none more
    assert spooled(killed.path.parent) == []


@pytest.mark.slow
def test_a_spool_file_cut_mid_record_sends_its_whole_records_and_is_set_aside(single_runs):
    cut: KilledRun = single_runs["d"]
    done = sync(cut.outputs)
    assert done.returncode == 1, done.stdout + done.stderr
    damaged = [line for line in done.stdout.splitlines() if "damaged" in line]
    assert len(damaged) == 1 and f"; {cut.path.name}: damaged tail: " in damaged[0], done.stdout
    assert damaged[0].endswith("not sent")
    client, run = sent_run(single_runs["url"], done.stdout, "FAILED")
    assert run.info.status == "FAILED" and run.info.end_time == cut.mtime_ms
    assert run.data.tags[SPOOL_TAG] == cut.path.stem
    steps = [m.step for m in client.get_metric_history(run.info.run_id, "train_loss")]
    assert len(steps) == len(set(steps)) and sorted(steps) == cut.steps  # the whole records
    spool = cut.path.parent
    assert spooled(spool) == [] and (spool / "damaged" / cut.path.name).is_file()
    assert "nothing left in" in done.stdout


@pytest.mark.slow
def test_a_single_run_ending_during_an_outage_exits_75_and_sync_sends_it(single_runs):
    outputs, code, (out, err), running_at_kill = single_runs["e"]
    assert running_at_kill, "(e) ended before the server was killed: raise ENDING_ITERS"
    assert code == 75, err[-3000:]
    [path] = (outputs / "spool").resolve().glob("*.jsonl")
    errors = [line for line in err.splitlines() if line.startswith("error: ")]
    assert errors == [
        f"error: tracking server {single_runs['url']} did not answer for 3 s "
        f"(tracking.outage_wait): the run waits in {path}; {SYNC_HINT} sends it once the "
        "server is back"
    ], err[-3000:]
    done = sync(outputs)
    assert done.returncode == 0, done.stderr[-3000:]
    client, run = sent_run(single_runs["url"], done.stdout, "FINISHED")
    assert run.data.tags[SPOOL_TAG] == path.stem
    steps = [m.step for m in client.get_metric_history(run.info.run_id, "train_loss")]
    assert len(steps) == ENDING_ITERS and sorted(steps) == list(range(ENDING_ITERS))
    assert "final_test_acc" in run.data.metrics and spooled(path.parent) == []


# the bug the scenarios keep out of: an outage between a StartRun's two calls


def test_a_run_whose_params_an_outage_cut_off_gets_them_on_replay(tmp_path, outputs, store_uri):
    from pipeline.tracking import spool
    from pipeline.tracking.messages import EndRun, OpenStore, StartRun, now_ms
    from pipeline.tracking.replay import send_file

    file = spool.SpoolFile.create(tmp_path / "spool")
    file.append(OpenStore(store_uri, "spooled", None))
    file.append(StartRun("job", {SPOOL_TAG: file.name}, {"train.lr": "0.5"}, now_ms()))
    file.append(EndRun("FINISHED", now_ms()))
    file.close()
    client = MlflowClient(store_uri)
    experiment = client.create_experiment("spooled", artifact_location(store_uri))
    client.create_run(experiment, tags={SPOOL_TAG: file.name})  # runs/create went through
    spool.mark_sent(file.path, 1)  # then the server died: OpenStore is all the store holds
    assert send_file(file.path, time.monotonic()).status == "FINISHED"
    [run] = client.search_runs([experiment])
    assert run.data.params == {"train.lr": "0.5"}


# (a)'s assertions, last: the other tests ran during its outage


@pytest.mark.slow
@pytest.mark.runs_last
def test_a_sweep_outlives_a_server_down_for_over_three_minutes(long_outage):
    outage = long_outage
    outage.thread.join(timeout=900)
    if outage.error is not None:
        raise outage.error
    assert not outage.thread.is_alive()
    assert outage.running_at_kill, "the sweep ended before its server was killed"
    assert outage.restarted_at - outage.killed_at >= DOWN_FOR
    assert outage.running_at_restart, "the sweep did not wait for its server"
    assert len(outage.spooled_at_restart) == 4  # every job left its run to the sweep's end
    code = outage.sweep.wait(timeout=600)
    out, err = output(outage.log)
    assert code == 0, err[-3000:]
    url = outage.server.url
    assert f"tracking server {url} does not answer: waiting up to 600 s for it" in out + err
    assert f"tracking server {url} is back" in out + err
    check_sweep(url, LONG_ITERS)
    assert spooled(outage.outputs / "spool") == []
