"""Dense SIFT, the k-means codebook and the sift-svm pipeline: shapes, invariances, determinism, errors."""

from __future__ import annotations

import dataclasses

import numpy as np
import pytest
import torch
from sklearn.pipeline import make_pipeline
from sklearn.preprocessing import StandardScaler
from sklearn.svm import LinearSVC

from featvslearn.classical.sift import (
    DenseSIFT,
    SpatialPyramidCodebook,
    dense_sift,
    kmeans,
    make_sift_features,
    sift_settings_for,
)
from featvslearn.experiments.compare import run_comparison
from featvslearn.experiments.config import CompareConfig
from featvslearn.experiments.run import WARM_UP_STAGE


def shapes(n: int, side: int = 28, seed: int = 0) -> tuple[np.ndarray, np.ndarray]:
    """Grey images (N, side, side, 1) uint8 of three classes: a bar, a cross, a frame, at random offsets."""
    rng = np.random.default_rng(seed)
    x = np.zeros((n, side, side, 1), dtype=np.uint8)
    y = np.arange(n) % 3
    for i, label in enumerate(y):
        a, b = rng.integers(4, 8, size=2)
        if label == 0:
            x[i, a : side - a, b : b + 4] = 255
        elif label == 1:
            x[i, side // 2 - 2 : side // 2 + 2, a : side - a] = 255
            x[i, b : side - b, side // 2 - 2 : side // 2 + 2] = 255
        else:
            x[i, a : side - a, b : side - b] = 255
            x[i, a + 3 : side - a - 3, b + 3 : side - b - 3] = 0
    noise = rng.integers(0, 40, size=x.shape)
    return np.clip(x.astype(int) + noise, 0, 255).astype(np.uint8), y


def test_dense_sift_gives_a_grid_of_unit_rootsift_descriptors() -> None:
    x, _ = shapes(6)
    grid = dense_sift(x, spatial_bin_size=4, stride=2)
    assert grid.shape[0] == 6 and grid.shape[-1] == 128 and grid.dtype == torch.float32
    norms = grid.reshape(-1, 128).norm(dim=1)
    textured = norms > 0.5  # flat neighbourhoods give (near) zero descriptors
    assert textured.any()
    torch.testing.assert_close(norms[textured], torch.ones_like(norms[textured]), atol=1e-3, rtol=0)


@pytest.mark.parametrize(("side", "bin_size", "stride"),
                         [(28, 4, 2), (32, 3, 1), (17, 2, 2), (32, 5, 2), (8, 2, 1), (24, 4, 4), (30, 6, 4)])
def test_the_descriptors_are_kornias_dense_rootsift(side: int, bin_size: int, stride: int) -> None:
    from kornia.feature import DenseSIFTDescriptor

    x, _ = shapes(5, side=side)
    x[0] = 128  # a flat image: all-zero descriptors
    reference = DenseSIFTDescriptor(num_ang_bins=8, num_spatial_bins=4, spatial_bin_size=bin_size, rootsift=True,
                                    stride=stride, padding=1)(torch.from_numpy(x).float().permute(0, 3, 1, 2) / 255.0)
    grid = dense_sift(x, spatial_bin_size=bin_size, stride=stride, chunk_size=2)
    torch.testing.assert_close(grid, reference.permute(0, 2, 3, 1), atol=1e-6, rtol=0)


def test_shifting_an_image_by_the_stride_shifts_the_descriptor_grid() -> None:
    x, _ = shapes(2, side=32)
    shifted = np.zeros_like(x)
    shifted[:, :, 2:] = x[:, :, :-2]  # two pixels right = one stride
    a, b = dense_sift(x, spatial_bin_size=4, stride=2), dense_sift(shifted, spatial_bin_size=4, stride=2)
    torch.testing.assert_close(b[:, :, 3:-2], a[:, :, 2:-3], atol=1e-4, rtol=0)  # interior, away from the borders


def test_colour_images_are_described_by_their_brightness() -> None:
    x, _ = shapes(3)
    colour = np.repeat(x, 3, axis=-1)
    torch.testing.assert_close(dense_sift(colour), dense_sift(x), atol=1e-4, rtol=0)


def test_kmeans_finds_well_separated_clusters() -> None:
    generator = torch.Generator().manual_seed(0)
    centres = torch.tensor([[0.0, 0.0], [10.0, 0.0], [0.0, 10.0]])
    points = torch.cat([c + 0.1 * torch.randn(200, 2, generator=generator) for c in centres])
    found, iterations = kmeans(points, 3, 50, torch.Generator().manual_seed(1))
    order = found[:, 0] * 100 + found[:, 1]  # sort to compare with the known centres
    found = found[order.argsort()]
    expected = centres[(centres[:, 0] * 100 + centres[:, 1]).argsort()]
    torch.testing.assert_close(found, expected, atol=0.05, rtol=0)
    assert 1 <= iterations < 50


def test_pyramid_histograms_have_one_unit_histogram_per_region() -> None:
    x, _ = shapes(30)
    grids = DenseSIFT().fit(x).transform(x)
    codebook = SpatialPyramidCodebook(n_words=16, pyramid_levels=(1, 2), random_state=0).fit(grids)
    features = codebook.transform(grids)
    assert features.shape == (30, 16 * (1 + 4)) and features.dtype == np.float32
    regions = (features**2).reshape(30, 5, 16).sum(axis=2)  # the square root undone: each region's weights sum to 1
    np.testing.assert_allclose(regions, 1.0, atol=1e-4)


def test_the_codebook_is_learned_on_the_grids_given_to_fit_only() -> None:
    x, _ = shapes(40)
    grids = DenseSIFT().fit(x).transform(x)
    codebook = SpatialPyramidCodebook(n_words=16, random_state=0).fit(grids[:20])
    words = codebook.words_.copy()
    codebook.transform(grids[20:])
    np.testing.assert_array_equal(codebook.words_, words)
    again = SpatialPyramidCodebook(n_words=16, random_state=0).fit(grids[:20])
    np.testing.assert_array_equal(again.words_, words)  # same seed, same words


def test_too_few_descriptors_for_the_codebook_is_a_clear_error() -> None:
    x, _ = shapes(1, side=16)
    grids = DenseSIFT().fit(x).transform(x)
    with pytest.raises(ValueError, match="visual words"):
        SpatialPyramidCodebook(n_words=10_000).fit(grids)


def test_images_too_small_for_a_descriptor_are_refused() -> None:
    with pytest.raises(ValueError, match="too small"):
        DenseSIFT(spatial_bin_size=8).fit(np.zeros((2, 8, 8, 1), dtype=np.uint8))


def test_the_featuriser_works_in_a_scikit_learn_pipeline() -> None:
    x, y = shapes(150)
    settings = dataclasses.replace(sift_settings_for(x.shape[1:]), n_words=24)
    model = make_pipeline(make_sift_features(settings), StandardScaler(), LinearSVC(C=0.1))
    model.fit(x[:100], y[:100])
    assert np.mean(model.predict(x[100:]) == y[100:]) > 0.9


def test_sift_svm_runs_in_compare_with_its_codebook_stage() -> None:
    config = CompareConfig(dataset="digits", device="cpu", pipelines=("sift-svm",), train_size=400, test_size=150,
                           seed=1)
    result = run_comparison(config.validated()).pipelines[0]
    assert result.name == "sift-svm" and result.accuracy > 0.7
    stages = [s.name for s in result.stages]
    assert stages[:2] == [WARM_UP_STAGE, "codebook (k-means)"] and "svm fit" in stages and "predict" in stages
    assert all(s.device == "cpu" for s in result.stages)
    # the words' pyramid histograms (1 + 4 + 16 regions), then the intensity thumbnail (8x8 digits: all 64 pixels)
    side = result.details["thumbnail_side"]
    assert side == 8 and result.details["feature_dimensions"] == result.details["sift"]["n_words"] * 21 + side * side


def test_a_tiny_training_set_gets_a_smaller_codebook_instead_of_an_error() -> None:
    config = CompareConfig(dataset="digits", device="cpu", pipelines=("sift-svm",), train_size=10, test_size=20)
    result = run_comparison(config.validated()).pipelines[0]
    assert 2 <= result.details["sift"]["n_words"] < 128
    assert result.details["feature_dimensions"] == result.details["sift"]["n_words"] * 21 + 8 * 8
