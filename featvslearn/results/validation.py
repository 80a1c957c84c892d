"""Checking a parsed results document: kind, schema version, types, consistency, one-line errors.

:func:`results_from_dict` turns any parsed JSON value into the record of its kind, upgrading
version-1 documents, or raises one :class:`~featvslearn.errors.UserError` that names the
document and the problem.
"""

from __future__ import annotations

import functools
import json
from typing import Any

from pydantic import TypeAdapter, ValidationError

from featvslearn.errors import UserError
from featvslearn.results.kinds import (
    RERUN,
    RESULT_KINDS,
    SCHEMA_VERSION,
    CompareResults,
    MergedCompareResults,
    Results,
    ScalingResults,
)
from featvslearn.results.records import PipelineResult, SeedRun, unpack_bits
from featvslearn.results.strict_json import finite, path_text

READABLE_VERSIONS = (1, 2)
"""The versions :func:`read_json` reads (older ones are upgraded to the current records)."""


def results_from_dict(data: Any, source: str = "the results", kind: str | None = None) -> Results:
    """Check a parsed results document and return its record; a ``UserError`` for anything malformed.

    ``source`` names the document in messages (the file name); ``kind``, when given, is the
    only kind accepted. Version-1 documents are upgraded: non-finite numbers become None with
    a reason in ``null_reasons``.
    """
    if not isinstance(data, dict):
        raise UserError(f"{source} is not a featvslearn results object: its top level is {_json_type(data)}; "
                        "pass a --json file written by featvslearn")
    version = data.get("schema_version")
    if "schema_version" not in data:
        raise UserError(f"{source} has no schema version, so it is not featvslearn results; "
                        "pass a --json file written by featvslearn")
    if isinstance(version, bool) or not isinstance(version, int):
        raise UserError(f"{source} has schema version {_show(version)}, not a whole number; "
                        "pass a --json file written by featvslearn")
    if version > SCHEMA_VERSION:
        raise UserError(f"{source} has results schema version {version}, newer than this featvslearn reads "
                        f"({_versions()}); upgrade featvslearn to read it")
    if version not in READABLE_VERSIONS:
        raise UserError(f"{source} has results schema version {version}, which featvslearn never wrote "
                        f"(it reads {_versions()}); pass a --json file written by featvslearn")
    found = data.get("kind")
    if not isinstance(found, str) or found not in RESULT_KINDS:
        raise UserError(f"{source} has kind {_show(found)}; featvslearn reads "
                        f"{', '.join(RESULT_KINDS)} results")
    if kind is not None and found != kind:
        raise UserError(f"{source} holds results of kind {found!r}, which are not {kind} results")

    if _deeper_than(data, MAX_DEPTH):
        raise UserError(f"{source}: {found} results are malformed: values nest more than {MAX_DEPTH} levels deep; "
                        f"re-run {RERUN[found]} to write it again")
    reasons: dict[str, str] = {}
    document = finite(data, (), reasons)
    if reasons and version >= 2:
        where = next(iter(reasons))
        raise UserError(f"{source}: {found} results are malformed: {where} is NaN or Infinity, which strict "
                        f"JSON does not allow; re-run {RERUN[found]} to write it again")
    if version == 1:
        document = {**document, "schema_version": SCHEMA_VERSION}
        if reasons:
            document["null_reasons"] = reasons

    try:
        results = _adapter(found).validate_json(json.dumps(document, allow_nan=False))
    except ValidationError as exc:
        problems = [_problem(error) for error in exc.errors(include_url=False)]
        other = _kind_of_body(document, found)
        if other is not None:
            raise UserError(f"{source} says kind {found!r}, but its fields are those of {other} results; "
                            f"set \"kind\": \"{other}\" or pass the {found} results") from None
        raise UserError(_malformed(source, found, problems)) from None
    problems = _consistency_problems(results)
    if problems:
        raise UserError(_malformed(source, found, problems))
    return results


@functools.cache
def _adapter(kind: str) -> TypeAdapter[Any]:
    """The validator of one kind of results (built on first use: it takes pydantic some milliseconds)."""
    return TypeAdapter(RESULT_KINDS[kind])


MAX_DEPTH = 64
"""The deepest nesting of arrays and objects a results file may have (they use about eight levels)."""


def _deeper_than(value: Any, limit: int) -> bool:
    """Whether arrays and objects in ``value`` nest more than ``limit`` levels deep (checked without recursion)."""
    stack = [(value, 0)]
    while stack:
        item, depth = stack.pop()
        if isinstance(item, (dict, list)):
            if depth >= limit:
                return True
            stack.extend((child, depth + 1) for child in (item.values() if isinstance(item, dict) else item))
    return False


def _kind_of_body(document: dict[str, Any], found: str) -> str | None:
    """The other kind whose records ``document`` holds, if its ``kind`` is the one thing wrong; else None."""
    for other in RESULT_KINDS:
        if other != found:
            try:
                _adapter(other).validate_json(json.dumps({**document, "kind": other}))
            except ValidationError:
                continue
            return other
    return None


def _versions() -> str:
    return f"{READABLE_VERSIONS[0]} to {READABLE_VERSIONS[-1]}"


def _malformed(source: str, kind: str, problems: list[str]) -> str:
    more = f" (and {len(problems) - 1} more problem{'s' if len(problems) > 2 else ''})" if len(problems) > 1 else ""
    return (f"{source}: {kind} results are incomplete or malformed: {problems[0]}{more}; "
            f"re-run {RERUN[kind]} to write it again")


def _json_type(value: Any) -> str:
    """``value``'s JSON type with an article: "a list", "a string", "null"."""
    if value is None:
        return "null"
    if isinstance(value, bool):
        return "a boolean"
    if isinstance(value, (int, float)):
        return "a number"
    return {str: "a string", list: "a list", dict: "an object"}.get(type(value), type(value).__name__)


def _show(value: Any, width: int = 40) -> str:
    """``value`` as JSON on one line, cut to ``width`` characters."""
    text = json.dumps(value, default=str, ensure_ascii=False)
    text = " ".join(text.split())
    return text if len(text) <= width else text[: width - 1] + "…"


_TYPE_WORDS = {
    "int_type": "integer", "int_parsing": "integer", "int_from_float": "integer",
    "float_type": "number", "float_parsing": "number", "string_type": "string",
    "bool_type": "boolean", "bool_parsing": "boolean", "list_type": "array", "tuple_type": "array",
    "dict_type": "object", "dataclass_type": "object", "dataclass_exact_type": "object",
    "model_type": "object", "none_required": "null",
}


def _problem(error: Any) -> str:
    """One pydantic error as a phrase: ``pipelines[0].accuracy should be of type number, got "high"``."""
    loc = tuple(part for part in error["loc"] if part != "[key]")
    kind = error["type"]
    if kind == "missing":
        return f"{path_text(loc[:-1])}: missing {loc[-1]!r}" if len(loc) > 1 else f"missing {loc[-1]!r}"
    if kind in ("unexpected_keyword_argument", "extra_forbidden"):
        return f"{path_text(loc[:-1])}: unknown field {loc[-1]!r}" if len(loc) > 1 else f"unknown field {loc[-1]!r}"
    where = path_text(loc) or "the top level"
    if kind in _TYPE_WORDS:
        text = f"{where} should be of type {_TYPE_WORDS[kind]}, got {_show(error.get('input'))}"
    elif kind == "value_error" and "error" in (error.get("ctx") or {}):
        text = f"{where} {error['ctx']['error']}"
    else:
        message = str(error.get("msg", kind))
        message = message[len("Input "):] if message.startswith("Input ") else message[:1].lower() + message[1:]
        text = f"{where} {message}, got {_show(error.get('input'))}"
    return " ".join(text.split())


def _consistency_problems(results: Results) -> list[str]:
    """What the types cannot say: runs per size and seed, correct vectors that fit, tests of known pipelines,
    a merged comparison's files and baseline row."""
    problems: list[str] = []
    if isinstance(results, ScalingResults):
        problems += _scaling_problems(results)
    elif isinstance(results, CompareResults):
        problems += _compare_problems(results)
    elif isinstance(results, MergedCompareResults):
        problems += _merged_problems(results)
    else:
        for i, v in enumerate(results.variants):
            problems += _interval_problems(f"variants[{i}]", v.accuracy, v.accuracy_interval)
    return problems


def _compare_problems(results: CompareResults, where: str = "") -> list[str]:
    """Intervals that hold their accuracy, correct vectors that fit, tests of pipelines that ran; ``where``
    prefixes each path (``sources[1].`` in a merged comparison)."""
    problems: list[str] = []
    names = {p.name for p in results.pipelines}
    for i, p in enumerate(results.pipelines):
        problems += _interval_problems(f"{where}pipelines[{i}]", p.accuracy, p.accuracy_interval)
        if p.correct is not None:
            problems += _correct_problems(f"{where}pipelines[{i}].correct", p, results.dataset.test_size)
    for i, test in enumerate(results.tests):
        unknown = [name for name in test.pipelines if name not in names]
        if unknown:
            problems.append(f"{where}tests[{i}] names pipeline {unknown[0]!r}, which has no result")
        elif test.pipelines[0] == test.pipelines[1]:
            problems.append(f"{where}tests[{i}] compares {test.pipelines[0]!r} with itself")
        elif test.n is not None and (test.a_only or 0) + (test.b_only or 0) > test.n:
            problems.append(f"{where}tests[{i}]: a_only + b_only is more than its n = {test.n} images")
    return problems + _seed_run_problems(results, where)


def _seed_run_problems(results: CompareResults, where: str) -> list[str]:
    """Seed runs of pipelines and devices that ran, each with one run per seed of the same seeds, the
    first seed the file's own, and correct vectors that fit."""
    if not results.seed_runs:
        return []
    problems: list[str] = []
    names, devices = {p.name for p in results.pipelines}, set(results.devices)
    seeds_of: dict[tuple[str, str], list[int]] = {}
    for i, run in enumerate(results.seed_runs):
        if run.pipeline not in names or run.device not in devices:
            problems.append(f"{where}seed_runs[{i}] names {run.pipeline!r} on {run.device!r}, which has no result")
        seeds_of.setdefault((run.pipeline, run.device), []).append(run.seed)
        if run.correct is not None:
            problems += _correct_problems(f"{where}seed_runs[{i}].correct", run, results.dataset.test_size)
    seed_sets = {tuple(sorted(seeds)) for seeds in seeds_of.values()}
    if any(len(set(seeds)) != len(seeds) for seeds in seeds_of.values()) or len(seed_sets) != 1:
        problems.append(f"{where}seed_runs: every pipeline needs exactly one run per seed, the same seeds for all")
    elif min(next(iter(seed_sets))) != results.seed:
        problems.append(f"{where}seed_runs: the first seed is not the file's seed {results.seed}")
    return problems


def _merged_problems(results: MergedCompareResults) -> list[str]:
    """Each source checked as a compare file is, one file name per source, and a baseline row that exists."""
    if not results.sources:
        return ["sources: no compare results"]
    problems: list[str] = []
    for i, source in enumerate(results.sources):
        problems += _compare_problems(source, f"sources[{i}].")
    if len(results.files) != len(results.sources):
        problems.append(f"files names {len(results.files)} files for {len(results.sources)} sources")
    rows = len(results.rows())
    if results.baseline > rows:
        problems.append(f"baseline is row {results.baseline}, but the merged table has {rows} rows")
    return problems


def _interval_problems(where: str, accuracy: float, interval: tuple[float, float] | None) -> list[str]:
    if interval is not None and not interval[0] - 1e-9 <= accuracy <= interval[1] + 1e-9:
        return [f"{where}.accuracy_interval {list(interval)} does not contain its accuracy {accuracy}"]
    return []


def _correct_problems(where: str, pipeline: PipelineResult | SeedRun, test_size: int) -> list[str]:
    packed = pipeline.correct
    assert packed is not None
    try:
        values = unpack_bits(packed)
    except ValueError as exc:
        return [f"{where} {exc}"]
    if packed.length != test_size:
        return [f"{where} has {packed.length} values for {test_size} test images"]
    if packed.length and abs(values.mean() - pipeline.accuracy) > 0.5 / packed.length:
        return [f"{where} gives accuracy {values.mean():.6g}, but the pipeline's accuracy is {pipeline.accuracy}"]
    return []


def _scaling_problems(results: ScalingResults) -> list[str]:
    """Every pipeline has exactly one run per (size, seed) pair, but the pairs of the runs that failed
    (``settings["failed_runs"]``), and crossovers name pipelines that ran."""
    if not results.sizes or results.sizes != sorted(set(results.sizes)) or not results.seeds:
        return ["sizes must be ascending without repeats, and seeds not empty"]
    if not results.pipelines:
        return ["pipelines: no pipelines"]
    problems = []
    failed = results.settings.get("failed_runs")
    failed = failed if isinstance(failed, list) else []
    missing = {(run.get("size"), run.get("seed")) for run in
               (entry.get("run") for entry in failed if isinstance(entry, dict)) if isinstance(run, dict)}
    expected = {(size, seed) for size in results.sizes for seed in results.seeds} - missing
    for name, runs in results.pipelines.items():
        pairs = [(r.train_size, r.seed) for r in runs]
        if len(pairs) != len(expected) or set(pairs) != expected:
            problems.append(f"pipelines.{name} does not have exactly one run per size and seed")
    problems += [f"crossover of {name}, which has no runs" for name in results.crossover
                 if name not in results.pipelines]
    return problems

