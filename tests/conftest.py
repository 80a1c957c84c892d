"""Shared fixtures: small image folders in real formats, and an isolated dataset cache."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest
from PIL import Image

REAL_FASHION = Path("/usr/share/datasets/fashion-mnist")
needs_fashion = pytest.mark.skipif(
    not (REAL_FASHION / "train-images-idx3-ubyte.gz").exists(),
    reason="Debian's dataset-fashion-mnist is not installed",
)


def write_shapes_folder(root: Path, per_class: int = 24, size: int = 16, split: bool = False, seed: int = 0) -> Path:
    """Write a three-class image folder of PNGs: horizontal bars, vertical bars, and a filled disc.

    Each image has noise and a random offset, so both pipelines must learn something.
    With ``split``, images go under train/ and test/ (two thirds and one third).
    """
    rng = np.random.default_rng(seed)
    yy, xx = np.mgrid[:size, :size]
    for index in range(per_class):
        for name in ("bars_h", "bars_v", "disc"):
            shift = rng.integers(0, 4)
            if name == "bars_h":
                image = ((yy + shift) // 2 % 2) * 200
            elif name == "bars_v":
                image = ((xx + shift) // 2 % 2) * 200
            else:
                c = size / 2 + rng.uniform(-2, 2)
                image = ((yy - c) ** 2 + (xx - c) ** 2 < (size / 3) ** 2) * 200
            image = np.clip(image + rng.normal(0, 25, image.shape), 0, 255).astype(np.uint8)
            part = ("train" if index % 3 else "test") if split else ""
            folder = root / part / name
            folder.mkdir(parents=True, exist_ok=True)
            Image.fromarray(image, mode="L").save(folder / f"{index:03d}.png")
    return root


@pytest.fixture
def shapes_folder(tmp_path: Path) -> Path:
    return write_shapes_folder(tmp_path / "shapes")


@pytest.fixture
def shapes_split_folder(tmp_path: Path) -> Path:
    return write_shapes_folder(tmp_path / "shapes_split", split=True)


@pytest.fixture
def isolated_cache(tmp_path_factory: pytest.TempPathFactory, monkeypatch: pytest.MonkeyPatch) -> Path:
    """An empty dataset cache and no system copies, so only what a test writes is found; returns the cache."""
    cache = tmp_path_factory.mktemp("cache")
    monkeypatch.setenv("FEATVSLEARN_CACHE", str(cache))
    monkeypatch.setattr("featvslearn.datasets.idx.SYSTEM_DIRS", {})
    return cache
