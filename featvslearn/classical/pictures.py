"""What the hand-engineered features see of an image, as arrays for a picture.

:func:`hog_cells` and :func:`hog_picture`: an image's HOG cell histograms and picture, as
``skimage.feature.hog`` computes them; :func:`sift_grid`: where sift-svm's dense SIFT descriptors
sit on an image and the square each one describes, with the settings sift-svm takes for the image
size (:func:`~featvslearn.classical.sift.sift_settings_for`).
"""

from __future__ import annotations

import numpy as np
from skimage.feature import hog as skimage_hog

from featvslearn.classical.sift import DenseSIFT, sift_settings_for

SIFT_CELLS = 4
"""Cells on each side of a SIFT descriptor (kornia's ``num_spatial_bins``, as ``dense_sift`` sets it)."""
SIFT_PADDING = 1
"""Zero padding of kornia's pooled maps, as ``dense_sift`` sets it: it moves the grid by a pixel."""


def _gradients(image: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """skimage's HOG gradients of one image (H, W, C) uint8 -> (g_row, g_col), each (H, W) float64.

    Central differences (not halved), zero on the border rows and columns; a colour image takes,
    at each pixel, the channel with the largest gradient magnitude (the first on a tie).
    """
    x = image.astype(np.float64)  # (H, W, C)
    g_row = np.zeros_like(x)
    g_col = np.zeros_like(x)
    g_row[1:-1] = x[2:] - x[:-2]
    g_col[:, 1:-1] = x[:, 2:] - x[:, :-2]
    strongest = np.hypot(g_row, g_col).argmax(axis=-1)[..., None]  # (H, W, 1)
    return (np.take_along_axis(g_row, strongest, -1)[..., 0], np.take_along_axis(g_col, strongest, -1)[..., 0])


def hog_cells(image: np.ndarray, pixels_per_cell: int, orientations: int) -> np.ndarray:
    """The orientation histogram of every HOG cell of ``image`` (H, W, C) uint8, as skimage computes it
    before block normalisation: (rows, cols, orientations) float64, the gradient magnitude summed over
    the cell's pixels whose gradient angle (0-180 degrees) falls in each bin, divided by the cell's area."""
    g_row, g_col = _gradients(image)
    magnitude = np.hypot(g_col, g_row)  # (H, W)
    angle = np.rad2deg(np.arctan2(g_row, g_col)) % 180  # (H, W), in [0, 180)
    width = 180.0 / orientations
    rows, cols = image.shape[0] // pixels_per_cell, image.shape[1] // pixels_per_cell
    cut = (slice(0, rows * pixels_per_cell), slice(0, cols * pixels_per_cell))
    out = np.zeros((rows, cols, orientations))
    for o in range(orientations):
        votes = np.where((angle[cut] >= width * o) & (angle[cut] < width * (o + 1)), magnitude[cut], 0.0)
        cells = votes.reshape(rows, pixels_per_cell, cols, pixels_per_cell)  # (rows, p, cols, p)
        out[:, :, o] = cells.sum(axis=(1, 3)) / pixels_per_cell**2
    return out


def hog_picture(image: np.ndarray, pixels_per_cell: int, orientations: int, cells_per_block: int,
                block_norm: str) -> np.ndarray:
    """``skimage.feature.hog(..., visualize=True)``'s picture of ``image`` (H, W, C) uint8: (H, W) float."""
    colour = image.shape[-1] == 3
    _, picture = skimage_hog(image if colour else image[..., 0], orientations=orientations,
                             pixels_per_cell=(pixels_per_cell, pixels_per_cell),
                             cells_per_block=(cells_per_block, cells_per_block), block_norm=block_norm,
                             visualize=True, channel_axis=-1 if colour else None)
    return np.asarray(picture)


def sift_grid(image_shape: tuple[int, int, int]) -> tuple[np.ndarray, np.ndarray, int, int, int]:
    """Where sift-svm's dense SIFT descriptors sit on (H, W, C) images, with the settings it takes for
    that size: (centres_y (rows,), centres_x (cols,), the side in pixels of the square each descriptor's
    4 x 4 cells span, the cell side, the stride). The grid is the one ``DenseSIFT`` computes; the
    centres follow kornia's ``DenseSIFTDescriptor`` convention, in pixel-centre coordinates (the first
    pixel at 0): ``j * stride - padding + (cells - 1) * bin / 2 - e / 2``, ``e`` 1 for an even bin, else 0."""
    settings = sift_settings_for(image_shape)
    size, stride = settings.spatial_bin_size, settings.stride
    blank = np.zeros((1, *image_shape), dtype=np.uint8)
    rows, cols = DenseSIFT(size, stride).fit(blank).grid_shape_
    offset = -SIFT_PADDING + (SIFT_CELLS - 1) * size / 2 - (size % 2 == 0) / 2
    return (np.arange(rows) * stride + offset, np.arange(cols) * stride + offset, SIFT_CELLS * size, size, stride)
