"""Tests for featvslearn.datasets.idx: Fashion-MNIST and MNIST idx files written here in the real format."""

from __future__ import annotations

import gzip
import re
from pathlib import Path

import numpy as np
import pytest

from featvslearn.datasets import dataset_availability, idx, load_split
from featvslearn.datasets.idx import IDX_IMAGES_MAGIC, IDX_LABELS_MAGIC, find_idx, read_idx
from featvslearn.errors import UserError
from tests.dataset_files import IDX_NAMES, assert_one_line, check_idx_roundtrip, idx_bytes, write_idx_set

REAL_SYSTEM_DIRS = idx.SYSTEM_DIRS
REAL_FASHION = Path("/usr/share/datasets/fashion-mnist")

pytestmark = pytest.mark.usefixtures("isolated_cache")


def test_read_idx_plain_and_gzipped(tmp_path: Path) -> None:
    images = np.arange(2 * 3 * 4, dtype=np.uint8).reshape(2, 3, 4)
    (tmp_path / "x-idx3-ubyte").write_bytes(idx_bytes(images, IDX_IMAGES_MAGIC))
    (tmp_path / "y-idx1-ubyte.gz").write_bytes(gzip.compress(idx_bytes(np.array([7, 9], np.uint8), IDX_LABELS_MAGIC)))
    assert np.array_equal(read_idx(tmp_path / "x-idx3-ubyte", IDX_IMAGES_MAGIC), images)
    assert read_idx(tmp_path / "y-idx1-ubyte.gz", IDX_LABELS_MAGIC).tolist() == [7, 9]
    (tmp_path / "long-idx1-ubyte").write_bytes(idx_bytes(np.zeros(2, np.uint8), IDX_LABELS_MAGIC) + b"\x00")
    with pytest.raises(UserError, match="longer than its header says"):
        read_idx(tmp_path / "long-idx1-ubyte", IDX_LABELS_MAGIC)
    (tmp_path / "empty-idx1-ubyte").write_bytes(idx_bytes(np.zeros(0, np.uint8), IDX_LABELS_MAGIC))
    with pytest.raises(UserError, match="holds no items"):
        read_idx(tmp_path / "empty-idx1-ubyte", IDX_LABELS_MAGIC)


def test_find_idx_search_order(tmp_path: Path, isolated_cache: Path) -> None:
    assert find_idx("mnist", tmp_path) is None
    write_idx_set(isolated_cache / "mnist")
    assert find_idx("mnist", tmp_path) == (
        isolated_cache / "mnist",
        tuple(isolated_cache / "mnist" / n for n in IDX_NAMES),
    )
    write_idx_set(tmp_path / "raw", gz=False)  # data_dir wins over the cache
    folder, files = find_idx("mnist", tmp_path) or (None, ())
    assert folder == tmp_path / "raw" and files[0] == tmp_path / "raw" / "train-images-idx3-ubyte"


def test_idx_gz_in_data_dir(tmp_path: Path) -> None:
    arrays = write_idx_set(tmp_path)
    split = load_split("fashion-mnist", data_dir=tmp_path, download=False)
    check_idx_roundtrip(split, arrays)
    assert split.train.class_names[0] == "T-shirt/top" and split.train.num_classes == 10
    assert split.train.hflip_ok is True and split.train.name == "fashion-mnist"
    assert str(tmp_path) in split.train.source


def test_idx_torchvision_layout_and_plain_files(tmp_path: Path) -> None:
    arrays = write_idx_set(tmp_path / "FashionMNIST" / "raw", seed=1)
    check_idx_roundtrip(load_split("fashion-mnist", data_dir=tmp_path, download=False), arrays)
    plain = write_idx_set(tmp_path / "MNIST" / "raw", seed=2, gz=False)
    split = load_split("mnist", data_dir=tmp_path, download=False)
    check_idx_roundtrip(split, plain)
    assert split.train.class_names == tuple(str(i) for i in range(10))
    assert split.train.hflip_ok is False


def test_idx_found_in_cache_and_system_dirs(
    tmp_path: Path, isolated_cache: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    cached = write_idx_set(isolated_cache / "MNIST" / "raw", seed=3)
    check_idx_roundtrip(load_split("mnist", download=False), cached)
    system = tmp_path / "system"
    arrays = write_idx_set(system, seed=4)
    monkeypatch.setattr(idx, "SYSTEM_DIRS", {"fashion-mnist": (system,)})
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


@pytest.mark.skipif(
    not all((REAL_FASHION / n).is_file() for n in IDX_NAMES),
    reason="Fashion-MNIST not installed in /usr/share/datasets/fashion-mnist",
)
def test_real_fashion_mnist(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(idx, "SYSTEM_DIRS", REAL_SYSTEM_DIRS)
    split = load_split("fashion-mnist", download=False)
    assert len(split.train) == 60000 and len(split.test) == 10000
    assert split.train.image_shape == (28, 28, 1) and split.train.num_classes == 10
    assert np.bincount(split.test.labels).tolist() == [1000] * 10
    assert "dataset-fashion-mnist" in split.train.source
    avail = {a.name: a for a in dataset_availability()}
    assert avail["fashion-mnist"].available_offline
