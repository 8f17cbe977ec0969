"""Benchmark of tracking overhead on the book run (784-50-10, batch 100, 10,000 iterations).

Run: ``python tests/benchmarks/bench_tracking.py [--quick] [--reps N]``

(a) In the training loop: the book run's train stage with the MLflow sink (SQLite store,
    the full 10,000-point loss curve and per-epoch accuracies, flushed at the end) against a
    no-op sink, in this one process, alternating, median of N. Goal: <= 2 % extra.
(b) The fixed cost per run of tracking at all (MLflow import, opening the store, creating
    the run, params, figures, config and weights upload, ending the run): the wall time of
    ``python -m pipeline experiment=book`` with tracking on minus off, each in a fresh
    process, alternating, median of N, less the loop overhead of (a). Goal: <= 2 s.
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

from hydra import compose, initialize_config_dir
from omegaconf import OmegaConf
from threadpoolctl import threadpool_limits

from pipeline.config import register_schema
from pipeline.data import load_data
from pipeline.recording import JobInfo, Recorder
from pipeline.train import NullSink, train

ROOT = Path(__file__).resolve().parents[2]


def book_config(outputs: Path, iters: int):
    register_schema()
    overrides = ["experiment=book", f"outputs_dir={outputs}", "progress=none"]
    with initialize_config_dir(config_dir=str(ROOT / "conf"), version_base="1.3"):
        return compose("config", overrides=[*overrides, f"train.iters={iters}"])


def timed_loop(cfg, data, tracked: bool, outputs: Path) -> float:
    """Seconds of the train stage (plus the final flush when tracked)."""
    if not tracked:
        start = time.perf_counter()
        train(data, cfg.model, cfg.train, cfg.seed, NullSink())
        return time.perf_counter() - start
    recorder = Recorder(cfg, JobInfo(output_dir=outputs / "job"), OmegaConf.to_container(cfg))
    recorder.open()
    sink = recorder.start({})
    start = time.perf_counter()
    train(data, cfg.model, cfg.train, cfg.seed, sink)
    sink.end("FINISHED")  # waits until every point is in the store
    return time.perf_counter() - start


def loop_overhead(cfg, outputs: Path, reps: int) -> tuple[float, float]:
    data = load_data(OmegaConf.merge(cfg.data, {"dtype": "float32"}), cfg.seed)
    times: dict[bool, list[float]] = {False: [], True: []}
    with threadpool_limits(limits=cfg.train.blas_threads):
        timed_loop(cfg, data, True, outputs)  # warm-up: writer started, store created
        for _ in range(reps):
            for tracked in (False, True):
                times[tracked].append(timed_loop(cfg, data, tracked, outputs))
    return statistics.median(times[False]), statistics.median(times[True])


def whole_run(outputs: Path, tracked: bool, iters: int) -> float:
    args = ["experiment=book", f"train.iters={iters}", f"outputs_dir={outputs}"]
    args += ["progress=none", f"tracking.enabled={str(tracked).lower()}"]
    env = {k: v for k, v in os.environ.items() if k != "MLFLOW_TRACKING_URI"}
    start = time.perf_counter()
    subprocess.run([sys.executable, "-m", "pipeline", *args], cwd=ROOT, check=True, env=env,
                   capture_output=True)  # fmt: skip
    return time.perf_counter() - start


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--quick", action="store_true", help="2,000 iterations, 2 repetitions")
    parser.add_argument("--reps", type=int, default=None)
    args = parser.parse_args()
    iters = 2000 if args.quick else 10000
    reps = args.reps or (2 if args.quick else 5)
    with tempfile.TemporaryDirectory(prefix="bench-tracking-") as tmp:
        outputs = Path(tmp)
        cfg = book_config(outputs, iters)
        plain, tracked = loop_overhead(cfg, outputs, reps)
        loop_extra = tracked - plain
        print(f"(a) book run, {iters} iterations, median of {reps}, one process:")
        print(f"    no-op sink   {plain:7.3f} s")
        print(f"    MLflow sink  {tracked:7.3f} s   extra {loop_extra:+.3f} s = "
              f"{100 * loop_extra / plain:+.2f} %   (goal <= 2 %)")  # fmt: skip
        whole_run(outputs, True, iters)  # warm the page cache and the store
        runs: dict[bool, list[float]] = {False: [], True: []}
        for _ in range(reps):
            for on in (False, True):
                runs[on].append(whole_run(outputs, on, iters))
        off, on = statistics.median(runs[False]), statistics.median(runs[True])
        print(f"(b) whole `python -m pipeline experiment=book`, fresh process, median of {reps}:")
        print(f"    tracking off {off:7.3f} s, on {on:7.3f} s")
        print(f"    fixed cost of tracking: {on - off - loop_extra:.3f} s   (goal <= 2 s)")


if __name__ == "__main__":
    main()
