"""Benchmark of what each feature of a run costs the book run (the gradient check's goal:
under 2 %).

Run: ``python tests/benchmarks/bench_features.py [FEATURE ...] [--reps N] [--quick]``

(a) The gradient check itself, in this process: ``check_gradients`` on the book's net
    (784-50-10) and ``train.grad_check_rows`` MNIST rows, twice (at initialisation and after
    training, as a run does), median of 20, as a share of the book run's wall time in (b).
(b) What a user times: ``python -m pipeline experiment=book`` with the feature on and
    switched off by its config key, each in a fresh process on a copy of a store made before
    timing, alternating, median of N. A 2 % difference is within the noise of one
    10-second run, so (a) is the gradient check's figure to read.
Times are printed, never asserted.
"""

from __future__ import annotations

import argparse
import statistics
import tempfile
import time
from pathlib import Path

from omegaconf import OmegaConf
from timing import template_store, timed_pipeline

from pipeline.config import compute_dtype, project_config
from pipeline.stages.data import load_data
from pipeline.stages.gradient_check import check_gradients
from pipeline.stages.steps import BACKPROP
from pipeline.stages.train import make_network
from scratchnn.functions import labels_of

BOOK = ["experiment=book", "progress=none"]
GOAL = 0.02  # of the book run: the gradient check's budget
# feature -> (what it is, the override that switches it off)
FEATURES = {
    "grad_check": ("the gradient check, twice a run", "train.grad_check=false"),
    "model": ("model/: the network as an MLflow model", "tracking.log_model=false"),
    "figures": ("every figure of the run", "tracking.log_figures=false"),
}


def check_seconds(repeats: int = 20) -> float:
    """Median seconds of one gradient check at the book's scale."""
    cfg = OmegaConf.merge(project_config(), {"model": {"hidden_size": 50}})
    data = load_data(cfg.data, compute_dtype(cfg), cfg.seed)
    net, rows = make_network(data, cfg.model, cfg.seed), cfg.train.grad_check_rows
    x, labels = data.x_train[:rows], labels_of(data.t_train[:rows])
    times = []
    for _ in range(repeats):
        start = time.perf_counter()
        check_gradients(net, x, labels, cfg.train.h, BACKPROP[cfg.train.impl])
        times.append(time.perf_counter() - start)
    return statistics.median(times)


def measure(feature: str, reps: int, tmp: Path, store: Path) -> float:
    """Median seconds of the book run with ``feature`` switched off; prints on vs off."""
    what, off_override = FEATURES[feature]
    modes = {"on": [], "off": [off_override]}
    times: dict[str, list[float]] = {mode: [] for mode in modes}
    for rep in range(reps):
        for mode in list(modes) if rep % 2 == 0 else list(modes)[::-1]:
            outputs = tmp / f"{feature}-{mode}-{rep}"
            times[mode].append(timed_pipeline([*BOOK, *modes[mode]], outputs, store))
            print(f"  rep {rep + 1}/{reps} {feature} {mode:3s} {times[mode][-1]:7.2f} s")
    on, off = statistics.median(times["on"]), statistics.median(times["off"])
    print(f"(b) {feature} ({what}), median of {reps}: on {on:.2f} s, off {off:.2f} s: costs "
          f"{on - off:+.2f} s = {100 * (on - off) / off:+.1f} %", flush=True)  # fmt: skip
    return off


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("features", nargs="*", help=f"any of {sorted(FEATURES)}; default: all")
    parser.add_argument("--reps", type=int, default=3)
    parser.add_argument("--quick", action="store_true", help="1 repetition")
    args = parser.parse_args()
    unknown = sorted(set(args.features) - set(FEATURES))  # argparse's choices refuse an empty list
    if unknown:
        allowed = ", ".join(sorted(FEATURES))
        parser.error(f"unknown features: {', '.join(unknown)}; allowed: {allowed}")
    reps = 1 if args.quick else args.reps
    one_check = check_seconds()
    print(f"(a) one gradient check (784-50-10, book rows): {1000 * one_check:.1f} ms")
    with tempfile.TemporaryDirectory(prefix="bench-features-") as tmp:
        store = template_store(Path(tmp))
        timed_pipeline([*BOOK, "train.iters=100"], Path(tmp) / "warm-up", store)  # caches
        offs = [measure(name, reps, Path(tmp), store) for name in args.features or FEATURES]
    book = statistics.median(offs)
    print(f"(a) two gradient checks a run: {2000 * one_check:.1f} ms = "
          f"{100 * 2 * one_check / book:.2f} % of the book run ({book:.2f} s); goal < "
          f"{100 * GOAL:.0f} %")  # fmt: skip


if __name__ == "__main__":
    main()
