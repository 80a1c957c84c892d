"""The experiment's progress callbacks as Rich progress bars on stderr.

One row per task key: spinner, description, bar, work done, elapsed time; a sweep's overall row
(a key of :data:`featvslearn.progress.SWEEP_KEYS`) also shows the time left. The rows are laid
out to fit the console's width, one column short of it, so a live redraw never wraps a line.
"""

from __future__ import annotations

import contextlib
import warnings
from collections.abc import Callable, Iterable, Iterator
from typing import Literal

from rich.console import Console, ConsoleOptions, RenderableType, RenderResult
from rich.markup import escape
from rich.measure import Measurement
from rich.progress import (
    BarColumn,
    Progress,
    ProgressColumn,
    SpinnerColumn,
    Task,
    TaskID,
    TextColumn,
    TimeElapsedColumn,
    TimeRemainingColumn,
)
from rich.table import Column, Table
from rich.text import Text

from featvslearn.progress import SWEEP_KEYS

BAR_WIDTH = 24
"""The widest a bar gets. On a narrow console the bar shrinks, down to ``MIN_BAR_WIDTH``, to leave
``DESCRIPTION_WIDTH`` columns to the description; only then is a description cut."""
MIN_BAR_WIDTH = 8
DESCRIPTION_WIDTH = 40
MIN_DESCRIPTION_WIDTH = 12


class CountColumn(ProgressColumn):
    """Work done out of the total, with thousands separators: ``1,024/1,347``; blank while unknown."""

    def render(self, task: Task) -> Text:
        if task.total is None:
            return Text("")
        total = f"{int(task.total):,}"
        return Text(f"{int(task.completed):>{len(total)},}/{total}", style="progress.download")


class LeftColumn(TimeRemainingColumn):
    """The time a sweep has left, ``0:03:10 left``, from its average time per finished run.

    Blank on the rows of single stages. Runs of a sweep take minutes, so the average over the
    whole sweep estimates better than the recent speed Rich's own column uses. Runs already done
    when the row appeared (reused from a run log) took none of its time, so they are not averaged.
    """

    def render(self, task: Task) -> Text:
        if not task.fields.get("sweep"):
            return Text("")
        if task.total is None:
            return Text("")
        if task.finished:
            return Text("done", style="progress.remaining")
        elapsed = task.elapsed
        timed = task.completed - task.fields.get("done_before", 0)
        if timed <= 0 or elapsed is None:
            return Text("-:--:-- left", style="progress.remaining")
        seconds = int(elapsed / timed * (task.total - task.completed))
        minutes, seconds = divmod(seconds, 60)
        hours, minutes = divmod(minutes, 60)
        return Text(f"{hours:d}:{minutes:02d}:{seconds:02d} left", style="progress.remaining")


class FittedProgress(Progress):
    """Rich progress rows that fit the console: descriptions cut with an ellipsis, a narrower bar.

    Every row is at most one column narrower than the console, so the terminal never wraps a line
    of the live display (a wrapped line makes the redraw repeat the block in the scrollback).
    """

    def __init__(self, console: Console, get_time: Callable[[], float] | None = None) -> None:
        self.description = TextColumn("{task.description}", markup=False, style="progress.description",
                                      table_column=Column(no_wrap=True, overflow="ellipsis"))
        self.bar = BarColumn(bar_width=BAR_WIDTH)
        self.left = LeftColumn()
        self.spinner = SpinnerColumn()
        self.elapsed = TimeElapsedColumn()
        self._widest: dict[ProgressColumn, int] = {}
        super().__init__(self.spinner, self.description, self.bar, CountColumn(table_column=Column(justify="right")),
                         self.elapsed, self.left, console=console, transient=False, get_time=get_time)

    def get_renderables(self) -> Iterable[RenderableType]:
        yield _Fitted(self, self.tasks)

    def fitted_table(self, tasks: Iterable[Task], console: Console, options: ConsoleOptions) -> Table:
        """The rows of ``tasks`` laid out for ``options.max_width`` columns, less one."""
        visible = [task for task in tasks if task.visible]
        columns = [column for column in self.columns if isinstance(column, ProgressColumn)
                   and (column is not self.left or any(task.fields.get("sweep") for task in visible))]
        widths: dict[ProgressColumn, int] = {}
        for column in columns:
            if column is self.bar:
                continue
            if column is self.description:
                seen = max((Text(task.description).cell_len for task in visible), default=0)
            else:
                seen = max((Measurement.get(console, options, column(task)).maximum for task in visible),
                           default=0)
            # columns only widen during a run, so the bars do not jump left and right between redraws
            widths[column] = self._widest[column] = max(self._widest.get(column, 0), seen)

        def room() -> int:  # what the bar and the description share; one space between columns
            fixed = sum(width for column, width in widths.items() if column is not self.description)
            return max(options.max_width - 1, 1) - fixed - (len(columns) - 1)

        # a console too narrow for the whole row loses the bar, then the time left, elapsed, spinner
        for dropped in (self.bar, self.left, self.elapsed, self.spinner):
            if room() - (MIN_BAR_WIDTH if self.bar in columns else 0) >= MIN_DESCRIPTION_WIDTH:
                break
            if dropped in columns:
                columns.remove(dropped)
                widths.pop(dropped, None)
        bar = min(BAR_WIDTH, max(MIN_BAR_WIDTH, room() - DESCRIPTION_WIDTH)) if self.bar in columns else 0
        self.bar.bar_width = max(1, bar)
        widths[self.description] = max(1, min(widths[self.description], room() - bar))
        table_columns = []
        for column in columns:
            table_column = column.get_table_column().copy()
            if widths.get(column):
                table_column.width = widths[column]
            table_columns.append(table_column)
        table = Table.grid(*table_columns, padding=(0, 1), expand=False)
        for task in visible:
            table.add_row(*(column(task) for column in columns))
        return table

    def stop(self) -> None:
        if self.live.transient:
            self.live.stop()  # without the blank line Rich adds below a kept display on a non-terminal
        else:
            super().stop()


class _Fitted:
    """The progress rows, laid out when they are drawn, for the width they are drawn at."""

    def __init__(self, progress: FittedProgress, tasks: list[Task]) -> None:
        self.progress = progress
        self.tasks = tasks

    def __rich_console__(self, console: Console, options: ConsoleOptions) -> RenderResult:
        yield self.progress.fitted_table(self.tasks, console, options)


class RichProgress:
    """Shows the experiment's progress callbacks as Rich progress bars, one per task key.

    A key reported again after its stage finished, or with less work done, starts a new stage: a
    fresh row with its own clock. When a sweep (a key of ``SWEEP_KEYS``) reports a run finished,
    the rows of that run's stages are put away; the next run's stages show fresh rows.
    """

    def __init__(self, progress: Progress) -> None:
        self.progress = progress
        self.tasks: dict[str, TaskID] = {}
        self._last: dict[str, tuple[float, float | None]] = {}
        self._put_away: set[str] = set()
        self._before_sweep: set[str] | None = None
        self._runs_done = 0.0

    def __call__(self, key: str, description: str, completed: float, total: float | None) -> None:
        sweep = key in SWEEP_KEYS
        task = self.tasks.get(key)
        if task is not None and self._new_stage(key, completed, total):
            self.progress.remove_task(task)
            task = None
        if task is None:
            task = self.tasks[key] = self.progress.add_task(description, total=total, sweep=sweep,
                                                            done_before=completed if sweep else 0)
            self._put_away.discard(key)
            if sweep and self._before_sweep is None:
                self._before_sweep = set(self.tasks)
        # through update even for a new task: only update marks a task finished (its clock stops)
        self.progress.update(task, description=description, completed=completed, total=total)
        self._last[key] = (completed, total)
        if sweep and completed > self._runs_done:
            self._runs_done = completed
            self._put_away_run()

    def _new_stage(self, key: str, completed: float, total: float | None) -> bool:
        """Whether this report on a known key starts a new stage rather than continuing the last one.

        A report that finishes the stage (``1/1`` after an iteration count, say) always continues it.
        """
        if key in self._put_away:
            return True
        if total is not None and completed >= total:
            return False
        last_completed, last_total = self._last[key]
        return completed < last_completed or (last_total is not None and last_completed >= last_total)

    def _put_away_run(self) -> None:
        """Hide the rows of the run a sweep just finished (not the sweep's, nor those from before it)."""
        kept = self._before_sweep or set()
        for key, task in self.tasks.items():
            if key not in kept and key not in SWEEP_KEYS:
                self.progress.update(task, visible=False)
                self._put_away.add(key)

    def drop_unfinished(self) -> None:
        """Hide every row whose stage has not finished: used when the work stopped on an error."""
        for task in self.progress.tasks:
            if not task.finished:
                self.progress.update(task.id, visible=False)


def _progress_bars(console: Console | None = None, get_time: Callable[[], float] | None = None) -> Progress:
    """The progress display, on the CLI's stderr console unless given another."""
    if console is None:
        from featvslearn.cli import err  # the CLI module imports this one

        console = err
    return FittedProgress(console, get_time=get_time)


@contextlib.contextmanager
def _live_progress(warning_action: Literal["always", "once"] = "always", console: Console | None = None,
                   get_time: Callable[[], float] | None = None) -> Iterator[RichProgress]:
    """Rich progress bars on stderr for the callbacks, with library warnings printed above them.

    ``warning_action`` is the filter for ``UserWarning``: ``always``, or ``once`` for runs that
    repeat the same step many times. When an exception (a user error, Ctrl-C) leaves the block, the
    display stops first and keeps only the rows of finished stages, so the error line that follows
    has no spinner or half-drawn bar above it.
    """
    bars = _progress_bars(console, get_time)
    progress = RichProgress(bars)
    with bars, warnings.catch_warnings():
        warnings.simplefilter(warning_action, UserWarning)
        warnings.showwarning = lambda message, *args, **kwargs: bars.console.print(
            f"[yellow]warning:[/] {escape(str(message))}", highlight=False)
        try:
            yield progress
        except BaseException:
            progress.drop_unfinished()
            if not any(task.visible for task in bars.tasks):
                bars.live.transient = True  # nothing worth keeping: clear the display entirely
            raise
