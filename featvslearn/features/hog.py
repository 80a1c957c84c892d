"""Histograms of oriented gradients (Dalal & Triggs, 2005) and intensity thumbnails.

Both are scikit-learn transformers over whole image arrays, ``(N, H, W)`` grey or
``(N, H, W, C)`` with ``C`` in {1, 3}, uint8 or float, and return ``(N, D)`` float32 arrays, so
they drop into a ``sklearn.pipeline.Pipeline`` or ``FeatureUnion``.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
from joblib import Parallel, delayed
from skimage.feature import hog as skimage_hog
from sklearn.base import BaseEstimator, TransformerMixin
from sklearn.utils.validation import check_is_fitted

BLOCK_NORMS = ("L1", "L1-sqrt", "L2", "L2-Hys")


def _as_nhwc(images: np.ndarray) -> np.ndarray:
    """Images as (N, H, W, C); a 3-d array is taken as (N, H, W) grey."""
    images = np.asarray(images)
    if images.ndim == 3:
        images = images[..., None]
    if images.ndim != 4 or images.shape[-1] not in (1, 3):
        raise ValueError(f"expected images shaped (N, H, W) or (N, H, W, C) with C in 1 or 3, got {images.shape}")
    return images


def _hog_chunk(images: np.ndarray, params: dict) -> np.ndarray:
    """skimage HOG of each image in a chunk (n, H, W, C) -> (n, D) float32."""
    colour = images.shape[-1] == 3
    rows = [
        skimage_hog(image if colour else image[..., 0], channel_axis=-1 if colour else None, **params)
        for image in images
    ]
    return np.asarray(rows, dtype=np.float32)


class HOGTransformer(TransformerMixin, BaseEstimator):
    """HOG descriptors of every image, computed with ``skimage.feature.hog``.

    Colour images use skimage's ``channel_axis=-1`` (the strongest channel's gradient per
    pixel). Images are split into chunks that ``n_jobs`` processes share (-1: all cores).
    Fitted attributes: ``image_shape_`` (H, W, C) and ``n_features_out_``.
    """

    def __init__(self, orientations: int = 9, pixels_per_cell: tuple[int, int] = (8, 8),
                 cells_per_block: tuple[int, int] = (3, 3), block_norm: str = "L2-Hys",
                 transform_sqrt: bool = False, n_jobs: int | None = -1) -> None:
        self.orientations = orientations
        self.pixels_per_cell = pixels_per_cell
        self.cells_per_block = cells_per_block
        self.block_norm = block_norm
        self.transform_sqrt = transform_sqrt
        self.n_jobs = n_jobs

    def _params(self) -> dict:
        return {
            "orientations": int(self.orientations),
            "pixels_per_cell": tuple(int(v) for v in self.pixels_per_cell),
            "cells_per_block": tuple(int(v) for v in self.cells_per_block),
            "block_norm": self.block_norm,
            "transform_sqrt": bool(self.transform_sqrt),
        }

    def fit(self, X: np.ndarray, y: object = None) -> HOGTransformer:
        """Check the parameters against the image size; returns self."""
        images = _as_nhwc(X)
        params = self._params()
        if params["block_norm"] not in BLOCK_NORMS:
            raise ValueError(f"block_norm must be one of {', '.join(BLOCK_NORMS)}, got {self.block_norm!r}")
        if params["orientations"] < 1:
            raise ValueError(f"orientations must be at least 1, got {self.orientations}")
        h, w = images.shape[1:3]
        (ch, cw), (bh, bw) = params["pixels_per_cell"], params["cells_per_block"]
        if min(ch, cw, bh, bw) < 1:
            raise ValueError("pixels_per_cell and cells_per_block must be positive")
        if h // ch < bh or w // cw < bw:
            raise ValueError(
                f"{h}x{w} images hold {h // ch}x{w // cw} cells of {ch}x{cw} pixels, fewer than one "
                f"block of {bh}x{bw} cells; use smaller pixels_per_cell or cells_per_block"
            )
        self.image_shape_ = tuple(images.shape[1:])
        self.n_features_out_ = _hog_chunk(images[:1], params).shape[1]
        return self

    def transform(self, X: np.ndarray) -> np.ndarray:
        """HOG features (N, n_features_out_) float32 of images shaped like the fitted ones."""
        check_is_fitted(self, "n_features_out_")
        images = _as_nhwc(X)
        if tuple(images.shape[1:]) != self.image_shape_:
            raise ValueError(f"images are {images.shape[1:]}, but the transformer was fitted on {self.image_shape_}")
        if len(images) == 0:
            return np.zeros((0, self.n_features_out_), dtype=np.float32)
        params = self._params()
        n_chunks = max(1, min(len(images) // 500, 4 * _n_workers(self.n_jobs)))
        if n_chunks == 1:
            return _hog_chunk(images, params)
        chunks = Parallel(n_jobs=self.n_jobs)(
            delayed(_hog_chunk)(chunk, params) for chunk in np.array_split(images, n_chunks)
        )
        return np.concatenate(chunks)


def _n_workers(n_jobs: int | None) -> int:
    import joblib

    return max(1, joblib.effective_n_jobs(n_jobs))


class ThumbnailTransformer(TransformerMixin, BaseEstimator):
    """Each image shrunk by area averaging to ``size`` x ``size`` and flattened, in [0, 1].

    HOG keeps edges and drops intensity; the thumbnail keeps coarse intensity and colour.
    Fitted attributes: ``image_shape_`` (H, W, C) and ``n_features_out_``.
    """

    def __init__(self, size: int = 14) -> None:
        self.size = size

    def fit(self, X: np.ndarray, y: object = None) -> ThumbnailTransformer:
        """Record the image shape; returns self."""
        images = _as_nhwc(X)
        if not 1 <= int(self.size) <= min(images.shape[1:3]):
            raise ValueError(f"size must be between 1 and the image side, got {self.size}")
        self.image_shape_ = tuple(images.shape[1:])
        self.n_features_out_ = int(self.size) ** 2 * images.shape[-1]
        return self

    def transform(self, X: np.ndarray) -> np.ndarray:
        """Thumbnails (N, size * size * C) float32."""
        import torch
        import torch.nn.functional as F

        check_is_fitted(self, "n_features_out_")
        images = _as_nhwc(X)
        x = torch.from_numpy(np.ascontiguousarray(images)).permute(0, 3, 1, 2).float() / 255.0  # (N, C, H, W)
        small = F.adaptive_avg_pool2d(x, int(self.size))  # (N, C, size, size)
        return small.reshape(len(images), -1).numpy()


@dataclass(frozen=True)
class HOGScale:
    """One HOG setting: cell side in pixels and block side in cells."""

    pixels_per_cell: int
    cells_per_block: int


def hog_scales_for(height: int, width: int) -> tuple[HOGScale, HOGScale]:
    """A fine and a coarse HOG scale suited to ``height`` x ``width`` images.

    The fine scale has cells of about a seventh of the image side (4 pixels at 28x28, 2 at
    8x8); the coarse one cells of about a quarter (7 pixels at 28x28). Both use 2x2 blocks.
    """
    side = min(height, width)
    fine = max(2, side // 7)
    coarse = max(fine + 2, side // 4)
    coarse = min(coarse, side // 2)  # at least 2x2 cells, so one 2x2 block fits
    return HOGScale(fine, 2), HOGScale(max(coarse, 1), 2)


def thumbnail_side_for(height: int, width: int) -> int:
    """Thumbnail side: the whole image up to 28 pixels, half the side above."""
    side = min(height, width)
    return side if side <= 28 else side // 2
