"""Tests for featvslearn.datasets.core: the Dataset type, the cache folder, splitting and subsampling."""

from __future__ import annotations

import dataclasses
from pathlib import Path

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from featvslearn.datasets import Dataset, default_cache_dir, load_split, subsample
from featvslearn.datasets.core import split_dataset
from featvslearn.errors import UserError
from tests.dataset_files import assert_one_line

pytestmark = pytest.mark.usefixtures("isolated_cache")


def make_dataset(labels: np.ndarray, num_classes: int | None = None) -> Dataset:
    """A toy dataset whose ``(1, 2, 1)`` image ``i`` holds ``i`` in two bytes (low, high)."""
    labels = np.asarray(labels, dtype=np.int64)
    k = num_classes or int(labels.max()) + 1
    index = np.arange(len(labels))
    images = np.stack([index % 256, index // 256], axis=1).astype(np.uint8).reshape(-1, 1, 2, 1)
    return Dataset("toy", images, labels, tuple(map(str, range(k))), "test", True)


# ------------------------------------------------------------------- default_cache_dir


def test_default_cache_dir_precedence(monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> None:
    monkeypatch.setenv("FEATVSLEARN_CACHE", str(tmp_path / "a"))
    monkeypatch.setenv("XDG_CACHE_HOME", str(tmp_path / "x"))
    assert default_cache_dir() == tmp_path / "a"
    monkeypatch.delenv("FEATVSLEARN_CACHE")
    assert default_cache_dir() == tmp_path / "x" / "featvslearn"
    monkeypatch.delenv("XDG_CACHE_HOME")
    monkeypatch.setenv("HOME", str(tmp_path / "home"))
    assert default_cache_dir() == tmp_path / "home" / ".cache" / "featvslearn"


# ----------------------------------------------------------------------- Dataset


def test_dataset_rejects_wrong_layout() -> None:
    labels = np.zeros(2, np.int64)
    with pytest.raises(ValueError, match="uint8"):
        Dataset("x", np.zeros((2, 4, 4, 1), np.float32), labels, ("a",), "s", True)
    with pytest.raises(ValueError, match="C in"):
        Dataset("x", np.zeros((2, 4, 4, 2), np.uint8), labels, ("a",), "s", True)
    with pytest.raises(ValueError, match="int64"):
        Dataset("x", np.zeros((2, 4, 4, 1), np.uint8), labels.astype(np.int32), ("a",), "s", True)
    with pytest.raises(ValueError, match="num_classes"):
        Dataset("x", np.zeros((2, 4, 4, 1), np.uint8), labels + 1, ("a",), "s", True)


# ------------------------------------------------------------------- split_dataset


def test_split_dataset_keeps_every_class_on_both_sides_and_skipped_on_train() -> None:
    ds = dataclasses.replace(make_dataset(np.repeat(np.arange(3), [10, 2, 5])), skipped=("0/bad.png",))
    split = split_dataset(ds, 0.25, seed=0)
    assert len(split.train) + len(split.test) == 17 and len(split.test) == 5  # ceil(0.25 * 17)
    assert set(split.train.labels.tolist()) == set(split.test.labels.tolist()) == {0, 1, 2}
    assert split.train.skipped == ("0/bad.png",) and split.test.skipped == ()
    train_ids = split.train.images[:, 0, 0, 0].tolist()
    test_ids = split.test.images[:, 0, 0, 0].tolist()
    assert train_ids == sorted(train_ids) and test_ids == sorted(test_ids)  # original order kept
    assert sorted(train_ids + test_ids) == list(range(17))  # every image on exactly one side


def test_split_dataset_refuses_what_cannot_be_split() -> None:
    with pytest.raises(UserError, match="'1' has fewer than 2 images"):
        split_dataset(make_dataset(np.array([0, 0, 0, 1])), 0.25, seed=0)
    with pytest.raises(UserError) as exc:
        split_dataset(make_dataset(np.repeat(np.arange(3), 4)), 0.1, seed=0)
    assert "test fraction nearer 0.5" in assert_one_line(exc)


# ------------------------------------------------------------------------- subsample


def test_subsample_stratified_and_deterministic() -> None:
    labels = np.repeat(np.arange(4), [100, 50, 30, 20])
    ds = make_dataset(labels)
    small = subsample(ds, 40, seed=0)
    assert len(small) == 40 and small.images.shape == (40, 1, 2, 1)
    assert np.bincount(small.labels).tolist() == [20, 10, 6, 4]
    assert np.array_equal(subsample(ds, 40, seed=0).images, small.images)
    assert not np.array_equal(subsample(ds, 40, seed=1).images, small.images)
    assert np.all(labels[small.images[:, 0, 0, 0]] == small.labels)  # pairs stay together


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
