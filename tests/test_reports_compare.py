"""The comparison report: runs on several devices, speed-ups, the table, the reading, figures and links."""

from __future__ import annotations

import dataclasses
import json
import re
from pathlib import Path
from typing import Any
from urllib.parse import unquote

import pytest
from matplotlib.figure import Figure
from typer.testing import CliRunner

from featvslearn.cli import app
from featvslearn.reports import compare
from featvslearn.reports.compare import (
    HEADERS,
    SPEED_UP_HEADERS,
    figures,
    markdown,
    reading,
    run_keys,
    run_labels,
    speed_up_cells,
    speed_ups,
    table,
    table_headers,
    table_rows,
)
from featvslearn.reports.shared import png_bytes
from featvslearn.results import CompareResults, PairedTest, StageResult, read_json, write_json
from tests.hand_made import compare_results

runner = CliRunner()
PNG_SIGNATURE = b"\x89PNG\r\n\x1a\n"


def invoke(*args: str) -> Any:
    return runner.invoke(app, list(args))


def image_links(markdown_text: str) -> list[str]:
    return [unquote(link) for link in re.findall(r"!\[[^\]]*\]\(([^)]+)\)", markdown_text)]


# --------------------------------------------------------------------------- figures
def test_every_figure_builds_from_hand_made_results() -> None:
    results = compare_results()
    drawn = figures(results)
    keys = run_keys(results)
    assert keys == ["hog-svm-on-cpu", "hog-svm-on-cuda-0", "cnn-on-cpu", "cnn-on-cuda-0"]
    assert set(drawn) == {"timeline", "per-class-accuracy"} | {f"confusion-{k}" for k in keys} | {
        f"misclassified-{k}" for k in keys}
    for figure in drawn.values():
        assert isinstance(figure, Figure)
    assert png_bytes(drawn["timeline"]).startswith(PNG_SIGNATURE)
    # no GPU readings: the panel says so instead of drawing an empty line
    titles = [ax.get_title(loc="left") for ax in drawn["timeline"].axes]
    assert titles == ["hog-svm on cpu — no GPU readings: CPU only", "hog-svm on cuda:0",
                      "cnn on cpu — no GPU readings: CPU only", "cnn on cuda:0"]
    assert [len(ax.get_lines()) for ax in drawn["timeline"].axes] == [1, 2, 1, 2]


def test_per_class_bars_are_left_out_above_their_class_limit(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(compare, "PER_CLASS_FIGURE_UP_TO", 2)
    assert "per-class-accuracy" not in figures(compare_results(("cpu",)))


# --------------------------------------------------------------------------- speed-ups and the table
def test_speed_up_arithmetic_and_column() -> None:
    results = compare_results()
    ups = speed_ups(results)
    assert ups[0] is None and ups[2] is None  # the first device is the baseline
    assert ups[1].train == pytest.approx(12.3) and ups[1].predict == pytest.approx(40.0)
    assert ups[1].baseline_device == "cpu"
    assert speed_up_cells(ups[1]) == ["12.3×", "40.0×"] and speed_up_cells(None) == ["1.0×", "1.0×"]
    assert SPEED_UP_HEADERS == ["train ×", "pred ×"] and table_headers(results)[-2:] == SPEED_UP_HEADERS
    assert [row[-2:] for row in table_rows(results)] == [["1.0×", "1.0×"], ["12.3×", "40.0×"]] * 2
    single = compare_results(("cpu",))
    assert speed_ups(single) == [None, None]
    assert table_headers(single) == HEADERS
    assert all(len(row) == len(HEADERS) for row in table_rows(single))
    text = markdown(results)
    assert "| train × | pred × |" in text and "| hog-svm | cuda:0 |" in text
    assert "| 12.3× | 40.0× |" in text and "The train × and pred × columns are the speed-up vs cpu" in text


def test_speed_ups_of_very_large_and_zero_times() -> None:
    results = compare_results()
    results.pipelines[1].train_seconds = 0.5
    results.pipelines[1].predict_seconds = 0.0
    assert speed_up_cells(speed_ups(results)[1]) == ["246×", "–"]


def test_table_content_marks_the_best_accuracy_only_among_several() -> None:
    results = compare_results()
    content = table(results)
    assert content.headers == table_headers(results) and content.rows == table_rows(results)
    assert content.text_columns == 2
    assert content.caption == "train × and pred ×: speed-up vs cpu (the pipeline's seconds on cpu over the row's)"
    assert table(compare_results(("cpu",))).caption == ""
    assert content.title == "shapes: 90 train / 30 test images, 8×8×1, device cpu,cuda:0"
    assert content.best == {(2, 2), (3, 2)}  # both cnn runs reached 0.95
    assert all(content.rows[row][column] == "0.9500" for row, column in content.best)
    alone = dataclasses.replace(results, pipelines=results.pipelines[:1])
    assert table(alone).best == frozenset()


# --------------------------------------------------------------------------- reading
def _one_device(p_value: float | None, hog_seconds: float = 123.0) -> CompareResults:
    """hog-svm 90 % and cnn 95 % on 30 test images; a McNemar p-value unless None (a v1 file)."""
    results = compare_results(("cpu",))
    results.machine_busy = False
    results.pipelines[0].train_seconds = hog_seconds
    if p_value is not None:
        results.tests = [PairedTest(pipelines=["hog-svm", "cnn"], test="mcnemar-exact", p_value=p_value)]
    return results


def _pair(hog: float, cnn: float, p_value: float | None, hog_seconds: float = 123.0,
          hog_rate: float | None = None) -> CompareResults:
    """hog-svm and cnn on 30 test images with the accuracies given; cnn trained for 123 s and labels
    7.5 images/s; hog-svm's training seconds and rate as given (by default the same as cnn's)."""
    results = _one_device(p_value, hog_seconds)
    results.pipelines[0].accuracy, results.pipelines[1].accuracy = hog, cnn
    if hog_rate is not None:
        results.pipelines[0].images_per_second = hog_rate
    return results


def test_reading_of_a_win_says_by_how_many_fewer_mistakes() -> None:
    text = reading(_pair(0.9, 0.95, 0.01))
    assert text.startswith("**cnn beat** hog-svm: 95.0 % against 90.0 % on 30 test images (McNemar p = 0.01), 50% "
                           "fewer mistakes. ")
    assert "equally" not in text and "No significant" not in text
    perfect = reading(_pair(0.9, 1.0, 0.01))
    assert perfect.startswith("**cnn beat** hog-svm: 100.0 % against 90.0 % on 30 test images (McNemar p = 0.01), "
                              "without a single mistake. ")


def test_reading_of_a_loss_names_the_winner_first() -> None:
    text = reading(_pair(0.95, 0.9, 0.01))
    assert text.startswith("**hog-svm beat** cnn: 95.0 % against 90.0 % on 30 test images (McNemar p = 0.01), 50% "
                           "fewer mistakes. ")
    assert "**cnn beat**" not in text


def test_reading_of_a_tie_says_equally_accurate_and_claims_no_gain() -> None:
    text = reading(_pair(1.0, 1.0, 1.0, hog_seconds=12.3))
    assert text.startswith("hog-svm and cnn are equally accurate: 100.0 % each on 30 test images (McNemar p = 1.00). "
                           "hog-svm trained 10.0× faster (12.3 s against 123.0 s), for the same accuracy. ")
    for claim in ("beat", "higher accuracy", "cost", " gain", "more accurate", "No significant"):
        assert claim not in text
    # equal accuracies with a significant p-value cannot come from one test; the reading still says level
    assert reading(_pair(0.9, 0.9, 0.01)).startswith("hog-svm and cnn are equally accurate: 90.0 % each")
    # a version-1 file: no test, but equal is equal
    assert reading(_pair(0.9, 0.9, None)).startswith("hog-svm and cnn are equally accurate: 90.0 % each on 30 test "
                                                     "images. ")
    three = _pair(0.9, 0.9, 1.0)
    three.pipelines.append(dataclasses.replace(three.pipelines[0], name="sift-svm"))
    assert reading(three).startswith("hog-svm, cnn and sift-svm are equally accurate: 90.0 % each on 30 test images. ")


def test_reading_of_no_significant_difference_keeps_the_mcnemar_wording() -> None:
    text = reading(_pair(0.9, 0.95, 0.3, hog_seconds=12.3))
    assert text.startswith("No significant difference between cnn and hog-svm on 30 test images (95.0 % against "
                           "90.0 %, McNemar p = 0.30). hog-svm trained 10.0× faster (12.3 s against 123.0 s), with no "
                           "significant difference in accuracy. ")
    assert "beat" not in text and "cost" not in text and "won" not in text
    assert "beat" not in reading(_pair(0.9, 0.95, 0.05))  # p = 0.05 is not below the level
    assert reading(_pair(0.9, 0.95, None)).startswith(
        "cnn 95.0% and hog-svm 90.0% on 30 test images (this results file has no per-image results, so no "
        "significance test). cnn and hog-svm trained in about the same time"
    )
    assert reading(dataclasses.replace(_pair(0.9, 0.95, 0.3), pipelines=[])) == "No pipeline was run."


def test_reading_names_the_loser_as_the_loser_whatever_the_order() -> None:
    results = _one_device(0.001)
    results.pipelines.reverse()
    results.tests[0].pipelines.reverse()
    assert reading(results).startswith("**cnn beat** hog-svm")


def test_reading_speaks_of_a_cost_only_after_a_real_win() -> None:
    faster_hog = reading(_pair(0.9, 0.95, 0.01, hog_seconds=12.3))
    assert "hog-svm trained 10.0× faster (12.3 s against 123.0 s), so cnn's higher accuracy cost training time." \
        in faster_hog
    faster_cnn = reading(_pair(0.9, 0.95, 0.01, hog_seconds=1230.0))
    assert "cnn trained 10.0× faster (123.0 s against 1230.0 s), and was the more accurate too." in faster_cnn
    untested = reading(_pair(0.9, 0.95, None, hog_seconds=12.3))
    assert "hog-svm trained 10.0× faster (12.3 s against 123.0 s). " in untested and "cost" not in untested


def test_reading_says_about_the_same_time_within_ten_percent() -> None:
    same = reading(_pair(0.9, 0.95, 0.3, hog_seconds=115.0))  # cnn 123 s: 7 % longer
    assert "cnn and hog-svm trained in about the same time (123.0 s and 115.0 s)." in same
    assert "faster" not in same.split("At inference")[0] and "1.0×" not in same and "1.1×" not in same
    won = reading(_pair(0.9, 0.95, 0.01, hog_seconds=130.0))
    assert "cnn and hog-svm trained in about the same time (123.0 s and 130.0 s), so cnn's higher accuracy cost no " \
           "extra training time." in won
    just_over = reading(_pair(0.9, 0.95, 0.3, hog_seconds=111.0))  # 123 / 111 = 1.108
    assert "hog-svm trained 1.1× faster (111.0 s against 123.0 s)" in just_over
    zero = reading(_pair(0.9, 0.95, 0.3, hog_seconds=0.0))
    assert "cnn trained in 123.0 s and hog-svm in 0.00 s." in zero and "×" not in zero.split("At inference")[0]


def test_reading_says_about_as_fast_for_near_equal_inference_rates() -> None:
    equal = reading(_pair(0.9, 0.95, 0.3))
    assert "At inference cnn is about as fast as hog-svm: 8 against 8 images/s from raw pixels." in equal
    near = reading(_pair(0.9, 0.95, 0.3, hog_rate=7.0))  # 7.5 / 7.0 = 1.07
    assert "At inference cnn is about as fast as hog-svm: 8 against 7 images/s from raw pixels." in near
    assert "1.0×" not in near and "the rate of" not in near
    digits = _pair(0.9, 0.95, 0.3)
    digits.pipelines[0].images_per_second, digits.pipelines[1].images_per_second = 44_666.0, 44_000.0
    assert "At inference hog-svm is about as fast as cnn: 44,666 against 44,000 images/s" in reading(digits)
    faster = reading(_pair(0.9, 0.95, 0.3, hog_rate=11.25))
    assert "At inference hog-svm is 1.5× as fast as cnn: 11 against 8 images/s from raw pixels." in faster
    unknown = _pair(0.9, 0.95, 0.3)
    unknown.pipelines[0].images_per_second = None
    assert "At inference" not in reading(unknown)


def test_reading_names_the_biggest_speed_up_and_gpu_use() -> None:
    text = reading(compare_results())
    assert text.startswith("On cpu: cnn 95.0% and hog-svm 90.0%")
    assert "The biggest speed-up over cpu: inference of hog-svm on cuda:0, 40.0× (300 against 8 images/s)." in text
    assert "Mean GPU kernel-active time: hog-svm on cuda:0 15%, cnn on cuda:0 95%." in text
    slower = compare_results()
    for p in slower.pipelines[1::2]:
        p.train_seconds, p.predict_seconds, p.images_per_second = 500.0, 8.0, 3.75
    assert ("Every run was slower than on cpu; the closest was inference of hog-svm on cuda:0, 2.0× slower (4 against "
            "8 images/s).") in reading(slower)
    level = compare_results()
    for p in level.pipelines[1::2]:
        p.train_seconds, p.predict_seconds, p.images_per_second = 120.0, 4.0, 7.5
    text = reading(level)
    assert ("No run was clearly faster than on cpu: the best, training of hog-svm on cuda:0, was about as fast "
            "(123.0 s against 120.0 s).") in text
    assert "1.0×" not in text


def test_warnings_name_the_busy_runs_and_a_small_test_set() -> None:
    results = _one_device(0.3)
    assert compare.warnings(results) == []
    results.machine_busy = None  # a version-1 file: nobody checked
    assert compare.warnings(results) == [
        "these timings were measured without the busy-machine check (a results file from before schema version 2), "
        "so whether other processes slowed them is unknown; the accuracies do not depend on it"
    ]
    results.machine_busy = True
    results.pipelines[1].stages = [StageResult("warm-up (small slice)", "cpu", 1.0, other_load_percent=90.0),
                                   StageResult("train", "cpu", 5.0, other_load_percent=40.0)]
    assert compare.warnings(results) == [
        "timings measured on a busy machine: other processes used up to 40 % of the CPU during cnn; re-run on a "
        "quiet machine before quoting times"
    ]
    small = _one_device(0.3)
    for p in small.pipelines:
        p.confusion_matrix = [[3, 0, 0], [0, 3, 0], [0, 1, 2]]
    small.dataset.test_size = 9
    assert compare.warnings(small) == [
        "only 3 test images in the smallest class (9 in all): accuracies move in steps of 11.1 points (one test "
        "image), that class's accuracy in steps of 33 points; differences between pipelines are not reliable; use at "
        "least 10 test images per class"
    ]
    assert "> **Warning:** only 3 test images in the smallest class" in compare.markdown(small)
    # the smallest class decides, not the mean: 30 test images, but one class has 9
    uneven = _one_device(0.3)
    for p in uneven.pipelines:
        p.confusion_matrix = [[11, 0, 0], [0, 10, 0], [0, 1, 8]]
    assert compare.warnings(uneven)[0].startswith("only 9 test images in the smallest class (30 in all): accuracies "
                                                  "move in steps of 3.3 points")
    # without a confusion matrix (an old file) the mean per class decides
    for p in uneven.pipelines:
        p.confusion_matrix = []
    assert compare.warnings(uneven) == []
    uneven.dataset.test_size = 12
    assert compare.warnings(uneven)[0].startswith("only about 4.0 test images per class (12 in all, 3 classes)")


def test_labels_tell_repeated_devices_apart() -> None:
    results = compare_results(("cpu", "cpu"))
    results.pipelines = [dataclasses.replace(p, device="cpu") for p in results.pipelines]
    assert run_labels(results) == ["hog-svm on cpu", "hog-svm on cpu #2", "cnn on cpu", "cnn on cpu #2"]
    assert run_keys(results)[1] == "hog-svm-on-cpu-2"
    assert len(set(figures(results))) == 10


# --------------------------------------------------------------------------- Markdown and files
def test_markdown_shows_only_the_figures_linked() -> None:
    results = compare_results(("cpu",))
    assert "![" not in markdown(results)
    text = markdown(results, {"confusion-cnn": "plots/confusion-cnn.png"})
    assert image_links(text) == ["plots/confusion-cnn.png"]
    assert "## Confusion matrices" in text and "## Misclassified test images" not in text


def test_markdown_links_resolve_and_report_rerenders_the_same_bytes(tmp_path: Path) -> None:
    path = tmp_path / "two devices.json"  # a space and a second device
    write_json(compare_results(), path)
    first, again = tmp_path / "a" / "my report.md", tmp_path / "b" / "my report.md"
    for out in (first, again):
        out.parent.mkdir()
        result = invoke("report", str(path), "--out", str(out))
        assert result.exit_code == 0, result.output
        assert "speed-up vs cpu" in result.stdout
    text = first.read_text()
    assert text == again.read_text()
    links = image_links(text)
    assert len(links) == 10 and all(link.startswith("my report-plots/") for link in links)
    for link in links:
        assert (first.parent / link).is_file() and (again.parent / link).is_file()
        assert (first.parent / link).read_bytes() == (again.parent / link).read_bytes()
    assert sorted(p.name for p in (first.parent / "my report-plots").iterdir()) == sorted(
        Path(link).name for link in links)
    for heading in ("### Utilisation over time", "## Per-class accuracy", "## Confusion matrices",
                    "## Misclassified test images"):
        assert heading in text


def test_old_results_without_the_new_fields_still_render(tmp_path: Path) -> None:
    data = compare_results(("cpu",)).to_dict()
    for p in data["pipelines"]:
        del p["misclassified"], p["timeline"]
    old = tmp_path / "old.json"
    old.write_text(json.dumps(data, indent=2))
    loaded = read_json(old)
    assert loaded.pipelines[0].misclassified == [] and loaded.pipelines[0].timeline is None
    assert set(figures(loaded)) == {"per-class-accuracy", "confusion-hog-svm", "confusion-cnn"}
    assert invoke("report", str(old), "--out", str(tmp_path / "old.md")).exit_code == 0
    text = (tmp_path / "old.md").read_text()
    assert "Misclassified" not in text and "Utilisation over time" not in text
    assert all((tmp_path / link).is_file() for link in image_links(text))
    # older still: no per-class figures either, so no plots folder at all
    for p in data["pipelines"]:
        del p["per_class_accuracy"], p["confusion_matrix"]
    old.write_text(json.dumps(data))
    assert invoke("report", str(old), "--out", str(tmp_path / "older.md")).exit_code == 0
    assert "![" not in (tmp_path / "older.md").read_text()
    assert not (tmp_path / "older-plots").exists()


def test_each_pipeline_section_says_what_the_registry_says_and_the_options_it_read() -> None:
    results = _one_device(0.3)
    results.settings.update(svm="rbf", tune=False, precision="bf16", epochs=None, preset="best")
    text = compare.markdown(results)
    assert ("- pipeline: HOG features (two cell sizes) + intensity thumbnail (+ a colour histogram on colour data), "
            "standardised, then an SVM") in text
    assert "- options it reads: --svm rbf, --tune no, --precision bf16" in text
    assert "- options it reads: --epochs default, --preset best, --precision bf16" in text


def test_gpu_columns_are_named_for_what_nvml_measures() -> None:
    results = compare_results()
    text = compare.markdown(results)
    assert "GPU util is NVML's kernel-active %: the share of time at least one kernel was running on the GPU (any " \
           "process); not how much of the GPU's compute it used." in text
    assert "NVML gave no per-process figures here, so this process's own share is not known." in text
    results.pipelines[1].gpu_process_util_percent_mean = 12.0
    results.pipelines[1].gpu_notes = ["NVML unavailable: no driver"]
    text = compare.markdown(results)
    assert "This process's own kernel-active time: hog-svm on cuda:0 12%." in text
    assert "Missing GPU figures, hog-svm on cuda:0: NVML unavailable: no driver." in text
    assert "GPU util is NVML" not in compare.markdown(compare_results(("cpu",)))


def _three(p_raw: dict[tuple[str, str], float]) -> CompareResults:
    """hog-svm 90 %, cnn 95 % and a third pipeline (sift-svm 80 %) with the pairwise p-values given."""
    from featvslearn.stats import holm

    results = _pair(0.9, 0.95, None)
    third = dataclasses.replace(results.pipelines[0], name="sift-svm", accuracy=0.8)
    results.pipelines.append(third)
    pairs = list(p_raw)
    adjusted = holm([p_raw[pair] for pair in pairs])
    results.tests = [PairedTest(pipelines=list(pair), test="mcnemar-exact", p_value=p_raw[pair], p_value_holm=adj)
                     for pair, adj in zip(pairs, adjusted, strict=True)]
    for p in results.pipelines:
        p.accuracy_interval = (p.accuracy - 0.05, min(1.0, p.accuracy + 0.05))
    return results


def test_with_several_pairs_the_reading_uses_holm_adjusted_p_values_and_says_so() -> None:
    # raw 0.03 between the two best would count; Holm over three pairs (the second smallest: times 2) makes it
    # 0.06, which does not
    results = _three({("hog-svm", "cnn"): 0.03, ("hog-svm", "sift-svm"): 0.3, ("cnn", "sift-svm"): 0.001})
    text = reading(results)
    assert text.startswith("No significant difference between cnn and hog-svm on 30 test images (95.0 % against "
                           "90.0 %, McNemar p = 0.06). The p-values are Holm-adjusted over the 3 pairs of pipelines "
                           "tested, so that together they keep the chance of any false difference below 0.05.")
    lines = compare.uncertainty_lines(results)[0]
    assert "a difference counts when the Holm-adjusted p-value < 0.05" in lines
    assert "hog-svm vs cnn p = 0.03 (Holm-adjusted = 0.06)" in lines
    # a difference that survives the adjustment is still called one
    strong = reading(_three({("hog-svm", "cnn"): 0.001, ("hog-svm", "sift-svm"): 0.2, ("cnn", "sift-svm"): 0.001}))
    assert strong.startswith("**cnn beat** hog-svm: 95.0 % against 90.0 % on 30 test images (McNemar p = 0.003)")
    # one pair: nothing to adjust, and nothing said about it
    assert "Holm" not in reading(_pair(0.9, 0.95, 0.01))


def test_on_a_busy_machine_the_reading_compares_no_times_and_says_why() -> None:
    quiet = _pair(0.9, 0.95, 0.01, hog_seconds=10.0)
    assert "trained" in reading(quiet) and "Timings are not compared" not in reading(quiet)
    slow = _pair(0.9, 0.95, 0.01, hog_seconds=10.0)
    slow.slowdown = 4.2
    text = reading(slow)
    assert " trained " not in text.split("Timings are not compared")[0] and "At inference" not in text
    assert "faster (" not in text
    # slow with no other process seen on the CPU (a virtual machine's drift): not called busy, and said so
    assert slow.machine_busy is False
    assert ("Timings are not compared here: this machine ran slower than when quiet (a calibration kernel ran 4.2× "
            "slower than on this machine when quiet, so every timing here is likely about that much too long and by "
            "uneven amounts, though other processes did not load its CPU), so which pipeline trained or predicted "
            "faster cannot be read from this run; re-run on a quiet machine to compare times.") in text
    slow.machine_busy = True  # slow and loaded by other processes: busy
    assert "Timings are not compared here: the machine was busy (a calibration kernel ran 4.2×" in reading(slow)
    assert compare.warnings(slow) == [
        "timings about 4.2× slower than on this machine when quiet: a fixed calibration kernel, timed at the start "
        "and after each pipeline, took at least that many times its quickest time here; re-run on a quiet machine "
        "before quoting times"]
    loaded = _pair(0.9, 0.95, 0.01, hog_seconds=10.0)
    loaded.machine_busy = True
    assert "(other processes loaded the CPU during the timed stages)" in reading(loaded)
    barely = _pair(0.9, 0.95, 0.01, hog_seconds=10.0)
    barely.slowdown = 1.2  # within what a quiet machine varies by: times are compared
    assert "trained" in reading(barely) and compare.warnings(barely) == []
