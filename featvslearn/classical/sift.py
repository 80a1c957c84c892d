"""Dense SIFT descriptors and a spatial-pyramid visual-word encoding, batched on a torch device.

The bag-of-visual-words pipeline of the late 2000s (Lazebnik et al., 2006), in two
scikit-learn transformers:

- :class:`DenseSIFT` turns images (N, H, W, C) into a grid of SIFT descriptors per image
  (N, rows, cols, 128), computed with kornia's ``DenseSIFTDescriptor`` (RootSIFT).
- :class:`SpatialPyramidCodebook` learns a codebook of visual words by k-means on
  descriptors of the training images only, then encodes each grid as soft-assigned word
  histograms pooled over a spatial pyramid (1×1, 2×2, 4×4 regions), square-rooted.

``Pipeline([("sift", DenseSIFT(...)), ("words", SpatialPyramidCodebook(...))])`` is the
featuriser of ``sift-svm``; an SVM on its (N, n_words × 21) output completes the pipeline.
"""

from __future__ import annotations

import math
from dataclasses import asdict, dataclass
from typing import Any

import numpy as np
import torch
import torch.nn.functional as F
from sklearn.base import BaseEstimator, TransformerMixin
from sklearn.utils import Tags
from sklearn.utils.validation import check_array, check_is_fitted

from featvslearn.classical.array_checks import (
    DeviceCacheMixin,
    check_image_shape,
    check_images,
    check_tensor,
    to_tensor,
)

# ITU-R BT.601 luma weights: colour images are described by their brightness, as SIFT does.
_LUMA = (0.299, 0.587, 0.114)
SIFT_COLOURS = ("grey", "opponent")
"""What :func:`dense_sift` describes: the brightness, or the three opponent colour channels."""


@dataclass(frozen=True)
class SIFTSettings:
    """Dense SIFT and codebook parameters for one image size (reported with the results)."""

    spatial_bin_size: int
    stride: int
    n_words: int
    pyramid_levels: tuple[int, ...]
    neighbours: int
    sigma: float

    def as_dict(self) -> dict[str, Any]:
        return asdict(self)


def sift_settings_for(image_shape: tuple[int, ...], n_words: int = 128) -> SIFTSettings:
    """Parameters suited to images of ``image_shape`` (H, W, C).

    A descriptor's 4×4 cells of ``spatial_bin_size`` pixels span about half the shorter
    side (16 px on 28×28 images); descriptors are sampled every half cell. Each descriptor is
    soft-assigned to its 5 nearest words with ``sigma`` 0.2, chosen on a Fashion-MNIST validation
    split (docs/benchmarks.md).
    """
    side = min(image_shape[:2])
    bin_size = max(2, round(side / 7))
    return SIFTSettings(spatial_bin_size=bin_size, stride=max(1, bin_size // 2), n_words=n_words,
                        pyramid_levels=(1, 2, 4), neighbours=5, sigma=0.2)


def _grey(images: np.ndarray | torch.Tensor, device: torch.device) -> torch.Tensor:
    """uint8 or float images (N, H, W[, C]) -> float grey (N, 1, H, W) in [0, 1] on ``device``."""
    x = torch.as_tensor(np.ascontiguousarray(images) if isinstance(images, np.ndarray) else images, device=device)
    if x.dtype == torch.uint8:
        x = x.float() / 255.0
    x = x.float()
    if x.ndim == 3:
        return x[:, None]
    if x.shape[-1] == 1:
        return x.permute(0, 3, 1, 2)
    if x.shape[-1] != 3:
        raise ValueError(f"images must have 1 or 3 channels, not {x.shape[-1]}")
    red, green, blue = x.unbind(-1)  # each (N, H, W); weights as Python floats: nothing copied from the host
    return (_LUMA[0] * red + _LUMA[1] * green + _LUMA[2] * blue)[:, None]  # (N, 1, H, W)


def _opponent(images: np.ndarray | torch.Tensor, device: torch.device) -> torch.Tensor:
    """uint8 or float images (N, H, W[, C]) -> the opponent colour channels (N, 3, H, W) on ``device``:
    (R - G) / √2, (R + G - 2B) / √6 and (R + G + B) / √3 (van de Sande et al., 2010), from [0, 1]
    values; grey images give zero colour channels and their intensity."""
    x = torch.as_tensor(np.ascontiguousarray(images) if isinstance(images, np.ndarray) else images, device=device)
    x = x.float() / 255.0 if x.dtype == torch.uint8 else x.float()
    if x.ndim == 3:
        x = x[..., None]
    if x.shape[-1] not in (1, 3):
        raise ValueError(f"images must have 1 or 3 channels, not {x.shape[-1]}")
    red, green, blue = x.expand(*x.shape[:3], 3).unbind(-1)  # each (N, H, W)
    return torch.stack([(red - green) / math.sqrt(2), (red + green - 2 * blue) / math.sqrt(6),
                        (red + green + blue) / math.sqrt(3)], dim=1)  # (N, 3, H, W)


def dense_sift(images: np.ndarray | torch.Tensor, *, spatial_bin_size: int = 4, stride: int = 2,
               device: str | torch.device = "cpu", chunk_size: int | None = None,
               colour: str = "grey") -> torch.Tensor:
    """RootSIFT descriptors on a regular grid of every image.

    ``images``: (N, H, W) or (N, H, W, C) uint8 or float in [0, 1], an array or a tensor (a tensor
    already on ``device`` is not copied). ``colour="grey"`` reduces colour to grey; ``"opponent"``
    describes each opponent colour channel (:func:`_opponent`) and joins the three descriptors
    (opponent SIFT, van de Sande et al., 2010). Returns a float32 tensor (N, rows, cols, 128 × k)
    on ``device``, k the channels described; each descriptor covers 4×4 cells of ``spatial_bin_size``
    pixels, and neighbouring descriptors are ``stride`` pixels apart. Images are described
    ``chunk_size`` at a time: by default 512 on the CPU, whose intermediates stay in cache (twice as
    fast as 2,048 on a 2-core CPU), and 4,096 on an accelerator.

    The descriptors are kornia's ``DenseSIFTDescriptor`` (the same values, to float rounding),
    computed in fewer passes: its gradient histograms and pooling kernel; the spatial pooling only
    where descriptors sample it (every ``gcd(stride, spatial_bin_size)`` pixels, a quarter of the
    positions at 28×28), by one grouped convolution for all orientation maps; kornia's selection
    convolution (each of its 128 outputs copies one pooled value) as one strided copy; and the
    normalisations along the last axis of (N, rows, cols, 128). The second L2 normalisation is left
    out: RootSIFT's L1 normalisation that follows does not depend on the scale.
    """
    from kornia.feature import DenseSIFTDescriptor

    if colour not in SIFT_COLOURS:
        raise ValueError(f"colour must be one of {', '.join(SIFT_COLOURS)}, got {colour!r}")
    device = torch.device(device)
    describe = DenseSIFTDescriptor(num_ang_bins=8, num_spatial_bins=4, spatial_bin_size=spatial_bin_size,
                                   rootsift=True, stride=stride, padding=1).to(device)
    if chunk_size is None:
        chunk_size = 512 if device.type == "cpu" else 4096
    parts = []
    with torch.no_grad():
        for start in range(0, len(images), chunk_size):
            chunk = images[start : start + chunk_size]
            if colour == "grey":
                x = _grey(chunk, device)  # (n, 1, H, W)
            else:
                opponent = _opponent(chunk, device)  # (n, 3, H, W)
                x = opponent.reshape(-1, 1, *opponent.shape[2:])  # (n * 3, 1, H, W)
            histograms = describe.get_gradient_histograms(x)  # (n * k, 8, H, W)
            raw = _pooled_cells(histograms, describe)  # (n * k, rows, cols, 128)
            clipped = F.normalize(raw, dim=-1).clamp_(0.0, describe.clipval)
            described = torch.sqrt(F.normalize(clipped, p=1, dim=-1) + describe.eps)  # RootSIFT, per channel
            n = len(chunk)
            k = len(described) // n
            parts.append(described.reshape(n, k, *described.shape[1:3], 128).permute(0, 2, 3, 1, 4)
                         .reshape(n, *described.shape[1:3], k * 128))  # (n, rows, cols, k * 128)
    if not parts:
        raise ValueError("no images to describe")
    return torch.cat(parts)


def _pooled_cells(histograms: torch.Tensor, describe: Any) -> torch.Tensor:
    """kornia's spatially pooled cells of every descriptor, (n, A, H, W) maps -> (n, rows, cols, A * S * S).

    kornia pools each orientation map with its bin kernel (stride 1), then a convolution of
    ``S * S`` dilated taps (``S`` spatial bins, dilation ``b``, the bin size; stride ``s``; zero
    padding ``P``) picks each descriptor's cells: pooled position ``r*s + k*b - P`` for grid row
    ``r`` and cell row ``k``. These are all ``≡ -P (mod g)``, ``g = gcd(s, b)``, so the pooling runs
    at stride ``g`` on those positions only, and the picking is a strided view copied once, in
    kornia's (orientation, cell row, cell column) order of the 128 values.
    """
    pool, pick = describe.bin_pooling_kernel, describe.PoolingConv
    n, angles, height, width = histograms.shape
    cells, step, stride, pick_pad = pick.kernel_size[0], pick.dilation[0], pick.stride[0], pick.padding[0]
    g = math.gcd(stride, step)
    first = -pick_pad % g  # the first pooled position read; then every g-th
    top = (pick_pad + first) // g  # zero rows (and columns) before it in the picking's padding
    padded = F.pad(histograms, (pool.padding[1],) * 2 + (pool.padding[0],) * 2)  # (n, A, H + 2p, W + 2p)
    pooled = F.conv2d(padded[:, :, first:, first:], pool.weight.expand(angles, -1, -1, -1), None, g,
                      groups=angles)  # (n, A, H_g, W_g): pooled positions first, first + g, ...
    full_height = height + 2 * pool.padding[0] - pool.kernel_size[0] + 1  # kornia's pooled map, (H', W')
    full_width = width + 2 * pool.padding[1] - pool.kernel_size[1] + 1
    rows = (full_height + 2 * pick_pad - step * (cells - 1) - 1) // stride + 1  # kornia's descriptor grid
    cols = (full_width + 2 * pick_pad - step * (cells - 1) - 1) // stride + 1
    # Pooled position r*s + k*b - P is row (r*s + k*b) / g of the strided map framed by ``top`` zero rows.
    need_rows = ((rows - 1) * stride + (cells - 1) * step) // g + 1
    need_cols = ((cols - 1) * stride + (cells - 1) * step) // g + 1
    framed = F.pad(pooled, (top, max(0, need_cols - pooled.shape[3] - top),
                            top, max(0, need_rows - pooled.shape[2] - top)))  # (n, A, fh, fw)
    _, _, fh, fw = framed.shape
    view = framed.as_strided((n, rows, cols, angles, cells, cells),
                             (angles * fh * fw, stride // g * fw, stride // g, fh * fw, step // g * fw, step // g))
    return view.reshape(n, rows, cols, angles * cells * cells)  # (n, rows, cols, A*S*S): one copy


class DenseSIFT(TransformerMixin, BaseEstimator):
    """Images (N, H, W[, C]) -> dense RootSIFT grids (N, rows, cols, 128 or 384) float32, on a torch device.

    Parameters: ``spatial_bin_size`` (pixels per descriptor cell), ``stride`` (pixels between
    descriptors), ``device`` (torch device), ``colour`` ("grey", or "opponent": 384 values per
    descriptor, see :func:`dense_sift`). ``X``: images ``(N, H, W)`` grey or ``(N, H, W, C)``
    with ``C`` in {1, 3}, uint8 or float in [0, 1], finite, an array or a tensor on any device.
    ``transform`` returns an array for an array and, for a tensor, a tensor on ``device``: the
    input of :class:`SpatialPyramidCodebook`, with no copy to the host in between.
    Fitted attributes: ``image_shape_`` (H, W, C), ``n_features_in_`` (H * W * C, the values of
    one image), ``grid_shape_`` (rows, cols).
    """

    def __init__(self, spatial_bin_size: int = 4, stride: int = 2, device: str = "cpu", colour: str = "grey") -> None:
        self.spatial_bin_size = spatial_bin_size
        self.stride = stride
        self.device = device
        self.colour = colour

    def fit(self, X: np.ndarray | torch.Tensor, y: object = None) -> DenseSIFT:
        """Check the images and the parameters against the image size; returns self.

        Raises ValueError for images too small for one descriptor, no images, a shape that is not
        a stack of images, NaN, infinite or complex values; TypeError for sparse input.
        """
        if self.spatial_bin_size < 1 or self.stride < 1:
            raise ValueError("spatial_bin_size and stride must be at least 1")
        images = check_images(X, self)
        self.image_shape_ = tuple(images.shape[1:])
        self.n_features_in_ = int(np.prod(self.image_shape_))
        too_small = ValueError(f"images of {self.image_shape_[:2]} are too small for SIFT descriptors with "
                               f"{self.spatial_bin_size}-pixel cells; use a smaller spatial_bin_size")
        try:
            self.grid_shape_ = tuple(self._describe(images[:1]).shape[1:3])
        except RuntimeError:  # the pooling kernel is larger than the image
            raise too_small from None
        if min(self.grid_shape_) < 1:
            raise too_small
        return self

    def _describe(self, images: np.ndarray | torch.Tensor) -> torch.Tensor:
        return dense_sift(images, spatial_bin_size=self.spatial_bin_size, stride=self.stride, device=self.device,
                          colour=self.colour)

    def transform(self, X: np.ndarray | torch.Tensor) -> np.ndarray | torch.Tensor:
        """Descriptor grids (N, rows, cols, 128 or 384) float32: an array, or a tensor on ``device`` for a tensor."""
        check_is_fitted(self)
        images = check_images(X, self, min_samples=0)
        check_image_shape(images, self)
        if len(images) == 0:
            length = 128 * (3 if self.colour == "opponent" else 1)
            grids = torch.zeros(0, *self.grid_shape_, length, device=torch.device(self.device))
        else:
            grids = self._describe(images)
        return grids if isinstance(images, torch.Tensor) else grids.cpu().numpy()

    def __sklearn_tags__(self) -> Tags:
        tags = super().__sklearn_tags__()
        tags.input_tags.three_d_array = True
        tags.transformer_tags.preserves_dtype = []  # the grids are float32 tensors, whatever comes in
        return tags


def word_scores(points: torch.Tensor, words: torch.Tensor) -> torch.Tensor:
    """(M, K) squared distances of ``points`` (M, D) to ``words`` (K, D), less each point's own squared
    norm: ``|w|² - 2 p·w`` in one matrix product. The order of the words, and a softmax over them, are
    those of the squared distances (the dropped term is constant along a row)."""
    return torch.addmm(words.square().sum(dim=1), points, words.T, alpha=-2.0)


def nearest_word(points: torch.Tensor, words: torch.Tensor, chunk_size: int = 65536) -> torch.Tensor:
    """Index (M,) of the nearest of ``words`` (K, D) for each of ``points`` (M, D), in bounded memory."""
    return torch.cat([word_scores(points[i : i + chunk_size], words).argmin(dim=1)
                      for i in range(0, len(points), chunk_size)])


def kmeans(points: torch.Tensor, k: int, max_iterations: int, generator: torch.Generator,
           tolerance: float = 1e-4) -> tuple[torch.Tensor, int]:
    """Lloyd's k-means on ``points`` (M, D) from k random points; returns centres (k, D) and iterations run.

    Runs on the points' device, with distances computed in chunks; an empty cluster is moved
    to the point farthest from its centre. Stops when no centre moves by more than
    ``tolerance`` (relative to the data's scale) or after ``max_iterations``.
    """
    start = torch.randperm(len(points), generator=generator)[:k].to(points.device)
    words = points[start].clone()  # (k, D): k distinct data points
    scale = points.std(dim=0).norm().clamp_min(1e-12)
    iterations = 0
    while iterations < max_iterations:
        iterations += 1
        assignment = nearest_word(points, words)  # (M,)
        sums = torch.zeros_like(words).index_add_(0, assignment, points)
        counts = torch.bincount(assignment, minlength=k).to(points.dtype)
        new = sums / counts.clamp_min(1)[:, None]
        empty = counts == 0
        if empty.any():  # re-seed empty clusters at the worst-served points
            residual = (points - new[assignment]).norm(dim=1)
            new[empty] = points[residual.topk(int(empty.sum())).indices]
        shift = (new - words).norm(dim=1).max() / scale
        words = new
        if shift <= tolerance:
            break
    return words, iterations


class SpatialPyramidCodebook(DeviceCacheMixin, TransformerMixin, BaseEstimator):
    """Visual words by k-means, and soft-assigned word histograms pooled over a spatial pyramid.

    ``fit`` runs k-means (random seeds, then Lloyd's iterations, on the device) on at
    most ``max_descriptors`` descriptors drawn from the grids it is given: pass training
    images only. ``transform`` assigns every descriptor to its ``neighbours`` nearest words
    with weights ``softmax(-d² / 2σ²)``, averages the assignments over each region of each
    pyramid level (1×1, 2×2, 4×4 by default), and square-roots the result (the Hellinger
    map, which suits linear SVMs on histograms).

    Input: grids (N, rows, cols, D), an array or a tensor (on any device; moved to ``device``),
    finite; ``transform`` accepts grids of any rows × cols. Output: (N, n_words × Σ level²)
    float32, an array for an array and a tensor on ``device`` for a tensor, so a pipeline can
    stay on its device. Fitted attributes (NumPy): ``words_`` (n_words, D) float32, ``n_iter_``
    (k-means iterations), ``n_features_in_`` (D, the descriptor length), ``n_features_out_``.
    """

    def __init__(self, n_words: int = 128, pyramid_levels: tuple[int, ...] = (1, 2, 4), neighbours: int = 5,
                 sigma: float = 0.2, max_descriptors: int = 100_000, max_iterations: int = 30,
                 random_state: int = 0, device: str = "cpu") -> None:
        self.n_words = n_words
        self.pyramid_levels = pyramid_levels
        self.neighbours = neighbours
        self.sigma = sigma
        self.max_descriptors = max_descriptors
        self.max_iterations = max_iterations
        self.random_state = random_state
        self.device = device

    def _grids(self, X: Any, *, reset: bool) -> torch.Tensor:
        """Descriptor grids ``X`` (N, rows, cols, D) checked -> float32 tensor on ``device``.

        Sets ``n_features_in_`` to D when ``reset`` (and needs one grid at least), otherwise
        refuses another D.
        """
        device = torch.device(self.device)
        min_samples = 1 if reset else 0
        if isinstance(X, torch.Tensor):
            grids = check_tensor(X, self, ndim=4, min_samples=min_samples, device=device, dtype=torch.float32)
        else:
            array = check_array(X, ensure_2d=False, allow_nd=True, dtype=np.float32, ensure_min_samples=min_samples,
                                estimator=self, input_name="X")
            if array.ndim != 4:
                raise ValueError(f"expected descriptor grids (N, rows, cols, D), got shape {array.shape}")
            if array.shape[-1] < 1:
                raise ValueError(f"Found array with 0 feature(s) (shape={array.shape}) while a minimum of 1 is "
                                 f"required by {type(self).__name__}.")
            grids = to_tensor(array, device, torch.float32)
        if reset:
            self.n_features_in_ = int(grids.shape[-1])
        elif grids.shape[-1] != self.n_features_in_:
            raise ValueError(f"X has descriptors of {grids.shape[-1]} values, but {type(self).__name__} is expecting "
                             f"descriptors of {self.n_features_in_} values as input.")
        return grids

    def fit(self, X: Any, y: object = None) -> SpatialPyramidCodebook:
        """Learn ``n_words`` visual words from the descriptors of grids ``X``; returns self.

        Raises ValueError for fewer descriptors than words, NaN or infinite values, and input
        that is not a stack of grids; TypeError for sparse input.
        """
        if int(self.n_words) < 1:
            raise ValueError(f"n_words must be at least 1, got {self.n_words}")
        device = torch.device(self.device)
        grids = self._grids(X, reset=True)
        descriptors = grids.reshape(-1, grids.shape[-1])  # (N * rows * cols, D)
        if len(descriptors) < self.n_words:
            raise ValueError(f"{len(descriptors)} descriptors cannot make {self.n_words} visual words; "
                             "use more training images or fewer words")
        generator = torch.Generator().manual_seed(self.random_state)
        if len(descriptors) > self.max_descriptors:
            chosen = torch.randperm(len(descriptors), generator=generator)[: self.max_descriptors]
            descriptors = descriptors[chosen.to(device)]
        words, self.n_iter_ = kmeans(descriptors, self.n_words, self.max_iterations, generator)  # (K, D)
        self.words_ = words.cpu().numpy()  # one copy to the host per fit
        self._keep_on_device("words_", words)
        self.n_features_out_ = self.n_words * sum(level * level for level in self.pyramid_levels)
        return self

    def transform(self, X: Any, chunk_size: int | None = None) -> np.ndarray | torch.Tensor:
        """Pyramid histograms (N, n_words × Σ level²) float32 of grids (N, rows, cols, D).

        Grids are encoded ``chunk_size`` at a time: by default 256 on the CPU (they stay in
        cache) and 4,096 on an accelerator (fewer, larger kernels; no host synchronisation).
        """
        check_is_fitted(self)
        grids = self._grids(X, reset=False)
        words = self._on_device("words_", torch.float32)  # (K, D)
        device = words.device
        if chunk_size is None:
            chunk_size = 256 if device.type == "cpu" else 4096
        k = min(self.neighbours, self.n_words)
        parts = []
        for start in range(0, len(grids), chunk_size):
            g = grids[start : start + chunk_size]  # (n, rows, cols, D)
            n, rows, cols, d = g.shape
            flat = g.reshape(-1, d)  # (n * rows * cols, D)
            scores, nearest = word_scores(flat, words).topk(k, largest=False)  # (M, k): the k nearest words
            weights = torch.softmax(-scores / (2 * self.sigma**2), dim=1)  # (M, k): by squared distance
            assignment = torch.zeros(len(flat), self.n_words, device=device).scatter_(1, nearest, weights)
            assignment = assignment.reshape(n, rows, cols, -1).permute(0, 3, 1, 2)  # (n, K, rows, cols)
            pooled = [torch.nn.functional.adaptive_avg_pool2d(assignment, level).permute(0, 2, 3, 1).reshape(n, -1)
                      for level in self.pyramid_levels]  # each (n, level² * K): one histogram per region
            parts.append(torch.cat(pooled, dim=1).sqrt())
        features = torch.cat(parts) if parts else torch.zeros(0, self.n_features_out_, device=device)
        return features if isinstance(X, torch.Tensor) else features.cpu().numpy()

    def __sklearn_tags__(self) -> Tags:
        tags = super().__sklearn_tags__()
        tags.input_tags.three_d_array = True
        tags.transformer_tags.preserves_dtype = ["float32"]
        return tags


def make_sift_features(settings: SIFTSettings, device: str = "cpu", seed: int = 0, colour: str = "grey") -> Any:
    """The sift-svm featuriser: dense SIFT (of ``colour``, see :func:`dense_sift`) then the
    spatial-pyramid codebook, as one Pipeline."""
    from sklearn.pipeline import Pipeline

    return Pipeline([
        ("sift", DenseSIFT(spatial_bin_size=settings.spatial_bin_size, stride=settings.stride, device=device,
                           colour=colour)),
        ("words", SpatialPyramidCodebook(n_words=settings.n_words, pyramid_levels=settings.pyramid_levels,
                                         neighbours=settings.neighbours, sigma=settings.sigma,
                                         random_state=seed, device=device)),
    ])
