"""A user's own image folder end to end: the size chosen, the options that choose it, the split stated."""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pytest
from PIL import Image
from typer.testing import CliRunner

from featvslearn.cli import app

pytestmark = pytest.mark.usefixtures("isolated_cache")
runner = CliRunner()
SMALL = ["--device", "cpu", "--pipelines", "hog-svm,cnn", "--epochs", "3"]


def _photo_folder(root: Path, reverse: bool) -> None:
    """Two colour classes (warm and cool noise patches) of mixed sizes and aspect ratios, files numbered
    forwards or backwards: the same images under other names and in another order."""
    rng = np.random.default_rng(7)
    for cls, base in (("warm", (170, 90, 60)), ("cool", (60, 90, 170))):
        images = []
        for _ in range(16):
            h, w = int(rng.integers(14, 40)), int(rng.integers(14, 40))
            noise = rng.normal(0, 40, (h, w, 3))
            images.append(np.clip(np.asarray(base) + noise, 0, 255).astype(np.uint8))
        for i, image in enumerate(images[::-1] if reverse else images):
            (root / cls).mkdir(parents=True, exist_ok=True)
            Image.fromarray(image).save(root / cls / f"{i:02d}.png")


def _compare(folder: Path, out: Path, *options: str) -> dict:
    result = runner.invoke(app, ["compare", "--dataset", str(folder), *SMALL, *options, "--json", str(out)])
    assert result.exit_code == 0, result.output
    return {"json": json.loads(out.read_text()), "output": result.output}


def test_the_same_folder_in_another_file_order_gives_the_same_size_and_results(tmp_path: Path) -> None:
    _photo_folder(tmp_path / "forward", reverse=False)
    _photo_folder(tmp_path / "reverse", reverse=True)
    runs = [_compare(tmp_path / name, tmp_path / f"{name}.json") for name in ("forward", "reverse")]
    first, second = (run["json"] for run in runs)
    assert first["dataset"]["image_shape"] == second["dataset"]["image_shape"]
    assert first["dataset"]["image_shape"][0] == first["dataset"]["image_shape"][1]  # several ratios: a square
    assert first["dataset"]["sizing"] == second["dataset"]["sizing"]
    for a, b in zip(first["pipelines"], second["pipelines"], strict=True):
        assert (a["name"], a["accuracy"], a["correct"]) == (b["name"], b["accuracy"], b["correct"])
    split = "no split in the folder: a stratified 25 % test split drawn with seed 0"
    assert first["dataset"]["split"] == split and f"split: {split}" in runs[0]["output"]


def test_image_size_and_fit_choose_the_size_and_how_images_fit_it(tmp_path: Path) -> None:
    _photo_folder(tmp_path / "photos", reverse=False)
    run = _compare(tmp_path / "photos", tmp_path / "sized.json", "--image-size", "24", "--fit", "crop")
    dataset = run["json"]["dataset"]
    assert dataset["image_shape"] == [24, 24, 3]
    assert dataset["sizing"]["rule"] == "given by --image-size 24" and dataset["sizing"]["method"] == "crop"
    assert "cropped to that aspect ratio around their centre" in run["output"]


def test_a_folder_with_train_and_test_says_they_were_used_as_given(tmp_path: Path) -> None:
    _photo_folder(tmp_path / "photos" / "train", reverse=False)
    _photo_folder(tmp_path / "photos" / "test", reverse=True)
    run = _compare(tmp_path / "photos", tmp_path / "given.json")
    assert run["json"]["dataset"]["split"] == "train/ and test/ used as given (32 and 32 images)"
    assert "split: train/ and test/ used as given (32 and 32 images)" in run["output"]


@pytest.mark.parametrize(("options", "message"), [
    (["--dataset", "digits", "--image-size", "16"],
     "error: --image-size applies to image folders; the images of digits all have one size already, so leave "
     "--image-size out"),
    (["--dataset", "digits", "--fit", "crop"], "error: --fit applies to image folders"),
    (["--image-size", "2"], "error: --image-size must be between 8 and 256 pixels, got 2"),
    (["--fit", "stretch"], "error: --fit 'stretch' is not known"),
])
def test_size_options_are_refused_with_one_line_before_loading(options: list[str], message: str) -> None:
    for command in ("compare", "scaling", "ablate"):
        result = runner.invoke(app, [command, *options])
        assert result.exit_code == 2, result.output
        assert "Traceback" not in result.output
        assert result.stderr.strip().splitlines()[-1].startswith(message)
