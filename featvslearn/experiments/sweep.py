"""Carrying out a sweep's planned runs: reuse those in the run log, execute the rest, log each as it finishes.

``scaling`` and ``ablate`` plan their work as a list of :class:`~featvslearn.executors.Task` and a
module-level ``work(task, shared) -> record``; :func:`run_sweep` hands the runs not already in the
run log to an executor, appends each record to the log the moment it arrives, and returns every
run's outcome in plan order, whatever order the runs finished in. Records stay typed results in this
process; JSON is only the log's: ``encode`` writes a record there and ``parse`` (the results'
pydantic types) reads a logged one back, so a resumed sweep is assembled from the same types as an
uninterrupted one.

:class:`InProcessCallbacks` is for a sweep's ``shared`` data: its callbacks (progress bars, a
run's steps) reach the caller when the executor runs the work in this process, and are left behind
when ``shared`` is pickled for workers elsewhere.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping, Sequence
from typing import Any, TypeVar

from featvslearn.executors import Executor, LocalExecutor, RunFailure, Task, Work
from featvslearn.experiments.runlog import RunLog
from featvslearn.progress import no_progress

S = TypeVar("S")
R = TypeVar("R")

IN_PROCESS_ONLY = {"progress": no_progress, "on_step": None}
"""The fields of a sweep's shared data that stay in this process, and what a worker elsewhere gets instead."""


class InProcessCallbacks:
    """Mixin for a sweep's frozen ``shared`` dataclass with ``progress`` and ``on_step`` callbacks.

    Pickled (for Ray workers), the callbacks become :func:`~featvslearn.progress.no_progress` and
    None: they belong to this process (a Rich display cannot travel), and a worker reports nothing.
    """

    def __getstate__(self) -> dict[str, Any]:
        state = dict(self.__dict__)
        state.update({name: value for name, value in IN_PROCESS_ONLY.items() if name in state})
        return state

    def __setstate__(self, state: dict[str, Any]) -> None:
        for name, value in state.items():
            object.__setattr__(self, name, value)  # the dataclass is frozen


def executor_settings(executor: Executor | None) -> dict[str, Any]:
    """What a sweep's results record of where its runs went: the executor's name and, for Ray, the
    seconds it took to start or join the cluster (0 when this process had already joined one)."""
    settings: dict[str, Any] = {"executor": executor.name if executor is not None else "local"}
    startup = getattr(executor, "startup_seconds", None)
    if startup is not None:
        settings["executor_startup_seconds"] = round(float(startup), 3)
    return settings


def run_sweep(work: Work[S], tasks: Sequence[Task], shared: S, parse: Callable[[dict[str, Any]], R],
              encode: Callable[[R], dict[str, Any]], identity: Mapping[str, Any], executor: Executor | None = None,
              log: RunLog | None = None, on_start: Callable[[int], None] | None = None,
              on_outcome: Callable[[Task, R | RunFailure], None] | None = None,
              ) -> list[tuple[Task, R | RunFailure]]:
    """Every task's outcome, in plan order: its record (what ``work`` returns), or a :class:`RunFailure`.

    With ``log``, it is opened with the sweep's ``identity``: runs it already holds (on
    ``--resume``) are not run again but read back with ``parse(logged)`` (a ``ValueError``,
    pydantic's included, if it cannot: that run is done again), and each new record is appended as
    ``encode(record)`` the moment it arrives. The others go to ``executor`` (default:
    :class:`LocalExecutor`, in this process, in plan order). ``on_start(reused)`` is called once the
    runs reused from the log are known (with their number), before any run starts;
    ``on_outcome(task, outcome)`` as each run finishes. A failed run is not logged (``--resume``
    tries it again), and the others go on; an exception from the executor (Ctrl-C, an error in a
    local run) leaves the finished runs in the log.
    """
    by_key = {task.key_text: task for task in tasks}
    if len(by_key) != len(tasks):
        raise ValueError("every task of a sweep needs a key of its own")
    outcomes: dict[str, R | RunFailure] = {}
    logged = log.open(identity) if log is not None else {}
    for task in tasks:
        if task.key_text in logged:
            try:
                outcomes[task.key_text] = parse(logged[task.key_text])
            except ValueError:
                continue  # a record this version cannot read: the run is done again
    if log is not None:
        log.resumed = len(outcomes)
    if on_start is not None:
        on_start(len(outcomes))
    todo = [task for task in tasks if task.key_text not in outcomes]
    if todo:
        finished = (executor or LocalExecutor()).run(work, todo, shared)
        try:
            for task, outcome in finished:
                if not isinstance(outcome, RunFailure) and log is not None:
                    log.append(task, encode(outcome))
                outcomes[task.key_text] = outcome
                if on_outcome is not None:
                    on_outcome(task, outcome)
        finally:
            close = getattr(finished, "close", None)
            if close is not None:
                close()
    missing = "the executor gave no result for this run"
    return [(task, outcomes[task.key_text] if task.key_text in outcomes else RunFailure(task, missing))
            for task in tasks]


def failures(outcomes: Sequence[tuple[Task, Any]]) -> list[RunFailure]:
    """The failed runs among ``outcomes``, in plan order."""
    return [outcome for _, outcome in outcomes if isinstance(outcome, RunFailure)]


def failed_runs_setting(outcomes: Sequence[tuple[Task, Any]]) -> list[dict[str, Any]]:
    """The failed runs as a results file's ``settings["failed_runs"]``: [{"run": key, "label", "error"}]."""
    return [{"run": dict(f.task.key), "label": f.task.label, "error": f.error} for f in failures(outcomes)]
