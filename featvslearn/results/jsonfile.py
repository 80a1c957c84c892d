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

PASS_RESULTS = "pass the results JSON that compare, scaling or ablate wrote with --json"
"""The fix every message about a file that is not results names."""


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
        beside = path.with_suffix(".json")
        hint = f" (did you mean {beside}?)" if beside != path and beside.is_file() else ""
        raise UserError(f"results file {path} does not exist{hint}; {PASS_RESULTS}") from None
    except IsADirectoryError:
        found = sorted(path.glob("*.json"))[:1]
        hint = f", such as {found[0]}" if found else ""
        raise UserError(f"{path} is a folder, not a results JSON; {PASS_RESULTS}{hint}") from None
    except OSError as exc:
        raise UserError(f"cannot read results file {path} ({exc.strerror or exc}); {PASS_RESULTS}") from None
    data = _parse(raw, path)
    if not isinstance(data, dict):
        raise UserError(f"{path} is not a featvslearn results object: its top level is {_json_kind(data)}; "
                        f"{PASS_RESULTS}")
    if not {"schema_version", "kind"} & data.keys():
        raise UserError(f"{path} is JSON but not featvslearn results (it has no schema_version or kind); "
                        f"{PASS_RESULTS}")
    return results_from_dict(data, source=str(path))


def _json_kind(value: Any) -> str:
    """``"a list"``, ``"a string"``, ``"a number"``, ... for a parsed JSON value other than an object."""
    if value is None:
        return "null"
    if isinstance(value, bool):
        return "true or false"
    return {list: "a list", str: "a string"}.get(type(value), "a number")


def _parse(raw: bytes, path: Path) -> Any:
    """The JSON value in ``raw``; NaN and Infinity are read as floats (version 1 may hold them)."""
    try:
        text = raw.decode("utf-8")
    except UnicodeDecodeError:
        kind = "a PNG image" if raw.startswith(b"\x89PNG") else "binary, not text"
        raise UserError(f"{path} is not a results JSON: it is {kind}; {PASS_RESULTS}") from None
    try:
        return json.loads(text)
    except RecursionError:
        raise UserError(f"{path} is not a results JSON: its values nest thousands of levels deep; "
                        f"{PASS_RESULTS}") from None
    except json.JSONDecodeError as exc:
        is_report = text.lstrip().startswith(("#", "|", "!["))
        if path.suffix.lower() in (".md", ".markdown") or is_report:
            json_path = path.with_suffix(".json")
            beside = f" ({json_path})" if json_path != path and json_path.is_file() else ""
            what = "the Markdown report" if is_report else "a Markdown file, not a results JSON"
            raise UserError(f"{path} is {what}; pass the results JSON written with --json{beside}") from None
        raise UserError(f"{path} is not a results JSON: it is not valid JSON ({exc.msg} at line {exc.lineno} "
                        f"column {exc.colno}); {PASS_RESULTS}") from None

