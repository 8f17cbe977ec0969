"""What a data config asks for, checked before anything loads: the datasets and their sizes
(``DATASETS``, the one table of them), the float types, the rows of each split (``shape``) and
the memory they take.

``check`` refuses, naming the key, what ``load_data`` could not do; the config's validation
calls it before any job runs.
"""

from __future__ import annotations

import os
from numbers import Integral
from typing import Any, NamedTuple

import numpy as np

from pipeline.stages.data import mnist_sources, synthetic
from pipeline.stages.data.mnist_sources import N_CLASSES
from pipeline.stages.data.split import SUBSETS

DTYPES = ("float32", "float64")
# name -> (training rows, before the validation split; test rows) the dataset has; None: any
# number (it is generated)
DATASETS: dict[str, tuple[int | None, int | None]] = {
    "mnist": tuple(mnist_sources.SPECS[f"{split}_images"].shape[0] for split in ("train", "test")),
    "synthetic": (None, None),
}


class DataError(ValueError):
    """A data config the stage cannot load; the message is one line naming the key."""


class Sizes(NamedTuple):
    """The rows of each split, the features D and the classes C of a data config."""

    train: int
    val: int
    test: int
    features: int
    classes: int


def check(cfg: Any, dtype: str) -> None:
    """Refuse what ``load_data(cfg, dtype, ...)`` could not do, naming the key: an unknown
    dataset or dtype, a validation split or subset larger than the data, or arrays larger
    than free memory.

    ``cfg`` has ``name``, ``n_train``, ``n_test``, ``val_size``, ``one_hot``, ``data_dir``,
    ``subset`` (MNIST only), ``n_features`` and ``n_classes`` (the synthetic set only) as
    attributes.
    """
    if cfg.name not in DATASETS:
        raise DataError(f"data.name={cfg.name!r} is not allowed; allowed: {', '.join(DATASETS)}")
    if dtype not in DTYPES:
        raise DataError(f"data.dtype={dtype!r} is not allowed; allowed: {', '.join(DTYPES)}")
    pool, n_test = DATASETS[cfg.name]
    val_size = _val_size(cfg.val_size, pool)
    held = f" ({val_size} of the {pool} rows are held out: data.val_size)" if val_size else ""
    _count("n_train", cfg.n_train, pool and pool - val_size, held)
    _count("n_test", cfg.n_test, n_test)
    if cfg.name == "mnist" and cfg.subset not in SUBSETS:  # synthetic: generated, no subset
        raise DataError(f"data.subset={cfg.subset!r} is not allowed; allowed: {', '.join(SUBSETS)}")
    if cfg.name == "synthetic":
        if cfg.seed is not None and (not _is_integer(cfg.seed) or cfg.seed < 0):
            raise DataError(
                f"data.seed={cfg.seed!r} is not allowed; allowed: an integer >= 0 or null"
            )
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


def _is_integer(value: Any) -> bool:
    return isinstance(value, Integral) and not isinstance(value, bool)


def _val_size(value: Any, pool: int | None) -> int:
    """``data.val_size`` as rows to hold out: 0.. the training rows less one (any number for
    a generated set)."""
    if not _is_integer(value) or not 0 <= value <= (pool - 1 if pool else value):
        allowed = f"0..{pool - 1} (it must leave rows to train on)" if pool else "an integer >= 0"
        raise DataError(f"data.val_size={value!r} is not allowed; allowed: {allowed}")
    return int(value)


def _count(key: str, value: Any, limit: int | None, why: str = "") -> int:
    """``data.<key>`` as an integer in 1..``limit``; None (all of them) where there is a limit."""
    if value is None and limit is not None:
        return limit
    allowed = f"1..{limit} or null{why}" if limit else "an integer >= 1"
    if not _is_integer(value) or not 1 <= value <= (limit or value):
        raise DataError(f"data.{key}={value!r} is not allowed; allowed: {allowed}")
    return int(value)


def shape(cfg: Any) -> Sizes:
    """The ``Sizes`` of the dataset ``cfg`` describes: its training rows are those not held
    out for validation (all of them when ``n_train`` is null)."""
    pool, all_test = DATASETS[cfg.name]
    n_train = cfg.n_train or pool - cfg.val_size
    n_test = cfg.n_test or all_test
    if cfg.name == "mnist":
        pixels = int(np.prod(mnist_sources.SPECS["train_images"].shape[1:]))
        return Sizes(n_train, cfg.val_size, n_test, pixels, N_CLASSES)
    return Sizes(n_train, cfg.val_size, n_test, cfg.n_features, cfg.n_classes)


def bytes_needed(cfg: Any, dtype: str) -> int:
    """Memory the arrays of ``load_data`` take at their peak: the inputs in ``dtype`` with
    their labels, and the uint8 pixels they are made from (the synthetic generator's float64
    working arrays too)."""
    sizes = shape(cfg)
    rows, itemsize = sizes.train + sizes.val + sizes.test, np.dtype(dtype).itemsize
    labels = rows * (sizes.classes * itemsize if cfg.one_hot else 8)
    largest = max(sizes.train, sizes.val, sizes.test)
    working = synthetic.working_bytes(largest, sizes.features) if cfg.name == "synthetic" else 0
    return rows * sizes.features * (itemsize + 1) + labels + working


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
