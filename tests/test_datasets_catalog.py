"""Tests for featvslearn.datasets.catalog: load_split's argument checks and dispatch, and availability."""

from __future__ import annotations

from pathlib import Path

import pytest

from featvslearn.datasets import DATASET_NAMES, dataset_availability, load_split
from featvslearn.errors import UserError
from tests.dataset_files import assert_one_line, genuine_members, make_tar, write_cifar_folder, write_idx_set

pytestmark = pytest.mark.usefixtures("isolated_cache")


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


def test_data_dir_that_is_a_file_is_refused(tmp_path: Path) -> None:
    file = tmp_path / "data"
    file.write_text("not a folder")
    with pytest.raises(UserError) as exc:
        load_split("mnist", data_dir=file, download=False)
    assert "is a file, not a directory" in assert_one_line(exc)


def test_availability(tmp_path: Path, isolated_cache: Path) -> None:
    before = sorted(isolated_cache.rglob("*"))
    result = {a.name: a for a in dataset_availability(tmp_path)}
    assert list(result) == list(DATASET_NAMES)
    assert result["digits"].available_offline and "scikit-learn" in result["digits"].note
    assert not result["fashion-mnist"].available_offline
    assert result["fashion-mnist"].location is None and "--data-dir" in result["fashion-mnist"].note
    assert str(tmp_path) in result["fashion-mnist"].note  # where a download would go
    assert not result["cifar10"].available_offline
    write_idx_set(tmp_path)
    write_cifar_folder(tmp_path / "src")
    make_tar(tmp_path / "cifar-10-python.tar.gz", genuine_members(tmp_path / "src"))
    result = {a.name: a for a in dataset_availability(tmp_path)}
    assert result["fashion-mnist"].available_offline
    assert result["fashion-mnist"].location == str(tmp_path) and result["fashion-mnist"].note == "idx files found"
    assert result["cifar10"].available_offline and "tar.gz" in str(result["cifar10"].location)
    assert not (tmp_path / "cifar-10-batches-py").exists()  # nothing extracted
    assert sorted(isolated_cache.rglob("*")) == before  # nothing downloaded


def test_availability_names_system_copies(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    system = tmp_path / "system"
    write_idx_set(system)
    monkeypatch.setattr("featvslearn.datasets.idx.SYSTEM_DIRS", {"mnist": (system,)})
    result = {a.name: a for a in dataset_availability()}
    assert result["mnist"].location == str(system) and result["mnist"].note == "idx files found (system copy)"
    assert not result["fashion-mnist"].available_offline
