"""Tests for featvslearn.datasets.folder: folders of real PNG, JPEG, BMP, GIF and TIFF files."""

from __future__ import annotations

import io
import json
from pathlib import Path

import numpy as np
import pytest
from PIL import Image

from featvslearn.datasets import load_split
from featvslearn.datasets.core import ImageSizing, Split
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
    # two aspect ratios: a square of the median side (10x12 -> 11 px), clipped up to 16
    assert train.image_shape == (16, 16, 1) and test.image_shape == (16, 16, 1)
    assert len(train) + len(test) == 13 and len(test) == 4
    assert set(test.labels.tolist()) == {0, 1}
    assert train.hflip_ok and str(root) in train.source
    assert train.skipped == ("square/notes.txt",) and test.skipped == ()  # named, not silently dropped
    circles = np.concatenate(
        [train.images[train.labels == 0], test.images[test.labels == 0]]
    )
    assert np.all(circles[:, 2:14] == 30)  # 10x12 scaled to 13x16, centred on bands of the folder's mean grey
    assert split.origin == "no split in the folder: a stratified 25 % test split drawn with seed 1"


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


# ------------------------------------------------------------------------- mixed sizes
def _both(split: Split) -> tuple[np.ndarray, np.ndarray]:
    return (np.concatenate([split.train.images, split.test.images]),
            np.concatenate([split.train.labels, split.test.labels]))


def _mixed_folder(root: Path) -> Path:
    """Four square 8x8 images per class, and one wide 8x16 "bar": a white 8x8 square on black, its
    black border on the left and right."""
    for i in range(4):
        save(root / "dark" / f"{i}.png", grey(8, 8, 20))
        save(root / "light" / f"{i}.png", grey(8, 8, 220))
    bar = np.zeros((8, 16), np.uint8)
    bar[:, 4:12] = 255
    save(root / "light" / "wide.png", bar)
    return root


def test_folder_pads_other_aspect_ratios_by_default_and_records_it(tmp_path: Path) -> None:
    split = load_folder(_mixed_folder(tmp_path / "mixed"), 0.4, seed=0)
    # two aspect ratios: a square of the median side (8 px), clipped up to 16
    assert split.train.image_shape == (16, 16, 1)
    images, _ = _both(split)
    wide = [im[..., 0] for im in images if im.min() < 20]  # only the padded one has black in it
    assert len(wide) == 1
    sizing = split.train.sizing
    assert sizing is not None and sizing.fill is not None
    # the 8x16 bar fits as it is, centred on bands of the folder's mean grey: the white square stays square,
    # the black ends stay, nothing is cut off; the bands are not the bar's own border colour
    assert wide[0][4:12, 4:12].min() == 255 and wide[0][4:12, :4].max() == 0
    assert np.all(wide[0][:4] == sizing.fill[0]) and np.all(wide[0][12:] == sizing.fill[0])
    assert 100 < sizing.fill[0] < 140  # the mean of 20s, 220s and the bar
    assert sizing == split.test.sizing == ImageSizing(
        height=16, width=16, method="pad", images=9, resized=9, fitted=1, distinct_sizes=2,
        min_height=8, max_height=8, min_width=8, max_width=16,
        rule="square, the median of the files' sides (√(H×W), 8 px) clipped to 16–64", fill=sizing.fill)


def test_folder_can_crop_or_squash_instead(tmp_path: Path) -> None:
    root = _mixed_folder(tmp_path / "mixed")
    cropped = load_folder(root, 0.4, seed=0, fit="crop", image_size=8)
    images, labels = _both(cropped)
    assert cropped.train.sizing is not None and cropped.train.sizing.method == "crop"
    assert cropped.train.sizing.fill is None
    assert np.all(images[labels == 1] >= 220)  # the centre of the bar is all white: its black ends were cut off
    squashed = load_folder(root, 0.4, seed=0, fit="squash", image_size=8)
    images, labels = _both(squashed)
    assert squashed.train.sizing is not None and squashed.train.sizing.method == "squash"
    odd = [im[..., 0] for im in images if im.min() < 20]
    assert len(odd) == 1 and odd[0][:, 0].max() < 60 and odd[0][:, 4].min() > 200  # stretched: black at both sides
    with pytest.raises(UserError, match="use one of pad, crop, squash"):
        load_folder(root, 0.4, seed=0, fit="stretch")


def test_folder_pads_every_image_with_one_colour_not_its_own(tmp_path: Path) -> None:
    """A padding colour of the image's own would tell both sides its class (here: blue ones are b)."""
    root = tmp_path / "tall"
    for i in range(3):
        save(root / "a" / f"{i}.png", colour(6, 6, (200, 10, 10)))
        save(root / "b" / f"{i}.png", colour(6, 6, (10, 200, 10)))
    save(root / "b" / "tall.png", colour(12, 6, (0, 0, 250)))
    save(root / "a" / "wide.png", colour(6, 12, (200, 10, 10)))
    split = load_folder(root, 0.5, seed=0, image_size=12)
    images, _ = _both(split)
    sizing = split.train.sizing
    assert split.train.image_shape == (12, 12, 3) and sizing is not None and sizing.fitted == 2
    assert sizing.rule == "given by --image-size 12" and sizing.fill is not None
    tall = next(im for im in images if im[6, 6, 2] > 100)
    wide = next(im for im in images if im[0, 0, 0] != 200 and im[6, 6, 0] == 200)
    assert np.all(tall[:, :3] == sizing.fill) and np.all(wide[:3] == sizing.fill)  # the same bands for both
    assert all(60 < v < 140 for v in sizing.fill[:2])  # the folder's mean colour, neither blue nor red


def test_folder_size_and_arrays_do_not_depend_on_file_names(tmp_path: Path) -> None:
    rng = np.random.default_rng(0)
    pictures = {cls: [rng.integers(0, 255, (int(rng.integers(10, 30)), int(rng.integers(10, 30)), 3), np.uint8)
                      for _ in range(6)] for cls in ("x", "y")}
    for name, order in (("forward", 1), ("reverse", -1)):
        for cls, images in pictures.items():
            for i, image in enumerate(images[::order]):
                save(tmp_path / name / cls / f"{i:02d}.png", image)
    forward, reverse = (load_folder(tmp_path / name, 0.25, seed=3) for name in ("forward", "reverse"))
    assert forward.train.image_shape == reverse.train.image_shape
    for a, b in ((forward.train, reverse.train), (forward.test, reverse.test)):
        assert np.array_equal(a.images, b.images) and np.array_equal(a.labels, b.labels)
    assert forward.train.sizing == reverse.train.sizing


def test_image_size_is_checked_and_only_for_folders(tmp_path: Path) -> None:
    with pytest.raises(UserError, match="--image-size must be between 8 and 256 pixels, got 4"):
        load_folder(_mixed_folder(tmp_path / "mixed"), 0.4, seed=0, image_size=4)
    with pytest.raises(UserError) as exc:
        load_split("digits", image_size=16)
    assert assert_one_line(exc) == ("--image-size applies to image folders; the images of digits all have one size "
                                    "already, so leave --image-size out")


def test_folder_sizing_when_nothing_or_only_the_scale_changes(tmp_path: Path) -> None:
    same = tmp_path / "same"
    for i in range(2):
        save(same / "x" / f"{i}.png", grey(6, 6, 10))
        save(same / "y" / f"{i}.png", grey(6, 6, 20))
    sizing = load_folder(same, 0.5, seed=0).train.sizing
    assert sizing is not None and (sizing.method, sizing.resized, sizing.distinct_sizes) == ("none", 0, 1)
    big = tmp_path / "big"
    for i in range(2):
        save(big / "x" / f"{i}.png", grey(128, 128, 10))
        save(big / "y" / f"{i}.png", grey(256, 256, 20))
    sizing = load_folder(big, 0.5, seed=0).train.sizing
    assert sizing is not None and (sizing.method, sizing.height, sizing.resized, sizing.fitted) == ("scale", 64, 4, 0)
    assert sizing.distinct_sizes == 2 and (sizing.min_width, sizing.max_width) == (128, 256)


def test_folder_sizing_reaches_the_results_and_old_files_still_read(tmp_path: Path) -> None:
    from featvslearn.experiments.run import dataset_info
    from featvslearn.results import CompareResults, PipelineResult, read_json, write_json

    split = load_split(str(_mixed_folder(tmp_path / "mixed")), test_fraction=0.4, seed=0)
    info = dataset_info(split, 0.1)
    assert info.sizing is not None and info.sizing.method == "pad" and info.sizing.max_width == 16
    pipeline = PipelineResult(name="hog-svm", accuracy=1.0, train_seconds=1.0, predict_seconds=1.0,
                              images_per_second=4.0, device="cpu", gpu_util_percent_mean=None,
                              gpu_util_percent_max=None, gpu_util_samples=0, peak_gpu_memory_bytes=None,
                              cpu_util_percent_mean=None, peak_rss_bytes=None, stages=[])
    results = CompareResults(dataset=info, device="cpu", seed=0, environment={}, pipelines=[pipeline],
                             settings={}, created="2026-01-01T00:00:00+00:00", total_seconds=1.0)
    path = tmp_path / "r.json"
    write_json(results, path)
    assert read_json(path).dataset.sizing == info.sizing
    data = json.loads(path.read_text())
    del data["dataset"]["sizing"]  # a file written before the field existed
    path.write_text(json.dumps(data))
    assert read_json(path).dataset.sizing is None
