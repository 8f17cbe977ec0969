"""Benchmark of each speed-up alone: what a user times, with the piece on and switched off.

Run: ``python tests/benchmarks/bench_pieces.py PIECE [PIECE ...] [--target train|sweep]
[--reps N] [--quick]``

What a user times is the wall time of ``make train ARGS='experiment=book'`` (target
``train``: ``python -m pipeline experiment=book``) and of ``make sweep`` (target ``sweep``:
``python -m pipeline --multirun sweep=default``, 27 jobs). Each is run in a fresh process
on a new copy of an MLflow store whose schema was made before timing, with the piece on and
with it switched off, the two alternating, ``--reps`` times each; the medians are compared.
The gain printed is the share of the time the piece saves: (off - on) / off. A piece stays
in the code only where that share is at least 10 % (issue 14). Times are printed, never
asserted.
"""

from __future__ import annotations

import argparse
import os
import shutil
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]
KEEP_AT = 0.10  # the share of the user's time a piece must save to stay
# piece -> (what it is, the environment that switches it off, the overrides that do)
PIECES = {
    "background_eval": (
        "epoch evaluations in a worker process",
        {},
        ["train.background_eval=false"],
    ),
    "writer": ("MLflow calls in a writer process", {"SCRATCHNN_OFF": "writer"}, []),
    "shared_writer": ("one writer for a sweep's jobs", {"SCRATCHNN_OFF": "shared_writer"}, []),
    "compose_cache": ("preflight composition cache", {"SCRATCHNN_OFF": "compose_cache"}, []),
    "fused": ("FusedSGD step", {"SCRATCHNN_OFF": "fused"}, []),
    "fused_accuracy": ("chunked fused accuracy", {"SCRATCHNN_OFF": "fused_accuracy"}, []),
}
BASELINE_OFF = "sql_bulk"  # off in both modes: bulk inserts use MLflow's private internals
COMMANDS = {
    "train": ["experiment=book"],
    "sweep": ["--multirun", "sweep=default", "launcher=joblib", "force=true"],
}


def template_store(folder: Path) -> Path:
    """An MLflow SQLite store with its schema made (creating one takes seconds)."""
    path = folder / "template.db"
    code = "import sys; from mlflow.tracking import MlflowClient; "
    code += "MlflowClient(f'sqlite:///{sys.argv[1]}').search_experiments()"
    subprocess.run([sys.executable, "-c", code, str(path)], check=True, capture_output=True)
    return path


def timed(target: str, env: dict[str, str], overrides: list[str], outputs: Path, store: Path,
          extra: list[str]) -> float:  # fmt: skip
    """Seconds of one ``python -m pipeline`` of ``target`` into a new outputs dir."""
    outputs.mkdir(parents=True)
    shutil.copyfile(store, outputs / "mlflow.db")
    off = ",".join(filter(None, [BASELINE_OFF, env.get("SCRATCHNN_OFF", "")]))
    full_env = {k: v for k, v in os.environ.items() if k != "MLFLOW_TRACKING_URI"}
    full_env |= {**env, "SCRATCHNN_OFF": off}
    args = [*COMMANDS[target], f"outputs_dir={outputs}", *overrides, *extra]
    start = time.perf_counter()
    done = subprocess.run([sys.executable, "-m", "pipeline", *args], cwd=ROOT, env=full_env,
                          capture_output=True, text=True)  # fmt: skip
    seconds = time.perf_counter() - start
    if done.returncode != 0:
        raise SystemExit(f"{' '.join(args)} failed:\n{done.stderr[-3000:]}")
    return seconds


def measure(piece: str, target: str, reps: int, extra: list[str], tmp: Path) -> None:
    what, env, overrides = PIECES[piece]
    tmp.mkdir(parents=True)
    store = template_store(tmp)
    modes = {"on": ({}, []), "off": (env, overrides)}
    times: dict[str, list[float]] = {mode: [] for mode in modes}
    timed("train", {}, [], tmp / "warm-up", store, ["train.iters=100"])  # page and data cache
    for rep in range(reps):
        order = list(modes) if rep % 2 == 0 else list(modes)[::-1]
        for mode in order:
            outputs = tmp / f"{piece}-{target}-{mode}-{rep}"
            times[mode].append(timed(target, *modes[mode], outputs, store, extra))
            print(f"  rep {rep + 1}/{reps} {piece} {mode:3s} {times[mode][-1]:8.2f} s", flush=True)
    on, off = statistics.median(times["on"]), statistics.median(times["off"])
    gain = (off - on) / off
    verdict = "keep" if gain >= KEEP_AT else "remove"
    print(f"RESULT {piece} ({what}) on {target}, median of {reps}: on {on:.2f} s, off "
          f"{off:.2f} s: saves {100 * gain:+.1f} % -> {verdict} (>= {100 * KEEP_AT:.0f} %)",
          flush=True)  # fmt: skip


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("pieces", nargs="+", choices=sorted(PIECES))
    parser.add_argument("--target", choices=sorted(COMMANDS), default="train")
    parser.add_argument("--reps", type=int, default=3)
    parser.add_argument("--quick", action="store_true", help="sweep jobs of 1,000 iterations")
    args, extra = parser.parse_known_args()
    extra = (["train.iters=1000"] if args.quick and args.target == "sweep" else []) + extra
    with tempfile.TemporaryDirectory(prefix="bench-pieces-") as tmp:
        for piece in args.pieces:
            measure(piece, args.target, args.reps, extra, Path(tmp) / piece)


if __name__ == "__main__":
    main()
