"""Tests for featvslearn.datasets.catalog: load_split's argument checks and dispatch, and availability."""

from __future__ import annotations

from pathlib import Path

import pytest

from featvslearn.datasets import DATASET_NAMES, dataset_availability, load_split
from featvslearn.datasets.catalog import check_data_dir, resolve_dataset
from featvslearn.datasets.core import mebibytes
from featvslearn.errors import UserError
from tests.conftest import REAL_FASHION, needs_fashion
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
    with pytest.raises(UserError, match="is a file, not a folder"):
        load_split(str(file))


def test_data_dir_that_is_a_file_is_refused(tmp_path: Path) -> None:
    file = tmp_path / "data"
    file.write_text("not a folder")
    with pytest.raises(UserError) as exc:
        load_split("mnist", data_dir=file, download=False)
    assert "is a file, not a folder" in assert_one_line(exc)


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


# --------------------------------------------------------------------------- names and paths
@pytest.mark.parametrize(
    ("text", "name"),
    [("cifar-10", "cifar10"), ("CIFAR-10", "cifar10"), ("Cifar_10", "cifar10"), ("fashion_mnist", "fashion-mnist"),
     ("fashionmnist", "fashion-mnist"), ("FashionMNIST", "fashion-mnist"), ("Fashion-MNIST", "fashion-mnist"),
     ("MNIST", "mnist"), (" Digits ", "digits"), ("digits", "digits")],
)
def test_spellings_of_a_built_in_name_resolve_to_it(text: str, name: str) -> None:
    assert resolve_dataset(text) == name


@pytest.mark.parametrize(("text", "suggestion"), [("digts", "digits"), ("fashion", "fashion-mnist"),
                                                  ("cifar100", "cifar10"), ("mnsit", "mnist")])
def test_a_near_miss_gets_a_suggestion(text: str, suggestion: str) -> None:
    with pytest.raises(UserError) as exc:
        resolve_dataset(text)
    message = assert_one_line(exc)
    assert f"--dataset {text!r}: unknown dataset (did you mean {suggestion}?)" in message
    assert all(name in message for name in DATASET_NAMES) and "folder" in message


def test_a_name_far_from_every_dataset_gets_the_list_only() -> None:
    with pytest.raises(UserError) as exc:
        resolve_dataset("imagenet")
    message = assert_one_line(exc)
    assert "did you mean" not in message and "no folder of that name here" in message


def test_names_win_over_folders_and_a_path_prefix_picks_the_folder(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    (tmp_path / "mnist").mkdir()
    (tmp_path / "photos").mkdir()
    monkeypatch.chdir(tmp_path)
    assert resolve_dataset("mnist") == "mnist"
    assert resolve_dataset("./mnist") == Path("mnist")
    assert resolve_dataset("photos") == Path("photos")  # not a built-in name, but a folder here
    assert resolve_dataset(str(tmp_path / "photos")) == tmp_path / "photos"


def test_a_missing_folder_says_so_and_suggests_a_close_one(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    (tmp_path / "shapes").mkdir()
    with pytest.raises(UserError) as exc:
        resolve_dataset(str(tmp_path / "shapse"))
    message = assert_one_line(exc)
    assert message.startswith(f"--dataset: no folder {str(tmp_path / 'shapse')!r}")
    assert f"did you mean {str(tmp_path / 'shapes')!r}?" in message and "check the path" in message
    monkeypatch.chdir(tmp_path)
    with pytest.raises(UserError) as exc:
        resolve_dataset("./photos")
    assert f"no folder './photos' (relative to {str(tmp_path)!r})" in assert_one_line(exc)


@pytest.mark.parametrize(
    ("name", "fix"),
    [("image.png", "pass a folder with one sub-folder of images per class"),
     ("photos.zip", "extract the archive"),
     ("cifar-10-python.tar.gz", "--dataset cifar10 --data-dir"),
     ("train-images-idx3-ubyte.gz", "--dataset mnist (or fashion-mnist) --data-dir")],
)
def test_a_file_instead_of_a_folder_names_what_to_pass(name: str, fix: str, tmp_path: Path) -> None:
    (tmp_path / name).write_bytes(b"x")
    with pytest.raises(UserError) as exc:
        resolve_dataset(str(tmp_path / name))
    message = assert_one_line(exc)
    assert "is a file, not a folder" in message and fix in message


def _denied(monkeypatch: pytest.MonkeyPatch, folder: Path) -> None:
    """Make listing ``folder`` fail as a folder without read permission does (root may read anything)."""
    import os

    real = os.scandir

    def scandir(path: object = ".") -> object:
        if Path(str(path)) == folder:
            raise PermissionError(13, "Permission denied", str(path))
        return real(path)  # type: ignore[arg-type]

    monkeypatch.setattr(os, "scandir", scandir)


def test_an_unreadable_folder_names_the_permission_fix(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    folder = tmp_path / "locked"
    folder.mkdir()
    _denied(monkeypatch, folder)
    with pytest.raises(UserError) as exc:
        resolve_dataset(str(folder))
    message = assert_one_line(exc)
    assert "cannot be read (permission denied)" in message and "chmod -R u+rX" in message
    with pytest.raises(UserError) as exc:
        check_data_dir(folder)
    assert "--data-dir" in assert_one_line(exc) and "cannot be read (permission denied)" in str(exc.value)


@pytest.mark.parametrize("text", ["", "   "])
def test_an_empty_dataset_is_refused(text: str) -> None:
    with pytest.raises(UserError) as exc:
        resolve_dataset(text)
    assert "--dataset is empty" in assert_one_line(exc)


def test_the_data_dir_check(tmp_path: Path) -> None:
    assert check_data_dir(None) is None
    assert check_data_dir(tmp_path) == tmp_path
    with pytest.raises(UserError) as exc:
        check_data_dir(tmp_path / "missing")
    assert "no such folder; create it (mkdir -p" in assert_one_line(exc)
    assert check_data_dir(tmp_path / "missing", must_exist=False) == tmp_path / "missing"  # a download creates it
    with pytest.raises(UserError) as exc:
        dataset_availability(tmp_path / "missing")
    assert "no such folder" in assert_one_line(exc)


def test_every_downloaded_dataset_says_where_from_how_big_and_where_to_put_it(tmp_path: Path) -> None:
    by_name = {item.name: item for item in dataset_availability()}
    assert by_name["digits"].download_from is None and "scikit-learn" in by_name["digits"].note
    assert by_name["fashion-mnist"].download_size == "29.4 MiB"
    assert by_name["mnist"].download_size == "11.1 MiB"
    assert by_name["cifar10"].download_size == "162.6 MiB"
    assert by_name["cifar10"].download_bytes == 170_498_071
    for name in ("fashion-mnist", "mnist", "cifar10"):
        item = by_name[name]
        assert item.home and item.home.startswith("http") and item.download_from.endswith("/")
        assert item.files and item.place and "--data-dir" in item.place
    given = {item.name: item for item in dataset_availability(tmp_path)}
    assert str(tmp_path) in given["mnist"].place and str(tmp_path) in given["cifar10"].place


def test_the_addresses_shown_are_those_torchvision_downloads_from() -> None:
    tvd = pytest.importorskip("torchvision.datasets")
    by_name = {item.name: item for item in dataset_availability()}
    for name, cls in (("fashion-mnist", tvd.FashionMNIST), ("mnist", tvd.MNIST)):
        assert by_name[name].download_from == cls.mirrors[0]
        assert by_name[name].files == tuple(file for file, _ in cls.resources)
    cifar = by_name["cifar10"]
    assert cifar.download_from + cifar.files[0] == tvd.CIFAR10.url


@needs_fashion
def test_the_fashion_mnist_size_matches_the_files_on_this_machine() -> None:
    # Debian's copies lack the file name in each gzip header: 23 or 24 bytes smaller than those served.
    item = next(item for item in dataset_availability() if item.name == "fashion-mnist")
    local = sum((REAL_FASHION / name).stat().st_size for name in item.files)
    assert 0 <= item.download_bytes - local <= 4 * 24
    assert mebibytes(local) == item.download_size
