"""skimage's per-pixel HOG decisions in torch, equal to skimage's on any device.

skimage's HOG hinges on the last bit of three results: the square roots of ``transform_sqrt``,
the gradient magnitude (which colour channel is strongest, on near-ties) and the gradient angle
(which orientation bin, for gradients right on a bin edge such as 45 degrees). This module makes
those decisions as skimage does, by four binning paths:

* on the host, NumPy's own libm, as skimage calls it (:func:`same_rounding`, ``_host_bins``);
* 8-bit images, whose integer gradients are few, by lookup in tables made once with NumPy
  (:func:`table_bins`);
* float32 gradients, in float32, re-binning exactly only those within float32 error of an edge
  (:func:`fast_bins`);
* float64 gradients on an accelerator, in float64 with the device's libm, re-binning on the host
  those within its few ulps of an edge (:func:`skimage_bins`).

:func:`strongest_channel` and :func:`exact_sqrt` decide channels and square roots the same way.
"""

from __future__ import annotations

import functools
import math
from typing import TYPE_CHECKING

import numpy as np

if TYPE_CHECKING:
    import torch


def bin_upper_edges(orientations: int, device: torch.device) -> torch.Tensor:
    """Upper edge of each orientation bin in degrees, (O,) float64 on ``device``, as skimage computes it.

    skimage's Cython takes the bin width ``180 / orientations`` and edge ``width * (i + 1)`` in
    double precision; bin ``i`` is ``[width * i, width * (i + 1))``. One correctly rounded product
    per edge, made on the device (no copy from the host).
    """
    import torch

    return torch.arange(1, orientations + 1, dtype=torch.float64, device=device) * (180.0 / orientations)


def _on_host(*tensors: torch.Tensor) -> bool:
    """Whether every tensor is in host memory, where NumPy can work on it without a copy."""
    return all(t.device.type == "cpu" for t in tensors)


def same_rounding(numpy_fn: object, torch_fn: object, *tensors: torch.Tensor) -> torch.Tensor:
    """``torch_fn(*tensors)``, but NumPy's ``numpy_fn`` on CPU tensors (zero-copy, vectorised).

    Takes tensors of one shape and returns the function's (...,) result. NumPy calls the same libm
    as skimage, while torch's vectorised CPU kernels may differ by an ulp in hypot or arctan2. On an
    accelerator, whose maths library may differ by a few ulps too, the callers re-do the few results
    that close to a decision on the host (:func:`_redo_on_host`).
    """
    import torch

    if _on_host(*tensors):
        return torch.from_numpy(np.asarray(numpy_fn(*(t.numpy() for t in tensors))))
    return torch_fn(*tensors)


# A float64 split into halves of 26 bits (Veltkamp), whose products are exact: 2**27 + 1.
_SPLITTER = 134217729.0
# Images whose values are at least this far from zero and infinity have squares and split halves that
# neither overflow nor lose bits to underflow in float64; others take NumPy's sqrt on the host.
_SQRT_SAFE_MIN, _SQRT_SAFE_MAX = 2.0**-900, 2.0**900


def exact_sqrt(x: torch.Tensor) -> torch.Tensor:
    """NumPy's (correctly rounded) sqrt of a float32 or float64 tensor, as skimage's ``transform_sqrt``.

    Takes (...,) non-negative values and returns their square roots, (...,) of the same type and
    device. skimage's gradients are differences of these roots, so one ulp changes its bins and
    channels on ties; a maths library's sqrt need not be correctly rounded (torch's float64 CPU
    kernel is not), so off the NumPy path the device's roots are corrected to the nearest float.
    """
    import torch

    if _on_host(x):
        return torch.from_numpy(np.asarray(np.sqrt(x.numpy())))
    return _correctly_rounded_sqrt(x)


def _correctly_rounded_sqrt(x: torch.Tensor) -> torch.Tensor:
    """sqrt of (...,) float32/float64 values rounded to the nearest float, from the device's own sqrt.

    One Newton step with the exact residual ``x - y * y`` (Dekker's product in float64) moves a root
    that is a few ulps off onto the nearest float; a second residual then proves each root is within
    half an ulp of the true one. Roots it cannot prove (values near underflow or overflow, NaN,
    infinity, or a true root within rounding of a midpoint between two floats) are taken from NumPy on
    the host. Returns (...,) in the dtype of ``x``; waits for the device once.
    """
    import torch

    wide = x.double()  # (...,)
    y = torch.sqrt(x).double()  # (...,) within a few ulps of the root
    y = (y + _square_residual(wide, y).div_(2 * y)).to(x.dtype)  # (...,) Newton step, rounded to the type
    y = torch.where(x == 0, x, y)  # sqrt(+-0) is +-0
    above = torch.nextafter(y, torch.full_like(y, math.inf)).sub_(y).double()  # (...,) ulp above the root
    below = y.sub(torch.nextafter(y, torch.zeros_like(y))).double()  # (...,) ulp below it
    y_wide = y.double()
    residual = _square_residual(wide, y_wide)  # x - y², about 2 y (root - y)
    margin = 1 - 1e-6  # the residual's and the "2 y" approximation's error, far below this
    proven = (residual < above * y_wide * margin) & (residual > -below * y_wide * margin)
    proven &= (wide >= _SQRT_SAFE_MIN) & (wide <= _SQRT_SAFE_MAX)
    proven |= x == 0

    def on_host(values: torch.Tensor) -> torch.Tensor:  # (k,) -> (k,)
        return torch.from_numpy(np.asarray(np.sqrt(values.numpy())))

    return _redo_on_host(y, ~proven, on_host, x)


def _square_residual(x: torch.Tensor, y: torch.Tensor) -> torch.Tensor:
    """``x - y * y`` of float64 tensors (...,), exact but for one final rounding where y² is close to x.

    ``y * y`` is ``p + e`` exactly (Dekker: ``y`` split into two halves of 26 bits, whose products
    are exact); ``x - p`` is exact when ``p`` is within a factor of two of ``x`` (Sterbenz).
    """
    p = y * y  # (...,)
    c = y * _SPLITTER
    hi = c - (c - y)  # (...,) the top 26 bits of y
    lo = y - hi  # (...,) the rest
    e = (hi * hi - p).add_(2 * hi * lo).add_(lo * lo)  # (...,) y * y - p, exactly
    return (x - p).sub_(e)


def _redo_on_host(values: torch.Tensor, near: torch.Tensor, host_fn: object, *inputs: torch.Tensor) -> torch.Tensor:
    """``values`` with the entries where ``near`` is set recomputed on the host, in place.

    ``near`` (any shape, M entries) marks the results an accelerator's maths library may have
    rounded across a decision (a bin edge, a near-tie between channels); ``values`` has M entries
    and each input M rows, of one value or a trailing axis. ``host_fn`` takes the picked rows as
    CPU tensors, (k,) or (k, C), and returns their k values with NumPy's libm, as skimage does.
    Finding them waits for the device once; they are few, so little travels.
    """
    flat = near.reshape(-1).nonzero().squeeze(1)  # (k,)
    if flat.numel() == 0:
        return values
    m = near.numel()
    picked = [t.reshape(m, -1)[flat].squeeze(1).cpu() for t in inputs]  # each (k,) or (k, C)
    values.view(-1)[flat] = host_fn(*picked).reshape(-1).to(values.device, values.dtype)
    return values


# Fast path: angles in float32, with a margin (in bin widths) far above float32's error on the
# angle; only gradients that close to a bin edge are re-binned exactly as skimage does, in double.
_EDGE_MARGIN = 1e-4


# An accelerator's double-precision arctan2 is within a few ulps (about 1e-13 degrees); gradients
# that close to a bin edge, in bin widths, are re-binned on the host.
_ULP_MARGIN = 1e-9


def skimage_bins(g_row: torch.Tensor, g_col: torch.Tensor, edges: torch.Tensor) -> torch.Tensor:
    """Orientation bin of each gradient exactly as skimage's histogram code decides it, in double.

    Bin ``i`` is ``[edges[i - 1], edges[i])`` of ``rad2deg(arctan2(g_row, g_col)) % 180``; ``O`` (an
    angle that rounds to 180) is in no bin. On an accelerator, a gradient with a zero component
    takes IEEE 754's exact arctan2 (0, 90 or 180 degrees), and the others within its maths
    library's error of an edge are re-binned on the host.
    """
    import torch

    g_row, g_col = g_row.double(), g_col.double()
    if _on_host(g_row, g_col, edges):
        return _host_bins(g_row, g_col, edges)
    angle = torch.atan2(g_row, g_col)  # radians, (...,)
    # IEEE 754's exact values where a component is zero: +-0 or +-pi on the column axis, +-pi/2 on the row axis.
    on_col_axis = torch.where(torch.signbit(g_col), math.pi, 0.0).copysign_(g_row)
    on_row_axis = torch.full_like(angle, math.pi / 2).copysign_(g_row)
    angle = torch.where(g_row == 0, on_col_axis, torch.where(g_col == 0, on_row_axis, angle))
    angle = torch.remainder(torch.rad2deg(angle), 180.0)  # degrees in [0, 180]
    bins = torch.bucketize(angle, edges, right=True)
    t = angle.mul_(edges.numel() / 180.0)  # in bin widths, [0, O]
    near = (t - t.round()).abs_() < _ULP_MARGIN
    near &= (g_row != 0) & (g_col != 0)
    return _redo_on_host(bins, near, lambda r, c: _host_bins(r, c, edges.cpu()), g_row, g_col)


def _host_bins(g_row: torch.Tensor, g_col: torch.Tensor, edges: torch.Tensor) -> torch.Tensor:
    """:func:`skimage_bins` of float64 CPU tensors, with NumPy's arctan2 as skimage calls it."""
    import torch

    angle = torch.from_numpy(np.arctan2(g_row.numpy(), g_col.numpy()))  # radians
    angle = torch.remainder(torch.rad2deg(angle), 180.0)  # degrees in [0, 180]
    return torch.bucketize(angle, edges, right=True)


def fast_bins(g_row: torch.Tensor, g_col: torch.Tensor, edges: torch.Tensor) -> torch.Tensor:
    """skimage's orientation bins of float32 gradients (exactly skimage's values), mostly in float32.

    Returns int64 bins in [0, O] of the shape of ``g_row``, ``O`` where skimage puts a gradient in no
    bin (an angle that rounds to 180 degrees). Only gradients within float32 error of a bin edge
    need skimage's double-precision angle. On the CPU those few are re-binned one by one; on an
    accelerator every gradient's exact bin is computed alongside and chosen where needed, so
    nothing waits on the host.
    """
    import torch

    orientations = edges.numel()
    angle = same_rounding(np.arctan2, torch.atan2, g_row, g_col)  # (...,) float32 radians in [-pi, pi]
    t = torch.remainder(angle.mul_(orientations / math.pi), orientations)  # (...,) angle in bin widths, [0, O]
    # A gradient with g_row 0 (a zero gradient, as on a flat background, or a horizontal one) is at 0 or 180
    # degrees exactly, in bin 0 as skimage has it (180 % 180 = 0): put mid-bin, so it is never re-binned.
    t.masked_fill_(g_row == 0, 0.5)
    bins = t.to(torch.int64)  # (...,) floor, as t >= 0; int64, the index type scatter-add takes
    fraction = t.sub_(bins)  # (...,) in [0, 1]: where in its bin the angle lies
    near = (fraction < _EDGE_MARGIN) | (fraction > 1 - _EDGE_MARGIN)  # within float32 error of a bin edge
    return _redo_on_host(bins, near, lambda r, c: _host_bins(r.double(), c.double(), edges.cpu()), g_row, g_col)


# Integer images of 8 bits (uint8, int8) have integer gradients in [-255, 255]: few enough pairs
# (511 x 511) to look up skimage's orientation bin of each instead of computing its angle.
_GRADIENT_LIMIT = 255


@functools.lru_cache(maxsize=8)
def _bin_table(orientations: int, device: torch.device) -> torch.Tensor:
    """skimage's orientation bin of every integer gradient pair of an 8-bit image, on ``device``.

    Returns (511 * 511,) uint8 bins in [0, O], indexed by ``(g_row + 255) * 511 + g_col + 255``; bin
    ``O`` is skimage's "no bin" (an angle that rounds to 180 degrees). Made once on the host in double
    precision with NumPy's libm, as skimage computes it, then copied to ``device``. A quarter of a
    megabyte: it stays in cache.
    """
    import torch

    g_row, g_col = _integer_gradients()
    bins = _host_bins(g_row, g_col, bin_upper_edges(orientations, torch.device("cpu")))  # in [0, O]
    return bins.to(torch.uint8).reshape(-1).to(device)


@functools.lru_cache(maxsize=4)
def _hypot_table(device: torch.device) -> torch.Tensor:
    """NumPy's ``hypot`` of every integer gradient pair of an 8-bit image, (511 * 511,) float64 on ``device``.

    Indexed as :func:`_bin_table`. NumPy's hypot is not correctly rounded (pairs of equal norm,
    such as (1, 7) and (5, 5), can differ in the last bit), so an accelerator looks the channel
    magnitudes up here to pick skimage's strongest channel on every tie. Two megabytes.
    """
    import torch

    g_row, g_col = _integer_gradients()
    return torch.from_numpy(np.hypot(g_row.numpy(), g_col.numpy()).reshape(-1)).to(device)


def _integer_gradients() -> tuple[torch.Tensor, torch.Tensor]:
    """Every integer gradient pair of an 8-bit image on the host, (511, 511) float64 each, in the
    row-major order :func:`_table_index` reads the tables in: g_row down, g_col across."""
    import torch

    values = torch.arange(-_GRADIENT_LIMIT, _GRADIENT_LIMIT + 1, dtype=torch.float64)  # (511,)
    g_row, g_col = torch.meshgrid(values, values, indexing="ij")  # (511, 511) each
    return g_row, g_col


def table_bins(g_row: torch.Tensor, g_col: torch.Tensor, orientations: int) -> torch.Tensor:
    """skimage's bins of integer-valued float32 gradients in [-255, 255], by table lookup.

    Returns uint8 bins in [0, O] of the shape of ``g_row``, ``O`` for a gradient skimage puts in no
    bin. The row-major indices, at most 261,120, are exact in float32.
    """
    return _bin_table(orientations, g_row.device).index_select(0, _table_index(g_row, g_col)).view(g_row.shape)


def _table_index(g_row: torch.Tensor, g_col: torch.Tensor) -> torch.Tensor:
    """Flat index of integer-valued float32 gradients in [-255, 255] into the 511 x 511 tables: (m,) int64."""
    import torch

    side = 2 * _GRADIENT_LIMIT + 1
    index = torch.add(g_col, g_row, alpha=side).add_(_GRADIENT_LIMIT * side + _GRADIENT_LIMIT)  # (...,) float32
    return index.to(torch.int64).reshape(-1)  # (m,)


# An accelerator's hypot is within a few ulps: channels whose magnitudes are that close to the
# strongest one's, from different gradients, are compared again on the host.
_HYPOT_MARGIN_EPS = 16


def strongest_channel(g_row: torch.Tensor, g_col: torch.Tensor, hypot_dtype: torch.dtype,
                       eight_bit: bool) -> torch.Tensor:
    """Per pixel, the channel whose gradient skimage finds strongest: (n, H, W, C) x 2 -> (n, H, W, 1) int64.

    skimage takes the argmax of ``np.hypot(g_row, g_col)`` in ``hypot_dtype``, the first channel on
    ties. On the CPU that is what runs. On an accelerator, 8-bit gradients look NumPy's hypot up
    in a table; others use the device's hypot, and pixels where another channel's different
    gradient comes within its rounding error of the strongest are decided again on the host.
    """
    import torch

    if _on_host(g_row, g_col):
        return same_rounding(np.hypot, torch.hypot, g_row.to(hypot_dtype), g_col.to(hypot_dtype)).argmax(
            dim=-1, keepdim=True)
    if eight_bit:
        magnitudes = _hypot_table(g_row.device).index_select(0, _table_index(g_row, g_col)).view(g_row.shape)
        return magnitudes.argmax(dim=-1, keepdim=True)
    g_row, g_col = g_row.to(hypot_dtype), g_col.to(hypot_dtype)
    magnitudes = torch.hypot(g_row, g_col)  # (n, H, W, C)
    strongest = magnitudes.argmax(dim=-1, keepdim=True)  # (n, H, W, 1)
    best = magnitudes.gather(-1, strongest)  # (n, H, W, 1)
    close = (best - magnitudes) <= best * (_HYPOT_MARGIN_EPS * torch.finfo(hypot_dtype).eps)  # (n, H, W, C)
    differs = (g_row.abs() != g_row.gather(-1, strongest).abs()) | (g_col.abs() != g_col.gather(-1, strongest).abs())
    near = (close & differs).any(dim=-1)  # (n, H, W)

    def on_host(r: torch.Tensor, c: torch.Tensor) -> torch.Tensor:  # (k, C) each -> (k,)
        return torch.from_numpy(np.hypot(r.numpy(), c.numpy()).argmax(axis=-1))

    return _redo_on_host(strongest, near, on_host, g_row, g_col)

