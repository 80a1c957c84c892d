"""HOG and thumbnail transformers: equal to skimage, scikit-learn compatible, clear on bad input."""

from __future__ import annotations

import numpy as np
import pytest
from skimage.feature import hog
from sklearn.base import clone
from sklearn.pipeline import make_pipeline
from sklearn.preprocessing import StandardScaler

from featvslearn.classical import (
    HOGTransformer,
    ThumbnailTransformer,
    hog_scales_for,
    hog_settings_for,
    make_hog_features,
)


def images(n: int, h: int, w: int, c: int, seed: int = 0) -> np.ndarray:
    return np.random.default_rng(seed).integers(0, 256, (n, h, w, c), dtype=np.uint8)


@pytest.mark.parametrize(("shape", "cell", "block"), [((28, 28, 1), 4, 2), ((8, 8, 1), 2, 2), ((32, 32, 3), 8, 3)])
def test_hog_transformer_equals_a_skimage_loop(shape: tuple[int, int, int], cell: int, block: int) -> None:
    x = images(1200, *shape)  # enough images to be split across processes
    features = HOGTransformer(pixels_per_cell=(cell, cell), cells_per_block=(block, block), n_jobs=2).fit_transform(x)
    colour = shape[2] == 3
    expected = np.stack([
        hog(im if colour else im[..., 0], pixels_per_cell=(cell, cell), cells_per_block=(block, block),
            channel_axis=-1 if colour else None)
        for im in x
    ])
    assert features.dtype == np.float32 and features.shape == expected.shape
    np.testing.assert_allclose(features, expected, atol=1e-6)


def test_hog_transformer_accepts_grey_images_without_a_channel_axis() -> None:
    x = images(4, 16, 16, 1)
    a = HOGTransformer(pixels_per_cell=(4, 4), cells_per_block=(2, 2)).fit_transform(x)
    b = HOGTransformer(pixels_per_cell=(4, 4), cells_per_block=(2, 2)).fit_transform(x[..., 0])
    np.testing.assert_array_equal(a, b)


def test_hog_transformer_rejects_cells_larger_than_the_image() -> None:
    with pytest.raises(ValueError, match="fewer than one block"):
        HOGTransformer(pixels_per_cell=(8, 8), cells_per_block=(3, 3)).fit(images(2, 16, 16, 1))
    with pytest.raises(ValueError, match="block_norm"):
        HOGTransformer(block_norm="L3").fit(images(2, 32, 32, 1))


def test_hog_transformer_refuses_images_of_another_size() -> None:
    transformer = HOGTransformer(pixels_per_cell=(4, 4), cells_per_block=(2, 2)).fit(images(2, 16, 16, 1))
    with pytest.raises(ValueError, match="fitted on"):
        transformer.transform(images(2, 20, 20, 1))


def test_transformers_follow_scikit_learn_conventions() -> None:
    transformer = HOGTransformer(orientations=6, pixels_per_cell=(4, 4))
    assert clone(transformer).get_params() == transformer.get_params()
    pipeline = make_pipeline(ThumbnailTransformer(size=4), StandardScaler())
    assert pipeline.fit_transform(images(10, 8, 8, 3)).shape == (10, 4 * 4 * 3)


def test_thumbnail_averages_areas() -> None:
    x = np.zeros((1, 4, 4, 1), dtype=np.uint8)
    x[0, :2, :2, 0] = 255
    thumb = ThumbnailTransformer(size=2).fit_transform(x)
    np.testing.assert_allclose(thumb, [[1.0, 0.0, 0.0, 0.0]])


@pytest.mark.parametrize("side", [8, 12, 16, 28, 32, 48, 64])
def test_settings_suit_every_supported_image_size(side: int) -> None:
    fine, coarse = hog_scales_for(side, side)
    assert fine.pixels_per_cell < coarse.pixels_per_cell
    x = images(3, side, side, 3)
    batched = make_hog_features(hog_settings_for((side, side, 3)), device="cpu").fit_transform(x)
    looped = make_hog_features(hog_settings_for((side, side, 3)), device=None, n_jobs=1).fit_transform(x)
    assert batched.shape[0] == 3
    np.testing.assert_allclose(batched, looped, atol=1e-5)
