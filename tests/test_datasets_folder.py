"""Tests for featvslearn.datasets.folder: folders of real PNG, JPEG, BMP, GIF and TIFF files."""

from __future__ import annotations

import io
from pathlib import Path

import numpy as np
import pytest
from PIL import Image

from featvslearn.datasets import load_split
from featvslearn.datasets.folder import load_folder
from featvslearn.errors import UserError
from tests.dataset_files import assert_one_line

pytestmark = pytest.mark.usefixtures("isolated_cache")


def save(path: Path, array: np.ndarray, fmt: str | None = None) -> None:
    path.parent.mkdir(parents=True, exist_ok=True)
    Image.fromarray(array).save(path, format=fmt)


def grey(h: int, w: int, value: int) -> np.ndarray:
    return np.full((h, w), value, dtype=np.uint8)


def colour(h: int, w: int, rgb: tuple[int, int, int]) -> np.ndarray:
    return np.broadcast_to(np.array(rgb, np.uint8), (h, w, 3)).copy()


def test_folder_grey_random_split(tmp_path: Path) -> None:
    root = tmp_path / "shapes"
    for i in range(6):
        save(root / "circle" / f"{i}.png", grey(10, 12, 30))
        save(root / "square" / f"{i}.png", grey(10, 12, 200))
    save(root / "square" / "odd.png", grey(20, 5, 200))  # different size -> resized
    (root / "square" / "notes.txt").write_text("not an image")
    (root / "square" / ".hidden.png").write_bytes(b"junk")
    (root / "README.md").write_text("top-level files are ignored")
    split = load_split(str(root), test_fraction=0.25, seed=1)
    train, test = split.train, split.test
    assert train.class_names == ("circle", "square") and train.name == "shapes"
    assert train.image_shape == (10, 12, 1) and test.image_shape == (10, 12, 1)
    assert len(train) + len(test) == 13 and len(test) == 4
    assert set(test.labels.tolist()) == {0, 1}
    assert train.hflip_ok and str(root) in train.source
    assert train.skipped == ("square/notes.txt",) and test.skipped == ()  # named, not silently dropped
    circles = np.concatenate(
        [train.images[train.labels == 0], test.images[test.labels == 0]]
    )
    assert np.all(circles == 30)


def test_folder_colour_mixed_sizes_and_skips(tmp_path: Path) -> None:
    root = tmp_path / "pets"
    for i in range(4):
        save(root / "cat" / f"{i}.jpg", colour(16, 16, (255, 0, 0)), "JPEG")
        save(root / "dog" / f"{i}.png", grey(16, 16, 90))  # grey among colour -> RGB
    save(root / "dog" / "big.bmp", colour(40, 20, (0, 0, 255)))
    (root / "cat" / "broken.png").write_bytes(b"\x89PNG\r\n\x1a\n garbage")
    (root / "cat" / "readme.txt").write_text("not an image: skipped and named")
    split = load_split(str(root), seed=0)
    assert split.train.image_shape == (16, 16, 3) and split.test.image_shape == (
        16,
        16,
        3,
    )
    assert len(split.train) + len(split.test) == 9
    assert split.train.skipped == ("cat/broken.png", "cat/readme.txt") and split.test.skipped == ()
    everything = np.concatenate([split.train.images, split.test.images])
    labels = np.concatenate([split.train.labels, split.test.labels])
    dogs = everything[labels == 1]
    assert any(np.all(d == 90) for d in dogs)  # grey replicated to three channels
    cats = everything[labels == 0]
    assert np.all(cats[..., 0] > 200) and np.all(cats[..., 1] < 50)


def test_folder_truncated_image_skipped(tmp_path: Path) -> None:
    root = tmp_path / "f"
    for i in range(3):
        save(root / "a" / f"{i}.png", grey(8, 8, 10))
        save(root / "b" / f"{i}.png", grey(8, 8, 20))
    good = io.BytesIO()
    Image.fromarray(np.random.default_rng(0).integers(0, 255, (64, 64), np.uint8)).save(
        good, "PNG"
    )
    (root / "b" / "cut.png").write_bytes(good.getvalue()[: len(good.getvalue()) // 2])
    split = load_split(str(root))
    assert split.train.skipped == ("b/cut.png",)
    assert len(split.train) + len(split.test) == 6


def test_folder_train_test_layout(tmp_path: Path) -> None:
    root = tmp_path / "tt"
    for i in range(3):
        save(root / "train" / "ant" / f"{i}.png", grey(6, 6, 1))
        save(root / "train" / "bee" / f"{i}.gif", grey(6, 6, 2))
        save(root / "train" / "cow" / f"{i}.png", grey(6, 6, 3))
    save(root / "test" / "ant" / "t.png", grey(6, 6, 1))
    save(root / "test" / "bee" / "t.tiff", grey(6, 6, 2))
    (root / "test" / "bee" / "bad.jpg").write_bytes(b"nope")
    split = load_split(str(root))
    assert split.train.class_names == ("ant", "bee", "cow") == split.test.class_names
    assert len(split.train) == 9 and len(split.test) == 2
    assert sorted(split.test.labels.tolist()) == [0, 1]
    assert split.test.skipped == ("test/bee/bad.jpg",) and split.train.skipped == ()
    assert split.train.image_shape == (6, 6, 1)


def test_folder_class_only_in_test(tmp_path: Path) -> None:
    for cls in ("a", "b"):
        save(tmp_path / "train" / cls / "0.png", grey(4, 4, 0))
        save(tmp_path / "test" / cls / "0.png", grey(4, 4, 0))
    save(tmp_path / "test" / "c" / "0.png", grey(4, 4, 0))
    with pytest.raises(UserError) as exc:
        load_split(str(tmp_path))
    assert "'c' is in" in assert_one_line(exc)


def test_folder_large_images_capped(tmp_path: Path) -> None:
    root = tmp_path / "big"
    for i in range(2):
        save(root / "x" / f"{i}.png", colour(100, 200, (10, 20, 30)))
        save(root / "y" / f"{i}.png", colour(100, 200, (40, 50, 60)))
    split = load_split(str(root), test_fraction=0.5)
    assert split.train.image_shape == (32, 64, 3)


def test_folder_sixteen_bit_grey(tmp_path: Path) -> None:
    root = tmp_path / "deep"
    for i in range(2):
        for cls, value in (("lo", 256 * 10), ("hi", 65535)):
            path = root / cls / f"{i}.png"
            path.parent.mkdir(parents=True, exist_ok=True)
            Image.fromarray(np.full((5, 5), value, np.uint16)).save(path)
    split = load_split(str(root), test_fraction=0.5)
    everything = np.concatenate([split.train.images, split.test.images])
    labels = np.concatenate([split.train.labels, split.test.labels])
    assert split.train.image_shape == (5, 5, 1)
    assert np.all(everything[labels == 0] == 255)  # "hi" sorts first
    assert np.all(everything[labels == 1] == 10)


def test_folder_one_class(tmp_path: Path) -> None:
    for i in range(3):
        save(tmp_path / "only" / f"{i}.png", grey(4, 4, 0))
    with pytest.raises(UserError) as exc:
        load_split(str(tmp_path))
    assert "at least 2 classes" in assert_one_line(exc)


def test_folder_flat_images(tmp_path: Path) -> None:
    for i in range(3):
        save(tmp_path / f"{i}.png", grey(4, 4, 0))
    with pytest.raises(UserError, match="sub-folder per class"):
        load_split(str(tmp_path))


def test_folder_empty_class(tmp_path: Path) -> None:
    for i in range(3):
        save(tmp_path / "a" / f"{i}.png", grey(4, 4, 0))
    (tmp_path / "b").mkdir()
    (tmp_path / "b" / "x.txt").write_text("no images")
    with pytest.raises(UserError) as exc:
        load_split(str(tmp_path))
    assert "no readable images" in assert_one_line(exc) and str(tmp_path / "b") in str(
        exc.value
    )


def test_folder_class_too_small_to_split(tmp_path: Path) -> None:
    for i in range(3):
        save(tmp_path / "a" / f"{i}.png", grey(4, 4, 0))
    save(tmp_path / "b" / "0.png", grey(4, 4, 0))
    with pytest.raises(UserError, match="'b' has fewer than 2 images"):
        load_split(str(tmp_path))


def test_folder_train_without_test(tmp_path: Path) -> None:
    for cls in ("a", "b"):
        save(tmp_path / "train" / cls / "0.png", grey(4, 4, 0))
    with pytest.raises(UserError, match="no test/"):
        load_split(str(tmp_path))


def test_folder_reads_by_content_not_extension_and_names_what_it_skips(tmp_path: Path) -> None:
    root = tmp_path / "ext"
    for i in range(3):
        save(root / "a" / f"{i}.png", grey(6, 6, 10))
        save(root / "b" / f"{i}.png", grey(6, 6, 20))
    save(root / "a" / "really-a-png.dat", grey(6, 6, 10), "PNG")  # read: Pillow decides, not the extension
    (root / "a" / "notes.txt").write_text("not an image")  # skipped and named
    (root / "a" / "fake.png").write_bytes(b"not a png")  # skipped and named
    save(root / "a" / "nested" / "deeper.png", grey(6, 6, 10))  # nested folders count for the class
    save(root / "a" / ".hidden" / "h.png", grey(6, 6, 10))  # hidden folder: neither read nor named
    (root / "a" / ".DS_Store").write_bytes(b"\x00\x01")  # hidden file: neither read nor named
    (root / "b" / "link").symlink_to(root / "a", target_is_directory=True)  # folder link: not followed
    split = load_folder(root, 0.5, seed=0)
    labels = np.concatenate([split.train.labels, split.test.labels])
    assert np.bincount(labels).tolist() == [5, 3]
    assert split.train.skipped == ("a/fake.png", "a/notes.txt") and split.test.skipped == ()


def test_folder_train_test_reads_nothing_else(tmp_path: Path) -> None:
    root = tmp_path / "tt"
    for side in ("train", "test"):
        for cls, value in (("a", 10), ("b", 20)):
            save(root / side / cls / "0.png", grey(4, 4, value))
        (root / side / "loose.txt").write_text("beside the class folders: ignored")
    save(root / "extra" / "0.png", grey(4, 4, 30))  # not train/ or test/: not a class
    split = load_split(str(root))
    assert split.train.class_names == ("a", "b") and len(split.train) == len(split.test) == 2
    assert split.train.skipped == () and split.test.skipped == ()


def test_folder_test_without_readable_images(tmp_path: Path) -> None:
    for cls in ("a", "b"):
        save(tmp_path / "train" / cls / "0.png", grey(4, 4, 0))
        (tmp_path / "test" / cls).mkdir(parents=True)
    (tmp_path / "test" / "a" / "x.txt").write_text("no images")
    with pytest.raises(UserError) as exc:
        load_split(str(tmp_path))
    assert "test has no readable images" in assert_one_line(exc)
