"""Benchmark: batched torch HOG (featvslearn.classical.hog) against a loop of skimage.feature.hog.

Both compute HOG descriptors of the same 28x28 grey images (Fashion-MNIST when
/usr/share/datasets/fashion-mnist is installed, else random 28x28 crops of scikit-image's bundled
photographs) with 9 orientations, 4x4-pixel cells, 2x2-cell blocks and L2-Hys normalisation. For
each batch size in ``--n`` (by default 1,000, 10,000 and all 70,000) it prints the batched HOG's
images/s on ``--device`` (one untimed call of that size first, then the median of three), the
skimage loop's (over at most 10,000 of the images, timed once: a loop has no warm-up to speak of),
their ratio, and the max and mean absolute difference between the two descriptor matrices; last,
whether the batched HOG reached its target of 50 times the loop's images/s at every size.

    .venv/bin/python benchmarks/hog_speed.py
    .venv/bin/python benchmarks/hog_speed.py --n 20000 --device cuda
"""

from __future__ import annotations

import argparse
import time

import numpy as np
import torch
from skimage.feature import hog as skimage_hog

from featvslearn.classical.hog import hog

TARGET_RATIO = 50.0  # the batched HOG's images/s against the skimage loop's, at every batch size
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


def median_seconds(function: object, repeats: int = 3) -> float:
    """Median wall seconds of ``repeats`` calls of ``function()``, after one untimed call."""
    function()  # warm-up at this size: allocator, caches
    seconds = []
    for _ in range(repeats):
        start = time.perf_counter()
        function()
        seconds.append(time.perf_counter() - start)
    return sorted(seconds)[len(seconds) // 2]


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--n", default="1000,10000,70000", help="batch sizes, comma separated")
    parser.add_argument("--device", default="cpu", help="torch device of the batched HOG (default cpu)")
    args = parser.parse_args()
    sizes = [int(n) for n in args.n.split(",")]

    images, source = load_images(max(sizes))
    print(f"images: {source}; HOG {PARAMS}; torch {torch.__version__}, {torch.get_num_threads()} threads")
    sample = images[:10_000]
    start = time.perf_counter()
    reference = np.stack([skimage_hog(im, feature_vector=True, **PARAMS) for im in sample])  # (n, D)
    loop_rate = len(sample) / (time.perf_counter() - start)
    print(f"skimage hog loop: {loop_rate:,.0f} images/s ({len(sample):,} images)")
    ratios = []
    for n in sizes:
        batch = images[:n]
        seconds = median_seconds(lambda batch=batch: hog(batch, device=args.device, **PARAMS))
        batched = hog(batch[: len(reference)], device=args.device, **PARAMS)
        diff = np.abs(batched.astype(np.float64) - reference[: len(batched)])
        ratios.append(len(batch) / seconds / loop_rate)
        print(f"{len(batch):>7,} images: batched hog on {args.device} {len(batch) / seconds:10,.0f} images/s "
              f"({seconds:.3f} s), {len(batch) / seconds / loop_rate:5.1f}x the loop; max abs difference "
              f"{diff.max():.3g}, mean {diff.mean():.3g}")
    print(f"features: {reference.shape[1]} per image")
    verdict = "met" if min(ratios) >= TARGET_RATIO else "missed"
    print(f"target: at least {TARGET_RATIO:.0f}x the loop at every size; slowest {min(ratios):.1f}x: {verdict}")


if __name__ == "__main__":
    main()
