"""The terminal tables: Rich renderings of every kind of results, and of the datasets on offer."""

from __future__ import annotations

from collections.abc import Iterable
from typing import Protocol

from rich.table import Table

from featvslearn import reports
from featvslearn.reports import TableContent
from featvslearn.results import Results


class DatasetAvailability(Protocol):
    """What the datasets table shows of one dataset."""

    name: str
    available_offline: bool
    location: str | None
    note: str


def rich_table(content: TableContent) -> Table:
    """A Rich table of ``content``: text columns on the left, numbers on the right, the best accuracy
    in bold green, and the caption (if any) under it."""
    table = Table(title=content.title, caption=content.caption or None)
    for index, header in enumerate(content.headers):
        table.add_column(header, justify="left" if index < content.text_columns else "right")
    for row_index, row in enumerate(content.rows):
        table.add_row(*(f"[bold green]{cell}[/]" if (row_index, column) in content.best else cell
                        for column, cell in enumerate(row)))
    return table


def results_table(results: Results) -> Table:
    """The terminal table of compare, scaling or ablate results."""
    return rich_table(reports.table(results))


def datasets_table(datasets: Iterable[DatasetAvailability]) -> Table:
    """The datasets, whether each is available offline here, where, and a note."""
    table = Table(title="datasets")
    for column in ("name", "offline", "where", "note"):
        table.add_column(column)
    for item in datasets:
        table.add_row(item.name, "yes" if item.available_offline else "no", item.location or "–", item.note)
    return table
