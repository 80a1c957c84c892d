"""Tests for featvslearn.data, on small files written here in the real formats."""

from __future__ import annotations

import gzip
import io
import os
import pickle
import re
import struct
import tarfile
import types
from pathlib import Path

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st
from PIL import Image

from featvslearn import data
from featvslearn.data import (
    DATASET_NAMES,
    Dataset,
    dataset_availability,
    default_cache_dir,
    load_split,
    subsample,
)
from featvslearn.errors import UserError

REAL_SYSTEM_DIRS = data.SYSTEM_DIRS
REAL_FASHION = Path("/usr/share/datasets/fashion-mnist")
IDX_NAMES = (
    "train-images-idx3-ubyte.gz",
    "train-labels-idx1-ubyte.gz",
    "t10k-images-idx3-ubyte.gz",
    "t10k-labels-idx1-ubyte.gz",
)


@pytest.fixture(autouse=True)
def isolated(
    tmp_path_factory: pytest.TempPathFactory, monkeypatch: pytest.MonkeyPatch
) -> Path:
    """An empty cache and no system copies, so only what a test writes is found."""
    cache = tmp_path_factory.mktemp("cache")
    monkeypatch.setenv("FEATVSLEARN_CACHE", str(cache))
    monkeypatch.setattr(data, "SYSTEM_DIRS", {})
    return cache


def assert_one_line(exc: pytest.ExceptionInfo[UserError]) -> str:
    message = str(exc.value)
    assert message and "\n" not in message
    return message


# ------------------------------------------------------------------- default_cache_dir


def test_default_cache_dir_precedence(
    monkeypatch: pytest.MonkeyPatch, tmp_path: Path
) -> None:
    monkeypatch.setenv("FEATVSLEARN_CACHE", str(tmp_path / "a"))
    monkeypatch.setenv("XDG_CACHE_HOME", str(tmp_path / "x"))
    assert default_cache_dir() == tmp_path / "a"
    monkeypatch.delenv("FEATVSLEARN_CACHE")
    assert default_cache_dir() == tmp_path / "x" / "featvslearn"
    monkeypatch.delenv("XDG_CACHE_HOME")
    monkeypatch.setenv("HOME", str(tmp_path / "home"))
    assert default_cache_dir() == tmp_path / "home" / ".cache" / "featvslearn"


# ---------------------------------------------------------------------------- digits


def test_digits_split_shapes_and_values() -> None:
    split = load_split("digits", seed=0)
    train, test = split.train, split.test
    assert len(train) + len(test) == 1797
    assert len(test) == int(np.ceil(0.25 * 1797))
    for ds in (train, test):
        assert ds.images.dtype == np.uint8 and ds.images.flags.c_contiguous
        assert ds.images.shape[1:] == (8, 8, 1) and ds.image_shape == (8, 8, 1)
        assert ds.labels.dtype == np.int64
        assert (
            ds.class_names == tuple(str(i) for i in range(10)) and ds.num_classes == 10
        )
        assert ds.name == "digits" and ds.hflip_ok is False
        assert "load_digits" in ds.source
    allowed = {int(x) for x in np.rint(np.arange(17) * 255 / 16)}
    assert set(np.unique(train.images).tolist()) <= allowed
    assert train.images.max() == 255 and train.images.min() == 0


def test_digits_split_is_stratified() -> None:
    split = load_split("digits", seed=3, test_fraction=0.3)
    everything = np.concatenate([split.train.labels, split.test.labels])
    total = np.bincount(everything, minlength=10)
    expected = total * len(split.test) / len(everything)
    assert np.all(np.abs(np.bincount(split.test.labels, minlength=10) - expected) < 1)


def test_digits_split_is_deterministic() -> None:
    a, b = load_split("digits", seed=7), load_split("digits", seed=7)
    c = load_split("digits", seed=8)
    assert np.array_equal(a.test.images, b.test.images)
    assert np.array_equal(a.train.labels, b.train.labels)
    assert not np.array_equal(a.test.images, c.test.images)


@pytest.mark.parametrize("fraction", [0.0, 1.0, -0.1, 1.5, 0.001])
def test_bad_test_fraction(fraction: float) -> None:
    with pytest.raises(UserError) as exc:
        load_split("digits", test_fraction=fraction)
    assert "fraction" in assert_one_line(exc)


def test_unknown_name_lists_datasets(tmp_path: Path) -> None:
    with pytest.raises(UserError) as exc:
        load_split("imagenet")
    message = assert_one_line(exc)
    assert all(name in message for name in DATASET_NAMES)
    assert "folder" in message
    file = tmp_path / "file.png"
    file.write_bytes(b"x")
    with pytest.raises(UserError, match="not a directory"):
        load_split(str(file))


# ------------------------------------------------------------------------- idx files


def idx_bytes(array: np.ndarray, magic: int) -> bytes:
    header = struct.pack(">I", magic) + b"".join(
        struct.pack(">I", d) for d in array.shape
    )
    return header + np.ascontiguousarray(array, dtype=np.uint8).tobytes()


def write_idx_set(
    folder: Path, n_train: int = 20, n_test: int = 10, seed: int = 0, gz: bool = True
) -> dict[str, np.ndarray]:
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


def check_idx_roundtrip(split: data.Split, arrays: dict[str, np.ndarray]) -> None:
    assert split.train.images.shape == (20, 28, 28, 1)
    assert split.test.images.shape == (10, 28, 28, 1)
    assert np.array_equal(split.train.images[..., 0], arrays["train-images"])
    assert np.array_equal(split.test.images[..., 0], arrays["t10k-images"])
    assert np.array_equal(split.train.labels, arrays["train-labels"].astype(np.int64))
    assert np.array_equal(split.test.labels, arrays["t10k-labels"].astype(np.int64))
    assert (
        split.train.labels.dtype == np.int64 and split.train.images.flags.c_contiguous
    )


def test_idx_gz_in_data_dir(tmp_path: Path) -> None:
    arrays = write_idx_set(tmp_path)
    split = load_split("fashion-mnist", data_dir=tmp_path, download=False)
    check_idx_roundtrip(split, arrays)
    assert split.train.class_names[0] == "T-shirt/top" and split.train.num_classes == 10
    assert split.train.hflip_ok is True and split.train.name == "fashion-mnist"
    assert str(tmp_path) in split.train.source


def test_idx_torchvision_layout_and_plain_files(tmp_path: Path) -> None:
    arrays = write_idx_set(tmp_path / "FashionMNIST" / "raw", seed=1)
    check_idx_roundtrip(
        load_split("fashion-mnist", data_dir=tmp_path, download=False), arrays
    )
    plain = write_idx_set(tmp_path / "MNIST" / "raw", seed=2, gz=False)
    split = load_split("mnist", data_dir=tmp_path, download=False)
    check_idx_roundtrip(split, plain)
    assert split.train.class_names == tuple(str(i) for i in range(10))
    assert split.train.hflip_ok is False


def test_idx_found_in_cache_and_system_dirs(
    tmp_path: Path, isolated: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    cached = write_idx_set(isolated / "MNIST" / "raw", seed=3)
    check_idx_roundtrip(load_split("mnist", download=False), cached)
    system = tmp_path / "system"
    arrays = write_idx_set(system, seed=4)
    monkeypatch.setattr(data, "SYSTEM_DIRS", {"fashion-mnist": (system,)})
    split = load_split("fashion-mnist", download=False)
    check_idx_roundtrip(split, arrays)
    assert str(system) in split.train.source


def test_idx_truncated(tmp_path: Path) -> None:
    write_idx_set(tmp_path)
    target = tmp_path / "train-images-idx3-ubyte.gz"
    payload = gzip.decompress(target.read_bytes())
    target.write_bytes(gzip.compress(payload[:-100]))
    with pytest.raises(UserError) as exc:
        load_split("fashion-mnist", data_dir=tmp_path, download=False)
    message = assert_one_line(exc)
    assert "train-images-idx3-ubyte.gz" in message and "truncated" in message
    assert "download it again" in message


def test_idx_truncated_gzip_stream(tmp_path: Path) -> None:
    write_idx_set(tmp_path)
    target = tmp_path / "t10k-images-idx3-ubyte.gz"
    target.write_bytes(target.read_bytes()[:-30])
    with pytest.raises(UserError, match=re.escape("t10k-images-idx3-ubyte.gz")):
        load_split("fashion-mnist", data_dir=tmp_path, download=False)


def test_idx_not_gzip(tmp_path: Path) -> None:
    write_idx_set(tmp_path)
    (tmp_path / "train-labels-idx1-ubyte.gz").write_bytes(b"<html>not found</html>")
    with pytest.raises(UserError, match=re.escape("train-labels-idx1-ubyte.gz")):
        load_split("fashion-mnist", data_dir=tmp_path, download=False)


def test_idx_wrong_magic(tmp_path: Path) -> None:
    write_idx_set(tmp_path)
    labels = np.zeros(20, dtype=np.uint8)
    with gzip.open(tmp_path / "train-labels-idx1-ubyte.gz", "wb") as fh:
        fh.write(idx_bytes(labels, 0x803 - 2 + 0x100))  # wrong type byte
    with pytest.raises(UserError) as exc:
        load_split("fashion-mnist", data_dir=tmp_path, download=False)
    assert "magic" in assert_one_line(exc)


def test_idx_count_mismatch(tmp_path: Path) -> None:
    write_idx_set(tmp_path)
    with gzip.open(tmp_path / "t10k-labels-idx1-ubyte.gz", "wb") as fh:
        fh.write(idx_bytes(np.zeros(9, dtype=np.uint8), 0x801))
    with pytest.raises(UserError) as exc:
        load_split("fashion-mnist", data_dir=tmp_path, download=False)
    assert "9 labels" in assert_one_line(exc)


def test_idx_label_out_of_range(tmp_path: Path) -> None:
    write_idx_set(tmp_path)
    with gzip.open(tmp_path / "train-labels-idx1-ubyte.gz", "wb") as fh:
        fh.write(idx_bytes(np.full(20, 12, dtype=np.uint8), 0x801))
    with pytest.raises(UserError, match="label 12"):
        load_split("mnist", data_dir=tmp_path, download=False)


def test_idx_nothing_found_without_download(tmp_path: Path) -> None:
    with pytest.raises(UserError) as exc:
        load_split("fashion-mnist", data_dir=tmp_path, download=False)
    message = assert_one_line(exc)
    assert "--data-dir" in message and "train-images-idx3-ubyte.gz" in message
    assert not any(tmp_path.iterdir())  # nothing downloaded or created


def test_idx_partial_set_named(tmp_path: Path) -> None:
    write_idx_set(tmp_path)
    (tmp_path / "t10k-labels-idx1-ubyte.gz").unlink()
    with pytest.raises(UserError, match=re.escape("lacks t10k-labels-idx1-ubyte.gz")):
        load_split("fashion-mnist", data_dir=tmp_path, download=False)


def test_idx_download_through_torchvision(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    written: dict[str, np.ndarray] = {}

    class FakeFashionMNIST:
        def __init__(self, root: str, train: bool, download: bool) -> None:
            assert download
            written.update(write_idx_set(Path(root) / "FashionMNIST" / "raw", seed=5))

    fake = types.SimpleNamespace(FashionMNIST=FakeFashionMNIST, MNIST=None)
    monkeypatch.setattr(data, "_torchvision_datasets", lambda: fake)
    check_idx_roundtrip(load_split("fashion-mnist", data_dir=tmp_path / "dl"), written)
    assert (tmp_path / "dl" / "FashionMNIST" / "raw" / IDX_NAMES[0]).is_file()


def test_idx_download_failure_is_user_error(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    class Offline:
        def __init__(self, **kwargs: object) -> None:
            raise RuntimeError(
                "Error downloading x:\nTried mirror, got:\n<urlopen error>"
            )

    fake = types.SimpleNamespace(FashionMNIST=None, MNIST=Offline)
    monkeypatch.setattr(data, "_torchvision_datasets", lambda: fake)
    with pytest.raises(UserError) as exc:
        load_split("mnist", data_dir=tmp_path)
    message = assert_one_line(exc)
    assert message.startswith("could not download mnist") and "--data-dir" in message


# -------------------------------------------------------------------------- CIFAR-10


def cifar_arrays(n: int, seed: int) -> tuple[np.ndarray, list[int]]:
    rng = np.random.default_rng(seed)
    return rng.integers(0, 256, (n, 32, 32, 3), dtype=np.uint8), rng.integers(
        0, 10, n
    ).tolist()


def cifar_batch_bytes(
    images: np.ndarray, labels: list[int], protocol: int, str_keys: bool
) -> bytes:
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


NAMES = ["plane", "car", "bird", "cat", "deer", "dog", "frog", "horse", "ship", "truck"]


def write_cifar_folder(
    folder: Path, protocol: int = 2, str_keys: bool = False, n: int = 4
) -> tuple[np.ndarray, np.ndarray, np.ndarray, np.ndarray]:
    folder.mkdir(parents=True, exist_ok=True)
    train_x, train_y = [], []
    for i in range(1, 6):
        x, y = cifar_arrays(n, seed=i)
        (folder / f"data_batch_{i}").write_bytes(
            cifar_batch_bytes(x, y, protocol, str_keys)
        )
        train_x.append(x)
        train_y += y
    test_x, test_y = cifar_arrays(n + 1, seed=99)
    (folder / "test_batch").write_bytes(
        cifar_batch_bytes(test_x, test_y, protocol, str_keys)
    )
    meta = {b"label_names": [s.encode() for s in NAMES], b"num_vis": 3072}
    (folder / "batches.meta").write_bytes(pickle.dumps(meta, protocol=protocol))
    return np.concatenate(train_x), np.array(train_y), test_x, np.array(test_y)


def check_cifar(
    split: data.Split, expected: tuple[np.ndarray, ...], n: int = 4
) -> None:
    train_x, train_y, test_x, test_y = expected
    assert split.train.images.shape == (5 * n, 32, 32, 3)
    assert split.test.images.shape == (n + 1, 32, 32, 3)
    assert np.array_equal(split.train.images, train_x)  # HWC, channel order preserved
    assert np.array_equal(split.test.images, test_x)
    assert (
        np.array_equal(split.train.labels, train_y)
        and split.train.labels.dtype == np.int64
    )
    assert np.array_equal(split.test.labels, test_y)
    assert split.train.class_names == tuple(NAMES) and split.train.hflip_ok is True
    assert split.train.images.flags.c_contiguous and split.train.name == "cifar10"


@pytest.mark.parametrize(
    ("protocol", "str_keys"), [(2, False), (pickle.DEFAULT_PROTOCOL, False), (2, True)]
)
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
    legacy = buf.getvalue().replace(
        b"cnumpy._core.multiarray\n", b"cnumpy.core.multiarray\n"
    )
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


def make_tar(path: Path, entries: list[tuple[tarfile.TarInfo, bytes | None]]) -> None:
    with tarfile.open(path, "w:gz") as tar:
        for info, payload in entries:
            tar.addfile(info, io.BytesIO(payload) if payload is not None else None)


def file_member(name: str, payload: bytes) -> tuple[tarfile.TarInfo, bytes]:
    info = tarfile.TarInfo(name)
    info.size = len(payload)
    return info, payload


def genuine_members(folder: Path) -> list[tuple[tarfile.TarInfo, bytes | None]]:
    top = tarfile.TarInfo("cifar-10-batches-py")
    top.type = tarfile.DIRTYPE
    entries: list[tuple[tarfile.TarInfo, bytes | None]] = [(top, None)]
    for file in sorted(folder.iterdir()):
        entries.append(
            file_member(f"cifar-10-batches-py/{file.name}", file.read_bytes())
        )
    entries.append(file_member("cifar-10-batches-py/readme.html", b"<html></html>"))
    return entries


def test_cifar_archive(tmp_path: Path) -> None:
    expected = write_cifar_folder(tmp_path / "src")
    data_dir = tmp_path / "data"
    data_dir.mkdir()
    make_tar(data_dir / "cifar-10-python.tar.gz", genuine_members(tmp_path / "src"))
    split = load_split("cifar10", data_dir=data_dir, download=False)
    check_cifar(split, expected)
    assert "extracted from" in split.train.source
    assert sorted(p.name for p in data_dir.iterdir()) == [
        "cifar-10-batches-py",
        "cifar-10-python.tar.gz",
    ]
    check_cifar(load_split("cifar10", data_dir=data_dir, download=False), expected)


def test_cifar_archive_in_cache(tmp_path: Path, isolated: Path) -> None:
    expected = write_cifar_folder(tmp_path / "src")
    make_tar(isolated / "cifar-10-python.tar.gz", genuine_members(tmp_path / "src"))
    check_cifar(load_split("cifar10", download=False), expected)
    assert (isolated / "cifar-10-batches-py" / "test_batch").is_file()


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
def test_cifar_hostile_pickle_refused(
    tmp_path: Path, which: str, protocol: int
) -> None:
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
        (
            "nested-dotdot",
            file_member("cifar-10-batches-py/../../evil", b"evil")[0],
            b"evil",
        ),
        ("absolute", absolute, b"evil"),
        ("symlink", link, None),
        ("hardlink", hard, None),
        ("device", device, None),
    ]


@pytest.mark.parametrize(
    "kind", ["dotdot", "nested-dotdot", "absolute", "symlink", "hardlink", "device"]
)
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


def test_cifar_missing_without_download(tmp_path: Path) -> None:
    with pytest.raises(UserError) as exc:
        load_split("cifar10", data_dir=tmp_path, download=False)
    message = assert_one_line(exc)
    assert "cifar-10-batches-py/" in message and "cifar-10-python.tar.gz" in message
    assert "--data-dir" in message


def test_cifar_download(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    expected = write_cifar_folder(tmp_path / "src")
    archive_src = tmp_path / "served.tar.gz"
    make_tar(archive_src, genuine_members(tmp_path / "src"))
    calls = []

    def download_url(url: str, root: str, filename: str, md5: str) -> None:
        calls.append(url)
        (Path(root) / filename).write_bytes(archive_src.read_bytes())

    fake = types.SimpleNamespace(
        CIFAR10=types.SimpleNamespace(url="https://example/cifar", tgz_md5="x"),
        utils=types.SimpleNamespace(download_url=download_url),
    )
    monkeypatch.setattr(data, "_torchvision_datasets", lambda: fake)
    check_cifar(load_split("cifar10", data_dir=tmp_path / "dl"), expected)
    assert calls == ["https://example/cifar"]


def test_cifar_download_failure(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    def download_url(*args: object, **kwargs: object) -> None:
        raise OSError("[Errno -3] Temporary failure in name resolution")

    fake = types.SimpleNamespace(
        CIFAR10=types.SimpleNamespace(url="u", tgz_md5="x"),
        utils=types.SimpleNamespace(download_url=download_url),
    )
    monkeypatch.setattr(data, "_torchvision_datasets", lambda: fake)
    with pytest.raises(UserError) as exc:
        load_split("cifar10", data_dir=tmp_path)
    message = assert_one_line(exc)
    assert "could not download cifar10" in message and "name resolution" in message
    assert "--data-dir" in message


# --------------------------------------------------------------------- image folders


def save(path: Path, array: np.ndarray, fmt: str | None = None) -> None:
    path.parent.mkdir(parents=True, exist_ok=True)
    Image.fromarray(array).save(path, format=fmt)


def grey(h: int, w: int, value: int) -> np.ndarray:
    return np.full((h, w), value, dtype=np.uint8)


def colour(h: int, w: int, rgb: tuple[int, int, int]) -> np.ndarray:
    return np.broadcast_to(np.array(rgb, np.uint8), (h, w, 3)).copy()


def test_folder_grey_random_split(tmp_path: Path) -> None:
    root = tmp_path / "shapes"
    for i in range(6):
        save(root / "circle" / f"{i}.png", grey(10, 12, 30))
        save(root / "square" / f"{i}.png", grey(10, 12, 200))
    save(root / "square" / "odd.png", grey(20, 5, 200))  # different size -> resized
    (root / "square" / "notes.txt").write_text("not an image")
    (root / "square" / ".hidden.png").write_bytes(b"junk")
    (root / "README.md").write_text("top-level files are ignored")
    split = load_split(str(root), test_fraction=0.25, seed=1)
    train, test = split.train, split.test
    assert train.class_names == ("circle", "square") and train.name == "shapes"
    assert train.image_shape == (10, 12, 1) and test.image_shape == (10, 12, 1)
    assert len(train) + len(test) == 13 and len(test) == 4
    assert set(test.labels.tolist()) == {0, 1}
    assert train.hflip_ok and str(root) in train.source
    assert train.skipped == ("square/notes.txt",) and test.skipped == ()  # named, not silently dropped
    circles = np.concatenate(
        [train.images[train.labels == 0], test.images[test.labels == 0]]
    )
    assert np.all(circles == 30)


def test_folder_colour_mixed_sizes_and_skips(tmp_path: Path) -> None:
    root = tmp_path / "pets"
    for i in range(4):
        save(root / "cat" / f"{i}.jpg", colour(16, 16, (255, 0, 0)), "JPEG")
        save(root / "dog" / f"{i}.png", grey(16, 16, 90))  # grey among colour -> RGB
    save(root / "dog" / "big.bmp", colour(40, 20, (0, 0, 255)))
    (root / "cat" / "broken.png").write_bytes(b"\x89PNG\r\n\x1a\n garbage")
    (root / "cat" / "readme.txt").write_text("not an image: skipped and named")
    split = load_split(str(root), seed=0)
    assert split.train.image_shape == (16, 16, 3) and split.test.image_shape == (
        16,
        16,
        3,
    )
    assert len(split.train) + len(split.test) == 9
    assert split.train.skipped == ("cat/broken.png", "cat/readme.txt") and split.test.skipped == ()
    everything = np.concatenate([split.train.images, split.test.images])
    labels = np.concatenate([split.train.labels, split.test.labels])
    dogs = everything[labels == 1]
    assert any(np.all(d == 90) for d in dogs)  # grey replicated to three channels
    cats = everything[labels == 0]
    assert np.all(cats[..., 0] > 200) and np.all(cats[..., 1] < 50)


def test_folder_truncated_image_skipped(tmp_path: Path) -> None:
    root = tmp_path / "f"
    for i in range(3):
        save(root / "a" / f"{i}.png", grey(8, 8, 10))
        save(root / "b" / f"{i}.png", grey(8, 8, 20))
    good = io.BytesIO()
    Image.fromarray(np.random.default_rng(0).integers(0, 255, (64, 64), np.uint8)).save(
        good, "PNG"
    )
    (root / "b" / "cut.png").write_bytes(good.getvalue()[: len(good.getvalue()) // 2])
    split = load_split(str(root))
    assert split.train.skipped == ("b/cut.png",)
    assert len(split.train) + len(split.test) == 6


def test_folder_train_test_layout(tmp_path: Path) -> None:
    root = tmp_path / "tt"
    for i in range(3):
        save(root / "train" / "ant" / f"{i}.png", grey(6, 6, 1))
        save(root / "train" / "bee" / f"{i}.gif", grey(6, 6, 2))
        save(root / "train" / "cow" / f"{i}.png", grey(6, 6, 3))
    save(root / "test" / "ant" / "t.png", grey(6, 6, 1))
    save(root / "test" / "bee" / "t.tiff", grey(6, 6, 2))
    (root / "test" / "bee" / "bad.jpg").write_bytes(b"nope")
    split = load_split(str(root))
    assert split.train.class_names == ("ant", "bee", "cow") == split.test.class_names
    assert len(split.train) == 9 and len(split.test) == 2
    assert sorted(split.test.labels.tolist()) == [0, 1]
    assert split.test.skipped == ("test/bee/bad.jpg",) and split.train.skipped == ()
    assert split.train.image_shape == (6, 6, 1)


def test_folder_class_only_in_test(tmp_path: Path) -> None:
    for cls in ("a", "b"):
        save(tmp_path / "train" / cls / "0.png", grey(4, 4, 0))
        save(tmp_path / "test" / cls / "0.png", grey(4, 4, 0))
    save(tmp_path / "test" / "c" / "0.png", grey(4, 4, 0))
    with pytest.raises(UserError) as exc:
        load_split(str(tmp_path))
    assert "'c' is in" in assert_one_line(exc)


def test_folder_large_images_capped(tmp_path: Path) -> None:
    root = tmp_path / "big"
    for i in range(2):
        save(root / "x" / f"{i}.png", colour(100, 200, (10, 20, 30)))
        save(root / "y" / f"{i}.png", colour(100, 200, (40, 50, 60)))
    split = load_split(str(root), test_fraction=0.5)
    assert split.train.image_shape == (32, 64, 3)


def test_folder_sixteen_bit_grey(tmp_path: Path) -> None:
    root = tmp_path / "deep"
    for i in range(2):
        for cls, value in (("lo", 256 * 10), ("hi", 65535)):
            path = root / cls / f"{i}.png"
            path.parent.mkdir(parents=True, exist_ok=True)
            Image.fromarray(np.full((5, 5), value, np.uint16)).save(path)
    split = load_split(str(root), test_fraction=0.5)
    everything = np.concatenate([split.train.images, split.test.images])
    labels = np.concatenate([split.train.labels, split.test.labels])
    assert split.train.image_shape == (5, 5, 1)
    assert np.all(everything[labels == 0] == 255)  # "hi" sorts first
    assert np.all(everything[labels == 1] == 10)


def test_folder_one_class(tmp_path: Path) -> None:
    for i in range(3):
        save(tmp_path / "only" / f"{i}.png", grey(4, 4, 0))
    with pytest.raises(UserError) as exc:
        load_split(str(tmp_path))
    assert "at least 2 classes" in assert_one_line(exc)


def test_folder_flat_images(tmp_path: Path) -> None:
    for i in range(3):
        save(tmp_path / f"{i}.png", grey(4, 4, 0))
    with pytest.raises(UserError, match="sub-folder per class"):
        load_split(str(tmp_path))


def test_folder_empty_class(tmp_path: Path) -> None:
    for i in range(3):
        save(tmp_path / "a" / f"{i}.png", grey(4, 4, 0))
    (tmp_path / "b").mkdir()
    (tmp_path / "b" / "x.txt").write_text("no images")
    with pytest.raises(UserError) as exc:
        load_split(str(tmp_path))
    assert "no readable images" in assert_one_line(exc) and str(tmp_path / "b") in str(
        exc.value
    )


def test_folder_class_too_small_to_split(tmp_path: Path) -> None:
    for i in range(3):
        save(tmp_path / "a" / f"{i}.png", grey(4, 4, 0))
    save(tmp_path / "b" / "0.png", grey(4, 4, 0))
    with pytest.raises(UserError, match="'b' has fewer than 2 images"):
        load_split(str(tmp_path))


def test_folder_train_without_test(tmp_path: Path) -> None:
    for cls in ("a", "b"):
        save(tmp_path / "train" / cls / "0.png", grey(4, 4, 0))
    with pytest.raises(UserError, match="no test/"):
        load_split(str(tmp_path))


# ------------------------------------------------------------------------- subsample


def make_dataset(labels: np.ndarray, num_classes: int | None = None) -> Dataset:
    labels = np.asarray(labels, dtype=np.int64)
    k = num_classes or int(labels.max()) + 1
    index = np.arange(len(labels))
    images = np.stack([index % 256, index // 256], axis=1).astype(np.uint8).reshape(-1, 1, 2, 1)  # index in 2 bytes
    return Dataset("toy", images, labels, tuple(map(str, range(k))), "test", True)


def test_subsample_stratified_and_deterministic() -> None:
    labels = np.repeat(np.arange(4), [100, 50, 30, 20])
    ds = make_dataset(labels)
    small = subsample(ds, 40, seed=0)
    assert len(small) == 40 and small.images.shape == (40, 1, 2, 1)
    assert np.bincount(small.labels).tolist() == [20, 10, 6, 4]
    assert np.array_equal(subsample(ds, 40, seed=0).images, small.images)
    assert not np.array_equal(subsample(ds, 40, seed=1).images, small.images)
    assert np.all(
        labels[small.images[:, 0, 0, 0]] == small.labels
    )  # pairs stay together


def test_subsample_keeps_rare_classes() -> None:
    ds = make_dataset(np.repeat(np.arange(3), [1000, 1, 1]))
    small = subsample(ds, 3, seed=0)
    assert sorted(small.labels.tolist()) == [0, 1, 2]


def test_subsample_identity_and_errors() -> None:
    ds = make_dataset(np.repeat(np.arange(3), 5))
    assert subsample(ds, None, seed=0) is ds and subsample(ds, 15, seed=0) is ds
    with pytest.raises(UserError) as exc:
        subsample(ds, 16, seed=0)
    assert "only 15" in assert_one_line(exc)
    with pytest.raises(UserError, match="at least 3"):
        subsample(ds, 2, seed=0)


def test_negative_seed_is_user_error() -> None:
    ds = make_dataset(np.repeat(np.arange(3), 5))
    with pytest.raises(UserError, match="seed"):
        subsample(ds, 6, seed=-1)
    with pytest.raises(UserError, match="seed"):
        load_split("digits", seed=-1)


def test_dataset_rejects_wrong_layout() -> None:
    labels = np.zeros(2, np.int64)
    with pytest.raises(ValueError, match="uint8"):
        Dataset("x", np.zeros((2, 4, 4, 1), np.float32), labels, ("a",), "s", True)
    with pytest.raises(ValueError, match="C in"):
        Dataset("x", np.zeros((2, 4, 4, 2), np.uint8), labels, ("a",), "s", True)
    with pytest.raises(ValueError, match="int64"):
        Dataset(
            "x",
            np.zeros((2, 4, 4, 1), np.uint8),
            labels.astype(np.int32),
            ("a",),
            "s",
            True,
        )
    with pytest.raises(ValueError, match="num_classes"):
        Dataset("x", np.zeros((2, 4, 4, 1), np.uint8), labels + 1, ("a",), "s", True)


@settings(max_examples=50, deadline=None)
@given(
    counts=st.lists(st.integers(1, 40), min_size=1, max_size=8),
    fraction=st.floats(0.0, 1.0),
    seed=st.integers(0, 2**32 - 1),
)
def test_subsample_property(counts: list[int], fraction: float, seed: int) -> None:
    labels = np.repeat(np.arange(len(counts)), counts)
    ds = make_dataset(np.random.default_rng(seed).permutation(labels))
    total, k = len(labels), len(counts)
    size = k + round(fraction * (total - k))
    out = subsample(ds, size, seed=seed)
    got = np.bincount(out.labels, minlength=k)
    assert got.sum() == size and np.all(got >= 1) and np.all(got <= counts)
    quota = size * np.array(counts) / total
    if np.all(quota >= 1):
        assert np.all(np.abs(got - quota) < 1)
    assert len({tuple(pixels) for pixels in out.images[:, 0, :, 0].tolist()}) == size  # no image picked twice


# ----------------------------------------------------------------- availability


def test_availability(tmp_path: Path, isolated: Path) -> None:
    before = sorted(isolated.rglob("*"))
    result = {a.name: a for a in dataset_availability(tmp_path)}
    assert list(result) == list(DATASET_NAMES)
    assert (
        result["digits"].available_offline and "scikit-learn" in result["digits"].note
    )
    assert not result["fashion-mnist"].available_offline
    assert (
        result["fashion-mnist"].location is None
        and "--data-dir" in result["fashion-mnist"].note
    )
    assert not result["cifar10"].available_offline
    write_idx_set(tmp_path)
    write_cifar_folder(tmp_path / "src")
    make_tar(tmp_path / "cifar-10-python.tar.gz", genuine_members(tmp_path / "src"))
    result = {a.name: a for a in dataset_availability(tmp_path)}
    assert result["fashion-mnist"].available_offline
    assert result["fashion-mnist"].location == str(tmp_path)
    assert result["cifar10"].available_offline and "tar.gz" in str(
        result["cifar10"].location
    )
    assert not (tmp_path / "cifar-10-batches-py").exists()  # nothing extracted
    assert sorted(isolated.rglob("*")) == before  # nothing downloaded


# ------------------------------------------------------------------- real data


@pytest.mark.skipif(
    not all((REAL_FASHION / n).is_file() for n in IDX_NAMES),
    reason="Fashion-MNIST not installed in /usr/share/datasets/fashion-mnist",
)
def test_real_fashion_mnist(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(data, "SYSTEM_DIRS", REAL_SYSTEM_DIRS)
    split = load_split("fashion-mnist", download=False)
    assert len(split.train) == 60000 and len(split.test) == 10000
    assert split.train.image_shape == (28, 28, 1) and split.train.num_classes == 10
    assert np.bincount(split.test.labels).tolist() == [1000] * 10
    assert "dataset-fashion-mnist" in split.train.source
    avail = {a.name: a for a in dataset_availability()}
    assert avail["fashion-mnist"].available_offline
