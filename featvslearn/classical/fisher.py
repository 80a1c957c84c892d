"""Improved Fisher vectors of dense descriptors, batched on a torch device.

The encoding of the strongest hand-engineered pipelines of 2010–2012 (Perronnin, Sánchez and Mensink,
2010; the ILSVRC 2011 winner): descriptors reduced by PCA, a diagonal Gaussian mixture fitted by EM,
and per image the gradients of the descriptors' log-likelihood with respect to the mixture's means
and variances, power- and L2-normalised, optionally per region of a spatial pyramid.

- :func:`fit_pca`, :func:`fit_gmm` (EM, initialised by k-means) and :func:`gmm_log_prob` work on
  descriptors (M, D) on any device;
- :func:`fisher_vectors` encodes a batch of descriptor sets (n, P, d) at once, equal to
  ``skimage.feature.fisher_vector(..., improved=True)`` of each set (with ``weights=True``);
- :class:`FisherVectorEncoder` is the scikit-learn transformer: grids (N, rows, cols, D), as
  :class:`featvslearn.classical.sift.DenseSIFT` returns them, in; Fisher vectors (N, F) out.
"""

from __future__ import annotations

import itertools
import math
from typing import Any

import numpy as np
import torch
from sklearn.base import BaseEstimator, TransformerMixin
from sklearn.utils import Tags
from sklearn.utils.validation import check_is_fitted

from featvslearn.classical.array_checks import DeviceCacheMixin
from featvslearn.classical.sift import SpatialPyramidCodebook, kmeans

# ---------------------------------------------------------------------------- PCA and the mixture


def fit_pca(points: torch.Tensor, dimensions: int) -> tuple[torch.Tensor, torch.Tensor]:
    """Principal components of ``points`` (M, D): the mean (D,) and the ``dimensions`` leading
    components (dimensions, D), rows of unit length, largest variance first, each signed so that its
    largest-magnitude entry is positive (the same components from the same data on any device).
    The covariance is accumulated and decomposed in float64."""
    mean = points.double().mean(dim=0)  # (D,)
    centred = points.double() - mean
    covariance = centred.T @ centred / max(1, len(points) - 1)  # (D, D)
    _, vectors = torch.linalg.eigh(covariance)  # ascending eigenvalues; vectors in columns
    components = vectors.flip(1)[:, :dimensions].T  # (dimensions, D)
    signs = components.gather(1, components.abs().argmax(dim=1, keepdim=True)).sign()  # (dimensions, 1)
    return mean.to(points.dtype), (components * signs).to(points.dtype)


def gmm_log_prob(points: torch.Tensor, weights: torch.Tensor, means: torch.Tensor,
                 variances: torch.Tensor) -> torch.Tensor:
    """log(w_k N(x | μ_k, diag σ²_k)) of every point (M, d) under every component -> (M, K).

    Three matrix products: Σ_d (x - μ)² / σ² = x² · (1/σ²) - 2 x · (μ/σ²) + Σ_d μ² / σ².
    """
    precisions = 1.0 / variances  # (K, d)
    squared = (points.square() @ precisions.T - 2.0 * points @ (means * precisions).T
               + (means.square() * precisions).sum(dim=1))  # (M, K)
    constant = torch.log(weights) - 0.5 * (variances.log().sum(dim=1) + points.shape[1] * math.log(2 * math.pi))
    return constant - 0.5 * squared.clamp_min(0.0)  # (M, K)


def fit_gmm(points: torch.Tensor, n_components: int, generator: torch.Generator, max_iterations: int = 100,
            tolerance: float = 1e-3, reg_covar: float = 1e-6, chunk_size: int = 65536,
            ) -> tuple[torch.Tensor, torch.Tensor, torch.Tensor, int, float]:
    """A diagonal Gaussian mixture fitted to ``points`` (M, d) by EM, on their device.

    Initialised as scikit-learn's ``GaussianMixture`` is by default: hard k-means assignments
    (here :func:`featvslearn.classical.sift.kmeans`, 10 iterations), then the M-step. EM stops when
    the mean log-likelihood per point improves by less than ``tolerance`` or after
    ``max_iterations``; ``reg_covar`` is added to every variance, as scikit-learn does.
    Returns weights (K,), means (K, d), variances (K, d), the EM iterations run and the final mean
    log-likelihood per point (nats).
    """
    centres, _ = kmeans(points, n_components, 10, generator)  # (K, d)
    assignment = torch.cat([torch.cdist(points[i : i + chunk_size], centres).argmin(dim=1)
                            for i in range(0, len(points), chunk_size)])  # (M,)
    responsibilities = torch.nn.functional.one_hot(assignment, n_components).to(points.dtype)  # (M, K)
    squares = points.square()  # (M, d)
    previous, log_likelihood, iterations = -math.inf, -math.inf, 0

    def m_step(resp: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor, torch.Tensor]:
        counts = resp.sum(dim=0) + 10 * torch.finfo(points.dtype).eps  # (K,)
        means = resp.T @ points / counts[:, None]  # (K, d)
        variances = (resp.T @ squares / counts[:, None] - means.square()).clamp_min(0.0) + reg_covar  # (K, d)
        return counts / len(points), means, variances

    weights, means, variances = m_step(responsibilities)
    while iterations < max_iterations:
        iterations += 1
        log_prob = torch.cat([gmm_log_prob(points[i : i + chunk_size], weights, means, variances)
                              for i in range(0, len(points), chunk_size)])  # (M, K)
        norm = torch.logsumexp(log_prob, dim=1, keepdim=True)  # (M, 1)
        log_likelihood = float(norm.mean())
        weights, means, variances = m_step(torch.exp(log_prob - norm))
        if abs(log_likelihood - previous) < tolerance:
            break
        previous = log_likelihood
    final = torch.cat([torch.logsumexp(gmm_log_prob(points[i : i + chunk_size], weights, means, variances), dim=1)
                       for i in range(0, len(points), chunk_size)])
    return weights, means, variances, iterations, float(final.mean())


# ---------------------------------------------------------------------------- Fisher vectors


def region_weights(rows: int, cols: int, levels: tuple[int, ...], device: torch.device | str = "cpu",
                   dtype: torch.dtype = torch.float32) -> torch.Tensor:
    """(R, rows * cols) averaging weights of each region of a spatial pyramid over a descriptor grid:
    entry (r, p) is 1 / (descriptors in region r) when position p lies in it, else 0. Regions are
    those of ``adaptive_avg_pool2d`` at each level (1×1, 2×2, ...), level by level, row-major."""
    grid = torch.eye(rows * cols, dtype=dtype, device=device).reshape(rows * cols, 1, rows, cols)  # (P, 1, rows, cols)
    pooled = [torch.nn.functional.adaptive_avg_pool2d(grid, level).reshape(rows * cols, -1) for level in levels]
    return torch.cat(pooled, dim=1).T.contiguous()  # (R, P)


def _atoms(regions: torch.Tensor) -> tuple[list[torch.Tensor], torch.Tensor]:
    """The pieces a pyramid's regions (R, P) cut a grid into: the positions of each piece (all positions
    in the same regions) and the (R, A) weight of each piece in each region (its positions' weight)."""
    patterns, piece = torch.unique((regions > 0).T.cpu(), dim=0, return_inverse=True)  # (A, R), (P,)
    positions = [torch.nonzero(piece == a).flatten().to(regions.device) for a in range(len(patterns))]
    weights = torch.stack([regions[:, where[0]] for where in positions], dim=1)  # (R, A)
    return positions, weights


def fisher_vectors(points: torch.Tensor, weights: torch.Tensor, means: torch.Tensor, variances: torch.Tensor,
                   regions: torch.Tensor | None = None, *, power: float = 0.5,
                   with_weights: bool = False) -> torch.Tensor:
    """Improved Fisher vectors of ``n`` descriptor sets at once: points (n, P, d) -> (n, R * F).

    ``regions`` (R, P) gives each region's averaging weights over the P descriptors
    (:func:`region_weights`; None: one region of all of them). Per region, as
    ``skimage.feature.fisher_vector(..., improved=True, alpha=power)`` computes it: the gradients
    with respect to the mixture weights (K, only ``with_weights``), the means (K × d) and the
    variances (K × d), normalised by the mixture's Fisher information, then signed power
    normalisation and L2 normalisation of the region's vector; F = 2Kd (+ K). The regions' vectors
    are joined in order. Works in the dtype of ``points``.

    The posterior-weighted moments are summed once per piece of the grid that lies in the same
    regions (one batched product each, K × P × 2d per image in all), then combined per region.
    """
    n, p, d = points.shape
    k = len(weights)
    if regions is None:
        regions = torch.full((1, p), 1.0 / p, dtype=points.dtype, device=points.device)
    r = len(regions)
    positions, piece_weights = _atoms(regions)
    bounds = np.cumsum([0] + [len(where) for where in positions]).tolist()
    spans = list(itertools.pairwise(bounds))  # each piece's positions in the reordered grid
    x = points[:, torch.cat(positions)] if len(positions) > 1 else points  # (n, P, d): piece by piece
    posteriors = torch.softmax(gmm_log_prob(x.reshape(-1, d), weights, means, variances), dim=1)  # (n * P, K)
    posteriors = posteriors.reshape(n, p, k).transpose(1, 2)  # (n, K, P)
    both = torch.cat([x, x.square()], dim=2)  # (n, P, 2d)
    pieces = torch.stack([torch.bmm(posteriors[:, :, start:end], both[:, start:end])
                          for start, end in spans], dim=1)  # (n, A, K, 2d): summed moments
    counts = torch.stack([posteriors[:, :, start:end].sum(dim=2) for start, end in spans], dim=1)  # (n, A, K)
    piece_weights = piece_weights.to(points.dtype)
    s0 = torch.einsum("ra,nak->nrk", piece_weights, counts)[..., None]  # (n, R, K, 1): region averages
    s1, s2 = torch.einsum("ra,nakm->nrkm", piece_weights, pieces).split(d, dim=3)  # each (n, R, K, d)
    # skimage's gradients, each a linear function of the moments with per-component coefficients:
    # d_mu = (s1 - s0 μ) / (√w σ); d_sigma = (2 s1 μ - s2 - s0 μ² + s0 σ²) / (√2 √w σ²).
    root_weights = weights.sqrt()[:, None]  # (K, 1)
    mu_scale = 1.0 / (root_weights * variances.sqrt())  # (K, d)
    sigma_scale = 1.0 / (math.sqrt(2) * root_weights * variances)  # (K, d)
    first = k if with_weights else 0
    vectors = torch.empty(n, r, first + 2 * k * d, dtype=points.dtype, device=points.device)  # (n, R, F)
    if with_weights:
        torch.div(s0[..., 0] - weights, root_weights[:, 0], out=vectors[..., :k])  # (n, R, K)
    d_mu = vectors[..., first : first + k * d].unflatten(2, (k, d))  # (n, R, K, d) views of the output
    d_sigma = vectors[..., first + k * d :].unflatten(2, (k, d))
    d_mu.copy_(s1 * mu_scale).addcmul_(s0, -means * mu_scale)
    d_sigma.copy_(s1 * (2 * means * sigma_scale)).addcmul_(s2, -sigma_scale).addcmul_(
        s0, (variances - means.square()) * sigma_scale)
    magnitudes = vectors.abs().sqrt_() if power == 0.5 else vectors.abs().pow_(power)
    vectors = magnitudes.copysign_(vectors)  # signed power normalisation
    vectors = vectors.div_(vectors.norm(dim=2, keepdim=True).clamp_min(torch.finfo(vectors.dtype).tiny))
    return vectors.reshape(n, -1)  # (n, R * F)


class FisherVectorEncoder(DeviceCacheMixin, TransformerMixin, BaseEstimator):
    """Descriptor grids (N, rows, cols, D) -> improved Fisher vectors (N, R × 2Kd) float32, on a device.

    ``fit`` draws at most ``max_descriptors`` descriptors (seeded by ``random_state``) from the
    grids it is given (pass training images' grids only), fits PCA to ``pca_dimensions`` (None:
    no PCA) and then a diagonal Gaussian mixture of ``n_components`` by EM (:func:`fit_gmm`) on the
    projected sample. ``transform`` projects every descriptor and encodes each image's set with
    :func:`fisher_vectors`: one vector per region of the spatial pyramid ``pyramid_levels``
    ((1,): the whole image; (1, 2): also its four quarters), each power- (``power``) and
    L2-normalised; ``with_weights`` adds the gradients with respect to the mixture weights.

    Input: an array or a tensor (on any device; moved to ``device``), finite. Output: an array for
    an array, a tensor on ``device`` for a tensor. Fitted attributes (NumPy): ``mean_`` (D,) and
    ``components_`` (d, D) of the PCA (None without), ``weights_`` (K,), ``means_`` (K, d),
    ``variances_`` (K, d), ``n_iter_`` (EM iterations), ``log_likelihood_`` (mean per sampled
    descriptor, nats), ``n_features_in_`` (D), ``n_features_out_``.
    """

    def __init__(self, n_components: int = 32, pca_dimensions: int | None = 64,
                 pyramid_levels: tuple[int, ...] = (1,), power: float = 0.5, with_weights: bool = False,
                 max_descriptors: int = 200_000, max_iterations: int = 100, random_state: int = 0,
                 device: str = "cpu") -> None:
        self.n_components = n_components
        self.pca_dimensions = pca_dimensions
        self.pyramid_levels = pyramid_levels
        self.power = power
        self.with_weights = with_weights
        self.max_descriptors = max_descriptors
        self.max_iterations = max_iterations
        self.random_state = random_state
        self.device = device

    _grids = SpatialPyramidCodebook._grids  # the same checks of descriptor grids (N, rows, cols, D)

    def fit(self, X: Any, y: object = None) -> FisherVectorEncoder:
        """Fit the PCA and the mixture on a sample of the descriptors of grids ``X``; returns self.

        Raises ValueError for fewer descriptors than components, a PCA size above the descriptor
        length, NaN or infinite values, and input that is not a stack of grids; TypeError for sparse input.
        """
        if int(self.n_components) < 1:
            raise ValueError(f"n_components must be at least 1, got {self.n_components}")
        grids = self._grids(X, reset=True)
        if self.pca_dimensions is not None and not 1 <= self.pca_dimensions <= self.n_features_in_:
            raise ValueError(f"pca_dimensions must be between 1 and the descriptor length {self.n_features_in_}, "
                             f"got {self.pca_dimensions}")
        descriptors = grids.reshape(-1, grids.shape[-1])  # (M, D)
        if len(descriptors) < self.n_components:
            raise ValueError(f"{len(descriptors)} descriptors cannot fit {self.n_components} mixture components; "
                             "use more training images or fewer components")
        generator = torch.Generator().manual_seed(self.random_state)
        if len(descriptors) > self.max_descriptors:
            chosen = torch.randperm(len(descriptors), generator=generator)[: self.max_descriptors]
            descriptors = descriptors[chosen.to(descriptors.device)]  # (M', D)
        if self.pca_dimensions is None:
            self.mean_, self.components_ = None, None
            projected = descriptors
        else:
            mean, components = fit_pca(descriptors, self.pca_dimensions)  # (D,), (d, D)
            self.mean_, self.components_ = mean.cpu().numpy(), components.cpu().numpy()
            self._keep_on_device("mean_", mean)
            self._keep_on_device("components_", components)
            projected = (descriptors - mean) @ components.T  # (M', d)
        weights, means, variances, self.n_iter_, self.log_likelihood_ = fit_gmm(
            projected, self.n_components, generator, self.max_iterations)
        for name, value in (("weights_", weights), ("means_", means), ("variances_", variances)):
            setattr(self, name, value.cpu().numpy())
            self._keep_on_device(name, value)
        per_region = self.n_components * (2 * projected.shape[1] + (1 if self.with_weights else 0))
        self.n_features_out_ = per_region * sum(level * level for level in self.pyramid_levels)
        return self

    def project(self, X: Any) -> torch.Tensor:
        """Grids (N, rows, cols, D) -> the PCA-projected descriptors (N, rows * cols, d) float32 on ``device``."""
        check_is_fitted(self)
        return self._project(self._grids(X, reset=False))

    def _project(self, grids: torch.Tensor) -> torch.Tensor:
        points = grids.reshape(len(grids), -1, grids.shape[-1])  # (n, P, D)
        if self.components_ is None:
            return points
        mean, components = self._on_device("mean_", torch.float32), self._on_device("components_", torch.float32)
        return torch.addmm(-(mean @ components.T), points.reshape(-1, points.shape[2]), components.T).reshape(
            len(points), -1, len(components))  # (n, P, d)

    def transform(self, X: Any, chunk_size: int | None = None) -> np.ndarray | torch.Tensor:
        """Fisher vectors (N, n_features_out_) float32 of grids (N, rows, cols, D) of any rows × cols.

        Grids are encoded ``chunk_size`` at a time: by default 256 on the CPU (the chunk's moments
        stay in cache) and 2,048 on an accelerator.
        """
        check_is_fitted(self)
        grids = self._grids(X, reset=False)
        gmm = [self._on_device(name, torch.float32) for name in ("weights_", "means_", "variances_")]
        device = gmm[0].device
        if chunk_size is None:
            chunk_size = 256 if device.type == "cpu" else 2048
        regions = region_weights(*grids.shape[1:3], tuple(self.pyramid_levels), device)  # (R, P)
        features = torch.empty(len(grids), self.n_features_out_, device=device)  # (N, R * F)
        for start in range(0, len(grids), chunk_size):
            features[start : start + chunk_size] = fisher_vectors(
                self._project(grids[start : start + chunk_size]), *gmm, regions, power=self.power,
                with_weights=self.with_weights)
        return features if isinstance(X, torch.Tensor) else features.cpu().numpy()

    def __sklearn_tags__(self) -> Tags:
        tags = super().__sklearn_tags__()
        tags.input_tags.three_d_array = True
        tags.transformer_tags.preserves_dtype = ["float32"]
        return tags
