"""Tests for featvslearn.datasets.digits: scikit-learn's digits, split by load_split."""

from __future__ import annotations

import numpy as np
import pytest

from featvslearn.datasets import load_split
from featvslearn.datasets.digits import DIGIT_CLASSES, availability, load_digits

pytestmark = pytest.mark.usefixtures("isolated_cache")


def test_load_digits_is_the_whole_set_scaled_to_bytes() -> None:
    ds = load_digits()
    assert ds.images.shape == (1797, 8, 8, 1) and ds.labels.shape == (1797,)
    assert np.bincount(ds.labels).sum() == 1797 and ds.class_names == DIGIT_CLASSES
    assert availability().available_offline and availability().location is None


def test_digits_split_shapes_and_values() -> None:
    split = load_split("digits", seed=0)
    train, test = split.train, split.test
    assert len(train) + len(test) == 1797
    assert len(test) == int(np.ceil(0.25 * 1797))
    for ds in (train, test):
        assert ds.images.dtype == np.uint8 and ds.images.flags.c_contiguous
        assert ds.images.shape[1:] == (8, 8, 1) and ds.image_shape == (8, 8, 1)
        assert ds.labels.dtype == np.int64
        assert ds.class_names == tuple(str(i) for i in range(10)) and ds.num_classes == 10
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
