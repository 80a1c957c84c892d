"""Histograms of oriented gradients (Dalal & Triggs, 2005) and intensity thumbnails.

Both are scikit-learn transformers over whole image stacks, ``(N, H, W)`` grey or
``(N, H, W, C)`` with ``C`` in {1, 3}, uint8 or float, and return ``(N, D)`` float32 features, so
they drop into a ``sklearn.pipeline.Pipeline`` or ``FeatureUnion``. NumPy images give NumPy
features; torch tensors give tensors on the device, so a pipeline can stay there.

:func:`hog` is a batched re-implementation of ``skimage.feature.hog`` in torch tensor ops: it
takes a whole stack of images, runs on any torch device and returns what a loop of skimage
calls returns (to within float rounding); :func:`hog_tensor` leaves the result on the device.
The per-pixel decisions that must be skimage's to the last bit (orientation bins, the strongest
colour channel, square roots) are made in :mod:`featvslearn.classical.hog_bins`.
"""

from __future__ import annotations

import functools
from dataclasses import dataclass
from typing import TYPE_CHECKING

import numpy as np
from joblib import Parallel, delayed
from skimage.feature import hog as skimage_hog
from sklearn.base import BaseEstimator, TransformerMixin
from sklearn.utils import Tags
from sklearn.utils.validation import check_is_fitted

from featvslearn.classical.array_checks import check_image_shape, check_images, is_tensor
from featvslearn.classical.hog_bins import (
    bin_upper_edges,
    exact_sqrt,
    fast_bins,
    same_rounding,
    skimage_bins,
    strongest_channel,
    table_bins,
)

if TYPE_CHECKING:
    import torch

BLOCK_NORMS = ("L1", "L1-sqrt", "L2", "L2-Hys")


def _as_nhwc(images: np.ndarray) -> np.ndarray:
    """Images as (N, H, W, C); a 3-d array is taken as (N, H, W) grey."""
    images = np.asarray(images)
    if images.ndim == 3:
        images = images[..., None]
    if images.ndim != 4 or images.shape[-1] not in (1, 3):
        raise ValueError(f"expected images shaped (N, H, W) or (N, H, W, C) with C in 1 or 3, got {images.shape}")
    return images


def check_hog_params(image_size: tuple[int, int], orientations: int, pixels_per_cell: tuple[int, int],
                     cells_per_block: tuple[int, int], block_norm: str, transform_sqrt: bool) -> dict:
    """Validated HOG parameters for ``image_size`` (H, W) images, as keyword arguments of skimage's hog.

    Raises ValueError for what skimage rejects (an unknown ``block_norm``, images smaller than one
    block) and for what it accepts but cannot describe anything with (no orientation bins, cells or
    blocks of zero or negative size).
    """
    if block_norm not in BLOCK_NORMS:
        raise ValueError(f"block_norm must be one of {', '.join(BLOCK_NORMS)}, got {block_norm!r}")
    if int(orientations) < 1:
        raise ValueError(f"orientations must be at least 1, got {orientations}")
    if len(pixels_per_cell) != 2 or len(cells_per_block) != 2:
        raise ValueError(f"pixels_per_cell and cells_per_block must be pairs, got {pixels_per_cell}, {cells_per_block}")
    params = {
        "orientations": int(orientations),
        "pixels_per_cell": tuple(int(v) for v in pixels_per_cell),
        "cells_per_block": tuple(int(v) for v in cells_per_block),
        "block_norm": block_norm,
        "transform_sqrt": bool(transform_sqrt),
    }
    h, w = image_size
    (ch, cw), (bh, bw) = params["pixels_per_cell"], params["cells_per_block"]
    if min(ch, cw, bh, bw) < 1:
        raise ValueError("pixels_per_cell and cells_per_block must be positive")
    if h // ch < bh or w // cw < bw:
        raise ValueError(
            f"{h}x{w} images hold {h // ch}x{w // cw} cells of {ch}x{cw} pixels, fewer than one "
            f"block of {bh}x{bw} cells; use smaller pixels_per_cell or cells_per_block"
        )
    return params


def hog_n_features(image_size: tuple[int, int], params: dict) -> int:
    """Length of the HOG descriptor of ``image_size`` (H, W) images for validated ``params``."""
    (h, w), (ch, cw), (bh, bw) = image_size, params["pixels_per_cell"], params["cells_per_block"]
    return (h // ch - bh + 1) * (w // cw - bw + 1) * bh * bw * params["orientations"]


def _hog_chunk(images: np.ndarray, params: dict) -> np.ndarray:
    """skimage HOG of each image in a chunk (n, H, W, C) -> (n, D) float32."""
    colour = images.shape[-1] == 3
    rows = [
        skimage_hog(image if colour else image[..., 0], channel_axis=-1 if colour else None, **params)
        for image in images
    ]
    return np.asarray(rows, dtype=np.float32)


_CHUNK_BYTES = 64 * 2**20  # CPU: rough bound on the intermediates of one chunk of images
_CHUNK_IMAGES = 256  # CPU: at most this many images a chunk: small chunks stay in cache and reuse memory
_DEVICE_CHUNK_BYTES = 2**30  # GPU: large chunks, so each kernel launch does plenty of work


@functools.cache
def _keep_working_memory() -> None:
    """Let the C allocator keep one call's working memory for the next call, instead of unmapping it.

    glibc's malloc gives the free top of its heap back to the kernel once it exceeds twice the
    largest mmap-served block freed so far. In a fresh process that is a few megabytes, less than
    one call's memory (about 9 MB for 10,000 28x28 images: the descriptors and a chunk's
    intermediates), so every call would page its memory in again, zeroed by the kernel, one page
    fault per 4 kB. Freeing one 16 MB block (never written, so never paged in) raises the limit to
    32 MB, as loading a dataset does in passing. Elsewhere it is one malloc and free.
    """
    import torch

    torch.empty(16 * 2**20, dtype=torch.uint8)  # freed at once


def _hog_float_dtype(dtype: object) -> torch.dtype:
    """The float type skimage computes an image of ``dtype`` in: float32 for float16/32, else float64."""
    import torch

    if dtype in (torch.float16, torch.bfloat16, torch.float32) or dtype in (np.float16, np.float32):
        return torch.float32
    return torch.float64


def _normalize_blocks_(blocks: torch.Tensor, method: str, eps: float = 1e-5) -> torch.Tensor:
    """skimage's ``_hog_normalize_block`` applied to every block at once, in place: (..., B) -> (..., B)."""
    if method == "L1":
        return blocks.div_(blocks.abs().sum(-1, keepdim=True).add_(eps))
    if method == "L1-sqrt":
        return blocks.div_(blocks.abs().sum(-1, keepdim=True).add_(eps)).sqrt_()
    if method == "L2":
        return blocks.div_(_l2_with_eps(blocks, eps))
    blocks.div_(_l2_with_eps(blocks, eps)).clamp_(max=0.2)  # L2-Hys
    return blocks.div_(_l2_with_eps(blocks, eps))


def _l2_with_eps(blocks: torch.Tensor, eps: float) -> torch.Tensor:
    """sqrt(sum of squares + eps²) of each block (..., B) -> (..., 1): one pass over the blocks."""
    import torch

    return torch.linalg.vector_norm(blocks, dim=-1, keepdim=True).square_().add_(eps**2).sqrt_()


def _hog_batch(x: torch.Tensor, params: dict, hypot_dtype: torch.dtype, out: torch.Tensor,
               eight_bit: bool = False) -> None:
    """HOG of a chunk of images already on the device, (n, H, W, C), written into ``out`` (n, D) float32.

    ``x`` is in skimage's float type, or float32 where that holds skimage's gradients exactly (uint8
    images); ``hypot_dtype`` is skimage's float type, in which colour channels are compared.
    ``eight_bit`` says ``x`` holds the values of 8-bit integer images, whose gradients are looked up
    in a table. Off the CPU, nothing here waits for the device for 8-bit images; other images wait
    once or twice a chunk, to re-do on the host the few results within rounding of a decision.
    """
    import torch

    n, h, w, c = x.shape
    orientations = params["orientations"]
    (ch, cw), (bh, bw) = params["pixels_per_cell"], params["cells_per_block"]
    ncr, ncc = h // ch, w // cw  # cells per column and per row; pixels past them are ignored
    if params["transform_sqrt"]:
        x = exact_sqrt(x)  # (n, H, W, C), the roots skimage takes

    # Central differences, zero on the border rows/columns (skimage's _hog_channel_gradient).
    if c == 1:
        x = x[..., 0]  # (n, H, W)
    g_row = torch.empty_like(x)  # (n, H, W[, C])
    g_row[:, 0] = g_row[:, -1] = 0
    torch.sub(x[:, 2:], x[:, :-2], out=g_row[:, 1:-1])
    g_col = torch.empty_like(x)  # (n, H, W[, C])
    g_col[:, :, 0] = g_col[:, :, -1] = 0
    torch.sub(x[:, :, 2:], x[:, :, :-2], out=g_col[:, :, 1:-1])
    if c > 1:  # per pixel, the channel with the largest gradient magnitude (the first on ties)
        strongest = strongest_channel(g_row, g_col, hypot_dtype, eight_bit)  # (n, H, W, 1)
        g_row = g_row.gather(-1, strongest)[..., 0]  # (n, H, W)
        g_col = g_col.gather(-1, strongest)[..., 0]  # (n, H, W)
    g_row = g_row[:, : ncr * ch, : ncc * cw]  # (n, ncr*ch, ncc*cw)
    g_col = g_col[:, : ncr * ch, : ncc * cw]  # (n, ncr*ch, ncc*cw)

    # Each pixel's orientation bin in [0, O], O where skimage bins nothing (an angle rounding to 180 degrees).
    if eight_bit or g_row.dtype == torch.float32:
        g_row, g_col = g_row.contiguous(), g_col.contiguous()
        magnitude = torch.addcmul(g_row * g_row, g_col, g_col).sqrt_()  # (n, ncr*ch, ncc*cw) float32
        if eight_bit:
            bins = table_bins(g_row, g_col, orientations)  # (n, ncr*ch, ncc*cw) uint8
        else:
            bins = fast_bins(g_row, g_col, bin_upper_edges(orientations, x.device))  # int64
    else:
        g_row, g_col = g_row.double(), g_col.double()
        magnitude = same_rounding(np.hypot, torch.hypot, g_col, g_row)  # (n, ncr*ch, ncc*cw) float64
        bins = skimage_bins(g_row, g_col, bin_upper_edges(orientations, x.device))  # int64

    # Flat slot of (cell, bin) per pixel, summed per cell with one scatter-add. Each cell has O + 1
    # slots: the last collects the gradients skimage bins nothing and is dropped.
    slots = orientations + 1
    rows = torch.arange(ncr * ch, device=x.device) // ch  # (ncr*ch,)
    cols = torch.arange(ncc * cw, device=x.device) // cw  # (ncc*cw,)
    cell = (rows[:, None] * ncc + cols[None, :]) * slots  # (ncr*ch, ncc*cw) int64
    slot = torch.add(cell, bins).reshape(n, -1)  # (n, ncr*ch*ncc*cw) int64
    hist = torch.zeros(n, ncr * ncc * slots, dtype=magnitude.dtype, device=x.device)
    hist.scatter_add_(1, slot, magnitude.reshape(n, -1))  # (n, ncr*ncc*(O+1))
    hist = hist.view(n, ncr, ncc, slots)[..., :orientations].div_(ch * cw)  # (n, ncr, ncc, O)

    # Blocks of bh x bw cells sliding by one cell, in skimage's (row, col, cell_r, cell_c, O) order, copied
    # straight into the descriptors (when of their type) and normalised there.
    blocks = hist.unfold(1, bh, 1).unfold(2, bw, 1).permute(0, 1, 2, 4, 5, 3)  # (n, nbr, nbc, bh, bw, O) view
    same_type = hist.dtype == out.dtype
    flat = out.view(blocks.shape) if same_type else torch.empty(blocks.shape, dtype=hist.dtype, device=x.device)
    flat.copy_(blocks)
    _normalize_blocks_(flat.view(n, -1, bh * bw * orientations), params["block_norm"])  # (n, nbr*nbc, bh*bw*O)
    if not same_type:
        out.copy_(flat.view(n, -1))  # (n, D)


def hog(images: np.ndarray | torch.Tensor, *, orientations: int = 9, pixels_per_cell: tuple[int, int] = (8, 8),
        cells_per_block: tuple[int, int] = (3, 3), block_norm: str = "L2-Hys", transform_sqrt: bool = False,
        device: str | torch.device | None = None) -> np.ndarray:
    """HOG descriptors of a whole stack of images at once, equal to a loop of ``skimage.feature.hog``.

    Args:
        images: array or tensor shaped ``(N, H, W)`` grey or ``(N, H, W, C)`` with ``C`` in {1, 3},
            any integer or float type. Like skimage, values are used as they are (uint8 stays 0..255).
        orientations, pixels_per_cell, cells_per_block, block_norm, transform_sqrt: as in
            ``skimage.feature.hog``; colour images use its ``channel_axis=-1`` rule.
        device: torch device to compute on; None means the CPU.

    Returns:
        ``(N, D)`` float32 array whose row ``i`` is ``skimage.feature.hog(images[i], ...,
        feature_vector=True)`` to within float rounding (uint8/int8 and float32 images are
        summed in float32, others in float64; orientation bins are skimage's exactly).

    Raises:
        ValueError: for parameters skimage rejects or that describe nothing (see
            :func:`check_hog_params`), a bad shape, or negative values with ``transform_sqrt``.

    :func:`hog_tensor` computes the same and leaves the descriptors on the device.
    """
    return hog_tensor(images, orientations=orientations, pixels_per_cell=pixels_per_cell,
                      cells_per_block=cells_per_block, block_norm=block_norm, transform_sqrt=transform_sqrt,
                      device=device).cpu().numpy()


def hog_tensor(images: np.ndarray | torch.Tensor, *, orientations: int = 9, pixels_per_cell: tuple[int, int] = (8, 8),
               cells_per_block: tuple[int, int] = (3, 3), block_norm: str = "L2-Hys", transform_sqrt: bool = False,
               device: str | torch.device | None = None) -> torch.Tensor:
    """:func:`hog`, returned as a float32 tensor (N, D) on ``device`` instead of a host array.

    The images travel to ``device`` once, as they are (uint8 stays uint8, a quarter of float32's
    bytes); a tensor already there is not copied. On the CPU they are processed in chunks of at
    most 256 images and about 64 MB of intermediates, which stay in cache; on an accelerator in
    chunks of about 1 GB of intermediates, with no host synchronisation for 8-bit images (what the
    pipelines feed), so the device runs the whole stack without waiting for the host. Float images
    and ``transform_sqrt`` wait for the device once or twice a chunk, to re-bin on the host the
    few gradients within the device's rounding error of a bin edge or of a channel tie.
    """
    import torch

    if isinstance(images, torch.Tensor):
        x = images.detach()
        if x.ndim == 3:
            x = x.unsqueeze(-1)
        if x.ndim != 4 or x.shape[-1] not in (1, 3):
            raise ValueError(f"expected images shaped (N, H, W) or (N, H, W, C) with C in 1 or 3, got {tuple(x.shape)}")
        float_dtype = _hog_float_dtype(x.dtype)
    else:
        array = _as_nhwc(images)
        float_dtype = _hog_float_dtype(array.dtype)
        if array.dtype != np.uint8:  # uint8 travels as is; other types as the float type skimage uses
            array = array.astype(np.float32 if float_dtype == torch.float32 else np.float64, copy=False)
        x = _host_tensor(np.ascontiguousarray(array))  # (N, H, W, C), sharing the array's memory
    n, h, w, c = x.shape
    params = check_hog_params((h, w), orientations, pixels_per_cell, cells_per_block, block_norm, transform_sqrt)
    n_features = hog_n_features((h, w), params)
    device = torch.device("cpu" if device is None else device)
    x = x.to(device)  # (N, H, W, C): one copy for the whole stack, none when it is already there
    if params["transform_sqrt"] and x.is_signed() and bool((x < 0).any()):
        raise ValueError("transform_sqrt needs non-negative images, but some values are negative")

    # uint8/int8 differences are small integers, exact in float32: skimage's gradients at half the cost.
    small_ints = x.dtype in (torch.uint8, torch.int8) and not params["transform_sqrt"]
    work_dtype = torch.float32 if small_ints else float_dtype
    per_image = 4 * h * w * (6 * c + 12) + 16 * n_features  # bytes of intermediates, roughly
    if device.type == "cpu":
        _keep_working_memory()
        chunk = max(1, min(_CHUNK_BYTES // per_image, _CHUNK_IMAGES))
    else:
        chunk = max(1, _DEVICE_CHUNK_BYTES // per_image)
    out = torch.empty(n, n_features, dtype=torch.float32, device=device)  # (N, D)
    with torch.no_grad():
        for start in range(0, n, chunk):
            xc = x[start : start + chunk].to(work_dtype)  # (n_chunk, H, W, C), on the device
            _hog_batch(xc, params, float_dtype, out[start : start + chunk], eight_bit=small_ints)
    return out


class HOGTransformer(TransformerMixin, BaseEstimator):
    """HOG descriptors of every image, computed with ``skimage.feature.hog``.

    Colour images use skimage's ``channel_axis=-1`` (the strongest channel's gradient per
    pixel). With ``device=None`` (the default) images are split into chunks that ``n_jobs``
    processes share (-1: all cores), each calling ``skimage.feature.hog`` per image. With a torch
    ``device`` (``"cpu"``, ``"cuda"``, ...) the batched :func:`hog` computes the same features on
    that device with tensor ops instead, and ``n_jobs`` is not used.

    ``X``: images ``(N, H, W)`` grey or ``(N, H, W, C)`` with ``C`` in {1, 3}, integer or float,
    finite. Fitted attributes: ``image_shape_`` (H, W, C), ``n_features_in_`` (H * W * C, the
    values of one image) and ``n_features_out_``.
    """

    def __init__(self, orientations: int = 9, pixels_per_cell: tuple[int, int] = (8, 8),
                 cells_per_block: tuple[int, int] = (3, 3), block_norm: str = "L2-Hys",
                 transform_sqrt: bool = False, n_jobs: int | None = -1, device: str | None = None) -> None:
        self.orientations = orientations
        self.pixels_per_cell = pixels_per_cell
        self.cells_per_block = cells_per_block
        self.block_norm = block_norm
        self.transform_sqrt = transform_sqrt
        self.n_jobs = n_jobs
        self.device = device

    def _params(self) -> dict:
        return {
            "orientations": self.orientations,
            "pixels_per_cell": tuple(self.pixels_per_cell),
            "cells_per_block": tuple(self.cells_per_block),
            "block_norm": self.block_norm,
            "transform_sqrt": self.transform_sqrt,
        }

    def fit(self, X: np.ndarray, y: object = None) -> HOGTransformer:
        """Check the images and the parameters against the image size; returns self.

        Raises ValueError for parameters that describe no descriptor on these images, no
        images, a shape that is not a stack of images, NaN, infinite or complex values;
        TypeError for sparse input.
        """
        images = check_images(X, self)
        image_size = tuple(images.shape[1:3])
        params = check_hog_params(image_size, **self._params())
        self.image_shape_ = tuple(images.shape[1:])
        self.n_features_in_ = int(np.prod(self.image_shape_))
        self.n_features_out_ = hog_n_features(image_size, params)
        return self

    def transform(self, X: np.ndarray | torch.Tensor) -> np.ndarray | torch.Tensor:
        """HOG features (N, n_features_out_) float32 of images shaped like the fitted ones.

        An array comes back as an array; a tensor as a tensor, on ``device`` (with a torch device)
        or on the tensor's own device (the skimage loop), so a pipeline can stay on its device.
        """
        check_is_fitted(self)
        images = check_images(X, self, min_samples=0)
        check_image_shape(images, self)
        if self.device is None:  # the skimage loop, on host arrays
            return _like_input(self._loop(images.cpu().numpy() if is_tensor(images) else images), images)
        params = check_hog_params(tuple(images.shape[1:3]), **self._params())
        features = hog_tensor(images, device=self.device, **params)  # (N, D) on the device
        return features if is_tensor(images) else features.cpu().numpy()

    def _loop(self, images: np.ndarray) -> np.ndarray:
        """``skimage.feature.hog`` over host images (N, H, W, C) in ``n_jobs`` processes -> (N, D)."""
        if len(images) == 0:
            return np.zeros((0, self.n_features_out_), dtype=np.float32)
        params = check_hog_params(tuple(images.shape[1:3]), **self._params())
        n_chunks = max(1, min(len(images) // 500, 4 * _n_workers(self.n_jobs)))
        if n_chunks == 1:
            return _hog_chunk(images, params)
        chunks = Parallel(n_jobs=self.n_jobs)(
            delayed(_hog_chunk)(chunk, params) for chunk in np.array_split(images, n_chunks)
        )
        return np.concatenate(chunks)

    def __sklearn_tags__(self) -> Tags:
        return _image_transformer_tags(super().__sklearn_tags__())


def _host_tensor(array: np.ndarray) -> torch.Tensor:
    """A CPU tensor sharing the memory of a host ``array``, of its shape and type.

    A read-only array (``np.frombuffer`` of a file's bytes) is shared through DLPack, which carries
    the read-only flag, rather than ``torch.from_numpy``, which warns that the tensor could write
    to it (nothing here writes to the images); it is copied where DLPack cannot share it.
    """
    import torch

    if array.flags.writeable:
        return torch.from_numpy(array)
    try:
        return torch.from_dlpack(array)
    except (BufferError, RuntimeError, TypeError):
        return torch.from_numpy(array.copy())


def _like_input(features: np.ndarray, images: np.ndarray | torch.Tensor) -> np.ndarray | torch.Tensor:
    """Host ``features`` as the caller gave the images: an array, or a tensor on their device."""
    import torch

    return torch.from_numpy(features).to(images.device) if is_tensor(images) else features


def _image_transformer_tags(tags: Tags) -> Tags:
    """Tags of a transformer of image stacks (N, H, W[, C]) into float32 features."""
    tags.input_tags.three_d_array = True
    tags.transformer_tags.preserves_dtype = ["float32"]
    return tags


def _n_workers(n_jobs: int | None) -> int:
    import joblib

    return max(1, joblib.effective_n_jobs(n_jobs))


class ThumbnailTransformer(TransformerMixin, BaseEstimator):
    """Each image shrunk by area averaging to ``size`` x ``size`` and flattened, in [0, 1].

    HOG keeps edges and drops intensity; the thumbnail keeps coarse intensity and colour.
    ``X`` as for :class:`HOGTransformer`. Fitted attributes: ``image_shape_`` (H, W, C),
    ``n_features_in_`` (H * W * C) and ``n_features_out_``.
    """

    def __init__(self, size: int = 14) -> None:
        self.size = size

    def fit(self, X: np.ndarray, y: object = None) -> ThumbnailTransformer:
        """Check the images and record their shape; returns self."""
        images = check_images(X, self)
        if not 1 <= int(self.size) <= min(images.shape[1:3]):
            raise ValueError(f"size must be between 1 and the image side, got {self.size}")
        self.image_shape_ = tuple(images.shape[1:])
        self.n_features_in_ = int(np.prod(self.image_shape_))
        self.n_features_out_ = int(self.size) ** 2 * images.shape[-1]
        return self

    def transform(self, X: np.ndarray | torch.Tensor) -> np.ndarray | torch.Tensor:
        """Thumbnails (N, size * size * C) float32 of images shaped like the fitted ones.

        An array comes back as an array; a tensor as a tensor on its own device.
        """
        import torch.nn.functional as F

        check_is_fitted(self)
        images = check_images(X, self, min_samples=0)
        check_image_shape(images, self)
        x = images if is_tensor(images) else _host_tensor(np.ascontiguousarray(images))  # (N, H, W, C)
        x = x.permute(0, 3, 1, 2).float() / 255.0  # (N, C, H, W) in [0, 1] for uint8
        small = F.adaptive_avg_pool2d(x, int(self.size))  # (N, C, size, size)
        thumbnails = small.reshape(len(images), self.n_features_out_)  # (N, size * size * C)
        return thumbnails if is_tensor(images) else thumbnails.numpy()

    def __sklearn_tags__(self) -> Tags:
        return _image_transformer_tags(super().__sklearn_tags__())


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
