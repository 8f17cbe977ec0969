"""File formats for the MNIST data stage: IDX (plain or gzip), CSV tables and atomic writes.

Nothing here knows about MNIST's sizes or checksums (see ``mnist_sources``), and
nothing here uses pickle.
"""

from __future__ import annotations

import gzip
import os
import struct
import tempfile
import zlib
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import BinaryIO

import numpy as np

# IDX type code (third magic byte) -> big-endian element type.
IDX_DTYPES = {0x08: ">u1", 0x09: ">i1", 0x0B: ">i2", 0x0C: ">i4", 0x0D: ">f4", 0x0E: ">f8"}
_CSV_ROWS_PER_CHUNK = 4096  # bounds the temporary index arrays to a few tens of MB


class IdxFormatError(ValueError):
    """A file is not a valid IDX file; the message names the file."""


@contextmanager
def atomic_write(path: str | os.PathLike[str]) -> Iterator[BinaryIO]:
    """Open a temporary file next to ``path``; rename it onto ``path`` only on success.

    An exception (or a crash) inside the block never leaves a file at ``path``; on an
    exception the temporary file is removed as well. Parent directories are created.
    """
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    fd, tmp = tempfile.mkstemp(dir=path.parent, prefix=f".{path.name}.", suffix=".tmp")
    try:
        with os.fdopen(fd, "wb") as fh:
            yield fh
            fh.flush()
            os.fsync(fh.fileno())
        os.chmod(tmp, 0o644)  # mkstemp creates 0600; make it an ordinary file
        os.replace(tmp, path)
    except BaseException:
        Path(tmp).unlink(missing_ok=True)
        raise


def parse_idx(data: bytes, name: str) -> np.ndarray:
    """Decode the bytes of an IDX file (gzip-compressed or not).

    Returns a new native-endian array of the shape stored in the header, e.g. ``(N, 28, 28)``
    uint8 for an ``idx3-ubyte`` image file or ``(N,)`` for an ``idx1-ubyte`` label file.
    Raises ``IdxFormatError`` naming ``name`` on bad gzip data, a bad magic number or a size
    that disagrees with the header (a truncated file).
    """
    if data[:2] == b"\x1f\x8b":
        try:
            data = gzip.decompress(data)
        except (OSError, EOFError, zlib.error) as exc:
            raise IdxFormatError(f"{name}: corrupt gzip data ({exc})") from None
    if len(data) < 4 or data[:2] != b"\0\0" or data[2] not in IDX_DTYPES or data[3] == 0:
        raise IdxFormatError(
            f"{name}: bad IDX magic number 0x{data[:4].hex() or 'none'}"
            " (expected 0x0000 + type code + ndim, e.g. 0x00000803 images, 0x00000801 labels)"
        )
    ndim, dtype = data[3], np.dtype(IDX_DTYPES[data[2]])
    header = 4 + 4 * ndim
    dims = struct.unpack(f">{ndim}I", data[4:header]) if len(data) >= header else None
    expected = header + int(np.prod(dims, dtype=np.int64)) * dtype.itemsize if dims else -1
    if len(data) != expected:
        raise IdxFormatError(
            f"{name}: size {len(data)} bytes does not match the IDX header "
            f"(dims {dims}, {expected} bytes expected); the file is truncated or corrupt"
        )
    return np.frombuffer(data, dtype, offset=header).reshape(dims).astype(dtype.newbyteorder("="))


def read_idx(path: str | os.PathLike[str]) -> np.ndarray:
    """Read an IDX file (``.gz`` or plain, detected from its content); see ``parse_idx``."""
    return parse_idx(Path(path).read_bytes(), str(path))


def parse_csv_uint8(data: bytes, n_cols: int, name: str) -> np.ndarray:
    """Parse a CSV of integers 0..255 (optional header line, LF or CRLF) without np.loadtxt.

    Returns an ``(n_rows, n_cols)`` uint8 array. Raises ``ValueError`` naming ``name`` when a
    row does not hold exactly ``n_cols`` values or a value is not an integer in 0..255.
    """
    if not data.endswith(b"\n"):
        data += b"\n"
    buf = np.frombuffer(data, np.uint8)
    if buf.size and not 48 <= buf[0] <= 57:  # a header line: skip it
        buf = buf[data.index(b"\n") + 1 :]
    row_starts = np.r_[0, np.flatnonzero(buf == 10)[:-1] + 1]
    cuts = np.r_[row_starts[::_CSV_ROWS_PER_CHUNK], buf.size]
    parts = [
        _parse_csv_rows(buf[lo:hi], n_cols, name)
        for lo, hi in zip(cuts[:-1], cuts[1:], strict=True)
    ]
    return np.concatenate(parts) if parts else np.empty((0, n_cols), np.uint8)


def _parse_csv_rows(chunk: np.ndarray, n_cols: int, name: str) -> np.ndarray:
    """Parse whole CSV rows (``chunk`` ends with a newline) into ``(rows, n_cols)`` uint8."""
    digit = (chunk >= 48) & (chunk <= 57)
    commas = chunk == 44
    if not np.all(digit | commas | (chunk == 10) | (chunk == 13)):
        raise ValueError(f"{name}: unexpected character (only digits, ',' and newlines allowed)")
    edges = np.diff(digit.view(np.int8), prepend=np.int8(0))
    starts, ends = np.flatnonzero(edges == 1), np.flatnonzero(edges == -1)
    n_rows = int(np.count_nonzero(chunk == 10))
    after = chunk[ends]  # the separator after each value
    if (
        starts.size != n_rows * n_cols
        or np.count_nonzero(commas) != n_rows * (n_cols - 1)
        or not np.all(after.reshape(n_rows, n_cols)[:, :-1] == 44)
    ):
        raise ValueError(f"{name}: malformed CSV, expected {n_cols} values in every row")
    lengths = ends - starts
    if lengths.max(initial=0) > 3:
        raise ValueError(f"{name}: value out of range 0..255")
    values = (chunk[starts] - 48).astype(np.uint16)
    for offset in (1, 2):
        more = lengths > offset
        values[more] = values[more] * 10 + (chunk[starts[more] + offset] - 48)
    if values.max(initial=0) > 255:
        raise ValueError(f"{name}: value out of range 0..255")
    return values.astype(np.uint8).reshape(n_rows, n_cols)
