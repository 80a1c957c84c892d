"""Colour on the hand-engineered side: hog-svm and sift-svm see a colour folder's colours (a colour
histogram joins their features), say so in their details, and leave grey data as it was."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest
import torch
from PIL import Image

from featvslearn.classical import ColourHistogram, has_colour, input_words
from featvslearn.datasets.folder import load_folder
from featvslearn.experiments.run import run_pipeline
from featvslearn.pipelines import RunSettings
from featvslearn.reports.details import input_lines
from tests.conftest import write_shapes_folder

# Two classes of 20x20 noise whose pixels are each one of two colours: red-green against red-blue. Per
# pixel both classes have the same mean colour (grey 128) and the red channel the same values in both,
# so the strongest channel's gradients (HOG's) and the pixel values a linear SVM weighs (the thumbnail)
# carry no class; only the distribution of colours does.
PAIRS = {"red_green": ((188, 68, 128), (68, 188, 128)), "red_blue": ((188, 128, 68), (68, 128, 188))}


def write_colour_folder(root: Path, per_class: int = 30, side: int = 20, seed: int = 0) -> Path:
    """Write the two-class colour folder of :data:`PAIRS` as RGB PNGs under train/ and test/ (2:1)."""
    rng = np.random.default_rng(seed)
    for name, (first, second) in PAIRS.items():
        colours = np.array([first, second], dtype=np.uint8)
        for index in range(per_class):
            image = colours[rng.integers(0, 2, (side, side))]  # (side, side, 3)
            folder = root / ("train" if index % 3 else "test") / name
            folder.mkdir(parents=True, exist_ok=True)
            Image.fromarray(image, mode="RGB").save(folder / f"{index:03d}.png")
    return root


@pytest.fixture(scope="module")
def colour_split(tmp_path_factory: pytest.TempPathFactory) -> object:
    return load_folder(write_colour_folder(tmp_path_factory.mktemp("colour")), test_fraction=0.25, seed=0)


@pytest.mark.parametrize("name", ["hog-svm", "sift-svm"])
def test_the_hand_engineered_pipelines_tell_colour_distributions_apart_and_say_they_saw_colour(
        colour_split: object, name: str) -> None:
    result = run_pipeline(name, colour_split, torch.device("cpu"), RunSettings(seed=0))
    assert result.accuracy >= 0.8  # HOG, SIFT and the thumbnail alone score 0.45 here, at chance
    assert result.details["input"] == "colour (RGB)"
    assert "histogram (HSV" in result.details["features"]


def test_the_cnn_says_it_saw_colour(colour_split: object) -> None:
    result = run_pipeline("cnn", colour_split, torch.device("cpu"), RunSettings(seed=0, epochs=1))
    assert result.details["input"] == "colour (RGB)"


def test_grey_data_keeps_its_features_and_says_grey(tmp_path: Path) -> None:
    split = load_folder(write_shapes_folder(tmp_path / "shapes"), test_fraction=0.25, seed=0)
    result = run_pipeline("hog-svm", split, torch.device("cpu"), RunSettings(seed=0))
    assert result.details["input"] == "grey"
    assert result.details["features"] == ("HOG at two cell sizes (batched in torch, equal to skimage) + intensity "
                                          "thumbnail, standardised")
    # 16x16: fine HOG of 2-pixel cells (7x7 blocks of 2x2 cells, 9 bins), coarse HOG of 4-pixel cells (3x3
    # blocks), a 16x16 thumbnail; nothing more
    assert result.details["feature_dimensions"] == 7 * 7 * 36 + 3 * 3 * 36 + 256


def test_colour_is_found_only_where_some_pixel_has_unequal_channels() -> None:
    grey = np.random.default_rng(0).integers(0, 256, (5, 8, 8, 1), dtype=np.uint8)
    as_rgb = np.repeat(grey, 3, axis=-1)
    assert not has_colour(grey) and not has_colour(as_rgb)
    assert (input_words(grey), input_words(as_rgb)) == ("grey", "grey (stored as RGB)")
    tinted = as_rgb.copy()
    tinted[4, 7, 7, 2] ^= 1  # one channel of one pixel of the last image
    assert has_colour(tinted) and has_colour(torch.from_numpy(tinted))
    assert input_words(tinted) == "colour (RGB)"


def test_images_equal_in_grey_but_not_in_hue_get_different_histograms() -> None:
    # a red and a green image of the same brightness (BT.601 luma 89)
    red, green = np.full((1, 8, 8, 3), (255, 22, 0), np.uint8), np.full((1, 8, 8, 3), (0, 151, 2), np.uint8)
    luma = np.array([0.299, 0.587, 0.114])
    assert round(float(red[0, 0, 0] @ luma)) == round(float(green[0, 0, 0] @ luma)) == 89
    histogram = ColourHistogram().fit(red)
    assert not np.allclose(histogram.transform(red), histogram.transform(green))


def test_the_histogram_holds_each_regions_shares_square_rooted() -> None:
    image = np.zeros((1, 4, 4, 3), np.uint8)
    image[0, :, :2] = (255, 0, 0)  # left half red, right half black
    features = ColourHistogram(space="hsv", bins=(2, 2, 1), grid=(1, 2)).fit(image).transform(image)
    whole, quarters = features[0, :4], features[0, 4:].reshape(4, 4)
    # bins (hue, saturation): red is hue bin 0, saturation bin 1; black is saturation 0
    np.testing.assert_allclose(whole, np.sqrt([0.5, 0.5, 0.0, 0.0]))
    np.testing.assert_allclose(quarters[0], [0, 1, 0, 0])  # top left: all red
    np.testing.assert_allclose(quarters[1], [1, 0, 0, 0])  # top right: all black


def test_the_report_shows_what_each_pipeline_saw() -> None:
    class Run:
        def __init__(self, name: str, details: dict[str, object]) -> None:
            self.name, self.details = name, details

    same = input_lines([Run("hog-svm", {"input": "colour (RGB)", "features": "HOG + hist"}),
                        Run("cnn", {"input": "colour (RGB)", "features": "learned"}),
                        Run("cnn", {"input": "colour (RGB)", "features": "learned"})])
    assert "| hog-svm | colour (RGB) | HOG + hist |" in same and "| cnn | colour (RGB) | learned |" in same
    assert sum(line.startswith("| cnn") for line in same) == 1
    assert same[-1] == "Every pipeline saw the same input: colour (RGB)."
    differ = input_lines([Run("hog-svm", {"input": "grey"}), Run("cnn", {"input": "colour (RGB)"})])
    assert differ[-1] == "The pipelines saw different inputs: hog-svm grey; cnn colour (RGB)."
    assert input_lines([Run("hog-svm", {"features": "HOG"})]) == []  # results of earlier versions
