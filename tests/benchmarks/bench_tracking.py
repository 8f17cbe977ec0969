"""Benchmark of tracking overhead on the book run (784-50-10, batch 100, 10,000 iterations).

Run: ``python tests/benchmarks/bench_tracking.py [--quick] [--reps N] [--against DIR]``

(a) In the training loop: the book run's train stage with the MLflow sink (SQLite store,
    the full 10,000-point loss curve and per-epoch accuracies, flushed at the end) against a
    no-op sink, in this one process, alternating, median of N. Goal: <= 2 % extra.
(b) The fixed cost per run of tracking at all (MLflow import, opening the store, creating
    the run, params, figures, config and weights upload, ending the run): the wall time of
    ``python -m pipeline experiment=book`` with tracking on minus off, each in a fresh
    process, alternating, median of N, less the loop overhead of (a). Goal: <= 2 s.
    ``--against DIR`` times (b) for the copy of the project in DIR too (e.g. a worktree of an
    earlier commit), alternating with this one.
Timings are printed, never asserted.
"""

from __future__ import annotations

import argparse
import statistics
import tempfile
import time
from pathlib import Path

from hydra import compose, initialize_config_dir
from omegaconf import OmegaConf
from threadpoolctl import threadpool_limits
from timing import ROOT, template_store, timed_pipeline

from pipeline.config import compute_dtype, register_schema
from pipeline.stages.data import load_data
from pipeline.stages.train import NullSink, train
from pipeline.tracking.recorder import JobInfo, Recorder


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
    resolved = OmegaConf.to_container(cfg, resolve=True)
    recorder = Recorder(cfg, JobInfo(output_dir=outputs / "job"), resolved)
    sink = recorder.start("bench", {})
    start = time.perf_counter()
    train(data, cfg.model, cfg.train, cfg.seed, sink)
    recorder.end("FINISHED")  # waits until every point is in the store
    return time.perf_counter() - start


def loop_overhead(cfg, outputs: Path, reps: int) -> tuple[float, float]:
    data = load_data(cfg.data, compute_dtype(cfg), cfg.seed)
    times: dict[bool, list[float]] = {False: [], True: []}
    with threadpool_limits(limits=cfg.train.blas_threads):
        timed_loop(cfg, data, True, outputs)  # warm-up: writer started, store created
        for _ in range(reps):
            for tracked in (False, True):
                times[tracked].append(timed_loop(cfg, data, tracked, outputs))
    return statistics.median(times[False]), statistics.median(times[True])


def whole_run(outputs: Path, store: Path, tracked: bool, iters: int, code: Path) -> float:
    args = ["experiment=book", f"train.iters={iters}", "progress=none"]
    return timed_pipeline([*args, f"tracking.enabled={str(tracked).lower()}"], outputs, store, code)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--quick", action="store_true", help="2,000 iterations, 2 repetitions")
    parser.add_argument("--reps", type=int, default=None)
    parser.add_argument("--against", type=Path, help="another copy of the project, for (b)")
    args = parser.parse_args()
    iters = 2000 if args.quick else 10000
    reps = args.reps or (2 if args.quick else 5)
    codes = {"this code": ROOT} | ({f"{args.against}": args.against} if args.against else {})
    with tempfile.TemporaryDirectory(prefix="bench-tracking-") as tmp:
        outputs = Path(tmp)
        cfg = book_config(outputs, iters)
        plain, tracked = loop_overhead(cfg, outputs, reps)
        loop_extra = tracked - plain
        print(f"(a) book run, {iters} iterations, median of {reps}, one process:")
        print(f"    no-op sink   {plain:7.3f} s")
        print(f"    MLflow sink  {tracked:7.3f} s   extra {loop_extra:+.3f} s = "
              f"{100 * loop_extra / plain:+.2f} %   (goal <= 2 %)")  # fmt: skip
        store = template_store(outputs / "template")
        modes = [(code, on) for code in codes for on in (False, True)]
        runs: dict[tuple[str, bool], list[float]] = {mode: [] for mode in modes}
        whole_run(outputs / "warm-up", store, True, iters, ROOT)  # the page and data caches
        for rep in range(reps):
            for n, (code, on) in enumerate(modes):
                runs[code, on].append(
                    whole_run(outputs / f"{rep}-{n}", store, on, iters, codes[code])
                )
        print(f"(b) whole `python -m pipeline experiment=book`, fresh process, median of {reps}:")
        for code in codes:
            off, on = statistics.median(runs[code, False]), statistics.median(runs[code, True])
            print(f"    {code}: tracking off {off:7.3f} s, on {on:7.3f} s; fixed cost of "
                  f"tracking: {on - off - loop_extra:.3f} s   (goal <= 2 s)")  # fmt: skip


if __name__ == "__main__":
    main()
