"""Tests for featvslearn.datasets.cifar: CIFAR-10 batches and archives written here in the real formats."""

from __future__ import annotations

import io
import os
import pickle
import re
import struct
import tarfile
from pathlib import Path

import numpy as np
import pytest

from featvslearn.datasets import load_split
from featvslearn.datasets.cifar import cifar_sources, read_batch
from featvslearn.errors import UserError
from tests.dataset_files import (
    NAMES,
    assert_one_line,
    check_cifar,
    cifar_arrays,
    cifar_batch_bytes,
    file_member,
    genuine_members,
    make_tar,
    write_cifar_folder,
)

pytestmark = pytest.mark.usefixtures("isolated_cache")


# ---------------------------------------------------------------------- batch folders


def test_read_batch_is_hwc_uint8_with_int64_labels(tmp_path: Path) -> None:
    images, labels = cifar_arrays(3, seed=0)
    (tmp_path / "batch").write_bytes(cifar_batch_bytes(images, labels, 2, False))
    x, y = read_batch(tmp_path / "batch")
    assert x.shape == (3, 32, 32, 3) and x.dtype == np.uint8 and x.flags.c_contiguous
    assert np.array_equal(x, images) and y.dtype == np.int64 and y.tolist() == labels


@pytest.mark.parametrize(("protocol", "str_keys"), [(2, False), (pickle.DEFAULT_PROTOCOL, False), (2, True)])
def test_cifar_folder(tmp_path: Path, protocol: int, str_keys: bool) -> None:
    expected = write_cifar_folder(tmp_path / "cifar-10-batches-py", protocol, str_keys)
    check_cifar(load_split("cifar10", data_dir=tmp_path, download=False), expected)


def test_cifar_channel_order(tmp_path: Path) -> None:
    folder = tmp_path / "cifar-10-batches-py"
    write_cifar_folder(folder)
    red = np.zeros((1, 32, 32, 3), np.uint8)
    red[..., 0] = 200
    (folder / "test_batch").write_bytes(cifar_batch_bytes(red, [3], 2, False))
    split = load_split("cifar10", data_dir=tmp_path, download=False)
    assert split.test.images[0, 5, 7].tolist() == [200, 0, 0]


class Py2Pickler(pickle._Pickler):  # type: ignore[name-defined]
    """Writes str and bytes as Python 2's str opcodes, as the original batches do."""

    dispatch = pickle._Pickler.dispatch.copy()  # type: ignore[attr-defined]

    def save_bytes(self, obj: bytes) -> None:
        n = len(obj)
        if n < 256:
            self.write(pickle.SHORT_BINSTRING + bytes([n]) + obj)
        else:
            self.write(pickle.BINSTRING + struct.pack("<i", n) + obj)
        self.memoize(obj)

    def save_str(self, obj: str) -> None:
        self.save_bytes(obj.encode("latin1"))

    dispatch[bytes] = save_bytes
    dispatch[str] = save_str


def py2_dumps(obj: object) -> bytes:
    buf = io.BytesIO()
    Py2Pickler(buf, protocol=2).dump(obj)
    legacy = buf.getvalue().replace(b"cnumpy._core.multiarray\n", b"cnumpy.core.multiarray\n")
    return legacy


def test_cifar_python2_style_batches(tmp_path: Path) -> None:
    folder = tmp_path / "cifar-10-batches-py"
    expected = write_cifar_folder(folder)
    batch = pickle.loads((folder / "data_batch_2").read_bytes())
    legacy = py2_dumps({k.decode(): v for k, v in batch.items()})
    assert b"cnumpy.core.multiarray\n_reconstruct\n" in legacy
    (folder / "data_batch_2").write_bytes(legacy)
    (folder / "batches.meta").write_bytes(py2_dumps({"label_names": NAMES}))
    check_cifar(load_split("cifar10", data_dir=tmp_path, download=False), expected)


class SystemCall:
    def __init__(self, command: str) -> None:
        self.command = command

    def __reduce__(self) -> tuple[object, tuple[str]]:
        return (os.system, (self.command,))


class EvalCall:
    def __init__(self, code: str) -> None:
        self.code = code

    def __reduce__(self) -> tuple[object, tuple[str]]:
        import builtins

        return (builtins.eval, (self.code,))


@pytest.mark.parametrize("which", ["data_batch_3", "test_batch", "batches.meta"])
@pytest.mark.parametrize("protocol", [2, pickle.DEFAULT_PROTOCOL])
def test_cifar_hostile_pickle_refused(tmp_path: Path, which: str, protocol: int) -> None:
    folder = tmp_path / "cifar-10-batches-py"
    write_cifar_folder(folder)
    marker = tmp_path / "pwned"
    hostile = {b"data": SystemCall(f"touch {marker}"), b"labels": [0]}
    (folder / which).write_bytes(pickle.dumps(hostile, protocol=protocol))
    with pytest.raises(UserError) as exc:
        load_split("cifar10", data_dir=tmp_path, download=False)
    message = assert_one_line(exc)
    assert "not a genuine CIFAR-10 batch" in message and which in message
    assert "system" in message  # names the global it asked for (posix.system)
    assert not marker.exists()


def test_cifar_hostile_eval_refused(tmp_path: Path) -> None:
    folder = tmp_path / "cifar-10-batches-py"
    write_cifar_folder(folder)
    marker = tmp_path / "pwned"
    code = f"open({str(marker)!r}, 'w').close()"
    (folder / "data_batch_1").write_bytes(pickle.dumps([EvalCall(code)], protocol=2))
    with pytest.raises(UserError, match=r"asks for (__builtin__|builtins)\.eval"):
        load_split("cifar10", data_dir=tmp_path, download=False)
    assert not marker.exists()


def test_cifar_codecs_other_than_latin1_refused(tmp_path: Path) -> None:
    folder = tmp_path / "cifar-10-batches-py"
    write_cifar_folder(folder)
    # Handcrafted protocol-0 pickle: GLOBAL _codecs encode, args ("x", "rot13"), REDUCE.
    (folder / "data_batch_2").write_bytes(b"c_codecs\nencode\n(Vx\nVrot13\ntR.")
    with pytest.raises(UserError, match="data_batch_2"):
        load_split("cifar10", data_dir=tmp_path, download=False)


@pytest.mark.parametrize(
    "batch",
    [
        {b"data": np.zeros((2, 3072), np.float32), b"labels": [0, 1]},
        {b"data": np.zeros((2, 100), np.uint8), b"labels": [0, 1]},
        {b"data": np.zeros((2, 3072), np.uint8), b"labels": [0]},
        {b"data": np.zeros((2, 3072), np.uint8), b"labels": [0, 10]},
        {b"labels": [0, 1]},
        [1, 2, 3],
    ],
)
def test_cifar_invalid_batch(tmp_path: Path, batch: object) -> None:
    folder = tmp_path / "cifar-10-batches-py"
    write_cifar_folder(folder)
    (folder / "data_batch_4").write_bytes(pickle.dumps(batch, protocol=2))
    with pytest.raises(UserError) as exc:
        load_split("cifar10", data_dir=tmp_path, download=False)
    assert "data_batch_4" in assert_one_line(exc)


def test_cifar_truncated_batch(tmp_path: Path) -> None:
    folder = tmp_path / "cifar-10-batches-py"
    write_cifar_folder(folder)
    batch = folder / "data_batch_5"
    batch.write_bytes(batch.read_bytes()[:500])
    with pytest.raises(UserError, match="data_batch_5 is corrupt or truncated"):
        load_split("cifar10", data_dir=tmp_path, download=False)


def test_cifar_missing_meta_falls_back(tmp_path: Path) -> None:
    folder = tmp_path / "cifar-10-batches-py"
    write_cifar_folder(folder)
    (folder / "batches.meta").unlink()
    split = load_split("cifar10", data_dir=tmp_path, download=False)
    assert split.train.class_names[0] == "airplane" and split.train.num_classes == 10


def test_cifar_missing_without_download(tmp_path: Path) -> None:
    with pytest.raises(UserError) as exc:
        load_split("cifar10", data_dir=tmp_path, download=False)
    message = assert_one_line(exc)
    assert "cifar-10-batches-py/" in message and "cifar-10-python.tar.gz" in message
    assert "--data-dir" in message


# -------------------------------------------------------------------------- archives


def test_cifar_sources_order(tmp_path: Path, isolated_cache: Path) -> None:
    write_cifar_folder(tmp_path / "src")
    make_tar(isolated_cache / "cifar-10-python.tar.gz", genuine_members(tmp_path / "src"))
    write_cifar_folder(tmp_path / "data")  # the batches directly in data_dir
    assert cifar_sources(tmp_path / "data") == [
        ("folder", tmp_path / "data"),
        ("archive", isolated_cache / "cifar-10-python.tar.gz"),
    ]


def test_cifar_archive(tmp_path: Path) -> None:
    expected = write_cifar_folder(tmp_path / "src")
    data_dir = tmp_path / "data"
    data_dir.mkdir()
    make_tar(data_dir / "cifar-10-python.tar.gz", genuine_members(tmp_path / "src"))
    split = load_split("cifar10", data_dir=data_dir, download=False)
    check_cifar(split, expected)
    assert "extracted from" in split.train.source
    assert sorted(p.name for p in data_dir.iterdir()) == ["cifar-10-batches-py", "cifar-10-python.tar.gz"]
    check_cifar(load_split("cifar10", data_dir=data_dir, download=False), expected)


def test_cifar_archive_in_cache(tmp_path: Path, isolated_cache: Path) -> None:
    expected = write_cifar_folder(tmp_path / "src")
    make_tar(isolated_cache / "cifar-10-python.tar.gz", genuine_members(tmp_path / "src"))
    check_cifar(load_split("cifar10", download=False), expected)
    assert (isolated_cache / "cifar-10-batches-py" / "test_batch").is_file()


def test_cifar_archive_without_batches(tmp_path: Path) -> None:
    make_tar(tmp_path / "cifar-10-python.tar.gz", [file_member("cifar-10-batches-py/readme.html", b"<html>")])
    with pytest.raises(UserError, match=re.escape("lacks cifar-10-batches-py/ with data_batch_1..5")):
        load_split("cifar10", data_dir=tmp_path, download=False)
    assert sorted(p.name for p in tmp_path.iterdir()) == ["cifar-10-python.tar.gz"]  # temporary folder removed


def evil_archives(tmp_path: Path) -> list[tuple[str, tarfile.TarInfo, bytes | None]]:
    absolute = file_member(str(tmp_path / "abs_evil"), b"evil")[0]
    link = tarfile.TarInfo("cifar-10-batches-py/link")
    link.type, link.linkname = tarfile.SYMTYPE, "/etc/passwd"
    hard = tarfile.TarInfo("cifar-10-batches-py/hard")
    hard.type, hard.linkname = tarfile.LNKTYPE, "../../outside"
    device = tarfile.TarInfo("cifar-10-batches-py/dev")
    device.type = tarfile.CHRTYPE
    return [
        ("dotdot", file_member("../evil", b"evil")[0], b"evil"),
        ("nested-dotdot", file_member("cifar-10-batches-py/../../evil", b"evil")[0], b"evil"),
        ("absolute", absolute, b"evil"),
        ("symlink", link, None),
        ("hardlink", hard, None),
        ("device", device, None),
    ]


@pytest.mark.parametrize("kind", ["dotdot", "nested-dotdot", "absolute", "symlink", "hardlink", "device"])
def test_cifar_hostile_archive_refused(tmp_path: Path, kind: str) -> None:
    src = tmp_path / "src"
    write_cifar_folder(src)
    data_dir = tmp_path / "a" / "b"
    data_dir.mkdir(parents=True)
    evil = {k: (info, payload) for k, info, payload in evil_archives(tmp_path)}[kind]
    members = genuine_members(src)
    make_tar(data_dir / "cifar-10-python.tar.gz", [members[0], evil, *members[1:]])
    before = sorted(p.relative_to(tmp_path) for p in tmp_path.rglob("*"))
    with pytest.raises(UserError) as exc:
        load_split("cifar10", data_dir=data_dir, download=False)
    assert "refusing to extract" in assert_one_line(exc)
    after = sorted(p.relative_to(tmp_path) for p in tmp_path.rglob("*"))
    assert after == before  # nothing written anywhere, not even the genuine members
    assert not (tmp_path / "evil").exists() and not (tmp_path / "a" / "evil").exists()


def test_cifar_archive_unexpected_members_ignored(tmp_path: Path) -> None:
    expected = write_cifar_folder(tmp_path / "src")
    members = genuine_members(tmp_path / "src")
    members.append(file_member("cifar-10-batches-py/extra.sh", b"#!/bin/sh"))
    members.append(file_member("other.txt", b"hi"))
    data_dir = tmp_path / "data"
    data_dir.mkdir()
    make_tar(data_dir / "cifar-10-python.tar.gz", members)
    check_cifar(load_split("cifar10", data_dir=data_dir, download=False), expected)
    assert not (data_dir / "other.txt").exists()
    assert not (data_dir / "cifar-10-batches-py" / "extra.sh").exists()


def test_cifar_corrupt_archive(tmp_path: Path) -> None:
    (tmp_path / "cifar-10-python.tar.gz").write_bytes(b"\x1f\x8b\x08\x00garbage")
    with pytest.raises(UserError, match="corrupt or truncated"):
        load_split("cifar10", data_dir=tmp_path, download=False)
