"""Strict JSON: non-finite floats become null with a reason, and text indented for reading.

Shared by writing (:meth:`~featvslearn.results.kinds.CompareResults.to_dict`, :func:`dumps`)
and reading (:func:`~featvslearn.results.validation.results_from_dict` upgrades version-1 files
with :func:`finite` and names fields with :func:`path_text`).
"""

from __future__ import annotations

import json
import math
from typing import Any

NULL_REASONS = {"images_per_second": "predict took 0 s, so the rate is unbounded"}
"""Why a field was written as null, by field name, where the cause is known."""


def finite(value: Any, where: tuple[str | int, ...], reasons: dict[str, str]) -> Any:
    """``value`` with every non-finite float replaced by None; each replacement's path and reason go in ``reasons``."""
    if isinstance(value, float) and not math.isfinite(value):
        path = path_text(where)
        last = where[-1] if where else ""
        reasons.setdefault(path, NULL_REASONS.get(str(last), f"was {json.dumps(value)}, which strict JSON cannot hold"))
        return None
    if isinstance(value, dict):
        return {k: finite(v, (*where, str(k)), reasons) for k, v in value.items()}
    if isinstance(value, (list, tuple)):
        return [finite(v, (*where, i), reasons) for i, v in enumerate(value)]
    return value


def path_text(where: tuple[str | int, ...]) -> str:
    """A location as it reads in messages and ``null_reasons``: ``pipelines[0].stages[1].seconds``."""
    text = ""
    for part in where:
        text += f"[{part}]" if isinstance(part, int) else (f".{part}" if text else str(part))
    return text



def dumps(data: Any, indent: int = 2) -> str:
    """Strict JSON text indented like ``json.dumps(indent=2)``, except that a list of plain values
    (numbers, strings, null) stays on one line: a confusion matrix reads row by row and a
    timeline column takes one line instead of hundreds. NaN and Infinity are a ValueError."""

    def encode(value: Any, level: int) -> str:
        inner, outer = " " * (indent * (level + 1)), " " * (indent * level)
        if isinstance(value, dict) and value:
            items = [f"{inner}{json.dumps(str(k))}: {encode(v, level + 1)}" for k, v in value.items()]
            return "{\n" + ",\n".join(items) + "\n" + outer + "}"
        if isinstance(value, (list, tuple)) and any(isinstance(v, (dict, list, tuple)) for v in value):
            return "[\n" + ",\n".join(inner + encode(v, level + 1) for v in value) + "\n" + outer + "]"
        return json.dumps(value, separators=(", ", ": "), allow_nan=False)

    return encode(data, 0)

