"""The hand-engineered pipeline: HOG features -> standardisation -> linear SVM.

``make_hog_features`` builds the featuriser (two HOG scales plus an intensity thumbnail) as a
scikit-learn ``FeatureUnion``; ``make_svm`` builds the scaler and SVM as a ``Pipeline``.
``make_pipeline(make_hog_features(...), make_svm(...))`` is the whole pipeline for your own
scikit-learn code; the experiment runs the two halves as separately measured stages.
"""

from __future__ import annotations

from dataclasses import asdict, dataclass
from typing import Any

import numpy as np
from sklearn.pipeline import FeatureUnion, Pipeline
from sklearn.preprocessing import StandardScaler

from featvslearn.features.hog import HOGTransformer, ThumbnailTransformer, hog_scales_for, thumbnail_side_for
from featvslearn.svm import LinearSVM


@dataclass(frozen=True)
class HOGSettings:
    """The HOG featuriser's parameters for one image size (reported with the results)."""

    orientations: int
    fine_pixels_per_cell: int
    coarse_pixels_per_cell: int
    cells_per_block: int
    block_norm: str
    thumbnail_side: int

    def as_dict(self) -> dict[str, Any]:
        return asdict(self)


def hog_settings_for(image_shape: tuple[int, int, int]) -> HOGSettings:
    """HOG parameters suited to images of ``image_shape`` (H, W, C)."""
    height, width = image_shape[:2]
    fine, coarse = hog_scales_for(height, width)
    return HOGSettings(
        orientations=9,
        fine_pixels_per_cell=fine.pixels_per_cell,
        coarse_pixels_per_cell=coarse.pixels_per_cell,
        cells_per_block=fine.cells_per_block,
        block_norm="L2-Hys",
        thumbnail_side=thumbnail_side_for(height, width),
    )


def make_hog_features(settings: HOGSettings, n_jobs: int | None = -1) -> FeatureUnion:
    """The featuriser: fine HOG, coarse HOG and an intensity thumbnail, side by side."""

    def hog(cell: int) -> HOGTransformer:
        return HOGTransformer(
            orientations=settings.orientations,
            pixels_per_cell=(cell, cell),
            cells_per_block=(settings.cells_per_block, settings.cells_per_block),
            block_norm=settings.block_norm,
            n_jobs=n_jobs,
        )

    return FeatureUnion([
        ("hog_fine", hog(settings.fine_pixels_per_cell)),
        ("hog_coarse", hog(settings.coarse_pixels_per_cell)),
        ("thumbnail", ThumbnailTransformer(size=settings.thumbnail_side)),
    ])


def default_svm_c(n_train: int) -> float:
    """Regularisation suited to the training-set size: stronger for small sets."""
    return 0.003 if n_train >= 20_000 else 0.03 if n_train >= 2_000 else 0.3


def make_svm(n_train: int, device: str = "cpu", C: float | None = None, max_iter: int = 150) -> Pipeline:
    """Standardisation followed by the torch linear SVM on ``device``."""
    return Pipeline([
        ("scale", StandardScaler()),
        ("svm", LinearSVM(C=default_svm_c(n_train) if C is None else C, max_iter=max_iter, device=device)),
    ])


def transform_in_chunks(featuriser: FeatureUnion, images: np.ndarray, chunk_size: int,
                        progress: Any = None) -> np.ndarray:
    """Apply a fitted featuriser to ``images`` (N, H, W, C) chunk by chunk -> (N, D) float32.

    ``progress(done, total)`` is called after each chunk, so a long extraction shows a bar.
    """
    parts = []
    for start in range(0, len(images), chunk_size):
        parts.append(featuriser.transform(images[start : start + chunk_size]).astype(np.float32, copy=False))
        if progress is not None:
            progress(min(start + chunk_size, len(images)), len(images))
    return np.concatenate(parts) if parts else np.zeros((0, 0), dtype=np.float32)
