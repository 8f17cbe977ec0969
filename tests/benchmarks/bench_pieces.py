"""Benchmark of each speed-up alone: what a user times, with the piece on and switched off.

Run: ``python tests/benchmarks/bench_pieces.py [PIECE ...] [--target train|sweep] [--reps N]
[--quick] [ARGS...]``

What a user times is the wall time of ``make train ARGS='experiment=book'`` (target
``train``: ``python -m pipeline experiment=book``) and of ``make sweep`` (target ``sweep``:
``python -m pipeline --multirun sweep=default``, 27 jobs). Each is run in a fresh process
on a new copy of an MLflow store whose schema was made before timing, with the piece on and
with it switched off by its config key, the two alternating, ``--reps`` times each; the
medians are compared. The gain printed is the share of the time the piece saves:
(off - on) / off. A piece stays in the code only where that share is at least 10 %
(docs/performance.md). Times are printed, never asserted.
"""

from __future__ import annotations

import argparse
import statistics
import tempfile
from pathlib import Path

from timing import template_store, timed_pipeline

KEEP_AT = 0.10  # the share of the user's time a piece must save to stay
# piece -> (what it is, the overrides that switch it off)
PIECES = {
    "fused": ("scratchnn.fast.step.FusedStep", ["train.impl=textbook"]),
    "writer": ("a single run's writer process", ["tracking.writer_process=false"]),
}
COMMANDS = {
    "train": ["experiment=book"],
    "sweep": ["--multirun", "sweep=default", "launcher=joblib", "force=true"],
}


def measure(piece: str, target: str, reps: int, extra: list[str], tmp: Path) -> None:
    what, overrides = PIECES[piece]
    store = template_store(tmp)
    modes = {"on": [], "off": overrides}
    times: dict[str, list[float]] = {mode: [] for mode in modes}
    timed_pipeline([*COMMANDS["train"], "train.iters=100"], tmp / "warm-up", store)  # caches
    for rep in range(reps):
        order = list(modes) if rep % 2 == 0 else list(modes)[::-1]
        for mode in order:
            outputs = tmp / f"{piece}-{target}-{mode}-{rep}"
            args = [*COMMANDS[target], *modes[mode], *extra]
            times[mode].append(timed_pipeline(args, outputs, store))
            print(f"  rep {rep + 1}/{reps} {piece} {mode:3s} {times[mode][-1]:8.2f} s", flush=True)
    on, off = statistics.median(times["on"]), statistics.median(times["off"])
    gain = (off - on) / off
    verdict = "keep" if gain >= KEEP_AT else "remove"
    print(f"RESULT {piece} ({what}) on {target}, median of {reps}: on {on:.2f} s, off "
          f"{off:.2f} s: saves {100 * gain:+.1f} % -> {verdict} (>= {100 * KEEP_AT:.0f} %)",
          flush=True)  # fmt: skip


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("pieces", nargs="*", help=f"any of {sorted(PIECES)}; default: all")
    parser.add_argument("--target", choices=sorted(COMMANDS), default="train")
    parser.add_argument("--reps", type=int, default=3)
    parser.add_argument("--quick", action="store_true", help="1 repetition; sweeps of 1,000 iters")
    args, extra = parser.parse_known_args()
    unknown = sorted(set(args.pieces) - set(PIECES))  # argparse's choices refuse an empty list
    if unknown:
        parser.error(f"unknown pieces: {', '.join(unknown)}; allowed: {', '.join(sorted(PIECES))}")
    extra = (["train.iters=1000"] if args.quick and args.target == "sweep" else []) + extra
    with tempfile.TemporaryDirectory(prefix="bench-pieces-") as tmp:
        for piece in args.pieces or PIECES:
            measure(piece, args.target, 1 if args.quick else args.reps, extra, Path(tmp) / piece)


if __name__ == "__main__":
    main()
