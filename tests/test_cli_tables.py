"""The terminal tables, rendered by Rich at a fixed width."""

from __future__ import annotations

import io
from dataclasses import dataclass

from rich.console import Console
from rich.table import Table

from featvslearn.cli.tables import datasets_table, results_table, rich_table
from featvslearn.reports import TableContent
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
    assert "speed-up vs cpu" in compare and "12.3× train / 40.0× predict" in compare
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
