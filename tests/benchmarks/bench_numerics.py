"""Benchmark: what the portable numerics cost `make train` and `make sweep` on this machine.

Run: ``python tests/benchmarks/bench_numerics.py [--reps N] [--train-only]``. Alternates, N
times: ``python -m pipeline`` (what `make train` runs: the portable profile, the default),
the same with ``train.portable=false`` as a user types it (the process starts again with the
machine's own numerics, ``pipeline.numerics.require``), and the same started in the machine's
mode (no restart: the kernels alone); then the default sweep (`make sweep FORCE=1`) with and
without the profile. Prints each time, the medians, their ratios, and the BLAS kernel and
SIMD level each variant ran with. Timings are printed, never asserted.
"""

from __future__ import annotations

import argparse
import statistics
import tempfile
from pathlib import Path

from timing import template_store, timed_pipeline

MACHINE_MODE = {"SCRATCHNN_NUMERICS": "machine"}  # pipeline.numerics.MODE_VAR: no restart
TRAIN = {
    "portable (default)": ([], None),
    "train.portable=false": (["train.portable=false"], None),
    "train.portable=false, no restart": (["train.portable=false"], MACHINE_MODE),
}
SWEEP = {
    "portable (default)": (["--multirun", "sweep=default", "force=true"], None),
    "train.portable=false": (
        ["--multirun", "sweep=default", "force=true", "train.portable=false"], None),
}  # fmt: skip


def alternate(variants: dict, reps: int, tmp: Path, store: Path, what: str) -> dict:
    """Each variant's times, the variants alternating ``reps`` times."""
    times: dict[str, list[float]] = {name: [] for name in variants}
    for rep in range(reps):
        for n, (name, (args, env)) in enumerate(variants.items()):
            outputs = tmp / f"{what}-{rep}-{n}"
            times[name].append(timed_pipeline(args, outputs, store, env=env))
            print(f"rep {rep + 1}/{reps}  {what}  {name:34s} {times[name][-1]:7.1f} s  "
                  f"{kernels(outputs)}", flush=True)  # fmt: skip
    return times


def kernels(outputs: Path) -> str:
    """The BLAS kernels and SIMD levels the jobs in ``outputs``'s store computed with."""
    from mlflow.tracking import MlflowClient

    client = MlflowClient(f"sqlite:///{outputs}/mlflow.db")
    runs = client.search_runs([e.experiment_id for e in client.search_experiments()],
                              "tags.`scratchnn.role` = 'job'")  # fmt: skip
    return ", ".join(sorted({f"{r.data.tags['blas']} / {r.data.tags['simd']}" for r in runs}))


def report(times: dict[str, list[float]], what: str) -> None:
    """The medians and each variant's ratio to the first (the portable default)."""
    medians = {name: statistics.median(values) for name, values in times.items()}
    base = next(iter(medians.values()))
    for name, median in medians.items():
        print(f"{what}: {name:34s} median {median:7.1f} s  ({median / base:.3f}x the profile's)")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--reps", type=int, default=3)
    parser.add_argument("--train-only", action="store_true")
    args = parser.parse_args()
    with tempfile.TemporaryDirectory(prefix="bench-numerics-") as tmp:
        store = template_store(Path(tmp))
        results = {"make train": alternate(TRAIN, args.reps, Path(tmp), store, "train")}
        if not args.train_only:
            results["make sweep"] = alternate(SWEEP, args.reps, Path(tmp), store, "sweep")
    for what, times in results.items():
        report(times, what)


if __name__ == "__main__":
    main()
