"""Bad input, divergence, interruption, concurrency and an unreachable store."""

from __future__ import annotations

import os
import re
import signal
import subprocess
import sys
import time
import warnings
from pathlib import Path

import pytest
from hydra import initialize_config_dir
from mlflow.tracking import MlflowClient
from omegaconf import OmegaConf

from pipeline.config import CONF_DIR, ConfigError
from pipeline.run import run
from pipeline.sweeps.preflight import axis_values, base_config, check, job_overrides
from pipeline.tracking.recorder import WRITER, JobInfo, uses_writer
from tests.conftest import ROOT, compose_config, run_pipeline


@pytest.mark.parametrize(
    ("overrides", "multirun", "message"),
    [
        (["train.lr=0"], False, "train.lr=0.0 is not allowed; allowed: a finite number > 0"),
        (["train.lr=abc"], False, "train.lr='abc' is not allowed; allowed: a number"),
        (["train.batch_size=0"], False, "train.batch_size=0 is not allowed"),
        (["data=synthetic", "train.batch_size=1001"], False, "train.batch_size=1001 is larger"),
        (["model.hidden_size=0"], False, "model.hidden_size=0 is not allowed"),
        (["train.iters=0"], False, "train.iters=0 is not allowed"),
        (["train.gradient=symbolic"], False, "train.gradient='symbolic' is not allowed"),
        (["data=cifar"], False, "data='cifar' is not allowed; allowed: mnist, synthetic"),
        (["hydra/launcher=slurmish"], False, "hydra/launcher='slurmish' is not allowed; allowed:"),
        (["data.n_train=60001"], False, "data.n_train=60001 is not allowed; allowed: 1..50000"),
        (["data.n_train=50001"], False, "(10000 of the 60000 rows are held out: data.val_size)"),
        (["data.val_size=-1"], False, "data.val_size=-1 is not allowed; allowed: 0..59999 (it"),
        (["data.val_size=60000"], False, "data.val_size=60000 is not allowed; allowed: 0..59999"),
        (["data.val_size=1.5"], False, "data.val_size='1.5' is not allowed; allowed: an integer"),
        (["data.val_size=abc"], False, "data.val_size='abc' is not allowed; allowed: an integer"),
        (["data.val_size=null"], False, "data.val_size=null is not allowed; allowed: a value"),
        (["data.val_size=0,-3"], True, "data.val_size=-3 is not allowed; allowed: 0..59999"),
        (["train.lrr=0.1"], False, "train.lrr is not a config key; allowed under train: gradient"),
        (["train.lr=0.1,-2", "model.hidden_size=8,16"], True, "train.lr=-2.0 is not allowed"),
    ],
)
def test_bad_input_is_one_line_before_any_job(overrides, multirun, message):
    with pytest.raises(ConfigError) as error:
        check(overrides, multirun)
    assert message in str(error.value)
    assert "\n" not in str(error.value)


@pytest.mark.parametrize(
    "overrides",
    [
        pytest.param(["sweep=default", "data=synthetic", "force=true"], marks=pytest.mark.slow),
        ["sweep=small", "train.lr=0.1,0.2", "model=two_layer", "data.n_train=100"],
        pytest.param(
            ["experiment=book", "data=synthetic", "train.lr=0.5,1.0", "+extra_tag=1"],
            marks=pytest.mark.slow,
        ),  # fmt: skip
        pytest.param(
            ["train.lr=0.1,0.2", "++seed=5,6", "progress=none", "launcher=joblib"],
            marks=pytest.mark.slow,
        ),  # fmt: skip
    ],
)
def test_preflight_expands_the_jobs_hydra_runs(tmp_path, overrides):
    """The jobs preflight checks are the jobs Hydra's basic sweeper launches, in its order:
    compared with the overrides Hydra records in each job's ``.hydra/overrides.yaml``."""
    cheap = ["hydra/launcher=basic", "task=gradient_descent", "tracking.enabled=false"]
    cheap.append(f"outputs_dir={tmp_path}")
    done = run_pipeline("--multirun", *overrides, *cheap)
    assert done.returncode == 0, done.stderr[-2000:]
    (sweep_dir,) = tmp_path.glob("sweeps/*/*")
    launched = [
        OmegaConf.to_container(OmegaConf.load(sweep_dir / str(n) / ".hydra" / "overrides.yaml"))
        for n in range(len(list(sweep_dir.glob("[0-9]*"))))
    ]
    with initialize_config_dir(config_dir=CONF_DIR, version_base="1.3"):
        jobs = job_overrides(base_config([*overrides, *cheap]), [*overrides, *cheap], True)
    checked = [[o for o in job if not o.startswith("hydra")] for job in jobs]
    assert len(launched) > 1 and checked == launched


def test_bad_input_on_the_command_line_exits_2_and_creates_no_run(tmp_path):
    for args in (["train.lr=-1"], ["--multirun", "sweep=small", "train.lr=0.5,nan"]):
        done = run_pipeline(*args, f"outputs_dir={tmp_path}")
        assert done.returncode == 2
        assert done.stderr.strip().count("\n") == 0, done.stderr
        assert done.stderr.startswith("error: train.lr=")
        assert "Traceback" not in done.stderr
        assert not (tmp_path / "mlflow.db").exists() and not (tmp_path / "sweeps").exists()


def test_divergence_stops_the_run_and_marks_it_failed(outputs):
    tmp_path = outputs
    cfg = compose_config(tmp_path, "train.lr=100", "train.iters=500")
    with warnings.catch_warnings():
        warnings.simplefilter("error")  # no numpy warning spam
        result = run(cfg, JobInfo(output_dir=tmp_path / "job"))
    client = MlflowClient(f"sqlite:///{tmp_path}/mlflow.db")
    failed = client.get_run(result["run_id"])
    assert failed.info.status == "FAILED"
    at = int(failed.data.tags["diverged_at"])
    assert at == result["diverged_at"] and at < 500
    assert f"loss diverged at iteration {at}" in failed.data.tags["stop_reason"]
    steps = sorted(m.step for m in client.get_metric_history(result["run_id"], "train_loss"))
    assert steps == list(range(at + 1))  # the curve up to and including the divergence


@pytest.mark.slow
def test_a_diverging_job_does_not_stop_the_sweep(outputs):
    tmp_path = outputs
    done = run_pipeline(
        "--multirun", "sweep=small", "train.lr=1.0,100", "model.hidden_size=16",
        "train.iters=60", f"outputs_dir={tmp_path}",
    )  # fmt: skip
    assert done.returncode == 0, done.stderr[-2000:]
    assert re.search(r"lr=100\.?0?\s+diverged at iteration \d+", done.stdout), done.stdout
    assert re.search(r"lr=1\.0\s+val_acc=0\.\d+ test_acc=", done.stdout), done.stdout
    assert "chosen by validation accuracy: train.lr=1.0:" in done.stdout  # not the diverged


def _start(args: list[str], tmp_path: Path) -> subprocess.Popen:
    env = {k: v for k, v in os.environ.items() if k != "MLFLOW_TRACKING_URI"}
    return subprocess.Popen(
        [sys.executable, "-m", "pipeline", *args, f"outputs_dir={tmp_path}", "progress=lines"],
        cwd=ROOT, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True, env=env,
        start_new_session=True,
    )  # fmt: skip


def _wait_for_epochs(proc: subprocess.Popen, epochs: int) -> int:
    """Read progress lines until ``epochs`` were printed; returns the last iteration seen."""
    last = 0
    deadline = time.monotonic() + 120
    while time.monotonic() < deadline:
        line = proc.stdout.readline()
        found = re.search(r"epoch (\d+) iter (\d+)/", line)
        if found:
            last = int(found.group(2))
            if int(found.group(1)) >= epochs:
                return last
    raise AssertionError("training did not progress")


SIGTERM = pytest.param(signal.SIGTERM, 143, marks=pytest.mark.slow)


@pytest.mark.parametrize(("sig", "code"), [(signal.SIGINT, 130), SIGTERM])
def test_an_interrupted_run_is_killed_with_every_loss_point(outputs, sig, code):
    tmp_path = outputs
    # 1000 samples / batch 10 = 100 iterations an epoch; far more iterations than it will do
    proc = _start(["data=synthetic", "train.batch_size=10", "train.iters=10000000"], tmp_path)
    seen = _wait_for_epochs(proc, 3)
    os.killpg(proc.pid, sig) if sig == signal.SIGINT else proc.send_signal(sig)  # Ctrl-C: group
    _, stderr = proc.communicate(timeout=120)
    assert proc.returncode == code, stderr[-2000:]
    assert "Traceback" not in stderr
    client = MlflowClient(f"sqlite:///{tmp_path}/mlflow.db")
    (killed,) = client.search_runs([client.get_experiment_by_name("scratchnn").experiment_id])
    assert killed.info.status == "KILLED"
    steps = sorted(m.step for m in client.get_metric_history(killed.info.run_id, "train_loss"))
    assert steps == list(range(len(steps)))  # no gap
    assert len(steps) >= seen  # every point up to the interruption


@pytest.mark.slow
def wait_for_status(client, run_id: str, status: str, seconds: float = 60) -> bool:
    deadline = time.monotonic() + seconds
    while client.get_run(run_id).info.status != status and time.monotonic() < deadline:
        time.sleep(0.2)
    return client.get_run(run_id).info.status == status


@pytest.mark.slow
def test_a_killed_run_is_marked_killed_by_its_writer(outputs):
    """SIGKILL leaves the job no chance to end its run: the writer process, seeing its pipe
    close, stores what it received and marks the run KILLED."""
    proc = _start(["data=synthetic", "train.batch_size=10", "train.iters=10000000"], outputs)
    _wait_for_epochs(proc, 3)
    os.killpg(proc.pid, signal.SIGKILL)
    proc.communicate(timeout=60)
    client = MlflowClient(f"sqlite:///{outputs}/mlflow.db")
    (killed,) = client.search_runs([client.get_experiment_by_name("scratchnn").experiment_id])
    assert wait_for_status(client, killed.info.run_id, "KILLED")
    steps = sorted(m.step for m in client.get_metric_history(killed.info.run_id, "train_loss"))
    assert len(steps) >= 200 and steps == list(range(len(steps)))  # 3 epochs, no gap


def test_a_tracked_single_run_makes_its_mlflow_calls_in_a_writer_process(outputs):
    """While it trains, `make train`'s process has a child: the writer its MLflow calls go to
    (``recorder.uses_writer``), while a sweep's job makes its own and an untracked run none."""
    cfg = compose_config(outputs)
    assert uses_writer(cfg, in_sweep=False) and not uses_writer(cfg, in_sweep=True)
    off = OmegaConf.merge(cfg, {"tracking": {"writer_process": False}})
    assert not uses_writer(off, in_sweep=False)
    proc = _start(["data=synthetic", "train.batch_size=10", "train.iters=10000000"], outputs)
    try:
        _wait_for_epochs(proc, 2)
        writers = [pid for pid in children(proc.pid) if _command(pid).endswith("writer")]
        assert writers, [_command(pid) for pid in children(proc.pid)]
    finally:
        os.killpg(proc.pid, signal.SIGKILL)
        proc.communicate(timeout=60)


def _command(pid: int) -> str:
    try:
        return Path(f"/proc/{pid}/cmdline").read_bytes().replace(b"\0", b" ").decode().strip()
    except OSError:
        return ""


@pytest.mark.parametrize(
    ("overrides", "code"),
    [(["train.lr=0"], 2), (["data=synthetic", "train.iters=1", "tracking.enabled=false"], 0)],
)
def test_a_single_run_not_using_the_writer_leaves_no_writer_process(outputs, overrides, code):
    """``python -m pipeline`` starts the writer before preflight (its MLflow import overlaps
    the start-up); a run refused as bad input, or untracked, stops it at once."""
    name, mark = "SCRATCHNN_TEST_MARK", f"writer-{os.getpid()}-{time.monotonic_ns()}"
    env = {k: v for k, v in os.environ.items() if k != "MLFLOW_TRACKING_URI"}
    env[name] = mark  # inherited by the writer: found in its /proc/<pid>/environ
    with open(outputs / "out.txt", "w") as out:  # a file: no wait for a pipe's other ends
        done = subprocess.run(
            [sys.executable, "-m", "pipeline", *overrides, f"outputs_dir={outputs}"],
            cwd=ROOT, stdout=out, stderr=out, env=env, timeout=120,
        )  # fmt: skip
    assert done.returncode == code, (outputs / "out.txt").read_text()
    left = [p for p in Path("/proc").glob("[0-9]*/environ") if _holds(p, f"{name}={mark}")]
    assert left == []


@pytest.mark.parametrize(("argv", "early"), [([], True), (["--multirun"], False)])
def test_the_writer_is_started_before_preflight(monkeypatch, argv, early):
    """A single run's writer process is already starting (importing MLflow) while preflight
    composes and checks; a sweep, whose jobs log from their own processes, starts none."""
    import pipeline.__main__ as entry

    seen = {}

    def preflight(args: list[str]) -> None:
        seen["writer"] = WRITER.proc is not None and WRITER.proc.poll() is None
        raise ConfigError("stopped by the test")

    WRITER.close()  # a writer an earlier test in this process gave work ends by itself
    if WRITER.proc is not None:
        WRITER.proc.wait(timeout=60)
    monkeypatch.setattr(entry, "check_command_line", preflight)
    monkeypatch.setattr(sys, "argv", ["pipeline", "data=synthetic", *argv])
    try:
        with pytest.raises(SystemExit) as stop:
            entry.main()
    finally:
        WRITER.close()
    assert stop.value.code == 2 and seen == {"writer": early}


def _holds(environ: Path, variable: str) -> bool:
    try:
        return variable.encode() in environ.read_bytes().split(b"\0")
    except OSError:  # gone meanwhile, or not ours to read
        return False


def children(pid: int) -> list[int]:
    """The processes whose parent is ``pid`` (Linux /proc)."""
    found = []
    for stat in Path("/proc").glob("[0-9]*/stat"):
        try:
            fields = stat.read_text().rsplit(")", 1)[1].split()
        except OSError:
            continue
        if int(fields[1]) == pid:
            found.append(int(stat.parent.name))
    return found


@pytest.mark.slow
def test_a_sweep_whose_worker_is_killed_leaves_no_run_running(outputs):
    """A joblib worker killed mid-job cannot end its run: the sweep marks it KILLED, and its
    parent FAILED, when Hydra reports the dead worker."""
    args = ["--multirun", "data=synthetic", "train.batch_size=10", "train.iters=100,100000000"]
    proc = _start(args, outputs)
    _wait_for_epochs(proc, 2)  # the long job is training
    client = MlflowClient(f"sqlite:///{outputs}/mlflow.db")
    experiment_id = client.get_experiment_by_name("scratchnn").experiment_id
    finished = "tags.`scratchnn.role` = 'job' and attributes.status = 'FINISHED'"
    deadline = time.monotonic() + 120
    while not client.search_runs([experiment_id], finished) and time.monotonic() < deadline:
        time.sleep(0.2)  # until the short job has ended
    for pid in children(proc.pid):
        if "loky" in Path(f"/proc/{pid}/cmdline").read_text(errors="replace"):
            os.kill(pid, signal.SIGKILL)
    proc.communicate(timeout=120)
    assert proc.returncode != 0
    runs = {
        r.data.params["train.iters"]: r
        for r in client.search_runs([experiment_id], "tags.`scratchnn.role` = 'job'")
    }
    assert runs["100"].info.status == "FINISHED"
    assert runs["100000000"].info.status == "KILLED"
    (parent,) = client.search_runs([experiment_id], "tags.`scratchnn.role` = 'sweep'")
    assert parent.info.status == "FAILED"


@pytest.mark.slow
def test_eight_parallel_jobs_on_a_new_store_lose_nothing(tmp_path):
    done = run_pipeline(
        "--multirun", "data=synthetic", "train.iters=150", "seed=0,1,2,3,4,5,6,7",
        "hydra.launcher.n_jobs=8", f"outputs_dir={tmp_path}",
    )  # fmt: skip
    assert done.returncode == 0, done.stderr[-3000:]
    client = MlflowClient(f"sqlite:///{tmp_path}/mlflow.db")
    experiment_id = client.get_experiment_by_name("scratchnn").experiment_id
    jobs = client.search_runs([experiment_id], "tags.`scratchnn.role` = 'job'")
    assert sorted(r.data.params["seed"] for r in jobs) == [str(s) for s in range(8)]
    for job in jobs:
        assert job.info.status == "FINISHED"
        steps = sorted(m.step for m in client.get_metric_history(job.info.run_id, "train_loss"))
        assert steps == list(range(150))


@pytest.mark.parametrize("multirun", [False, True])
def test_an_unreachable_tracking_server_fails_fast(tmp_path, multirun):
    args = ["--multirun"] if multirun else []
    start = time.monotonic()
    done = run_pipeline(
        *args, "data=synthetic", "tracking.uri=http://127.0.0.1:9", f"outputs_dir={tmp_path}"
    )
    assert done.returncode == 1
    assert "error: tracking server http://127.0.0.1:9 does not answer" in done.stderr
    assert "epoch" not in done.stdout  # no training started
    assert time.monotonic() - start < 30


def test_nothing_in_the_project_loads_pickle():
    sources = [*ROOT.glob("scratchnn/**/*.py"), *ROOT.glob("pipeline/**/*.py")]
    assert len(sources) > 30
    for path in sources:
        text = path.read_text()
        assert "import pickle" not in text and "allow_pickle=True" not in text, path
        for call in re.findall(r"np\.load\([^)]*\)", text):
            assert "allow_pickle=False" in call, (path, call)


def test_the_ui_binds_loopback_by_default():
    from pipeline.tools import ui

    command = ui.mlflow_command(ui.parse_args([]), "sqlite:////tmp/x.db")
    assert command[command.index("--host") + 1] == "127.0.0.1"
    explicit = ui.mlflow_command(ui.parse_args(["--host", "0.0.0.0"]), "sqlite:////tmp/x.db")
    assert explicit[explicit.index("--host") + 1] == "0.0.0.0"  # only when asked
    url = ui.runs_url("127.0.0.1", 5000, "1")
    assert url == "http://127.0.0.1:5000/#/experiments/1/runs?workflowType=machine_learning"


def sweep_axes(params, overrides: list[str]) -> list[str]:
    """The keys a multirun sweeps over, in the order of its axes."""
    return list(axis_values(params, overrides))


def test_the_sweep_axes_come_from_the_sweeps_own_config():
    params = {"train.batch_size": "200,100", "model.hidden_size": "100,50", "train.lr": "0.1,0.5"}
    assert sweep_axes(params, []) == ["train.batch_size", "model.hidden_size", "train.lr"]
    # the command line replaces an axis by one value, and adds one
    assert sweep_axes(params, ["train.lr=0.1", "seed=0,1"]) == [
        "train.batch_size", "model.hidden_size", "seed",
    ]  # fmt: skip
    assert sweep_axes(None, ["+extra=1,2", "train.iters=5"]) == ["extra"]


NO_STORE = "tracking.enabled=false"


@pytest.mark.parametrize(
    ("overrides", "jobs"),
    [
        (["sweep=optimizers", NO_STORE], 4),
        (["model.activation=sigmoid,relu", "model.weight_init=std,he", NO_STORE], 4),
        (["sweep=numerical_diff", NO_STORE], 8),
    ],
)
def test_the_new_axes_are_sweepable_and_every_job_checks(overrides, jobs):
    """Optimizers, activations, initial weights and the h-sweep expand like any axis."""
    assert len(check(overrides, multirun=True)) == jobs


def test_a_bad_optimizer_in_a_sweep_is_refused_before_any_job():
    with pytest.raises(ConfigError, match="train.optimizer='nesterov' is not allowed"):
        check(["train.optimizer=sgd,nesterov", NO_STORE], multirun=True)
