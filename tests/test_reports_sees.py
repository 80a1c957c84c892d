"""The report's section "What each side sees": its pictures from a real run, their files, and its text."""

from __future__ import annotations

import re
from pathlib import Path
from typing import Any

import numpy as np
import pytest
from PIL import Image
from skimage import draw
from skimage.feature import hog
from typer.testing import CliRunner

from featvslearn.classical.features import hog_settings_for
from featvslearn.cli import app
from featvslearn.experiments.compare import run_comparison
from featvslearn.experiments.config import CompareConfig
from featvslearn.reports import write_markdown
from featvslearn.results import CompareResults, read_json

runner = CliRunner()
SEES_FILES = ("sees-samples.png", "sees-hand-engineered.png", "sees-cnn-filters.png", "sees-cnn-maps.png")


def compare(tmp_path: Path, *args: str) -> tuple[Any, Path]:
    """``featvslearn compare ... --report tmp/out.md --json tmp/out.json`` on the CPU; (result, report path)."""
    report = tmp_path / "out.md"
    result = runner.invoke(app, ["compare", *args, "--device", "cpu", "--epochs", "1", "--seed", "0",
                                 "--report", str(report), "--json", str(tmp_path / "out.json")])
    assert result.exit_code == 0, result.output
    return result, report


def section(markdown: str) -> str:
    """The text of the section "What each side sees", up to the next section."""
    match = re.search(r"^## What each side sees\n(.*?)(?=^## )", markdown, flags=re.S | re.M)
    assert match, "no section 'What each side sees'"
    return match.group(1)


def colour_spread(png: Path) -> int:
    """The largest difference between two colour channels of any pixel of a PNG (0 for grey)."""
    pixels = np.asarray(Image.open(png).convert("RGB")).astype(int)  # (H, W, 3)
    return int((pixels.max(axis=-1) - pixels.min(axis=-1)).max())


@pytest.fixture(scope="module")
def digits_run(tmp_path_factory: pytest.TempPathFactory) -> tuple[Any, Path]:
    return compare(tmp_path_factory.mktemp("digits"), "--dataset", "digits", "--pipelines", "hog-svm,cnn",
                   "--train-size", "300", "--test-size", "100")


def test_a_digits_report_shows_what_each_side_sees(digits_run: tuple[Any, Path]) -> None:
    result, report = digits_run
    text = section(report.read_text())
    for name in SEES_FILES:
        png = report.parent / "out-plots" / name
        assert f"(out-plots/{name})" in text
        with Image.open(png) as image:
            width, height = image.size
        assert png.stat().st_size > 5_000 and width >= 600 and height >= 300, (name, width, height)
    assert colour_spread(report.parent / "out-plots" / "sees-samples.png") == 0  # grey images stay grey
    assert "2 × 2-pixel cells" in text and "9 orientation bins" in text  # hog-svm's fine scale at 8x8
    assert "a square of 8 × 8 pixels, 4 × 4 cells around each dot, one every 1 pixel;" in text
    assert "conv 1) is fixed: 18 patch-whitening filters computed from the training images and 14 random ones" in text
    assert "first trained layer is conv 2" in text
    lines = [line for line in result.output.splitlines() if line.startswith("what each side sees: ")]
    assert len(lines) == 1 and lines[0].endswith("sees-samples.png, sees-hand-engineered.png, "
                                                 "sees-cnn-filters.png, sees-cnn-maps.png")


def test_a_report_from_a_results_file_says_the_run_draws_the_pictures(digits_run: tuple[Any, Path],
                                                                      tmp_path: Path) -> None:
    _, report = digits_run
    results = read_json(report.with_suffix(".json"))
    assert isinstance(results, CompareResults) and results.pictures is None
    again = tmp_path / "again.md"
    write_markdown(results, again)
    text = section(again.read_text())
    assert "drawn by the run itself, `featvslearn compare --report`" in text
    assert "sees-" not in text and not list((tmp_path / "again-plots").glob("sees-*"))


def render_skimage_lines(cells: np.ndarray, cell: int) -> np.ndarray:
    """skimage's HOG picture drawn from cell histograms (rows, cols, orientations) as skimage draws it."""
    radius = cell // 2 - 1
    mids = np.pi * (np.arange(cells.shape[2]) + 0.5) / cells.shape[2]
    picture = np.zeros((cells.shape[0] * cell, cells.shape[1] * cell))
    for r in range(cells.shape[0]):
        for c in range(cells.shape[1]):
            for o, angle in enumerate(mids):
                dr, dc = radius * np.sin(angle), radius * np.cos(angle)
                y, x = r * cell + cell // 2, c * cell + cell // 2
                rr, cc = draw.line(int(y - dc), int(x + dr), int(y + dc), int(x - dr))
                picture[rr, cc] += cells[r, c, o]
    return picture


@pytest.mark.parametrize("dataset", ["digits", "fashion-like"])
def test_the_hog_picture_is_skimages_at_hog_svms_settings(dataset: str) -> None:
    from featvslearn.datasets import Dataset, Split
    from featvslearn.experiments.sees import side_pictures

    if dataset == "digits":
        pictures = run_comparison(CompareConfig(dataset="digits", device="cpu", pipelines=("hog-svm",),
                                                train_size=200, test_size=60, seed=0).validated()).pictures
    else:  # 28x28 grey images, hog-svm's 4-pixel cells
        rng = np.random.default_rng(0)
        images = rng.integers(0, 256, (30, 28, 28, 1), dtype=np.uint8)
        labels = np.arange(30) % 3
        data = Dataset(name="noise", images=images, labels=labels, class_names=("a", "b", "c"), source="noise",
                       hflip_ok=False)
        pictures = side_pictures(Split(train=data, test=data), {}, ("hog-svm",))
    assert pictures is not None
    settings = hog_settings_for(pictures.test_images.shape[1:])
    assert pictures.hog.pixels_per_cell == settings.fine_pixels_per_cell
    for image, picture, cells in zip(pictures.test_images, pictures.hog.pictures, pictures.hog.cells, strict=True):
        _, expected = hog(image[..., 0], orientations=settings.orientations,
                          pixels_per_cell=(settings.fine_pixels_per_cell,) * 2,
                          cells_per_block=(settings.cells_per_block,) * 2, block_norm=settings.block_norm,
                          visualize=True)
        np.testing.assert_array_equal(picture, expected)
        # the figure's lines are skimage's picture: its cells drawn the skimage way give that picture back
        drawn = render_skimage_lines(cells, settings.fine_pixels_per_cell)
        np.testing.assert_allclose(drawn, expected[: drawn.shape[0], : drawn.shape[1]], rtol=1e-5, atol=1e-4)


def test_without_the_cnn_the_section_says_its_part_is_left_out(tmp_path: Path) -> None:
    result, report = compare(tmp_path, "--dataset", "digits", "--pipelines", "hog-svm", "--train-size", "200",
                             "--test-size", "60")
    text = section(report.read_text())
    assert "The CNN's part is left out: the cnn was not among this run's pipelines (--pipelines)." in text
    assert "sees-hand-engineered.png" in text and "sees-cnn" not in text
    assert sorted(p.name for p in (tmp_path / "out-plots").glob("sees-*")) == ["sees-hand-engineered.png",
                                                                              "sees-samples.png"]
    assert "sees-hand-engineered.png" in result.output and "sees-cnn" not in result.output


def write_colour_folder(root: Path, per_class: int = 9, size: int = 16) -> Path:
    """Three classes told apart by colour (red, green, blue squares on grey), under train/ and test/."""
    rng = np.random.default_rng(0)
    for index in range(per_class):
        for channel, name in enumerate(("red", "green", "blue")):
            image = np.full((size, size, 3), 90, dtype=np.uint8)
            x, y = rng.integers(0, size // 2, 2)
            image[y : y + size // 2, x : x + size // 2, channel] = 230
            folder = root / ("train" if index % 3 else "test") / name
            folder.mkdir(parents=True, exist_ok=True)
            Image.fromarray(image, mode="RGB").save(folder / f"{index:03d}.png")
    return root


def test_a_colour_folder_gives_colour_pictures(tmp_path: Path) -> None:
    folder = write_colour_folder(tmp_path / "colours")
    _, report = compare(tmp_path, "--dataset", str(folder), "--pipelines", "hog-svm,cnn")
    plots = tmp_path / "out-plots"
    for name in ("sees-samples.png", "sees-hand-engineered.png", "sees-cnn-maps.png", "sees-cnn-filters.png"):
        assert colour_spread(plots / name) > 100, name  # the images, and the fixed filters, in colour
    text = section(report.read_text())
    assert "patch-whitening filters computed from the training images, never trained" in text
