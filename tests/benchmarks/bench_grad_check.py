"""Benchmark of the gradient check's share of the book run (goal: under 2 %).

Run: ``python tests/benchmarks/bench_grad_check.py [--reps N] [--quick]``

(a) The check itself, in this process: ``check_gradients`` on the book's net (784-50-10) and
    ``train.grad_check_rows`` MNIST rows, twice (at initialisation and after training, as a
    run does), median of 20, as a share of the book run's wall time measured in (b).
(b) What a user times: ``python -m pipeline experiment=book`` with ``train.grad_check`` on
    and off, each in a fresh process on a copy of a store made before timing, alternating,
    median of N. A 2 % difference is within the noise of one 10-second run, so (a) is the
    figure to read; (b) shows nothing else costs more.
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

from pipeline.config import project_config
from pipeline.stages.data import load_data
from pipeline.stages.gradient_check import check_gradients
from pipeline.stages.train import make_network
from scratchnn.functions import labels_of

BOOK = ["experiment=book", "progress=none"]
GOAL = 0.02


def check_seconds(repeats: int = 20) -> float:
    """Median seconds of one gradient check at the book's scale."""
    cfg = OmegaConf.merge(project_config(), {"model": {"hidden_size": 50}})
    data = load_data(cfg.data, "float32", cfg.seed)
    net, rows = make_network(data, cfg.model, cfg.seed), cfg.train.grad_check_rows
    x, labels = data.x_train[:rows], labels_of(data.t_train[:rows])
    times = []
    for _ in range(repeats):
        start = time.perf_counter()
        check_gradients(net, x, labels, cfg.train.h)
        times.append(time.perf_counter() - start)
    return statistics.median(times)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--reps", type=int, default=3)
    parser.add_argument("--quick", action="store_true", help="1 repetition")
    args = parser.parse_args()
    reps = 1 if args.quick else args.reps
    one_check = check_seconds()
    print(f"(a) one gradient check (784-50-10, book rows): {1000 * one_check:.1f} ms")
    with tempfile.TemporaryDirectory(prefix="bench-grad-check-") as tmp:
        store = template_store(Path(tmp))
        modes = {"on": [], "off": ["train.grad_check=false"]}
        times: dict[str, list[float]] = {mode: [] for mode in modes}
        for rep in range(reps):
            for mode in list(modes) if rep % 2 == 0 else list(modes)[::-1]:
                outputs = Path(tmp) / f"{mode}-{rep}"
                times[mode].append(timed_pipeline([*BOOK, *modes[mode]], outputs, store))
                print(f"  rep {rep + 1}/{reps} check {mode:3s} {times[mode][-1]:7.2f} s")
    on, off = statistics.median(times["on"]), statistics.median(times["off"])
    share = 2 * one_check / off
    print(f"(a) two checks per run: {2000 * one_check:.1f} ms = {100 * share:.2f} % of the "
          f"book run ({off:.2f} s); goal < {100 * GOAL:.0f} %")  # fmt: skip
    print(f"(b) book run, median of {reps}: on {on:.2f} s, off {off:.2f} s: "
          f"{100 * (on - off) / off:+.1f} %")  # fmt: skip


if __name__ == "__main__":
    main()
