"""What each side sees: the arrays behind the report's pictures of hand-engineered and learned features.

A comparison run computes them once its pipelines have run (:mod:`featvslearn.experiments.sees`) and
keeps them in memory on its :class:`~featvslearn.results.CompareResults` (``results.pictures``); they
are never written to a results file, so a report re-rendered from JSON has none and says so. The
report draws them (:mod:`featvslearn.reports.sees`). Images are ``(H, W, C)`` uint8 as the datasets
give them, ``C`` 1 (grey) or 3 (colour).
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np


@dataclass(frozen=True)
class HOGPictures:
    """HOG of the shown test images at hog-svm's fine scale, as ``skimage.feature.hog`` sees them.

    ``cells``: (M, rows, cols, orientations) float, each cell's orientation histogram (the mean
    gradient magnitude of its pixels whose gradient falls in each 180/orientations-degree bin,
    skimage's, before block normalisation); ``pictures``: (M, H, W) float, skimage's HOG picture
    (``visualize=True``) of each image. ``coarse_pixels_per_cell``: the other scale hog-svm uses.
    """

    pixels_per_cell: int
    orientations: int
    coarse_pixels_per_cell: int
    cells: np.ndarray
    pictures: np.ndarray


@dataclass(frozen=True)
class SIFTGrid:
    """Where sift-svm's dense SIFT descriptors sit on every image of the dataset's size.

    ``centres_x`` (cols,) and ``centres_y`` (rows,): the centres of the descriptors in pixel-centre
    coordinates (the first pixel at 0); each descriptor's 4 x 4 cells of ``spatial_bin_size`` pixels
    span a square of ``patch_pixels`` on a side; neighbours are ``stride`` pixels apart.
    """

    centres_x: np.ndarray
    centres_y: np.ndarray
    patch_pixels: int
    spatial_bin_size: int
    stride: int


@dataclass(frozen=True)
class CNNPictures:
    """The trained CNN's first trained convolution and what it makes of the shown test images.

    ``layer``: that convolution's number among the network's convolutions, from 1; ``convolutions``:
    how many the network has. ``filters``: its weights (out, in, kh, kw) float32. ``fixed_filters``:
    the weights (in, C, k, k) of the fixed convolution before it whose maps it reads (the first one,
    set by patch whitening and never trained), or None when the first convolution is itself trained;
    the first ``whitened`` of them are whitening filters, the rest kept their random start.
    ``maps``: (M, K, h, w) float32, the K channels of highest mean activation over the shown images
    (``channels``, in that order) after the trained convolution's batch norm and activation.
    """

    layer: int
    convolutions: int
    filters: np.ndarray
    fixed_filters: np.ndarray | None
    whitened: int
    maps: np.ndarray
    channels: tuple[int, ...]


@dataclass(frozen=True)
class SidePictures:
    """Everything the section "What each side sees" draws.

    ``class_names``: the classes shown (the first ``shown_classes`` of ``total_classes``);
    ``samples``: per class shown, a few training images (n_k, H, W, C) uint8; ``test_images``
    (M, H, W, C) uint8 and ``test_labels`` (M,): one test image per class shown that has one.
    ``cnn`` is None when no cnn ran, and ``no_cnn`` then says why.
    """

    class_names: tuple[str, ...]
    total_classes: int
    samples: tuple[np.ndarray, ...]
    test_images: np.ndarray
    test_labels: np.ndarray
    hog: HOGPictures
    sift: SIFTGrid
    cnn: CNNPictures | None
    no_cnn: str = ""

    @property
    def colour(self) -> bool:
        """Whether the images have three colour channels."""
        return self.test_images.shape[-1] == 3
