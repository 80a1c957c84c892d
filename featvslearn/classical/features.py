"""The HOG featuriser of hog-svm and the batched featurising every hand-engineered pipeline uses.

``make_hog_features`` builds the featuriser (two HOG scales plus an intensity thumbnail) as a
scikit-learn ``FeatureUnion``; :func:`featurise` runs any such featuriser over images on a
device, chunk by chunk, and leaves the features there.
"""

from __future__ import annotations

from dataclasses import asdict, dataclass
from typing import Any

import numpy as np
import torch
from sklearn.pipeline import FeatureUnion, Pipeline

from featvslearn.classical.colour import ColourHistogram
from featvslearn.classical.hog import HOGTransformer, ThumbnailTransformer, hog_scales_for, thumbnail_side_for


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


def make_hog_features(settings: HOGSettings, device: str | None = "cpu", n_jobs: int | None = -1,
                      colour: ColourHistogram | None = None) -> FeatureUnion:
    """The featuriser: fine HOG, coarse HOG and a thumbnail (grey, or RGB for colour images), side
    by side, and ``colour``, a colour histogram, after them when given (for colour data: see
    :func:`featvslearn.classical.colour.has_colour`).

    HOG runs batched in torch on ``device`` (equal to ``skimage.feature.hog``); with
    ``device=None`` it loops over ``skimage.feature.hog`` in ``n_jobs`` processes instead.
    """

    def hog(cell: int) -> HOGTransformer:
        return HOGTransformer(
            orientations=settings.orientations,
            pixels_per_cell=(cell, cell),
            cells_per_block=(settings.cells_per_block, settings.cells_per_block),
            block_norm=settings.block_norm,
            device=device,
            n_jobs=n_jobs,
        )

    parts = [
        ("hog_fine", hog(settings.fine_pixels_per_cell)),
        ("hog_coarse", hog(settings.coarse_pixels_per_cell)),
        ("thumbnail", ThumbnailTransformer(size=settings.thumbnail_side)),
    ]
    return FeatureUnion(parts if colour is None else [*parts, ("colour", colour)])


def images_on(images: np.ndarray, device: torch.device | str) -> torch.Tensor:
    """Images (N, H, W, C) as a tensor of the same type (uint8 stays uint8) on ``device``, in one copy.

    On the CPU the tensor shares the array's memory. A run's pipelines move their images with it once
    (through :func:`featvslearn.pipelines.base.upload`): every later stage takes them, and hands its
    features on, on this device.
    """
    return torch.from_numpy(np.ascontiguousarray(images)).to(device)


def featurise_chunk_size(n_images: int, device: torch.device | str) -> int:
    """Images per :func:`featurise` call: a twentieth of the set (at least 1,000) on the CPU, so the
    progress bar moves; 16,384 on an accelerator, whose transformers batch inside (few host syncs)."""
    return max(1000, n_images // 20) if torch.device(device).type == "cpu" else 16_384


def featurise(featuriser: Any, images: torch.Tensor, chunk_size: int, progress: Any = None) -> torch.Tensor:
    """A fitted featuriser applied to images (N, H, W, C) on a device, chunk by chunk -> (N, D) float32 there.

    ``featuriser`` is a transformer that maps image tensors to feature tensors on their device,
    or a ``FeatureUnion`` or ``Pipeline`` of such (their parts are run here, since scikit-learn's
    would join NumPy arrays). The features never leave the device; ``progress(done, total)`` is
    called after each chunk.
    """
    total = len(images)
    out: torch.Tensor | None = None
    for start in range(0, total, chunk_size):
        features = _transform(featuriser, images[start : start + chunk_size])  # (n, D)
        if out is None:
            out = torch.empty(total, features.shape[1], dtype=torch.float32, device=features.device)  # (N, D)
        out[start : start + len(features)] = features
        if progress is not None:
            progress(min(start + chunk_size, total), total)
    if out is None:
        return torch.zeros(0, 0, device=images.device)
    return out


def _transform(featuriser: Any, x: Any) -> Any:
    """``featuriser.transform(x)`` with a FeatureUnion's parts joined by torch on their device."""
    if isinstance(featuriser, FeatureUnion):
        return torch.cat([_transform(part, x) for _, part in featuriser.transformer_list], dim=1)
    if isinstance(featuriser, Pipeline):
        for _, step in featuriser.steps:
            x = _transform(step, x)
        return x
    return featuriser.transform(x)
