"""Reports of every kind of results: the Markdown with its reading, its figures, and the table content.

One module per kind (``compare``, ``scaling``, ``ablate``, and ``merged`` for merged comparisons), each
with ``markdown``, ``reading``, ``figures`` and ``table``; :data:`KINDS` maps a results kind to its
module's writers. Nothing here renders to a terminal: :func:`table` returns plain strings for a caller
to lay out.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping
from dataclasses import dataclass
from pathlib import Path
from types import MappingProxyType
from typing import Any

from matplotlib.figure import Figure

from featvslearn.reports import ablate, ablate_reading, compare, merged, scaling
from featvslearn.reports.shared import TableContent, write_report
from featvslearn.results import Results

__all__ = ["KINDS", "ReportKind", "TableContent", "data_notes", "figures", "lessons", "markdown", "reading", "table",
           "warnings", "write_markdown"]


@dataclass(frozen=True)
class ReportKind:
    """The writers of one kind of results.

    ``figures``: results → {file name without .png: figure}; ``markdown``: results and {figure
    name: PNG path relative to the report} → the report's text; ``table``: results → the table
    shown in the terminal; ``lessons``: results → one plain sentence per lesson the results teach,
    for the terminal too (an ablation's lessons; what a comparison's runs chose within their budget).
    """

    figures: Callable[[Any], dict[str, Figure]]
    markdown: Callable[[Any, Mapping[str, str]], str]
    table: Callable[[Any], TableContent]
    reading: Callable[[Any], str]
    warnings: Callable[[Any], list[str]]
    lessons: Callable[[Any], list[str]] = lambda results: []
    more_tables: Callable[[Any], list[TableContent]] = lambda results: []


KINDS: Mapping[str, ReportKind] = MappingProxyType({
    "compare": ReportKind(compare.figures, compare.markdown, compare.table, compare.reading, compare.warnings,
                          compare.budget_lines, compare.more_tables),
    "scaling": ReportKind(scaling.figures, scaling.markdown, scaling.table, scaling.reading, scaling.warnings),
    "ablate": ReportKind(ablate.figures, ablate.markdown, ablate.table, ablate_reading.reading, ablate.warnings,
                         ablate_reading.effects),
    "merged-compare": ReportKind(merged.figures, merged.markdown, merged.table, merged.reading, merged.warnings),
})
"""Every kind of results (the ``kind`` field of its JSON) and its report's writers."""


def figures(results: Results) -> dict[str, Figure]:
    """The figures of the report of ``results``, of any kind, by file name (without .png)."""
    return KINDS[results.kind].figures(results)


def markdown(results: Results, links: Mapping[str, str] | None = None) -> str:
    """The Markdown report of ``results``, of any kind; ``links`` maps figure names to PNG paths relative
    to the report (figures not given are left out)."""
    return KINDS[results.kind].markdown(results, links or {})


def table(results: Results) -> TableContent:
    """The terminal table of ``results``, of any kind, as plain strings."""
    return KINDS[results.kind].table(results)


def more_tables(results: Results) -> list[TableContent]:
    """Tables the terminal shows after the main one (a comparison over several seeds: the seeds' table)."""
    return KINDS[results.kind].more_tables(results)


def data_notes(results: Results) -> list[str]:
    """What the terminal says of the images before the reading: where the train/test split came from."""
    split = getattr(getattr(results, "dataset", None), "split", None)
    return [f"split: {split}"] if split else []


def reading(results: Results) -> str:
    """The plain-language result of ``results``, of any kind."""
    return KINDS[results.kind].reading(results)


def warnings(results: Results) -> list[str]:
    """Lines a reader must see before trusting the figures of ``results`` (empty when none)."""
    return KINDS[results.kind].warnings(results)


def lessons(results: Results) -> list[str]:
    """The lessons of ``results``, one plain sentence each with its numbers (empty for most kinds)."""
    return KINDS[results.kind].lessons(results)


def write_markdown(results: Results, path: Path) -> None:
    """Write the Markdown report of ``results`` to ``path`` and its PNG plots into a folder beside it
    (``out.md`` → ``out-plots/``), linked by paths relative to the report.

    The plots are written first and the Markdown last, each atomically, so a report that exists
    always finds its images; if the Markdown cannot be written, a plots folder created by this
    call is removed again.
    """
    kind = KINDS[results.kind]
    write_report(path, kind.figures(results), lambda links: kind.markdown(results, links))
