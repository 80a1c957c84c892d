"""Results files on disk: :func:`write_json` writes strict JSON atomically, :func:`read_json` reads it back checked."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

from featvslearn.errors import UserError
from featvslearn.files import atomic_write_text
from featvslearn.results.kinds import Results
from featvslearn.results.strict_json import dumps
from featvslearn.results.validation import results_from_dict


def write_json(results: Results, path: Path) -> None:
    """Write ``results`` to ``path`` as strict, indented JSON (see :func:`dumps`), atomically."""
    atomic_write_text(path, dumps(results.to_dict()) + "\n")


def read_json(path: Path) -> Results:
    """The results in ``path`` (written by :func:`write_json`, or a version-1 file), checked.

    Anything that is not readable results of a known kind and version is a one-line ``UserError``
    naming the file and the problem.
    """
    path = Path(path)
    try:
        raw = path.read_bytes()
    except FileNotFoundError:
        raise UserError(f"results file {path} does not exist; pass the --json file of a run") from None
    except IsADirectoryError:
        raise UserError(f"{path} is a folder, not a results JSON; pass the --json file of a run") from None
    except OSError as exc:
        raise UserError(f"cannot read results file {path} ({exc.strerror or exc}); "
                        "pass a --json file written by featvslearn") from None
    return results_from_dict(_parse(raw, path), source=str(path))


def _parse(raw: bytes, path: Path) -> Any:
    """The JSON value in ``raw``; NaN and Infinity are read as floats (version 1 may hold them)."""
    try:
        text = raw.decode("utf-8")
    except UnicodeDecodeError:
        kind = "a PNG image" if raw.startswith(b"\x89PNG") else "binary, not text"
        raise UserError(f"{path} is not a results JSON: it is {kind}; pass a --json file written by featvslearn") \
            from None
    try:
        return json.loads(text)
    except RecursionError:
        raise UserError(f"{path} is not a results JSON: its values nest thousands of levels deep; "
                        "pass a --json file written by featvslearn") from None
    except json.JSONDecodeError as exc:
        if path.suffix.lower() in (".md", ".markdown") or text.lstrip().startswith(("#", "|", "![")):
            json_path = path.with_suffix(".json")
            hint = f"pass {json_path}" if json_path.is_file() else "pass the file written with --json"
            raise UserError(f"{path} is not a results JSON: it looks like the Markdown report; {hint}") from None
        raise UserError(f"{path} is not a results JSON: it is not valid JSON ({exc.msg} at line {exc.lineno} "
                        f"column {exc.colno}); pass a --json file written by featvslearn") from None

