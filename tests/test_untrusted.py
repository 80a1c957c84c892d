"""Tests for featvslearn.datasets.untrusted: the restricted unpickler and the archive checks, on their own."""

from __future__ import annotations

import io
import os
import pickle
import sys
import tarfile
from pathlib import Path

import numpy as np
import pytest

from featvslearn.datasets.untrusted import (
    ForbiddenGlobalError,
    RestrictedUnpickler,
    check_member,
    member_path,
    safe_extract,
)
from featvslearn.errors import UserError
from tests.dataset_files import assert_one_line, file_member, make_tar

LIMIT = 1024


def restricted_loads(blob: bytes) -> object:
    return RestrictedUnpickler(io.BytesIO(blob), encoding="bytes").load()


def global_pickle(module: str, name: str) -> bytes:
    """A protocol-0 pickle that only names ``module.name`` (GLOBAL, then STOP)."""
    return f"c{module}\n{name}\n.".encode()


# --------------------------------------------------------------------------- pickles


@pytest.mark.parametrize(
    ("module", "name"),
    [
        ("os", "system"),
        ("posix", "system"),
        ("builtins", "eval"),
        ("__builtin__", "exec"),
        ("builtins", "getattr"),
        ("subprocess", "Popen"),
        ("numpy", "load"),
        ("numpy.core.multiarray", "scalar"),
        ("numpy.core.numeric", "_frombuffer"),
        ("antigravity", "geohash"),
    ],
)
def test_forbidden_globals_are_refused_before_import(module: str, name: str) -> None:
    imported_before = module in sys.modules
    with pytest.raises(ForbiddenGlobalError) as exc:
        restricted_loads(global_pickle(module, name))
    assert exc.value.qualified == f"{module}.{name}" and isinstance(exc.value, pickle.UnpicklingError)
    assert (module in sys.modules) == imported_before  # refused by name, never imported


class RunsShell:
    def __init__(self, marker: Path) -> None:
        self.marker = marker

    def __reduce__(self) -> tuple[object, tuple[str]]:
        return (os.system, (f"touch {self.marker}",))


@pytest.mark.parametrize("protocol", range(pickle.HIGHEST_PROTOCOL + 1))
def test_a_live_payload_is_refused_at_every_protocol(tmp_path: Path, protocol: int) -> None:
    marker = tmp_path / "pwned"
    blob = pickle.dumps({b"data": RunsShell(marker)}, protocol=protocol)
    with pytest.raises(ForbiddenGlobalError, match="system"):
        restricted_loads(blob)
    assert not marker.exists()
    pickle.loads(blob)  # the same bytes run the command under a plain unpickler
    assert marker.exists()


@pytest.mark.parametrize("protocol", range(5))
@pytest.mark.parametrize("dtype", ["uint8", "int64", ">u2", "float32", "bool"])
def test_numpy_arrays_are_rebuilt(protocol: int, dtype: str) -> None:
    array = np.arange(24).reshape(2, 3, 4).astype(dtype)
    batch = {b"data": array, b"labels": [1, 2], b"name": b"batch", "text": "x"}
    blob = pickle.dumps(batch, protocol=protocol)
    out = restricted_loads(blob)
    assert isinstance(out, dict) and out.keys() == batch.keys()
    plain = pickle.loads(blob, encoding="bytes")[b"data"]  # numpy itself stores '>u2' as native order
    assert out[b"data"].dtype == plain.dtype and np.array_equal(out[b"data"], array)
    assert out[b"labels"] == [1, 2] and out[b"name"] == b"batch" and out["text"] == "x"


@pytest.mark.parametrize("module", ["numpy.core.multiarray", "numpy._core.multiarray"])
def test_both_spellings_of_numpy_reconstruct_are_admitted(module: str) -> None:
    array = np.arange(6, dtype=np.uint8).reshape(2, 3)
    blob = pickle.dumps(array, protocol=2)
    for spelling in (b"numpy.core.multiarray", b"numpy._core.multiarray"):
        blob = blob.replace(b"c" + spelling + b"\n_reconstruct\n", b"c" + module.encode() + b"\n_reconstruct\n")
    assert module.encode() + b"\n_reconstruct" in blob
    assert np.array_equal(restricted_loads(blob), array)


def test_codecs_encode_is_admitted_for_latin1_only() -> None:
    assert restricted_loads(b"c_codecs\nencode\n(V\xe9\nVlatin1\ntR.") == b"\xe9"
    with pytest.raises(pickle.UnpicklingError, match="latin1") as exc:
        restricted_loads(b"c_codecs\nencode\n(Vx\nVrot13\ntR.")
    assert not isinstance(exc.value, ForbiddenGlobalError)
    with pytest.raises(ForbiddenGlobalError, match=r"_codecs\.decode"):
        restricted_loads(global_pickle("_codecs", "decode"))


# -------------------------------------------------------------------------- archives


def member(name: str, kind: bytes = tarfile.REGTYPE, size: int = 0, linkname: str = "") -> tarfile.TarInfo:
    info = tarfile.TarInfo(name)
    info.type, info.size, info.linkname = kind, size, linkname
    return info


def check(info: tarfile.TarInfo, target: Path) -> None:
    check_member(Path("a.tar.gz"), info, target, what="CIFAR-10", max_member_bytes=LIMIT)


@pytest.mark.parametrize(
    ("info", "fragment"),
    [
        (member("/etc/passwd"), "has an absolute path"),
        (member("\\windows\\evil"), "has an absolute path"),
        (member("C:/evil"), "has an absolute path"),
        (member("../evil"), "climbs out with '..'"),
        (member("data/../../evil"), "climbs out with '..'"),
        (member("data\\..\\..\\evil"), "climbs out with '..'"),
        (member("data/link", tarfile.SYMTYPE, linkname="/etc/passwd"), "is a link or device"),
        (member("data/link", tarfile.SYMTYPE, linkname="inside"), "is a link or device"),
        (member("data/hard", tarfile.LNKTYPE, linkname="data/file"), "is a link or device"),
        (member("data/tty", tarfile.CHRTYPE), "is a link or device"),
        (member("data/disk", tarfile.BLKTYPE), "is a link or device"),
        (member("data/pipe", tarfile.FIFOTYPE), "is a link or device"),
        (member("data/huge", size=LIMIT + 1), "is implausibly large"),
    ],
    ids=lambda v: v.name if isinstance(v, tarfile.TarInfo) else None,
)
def test_hostile_members_are_refused(tmp_path: Path, info: tarfile.TarInfo, fragment: str) -> None:
    with pytest.raises(UserError) as exc:
        check(info, tmp_path)
    message = assert_one_line(exc)
    assert message.startswith(f"refusing to extract a.tar.gz: member {info.name!r}") and fragment in message
    assert message.endswith("delete the archive and download the genuine CIFAR-10 again")


def test_a_member_through_a_link_already_in_the_target_is_refused(tmp_path: Path) -> None:
    target, outside = tmp_path / "target", tmp_path / "outside"
    target.mkdir()
    outside.mkdir()
    (target / "data").symlink_to(outside, target_is_directory=True)
    with pytest.raises(UserError, match="would land outside"):
        check(member("data/file"), target)


def test_plain_files_and_folders_inside_are_accepted(tmp_path: Path) -> None:
    for info in (member("data"), member("data/", tarfile.DIRTYPE), member("./data/file", size=LIMIT)):
        check(info, tmp_path)
    assert member_path(member(".\\data\\file")) == "data/file" and member_path(member("./data/f")) == "data/f"


def write_archive(path: Path, *extra: tuple[tarfile.TarInfo, bytes | None]) -> None:
    make_tar(
        path,
        [
            (member("data", tarfile.DIRTYPE), None),
            file_member("data/wanted", b"keep me"),
            file_member("./data/also", b"and me"),
            *extra,
            file_member("data/unwanted", b"ignore me"),
            file_member("top.txt", b"ignore me too"),
        ],
    )


def tree(root: Path) -> list[str]:
    return sorted(p.relative_to(root).as_posix() for p in root.rglob("*"))


def test_safe_extract_writes_only_the_wanted_files_into_the_target(tmp_path: Path) -> None:
    archive, target = tmp_path / "a.tar.gz", tmp_path / "target"
    write_archive(archive)
    target.mkdir()
    safe_extract(archive, target, frozenset({"data/wanted", "data/also"}), what="X", max_member_bytes=LIMIT)
    assert tree(target) == ["data", "data/also", "data/wanted"]
    assert (target / "data" / "wanted").read_bytes() == b"keep me"
    assert tree(tmp_path) == ["a.tar.gz", "target", "target/data", "target/data/also", "target/data/wanted"]


@pytest.mark.parametrize(
    "evil",
    [
        file_member("../escaped", b"evil"),
        (member("data/link", tarfile.SYMTYPE, linkname="/etc/passwd"), None),
        (member("data/hard", tarfile.LNKTYPE, linkname="data/wanted"), None),
        (member("data/tty", tarfile.CHRTYPE), None),
    ],
    ids=["dotdot", "symlink", "hardlink", "device"],
)
def test_safe_extract_refuses_the_whole_archive_before_writing(
    tmp_path: Path, evil: tuple[tarfile.TarInfo, bytes | None]
) -> None:
    archive, target = tmp_path / "a.tar.gz", tmp_path / "target"
    write_archive(archive, evil)
    target.mkdir()
    with pytest.raises(UserError, match="refusing to extract"):
        safe_extract(archive, target, frozenset({"data/wanted", "data/also"}), what="X", max_member_bytes=LIMIT)
    assert tree(tmp_path) == ["a.tar.gz", "target"]  # not even the genuine members came out


def test_safe_extract_reports_a_corrupt_archive(tmp_path: Path) -> None:
    archive = tmp_path / "a.tar.gz"
    write_archive(archive)
    archive.write_bytes(archive.read_bytes()[:40])
    (tmp_path / "target").mkdir()
    with pytest.raises(UserError) as exc:
        safe_extract(archive, tmp_path / "target", frozenset({"data/wanted"}), what="X", max_member_bytes=LIMIT)
    message = assert_one_line(exc)
    assert "is corrupt or truncated" in message and message.endswith(f"delete {archive} and download it again")
