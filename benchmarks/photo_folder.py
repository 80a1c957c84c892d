"""A colour image folder of photo patches: the user's own images, as a workshop would bring them.

Six classes, one per colour photograph that ships with scikit-image (astronaut, coffee, chelsea,
rocket, hubble_deep_field, immunohistochemistry): each image is a patch of random position, side
40-120 px and aspect ratio 1:2 to 2:1, cut from the left 70 % of its photo for training and the right
30 % for testing (so no test patch overlaps a training patch), written as PNG with one sub-folder per
class under ``train/`` and ``test/``. Every size is all but unique, as in a folder of real photos;
colour carries much of the class. The patches depend only on ``--seed``.

    .venv/bin/python benchmarks/photo_folder.py OUT [--per-class 60] [--seed 0] [--flat] [--reverse]

``--flat`` writes the class folders without ``train/`` and ``test/`` (the tool then draws a split);
``--reverse`` numbers every class's files in reverse order, for checking that file order changes nothing.
"""

from __future__ import annotations

import argparse
from pathlib import Path

import numpy as np
from PIL import Image

PHOTOS: tuple[str, ...] = ("astronaut", "coffee", "chelsea", "rocket", "hubble_deep_field", "immunohistochemistry")
TRAIN_SHARE = 0.7
"""The share of each photo's width (from the left) that training patches come from."""


def photo(name: str) -> np.ndarray:
    """One of :data:`PHOTOS` as ``(H, W, 3)`` uint8."""
    import skimage.data

    image = getattr(skimage.data, name)()
    return np.ascontiguousarray(image[..., :3])


def patches(image: np.ndarray, count: int, left: float, right: float, rng: np.random.Generator) -> list[np.ndarray]:
    """``count`` patches ``(h, w, 3)`` of random side 40-120 px and aspect 1:2-2:1, scaled down from a
    window of twice that size, from the columns ``left``-``right`` (shares of the width) of ``image``."""
    height, width = image.shape[:2]
    x0, x1 = int(left * width), int(right * width)
    out = []
    for _ in range(count):
        side = rng.uniform(40, 120)
        aspect = np.exp(rng.uniform(np.log(0.5), np.log(2.0)))  # width / height
        h, w = max(8, round(side / np.sqrt(aspect))), max(8, round(side * np.sqrt(aspect)))
        window_h, window_w = min(height, 2 * h), min(x1 - x0, 2 * w)
        top = int(rng.integers(0, height - window_h + 1))
        start = int(rng.integers(x0, x1 - window_w + 1))
        window = image[top:top + window_h, start:start + window_w]
        out.append(np.asarray(Image.fromarray(window).resize((w, h), Image.Resampling.BILINEAR)))
    return out


def write_photo_folder(root: Path, per_class: int = 60, seed: int = 0, flat: bool = False,
                       reverse: bool = False) -> None:
    """Write the folder under ``root``: ``per_class`` patches per class, a quarter of them for testing."""
    rng = np.random.default_rng(seed)
    n_test = per_class // 4
    for name in PHOTOS:
        image = photo(name)
        sides = {"train": patches(image, per_class - n_test, 0.0, TRAIN_SHARE, rng),
                 "test": patches(image, n_test, TRAIN_SHARE, 1.0, rng)}
        for side, images in sides.items():
            folder = root / name if flat else root / side / name
            folder.mkdir(parents=True, exist_ok=True)
            for index, patch in enumerate(images):
                number = len(images) - 1 - index if reverse else index
                Image.fromarray(patch).save(folder / f"{side}-{number:04d}.png")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("out", type=Path, help="the folder to write (created)")
    parser.add_argument("--per-class", type=int, default=60, help="images per class (a quarter for testing)")
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--flat", action="store_true", help="no train/ and test/: the tool draws the split")
    parser.add_argument("--reverse", action="store_true", help="number each class's files in reverse order")
    args = parser.parse_args()
    write_photo_folder(args.out, args.per_class, args.seed, args.flat, args.reverse)
    print(f"wrote {len(PHOTOS)} classes x {args.per_class} photo patches under {args.out}")


if __name__ == "__main__":
    main()
