"""Benchmark: how far `make sweep` is from its compute limit.

The limit is what the sweep's matrix products alone take: for each job of the default sweep
(``sweep=default``, composed as `make sweep` composes it), the five products of each SGD
step at the job's batch and hidden size (forward ``x @ W1``, ``z1 @ W2``; backward
``dscores @ W2.T``, ``z1.T @ dscores``, ``x.T @ dz1``) times its iterations, and the two of
each per-epoch evaluation pass over the training, validation and test rows; float32, one
BLAS thread, one
process per core timing at once (as the sweep's jobs run), summed over the jobs and divided
by the cores. Separately, the whole step (gather, elementwise work, update: ``FusedStep``)
and the whole evaluation pass (the train stage's ``measure``), whose difference from the
products is the elementwise work.
Then `make sweep FORCE=1` runs on a fresh store (its schema made before timing) and the
script prints ``sweep wall / compute limit``.

Run: ``python tests/benchmarks/bench_limit.py [--quick] [--reps N] [ARGS...]``; extra Hydra
overrides apply to the sweep and its limit (``--quick``: ``train.iters=1000``).
"""

from __future__ import annotations

import argparse
import multiprocessing
import os
import statistics
import tempfile
import time
from collections import Counter
from pathlib import Path

import numpy as np
from timing import template_store, timed_pipeline

SAMPLE_STEPS = 200  # steps timed per shape (the median of blocks of 20)
SAMPLE_PASSES = 3  # evaluation passes timed per shape (the median)
SHAPE = ("batch", "hidden", "n_train", "n_val", "n_test", "d", "c")  # time_shape's arguments


def sweep_jobs(overrides: list[str]) -> list[dict[str, int]]:
    """Each job of the sweep: its batch and hidden size, iterations, evaluations and data."""
    from hydra import initialize_config_dir

    from pipeline.config import CONF_DIR, register_schema
    from pipeline.stages.data import shape
    from pipeline.stages.train import epoch_length, is_epoch_start, iterations
    from pipeline.sweeps.job_configs import compose_job
    from pipeline.sweeps.preflight import base_config, job_overrides, with_command_line_budget

    register_schema()
    args = with_command_line_budget(["sweep=default", *overrides])
    jobs = []
    with initialize_config_dir(config_dir=CONF_DIR, version_base="1.3"):
        for job in job_overrides(base_config(args), args, multirun=True):
            cfg = compose_job(job)
            sizes = shape(cfg.data)
            batch, iters = cfg.train.batch_size, iterations(cfg.train, sizes.train)
            per_epoch = epoch_length(sizes.train, batch)
            evals = sum(is_epoch_start(i, per_epoch) for i in range(iters))
            jobs.append(
                {"batch": batch, "hidden": cfg.model.hidden_size, "iters": iters,
                 "evals": evals, "n_train": sizes.train, "n_val": sizes.val,
                 "n_test": sizes.test, "d": sizes.features, "c": sizes.classes}
            )  # fmt: skip
    return jobs


def _median_seconds(run, reps: int, per: int = 1) -> float:
    run()  # warm: buffers, BLAS's first call
    times = []
    for _ in range(reps):
        start = time.perf_counter()
        for _ in range(per):
            run()
        times.append((time.perf_counter() - start) / per)
    return statistics.median(times)


def time_shape(
    batch: int, hidden: int, n_train: int, n_val: int, n_test: int, d: int, c: int
) -> dict:
    """Seconds of one step and one evaluation pass at these shapes: products alone, and
    whole (the train stage's ``measure``)."""
    from pipeline.stages.data import Dataset
    from pipeline.stages.evaluate import measure
    from scratchnn import TwoLayerNet
    from scratchnn.fast.accuracy import BlockedAccuracy
    from scratchnn.fast.step import FusedStep
    from scratchnn.optimizers import SGD

    rng = np.random.default_rng(0)
    f32 = np.float32
    x_all, x_val, x_test = (rng.random((n, d), dtype=f32) for n in (n_train, n_val, n_test))
    labels, val_labels, test_labels = (rng.integers(0, c, n) for n in (n_train, n_val, n_test))
    data = Dataset(x_all, labels, x_val, val_labels, x_test, test_labels, c, "", {})
    split_labels = {split: t for split, _, t in data.splits()}
    net = TwoLayerNet(d, hidden, c, 0.01, rng=rng, dtype=f32)
    w1, w2 = net.params["W1"], net.params["W2"]
    x, a1, scores = x_all[:batch].copy(), np.empty((batch, hidden), f32), np.empty((batch, c), f32)
    dw1, dw2 = np.empty_like(w1), np.empty_like(w2)

    def products() -> None:
        np.matmul(x, w1, out=a1)
        np.matmul(a1, w2, out=scores)
        np.matmul(scores, w2.T, out=a1)
        np.matmul(a1.T, scores, out=dw2)
        np.matmul(x.T, a1, out=dw1)

    fused = FusedStep(net, batch, SGD(1e-6))  # a tiny lr: the weights stay where they start
    idx = rng.integers(0, n_train, (SAMPLE_STEPS, batch))
    steps = iter(np.concatenate([idx] * (SAMPLE_STEPS + 2)))

    def step() -> None:
        fused.step(*fused.gather(x_all, labels, next(steps)))

    def pass_products() -> None:
        for _, rows, _ in data.splits():
            (rows @ w1) @ w2

    blocked = BlockedAccuracy(net)

    def whole_pass() -> None:
        measure(blocked, data, split_labels)

    blocks, per = SAMPLE_STEPS // 20, 20
    return {
        "step_products": _median_seconds(products, blocks, per),
        "step": _median_seconds(step, blocks, per),
        "pass_products": _median_seconds(pass_products, SAMPLE_PASSES),
        "pass": _median_seconds(whole_pass, SAMPLE_PASSES),
    }


def _time_shapes(shapes: list[tuple]) -> list[dict]:
    from threadpoolctl import threadpool_limits

    with threadpool_limits(limits=1):
        return [time_shape(*shape) for shape in shapes]


def compute_limit(jobs: list[dict], cores: int) -> dict[str, float]:
    """Seconds the sweep's jobs need on ``cores`` cores: products alone, and whole steps and
    passes; each shape timed in ``cores`` processes at once, their times averaged."""
    shapes = sorted({tuple(j[k] for k in SHAPE) for j in jobs})
    with multiprocessing.get_context("spawn").Pool(cores) as pool:
        per_core = pool.map(_time_shapes, [shapes] * cores)
    timed = {
        shape: {key: statistics.mean(core[n][key] for core in per_core) for key in per_core[0][n]}
        for n, shape in enumerate(shapes)
    }
    total: Counter[str] = Counter()
    for job in jobs:
        t = timed[tuple(job[k] for k in SHAPE)]
        total["products"] += job["iters"] * t["step_products"] + job["evals"] * t["pass_products"]
        total["whole"] += job["iters"] * t["step"] + job["evals"] * t["pass"]
    return {key: value / cores for key, value in total.items()}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--quick", action="store_true", help="1,000 iterations per job")
    parser.add_argument("--reps", type=int, default=1, help="sweeps timed (the median)")
    args, extra = parser.parse_known_args()
    extra = (["train.iters=1000"] if args.quick else []) + extra
    cores = os.cpu_count() or 1
    jobs = sweep_jobs(extra)
    limit = compute_limit(jobs, cores)
    print(f"{len(jobs)} jobs, {sum(j['iters'] for j in jobs)} SGD steps and "
          f"{sum(j['evals'] for j in jobs)} evaluation passes on {cores} cores")  # fmt: skip
    print(f"compute limit (matrix products): {limit['products']:.1f} s; whole steps and "
          f"passes (+ gather, elementwise, update): {limit['whole']:.1f} s")  # fmt: skip
    walls = []
    with tempfile.TemporaryDirectory(prefix="bench-limit-") as tmp:
        store = template_store(Path(tmp))
        for rep in range(args.reps):
            sweep = ["--multirun", "sweep=default", "force=true", *extra]
            walls.append(timed_pipeline(sweep, Path(tmp) / str(rep), store))
            print(f"make sweep FORCE=1 {' '.join(extra)}: {walls[-1]:.1f} s", flush=True)
    wall = statistics.median(walls)
    print(f"sweep wall / compute limit: {wall / limit['products']:.2f} (goal <= 1.5); "
          f"/ whole steps and passes: {wall / limit['whole']:.2f}")  # fmt: skip


if __name__ == "__main__":
    main()
