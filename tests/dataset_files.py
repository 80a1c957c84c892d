"""Small datasets written in their real on-disk formats, and checks of what loads from them.

Shared by the ``test_datasets_*.py`` files: idx files (gzipped or not), CIFAR-10 pickled
batches and their ``tar.gz`` archive.
"""

from __future__ import annotations

import gzip
import io
import pickle
import struct
import tarfile
from pathlib import Path
from typing import Any

import numpy as np
import pytest

from featvslearn.datasets import Split
from featvslearn.errors import UserError

IDX_NAMES = (
    "train-images-idx3-ubyte.gz",
    "train-labels-idx1-ubyte.gz",
    "t10k-images-idx3-ubyte.gz",
    "t10k-labels-idx1-ubyte.gz",
)
#: Class names written into batches.meta (differ from the official ones on purpose).
NAMES = ["plane", "car", "bird", "cat", "deer", "dog", "frog", "horse", "ship", "truck"]


def assert_one_line(exc: pytest.ExceptionInfo[UserError]) -> str:
    """The UserError's message, after checking it is a non-empty single line."""
    message = str(exc.value)
    assert message and "\n" not in message
    return message


def assert_user_error(result: Any, *fragments: str) -> None:
    """A CLI result (CliRunner's) with exit code 2 and one error line on stderr, last (after any progress
    bars), naming the problem with every one of ``fragments``; no traceback."""
    assert result.exit_code == 2, result.output
    assert "Traceback" not in result.output
    lines = [line for line in result.stderr.splitlines() if line.strip()]
    errors = [line for line in lines if line.startswith("error:")]
    assert len(errors) == 1 and lines[-1] == errors[0], result.stderr
    for fragment in fragments:
        assert fragment in errors[0], errors[0]


# ------------------------------------------------------------------------- idx files


def idx_bytes(array: np.ndarray, magic: int) -> bytes:
    """``array`` as an idx file: big-endian magic, one big-endian size per dimension, bytes."""
    header = struct.pack(">I", magic) + b"".join(struct.pack(">I", d) for d in array.shape)
    return header + np.ascontiguousarray(array, dtype=np.uint8).tobytes()


def write_idx_set(
    folder: Path, n_train: int = 20, n_test: int = 10, seed: int = 0, gz: bool = True
) -> dict[str, np.ndarray]:
    """Write the four idx files of random 28x28 images and labels 0-9; return the arrays by file stem."""
    rng = np.random.default_rng(seed)
    arrays = {
        "train-images": rng.integers(0, 256, (n_train, 28, 28), dtype=np.uint8),
        "train-labels": rng.integers(0, 10, n_train, dtype=np.uint8),
        "t10k-images": rng.integers(0, 256, (n_test, 28, 28), dtype=np.uint8),
        "t10k-labels": rng.integers(0, 10, n_test, dtype=np.uint8),
    }
    folder.mkdir(parents=True, exist_ok=True)
    for key, array in arrays.items():
        kind, magic = ("idx3", 0x803) if key.endswith("images") else ("idx1", 0x801)
        payload = idx_bytes(array, magic)
        name = f"{key}-{kind}-ubyte"
        if gz:
            with gzip.open(folder / f"{name}.gz", "wb") as fh:
                fh.write(payload)
        else:
            (folder / name).write_bytes(payload)
    return arrays


def check_idx_roundtrip(split: Split, arrays: dict[str, np.ndarray]) -> None:
    """The split holds exactly the arrays :func:`write_idx_set` wrote (20 train, 10 test)."""
    assert split.train.images.shape == (20, 28, 28, 1)
    assert split.test.images.shape == (10, 28, 28, 1)
    assert np.array_equal(split.train.images[..., 0], arrays["train-images"])
    assert np.array_equal(split.test.images[..., 0], arrays["t10k-images"])
    assert np.array_equal(split.train.labels, arrays["train-labels"].astype(np.int64))
    assert np.array_equal(split.test.labels, arrays["t10k-labels"].astype(np.int64))
    assert split.train.labels.dtype == np.int64 and split.train.images.flags.c_contiguous


# -------------------------------------------------------------------------- CIFAR-10


def cifar_arrays(n: int, seed: int) -> tuple[np.ndarray, list[int]]:
    """``n`` random ``(32, 32, 3)`` uint8 images and labels 0-9."""
    rng = np.random.default_rng(seed)
    return rng.integers(0, 256, (n, 32, 32, 3), dtype=np.uint8), rng.integers(0, 10, n).tolist()


def cifar_batch_bytes(images: np.ndarray, labels: list[int], protocol: int, str_keys: bool) -> bytes:
    """One pickled batch as CIFAR-10 stores it: rows of 3072 bytes, channel planes R, G, B."""
    data_rows = images.transpose(0, 3, 1, 2).reshape(len(images), 3072)
    batch = {
        b"batch_label": b"training batch",
        b"labels": labels,
        b"data": np.ascontiguousarray(data_rows),
        b"filenames": [f"img_{i}.png".encode() for i in range(len(images))],
    }
    if str_keys:
        batch = {k.decode(): v for k, v in batch.items()}
    return pickle.dumps(batch, protocol=protocol)


def write_cifar_folder(
    folder: Path, protocol: int = 2, str_keys: bool = False, n: int = 4
) -> tuple[np.ndarray, np.ndarray, np.ndarray, np.ndarray]:
    """Write a ``cifar-10-batches-py`` folder (``n`` images per train batch, ``n + 1`` test).

    Returns train images, train labels, test images, test labels as they should load.
    """
    folder.mkdir(parents=True, exist_ok=True)
    train_x, train_y = [], []
    for i in range(1, 6):
        x, y = cifar_arrays(n, seed=i)
        (folder / f"data_batch_{i}").write_bytes(cifar_batch_bytes(x, y, protocol, str_keys))
        train_x.append(x)
        train_y += y
    test_x, test_y = cifar_arrays(n + 1, seed=99)
    (folder / "test_batch").write_bytes(cifar_batch_bytes(test_x, test_y, protocol, str_keys))
    meta = {b"label_names": [s.encode() for s in NAMES], b"num_vis": 3072}
    (folder / "batches.meta").write_bytes(pickle.dumps(meta, protocol=protocol))
    return np.concatenate(train_x), np.array(train_y), test_x, np.array(test_y)


def check_cifar(split: Split, expected: tuple[np.ndarray, ...], n: int = 4) -> None:
    """The split holds exactly what :func:`write_cifar_folder` wrote."""
    train_x, train_y, test_x, test_y = expected
    assert split.train.images.shape == (5 * n, 32, 32, 3)
    assert split.test.images.shape == (n + 1, 32, 32, 3)
    assert np.array_equal(split.train.images, train_x)  # HWC, channel order preserved
    assert np.array_equal(split.test.images, test_x)
    assert np.array_equal(split.train.labels, train_y) and split.train.labels.dtype == np.int64
    assert np.array_equal(split.test.labels, test_y)
    assert split.train.class_names == tuple(NAMES) and split.train.hflip_ok is True
    assert split.train.images.flags.c_contiguous and split.train.name == "cifar10"


# -------------------------------------------------------------------------- archives


def make_tar(path: Path, entries: list[tuple[tarfile.TarInfo, bytes | None]]) -> None:
    """Write a ``tar.gz`` of the given members, in order."""
    with tarfile.open(path, "w:gz") as tar:
        for info, payload in entries:
            tar.addfile(info, io.BytesIO(payload) if payload is not None else None)


def file_member(name: str, payload: bytes) -> tuple[tarfile.TarInfo, bytes]:
    """A plain-file archive member."""
    info = tarfile.TarInfo(name)
    info.size = len(payload)
    return info, payload


def genuine_members(folder: Path) -> list[tuple[tarfile.TarInfo, bytes | None]]:
    """The members of a genuine CIFAR-10 archive holding the files of ``folder``."""
    top = tarfile.TarInfo("cifar-10-batches-py")
    top.type = tarfile.DIRTYPE
    entries: list[tuple[tarfile.TarInfo, bytes | None]] = [(top, None)]
    for file in sorted(folder.iterdir()):
        entries.append(file_member(f"cifar-10-batches-py/{file.name}", file.read_bytes()))
    entries.append(file_member("cifar-10-batches-py/readme.html", b"<html></html>"))
    return entries
