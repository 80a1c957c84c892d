"""The run log of a sweep: each finished run on a line of its own, so that an interrupted sweep can go on.

A sweep (``scaling``, ``ablate``) appends every run the moment it finishes to a JSON Lines file,
``OUT.runs.jsonl`` beside the ``--json`` OUT (:func:`log_path`), one object a line::

    {"sweep": {"kind": "scaling", "dataset": "digits", ...}, "run": {"size": 300, "seed": 1}, "record": {...}}

``sweep`` is the sweep's identity: its kind, its dataset and every setting that changes a run's
result; ``run`` is the run's key within the sweep (:attr:`featvslearn.executors.Task.key`) and
``record`` what the run produced. Each line is flushed and synced to disk before the sweep goes on,
so a sweep stopped at any moment (Ctrl-C, a lost machine) keeps every run that finished; at
worst its last line is torn, and reading ignores it.

A sweep started with ``resume`` reuses the records of the runs already in the log, matched by
identity and key (not by position), and runs only the others; lines of another identity (other
settings) are never reused. Without ``resume``, an existing log is started afresh: it is moved
aside (:func:`previous_path`) when the first run of the new sweep finishes, so a sweep stopped
before then leaves it as it was.
"""

from __future__ import annotations

import json
import os
import re
import warnings
from collections.abc import Mapping
from pathlib import Path
from typing import Any

from featvslearn.errors import UserError
from featvslearn.executors import Task, key_text

LOG_SUFFIX = ".runs.jsonl"
"""What a run log's name ends in: ``scaling.json`` logs its runs to ``scaling.runs.jsonl``."""
PREVIOUS_SUFFIX = ".runs.previous.jsonl"
"""Where a log started afresh is moved: ``scaling.runs.jsonl`` → ``scaling.runs.previous.jsonl``."""


def log_path(kind: str, dataset: str, json_path: Path | None = None, folder: Path | None = None) -> Path:
    """Where a sweep of ``kind`` logs its runs: beside ``json_path`` (``results/scaling.json`` →
    ``results/scaling.runs.jsonl``), else ``featvslearn-<kind>-<dataset>.runs.jsonl`` in ``folder``
    (default: the current folder), ``dataset`` being a dataset's name or an image folder's name."""
    if json_path is not None:
        return json_path.with_name(json_path.stem + LOG_SUFFIX)
    name = Path(dataset).expanduser().resolve().name if _is_folder(dataset) else dataset
    name = re.sub(r"[^A-Za-z0-9._-]+", "-", name).strip(".-") or "dataset"
    return (folder if folder is not None else Path(".")) / f"featvslearn-{kind}-{name}{LOG_SUFFIX}"


def _is_folder(dataset: str) -> bool:
    return "/" in dataset or "\\" in dataset or dataset in (".", "..") or Path(dataset).expanduser().is_dir()


def dataset_identity(dataset: str) -> str:
    """A dataset's name, or an image folder's full path: how a sweep's identity names its data."""
    return str(Path(dataset).expanduser().resolve()) if _is_folder(dataset) else dataset


def previous_path(path: Path) -> Path:
    """Where a log started afresh is moved: ``X.runs.jsonl`` → ``X.runs.previous.jsonl``."""
    stem = path.name[: -len(LOG_SUFFIX)] if path.name.endswith(LOG_SUFFIX) else path.stem
    return path.with_name(stem + PREVIOUS_SUFFIX)


def canonical(value: Any) -> Any:
    """``value`` as it reads back from JSON (tuples become lists, keys strings): how identities compare."""
    return json.loads(json.dumps(value, sort_keys=True))


def read_lines(path: Path) -> list[dict[str, Any]]:
    """The objects of the log at ``path`` (none when it does not exist), in the order written.

    A last line that is not JSON (torn by an interruption while it was written) is ignored, and so
    are lines that are not run objects; any other line that is not JSON is a ``UserError``.
    """
    try:
        text = path.read_bytes().decode("utf-8", errors="replace")
    except FileNotFoundError:
        return []
    except OSError as exc:
        raise UserError(f"cannot read the run log {path} ({exc.strerror or exc}); "
                        "run without --resume to start afresh") from None
    lines = text.split("\n")
    last = max((number for number, line in enumerate(lines, start=1) if line.strip()), default=0)
    entries = []
    for number, line in enumerate(lines, start=1):
        if not line.strip():
            continue
        try:
            entry = json.loads(line)
        except json.JSONDecodeError:
            if number == last:
                continue  # torn by an interruption while it was written
            raise UserError(f"the run log {path} is damaged: line {number} is not JSON; run without --resume "
                            "to start afresh (the log is moved aside)") from None
        if isinstance(entry, dict) and {"sweep", "run", "record"} <= entry.keys() \
                and isinstance(entry["run"], dict) and isinstance(entry["record"], dict):
            entries.append(entry)
    return entries


class RunLog:
    """The run log of one sweep at ``path``; with ``resume``, the runs already there are reused.

    A sweep calls :meth:`open` with its identity once its settings are known (it returns the
    records to reuse), then :meth:`append` for each run as it finishes. The file is created by
    the first :meth:`append`, so a sweep stopped before any run finished writes nothing.
    """

    def __init__(self, path: Path, resume: bool = False) -> None:
        self.path = Path(path)
        self.resume = resume
        self.sweep: dict[str, Any] | None = None
        self.resumed = 0
        """Runs of this sweep found in the log and reused (after :meth:`open`)."""
        self.appended = 0
        """Runs appended since :meth:`open`."""
        self.moved_to: Path | None = None
        """Where an earlier log was moved when this sweep started afresh (None: nothing moved)."""
        self._ready = False

    @property
    def kept(self) -> int:
        """Runs of this sweep the log holds: reused and newly appended."""
        return self.resumed + self.appended

    def open(self, sweep: Mapping[str, Any]) -> dict[str, dict[str, Any]]:
        """Start logging the sweep whose identity is ``sweep``; return the records to reuse, by run key text.

        Without ``resume`` nothing is reused. With it, the records of every line with this
        identity (the last line for a key, if it appears twice); lines of another identity are
        ignored, with a warning that names the settings that differ.
        """
        self.sweep = canonical(dict(sweep))
        self.resumed = self.appended = 0
        self.moved_to = None
        self._ready = False
        if not self.resume:
            return {}
        reused: dict[str, dict[str, Any]] = {}
        others: list[dict[str, Any]] = []
        for entry in read_lines(self.path):
            if entry["sweep"] == self.sweep:
                reused[key_text(entry["run"])] = entry["record"]
            else:
                others.append(entry)
        if others:
            warnings.warn(f"--resume: {self.path} holds {len(others):,} run(s) of a sweep with other settings "
                          f"({_differences(others[-1]['sweep'], self.sweep)}); they are not reused",
                          UserWarning, stacklevel=2)
        elif not reused:
            where = "does not exist yet" if not self.path.exists() else "holds no finished run"
            warnings.warn(f"--resume: the run log {self.path} {where}; every run is done", UserWarning,
                          stacklevel=2)
        self.resumed = len(reused)
        return reused

    def append(self, task: Task, record: Mapping[str, Any]) -> None:
        """Append the finished run ``task`` and its ``record``, flushed and synced to disk."""
        if self.sweep is None:
            raise RuntimeError("RunLog.open must come before append")
        line = json.dumps({"sweep": self.sweep, "run": dict(task.key), "record": dict(record)},
                          separators=(",", ":"), ensure_ascii=False)
        try:
            if not self._ready:
                self._prepare()
            with self.path.open("a", encoding="utf-8") as file:
                file.write(line + "\n")
                file.flush()
                os.fsync(file.fileno())
        except OSError as exc:
            raise UserError(f"cannot write the run log {self.path} ({exc.strerror or exc}); free some disk space "
                            "or pass --json in another folder") from None
        self.appended += 1

    def _prepare(self) -> None:
        """Before the first line: move an earlier log aside (starting afresh), or cut a torn last line (resuming)."""
        self._ready = True
        if not self.path.exists():
            return
        if not self.resume:
            self.moved_to = previous_path(self.path)
            os.replace(self.path, self.moved_to)
            return
        data = self.path.read_bytes()
        body = data.rstrip(b"\n")
        last = body[body.rfind(b"\n") + 1:]
        try:
            json.loads(last or b"{}")
            keep = body + b"\n" if body else b""
        except ValueError:
            keep = body[: len(body) - len(last)]  # a torn last line: drop it
        if keep != data:
            with self.path.open("wb") as file:
                file.write(keep)
                file.flush()
                os.fsync(file.fileno())


def _differences(found: Any, wanted: Mapping[str, Any]) -> str:
    """The settings in which the identity ``found`` differs from ``wanted``, as ``epochs 8, not 5``."""
    if not isinstance(found, dict):
        return "not a featvslearn sweep"
    parts = []
    for name in sorted(set(found) | set(wanted)):
        if found.get(name) != wanted.get(name):
            parts.append(f"{name} {json.dumps(found.get(name))}, not {json.dumps(wanted.get(name))}")
    return "; ".join(parts[:3]) + (" …" if len(parts) > 3 else "") or "the same settings"
