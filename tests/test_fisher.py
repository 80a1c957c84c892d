"""Fisher vectors against scikit-image, the mixture against scikit-learn, and the sift-fv pipeline.

The reference: ``skimage.feature.fisher_vector(descriptors, gmm, improved=True)`` of each image's
descriptors, given the same mixture (a scikit-learn ``GaussianMixture``) as the batched encoder. The
encoder leaves out the weights' gradients by default (``with_weights=False``: the means' and
variances' only); with them, its vectors are skimage's, entry for entry.
"""

from __future__ import annotations

import numpy as np
import pytest
import torch
from skimage.feature import fisher_vector, learn_gmm
from sklearn.mixture import GaussianMixture

from featvslearn.classical.fisher import (
    FisherVectorEncoder,
    fisher_vectors,
    fit_gmm,
    gmm_log_prob,
    region_weights,
)

FLOAT32_MAX_ABS, FLOAT32_MEAN_ABS = 5e-4, 1e-5
"""Largest and mean difference allowed between the encoder (float32) and skimage (float64), per entry
of unit-length vectors; measured at most 1.0e-4 and 0.4e-6 to 0.9e-6 on average over three seeds. The
power normalisation's square root turns a rounding difference e of a near-zero gradient into up to √e."""
FLOAT64_MAX_ABS = 1e-10
"""The same computed in float64: equal to rounding (measured about 1e-13)."""
LOG_LIKELIHOOD_TOLERANCE = 1e-3
"""Largest difference in mean log-likelihood per point (nats) between our EM fit and scikit-learn's
``GaussianMixture`` on the same data (scikit-learn's own stopping tolerance)."""


@pytest.fixture(autouse=True, scope="module")
def one_thread():
    """Small data: one torch thread, so that no thread waits on another on a busy machine."""
    threads = torch.get_num_threads()
    torch.set_num_threads(1)
    yield
    torch.set_num_threads(threads)


def descriptor_sets(n: int = 12, rows: int = 5, cols: int = 6, d: int = 16, seed: int = 0) -> np.ndarray:
    """Descriptor grids (n, rows, cols, d) of clustered values in [0, 1], like RootSIFT: float32 values
    held as float64, so that both sides of a comparison see the same numbers."""
    rng = np.random.default_rng(seed)
    centres = rng.random((6, d))
    which = rng.integers(0, 6, (n, rows, cols))
    grids = np.clip(centres[which] + 0.08 * rng.standard_normal((n, rows, cols, d)), 0, 1)
    return grids.astype(np.float32).astype(np.float64)


def skimage_gmm(points: np.ndarray, k: int = 8) -> GaussianMixture:
    return learn_gmm(points.reshape(-1, points.shape[-1]), n_modes=k,
                     gm_args={"covariance_type": "diag", "random_state": 0})


def with_mixture(encoder: FisherVectorEncoder, gmm: GaussianMixture) -> FisherVectorEncoder:
    """``encoder`` (fitted) given ``gmm``'s weights, means and variances."""
    encoder.weights_ = gmm.weights_.astype(np.float32)
    encoder.means_ = gmm.means_.astype(np.float32)
    encoder.variances_ = gmm.covariances_.astype(np.float32)
    return encoder


def as_sklearn(weights: np.ndarray, means: np.ndarray, variances: np.ndarray) -> GaussianMixture:
    """A fitted diagonal ``GaussianMixture`` holding the given parameters."""
    gmm = GaussianMixture(len(weights), covariance_type="diag")
    gmm.weights_, gmm.means_ = weights.astype(np.float64), means.astype(np.float64)
    gmm.covariances_ = variances.astype(np.float64)
    gmm.precisions_cholesky_ = 1.0 / np.sqrt(gmm.covariances_)
    return gmm


def reference(points: np.ndarray, gmm: GaussianMixture) -> np.ndarray:
    """skimage's improved Fisher vector of each set of descriptors (n, P, d) -> (n, 2Kd + K)."""
    return np.stack([fisher_vector(np.ascontiguousarray(one, dtype=np.float64), gmm, improved=True)
                     for one in points])


def reference_pyramid(grids: np.ndarray, gmm: GaussianMixture, levels: tuple[int, ...]) -> np.ndarray:
    """skimage's vector of each region's descriptors, regions in :func:`region_weights`'s order, joined."""
    n, rows, cols, d = grids.shape
    regions = region_weights(rows, cols, levels, dtype=torch.float64).numpy() > 0  # (R, P)
    flat = grids.reshape(n, rows * cols, d)
    return np.concatenate([reference(flat[:, region], gmm) for region in regions], axis=1)


# ----------------------------------------------------------------------------- equal to skimage


def test_float64_fisher_vectors_equal_skimage_to_rounding() -> None:
    grids = descriptor_sets()
    gmm = skimage_gmm(grids)
    points = torch.from_numpy(grids.reshape(len(grids), -1, grids.shape[-1]))
    ours = fisher_vectors(points, *(torch.from_numpy(a) for a in (gmm.weights_, gmm.means_, gmm.covariances_)),
                          with_weights=True).numpy()
    expected = reference(points.numpy(), gmm)
    assert ours.shape == expected.shape == (len(grids), 8 * (2 * 16 + 1))
    assert np.abs(ours - expected).max() <= FLOAT64_MAX_ABS


@pytest.mark.parametrize("levels", [(1,), (1, 2)])
def test_the_encoder_equals_skimage_per_image_and_per_pyramid_region(levels: tuple[int, ...]) -> None:
    """Float32 on the CPU, PCA off, the weights' gradients on: skimage's vectors within FLOAT32_MAX_ABS,
    one per region (a 5 x 6 grid: the 2 x 2 regions of adaptive pooling overlap by a row)."""
    grids = descriptor_sets()
    gmm = skimage_gmm(grids)
    encoder = FisherVectorEncoder(n_components=8, pca_dimensions=None, pyramid_levels=levels, with_weights=True)
    encoder = with_mixture(encoder.fit(grids.astype(np.float32)), gmm)
    ours = encoder.transform(grids.astype(np.float32))
    expected = reference_pyramid(grids, gmm, levels)
    assert ours.shape == expected.shape == (len(grids), encoder.n_features_out_)
    difference = np.abs(ours - expected)
    assert difference.max() <= FLOAT32_MAX_ABS and difference.mean() <= FLOAT32_MEAN_ABS, difference.max()


def test_without_the_weights_gradients_the_vector_is_skimages_means_and_variances_part() -> None:
    """The default vector: skimage's unnormalised vector less its first K entries, then power and L2
    normalised; with PCA, on the encoder's projected descriptors and its own fitted mixture."""
    grids = descriptor_sets(n=10, d=32).astype(np.float32)
    encoder = FisherVectorEncoder(n_components=4, pca_dimensions=12, random_state=1).fit(grids)
    gmm = as_sklearn(encoder.weights_, encoder.means_, encoder.variances_)
    projected = encoder.project(grids).numpy().astype(np.float64)  # (n, P, 12)
    raw = np.stack([fisher_vector(one, gmm) for one in projected])[:, 4:]  # (n, 2Kd)
    powered = np.sign(raw) * np.sqrt(np.abs(raw))
    expected = powered / np.linalg.norm(powered, axis=1, keepdims=True)
    difference = np.abs(encoder.transform(grids) - expected)
    assert difference.max() <= FLOAT32_MAX_ABS and difference.mean() <= FLOAT32_MEAN_ABS, difference.max()


def test_pca_keeps_the_leading_components_of_the_training_descriptors() -> None:
    grids = descriptor_sets(d=32).astype(np.float32)
    encoder = FisherVectorEncoder(n_components=4, pca_dimensions=5).fit(grids)
    flat = grids.reshape(-1, 32).astype(np.float64)
    _, _, vt = np.linalg.svd(flat - flat.mean(axis=0), full_matrices=False)
    overlap = np.abs(encoder.components_ @ vt[:5].T)  # (5, 5): the same subspace, component by component
    np.testing.assert_allclose(np.diag(overlap), 1.0, atol=1e-4)
    assert encoder.n_features_out_ == 2 * 4 * 5


# ----------------------------------------------------------------------------- the mixture


def mixture_data(seed: int = 0) -> np.ndarray:
    """4,000 points (4,000, 3) from four diagonal Gaussians, well apart."""
    rng = np.random.default_rng(seed)
    centres = np.array([[0, 0, 0], [4, 0, 1], [0, 5, -2], [3, 4, 4]], dtype=float)
    scales = np.array([[0.5, 1.0, 0.7], [1.2, 0.4, 0.6], [0.8, 0.8, 1.5], [0.3, 0.9, 0.5]])
    which = rng.integers(0, 4, 4000)
    return centres[which] + scales[which] * rng.standard_normal((4000, 3))


def test_log_likelihoods_under_a_given_mixture_are_scikit_learns() -> None:
    x = mixture_data()
    gmm = GaussianMixture(4, covariance_type="diag", random_state=0).fit(x)
    params = [torch.from_numpy(a) for a in (gmm.weights_, gmm.means_, gmm.covariances_)]
    ours = torch.logsumexp(gmm_log_prob(torch.from_numpy(x), *params), dim=1).numpy()
    np.testing.assert_allclose(ours, gmm.score_samples(x), rtol=0, atol=1e-9)


def test_em_reaches_scikit_learns_log_likelihood() -> None:
    x = mixture_data()
    sklearn_score = GaussianMixture(4, covariance_type="diag", random_state=0).fit(x).score(x)
    weights, means, variances, iterations, ours = fit_gmm(torch.from_numpy(x).float(), 4,
                                                          torch.Generator().manual_seed(0))
    assert abs(ours - sklearn_score) <= LOG_LIKELIHOOD_TOLERANCE, (ours, sklearn_score)
    assert 1 <= iterations <= 100 and float(weights.sum()) == pytest.approx(1.0, abs=1e-5)
    assert means.shape == variances.shape == (4, 3) and bool((variances > 0).all())


def test_the_encoders_fit_reports_its_mixtures_log_likelihood() -> None:
    grids = descriptor_sets(d=8).astype(np.float32)
    encoder = FisherVectorEncoder(n_components=3, pca_dimensions=None).fit(grids)
    gmm = as_sklearn(encoder.weights_, encoder.means_, encoder.variances_)
    assert encoder.log_likelihood_ == pytest.approx(gmm.score(grids.reshape(-1, 8)), abs=1e-3)


# ----------------------------------------------------------------------------- checks and the pipeline


def test_parameters_are_checked() -> None:
    grids = descriptor_sets(n=2, d=8).astype(np.float32)
    with pytest.raises(ValueError, match="pca_dimensions must be between 1 and the descriptor length 8"):
        FisherVectorEncoder(pca_dimensions=9).fit(grids)
    with pytest.raises(ValueError, match="cannot fit 100 mixture components"):
        FisherVectorEncoder(n_components=100, pca_dimensions=None).fit(grids)
    with pytest.raises(ValueError, match="n_components must be at least 1"):
        FisherVectorEncoder(n_components=0).fit(grids)


def test_sift_fv_runs_in_compare_on_digits() -> None:
    pytest.importorskip("kornia", reason="sift-fv needs kornia")
    from featvslearn.experiments.compare import run_comparison
    from featvslearn.experiments.config import CompareConfig
    from featvslearn.experiments.run import WARM_UP_STAGE
    from featvslearn.pipelines.sift_fv import PCA_DIMENSIONS, PYRAMID_LEVELS

    config = CompareConfig(dataset="digits", device="cpu", pipelines=("sift-fv",), train_size=400, test_size=150,
                           seed=1)
    result = run_comparison(config.validated()).pipelines[0]
    assert result.name == "sift-fv" and result.accuracy > 0.7
    stages = [stage.name for stage in result.stages]
    assert stages[:2] == [WARM_UP_STAGE, "PCA + Gaussian mixture (EM)"] and "svm fit" in stages
    assert all(stage.device == "cpu" for stage in result.stages)
    fisher = result.details["fisher"]
    assert fisher["training_images"] == 400 and fisher["pca_dimensions"] == PCA_DIMENSIONS
    # 400 images of 8x8 give few descriptors: fewer components than the standard, one Fisher vector per
    # pyramid region, then the 8x8 thumbnail
    regions = sum(level * level for level in PYRAMID_LEVELS)
    assert 1 <= fisher["components"] <= 8
    assert result.details["feature_dimensions"] == regions * 2 * fisher["components"] * PCA_DIMENSIONS + 64


def test_a_tiny_training_set_gets_fewer_components_instead_of_an_error() -> None:
    pytest.importorskip("kornia", reason="sift-fv needs kornia")
    from featvslearn.experiments.compare import run_comparison
    from featvslearn.experiments.config import CompareConfig

    config = CompareConfig(dataset="digits", device="cpu", pipelines=("sift-fv",), train_size=10, test_size=20)
    result = run_comparison(config.validated()).pipelines[0]
    fisher = result.details["fisher"]
    assert 1 <= fisher["components"] < 8  # about one per 50 descriptors of the 10 images
    assert fisher["descriptors"] < 50 * 8 and result.accuracy >= 0.0


# ----------------------------------------------------------------------------- on a GPU


@pytest.mark.cuda
@pytest.mark.skipif(not torch.cuda.is_available(), reason="needs a CUDA GPU (torch.cuda.is_available() is False)")
@pytest.mark.parametrize("levels", [(1,), (1, 2)])
def test_the_encoder_equals_skimage_on_a_gpu(levels: tuple[int, ...]) -> None:
    grids = descriptor_sets()
    gmm = skimage_gmm(grids)
    encoder = FisherVectorEncoder(n_components=8, pca_dimensions=None, pyramid_levels=levels, with_weights=True,
                                  device="cuda")
    encoder = with_mixture(encoder.fit(grids.astype(np.float32)), gmm)
    ours = encoder.transform(torch.from_numpy(grids.astype(np.float32)).cuda())
    assert ours.device.type == "cuda"
    difference = np.abs(ours.cpu().numpy() - reference_pyramid(grids, gmm, levels))
    assert difference.max() <= FLOAT32_MAX_ABS and difference.mean() <= FLOAT32_MEAN_ABS, difference.max()
    x = mixture_data()
    fitted = FisherVectorEncoder(n_components=4, pca_dimensions=None, device="cuda").fit(
        x[:, None, None, :].astype(np.float32))  # each point a grid of one descriptor
    sklearn_score = GaussianMixture(4, covariance_type="diag", random_state=0).fit(x).score(x)
    assert abs(fitted.log_likelihood_ - sklearn_score) <= LOG_LIKELIHOOD_TOLERANCE
