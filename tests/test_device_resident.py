"""The classical pipelines stay on their device: tensors in give tensors out, equal to the array path.

Here the device is the CPU; tests/test_cuda.py checks the same on a GPU, without host syncs.
"""

from __future__ import annotations

import numpy as np
import pytest
import torch
from sklearn.preprocessing import StandardScaler

from featvslearn import classical
from featvslearn.classical import HOGTransformer, ThumbnailTransformer
from featvslearn.classical.hog import hog, hog_tensor
from featvslearn.experiments.run import run_pipeline
from featvslearn.pipelines import RunSettings


def images(n: int, side: int = 16, channels: int = 1, seed: int = 0) -> np.ndarray:
    return np.random.default_rng(seed).integers(0, 256, (n, side, side, channels), dtype=np.uint8)


@pytest.mark.parametrize("channels", [1, 3])
@pytest.mark.parametrize("transformer", [
    HOGTransformer(pixels_per_cell=(4, 4), cells_per_block=(2, 2), device="cpu"),
    HOGTransformer(pixels_per_cell=(4, 4), cells_per_block=(2, 2), device=None, n_jobs=1),
    ThumbnailTransformer(size=4),
], ids=["hog-batched", "hog-skimage", "thumbnail"])
def test_image_transformers_give_tensors_for_tensors_and_arrays_for_arrays(transformer: object,
                                                                            channels: int) -> None:
    x = images(12, channels=channels)
    fitted = transformer.fit(x)
    from_array = fitted.transform(x)
    from_tensor = fitted.transform(torch.from_numpy(x))
    assert isinstance(from_array, np.ndarray) and isinstance(from_tensor, torch.Tensor)
    assert from_tensor.dtype == torch.float32 and from_tensor.device.type == "cpu"
    np.testing.assert_allclose(from_tensor.numpy(), from_array, rtol=0, atol=1e-6)
    assert fitted.transform(torch.from_numpy(x[:0])).shape == (0, fitted.n_features_out_)


def test_image_tensors_are_checked_like_arrays() -> None:
    transformer = ThumbnailTransformer(size=4).fit(images(2))
    with pytest.raises(ValueError, match="contains NaN"):  # scikit-learn's words, as for an array
        transformer.transform(torch.full((2, 16, 16, 1), float("nan")))
    with pytest.raises(ValueError, match="contains NaN"):
        transformer.transform(np.full((2, 16, 16, 1), np.nan))
    with pytest.raises(ValueError, match="C in 1 or 3"):
        transformer.transform(torch.zeros(2, 16, 16, 2, dtype=torch.uint8))
    with pytest.raises(ValueError, match="shape"):
        transformer.transform(torch.zeros(2, 8, 8, 1, dtype=torch.uint8))


def test_hog_tensor_leaves_the_descriptors_on_the_device_and_equals_hog() -> None:
    x = images(40, side=28)
    params = {"pixels_per_cell": (4, 4), "cells_per_block": (2, 2)}
    features = hog_tensor(torch.from_numpy(x), device="cpu", **params)
    assert isinstance(features, torch.Tensor) and features.shape == (40, 1296)
    np.testing.assert_array_equal(features.numpy(), hog(x, **params))


def test_featurise_joins_a_feature_union_on_the_device_as_scikit_learn_joins_arrays() -> None:
    x = images(50, side=28)
    featuriser = classical.make_hog_features(classical.hog_settings_for(x.shape[1:]), device="cpu").fit(x[:1])
    seen: list[tuple[int, int]] = []
    features = classical.featurise(featuriser, classical.images_on(x, "cpu"), 16,
                                   lambda done, total: seen.append((done, total)))
    assert isinstance(features, torch.Tensor) and features.dtype == torch.float32
    np.testing.assert_allclose(features.numpy(), featuriser.transform(x), rtol=0, atol=1e-6)
    assert seen == [(16, 50), (32, 50), (48, 50), (50, 50)]


def test_the_standardiser_matches_scikit_learn_and_works_in_place() -> None:
    rng = np.random.default_rng(1)
    x = (rng.normal(size=(3000, 5)) * [1, 10, 1e-3, 0, 5] + [0, -3, 7, 2, 1e4]).astype(np.float32)
    expected = StandardScaler().fit_transform(x)  # the constant column becomes 0, scaled by 1
    tensor = torch.from_numpy(x.copy())
    standardiser = classical.Standardiser(copy=False, chunk_rows=1000)  # several chunks
    out = standardiser.fit_transform(tensor)
    assert out.data_ptr() == tensor.data_ptr()  # no second copy
    np.testing.assert_allclose(out.numpy(), expected, rtol=0, atol=2e-4)
    assert standardiser.scale_[3] == 1.0 and float(out[:, 3].abs().max()) == 0.0


def test_the_standardiser_copies_by_default_and_takes_arrays_in_a_scikit_learn_pipeline() -> None:
    from sklearn.pipeline import make_pipeline
    from sklearn.preprocessing import StandardScaler

    x = np.random.default_rng(1).normal(3.0, 2.0, size=(300, 7)).astype(np.float32)
    before = x.copy()
    out = make_pipeline(classical.Standardiser()).fit(x).transform(x)
    assert isinstance(out, np.ndarray) and out.dtype == np.float32
    np.testing.assert_array_equal(x, before)  # the caller's array is left as it was
    np.testing.assert_allclose(out, StandardScaler().fit_transform(x), rtol=0, atol=1e-5)
    tensor = torch.from_numpy(x)
    assert classical.Standardiser().fit_transform(tensor).data_ptr() != tensor.data_ptr()
    np.testing.assert_array_equal(x, before)


@pytest.mark.parametrize("name", ["hog-svm", "sift-svm", "sift-fv"])
def test_every_classical_stage_runs_on_the_run_device(name: str) -> None:
    if name in ("sift-svm", "sift-fv"):
        pytest.importorskip("kornia")
    from featvslearn.datasets import load_split

    split = load_split("digits", download=False)
    result = run_pipeline(name, split, torch.device("cpu"), RunSettings())
    stages = {stage.name: stage.device for stage in result.stages}
    assert {"features (train)", "standardise", "svm fit", "features (test)", "predict"} <= set(stages)
    assert set(stages.values()) == {"cpu"}
    assert result.accuracy > 0.8
