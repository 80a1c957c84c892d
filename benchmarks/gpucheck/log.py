"""The check's log (every line printed at once and kept in a file), its progress lines and its deadline."""

from __future__ import annotations

import time
from pathlib import Path


class OutOfTime(Exception):
    """The --max-minutes limit passed while a step ran."""


def stop_if_past(deadline: float) -> None:
    """Raise :class:`OutOfTime` once the monotonic clock has passed ``deadline`` (seconds)."""
    if time.monotonic() > deadline:
        raise OutOfTime("the --max-minutes limit was reached")


def one_line(exc: BaseException) -> str:
    """An exception as one line: its type and its message with whitespace collapsed."""
    return f"{type(exc).__name__}: {' '.join(str(exc).split())}"[:600]


class Log:
    """Prints each line at once (flushed) and appends it to the log file, stamped with the seconds since start."""

    def __init__(self, path: Path, start: float) -> None:
        """Open (truncate) the log file at ``path``; ``start`` is the monotonic time the stamps count from."""
        self.file = path.open("w", encoding="utf-8")
        self.start = start

    def say(self, text: str = "") -> None:
        """Print and keep ``text``, one stamped line per line of it."""
        for line in text.splitlines() or [""]:
            stamped = f"[{time.monotonic() - self.start:6.1f}s] {line}"
            print(stamped, flush=True)
            self.file.write(stamped + "\n")
        self.file.flush()

    def close(self) -> None:
        """Close the log file."""
        self.file.close()


class ProgressLines:
    """The library's progress callbacks as log lines, and the --max-minutes guard.

    A task gets a line when it starts, when its text changes (at most one a second) and when it
    completes, and every 15 s otherwise. Past ``deadline`` (monotonic seconds) the next callback
    raises :class:`OutOfTime`, which ends the running step.
    """

    def __init__(self, log: Log, deadline: float) -> None:
        """Write to ``log``; stop the step past ``deadline``."""
        self.log = log
        self.deadline = deadline
        self.last: dict[str, tuple[float, str, bool]] = {}

    def __call__(self, key: str, description: str, completed: float, total: float | None) -> None:
        """One progress report of task ``key``: ``completed`` of ``total`` (None: unknown), described."""
        stop_if_past(self.deadline)
        now = time.monotonic()
        done = total is not None and total > 0 and completed >= total
        previous = self.last.get(key)
        if previous is not None:
            when, text, was_done = previous
            changed = text != description and now - when >= 1.0
            if not (changed or (done and not was_done) or now - when >= 15.0):
                return
        count = f" ({completed:,.0f}/{total:,.0f})" if total else ""
        self.log.say(f"    {description}{count}")
        self.last[key] = (now, description, done)
