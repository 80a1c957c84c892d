"""The terminal tables, rendered by Rich at a fixed width."""

from __future__ import annotations

import io
import re
from collections.abc import Callable
from dataclasses import dataclass

import pytest
from rich.console import Console, RenderableType
from rich.table import Table

from featvslearn.cli import _console_width
from featvslearn.cli.tables import (
    BLOCK_SEPARATOR,
    FittedTable,
    block_lines,
    column_widths,
    datasets_table,
    downloads_table,
    results_table,
    rich_table,
)
from featvslearn.datasets import dataset_availability
from featvslearn.reports import TableContent
from featvslearn.reports.compare import GPU_HEADERS
from tests.hand_made import ablate_results, compare_results, scaling_results


def render(table: Table, colour: bool = False) -> str:
    console = Console(file=io.StringIO(), width=200, force_terminal=colour, color_system="standard" if colour
                      else None)
    console.print(table)
    return console.file.getvalue()  # type: ignore[attr-defined]


def test_text_columns_align_left_numbers_right_and_the_best_is_bold_green() -> None:
    content = TableContent(title="t", headers=["name", "value"], rows=[["a", "1"], ["bb", "22"]],
                           best=frozenset({(1, 1)}), caption="under")
    table = rich_table(content)
    assert [c.justify for c in table.columns] == ["left", "right"] and table.caption == "under"
    text = render(table)
    assert "│ a    │     1 │" in text and "under" in text
    assert "\x1b[1;32m22\x1b[0m" in render(table, colour=True)
    assert rich_table(TableContent(title="t", headers=["x"], rows=[])).caption is None


def test_every_kind_of_results_renders() -> None:
    compare = render(results_table(compare_results()))
    assert "┃ train × ┃ pred × ┃" in compare and "│   12.3× │  40.0× │" in compare and "speed-up vs cpu" in compare
    scaling = render(results_table(scaling_results()))
    assert "cnn accuracy" in scaling and "0.9500 ± 0.0141" in scaling and "the CNN is ahead from 60" in scaling
    ablate = render(results_table(ablate_results()))
    assert "sigmoid-plain" in ablate and "diverged" in ablate


@dataclass
class Availability:
    name: str
    available_offline: bool
    location: str | None
    note: str


def test_datasets_table() -> None:
    text = render(datasets_table([Availability("digits", True, None, "bundled"),
                                  Availability("mnist", False, "/data/mnist", "found")]))
    assert "datasets" in text and "│ digits │ yes     │ –           │ bundled │" in text
    assert "│ mnist  │ no      │ /data/mnist │ found   │" in text


# --------------------------------------------------------------------------- fitted to the terminal's width
WIDTHS = [60, 80, 120]
LONG_NOTE = ("not found; will download through torchvision into /home/someone/.cache/featvslearn, or pass "
             "--data-dir DIR holding the four idx files")


def some_datasets() -> list[Availability]:
    return [Availability("digits", True, None, "bundled with scikit-learn"),
            Availability("fashion-mnist", True, "/usr/share/datasets/fashion-mnist",
                         "idx files found (Debian package dataset-fashion-mnist)"),
            Availability("mnist", False, None, LONG_NOTE)]


TABLES: dict[str, Callable[[], FittedTable]] = {
    "compare on cpu": lambda: results_table(compare_results(("cpu",))),
    "compare on cuda": lambda: results_table(compare_results(("cuda:0",))),
    "compare on cpu and cuda": lambda: results_table(compare_results()),
    "scaling": lambda: results_table(scaling_results()),
    "ablate": lambda: results_table(ablate_results()),
    "datasets": lambda: datasets_table(some_datasets()),
}


def capture(renderable: RenderableType, width: int, colour: bool = False) -> str:
    """What ``renderable`` prints on a terminal ``width`` columns wide (with ANSI codes when ``colour``)."""
    console = Console(width=width, record=True, file=io.StringIO(), force_terminal=colour,
                      color_system="standard" if colour else None)
    console.print(renderable)
    return console.file.getvalue() if colour else console.export_text()  # type: ignore[attr-defined]


def whole(cell: str, text: str) -> bool:
    """Whether ``cell`` appears on one line of ``text``, not run into a longer word."""
    return re.search(rf"(?<![\w.,-]){re.escape(cell)}(?![\w.,-])", text) is not None


@pytest.mark.parametrize("width", WIDTHS)
@pytest.mark.parametrize("kind", TABLES)
def test_every_table_fits_the_width_and_cuts_no_cell(kind: str, width: int) -> None:
    fitted = TABLES[kind]()
    content = fitted.content
    text = capture(fitted, width)
    assert max(len(line) for line in text.splitlines()) <= width
    assert "…" not in text
    for row in content.rows:
        for column, cell in enumerate(row):
            if column in fitted.prose_columns:  # prose wraps at its spaces, every word whole
                assert all(whole(word, text) for word in cell.split()), (cell, text)
            else:  # names, accuracies, every number and path: whole, on one line
                assert whole(cell, text), (cell, text)
    fits = column_widths(content, width, fitted.prose_columns) is not None
    assert ("┏" in text) == fits  # the table when it fits, the blocks otherwise
    # a header may wrap at its spaces, never inside a word; in the blocks, the first cell is the heading
    for header in content.headers[0 if fits or not content.text_columns else 1:]:
        assert all(whole(word, text) for word in header.split()), (header, text)
    if not fits:
        first = content.rows[0]
        heading = first[0] if content.text_columns else f"{content.headers[0]}: {first[0]}"
        assert heading in text.splitlines()
        last = f"{re.escape(content.headers[-1])}: {re.escape(first[-1])}"
        assert re.search(rf"(^  |{re.escape(BLOCK_SEPARATOR)}){last}", text, re.MULTILINE)


@pytest.mark.parametrize("kind", TABLES)
def test_sixty_columns_show_one_block_per_row(kind: str) -> None:
    fitted = TABLES[kind]()
    text = capture(fitted, 60)
    assert "┏" not in text and "│" not in text
    lines = text.splitlines()
    assert lines[0] == fitted.content.title or fitted.content.title.startswith(lines[0])
    if fitted.content.text_columns:
        assert [row[0] for row in fitted.content.rows] == [line for line in lines if line in
                                                           {row[0] for row in fitted.content.rows}]
    # several "header: value" pairs to a line: a block is its heading and at most four lines under it
    blocks = re.split(r"\n(?!  )", text.rstrip("\n"))
    assert all(len(block.splitlines()) <= 5 for block in blocks), text


def test_the_headline_tables_are_tables_at_80_columns() -> None:
    for kind in ("compare on cpu", "scaling", "ablate"):
        assert "┏" in capture(TABLES[kind](), 80), kind
    for kind in ("compare on cuda", "compare on cpu and cuda", "datasets"):
        assert "┏" in capture(TABLES[kind](), 120), kind


def test_gpu_columns_only_when_a_run_used_a_gpu() -> None:
    cpu = compare_results(("cpu",))
    assert not set(GPU_HEADERS) & set(results_table(cpu).content.headers)
    for width in WIDTHS:
        assert "GPU" not in capture(results_table(cpu), width)
    for devices in (("cuda:0",), ("cpu", "cuda:0")):
        fitted = results_table(compare_results(devices))
        assert set(GPU_HEADERS) <= set(fitted.content.headers)
        for width in WIDTHS:
            text = capture(fitted, width)
            assert "GPU" in text and whole("95% / 95%", text) and whole("118 MiB", text)
    assert whole("no GPU", capture(results_table(compare_results()), 120))  # the cpu runs beside cuda ones
    # a run with a GPU reading shows the columns even on a device name not seen before
    other = compare_results(("cpu",))
    other.pipelines[0].peak_gpu_memory_bytes = 1024**3
    assert set(GPU_HEADERS) <= set(results_table(other).content.headers)


def test_speed_ups_show_whole_at_every_width() -> None:
    for width in WIDTHS:
        text = capture(results_table(compare_results()), width)
        assert text.count("12.3×") == 2 and text.count("40.0×") == 2 and text.count("1.0×") == 4
        assert "speed-up vs cpu" in text  # the caption names the first device, which the others are measured against


@pytest.mark.parametrize("width", WIDTHS)
def test_the_best_accuracy_stands_out_in_either_layout(width: int) -> None:
    text = capture(results_table(compare_results(("cpu",))), width, colour=True)
    assert "\x1b[1;32m0.9500\x1b[0m" in text and "\x1b[1;32m0.9000" not in text


def test_headers_wrap_before_the_table_gives_way_to_blocks() -> None:
    content = TableContent(title="t", headers=["pipeline", "a long header", "accuracy"],
                           rows=[["hog-svm", "1", "0.9000"]])
    assert column_widths(content) == [8, 13, 8]
    assert column_widths(content, 40) == [8, 13, 8]  # 29 + 10 of borders and padding
    assert column_widths(content, 35) == [8, 9, 8]  # "a long" / "header"
    assert column_widths(content, 32) == [8, 6, 8]  # "a" / "long" / "header"
    assert column_widths(content, 31) is None
    assert "┃          ┃    a long ┃          ┃\n┃ pipeline ┃    header ┃ accuracy ┃" in capture(
        FittedTable(content), 35)
    assert [line.rstrip() for line in capture(FittedTable(content), 31).splitlines()] == [
        "t", "hog-svm", "  a long header: 1", "  accuracy: 0.9000"]


def test_blocks_put_as_many_pairs_on_a_line_as_fit_lined_up_from_block_to_block() -> None:
    assert block_lines([16, 14, 12, 21], 42) == [[0, 1], [2, 3]]  # 16 + 3 + 14 + 3 + 12 = 48 > 42
    assert block_lines([16, 14, 12, 21], 48) == [[0, 1, 2], [3]]
    assert block_lines([5, 50, 5], 42) == [[0], [1], [2]]  # too wide for any line: a line of its own
    assert block_lines([], 42) == []
    content = TableContent(title="t", headers=["pipeline", "accuracy", "train s", "pred s", "a very long header"],
                           rows=[["hog-svm", "0.9711", "2.15", "0.11", "x"], ["cnn", "0.9800", "123.0", "0.2", "y"]],
                           best=frozenset({(1, 1)}))
    assert column_widths(content, 44) is None
    assert [line.rstrip() for line in capture(FittedTable(content), 44).splitlines()] == [
        "t",
        "hog-svm",
        "  accuracy: 0.9711 · train s: 2.15",
        "  pred s: 0.11 · a very long header: x",
        "cnn",
        "  accuracy: 0.9800 · train s: 123.0",
        "  pred s: 0.2  · a very long header: y",
    ]
    assert "accuracy: \x1b[1;32m0.9800\x1b[0m" in capture(FittedTable(content), 44, colour=True)


def test_cells_are_text_not_markup() -> None:
    content = TableContent(title="t", headers=["name"], rows=[["[bold]x[/]"]])
    assert "[bold]x[/]" in capture(FittedTable(content), 80)


@pytest.mark.parametrize("width", WIDTHS)
def test_a_dataset_path_longer_than_the_line_folds_whole(width: int) -> None:
    path = "/data/" + "/".join(["a-rather-long-folder-name"] * 4) + "/fashion-mnist"
    text = capture(datasets_table([Availability("fashion-mnist", True, path, "idx files found")]), width)
    assert max(len(line) for line in text.splitlines()) <= width and "…" not in text
    assert path in "".join(line.strip() for line in text.splitlines())


def test_console_width_honours_columns_even_in_a_pipe(monkeypatch: pytest.MonkeyPatch) -> None:
    pipe, terminal = io.StringIO(), io.StringIO()
    terminal.isatty = lambda: True  # type: ignore[method-assign]
    monkeypatch.delenv("COLUMNS", raising=False)
    assert _console_width(pipe) == 160 and _console_width(terminal) is None
    monkeypatch.setenv("COLUMNS", "80")
    assert _console_width(pipe) == 80 and _console_width(terminal) == 80
    for junk in ("", "0", "wide", "-5"):
        monkeypatch.setenv("COLUMNS", junk)
        assert _console_width(pipe) == 160


@pytest.mark.parametrize("width", WIDTHS)
def test_the_downloads_fit_the_width_with_every_address_whole(width: int) -> None:
    found = dataset_availability()
    text = capture(downloads_table(found), width)
    assert max(len(line) for line in text.splitlines()) <= width and "…" not in text
    shown = [item for item in found if item.download_from]
    assert [item.name for item in shown] == ["fashion-mnist", "mnist", "cifar10"]
    folded = "".join(line.strip() for line in text.splitlines())
    for item in shown:  # an address longer than the line folds onto the next; from 80 columns none is
        assert item.download_from in folded and item.home in folded
        assert width < 80 or (whole(item.download_from, text) and whole(item.home, text))
        assert whole(item.download_size, text) and all(whole(file, text) for file in item.files)
