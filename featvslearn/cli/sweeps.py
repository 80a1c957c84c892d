"""The command line's side of a sweep (``scaling``, ``ablate``): its run log, its executor, what Ctrl-C keeps."""

from __future__ import annotations

import contextlib
import os
from collections.abc import Iterator
from pathlib import Path

from rich.console import Console
from rich.markup import escape

from featvslearn.errors import UserError
from featvslearn.executors import Executor, make_executor
from featvslearn.experiments.config import SweepOptions
from featvslearn.experiments.runlog import RunLog, log_path, previous_path


class SweepInterrupted(KeyboardInterrupt):
    """Ctrl-C during a sweep that kept finished runs in its log; the message says where and how to go on."""


def sweep_log(config: SweepOptions, kind: str, folder: Path | None = None) -> RunLog:
    """The run log of a ``kind`` sweep of ``config``: beside ``--json``, else in ``folder`` (the current one).

    A folder that cannot be written is a ``UserError``, before any work.
    """
    path = log_path(kind, config.dataset, config.json_path, folder)
    parent = path.parent
    if not os.access(parent, os.W_OK | os.X_OK) or (path.exists() and not os.access(path, os.W_OK)):
        fix = "choose another --json folder" if config.json_path else "pass --json PATH in a folder you can write"
        raise UserError(f"cannot write the run log {path}; {fix}")
    return RunLog(path, resume=config.resume)


def announce(log: RunLog, console: Console) -> None:
    """Say where the runs are logged (and what becomes of an earlier log there) before the work starts."""
    path = escape(str(log.path))
    if log.resume:
        console.print(f"runs are logged to {path}; the runs it already holds are reused", highlight=False)
        return
    console.print(f"runs are logged to {path}; after an interruption, add --resume", highlight=False)
    if log.path.exists():
        console.print(f"[yellow]note:[/] {path} holds the runs of an earlier sweep; this one starts afresh and "
                      f"moves it to {escape(str(previous_path(log.path)))} when its first run finishes (to go on "
                      "with those runs instead, add --resume)", highlight=False)


@contextlib.contextmanager
def sweep_executor(config: SweepOptions) -> Iterator[Executor]:
    """The executor ``config`` names, closed (its runs cancelled, its connection released) on the way out."""
    executor = make_executor(config.executor, config.resources(), config.ray_address)
    try:
        yield executor
    finally:
        executor.close()


@contextlib.contextmanager
def keeps_finished_runs(log: RunLog, runs_per_entry: int = 1) -> Iterator[None]:
    """Turn Ctrl-C (and a user error) in a sweep into a message naming the runs its log kept and how to go on.

    ``runs_per_entry``: the runs one line of the log holds (a scaling line holds every pipeline's).
    Nothing is added when the log kept no run.
    """
    try:
        yield
    except KeyboardInterrupt:
        if not log.kept:
            raise
        raise SweepInterrupted(f"{_runs(log.kept * runs_per_entry)} kept in {log.path}; run the same command with "
                               "--resume to go on") from None
    except UserError as exc:
        if not log.kept:
            raise
        raise UserError(f"{exc} ({_runs(log.kept * runs_per_entry)} kept in {log.path}: once that is fixed, "
                        "the same command with --resume goes on from them)") from None


def _runs(count: int) -> str:
    return "1 finished run is" if count == 1 else f"{count:,} finished runs are"


@contextlib.contextmanager
def running_sweep(config: SweepOptions, kind: str, console: Console, runs_per_entry: int = 1
                  ) -> Iterator[tuple[RunLog, Executor]]:
    """Everything a ``kind`` sweep command does around its runs: open and announce the run log on
    ``console``, start the executor and close it on the way out, and turn Ctrl-C into the message
    naming the runs kept (see :func:`keeps_finished_runs`). Yields the log and the executor."""
    log = sweep_log(config, kind)
    announce(log, console)
    with keeps_finished_runs(log, runs_per_entry), sweep_executor(config) as executor:
        yield log, executor
