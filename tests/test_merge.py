"""Merging results files with ``featvslearn report A.json B.json ...``: compare results of several machines side
by side with speed-ups over a baseline row, partial scaling sweeps into one, and every refusal as one line."""

from __future__ import annotations

import copy
import dataclasses
import io
import json
from collections.abc import Callable
from pathlib import Path
from typing import Any

import pytest
from rich.console import Console
from typer.testing import CliRunner

from featvslearn.cli import app
from featvslearn.cli.tables import results_table
from featvslearn.errors import UserError
from featvslearn.experiments.merge import merge, merge_compare, merge_scaling
from featvslearn.experiments.scaling import crossovers
from featvslearn.reports import markdown, write_markdown
from featvslearn.reports.merged import figures, machine_name, reading, rows, table
from featvslearn.results import (
    CompareResults,
    DatasetInfo,
    MergedCompareResults,
    ScalingResults,
    json_schema_text,
    read_json,
    write_json,
)
from tests.hand_made import (
    LAPTOP,
    SERVER,
    ablate_results,
    compare_results,
    merged_compare_results,
    scaling_results,
)

runner = CliRunner()
CREATED = "2026-01-03T00:00:00+00:00"


@pytest.fixture(autouse=True)
def _in_tmp_path(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    """Every test runs in its own folder: a report without --out (merged.md) lands there, not in the checkout."""
    monkeypatch.chdir(tmp_path)


def invoke(*args: str | Path):
    return runner.invoke(app, [str(arg) for arg in args])


def error_line(result) -> str:
    """The one ``error:`` line of a refused command (exit code 2, nothing else on stderr, no traceback)."""
    assert result.exit_code == 2, result.output
    assert "Traceback" not in result.output
    lines = [line for line in result.stderr.splitlines() if line.strip()]
    assert len(lines) == 1 and lines[0].startswith("error: "), result.stderr
    return lines[0]


# --------------------------------------------------------------------------- hand-made inputs
def laptop() -> CompareResults:
    """hog-svm and cnn on a laptop's CPU: 123 s to train, 4 s to predict (rows 1-2 when it comes first)."""
    results = compare_results(("cpu",))
    results.environment = dict(LAPTOP)
    results.created = "2026-01-01T10:00:00+00:00"
    return results


def server() -> CompareResults:
    """hog-svm and cnn on a server's CPU (60 s to train, 4 s to predict) and its H100 (10 s, 0.1 s)."""
    results = compare_results(("cpu", "cuda:0"))
    results.environment = dict(SERVER)
    results.created = "2026-01-01T11:00:00+00:00"
    for p in results.pipelines:
        if p.device == "cpu":
            p.train_seconds = 60.0
    return results


def other_dataset() -> CompareResults:
    """Results on another dataset (same machine as the laptop): rows of their own group."""
    results = laptop()
    results.dataset = DatasetInfo(name="letters", train_size=60, test_size=30, image_shape=[8, 8, 1], num_classes=3,
                                  source="hand-made", class_names=["a", "b", "c"], load_seconds=0.1)
    results.created = "2026-01-01T12:00:00+00:00"
    return results


def write(tmp_path: Path, **files: Any) -> dict[str, Path]:
    """Write each results as ``<name>.json`` in ``tmp_path``; the paths by name."""
    paths = {}
    for name, results in files.items():
        paths[name] = tmp_path / f"{name}.json"
        write_json(results, paths[name])
    return paths


def sweep_part(full: ScalingResults, sizes: list[int] | None = None, seeds: list[int] | None = None) -> ScalingResults:
    """The runs of ``full`` at ``sizes`` and ``seeds`` (all by default), as a sweep of its own would hold them."""
    sizes = sizes or full.sizes
    seeds = seeds or full.seeds
    full = copy.deepcopy(full)  # runs of its own, to change without changing another part's
    part = dataclasses.replace(
        full, sizes=list(sizes), seeds=list(seeds), crossover={},
        pipelines={name: [r for r in runs if r.train_size in sizes and r.seed in seeds]
                   for name, runs in full.pipelines.items()},
        settings={**full.settings, "cnn_epochs_per_size": {str(s): e for s, e in
                                                           full.settings["cnn_epochs_per_size"].items()
                                                           if int(s) in sizes}})
    part.crossover = crossovers(part)
    return part


# --------------------------------------------------------------------------- compare: rows, machines, speed-ups
def test_rows_are_grouped_by_dataset_and_name_their_file_device_and_machine() -> None:
    merged = merge_compare([("laptop.json", laptop()), ("letters.json", other_dataset()),
                            ("server.json", server())], CREATED)
    content = table(merged)
    assert content.headers == ["#", "dataset", "file", "pipeline", "device", "machine", "accuracy", "train s",
                               "pred s", "img/s", "train ×", "pred ×"]
    assert [row[:6] for row in content.rows] == [
        ["1", "shapes", "laptop.json", "hog-svm", "cpu", "Intel Core i5-8250U, 4 cores"],
        ["2", "shapes", "laptop.json", "cnn", "cpu", "Intel Core i5-8250U, 4 cores"],
        ["3", "shapes", "server.json", "hog-svm", "cpu", "AMD EPYC 9654, 8 cores"],
        ["4", "shapes", "server.json", "hog-svm", "cuda:0", "NVIDIA H100"],
        ["5", "shapes", "server.json", "cnn", "cpu", "AMD EPYC 9654, 8 cores"],
        ["6", "shapes", "server.json", "cnn", "cuda:0", "NVIDIA H100"],
        ["7", "letters", "letters.json", "hog-svm", "cpu", "Intel Core i5-8250U, 4 cores"],
        ["8", "letters", "letters.json", "cnn", "cpu", "Intel Core i5-8250U, 4 cores"],
    ]
    assert "2 datasets (shapes, letters)" in content.title
    # the best accuracy of each dataset is marked, on each dataset's own rows
    accuracy = content.headers.index("accuracy")
    assert content.best == {(1, accuracy), (4, accuracy), (5, accuracy), (7, accuracy)}


def test_one_dataset_needs_no_dataset_column() -> None:
    content = table(merged_compare_results())
    assert "dataset" not in content.headers and content.headers[:3] == ["#", "file", "pipeline"]
    assert "shapes, 90 train / 30 test images" in content.title and "2 files, 6 results" in content.title


def test_machine_names_come_from_the_environment() -> None:
    assert machine_name(LAPTOP) == "Intel Core i5-8250U, 4 cores"  # physical cores where known
    assert machine_name({"cpu": "AMD EPYC", "cpu_cores_logical": 2}) == "AMD EPYC, 2 cores"
    assert machine_name({"cpu": "Apple M2", "cpu_cores_physical": 1}) == "Apple M2, 1 core"
    assert machine_name({"featvslearn": "0.1"}) == "unknown CPU"


def test_speed_ups_divide_the_baseline_rows_seconds_by_each_rows() -> None:
    merged = merge_compare([("laptop.json", laptop()), ("server.json", server())], CREATED)
    speed = [row[-2:] for row in table(merged).rows]
    # baseline row 1: the laptop's hog-svm, 123 s to train, 4 s to predict
    assert speed == [["1.0×", "1.0×"], ["1.0×", "1.0×"], ["2.0×", "1.0×"], ["12.3×", "40.0×"],
                     ["2.0×", "1.0×"], ["12.3×", "40.0×"]]
    assert "speed-up vs the baseline, row 1 (hog-svm on cpu, Intel Core i5-8250U, 4 cores, laptop.json)" in \
        table(merged).caption
    text = reading(merged)
    assert text.startswith("Baseline: hog-svm on cpu (Intel Core i5-8250U, 4 cores, row 1) from laptop.json.")
    assert "Fastest training: hog-svm on cuda:0 (NVIDIA H100, row 4), 12.3× the baseline (10.0 s against 123.0 s)" \
        in text
    assert "Fastest inference: hog-svm on cuda:0 (NVIDIA H100, row 4), 40.0× the baseline (300 against 8 images/s)" \
        in text
    assert "Most accurate: cnn (row 2), cnn (row 5) and cnn (row 6), 95.0% each." in text


@pytest.mark.parametrize(("choice", "number"), [("3", "3"), ("server.json", "3"), ("laptop.json", "1"),
                                                 ("6", "6")])
def test_the_baseline_is_a_row_number_or_a_files_first_row(choice: str, number: str) -> None:
    merged = merge_compare([("laptop.json", laptop()), ("server.json", server())], CREATED, baseline=choice)
    assert merged.baseline == int(number)
    speed = {row[0]: row[-2:] for row in table(merged).rows}
    assert speed[number] == ["1.0×", "1.0×"]
    if number in ("3", "6"):
        base = 60.0 if number == "3" else 10.0
        assert speed["1"][0] == (f"{base / 123:.2g}×")  # slower rows read 0.49×, not 0.5× or 0.0×
        assert speed["4"][0] == ("6.0×" if number == "3" else "1.0×")


def test_a_baseline_file_matches_by_path_or_by_its_name(tmp_path: Path) -> None:
    paths = write(tmp_path, laptop=laptop(), server=server())
    for choice in (str(paths["server"]), "server.json", str(tmp_path / "." / "server.json")):
        merged = merge_compare([(str(paths["laptop"]), laptop()), (str(paths["server"]), server())], CREATED,
                               baseline=choice)
        assert merged.baseline == 3, choice


def test_speed_ups_only_on_the_baselines_dataset() -> None:
    merged = merge_compare([("laptop.json", laptop()), ("letters.json", other_dataset())], CREATED)
    cells = {row[0]: (row[1], row[-2:]) for row in table(merged).rows}
    assert cells["1"] == ("shapes", ["1.0×", "1.0×"]) and cells["3"] == ("letters", ["–", "–"])
    assert "Rows on letters have no speed-up" in reading(merged)
    assert "(– on another dataset)" in table(merged).caption
    # a baseline on letters turns it round
    turned = merge_compare([("laptop.json", laptop()), ("letters.json", other_dataset())], CREATED, baseline="3")
    cells = {row[0]: row[-2:] for row in table(turned).rows}
    assert cells["1"] == ["–", "–"] and cells["4"] == ["1.0×", "1.0×"]
    assert "Rows on shapes have no speed-up" in reading(turned)


def test_same_dataset_name_with_other_sizes_is_another_group() -> None:
    smaller = laptop()
    smaller.dataset = dataclasses.replace(smaller.dataset, train_size=45)
    merged = merge_compare([("laptop.json", laptop()), ("small.json", smaller)], CREATED)
    datasets = [row[1] for row in table(merged).rows]
    assert datasets == ["shapes (90/30)"] * 2 + ["shapes (45/30)"] * 2
    assert [row[-1] for row in table(merged).rows][2:] == ["–", "–"]


def test_a_merged_file_merges_again_with_its_files_inside() -> None:
    merged = merge_compare([("laptop.json", laptop()), ("server.json", server())], CREATED)
    again = merge_compare([("merged.json", merged), ("letters.json", other_dataset())], CREATED,
                          baseline="server.json")
    assert again.files == ["laptop.json", "server.json", "letters.json"] and again.baseline == 3
    with pytest.raises(UserError, match=r"^laptop\.json holds the same results as laptop\.json \(in merged\.json\)"):
        merge_compare([("merged.json", merged), ("laptop.json", laptop())], CREATED)


def test_the_report_names_baseline_sources_settings_and_each_files_warnings() -> None:
    a, b = laptop(), server()
    a.settings["precision"], b.settings["precision"] = "fp32", "bf16"
    b.machine_busy = True
    b.pipelines[0].stages[0].other_load_percent = 60.0
    merged = merge_compare([("laptop.json", a), ("server.json", b)], CREATED)
    text = markdown(merged, {"train-seconds": "m-plots/train-seconds.png"})
    assert text.startswith("# hog-svm vs cnn on shapes: 2 results files merged\n")
    assert "baseline row 1 (hog-svm on cpu, Intel Core i5-8250U, 4 cores, laptop.json)" in text
    assert "> **Warning:** server.json: timings measured on a busy machine" in text
    assert "| 4 | server.json | hog-svm | cuda:0 | NVIDIA H100 | 0.9000 | 10.0 | 0.10 | 300 | 12.3× | 40.0× |" in text
    assert "| laptop.json | Intel Core i5-8250U, 4 cores | – | cpu | 0 | 2026-01-01T10:00:00+00:00 | test | 1–2 |" \
        in text
    assert "| server.json | AMD EPYC 9654, 8 cores | NVIDIA H100 | cpu,cuda:0 | 0 | 2026-01-01T11:00:00+00:00 | test " \
           "| 3–6 |" in text
    assert "Settings that differ between the files: precision (laptop.json fp32, server.json bf16)." in text
    assert "![training seconds of every row, log scale](m-plots/train-seconds.png)" in text


def test_the_figure_has_a_bar_per_row_on_a_log_axis_grouped_by_dataset() -> None:
    merged = merge_compare([("laptop.json", laptop()), ("letters.json", other_dataset()),
                            ("server.json", server())], CREATED)
    figure = figures(merged)["train-seconds"]
    ax = figure.axes[0]
    assert ax.get_xscale() == "log"
    assert len(ax.patches) == len(rows(merged)) == 8
    labels = [tick.get_text() for tick in ax.get_yticklabels()]
    bold = [tick.get_text() for tick in ax.get_yticklabels() if tick.get_fontweight() == "bold"]
    assert bold == ["shapes", "letters"] and labels[0] == "shapes" and labels[7] == "letters"
    assert labels[4] == "4 · hog-svm · cuda:0 · NVIDIA H100 · server.json"
    colours = {patch.get_facecolor()[:3] for patch in ax.patches}
    assert len(colours) == 2  # hog-svm's and cnn's


@pytest.mark.parametrize("width", [60, 80, 200])
def test_the_terminal_table_fits_any_width(width: int) -> None:
    console = Console(file=io.StringIO(), width=width)
    console.print(results_table(merged_compare_results()))
    text = console.file.getvalue()  # type: ignore[attr-defined]
    assert all(len(line) <= width for line in text.splitlines())
    assert "NVIDIA H100" in text and "12.3×" in text


# --------------------------------------------------------------------------- compare through the command line
def test_report_merges_compare_files_and_its_json_re_renders_the_same_report(tmp_path: Path) -> None:
    paths = write(tmp_path, laptop=laptop(), server=server())
    out, merged_json = tmp_path / "m.md", tmp_path / "m.json"
    result = invoke("report", paths["laptop"], paths["server"], "--out", out, "--json", merged_json,
                    "--baseline", "server.json")
    assert result.exit_code == 0, result.output
    assert f"merged results written to {merged_json}" in result.stdout and f"report written to {out}" in result.stdout
    assert "NVIDIA H100" in result.stdout and "Baseline: hog-svm on cpu (AMD EPYC 9654, 8 cores, row 3)" in \
        result.stdout
    merged = read_json(merged_json)
    assert isinstance(merged, MergedCompareResults) and merged.baseline == 3
    assert merged.files == [str(paths["laptop"]), str(paths["server"])]
    assert merged.sources == [laptop(), server()]
    assert (tmp_path / "m-plots" / "train-seconds.png").read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"
    again = tmp_path / "again" / "m.md"  # the same name, so the same plots folder name in the links
    again.parent.mkdir()
    result = invoke("report", merged_json, "--out", again)
    assert result.exit_code == 0, result.output
    assert again.read_text() == out.read_text()
    # a merged file takes another baseline when re-rendered
    rebased = tmp_path / "rebased.md"
    assert invoke("report", merged_json, "--baseline", "1", "--out", rebased).exit_code == 0
    assert "baseline row 1 (hog-svm on cpu, Intel Core i5-8250U" in rebased.read_text()


def test_several_files_without_out_write_merged_md_here_and_say_so(tmp_path: Path,
                                                                   monkeypatch: pytest.MonkeyPatch) -> None:
    inputs = tmp_path / "in"
    inputs.mkdir()
    paths = write(inputs, laptop=laptop(), server=server())
    monkeypatch.chdir(tmp_path)
    result = invoke("report", paths["laptop"], paths["server"])
    assert result.exit_code == 0, result.output
    assert "no --out given: the report goes to merged.md in the current folder" in result.stdout
    assert (tmp_path / "merged.md").is_file() and (tmp_path / "merged-plots" / "train-seconds.png").is_file()
    assert not (tmp_path / "in" / "laptop.md").exists()


def test_one_file_is_re_rendered_exactly_as_before(tmp_path: Path) -> None:
    paths = write(tmp_path, laptop=laptop())
    result = invoke("report", paths["laptop"])
    assert result.exit_code == 0, result.output
    assert result.stdout.rstrip().endswith(f"report written to {tmp_path / 'laptop.md'}")
    assert "no --out given" not in result.stdout and "merged" not in result.stdout
    expected = tmp_path / "expected.md"
    write_markdown(laptop(), expected)
    assert (tmp_path / "laptop.md").read_text() == expected.read_text().replace("expected-plots/", "laptop-plots/")
    assert not (tmp_path / "merged.md").exists()


# --------------------------------------------------------------------------- scaling
def test_partial_sweeps_merge_into_the_sweep_of_all_sizes(tmp_path: Path) -> None:
    full = scaling_results()
    full.crossover = crossovers(full)
    small, large = sweep_part(full, sizes=[30, 60]), sweep_part(full, sizes=[90])
    merged = merge_scaling([("small.json", small), ("large.json", large)], CREATED)
    assert merged.sizes == full.sizes and merged.seeds == full.seeds
    assert merged.pipelines == full.pipelines
    assert merged.crossover == full.crossover == crossovers(full)
    assert merged.settings["merged_from"] == ["small.json", "large.json"]
    assert merged.settings["cnn_epochs_per_size"] == full.settings["cnn_epochs_per_size"]
    assert merged.total_seconds == small.total_seconds + large.total_seconds and merged.created == CREATED
    # the order of the files does not change the runs or the crossover
    turned = merge_scaling([("large.json", large), ("small.json", small)], CREATED)
    assert turned.pipelines == merged.pipelines and turned.crossover == merged.crossover


def test_sweeps_with_more_seeds_keep_each_shared_run_once() -> None:
    full = scaling_results(seeds=(0, 1))
    one_seed = sweep_part(full, seeds=[0])
    merged = merge_scaling([("one.json", one_seed), ("two.json", full)], CREATED)
    assert merged.seeds == [0, 1] and merged.pipelines == full.pipelines


def test_report_merges_scaling_files_into_scaling_results(tmp_path: Path) -> None:
    full = scaling_results()
    paths = write(tmp_path, small=sweep_part(full, sizes=[30, 60]), large=sweep_part(full, sizes=[90]))
    out, merged_json = tmp_path / "sweep.md", tmp_path / "sweep.json"
    result = invoke("report", paths["small"], paths["large"], "--out", out, "--json", merged_json)
    assert result.exit_code == 0, result.output
    merged = read_json(merged_json)
    assert isinstance(merged, ScalingResults) and merged.kind == "scaling"
    assert merged.settings["merged_from"] == [str(paths["small"]), str(paths["large"])]
    assert merged.crossover == crossovers(full)
    assert "the CNN is ahead from 60" in out.read_text()
    again = tmp_path / "again" / "sweep.md"
    again.parent.mkdir()
    assert invoke("report", merged_json, "--out", again).exit_code == 0
    assert again.read_text() == out.read_text()


def test_sweeps_from_other_machines_merge_with_a_note(tmp_path: Path) -> None:
    full = scaling_results()
    small, large = sweep_part(full, sizes=[30, 60]), sweep_part(full, sizes=[90])
    small.environment, large.environment = dict(LAPTOP), dict(SERVER)
    paths = write(tmp_path, small=small, large=large)
    result = invoke("report", paths["small"], paths["large"], "--out", tmp_path / "s.md")
    assert result.exit_code == 0, result.output
    notes = [line for line in result.stderr.splitlines() if line.startswith("note:")]
    assert len(notes) == 1 and "timed on 2 machines or devices" in notes[0] and "AMD EPYC 9654" in notes[0]


def _with(change: Callable[[ScalingResults], None]) -> ScalingResults:
    results = sweep_part(scaling_results(), sizes=[90])
    change(results)
    return results


def _dataset(**fields: Any) -> Callable[[ScalingResults], None]:
    def change(results: ScalingResults) -> None:
        results.dataset = dataclasses.replace(results.dataset, **fields)
    return change


def _setting(key: str, value: Any) -> Callable[[ScalingResults], None]:
    def change(results: ScalingResults) -> None:
        results.settings[key] = value
    return change


def _seed(results: ScalingResults) -> None:
    results.seed = 7


@pytest.mark.parametrize(("change", "fragment"), [
    (_dataset(name="letters"), "their dataset differs (small.json: shapes, large.json: letters)"),
    (_dataset(test_size=60), "their test set size differs (small.json: 30 images, large.json: 60 images)"),
    (_dataset(train_size=900), "their training set (the images the subsamples are drawn from) differs "
                               "(small.json: 90 images, large.json: 900 images)"),
    (_dataset(image_shape=[16, 16, 1]), "their image shape differs (small.json: 8×8×1, large.json: 16×16×1)"),
    (_dataset(num_classes=4), "their number of classes differs (small.json: 3, large.json: 4)"),
    (_seed, "their base seed (--seed, which draws the test set) differs (small.json: 0, large.json: 7)"),
    (_setting("epochs", 5), "their --epochs differs (small.json: default, large.json: 5)"),
    (_setting("precision", "bf16"), "their --precision differs (small.json: auto, large.json: bf16)"),
    (_setting("svm", "rbf"), "their --svm differs (small.json: linear, large.json: rbf)"),
    (_setting("preset", "quick"), "their --preset differs (small.json: standard, large.json: quick)"),
    (_setting("cnn_precision", "bf16"), "their the CNN's precision differs (small.json: fp32, large.json: bf16)"),
], ids=["dataset", "test-size", "train-size", "image-shape", "classes", "seed", "epochs", "precision", "svm",
        "preset", "cnn-precision"])
def test_sweeps_that_differ_are_refused_naming_the_first_difference(change: Callable[[ScalingResults], None],
                                                                   fragment: str, tmp_path: Path) -> None:
    paths = write(tmp_path, small=sweep_part(scaling_results(), sizes=[30, 60]), large=_with(change))
    line = error_line(invoke("report", paths["small"], paths["large"], "--out", tmp_path / "x.md"))
    assert line.startswith(f"error: cannot merge {paths['large']} with {paths['small']}: ")
    assert fragment.replace("small.json", str(paths["small"])).replace("large.json", str(paths["large"])) in line
    assert line.endswith("merged sweeps need the same dataset, test set and settings")
    assert not (tmp_path / "x.md").exists()


def test_runs_that_disagree_are_refused(tmp_path: Path) -> None:
    full = scaling_results()
    other = sweep_part(full, sizes=[60, 90])
    other.pipelines["cnn"][0].accuracy = 0.5
    paths = write(tmp_path, small=sweep_part(full, sizes=[30, 60]), other=other)
    line = error_line(invoke("report", paths["small"], paths["other"], "--json", tmp_path / "x.json", "--out",
                             tmp_path / "x.md"))
    assert line.startswith("error: runs disagree: cnn at 60 training images, seed 0 has accuracy 0.8500 in ")
    assert f"but 0.5000 in {paths['other']}" in line
    assert not (tmp_path / "x.json").exists()


def test_a_sweep_with_gaps_is_refused(tmp_path: Path) -> None:
    full = scaling_results()
    small = sweep_part(full, sizes=[30, 60])
    hog_only = sweep_part(full, sizes=[90])
    del hog_only.pipelines["cnn"]
    hog_only.crossover = {}
    paths = write(tmp_path, small=small, hog=hog_only)
    line = error_line(invoke("report", paths["small"], paths["hog"], "--out", tmp_path / "x.md"))
    assert "the merged sweep has a gap: cnn has no run at 90 training images, seed 0" in line
    assert "--sizes 90 --seeds 1 --pipelines cnn" in line


# --------------------------------------------------------------------------- refusals
def test_every_input_is_read_before_anything_is_written(tmp_path: Path) -> None:
    paths = write(tmp_path, laptop=laptop())
    line = error_line(invoke("report", paths["laptop"], tmp_path / "missing.json", "--out", tmp_path / "m.md",
                             "--json", tmp_path / "m.json"))
    assert "missing.json does not exist" in line
    assert sorted(p.name for p in tmp_path.iterdir()) == ["laptop.json"]


@pytest.mark.parametrize(("files", "options", "fragment"), [
    (["laptop", "sweep"], [], "error: cannot merge compare results ({laptop}) with scaling results ({sweep}); "
                              "report merges several compare results (from several machines), or several scaling "
                              "results of one sweep (same dataset, test set and settings)"),
    (["sweep", "laptop"], [], "error: cannot merge scaling results ({sweep}) with compare results ({laptop});"),
    (["laptop", "ablate"], [], "error: {ablate} holds ablate results, which cannot be merged; report merges"),
    (["ablate", "sweep"], [], "error: {ablate} holds ablate results, which cannot be merged;"),
    (["laptop", "laptop"], [], "error: {laptop} is given twice; pass each results file once"),
    (["laptop", "copy"], [], "error: {copy} holds the same results as {laptop}; pass each results file once"),
    (["laptop", "server"], ["--baseline", "7"], "error: --baseline 7: the merged table has rows 1 to 6; give one of "
                                                "those numbers or one of the files"),
    (["laptop", "server"], ["--baseline", "0"], "error: --baseline 0: the merged table has rows 1 to 6"),
    (["laptop", "server"], ["--baseline", "desk.json"], "error: --baseline desk.json: neither a row number nor one "
                                                        "of the files merged ({laptop}, {server})"),
    (["sweep", "sweep2"], ["--baseline", "1"], "error: --baseline chooses the row the speed-ups of merged compare "
                                               "results divide; merged scaling results have none, so leave it out"),
    (["laptop"], ["--baseline", "1"], "error: --baseline picks the row the speed-ups of merged compare results "
                                      "divide, but {laptop} holds compare results; pass two or more compare "
                                      "results, or leave it out"),
    (["laptop", "server"], ["--json", "{laptop}"], "error: --json {laptop} is one of the results files read; "
                                                   "choose another file name"),
    (["laptop", "server"], ["--json", "{dir}/m.txt"], "error: --json {dir}/m.txt: the file name must end in .json"),
    (["laptop", "server"], ["--out", "{dir}/m.txt"], "error: --out {dir}/m.txt: the file name must end in .md"),
], ids=["compare+scaling", "scaling+compare", "ablate", "ablate-first", "twice", "same-results", "baseline-high",
        "baseline-zero", "baseline-unknown-file", "baseline-scaling", "baseline-one-compare", "json-is-an-input",
        "json-suffix", "out-suffix"])
def test_refusals_are_one_line_with_exit_code_2(files: list[str], options: list[str], fragment: str,
                                                tmp_path: Path) -> None:
    full = scaling_results()
    paths = write(tmp_path, laptop=laptop(), server=server(), copy=laptop(), sweep=sweep_part(full, sizes=[30, 60]),
                  sweep2=sweep_part(full, sizes=[90]), ablate=ablate_results())
    names = {**{name: str(path) for name, path in paths.items()}, "dir": str(tmp_path)}
    before = sorted(p.name for p in tmp_path.iterdir())
    line = error_line(invoke("report", *(paths[name] for name in files), *(o.format(**names) for o in options)))
    assert fragment.format(**names) in line
    assert sorted(p.name for p in tmp_path.iterdir()) == before  # nothing written


# --------------------------------------------------------------------------- the results kind
def test_merged_results_round_trip_and_are_in_the_schema(tmp_path: Path) -> None:
    merged = merged_compare_results()
    write_json(merged, tmp_path / "m.json")
    document = json.loads((tmp_path / "m.json").read_text())
    assert list(document)[:2] == ["schema_version", "kind"] and document["kind"] == "merged-compare"
    assert document["schema_version"] == 2 and list(document["sources"][0])[:2] == ["schema_version", "kind"]
    loaded = read_json(tmp_path / "m.json")
    assert loaded == merged and loaded.to_dict() == document
    assert MergedCompareResults.from_dict(document) == merged
    assert '"merged-compare"' in json_schema_text()


@pytest.mark.parametrize(("change", "fragment"), [
    (lambda d: d.update(baseline=7), "baseline is row 7, but the merged table has 6 rows"),
    (lambda d: d.update(baseline=0), "baseline should be greater than or equal to 1"),
    (lambda d: d.update(files=["laptop.json"]), "files names 1 files for 2 sources"),
    (lambda d: d.update(sources=[]), "sources: no compare results"),
    (lambda d: d["sources"][1]["pipelines"][0].pop("accuracy"), "sources[1].pipelines[0]: missing 'accuracy'"),
    (lambda d: d["sources"][0].update(kind="scaling"), "sources[0].kind"),
])
def test_malformed_merged_files_are_one_line_errors(change: Callable[[dict[str, Any]], Any], fragment: str,
                                                    tmp_path: Path) -> None:
    document = merged_compare_results().to_dict()
    change(document)
    path = tmp_path / "m.json"
    path.write_text(json.dumps(document))
    with pytest.raises(UserError) as caught:
        read_json(path)
    message = str(caught.value)
    assert "\n" not in message and fragment in message, message
    assert "merged-compare results are incomplete or malformed" in message
    assert message.endswith("re-run featvslearn report (the compare files) --json to write it again")


def test_merge_itself_needs_two_files() -> None:
    with pytest.raises(UserError, match="merging needs two or more results files"):
        merge([("laptop.json", laptop())], CREATED)
    merged = merge([("a.json", laptop()), ("b.json", server())], CREATED)
    assert isinstance(merged.results, MergedCompareResults) and merged.results.baseline == 1 and not merged.notes
