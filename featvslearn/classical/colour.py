"""Colour histograms: what a hand-engineered pipeline of around 2012 added to gradients on colour photos.

HOG and SIFT describe gradients, which a hue change of equal brightness barely moves. The
:class:`ColourHistogram` transformer counts each image's pixels in bins of a perceptual colour
space (HSV or CIE Lab, converted by kornia) over the whole image and a coarse grid of regions, as in
the colour features of CS231n's features exercise (HOG + an HSV hue histogram) and the colour
histograms of van de Sande et al. (2010). :func:`has_colour` says whether a stack of images holds
any colour at all, so grey data keeps the features it had.

Batched in torch: one conversion and one scatter-add per grid level for a whole stack, on the
images' device.
"""

from __future__ import annotations

import math
from typing import TYPE_CHECKING, Any

import numpy as np
from sklearn.base import BaseEstimator, TransformerMixin
from sklearn.utils import Tags
from sklearn.utils.validation import check_is_fitted

from featvslearn.classical.array_checks import check_image_shape, check_images, is_tensor

if TYPE_CHECKING:
    import torch

SPACES = ("hsv", "lab")
LAB_AB_RANGE = 64.0
"""Lab's a* and b* are binned over [-64, 64]; values beyond fall in the outermost bins."""


def has_colour(images: Any, chunk_size: int = 4096) -> bool:
    """Whether images (N, H, W, C), an array or a tensor, hold colour: ``C`` is 3 and some pixel's
    channels differ. Grey images stored as RGB (every pixel R = G = B) hold none."""
    if images.ndim != 4 or images.shape[-1] != 3:
        return False
    for start in range(0, len(images), chunk_size):
        x = images[start : start + chunk_size]  # (n, H, W, 3)
        if bool(((x[..., 0] != x[..., 1]) | (x[..., 1] != x[..., 2])).any()):
            return True
    return False


class ColourHistogram(TransformerMixin, BaseEstimator):
    """Per-region colour histograms of each image, ``(N, H, W, C)`` -> ``(N, D)`` float32.

    Parameters: ``space`` ("hsv" or "lab"), ``bins`` (bins per channel of that space, in its
    order: H, S, V or L, a*, b*; a channel with 1 bin is ignored, so ``("hsv", (8, 4, 1))`` is the
    joint hue-saturation histogram and ``("lab", (1, 8, 8))`` the a*b* one), ``grid`` (the grid
    levels: 1 is the whole image, 2 its 2×2 regions). Each region's histogram holds the shares of its
    pixels in each bin, square-rooted (the Hellinger map, which suits linear SVMs on histograms).
    D = (product of ``bins``) × Σ level².

    ``X``: images ``(N, H, W)`` or ``(N, H, W, C)`` with ``C`` in {1, 3}, uint8 (0..255) or any
    other type taken as 0..1 (clipped); grey images are taken as R = G = B. An array comes back as
    an array; a tensor as a tensor on its own device. Fitted attributes: ``image_shape_``
    (H, W, C), ``n_features_in_`` (H * W * C) and ``n_features_out_``.
    """

    def __init__(self, space: str = "hsv", bins: tuple[int, ...] = (8, 3, 3), grid: tuple[int, ...] = (1, 2)) -> None:
        self.space = space
        self.bins = bins
        self.grid = grid

    def fit(self, X: Any, y: object = None) -> ColourHistogram:
        """Check the images and the parameters; returns self.

        Raises ValueError for an unknown space, bins that are not three counts of at least 1, grid
        levels below 1 or above the image side, and images scikit-learn's checks refuse.
        """
        if self.space not in SPACES:
            raise ValueError(f"space must be one of {', '.join(SPACES)}, got {self.space!r}")
        if len(self.bins) != 3 or min(int(b) for b in self.bins) < 1:
            raise ValueError(f"bins must be three counts of at least 1, got {self.bins}")
        images = check_images(X, self)
        if not self.grid or min(self.grid) < 1 or max(self.grid) > min(images.shape[1:3]):
            raise ValueError(f"grid levels must be between 1 and the image side, got {self.grid}")
        self.image_shape_ = tuple(images.shape[1:])
        self.n_features_in_ = int(np.prod(self.image_shape_))
        self.n_features_out_ = math.prod(int(b) for b in self.bins) * sum(level * level for level in self.grid)
        return self

    def transform(self, X: Any) -> Any:
        """Histograms (N, n_features_out_) float32 of images shaped like the fitted ones."""
        import torch

        from featvslearn.classical.hog import _host_tensor

        check_is_fitted(self)
        images = check_images(X, self, min_samples=0)
        check_image_shape(images, self)
        x = images if is_tensor(images) else _host_tensor(np.ascontiguousarray(images))  # (N, H, W, C)
        with torch.no_grad():
            features = self._histograms(x)  # (N, D)
        return features if is_tensor(images) else features.numpy()

    def _bin_index(self, x: torch.Tensor) -> torch.Tensor:
        """Each pixel's colour bin, (N, H, W, C) images -> (N, H * W) int64 in [0, product of bins)."""
        import torch
        from kornia.color import rgb_to_hsv, rgb_to_lab

        n, h, w, c = x.shape
        rgb = x.permute(0, 3, 1, 2).float()  # (N, C, H, W)
        rgb = rgb / 255.0 if x.dtype == torch.uint8 else rgb.clamp(0.0, 1.0)
        if c == 1:
            rgb = rgb.expand(n, 3, h, w)  # (N, 3, H, W): grey as R = G = B
        if self.space == "hsv":
            values = rgb_to_hsv(rgb)  # (N, 3, H, W): hue in [0, 2π), saturation and value in [0, 1]
            low = torch.tensor([0.0, 0.0, 0.0], device=x.device)
            width = torch.tensor([2 * math.pi, 1.0, 1.0], device=x.device)
        else:
            values = rgb_to_lab(rgb)  # (N, 3, H, W): L in [0, 100], a* and b* about [-110, 110]
            low = torch.tensor([0.0, -LAB_AB_RANGE, -LAB_AB_RANGE], device=x.device)
            width = torch.tensor([100.0, 2 * LAB_AB_RANGE, 2 * LAB_AB_RANGE], device=x.device)
        counts = torch.tensor([int(b) for b in self.bins], device=x.device)  # (3,)
        scaled = (values - low[:, None, None]) / width[:, None, None] * counts[:, None, None]  # (N, 3, H, W)
        index = torch.minimum(scaled.floor().long().clamp_(min=0), (counts - 1)[:, None, None])  # (N, 3, H, W)
        joint = (index[:, 0] * counts[1] + index[:, 1]) * counts[2] + index[:, 2]  # (N, H, W)
        return joint.reshape(n, h * w)

    def _histograms(self, x: torch.Tensor) -> torch.Tensor:
        """Square-rooted per-region shares of each bin, (N, H, W, C) -> (N, D) float32 on x's device."""
        import torch

        n, h, w, _ = x.shape
        n_bins = math.prod(int(b) for b in self.bins)
        joint = self._bin_index(x)  # (N, H*W)
        ones = torch.ones(1, 1, device=x.device).expand(n, h * w)  # (N, H*W)
        parts = []
        for level in self.grid:
            rows = torch.arange(h, device=x.device) * level // h  # (H,) region row of each pixel row
            cols = torch.arange(w, device=x.device) * level // w  # (W,)
            region = (rows[:, None] * level + cols[None, :]).reshape(-1)  # (H*W,)
            slot = region * n_bins + joint  # (N, H*W)
            hist = torch.zeros(n, level * level * n_bins, device=x.device).scatter_add_(1, slot, ones)
            pixels = torch.bincount(region, minlength=level * level).float()  # (level²,) pixels per region
            parts.append((hist.view(n, level * level, n_bins) / pixels[:, None]).reshape(n, level * level * n_bins))
        return torch.cat(parts, dim=1).sqrt_()  # (N, D)

    def describe(self) -> str:
        """The histogram in words, e.g. "hue-saturation histogram (HSV, 8x4 bins; whole image + 2x2 grid)"."""
        names = ("hue", "saturation", "value") if self.space == "hsv" else ("L*", "a*", "b*")
        used = [(name, int(b)) for name, b in zip(names, self.bins, strict=True) if int(b) > 1]
        what = "-".join(name for name, _ in used) or "single-bin"
        sizes = "x".join(str(b) for _, b in used) or "1"
        regions = " + ".join("whole image" if level == 1 else f"{level}x{level} grid" for level in self.grid)
        return f"{what} histogram ({self.space.upper()}, {sizes} bins; {regions})"

    def __sklearn_tags__(self) -> Tags:
        tags = super().__sklearn_tags__()
        tags.input_tags.three_d_array = True
        tags.transformer_tags.preserves_dtype = ["float32"]
        return tags


STANDARD_HISTOGRAMS: dict[str, dict[str, Any]] = {
    "hog-svm": {"space": "hsv", "bins": (8, 3, 3), "grid": (1, 2)},
    "sift-svm": {"space": "hsv", "bins": (8, 4, 1), "grid": (1, 2)},
}
"""The colour histogram each hand-engineered pipeline adds on colour data, chosen on validation splits
of a colour photo folder (benchmarks/choose_colour.py, docs/benchmarks.md)."""


def standard_colour_histogram(pipeline: str) -> ColourHistogram:
    """The colour histogram ``pipeline`` ("hog-svm" or "sift-svm") adds on colour data."""
    return ColourHistogram(**STANDARD_HISTOGRAMS[pipeline])


def input_words(images: Any) -> str:
    """What a pipeline given images (N, H, W, C) sees, in words: "colour (RGB)", "grey", or "grey
    (stored as RGB)" for three equal channels."""
    if has_colour(images):
        return "colour (RGB)"
    return "grey (stored as RGB)" if images.shape[-1] == 3 else "grey"
