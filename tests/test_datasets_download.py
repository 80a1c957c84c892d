"""Tests for featvslearn.datasets.download, with torchvision replaced by fakes that write the real formats."""

from __future__ import annotations

import types
from pathlib import Path

import numpy as np
import pytest

from featvslearn.datasets import download, load_split
from featvslearn.errors import UserError
from tests.dataset_files import (
    IDX_NAMES,
    assert_one_line,
    check_cifar,
    check_idx_roundtrip,
    genuine_members,
    make_tar,
    write_cifar_folder,
    write_idx_set,
)

pytestmark = pytest.mark.usefixtures("isolated_cache")


def test_idx_download_through_torchvision(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    written: dict[str, np.ndarray] = {}

    class FakeFashionMNIST:
        def __init__(self, root: str, train: bool, download: bool) -> None:
            assert download
            written.update(write_idx_set(Path(root) / "FashionMNIST" / "raw", seed=5))

    fake = types.SimpleNamespace(FashionMNIST=FakeFashionMNIST, MNIST=None)
    monkeypatch.setattr(download, "torchvision_datasets", lambda: fake)
    check_idx_roundtrip(load_split("fashion-mnist", data_dir=tmp_path / "dl"), written)
    assert (tmp_path / "dl" / "FashionMNIST" / "raw" / IDX_NAMES[0]).is_file()


def test_idx_download_into_the_cache_without_data_dir(
    isolated_cache: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    roots: list[str] = []

    class FakeMNIST:
        def __init__(self, root: str, train: bool, download: bool) -> None:
            roots.append(root)
            write_idx_set(Path(root) / "MNIST" / "raw")

    monkeypatch.setattr(download, "torchvision_datasets", lambda: types.SimpleNamespace(MNIST=FakeMNIST))
    assert len(load_split("mnist").train) == 20
    assert roots == [str(isolated_cache)]


def test_idx_download_that_leaves_nothing(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    class Silent:
        def __init__(self, **kwargs: object) -> None:
            pass

    monkeypatch.setattr(download, "torchvision_datasets", lambda: types.SimpleNamespace(MNIST=Silent))
    with pytest.raises(UserError) as exc:
        load_split("mnist", data_dir=tmp_path)
    assert "did not leave the files" in assert_one_line(exc) and str(tmp_path / "MNIST" / "raw") in str(exc.value)


def test_idx_download_failure_is_user_error(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    class Offline:
        def __init__(self, **kwargs: object) -> None:
            raise RuntimeError("Error downloading x:\nTried mirror, got:\n<urlopen error>")

    fake = types.SimpleNamespace(FashionMNIST=None, MNIST=Offline)
    monkeypatch.setattr(download, "torchvision_datasets", lambda: fake)
    with pytest.raises(UserError) as exc:
        load_split("mnist", data_dir=tmp_path)
    message = assert_one_line(exc)
    assert message.startswith("could not download mnist") and "--data-dir" in message


def test_no_download_never_calls_torchvision(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    def refuse() -> None:
        raise AssertionError("torchvision was asked to download")

    monkeypatch.setattr(download, "torchvision_datasets", refuse)
    for name in ("mnist", "cifar10"):
        with pytest.raises(UserError, match="--no-download"):
            load_split(name, data_dir=tmp_path, download=False)


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
    monkeypatch.setattr(download, "torchvision_datasets", lambda: fake)
    split = load_split("cifar10", data_dir=tmp_path / "dl")
    check_cifar(split, expected)
    assert calls == ["https://example/cifar"] and "downloaded through torchvision" in split.train.source


def test_cifar_download_failure(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    def download_url(*args: object, **kwargs: object) -> None:
        raise OSError("[Errno -3] Temporary failure in name resolution")

    fake = types.SimpleNamespace(
        CIFAR10=types.SimpleNamespace(url="u", tgz_md5="x"),
        utils=types.SimpleNamespace(download_url=download_url),
    )
    monkeypatch.setattr(download, "torchvision_datasets", lambda: fake)
    with pytest.raises(UserError) as exc:
        load_split("cifar10", data_dir=tmp_path)
    message = assert_one_line(exc)
    assert "could not download cifar10" in message and "name resolution" in message
    assert "--data-dir" in message


def test_cifar_download_that_leaves_no_archive(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    fake = types.SimpleNamespace(
        CIFAR10=types.SimpleNamespace(url="u", tgz_md5="x"),
        utils=types.SimpleNamespace(download_url=lambda *args, **kwargs: None),
    )
    monkeypatch.setattr(download, "torchvision_datasets", lambda: fake)
    with pytest.raises(UserError, match="downloading cifar10 left no"):
        load_split("cifar10", data_dir=tmp_path)
