"""Progress callbacks: how the library reports long steps without printing.

Every long step calls a :class:`Progress` callback with a task key, a description and the work
done so far; the CLI shows them as Rich bars, a notebook may ignore them.

A sweep (``scaling``, ``ablate``) runs the same stages many times under the same keys, so a key
reported again after its stage finished, or with less work done than before, starts a new stage.
The sweep itself reports under a key of :data:`SWEEP_KEYS`: runs finished out of runs planned.
Descriptions write counts with thousands separators (``f"{n:,}"``), like the tables.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Protocol

SWEEP_KEYS: frozenset[str] = frozenset({"scaling", "ablate"})
"""Keys under which a sweep reports its overall task: runs finished out of runs planned.

A display may estimate the time left from them, and put a finished run's stage tasks away when the
sweep reports the run finished (the next run reports its stages under the same keys).
"""


class Progress(Protocol):
    """Receives progress: a task key, its description, work done and total (None: unknown)."""

    def __call__(self, key: str, description: str, completed: float, total: float | None) -> None: ...


def no_progress(key: str, description: str, completed: float, total: float | None) -> None:
    """A progress callback that ignores everything."""


def bar(progress: Progress, key: str, description: str) -> Callable[[int, int], None]:
    """A ``(done, total)`` callback that forwards to ``progress`` under one key."""
    return lambda done, total: progress(key, description, done, total)
