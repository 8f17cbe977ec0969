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
(c) The loop against a tracking server (``make server``, SQLite behind it), alternating, median
    of N: the no-op sink; the writer process (how a single run sent its points to a server
    before the spool); the spool (``tracking.spooled``) while the server answers; the spool
    while it is down (nothing listens on its port). Goal: a dead server costs the loop no
    more than a live one.
Timings are printed, never asserted.
"""

from __future__ import annotations

import argparse
import statistics
import subprocess
import sys
import tempfile
import time
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

from hydra import compose, initialize_config_dir
from omegaconf import OmegaConf
from threadpoolctl import threadpool_limits
from timing import ROOT, template_store, timed_pipeline

from pipeline.config import compute_dtype, register_schema
from pipeline.loopback import HOST
from pipeline.stages.data import load_data
from pipeline.stages.history import NullSink
from pipeline.stages.train import train
from pipeline.tools.processes import answers, free_port, stop_group
from pipeline.tracking.messages import EndRun, OpenStore, StartRun, now_ms
from pipeline.tracking.recorder import JobInfo, Recorder, RunSink
from pipeline.tracking.spooled import Spooled
from pipeline.tracking.store import set_mlflow_environment
from pipeline.tracking.writer import WriterProcess


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


@contextmanager
def tracking_server(folder: Path) -> Iterator[str]:
    """``python -m pipeline.tools.server`` on a free port; yields its URL."""
    port = free_port()
    command = [sys.executable, "-m", "pipeline.tools.server", "--port", str(port)]
    command += ["--outputs-dir", str(folder), "--workers", "1"]
    server = subprocess.Popen(command, cwd=ROOT, start_new_session=True,
                              stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)  # fmt: skip
    url = f"http://{HOST}:{port}"
    try:
        while not answers(f"{url}/health"):
            time.sleep(0.5)
        yield url
    finally:
        stop_group(server)


def timed_channel_loop(cfg, data, channel, uri: str) -> float:
    """Seconds of the train stage sending its points through ``channel`` to a run in ``uri``
    (the run's end, which waits for the store or hands the spool off, is not timed)."""
    channel.send(OpenStore(uri, "bench", None))
    channel.send(StartRun("bench", {}, {}, now_ms()))
    start = time.perf_counter()
    train(data, cfg.model, cfg.train, cfg.seed, RunSink(channel))
    seconds = time.perf_counter() - start
    channel.call(EndRun("FINISHED", now_ms()))
    return seconds


def server_loops(cfg, outputs: Path, reps: int) -> dict[str, float]:
    """(c): median seconds of the loop per way of sending it to a tracking server."""
    data = load_data(cfg.data, compute_dtype(cfg), cfg.seed)
    dead = f"http://{HOST}:{free_port()}"  # nothing listens there
    spool = outputs / "spool"
    with tracking_server(outputs / "server") as url, threadpool_limits(cfg.train.blas_threads):
        ways = {
            "no-op sink": lambda: (NullSink(), None),
            "writer process, server up": lambda: (WriterProcess(), url),
            "spool, server up": lambda: (Spooled(spool, url, 0.0, hand_off=False), url),
            "spool, server down": lambda: (Spooled(spool, dead, 0.0, hand_off=True), dead),
        }
        times: dict[str, list[float]] = {way: [] for way in ways}
        for rep in range(reps + 1):  # the first is a warm-up
            for way, make in ways.items():
                channel, uri = make()
                if uri is None:
                    start = time.perf_counter()
                    train(data, cfg.model, cfg.train, cfg.seed, channel)
                    seconds = time.perf_counter() - start
                else:
                    seconds = timed_channel_loop(cfg, data, channel, uri)
                    if isinstance(channel, WriterProcess):
                        channel.close()
                if rep:
                    times[way].append(seconds)
    return {way: statistics.median(values) for way, values in times.items()}


def whole_run(outputs: Path, store: Path, tracked: bool, iters: int, code: Path) -> float:
    args = ["experiment=book", f"train.iters={iters}", "progress=none"]
    return timed_pipeline([*args, f"tracking.enabled={str(tracked).lower()}"], outputs, store, code)


def main() -> None:
    set_mlflow_environment()  # as every pipeline process: MLflow's HTTP retries cut to ~3 s
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
        loops = server_loops(cfg, outputs, reps)
        plain = loops["no-op sink"]
        print(f"(c) the loop against a tracking server, {iters} iterations, median of {reps}:")
        for way, seconds in loops.items():
            print(f"    {way:28s} {seconds:7.3f} s   x {seconds / plain:.3f} of the no-op sink")
        down, up = loops["spool, server down"], loops["writer process, server up"]
        print(f"    a dead server / a live one before the spool: x {down / up:.3f}   (goal <= 1)")


if __name__ == "__main__":
    main()
