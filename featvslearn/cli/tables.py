"""The terminal tables: Rich renderings of every kind of results, and of the datasets on offer.

Every table fits the width it is printed at. When its columns fit, it is a table in which no name,
number or path is cut (long headers wrap onto a second line instead); when they do not, it is one
block per row: the row's name, and under it its other cells as "header: value" pairs, as many to a
line as fit.
"""

from __future__ import annotations

from collections.abc import Collection, Iterable, Sequence
from dataclasses import dataclass
from typing import Protocol

from rich.cells import cell_len
from rich.console import Console, ConsoleOptions, Group, RenderableType, RenderResult
from rich.measure import Measurement
from rich.padding import Padding
from rich.table import Table
from rich.text import Text

from featvslearn import reports
from featvslearn.reports import TableContent
from featvslearn.results import Results


class DatasetAvailability(Protocol):
    """What the datasets table shows of one dataset."""

    name: str
    available_offline: bool
    location: str | None
    note: str


class DatasetDownload(Protocol):
    """What the downloads table shows of one dataset."""

    name: str
    home: str | None
    download_from: str | None
    files: tuple[str, ...]
    place: str | None

    @property
    def download_size(self) -> str | None: ...


BEST_STYLE = "bold green"
"""How the best accuracy stands out, in the table and in the blocks."""
PROSE_MIN_WIDTH = 24
"""A column of prose (the datasets' notes) wraps at spaces, but not narrower than this."""


def _longest_word(text: str) -> int:
    return max((cell_len(word) for word in text.split()), default=0)


def _cell(content: TableContent, row: int, column: int) -> Text:
    """One cell as text (never read as markup), the best accuracy in :data:`BEST_STYLE`."""
    text = Text(content.rows[row][column])
    if (row, column) in content.best:
        text.stylize(BEST_STYLE)  # the characters only, not the padding that aligns them
    return text


def table_overhead(columns: int) -> int:
    """The terminal columns a Rich table with ``columns`` columns spends on borders and padding."""
    return 3 * columns + 1


def column_widths(content: TableContent, width: int | None = None,
                  prose_columns: Collection[int] = ()) -> list[int] | None:
    """The width of each column of ``content`` (without padding) in a table at most ``width`` terminal
    columns wide (any width when None), or None when no table that narrow shows every cell whole.

    A column is as wide as its longest cell or header. When that is too wide, headers wrap at their
    spaces, those that save the most first; cells never wrap, except those of ``prose_columns``,
    which wrap at spaces down to :data:`PROSE_MIN_WIDTH` (or their longest line, if less).
    """
    natural, least = [], []
    for column, header in enumerate(content.headers):
        longest = max((cell_len(row[column]) for row in content.rows), default=0)
        full = max(longest, cell_len(header))
        natural.append(full)
        if column in prose_columns:
            least.append(min(full, max(PROSE_MIN_WIDTH, _longest_word(header))))
        else:
            least.append(max(longest, _longest_word(header), 1))
    if width is None:
        return natural
    room = width - table_overhead(len(natural))
    if sum(least) > room:
        return None
    excess = sum(natural) - room
    widths = list(natural)
    for column in sorted(range(len(widths)), key=lambda c: natural[c] - least[c], reverse=True):
        if excess <= 0:
            break
        cut = min(excess, natural[column] - least[column])
        widths[column] -= cut
        excess -= cut
    return widths


def rich_table(content: TableContent, widths: Sequence[int] | None = None,
               prose_columns: Collection[int] = ()) -> Table:
    """A Rich table of ``content``: text columns on the left, numbers on the right, the best accuracy
    in bold green, and the caption (if any) under it.

    ``widths``: each column's width without padding (from :func:`column_widths`; by default each
    column's longest cell or header). Cells no longer than their column stay on one line; longer
    headers and ``prose_columns`` cells wrap at spaces, and a word longer than its column folds
    onto the next line rather than being cut.
    """
    widths = list(widths) if widths is not None else column_widths(content, prose_columns=prose_columns)
    assert widths is not None
    table = Table(title=content.title, caption=content.caption or None)
    for index, header in enumerate(content.headers):
        table.add_column(header, justify="left" if index < content.text_columns else "right",
                         width=widths[index], overflow="fold")
    for row_index, row in enumerate(content.rows):
        table.add_row(*(_cell(content, row_index, column) for column in range(len(row))))
    return table


BLOCK_INDENT = 2
"""How far a block's "header: value" lines sit in from its heading."""
BLOCK_SEPARATOR = " · "
"""What stands between the "header: value" pairs that share a line of a block."""


def _pair(content: TableContent, row: int, column: int) -> Text:
    """One cell of a block: "header: value", the best accuracy in :data:`BEST_STYLE`."""
    return Text.assemble(f"{content.headers[column]}: ", _cell(content, row, column))


def block_lines(pair_widths: Sequence[int], room: int) -> list[list[int]]:
    """Which pairs share each line of a block: the indices of ``pair_widths`` in order, as many to a
    line as fit in ``room`` terminal columns with :data:`BLOCK_SEPARATOR` between them; a pair wider
    than ``room`` has a line of its own (and wraps there)."""
    gap = cell_len(BLOCK_SEPARATOR)
    lines: list[list[int]] = []
    used = 0
    for index, width in enumerate(pair_widths):
        if lines and used + gap + width <= room:
            lines[-1].append(index)
            used += gap + width
        else:
            lines.append([index])
            used = width
    return lines


def blocks(content: TableContent, width: int) -> Group:
    """``content`` one block per row, for a terminal ``width`` columns wide, too narrow for its table:
    the title; per row its first cell (or, when that is a number, "header: cell") and under it the
    other cells as "header: value" pairs, as many to a line as fit; the caption last.

    Every block breaks its pairs into lines at the same places, each pair as wide as its widest in any
    row, so the pairs line up from block to block. The best accuracy is in bold green. Nothing is cut:
    a pair wider than the line has a line of its own, where it wraps at its spaces, and a word longer
    than the line folds onto the next."""
    parts: list[RenderableType] = []
    if content.title:
        parts.append(Text(content.title, style="table.title", overflow="fold"))
    rows = [(index, row) for index, row in enumerate(content.rows) if row]
    columns = range(1, len(content.headers))
    pair_widths = [max((cell_len(f"{content.headers[c]}: {row[c]}") for _, row in rows), default=0) for c in columns]
    layout = block_lines(pair_widths, max(width - BLOCK_INDENT, 1))
    for row_index, row in rows:
        heading = row[0] if content.text_columns else f"{content.headers[0]}: {row[0]}"
        lines = []
        for line in layout:
            pairs = [_pair(content, row_index, columns[i]) for i in line]
            for i, pair in zip(line[:-1], pairs, strict=False):  # the last pair of a line needs no padding
                pair.pad_right(pair_widths[i] - pair.cell_len)
            lines.append(Text(BLOCK_SEPARATOR, overflow="fold").join(pairs))
        parts += [Text(heading, style="bold", overflow="fold"),
                  Padding(Group(*lines), (0, 0, 0, BLOCK_INDENT), expand=False)]
    if content.caption:
        parts.append(Text(content.caption, style="table.caption", overflow="fold"))
    return Group(*parts)


def render_table(content: TableContent, width: int, prose_columns: Collection[int] = ()) -> RenderableType:
    """``content`` laid out for a terminal ``width`` columns wide: the table when every cell fits whole
    (see :func:`column_widths`), otherwise :func:`blocks`."""
    widths = column_widths(content, width, prose_columns)
    if widths is None:
        return blocks(content, width)
    return rich_table(content, widths, prose_columns)


@dataclass(frozen=True)
class FittedTable:
    """``content`` as a Rich renderable that picks its layout (:func:`render_table`) from the width
    it is printed at; ``prose_columns`` are those whose cells may wrap at spaces."""

    content: TableContent
    prose_columns: frozenset[int] = frozenset()

    def __rich_console__(self, console: Console, options: ConsoleOptions) -> RenderResult:
        yield render_table(self.content, options.max_width, self.prose_columns)

    def __rich_measure__(self, console: Console, options: ConsoleOptions) -> Measurement:
        return Measurement.get(console, options, render_table(self.content, options.max_width, self.prose_columns))


def results_table(results: Results) -> FittedTable:
    """The terminal table of compare, scaling or ablate results, fitted to the console it is printed on."""
    return FittedTable(reports.table(results))


DATASET_HEADERS = ["name", "offline", "where", "note"]


def datasets_table(datasets: Iterable[DatasetAvailability]) -> FittedTable:
    """The datasets, whether each is available offline here, where, and a note, fitted to the console
    it is printed on: paths are never cut, notes wrap."""
    rows = [[item.name, "yes" if item.available_offline else "no", item.location or "–", item.note]
            for item in datasets]
    content = TableContent(title="datasets", headers=list(DATASET_HEADERS), rows=rows,
                           text_columns=len(DATASET_HEADERS))
    return FittedTable(content, prose_columns=frozenset({DATASET_HEADERS.index("note")}))


DOWNLOAD_HEADERS = ["name", "size", "home", "from", "files", "put in"]
DOWNLOADS_CAPTION = ("Offline: fetch each file (its address: from + file name) on a machine with a network and "
                     "put it, as it is, in a folder DIR passed as --data-dir DIR (make ... DATA_DIR=DIR), "
                     "or in the cache folder shown.")


def downloads_table(datasets: Iterable[DatasetDownload]) -> FittedTable:
    """The datasets that are downloaded: size, home page, the address the files come from, the files,
    and where to put them for offline use; fitted to the console it is printed on."""
    rows = [[item.name, item.download_size or "–", item.home or "–", item.download_from or "–",
             " ".join(item.files), item.place or "–"] for item in datasets if item.download_from]
    content = TableContent(title="downloads", headers=list(DOWNLOAD_HEADERS), rows=rows,
                           text_columns=len(DOWNLOAD_HEADERS), caption=DOWNLOADS_CAPTION)
    prose = {DOWNLOAD_HEADERS.index("files"), DOWNLOAD_HEADERS.index("put in")}
    return FittedTable(content, prose_columns=frozenset(prose))
