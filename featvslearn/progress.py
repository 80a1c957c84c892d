"""Progress callbacks: how the library reports long steps without printing.

Every long step calls a :class:`Progress` callback with a task key, a description and the work
done so far; the CLI shows them as Rich bars, a notebook may ignore them.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Protocol


class Progress(Protocol):
    """Receives progress: a task key, its description, work done and total (None: unknown)."""

    def __call__(self, key: str, description: str, completed: float, total: float | None) -> None: ...


def no_progress(key: str, description: str, completed: float, total: float | None) -> None:
    """A progress callback that ignores everything."""


def bar(progress: Progress, key: str, description: str) -> Callable[[int, int], None]:
    """A ``(done, total)`` callback that forwards to ``progress`` under one key."""
    return lambda done, total: progress(key, description, done, total)
