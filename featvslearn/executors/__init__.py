"""Executors: where the independent runs of a sweep (``scaling``, ``ablate``) are carried out.

A sweep plans its work as a list of :class:`Task` values, each one independent run (a training-set
size and seed, or an ablation variant) that a plain function turns into a typed record:
``work(task, shared) -> record``. ``shared`` is what every run needs and no run changes (the loaded
dataset and the settings): an executor sends it to the workers once, not once per task.

- :class:`LocalExecutor` runs the tasks one after another in this process, in plan order, as
  ``scaling`` and ``ablate`` always did; an exception in a run stops the sweep.
- ``RayExecutor`` (``featvslearn.executors.ray``; needs ``pip install 'featvslearn[ray]'``) sends
  each task to a Ray cluster, with the CPUs or the (fraction of a) GPU each run asks for, and
  yields results as runs finish; a failed run is retried once, then reported as a
  :class:`RunFailure` while the others go on.

Both yield ``(task, outcome)`` pairs as runs finish, so a caller can log each at once.
"""

from __future__ import annotations

import json
from collections.abc import Callable, Iterable, Iterator, Mapping
from dataclasses import dataclass, field
from typing import Any, Protocol, TypeVar

from featvslearn.errors import UserError

S = TypeVar("S")
R = TypeVar("R")

EXECUTORS = ("local", "ray")
"""The ``--executor`` choices."""


@dataclass(frozen=True)
class Task:
    """One independent run of a sweep.

    ``key`` names the run within its sweep in plain JSON values ({"size": 300, "seed": 1} or
    {"variant": "relu-bn"}); ``label`` says it to a person ("size 300, seed 1"); ``uses_gpu``
    says whether the run trains on a GPU (so an executor asks for one).
    """

    key: Mapping[str, Any]
    label: str
    uses_gpu: bool = False

    @property
    def key_text(self) -> str:
        """``key`` as canonical JSON (sorted keys): the run's identity in a run log."""
        return key_text(self.key)


def key_text(key: Mapping[str, Any]) -> str:
    """A run key as canonical JSON (sorted keys, no spaces): how a task and its run log line are matched."""
    return json.dumps(dict(key), sort_keys=True, separators=(",", ":"))


@dataclass(frozen=True)
class RunFailure:
    """A run that failed (after its retry, on Ray): its task and the error, in one line."""

    task: Task
    error: str


@dataclass(frozen=True)
class Resources:
    """What each run asks an executor for: CPUs (None: all of this machine's) and GPUs (a fraction
    such as 0.25 lets four small runs share one GPU)."""

    cpus_per_run: float | None = None
    gpus_per_run: float = 1.0


Outcome = tuple[Task, Any]
"""What an executor yields per finished run: the task and its record, or a :class:`RunFailure`."""

Work = Callable[[Task, S], Any]
"""A run: ``(task, shared) -> record``, a typed result (picklable, so it can come back from another
process). It must be a module-level function, so that it can be sent to other processes."""


class Executor(Protocol):
    """Carries out the runs of a sweep and yields each ``(task, record or RunFailure)`` as it finishes."""

    name: str

    def run(self, work: Work[S], tasks: Iterable[Task], shared: S) -> Iterator[Outcome]:
        ...

    def close(self) -> None:
        """Release what the executor holds (a Ray connection); cancels runs still outstanding."""


@dataclass
class LocalExecutor:
    """Runs each task in this process, one after another in plan order; exceptions propagate."""

    name: str = field(default="local", init=False)

    def run(self, work: Work[S], tasks: Iterable[Task], shared: S) -> Iterator[Outcome]:
        for task in tasks:
            yield task, work(task, shared)

    def close(self) -> None:
        """Nothing to release."""


def make_executor(name: str, resources: Resources = Resources(), address: str | None = None) -> Executor:
    """The executor called ``name`` (one of :data:`EXECUTORS`).

    ``address`` is the Ray cluster to join (``--ray-address``; default ``RAY_ADDRESS``, else a local
    Ray started with this machine's CPUs and GPUs). Raises ``UserError`` for an unknown name or when
    Ray is asked for but not installed.
    """
    if name == "local":
        return LocalExecutor()
    if name == "ray":
        from featvslearn.executors.ray import RayExecutor

        return RayExecutor(resources=resources, address=address)
    raise UserError(f"--executor {name!r} is not known; use {' or '.join(EXECUTORS)}")
