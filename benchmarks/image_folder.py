"""Benchmark: both pipelines on an image folder, with and without train/ and test/ sub-folders.

Writes a class-balanced slice of Fashion-MNIST (or the digits when Fashion-MNIST is not
installed) as PNG files, one sub-folder per class, in a temporary folder; once with
``train/`` and ``test/`` and once flat, so the tool draws its own seeded stratified split.
Then it runs the default comparison on each and prints accuracy and seconds.

    .venv/bin/python benchmarks/image_folder.py [--per-class 400] [--device cpu]
"""

from __future__ import annotations

import argparse
import tempfile
from pathlib import Path

import numpy as np
from PIL import Image

from featvslearn.datasets import load_split
from featvslearn.errors import UserError
from featvslearn.experiments.compare import run_comparison
from featvslearn.experiments.config import CompareConfig


def write_folder(images: np.ndarray, labels: np.ndarray, class_names: tuple[str, ...], root: Path,
                 first_index: int = 0) -> None:
    """Write uint8 (N, H, W, 1) images as PNGs under root/<class name>/, numbered from ``first_index``."""
    for index, (image, label) in enumerate(zip(images, labels, strict=True), start=first_index):
        folder = root / class_names[label].replace("/", "-")
        folder.mkdir(parents=True, exist_ok=True)
        Image.fromarray(image[..., 0]).save(folder / f"{index:05d}.png")


def take(labels: np.ndarray, per_class: int, seed: int) -> np.ndarray:
    """Indices of ``per_class`` images of every class, drawn with ``seed``."""
    rng = np.random.default_rng(seed)
    return np.concatenate([rng.choice(np.flatnonzero(labels == c), per_class, replace=False)
                           for c in np.unique(labels)])


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--per-class", type=int, default=400, help="images per class (three quarters for training)")
    parser.add_argument("--device", default="cpu")
    args = parser.parse_args()
    try:
        split = load_split("fashion-mnist", download=False)
    except UserError:
        split = load_split("digits")
    train, test = split.train, split.test
    n_train, n_test = args.per_class * 3 // 4, args.per_class - args.per_class * 3 // 4
    train_index, test_index = take(train.labels, n_train, 0), take(test.labels, n_test, 1)
    with tempfile.TemporaryDirectory() as tmp:
        with_split, flat = Path(tmp) / "with-split", Path(tmp) / "flat"
        write_folder(train.images[train_index], train.labels[train_index], train.class_names, with_split / "train")
        write_folder(test.images[test_index], test.labels[test_index], train.class_names, with_split / "test")
        write_folder(train.images[train_index], train.labels[train_index], train.class_names, flat)
        write_folder(test.images[test_index], test.labels[test_index], train.class_names, flat, len(train_index))
        print(f"{train.name} as PNG folders: {len(train.class_names)} classes, {args.per_class} images per class")
        for name, folder in (("train/ and test/", with_split), ("flat, seeded split", flat)):
            results = run_comparison(CompareConfig(dataset=str(folder), device=args.device).validated())
            figures = ", ".join(f"{p.name} {p.accuracy:.4f} ({p.train_seconds:.1f} s train)"
                                for p in results.pipelines)
            print(f"{name:20} {results.dataset.train_size} train / {results.dataset.test_size} test: {figures}")


if __name__ == "__main__":
    main()
