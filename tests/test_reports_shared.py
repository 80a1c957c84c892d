"""What every report shares: number formats, Markdown tables, image links, and writing the files."""

from __future__ import annotations

import dataclasses
import re
from pathlib import Path
from typing import Any
from urllib.parse import unquote

import pytest

from featvslearn.reports import ablate, compare, scaling, shared, write_markdown
from featvslearn.reports.compare import figures
from featvslearn.reports.shared import (
    epoch_summary,
    fmt_bytes,
    fmt_key,
    fmt_mean_max,
    fmt_mean_std,
    fmt_names,
    fmt_percent,
    fmt_rate,
    fmt_seconds,
    fmt_speed_up,
    fmt_value,
    image,
    image_lines,
    md_table,
    png_bytes,
    sizing_sentence,
    small_test_set_warning,
    write_report,
)
from featvslearn.results import ImageSizing
from tests.hand_made import ablate_results, compare_results, scaling_results, shapes_dataset


def test_number_formats() -> None:
    assert [fmt_bytes(None), fmt_bytes(5 * 1024**2), fmt_bytes(3 * 1024**3)] == ["–", "5 MiB", "3.00 GiB"]
    assert [fmt_percent(None), fmt_percent(42.4)] == ["–", "42%"]
    assert [fmt_mean_max(None, None), fmt_mean_max(12.3, 99.6)] == ["–", "12% / 100%"]
    assert [fmt_seconds(1.234), fmt_seconds(12.34)] == ["1.23", "12.3"]
    assert fmt_rate(12345.6) == "12,346"
    assert [fmt_speed_up(None), fmt_speed_up(12.34), fmt_speed_up(1234.5)] == ["–", "12.3×", "1,234×"]
    assert [fmt_mean_std(0.9, 0.01, 1), fmt_mean_std(0.9, 0.01, 3, digits=2)] == ["0.9000", "0.90 ± 0.01"]


def test_markdown_tables_align_numbers_right_and_escape_pipes() -> None:
    assert md_table(["name", "kind", "value"], [["a|b", "x", "1"]], text_columns=2) == [
        "| name | kind | value |", "| --- | --- | ---: |", "| a\\|b | x | 1 |"]


def test_image_links_are_percent_encoded_and_alt_text_has_no_brackets() -> None:
    line = image("run [1]: confusion matrix", "my report #2-plots/confusion.png")
    assert line == "![run (1): confusion matrix](my%20report%20%232-plots/confusion.png)"
    assert unquote(line.split("](")[1][:-1]) == "my report #2-plots/confusion.png"
    assert image_lines({"a": "p/a.png"}, "a", "alt") == ["![alt](p/a.png)", ""]
    assert image_lines({}, "a", "alt") == []


def test_same_figure_gives_the_same_png_bytes() -> None:
    results = compare_results()
    first = png_bytes(figures(results)["confusion-cnn-on-cpu"])
    assert first.startswith(b"\x89PNG\r\n\x1a\n")
    assert png_bytes(figures(results)["confusion-cnn-on-cpu"]) == first


def test_a_report_without_figures_makes_no_plots_folder(tmp_path: Path) -> None:
    write_report(tmp_path / "r.md", {}, lambda links: f"links: {links}")
    assert (tmp_path / "r.md").read_text() == "links: {}"
    assert list(tmp_path.iterdir()) == [tmp_path / "r.md"]


def test_an_interrupted_report_leaves_no_plots_folder(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    def interrupted(*args: object) -> None:
        raise KeyboardInterrupt

    monkeypatch.setattr(shared, "atomic_write_text", interrupted)
    with pytest.raises(KeyboardInterrupt):
        write_markdown(compare_results(("cpu",)), tmp_path / "r.md")
    assert list(tmp_path.iterdir()) == []
    monkeypatch.setattr(shared, "png_bytes", interrupted)
    with pytest.raises(KeyboardInterrupt):
        write_markdown(compare_results(("cpu",)), tmp_path / "r.md")
    assert list(tmp_path.iterdir()) == []


def test_an_interrupted_report_keeps_a_plots_folder_that_was_there(tmp_path: Path,
                                                                    monkeypatch: pytest.MonkeyPatch) -> None:
    (tmp_path / "r-plots").mkdir()
    (tmp_path / "r-plots" / "mine.txt").write_text("kept")

    def interrupted(*args: object) -> None:
        raise KeyboardInterrupt

    monkeypatch.setattr(shared, "atomic_write_text", interrupted)
    with pytest.raises(KeyboardInterrupt):
        write_markdown(compare_results(("cpu",)), tmp_path / "r.md")
    assert (tmp_path / "r-plots" / "mine.txt").read_text() == "kept" and not (tmp_path / "r.md").exists()


# --------------------------------------------------------------------------- values for people
def test_values_are_written_for_people() -> None:
    assert [fmt_value(None), fmt_value(True), fmt_value(False), fmt_value(float("nan"))] == ["–", "yes", "no", "–"]
    assert fmt_value(25_276_514_304, "memory_total_bytes") == "23.54 GiB"
    assert [fmt_value(9962), fmt_value(91002, "cudnn_version"), fmt_value("13.0", "cuda_version")] == [
        "9,962", "91002", "13.0"]
    assert [fmt_value(0.065625), fmt_value(707.52), fmt_value(12345.6)] == ["0.06563", "707.5", "12,346"]
    assert fmt_value({"epochs": 40, "batch_size": 84, "ema_decay": None, "hflip": False, "widths": [32, 64]}) == \
        "epochs 40; batch size 84; hflip no; widths 32, 64"
    assert [fmt_value([]), fmt_value({}), fmt_value({"a": None})] == ["–", "–", "–"]
    assert [fmt_key("memory_total_bytes"), fmt_key("cpu_cores_logical"), fmt_key("gpu")] == [
        "memory total", "cpu cores logical", "gpu"]
    assert fmt_names(["a"]) == "a" and fmt_names(["a", "b"]) == "a and b" and fmt_names(["a", "b", "c"]) == "a, b and c"


def test_environment_section_has_words_and_units_not_python() -> None:
    lines = shared.environment_lines({"cpu_cores_logical": 2, "memory_total_bytes": 25_276_514_304,
                                      "cuda_available": False, "gpu": None, "nvml": True})
    assert lines[4:9] == ["| cpu cores logical | 2 |", "| memory total | 23.54 GiB |", "| cuda available | no |",
                          "| gpu | – |", "| nvml | yes |"]


def test_epoch_summary_gives_first_last_lowest_and_time() -> None:
    losses = [2.36, 1.5, 0.6, 0.55, 0.57]
    assert epoch_summary(losses, [2.0] * 5) == ("5 epochs in 10.0 s (2.00 s each on average); training loss 2.360 "
                                                "after epoch 1, 0.570 after epoch 5, lowest 0.550 after epoch 4")
    assert epoch_summary([2.0, 1.0], [1.0, 1.5]) == ("2 epochs in 2.5 s (1.25 s each on average); training loss "
                                                     "2.000 after epoch 1, 1.000 after epoch 2 (its lowest)")
    assert epoch_summary([1.1, None, None], [1.0, 1.0, 1.0]) == (
        "3 epochs in 3.0 s (1.00 s each on average); training loss 1.100 after epoch 1, lowest 1.100 after epoch 1; "
        "it stopped being a number at epoch 2")
    assert epoch_summary([0.5], [3.0]) == "1 epoch in 3.0 s; training loss 0.500"
    assert epoch_summary([None], []) == "1 epoch; the training loss was never a number"
    assert epoch_summary([], []) == "no epochs recorded"


# --------------------------------------------------------------------------- warnings about the images
def test_small_test_set_warning_from_the_smallest_class_or_the_mean() -> None:
    d = shapes_dataset(test_size=30)
    assert small_test_set_warning(d, 10) is None and small_test_set_warning(d, None) is None
    assert small_test_set_warning(d, 4, "variants") == (
        "only 4 test images in the smallest class (30 in all): accuracies move in steps of 3.3 points (one test "
        "image), that class's accuracy in steps of 25 points; differences between variants are not reliable; use at "
        "least 10 test images per class")
    assert small_test_set_warning(d, 1).startswith("only 1 test image in the smallest class (30 in all)")
    assert small_test_set_warning(d, 0).startswith("a class has no test images at all (30 in all)")
    tiny = shapes_dataset(test_size=6)
    assert small_test_set_warning(tiny, None) == (
        "only about 2.0 test images per class (6 in all, 3 classes): accuracies move in steps of 16.7 points (one "
        "test image), per-class accuracies in steps of about 50 points; differences between pipelines are not "
        "reliable; use at least 10 test images per class")


def _sizing(**changes: Any) -> ImageSizing:
    base = {"height": 32, "width": 32, "method": "pad", "images": 300, "resized": 290, "fitted": 120,
            "distinct_sizes": 37, "min_height": 16, "max_height": 480, "min_width": 20, "max_width": 640}
    return ImageSizing(**{**base, **changes})


def test_sizing_is_said_in_words_and_warned_of_when_sizes_differ() -> None:
    padded = _sizing(rule="square, the median of the files' sides (√(H×W), 70 px) clipped to 16–64", fill=[120, 90, 80])
    assert sizing_sentence(padded) == (
        "the 300 images came in 37 sizes, heights 16–480 and widths 20–640 pixels; every image was brought to 32×32 "
        "(H×W), square, the median of the files' sides (√(H×W), 70 px) clipped to 16–64: 120 of another aspect "
        "ratio were scaled to fit inside it and centred on bands of one colour, the mean colour of all the images "
        "(120, 90, 80) (nothing stretched or cut off), and 290 were resized (bilinear)")
    assert "cropped to that aspect ratio around their centre" in sizing_sentence(_sizing(method="crop"))
    assert "stretched to that aspect ratio (squashed" in sizing_sentence(_sizing(method="squash"))
    same = _sizing(method="none", resized=0, fitted=0, distinct_sizes=1, min_height=32, max_height=32, min_width=32,
                   max_width=32)
    assert sizing_sentence(same) == "all 300 images were 32×32 (H×W), so none was resized"
    scaled = _sizing(method="scale", height=64, width=64, resized=300, fitted=0, distinct_sizes=1, min_height=128,
                     max_height=128, min_width=128, max_width=128)
    assert sizing_sentence(scaled) == ("all 300 images were 128×128, all of one aspect ratio; 300 were scaled to "
                                       "64×64 (H×W) (bilinear)")
    d = shapes_dataset()
    assert shared.sizing_warning(d) is None
    d.sizing = same
    assert shared.sizing_warning(d) is None and "- image sizes: all 300 images were 32×32" in "\n".join(
        shared.dataset_lines(d, {}))
    d.sizing = scaled
    assert shared.sizing_warning(d) is None
    d.sizing = padded
    advice = "; choose with --image-size N and --fit pad|crop|squash"
    assert shared.sizing_warning(d) == "mixed image sizes: " + sizing_sentence(padded) + advice
    assert shared.dataset_warnings(d, 3)[1] == "mixed image sizes: " + sizing_sentence(padded) + advice


def test_the_report_says_where_the_split_came_from() -> None:
    d = shapes_dataset()
    assert not any(line.startswith("- split:") for line in shared.dataset_lines(d, {}))  # a file from before
    d.split = "train/ and test/ used as given (270 and 90 images)"
    assert "- split: train/ and test/ used as given (270 and 90 images)" in shared.dataset_lines(d, {})


# --------------------------------------------------------------------------- no Python in any report
PYTHON_LEAKS = re.compile(r"\bNone\b|\bTrue\b|\bFalse\b|\b\d{8,}\b|\w=\w|\[\d+\]|\['|\{'")
"""What Python's own str() leaves in text: None, booleans, raw byte counts, key=value, [32], ['a'], {'a': 1}."""


def _realistic(results: Any) -> Any:
    """``results`` with the environment, settings and training details a real run records."""
    results.environment = {"featvslearn": "0.1.0", "cpu_cores_logical": 16, "memory_total_bytes": 25_276_514_304,
                           "cuda_available": False, "cuda_version": None, "gpu": None, "gpu_driver": None,
                           "gpu_memory_total_bytes": 150_000_000_000, "nvml": False}
    return results


def test_rendered_reports_hold_no_python_values_and_summarise_long_training() -> None:
    compared = _realistic(compare_results(("cpu",)))
    losses = [2.4 - 0.04 * i for i in range(40)]
    compared.pipelines[1].details = {
        "training": {"epochs": 40, "batch_size": 84, "lr": 0.065625, "hflip": False, "ema_decay": None,
                     "whiten": True, "widths": [32, 64]},
        "parameters": 9962, "precision": None, "loss_per_epoch": losses, "seconds_per_epoch": [1.9] * 40}
    compared.settings.update(svm="linear", tune=False, epochs=None, preset="standard", precision="auto")
    text = compare.markdown(compared)
    assert not PYTHON_LEAKS.search(text), PYTHON_LEAKS.search(text)
    assert "| memory total | 23.54 GiB |" in text and "| cuda available | no |" in text and "| gpu | – |" in text
    assert ("- training: epochs 40; batch size 84; lr 0.06563; horizontal flips no; patch-whitened first layer yes; "
            "widths 32, 64") in text
    assert "ema decay" not in text and "loss per epoch" not in text and "seconds per epoch" not in text
    assert ("- training progress: 40 epochs in 76.0 s (1.90 s each on average); training loss 2.400 after epoch 1, "
            "0.840 after epoch 40 (its lowest)") in text

    ablated = _realistic(ablate_results())
    ablated.variants = [dataclasses.replace(v, loss_per_epoch=losses, seconds_per_epoch=[1.9] * 40)
                        for v in ablated.variants]
    text = ablate.markdown(ablated, {"loss-curves": "p/loss-curves.png"})
    assert not PYTHON_LEAKS.search(text), PYTHON_LEAKS.search(text)
    assert "| variant | epochs | first epoch | last epoch | lowest | seconds |" in text
    assert "| relu-bn | 40 | 2.400 | 0.840 | 0.840 (epoch 40) | 76.0 |" in text
    assert "the training loss plot above shows every epoch" in text and "| 40 |" not in text.split("## Variants")[0]

    scaled = _realistic(scaling_results())
    scaled.settings.update(preset=None, svm=None, cnn_precision=True)
    text = scaling.markdown(scaled)
    assert not PYTHON_LEAKS.search(text), PYTHON_LEAKS.search(text)
    assert "preset" not in text.split("## Settings", 1)[1] and "- precision: auto (the CNN's: yes)" in text


def test_the_busy_machine_warning_names_a_few_runs_and_counts_the_rest() -> None:
    from featvslearn.reports.shared import busy_machine_warning

    few = busy_machine_warning([("hog-svm", 40.0), ("cnn", 67.0)])
    assert "up to 67 %" in few and "during hog-svm, cnn;" in few
    runs = [(f"cnn at {size} images (seed {seed})", 30.0) for size in (100, 300, 1000) for seed in (0, 1, 2)]
    many = busy_machine_warning(runs)
    assert "cnn at 100 images (seed 0), cnn at 100 images (seed 1), cnn at 100 images (seed 2) and 6 more runs" in many
    assert "cnn at 1000 images (seed 2)" not in many


def test_the_stages_table_has_a_gpu_column_only_when_a_stage_used_a_gpu() -> None:
    from featvslearn.reports.shared import stages_table
    from featvslearn.results import StageResult

    cpu_only = stages_table("pipeline", [("hog-svm", [StageResult("svm fit", "cpu", 1.5, cpu_util_percent_mean=90.0)])])
    assert "GPU" not in cpu_only[0] and cpu_only[2] == "| hog-svm | svm fit | cpu | 1.50 | 90% | – |"
    on_gpu = stages_table("pipeline", [("cnn", [StageResult("train", "cuda:0", 2.0, 80.0, 95.0)]),
                                       ("hog-svm", [StageResult("svm fit", "cpu", 1.5)])])
    assert "GPU util mean / max" in on_gpu[0]
    assert on_gpu[2].startswith("| cnn | train | cuda:0 | 2.00 | 80% / 95% |")
    assert on_gpu[3].startswith("| hog-svm | svm fit | cpu | 1.50 | – |")
