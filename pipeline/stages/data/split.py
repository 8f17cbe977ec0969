"""The validation split (training rows held out to judge hyperparameters on), and the subsets.

The book's chapter 6.5 tunes hyperparameters on validation data split off the training data
(its ``hyperparameter_optimization.py`` holds out 20 %), because tuning on the test data fits
the hyperparameters to the test data. ``data.val_size`` rows of the training file are held
out, chosen at random once and for all (``SPLIT_SEED``, not the run's ``seed``): every job on
the same data is judged on the same images. A smaller ``val_size`` holds out a subset of the
rows a larger one does; ``val_size=0`` holds out nothing and leaves the rows as they were.

``data.n_train`` and ``data.n_test`` take a subset (``data.subset``): ``random``, a fixed
random choice (``SUBSET_SEED``, not the run's ``seed``: every job of a sweep gets the same
rows), or ``first``, the first rows of the file (the only choice before ``data.subset``).
The first rows are a biased sample: the first half of MNIST's test file is harder than the
second (docs/model-selection.md measures it on the champion).
"""

from __future__ import annotations

import hashlib

import numpy as np

SPLIT_SEED = 65  # fixed (the book's section 6.5): the split never depends on a run's seed
SUBSET_SEED = 45  # fixed (the book's section 4.5), not SPLIT_SEED: a subset is not a split
SUBSETS = ("random", "first")  # data.subset: which rows n_train / n_test take


def fixed_choice(n_rows: int, n: int, seed: int) -> np.ndarray:
    """``n`` row numbers of ``0..n_rows-1``, a random choice fixed by ``seed``: the first
    ``n`` of one permutation (so a smaller ``n`` takes a subset of a larger one's rows), in
    increasing order: int64 (n,)."""
    return np.sort(np.random.default_rng(seed).permutation(n_rows)[:n])


def held_out(n_rows: int, val_size: int) -> np.ndarray:
    """The validation rows: ``val_size`` row numbers of ``0..n_rows-1`` chosen by
    ``SPLIT_SEED``, int64 (val_size,)."""
    return fixed_choice(n_rows, val_size, SPLIT_SEED)


def subset_rows(n_rows: int, n: int, subset: str) -> np.ndarray:
    """``n`` row numbers of ``0..n_rows-1`` in increasing order, int64 (n,): for ``random``
    chosen by ``SUBSET_SEED`` (``fixed_choice``), for ``first`` rows ``0..n-1``. ``n =
    n_rows`` is every row in file order either way."""
    if subset == "first" or n == n_rows:
        return np.arange(n)
    return fixed_choice(n_rows, n, SUBSET_SEED)


def split_rows(
    n_rows: int, val_size: int, n_train: int, subset: str
) -> tuple[np.ndarray, np.ndarray]:
    """(training rows, validation rows) of a file of ``n_rows``: the ``held_out`` rows, and
    ``n_train`` of the others in file order, chosen as ``subset_rows`` says (``first`` with
    ``val_size=0``: rows ``0..n_train-1``, what every run took before ``data.subset``).
    int64 (n_train,), (val_size,)."""
    validation = held_out(n_rows, val_size)
    kept = np.ones(n_rows, dtype=bool)
    kept[validation] = False
    left = np.flatnonzero(kept)
    return left[subset_rows(len(left), n_train, subset)], validation


def content_digest(*arrays: np.ndarray, prefix: bytes = b"") -> str:
    """Hex sha256 of ``prefix`` and ``arrays``' dtypes, shapes and bytes, in order: the same
    rows give the same digest, whichever config chose them."""
    digest = hashlib.sha256(prefix)
    for array in arrays:
        digest.update(f"|{array.dtype.str}{array.shape}|".encode())
        digest.update(np.ascontiguousarray(array).data)
    return digest.hexdigest()
