"""A small synthetic stand-in for MNIST, generated from a seed, so most tests never need MNIST.

Each class has a sparse random "glyph" (about a third of the pixels lit). A sample is its
class glyph with random brightness, Gaussian noise and dropped pixels; dim pixels are set
to exactly 0 and every value is quantised to ``k / 255`` like real pixel data. The two-layer
sigmoid net of the book separates the classes well above chance within a few hundred SGD
iterations.
"""

from __future__ import annotations

import numpy as np

from pipeline.stages.data.split import content_digest

GLYPH_DENSITY = 0.35  # fraction of lit pixels in a class glyph
NOISE_STD = 0.25
DROPOUT = 0.3  # fraction of pixels zeroed per sample
DARK = 0.2  # values below this become exactly 0 (sparse background)


def make_synthetic(
    seed: int, *, n_train: int, n_test: int, n_features: int, n_classes: int, n_val: int = 0
) -> dict[str, tuple[np.ndarray, np.ndarray]]:
    """Generate a deterministic classification set of uint8 "pixels".

    Only ``numpy.random.default_rng(seed)`` is used (no global random state). The glyphs,
    the training, test and validation sets come from independent child generators, so no
    set changes when the size of another does.

    Parameters
    ----------
    seed : int
        Seed of the generator; the same arguments always give bitwise identical arrays.
    n_train, n_test, n_val : int
        Number of training / test / validation samples (classes balanced, shuffled).
    n_features : int
        Pixels per sample, D.
    n_classes : int
        Number of classes, C.

    Returns
    -------
    dict
        ``"train"``, ``"val"`` and ``"test"`` -> (pixels (n, D) uint8, labels (n,) int64 in
        ``0..C-1``).
    """
    glyph_rng, train_rng, test_rng, val_rng = np.random.default_rng(seed).spawn(4)
    glyphs = _glyphs(glyph_rng, n_classes, n_features)
    return {
        "train": _samples(train_rng, glyphs, n_train),
        "val": _samples(val_rng, glyphs, n_val),
        "test": _samples(test_rng, glyphs, n_test),
    }


def _glyphs(rng: np.random.Generator, n_classes: int, n_features: int) -> np.ndarray:
    """Class prototypes, shape (C, D), float64 in [0, 1], mostly zeros."""
    lit = rng.random((n_classes, n_features)) < GLYPH_DENSITY
    return np.where(lit, rng.uniform(0.6, 1.0, (n_classes, n_features)), 0.0)


def _samples(rng: np.random.Generator, glyphs: np.ndarray, n: int) -> tuple[np.ndarray, np.ndarray]:
    """``n`` noisy copies of the glyphs: pixels (n, D) uint8 and labels (n,) int64."""
    n_classes, n_features = glyphs.shape
    labels = rng.permutation(np.arange(n, dtype=np.int64) % n_classes)
    brightness = rng.uniform(0.7, 1.0, (n, 1))
    x = glyphs[labels] * brightness + rng.normal(0.0, NOISE_STD, (n, n_features))
    x[rng.random((n, n_features)) < DROPOUT] = 0.0
    x[x < DARK] = 0.0
    pixels = np.rint(np.clip(x, 0.0, 1.0) * 255).astype(np.uint8)
    return pixels, labels


def working_bytes(n: int, n_features: int) -> int:
    """The most memory ``_samples`` holds at once for ``n`` samples: three float64 (n, D)
    arrays (the noisy copies, the noise or the dropout draws, and a temporary)."""
    return 3 * n * n_features * 8


def synthetic_digest(splits: dict[str, tuple[np.ndarray, np.ndarray]]) -> str:
    """Hex sha256 identifying a generated set (``make_synthetic``'s ``splits``): the training
    and test arrays, then the validation arrays when there are any."""
    arrays = [*splits["train"], *splits["test"], *(splits["val"] if len(splits["val"][0]) else ())]
    return content_digest(*arrays, prefix=b"synthetic")
