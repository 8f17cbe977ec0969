"""The portable numerics: the same bits on every x86-64 machine with AVX2 and FMA.

A short run's weights are pinned (a value that must come out on every machine the suite runs
on), then two machines are simulated in fresh processes (OpenBLAS's kernel and numpy's SIMD
level chosen by the environment, as on another CPU): the portable runs, single and in a
sweep's workers, in float32 and float64, give the pinned bits on both; with
``train.portable=false`` they differ, and a rerun on the other machine names the kernel.
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import pytest
from mlflow.tracking import MlflowClient

import pipeline.numerics as numerics
from pipeline.config import ConfigError
from pipeline.run import check_numerics, run
from pipeline.sweeps.preflight import one_numerics
from pipeline.tracking.recorder import JobInfo
from tests.conftest import compose_config, run_pipeline

SHORT = ("train.iters=40", "train.batch_size=50", "train.lr=1.0", "model.hidden_size=8")
# The weights' sha256 of SHORT under the portable profile (synthetic data, seed 0)
PINNED = {
    "float32": "116466c579aca3826af685199a6a9c67ef6c842a6efb899abcb36b77c7662ab8",
    "float64": "84c4810781caa7b16f58db47a30cb68fc7b044689772e9f1a7c39bf446dad697",
}
needs_profile = pytest.mark.skipif(
    numerics.cannot_run() is not None, reason=f"no portable profile here: {numerics.cannot_run()}"
)


@needs_profile
@pytest.mark.parametrize("dtype", sorted(PINNED))
def test_a_short_run_gives_the_pinned_weights(dtype, outputs):
    cfg = compose_config(outputs, *SHORT, f"data.dtype={dtype}")
    result = run(cfg, JobInfo(output_dir=outputs / "job"))
    assert result["weights_sha256"] == PINNED[dtype]
    tags = MlflowClient(f"sqlite:///{outputs}/mlflow.db").get_run(result["run_id"]).data.tags
    assert tags["numerics"] == "portable" and tags["blas"].endswith(" Haswell")
    assert "X86_V4" not in tags["simd"].split()


def machines() -> dict[str, dict[str, str]]:
    """Two machines, as the environment makes OpenBLAS and numpy see them: this CPU's own
    best (SkylakeX and X86_V4 where it has AVX-512, else Sandybridge's AVX kernel), and an
    AVX2 laptop's (Haswell, numpy capped at X86_V3)."""
    avx512 = "avx512f" in numerics.cpu_flags()
    own = {"OPENBLAS_CORETYPE": "SkylakeX" if avx512 else "Sandybridge"}
    return {"own": own, "laptop": {"OPENBLAS_CORETYPE": "Haswell",
                                   "NPY_DISABLE_CPU_FEATURES": "X86_V4"}}  # fmt: skip


def as_on(machine: dict[str, str], monkeypatch) -> None:
    """This process's environment as a shell's on ``machine``: none of the variables this
    project sets, the machine's own (the processes it starts inherit it)."""
    for name in (*numerics.PROFILE, numerics.MODE_VAR, numerics.OWN_VAR):
        monkeypatch.delenv(name, raising=False)
    for name, value in machine.items():
        monkeypatch.setenv(name, value)


def weights(outputs: Path) -> dict[tuple[str, str], str]:
    """(data.dtype, train.portable) -> the weights' sha256 of each run in the store."""
    client = MlflowClient(f"sqlite:///{outputs}/mlflow.db")
    experiment = client.get_experiment_by_name("scratchnn").experiment_id
    found = {}
    for job in client.search_runs([experiment], "tags.`scratchnn.role` = 'job'"):
        params, tags = job.data.params, job.data.tags
        found[(params["data.dtype"], params["train.portable"])] = tags["weights_sha256"]
    return found


@needs_profile
@pytest.mark.slow
def test_two_machines_compute_the_same_bits_with_the_profile_and_not_without(tmp_path, monkeypatch):
    """On each machine a sweep (float32 and float64 jobs in its workers); on the first, two
    single runs (float64 portable, float32 not), which `make rerun` runs again on the
    second: a single run there, in a fresh process."""
    swept = {}
    for name, machine in machines().items():
        as_on(machine, monkeypatch)
        sweep = run_pipeline("--multirun", "data=synthetic", *SHORT, "data.dtype=float32,float64",
                             f"outputs_dir={tmp_path / name}")  # fmt: skip
        assert sweep.returncode == 0, sweep.stderr[-2000:]
        swept[name] = weights(tmp_path / name)
        if name == "own":
            single = tmp_path / "single"
            for args in (("data.dtype=float64",), ("data.dtype=float32", "train.portable=false")):
                done = run_pipeline("data=synthetic", *SHORT, *args, f"outputs_dir={single}")
                assert done.returncode == 0, done.stderr[-2000:]
    for dtype in ("float32", "float64"):
        assert swept["own"][(dtype, "True")] == swept["laptop"][(dtype, "True")] == PINNED[dtype]
    client = MlflowClient(f"sqlite:///{single}/mlflow.db")
    for job in client.search_runs([client.get_experiment_by_name("scratchnn").experiment_id]):
        done = rerun_on_this_machine(job.info.run_id, single)  # on the laptop
        if job.data.params["train.portable"] == "True":
            assert job.data.tags["weights_sha256"] == PINNED["float64"]
            assert done.returncode == 0 and "identical: rerun" in done.stdout, done.stdout
            continue
        assert done.returncode == 1, done.stdout + done.stderr[-2000:]  # other bits without
        kernel = machines()["own"]["OPENBLAS_CORETYPE"]
        assert "environment differs: blas: openblas" in done.stdout
        assert f"{kernel} originally, openblas" in done.stdout and "Haswell now" in done.stdout
        assert "final_test_acc " in done.stdout and "largest train_loss difference" in done.stdout


def rerun_on_this_machine(run_id: str, store: Path) -> subprocess.CompletedProcess:
    """``python -m pipeline.tools.rerun run_id`` on the store of ``store``, in a process
    that inherits this one's environment."""
    command = [sys.executable, "-m", "pipeline.tools.rerun", run_id, "--tracking-uri",
               f"sqlite:///{store}/mlflow.db", "--outputs-dir", str(store)]  # fmt: skip
    return subprocess.run(command, capture_output=True, text=True, timeout=300)


def test_the_environment_is_the_profile_or_the_machines_own(monkeypatch):
    monkeypatch.setenv("OPENBLAS_CORETYPE", "Zen")
    monkeypatch.delenv("NPY_DISABLE_CPU_FEATURES", raising=False)
    monkeypatch.delenv(numerics.OWN_VAR, raising=False)
    monkeypatch.setattr(numerics, "cannot_run", lambda: None)
    numerics.use(True)
    assert {name: os.environ[name] for name in numerics.PROFILE} == numerics.PROFILE
    assert json.loads(os.environ[numerics.OWN_VAR]) == {
        "OPENBLAS_CORETYPE": "Zen", "NPY_DISABLE_CPU_FEATURES": None,
    }  # fmt: skip
    assert numerics.ray_env() == {numerics.MODE_VAR: "portable", **numerics.PROFILE}
    numerics.use(False)  # the machine's own again
    assert os.environ["OPENBLAS_CORETYPE"] == "Zen"
    assert "NPY_DISABLE_CPU_FEATURES" not in os.environ
    assert numerics.ray_env() == {numerics.MODE_VAR: "machine"}
    numerics.use(True)


def test_where_the_profile_cannot_run_the_run_says_so_and_computes(monkeypatch, caplog):
    monkeypatch.setattr(numerics, "cannot_run", lambda: "it is aarch64, not x86-64")
    check_numerics(True)
    assert caplog.messages == [
        "train.portable=true: this machine cannot run the portable numerics (it is aarch64, "
        "not x86-64; it needs x86-64 with AVX2 and FMA): computing with what it picks, "
        "recorded in the blas and simd tags"
    ]
    assert numerics.mode() == "machine"


def test_a_process_refuses_the_numerics_its_numpy_did_not_load_with(monkeypatch):
    monkeypatch.setattr(numerics, "cannot_run", lambda: None)
    monkeypatch.setitem(numerics.LOADED, "mode", "portable")
    assert numerics.problem(True, "openblas 0.3.31 Haswell", "X86_V3") is None
    with pytest.raises(ConfigError, match=r"^train.portable=false is not allowed in this process"):
        check_numerics(False)
    monkeypatch.delitem(numerics.LOADED, "mode")  # numpy loaded before pipeline
    assert numerics.problem(True, "openblas 0.3.31 SkylakeX", "X86_V3 X86_V4").startswith(
        "train.portable=true is not allowed in this process: its numpy loaded with openblas"
    )
    assert numerics.problem(True, "openblas 0.3.31 Haswell", "X86_V3") is None


def test_a_sweep_computes_with_one_numerics(make_cfg):
    jobs = [make_cfg("train.portable=true"), make_cfg("train.portable=false")]
    with pytest.raises(ConfigError, match=r"^train.portable=true,false is not allowed in one"):
        one_numerics(jobs)
    assert one_numerics(jobs[1:]) is False
