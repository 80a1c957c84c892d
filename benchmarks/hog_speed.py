"""Benchmark: batched torch HOG (featvslearn.features.hog) against a loop of skimage.feature.hog.

Both compute HOG descriptors of the same N 28x28 grey images (Fashion-MNIST when
/usr/share/datasets/fashion-mnist is installed, else random 28x28 crops of scikit-image's bundled
photographs) with 9 orientations, 4x4-pixel cells, 2x2-cell blocks and L2-Hys normalisation. It
prints the images/s of each (the batched one after a small warm-up call, on ``--device``), their
ratio, and the max and mean absolute difference between the two descriptor matrices.

    .venv/bin/python benchmarks/hog_speed.py
    .venv/bin/python benchmarks/hog_speed.py --n 20000 --device cuda
"""

from __future__ import annotations

import argparse
import time

import numpy as np
import torch
from skimage.feature import hog as skimage_hog

from featvslearn.features import hog

PARAMS = {"orientations": 9, "pixels_per_cell": (4, 4), "cells_per_block": (2, 2), "block_norm": "L2-Hys"}


def load_images(n: int) -> tuple[np.ndarray, str]:
    """``n`` (28, 28) uint8 grey images and where they came from."""
    try:
        from featvslearn.datasets import load_split

        split = load_split("fashion-mnist", download=False)
        images = np.concatenate([split.train.images, split.test.images])[:n, ..., 0]
        return images, f"Fashion-MNIST ({len(images)} images)"
    except Exception:  # not installed: crops of real photographs instead
        from skimage import data

        sources = [data.camera(), data.coins(), data.moon(), data.text(), data.camera()[::4, ::4]]
        rng = np.random.default_rng(0)
        crops = []
        for _ in range(n):
            image = sources[rng.integers(len(sources))]
            r, c = rng.integers(image.shape[0] - 27), rng.integers(image.shape[1] - 27)
            crops.append(image[r : r + 28, c : c + 28])
        return np.stack(crops), f"28x28 crops of scikit-image photographs ({n} images)"


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--n", type=int, default=10000, help="number of images (default 10000)")
    parser.add_argument("--device", default="cpu", help="torch device of the batched HOG (default cpu)")
    args = parser.parse_args()

    images, source = load_images(args.n)
    print(f"images: {source}; HOG {PARAMS}; torch {torch.__version__}, {torch.get_num_threads()} threads")

    hog(images[:64], device=args.device, **PARAMS)  # warm-up: allocator, kernels, CUDA context
    start = time.perf_counter()
    batched = hog(images, device=args.device, **PARAMS)
    batched_s = time.perf_counter() - start

    start = time.perf_counter()
    reference = np.stack([skimage_hog(im, feature_vector=True, **PARAMS) for im in images])
    loop_s = time.perf_counter() - start

    diff = np.abs(batched.astype(np.float64) - reference)
    print(f"batched hog on {args.device}: {len(images) / batched_s:12.0f} images/s ({batched_s:.3f} s)")
    print(f"skimage hog loop:     {len(images) / loop_s:12.0f} images/s ({loop_s:.3f} s)")
    print(f"speed-up: {loop_s / batched_s:.1f}x")
    print(f"features: {reference.shape[1]} per image; max abs difference {diff.max():.3g}, mean {diff.mean():.3g}")


if __name__ == "__main__":
    main()
