"""Benchmark of sweep throughput: the default sweep run in parallel (joblib, one job per
core) against the same jobs run one after another (Hydra's basic launcher).

Run: ``python tests/benchmarks/bench_sweep.py [--quick] [--reps N] [ARGS...]``; extra Hydra
overrides apply to both (``--quick`` adds ``train.iters=1000``). Each sweep gets its own new
store, created before timing starts. With ``--reps N`` the two modes alternate N times and
the medians are compared. Goal: parallel >= 1.8x the sequential throughput on 2 cores.
Timings are printed, never asserted.
"""

from __future__ import annotations

import argparse
import os
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

from omegaconf import OmegaConf

from pipeline.callbacks import open_store

ROOT = Path(__file__).resolve().parents[2]
LAUNCHERS = {"parallel (joblib)": [], "one after another (basic)": ["hydra/launcher=basic"]}


def timed_sweep(outputs: Path, launcher: list[str], extra: list[str]) -> float:
    open_store(OmegaConf.create({"tracking": {"uri": None, "experiment": "scratchnn"},
                                 "outputs_dir": str(outputs)}))  # fmt: skip
    args = ["--multirun", "sweep=default", "force=true", f"outputs_dir={outputs}", *launcher]
    env = {k: v for k, v in os.environ.items() if k != "MLFLOW_TRACKING_URI"}
    start = time.perf_counter()
    subprocess.run([sys.executable, "-m", "pipeline", *args, *extra], cwd=ROOT, check=True,
                   env=env, capture_output=True)  # fmt: skip
    return time.perf_counter() - start


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--quick", action="store_true", help="1,000 iterations per job")
    parser.add_argument("--reps", type=int, default=1, help="repetitions of each mode")
    args, extra = parser.parse_known_args()
    extra = (["train.iters=1000"] if args.quick else []) + extra
    times: dict[str, list[float]] = {name: [] for name in LAUNCHERS}
    with tempfile.TemporaryDirectory(prefix="bench-sweep-") as tmp:
        for rep in range(args.reps):
            for name, launcher in LAUNCHERS.items():
                outputs = Path(tmp) / f"{name.split()[0]}-{rep}"
                times[name].append(timed_sweep(outputs, launcher, extra))
                print(f"rep {rep + 1}/{args.reps}  {name:28s} {times[name][-1]:8.1f} s", flush=True)
    parallel = statistics.median(times["parallel (joblib)"])
    serial = statistics.median(times["one after another (basic)"])
    jobs = f"27 jobs{', ' + ' '.join(extra) if extra else ''}"
    print(f"default sweep ({jobs}) on {os.cpu_count()} cores, median of {args.reps}: parallel "
          f"{parallel:.1f} s, one after another {serial:.1f} s: parallel is "
          f"{serial / parallel:.2f}x faster (goal >= 1.8x)")  # fmt: skip


if __name__ == "__main__":
    main()
