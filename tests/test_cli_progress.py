"""The progress display: rows that fit the console, a fresh clock per stage, a sweep's overall bar with
the time left, nothing unfinished left above an error, and counts with thousands separators."""

from __future__ import annotations

import re
from collections.abc import Iterator
from io import StringIO
from pathlib import Path

import pytest
from rich.console import Console
from rich.progress import TimeRemainingColumn
from typer.testing import CliRunner

from featvslearn.cli import app
from featvslearn.cli.progress import CountColumn, RichProgress, _live_progress
from featvslearn.errors import UserError
from featvslearn.experiments.ablation import run_ablation
from featvslearn.experiments.config import AblateConfig, CompareConfig
from featvslearn.experiments.run import load_data

SPINNER = re.compile(r"[\u2800-\u28ff]")  # the braille dots of Rich's spinner


class Clock:
    """A clock the test moves by hand, for Rich's ``get_time``."""

    def __init__(self) -> None:
        self.now = 1000.0

    def __call__(self) -> float:
        return self.now


def recording_console(width: int = 80) -> Console:
    return Console(width=width, record=True, file=StringIO(), force_terminal=False)


def frame(progress: RichProgress, width: int = 80) -> list[str]:
    """The display's rows as they are drawn now on a console ``width`` columns wide."""
    console = recording_console(width)
    console.print(progress.progress.get_renderable())
    return console.export_text().splitlines()


def row(lines: list[str], text: str) -> str:
    matches = [line for line in lines if text in line]
    assert len(matches) == 1, lines
    return matches[0]


@pytest.fixture
def clock() -> Clock:
    return Clock()


@pytest.fixture
def display(clock: Clock) -> Iterator[RichProgress]:
    with _live_progress(console=recording_console(), get_time=clock) as progress:
        yield progress


def feed_a_sweep(progress: RichProgress, clock: Clock, runs: int = 4, finished: int = 1) -> None:
    """What ``scaling`` reports: the load, then per run its stages under the same keys each time."""
    progress("load", "loading /data/a-folder-with-a-rather-long-name-of-many-images", 0, None)
    clock.now += 2
    progress("load", "loaded /data/a-folder-with-a-rather-long-name-of-many-images: 12,345 train, "
                     "4,567 test", 1, 1)
    progress("scaling", f"scaling: {runs} runs", 0, runs)
    for run in range(finished):
        progress("scaling", f"scaling: cnn, size 12,345, seed {run}", run, runs)
        progress("cnn-warm-up", "cnn: warm-up on a small slice", 0, None)
        clock.now += 5
        progress("cnn-warm-up", "cnn: warm-up on a small slice", 1, 1)
        progress("cnn-train", "cnn: training, epoch 1/40", 0, None)
        clock.now += 50
        progress("cnn-train", "cnn: training, epoch 40/40, loss 0.566, test accuracy 0.9822", 12_345, 12_345)
        progress("scaling", f"scaling: {run + 1} of {runs} runs finished", run + 1, runs)


# ------------------------------------------------------------------------------ width


@pytest.mark.parametrize("width", [40, 60, 80, 120])
def test_every_row_fits_the_console_with_a_column_to_spare(display: RichProgress, clock: Clock, width: int) -> None:
    feed_a_sweep(display, clock, finished=1)
    display("scaling", "scaling: learned-svm, size 12,345, seed 1, and a description far too long to fit", 1, 4)
    display("learned-svm-train", "learned-svm: CNN features from the network trained above, train set",
            3_000, 12_345)
    lines = frame(display, width)
    assert len(lines) == 3  # load, the sweep, its running stage: one line each, never wrapped
    assert all(len(line) < width for line in lines), lines
    assert any("…" in line for line in lines)  # the long descriptions are cut, not wrapped


def test_the_final_display_on_the_console_fits_80_columns(clock: Clock) -> None:
    console = recording_console(80)
    with _live_progress(console=console, get_time=clock) as progress:
        feed_a_sweep(progress, clock, runs=2, finished=2)
    lines = [line for line in console.export_text().splitlines() if line.strip()]
    assert lines and all(len(line) <= 80 for line in lines), lines


# ------------------------------------------------------------------- a clock per stage


def test_a_key_used_again_for_a_new_stage_shows_that_stage_s_own_time(display: RichProgress, clock: Clock) -> None:
    display("hog-svm-train", "hog-svm: HOG features, train set", 0, 1_000)
    clock.now += 200
    display("hog-svm-train", "hog-svm: HOG features, train set", 1_000, 1_000)
    assert "0:03:20" in row(frame(display), "HOG features")
    clock.now += 100
    display("hog-svm-train", "hog-svm: HOG features, train set", 0, 2_000)  # the next run, same key
    clock.now += 3
    display("hog-svm-train", "hog-svm: HOG features, train set", 500, 2_000)
    line = row(frame(display), "HOG features")
    assert "0:00:03" in line and "500/2,000" in line


def test_a_stage_finished_in_one_report_after_a_sweep_run_gets_its_own_time(display: RichProgress,
                                                                           clock: Clock) -> None:
    feed_a_sweep(display, clock, finished=1)
    display("scaling", "scaling: cnn, size 100, seed 1", 1, 4)
    clock.now += 7
    display("cnn-warm-up", "cnn: warm-up on a small slice", 1, 1)  # no 0/None report first
    assert "0:00:00" in row(frame(display), "warm-up")


def test_finishing_after_an_iteration_count_stays_the_same_stage(display: RichProgress, clock: Clock) -> None:
    display("hog-svm-fit", "hog-svm: fitting the SVM", 0, None)
    clock.now += 4
    display("hog-svm-fit", "hog-svm: fitting the SVM", 40, 200)  # L-BFGS iterations
    clock.now += 4
    display("hog-svm-fit", "hog-svm: fitting the SVM", 1, 1)
    assert "0:00:08" in row(frame(display), "fitting the SVM")


# ------------------------------------------------------------------ the sweep's bar


def test_a_sweep_has_an_overall_bar_with_the_time_left(display: RichProgress, clock: Clock) -> None:
    feed_a_sweep(display, clock, runs=4, finished=1)  # one run of 55 s
    lines = frame(display)
    overall = row(lines, "runs finished")
    assert "1/4" in overall and "0:00:55" in overall and "0:02:45 left" in overall
    assert any(isinstance(column, TimeRemainingColumn) for column in display.progress.columns)
    assert not any("cnn:" in line for line in lines)  # the finished run's stages are put away
    display("scaling", "scaling: cnn, size 12,345, seed 1", 1, 4)
    display("cnn-train", "cnn: training, epoch 1/40", 0, None)
    lines = frame(display)
    assert "cnn: training, epoch 1/40" in row(lines, "cnn: training")  # the next run's stage, fresh
    assert "left" not in row(lines, "cnn: training")  # only the sweep's row estimates the time left


def test_without_a_sweep_there_is_no_time_left_column(display: RichProgress, clock: Clock) -> None:
    display("load", "loaded digits: 1,347 train, 450 test", 1, 1)
    display("cnn-train", "cnn: training, epoch 3/40", 30, 400)
    assert not any("left" in line for line in frame(display))


def test_ablate_reports_each_variant_finished_under_its_sweep_key() -> None:
    seen: list[tuple[str, float, float | None]] = []
    config = AblateConfig(dataset="digits", device="cpu", variants=("relu-bn", "sigmoid-plain"), train_size=120,
                          test_size=60, epochs=1).validated()
    run_ablation(config, progress=lambda key, text, done, total: seen.append((text, done, total))
                 if key == "ablate" else None)
    assert (seen[0][1], seen[-1][1:]) == (0, (2, 2))
    assert ("ablate: 1 of 2 variants finished", 1, 2) in seen and seen[-1][0] == "ablate: 2 of 2 variants finished"


# ----------------------------------------------------------------------- on an error


@pytest.mark.parametrize("error", [UserError("no readable images"), KeyboardInterrupt(), RuntimeError("boom")])
def test_an_error_leaves_only_the_finished_rows(clock: Clock, error: BaseException) -> None:
    console = recording_console()
    with pytest.raises(type(error)), _live_progress(console=console, get_time=clock) as progress:
        progress("load", "loaded digits: 1,347 train, 450 test", 1, 1)
        progress("hog-svm-train", "hog-svm: HOG features, train set", 300, 1_347)
        progress("cnn-train", "cnn: training, epoch 1/40", 0, None)
        raise error
    text = console.export_text()
    assert "loaded digits" in text
    assert "HOG features" not in text and "training" not in text and not SPINNER.search(text)


def test_an_error_before_anything_finished_leaves_nothing(clock: Clock) -> None:
    console = recording_console()
    with pytest.raises(UserError), _live_progress(console=console, get_time=clock) as progress:
        progress("load", "loading digits", 0, None)
        raise UserError("no readable images")
    assert console.export_text() == ""


def test_on_a_terminal_an_error_clears_the_unfinished_rows(clock: Clock) -> None:
    console = Console(width=80, file=StringIO(), force_terminal=True, color_system=None)
    with pytest.raises(UserError), _live_progress(console=console, get_time=clock) as progress:
        progress("load", "loading digits", 0, None)
        progress.progress.refresh()
        raise UserError("no readable images")
    written = console.file.getvalue()  # type: ignore[attr-defined]
    assert "loading digits" in written  # it was drawn ...
    assert "loading digits" not in written.rsplit("\x1b[2K", 1)[-1]  # ... and erased last


def test_an_error_after_progress_started_leaves_no_spinner_before_the_error_line(tmp_path: Path) -> None:
    for name in ("cats", "dogs"):
        (tmp_path / "corrupt" / name).mkdir(parents=True)
        for index in range(3):
            (tmp_path / "corrupt" / name / f"{index}.png").write_bytes(b"not a png")
    result = CliRunner().invoke(app, ["compare", "--dataset", str(tmp_path / "corrupt"), "--device", "cpu"])
    assert result.exit_code == 2, result.output
    lines = [line for line in result.stderr.splitlines() if line.strip()]
    assert lines and lines[0].startswith("error:"), result.stderr
    assert not SPINNER.search(result.stderr) and "loading" not in result.stderr


# ------------------------------------------------------------------------- numbers


def test_counts_of_a_thousand_and_more_have_thousands_separators(display: RichProgress) -> None:
    display("hog-svm-train", "hog-svm: HOG features, train set", 1_024, 12_345)
    display("cnn-train", "cnn: training, epoch 1/40", 5, 1_000_000)
    lines = frame(display)
    assert "1,024/12,345" in row(lines, "HOG features") and "1,000,000" in row(lines, "training")
    assert CountColumn().render(display.progress.tasks[1]).plain == "        5/1,000,000"


def test_the_loaded_line_writes_counts_like_the_tables() -> None:
    seen: list[str] = []
    load_data(CompareConfig(dataset="digits").validated(), lambda key, text, done, total: seen.append(text))
    assert seen[-1] == "loaded digits: 1,347 train, 450 test"
