"""The attainable matrix-multiply rate of a device, measured: the yardstick for a network's GFLOP/s.

A CNN's training rate means little alone: 170 GFLOP/s is most of what two CPU cores can do and a
rounding error on a GPU. :func:`matmul_gflops` times large square matrix products in the
precision training computes in, on the device that trains, so "achieved against attainable" is
measured on the same machine rather than read from a data sheet.
"""

from __future__ import annotations

import time

import torch

from featvslearn.device import synchronize


def matmul_gflops(device: torch.device | str, dtype: torch.dtype | None = None, size: int = 2048,
                  seconds: float = 0.5) -> float:
    """GFLOP/s of ``size`` x ``size`` matrix products in ``dtype`` (None: fp32) on ``device``.

    One untimed product first (kernels, allocator, CPU frequency); then products until
    ``seconds`` have passed, timed with the device synchronised. Counts 2 size³ operations per
    product, the convention of FLOP rates.
    """
    device = torch.device(device)
    dtype = dtype or torch.float32
    generator = torch.Generator().manual_seed(0)
    a = torch.randn(size, size, generator=generator).to(device=device, dtype=dtype)
    b = torch.randn(size, size, generator=generator).to(device=device, dtype=dtype)
    torch.mm(a, b)
    synchronize(device)
    products, started = 0, time.perf_counter()
    while True:
        torch.mm(a, b)
        products += 1
        synchronize(device)
        elapsed = time.perf_counter() - started
        if elapsed >= seconds:
            return 2 * size**3 * products / elapsed / 1e9


def training_gflops(flops_per_image: int, images: int, seconds: float) -> float | None:
    """GFLOP/s of training: forward and backward count three forward passes (the usual estimate)."""
    return 3 * flops_per_image * images / seconds / 1e9 if seconds > 0 else None
