"""Benchmark of sweep throughput: the default sweep run in parallel (joblib, one job per
core) against the same jobs run one after another (Hydra's basic launcher).

Run: ``python tests/benchmarks/bench_sweep.py [--quick] [--reps N] [--against DIR]
[--parallel-only] [ARGS...]``; extra Hydra overrides apply to every run (``--quick`` adds
``train.iters=1000``). Each sweep gets its own copy of a store whose schema was made before
timing. With ``--reps N`` the modes alternate N times and the medians are compared.
``--against DIR`` (repeatable) also times the copy of the project in DIR (e.g. a worktree of
an earlier commit), alternating with this one, so the versions are compared in one run, and
prints the ratio of the parallel medians; ``--parallel-only`` skips the one-after-another runs
(what `make sweep` does is the parallel one). Timings are printed, never asserted.
"""

from __future__ import annotations

import argparse
import os
import statistics
import tempfile
from pathlib import Path

from timing import ROOT, template_store, timed_pipeline

LAUNCHERS = {"parallel (joblib)": [], "one after another (basic)": ["hydra/launcher=basic"]}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--quick", action="store_true", help="1,000 iterations per job")
    parser.add_argument("--reps", type=int, default=1, help="repetitions of each mode")
    parser.add_argument(
        "--against", type=Path, action="append", default=[],
        help="another copy of the project to time too (repeatable)",
    )  # fmt: skip
    parser.add_argument("--parallel-only", action="store_true", help="time `make sweep` only")
    args, extra = parser.parse_known_args()
    extra = (["train.iters=1000"] if args.quick else []) + extra
    codes = {"this code": ROOT} | {str(path): path for path in args.against}
    launchers = list(LAUNCHERS)[:1] if args.parallel_only else list(LAUNCHERS)
    modes = [(code, launcher) for code in codes for launcher in launchers]
    times: dict[tuple[str, str], list[float]] = {mode: [] for mode in modes}
    with tempfile.TemporaryDirectory(prefix="bench-sweep-") as tmp:
        store = template_store(Path(tmp))
        for rep in range(args.reps):
            for n, (code, launcher) in enumerate(modes):
                sweep = ["--multirun", "sweep=default", "force=true", *LAUNCHERS[launcher]]
                outputs = Path(tmp) / f"{rep}-{n}"
                times[code, launcher].append(
                    timed_pipeline([*sweep, *extra], outputs, store, codes[code])
                )
                print(f"rep {rep + 1}/{args.reps}  {code}: {launcher:28s} "
                      f"{times[code, launcher][-1]:8.1f} s", flush=True)  # fmt: skip
    jobs = f"27 jobs{', ' + ' '.join(extra) if extra else ''}"
    parallel = {code: statistics.median(times[code, "parallel (joblib)"]) for code in codes}
    for code in codes:
        serial = times.get((code, "one after another (basic)"))
        against = (
            (
                f", one after another {statistics.median(serial):.1f} s: parallel is "
                f"{statistics.median(serial) / parallel[code]:.2f}x faster"
            )
            if serial
            else ""
        )
        print(f"{code}: default sweep ({jobs}) on {os.cpu_count()} cores, median of "
              f"{args.reps}: parallel {parallel[code]:.1f} s{against}")  # fmt: skip
    for path in args.against:
        ratio = parallel["this code"] / parallel[str(path)]
        print(f"this code / {path}: {ratio:.3f} ({(ratio - 1) * 100:+.1f} %)")


if __name__ == "__main__":
    main()
