"""Merging results files: compare results from several machines side by side, partial scaling sweeps into one.

A workshop runs the same command on many laptops (or splits one sweep over them) and an instructor
merges the files they write with ``featvslearn report A.json B.json ...``:

* compare results (and merged comparisons, whose files join in) become one
  :class:`~featvslearn.results.MergedCompareResults`, a row per pipeline result, grouped by dataset,
  with a baseline row that the speed-ups divide;
* scaling results of one sweep — the same dataset, test set and settings, different sizes or
  seeds — become one :class:`~featvslearn.results.ScalingResults` holding the union of their runs,
  its crossovers recomputed.

Anything else (ablate results, compare mixed with scaling, sweeps that differ) is one
:class:`~featvslearn.errors.UserError` line. Nothing here reads or writes files or prints.
"""

from __future__ import annotations

import re
from collections.abc import Callable, Sequence
from dataclasses import dataclass, replace
from pathlib import Path
from typing import Any

from featvslearn.errors import UserError
from featvslearn.results import CompareResults, MergedCompareResults, Results, ScalingResults, ScalingRun

MERGEABLE = ("report merges several compare results (from several machines), or several scaling results of one "
             "sweep (same dataset, test set and settings)")
"""What can be merged, for the messages that refuse the rest."""


@dataclass(frozen=True)
class Merged:
    """What merging gave: the results, and notes a reader should see (machines that differ, say)."""

    results: MergedCompareResults | ScalingResults
    notes: list[str]


def merge(named: Sequence[tuple[str, Results]], created: str, baseline: str | None = None) -> Merged:
    """Merge the results of several files, each given with its name: ``[(file name, results), ...]``.

    All compare (or merged-compare) results: a :class:`MergedCompareResults` whose baseline row is
    ``baseline`` (see :func:`choose_baseline`; default the first row). All scaling results: one
    :class:`ScalingResults` (see :func:`merge_scaling`). ``created`` is the merged results' time
    stamp. Anything else is a one-line ``UserError`` saying what can be merged.
    """
    if len(named) < 2:
        raise UserError("merging needs two or more results files; pass one alone to re-render it")
    kinds = [results.kind for _, results in named]
    for (name, _), kind in zip(named, kinds, strict=True):
        if kind == "ablate":
            raise UserError(f"{name} holds ablate results, which cannot be merged; {MERGEABLE}; "
                            "pass one ablate file alone to re-render it")
    first_kind = "scaling" if kinds[0] == "scaling" else "compare"
    for (name, _), kind in zip(named, kinds, strict=True):
        kind = "scaling" if kind == "scaling" else "compare"
        if kind != first_kind:
            raise UserError(f"cannot merge {first_kind} results ({named[0][0]}) with {kind} results ({name}); "
                            f"{MERGEABLE}")
    if first_kind == "scaling":
        if baseline is not None:
            raise UserError("--baseline chooses the row the speed-ups of merged compare results divide; "
                            "merged scaling results have none, so leave it out")
        sweeps = [(name, results) for name, results in named if isinstance(results, ScalingResults)]
        merged_sweep = merge_scaling(sweeps, created)
        return Merged(merged_sweep, scaling_notes(sweeps))
    return Merged(merge_compare(named, created, baseline), [])


# --------------------------------------------------------------------------- compare
def merge_compare(named: Sequence[tuple[str, Results]], created: str,
                  baseline: str | None = None) -> MergedCompareResults:
    """Compare results (and merged comparisons, whose own files join in) side by side.

    ``baseline``: a row number as printed (``"3"``) or one of the names in ``named`` (that file's
    first row); None for the first row. The same results twice (a file given under two names, or
    also inside a merged comparison) are a ``UserError``.
    """
    sources: list[CompareResults] = []
    files: list[str] = []
    origins: list[str] = []  # each source's file, and the merged file it came in, for messages
    firsts: list[tuple[str, int]] = []  # (name given, index of its first source)
    for name, results in named:
        firsts.append((name, len(sources)))
        if isinstance(results, MergedCompareResults):
            inner = [(file, source, f"{file} (in {name})") for file, source in zip(results.files, results.sources,
                                                                                  strict=True)]
        elif isinstance(results, CompareResults):
            inner = [(name, results, name)]
        else:  # merge() lets only compare results through
            raise UserError(f"{name} holds {results.kind} results; {MERGEABLE}")
        for file, source, origin in inner:
            if source in sources:
                earlier = origins[sources.index(source)]
                raise UserError(f"{origin} holds the same results as {earlier}; pass each results file once")
            sources.append(source)
            files.append(file)
            origins.append(origin)
    merged = MergedCompareResults(sources=sources, files=files, baseline=1, created=created)
    if baseline is not None:
        merged.baseline = choose_baseline(merged, baseline, firsts)
    return merged


def choose_baseline(merged: MergedCompareResults, choice: str, firsts: Sequence[tuple[str, int]] = ()) -> int:
    """The row number ``choice`` names: a row number as printed (1, 2, …), or a file, which names its
    first row. ``firsts`` pairs each name given on the command line with the index of its first source
    (a merged comparison given by name stands for its first file); the files recorded in ``merged`` are
    names too. A name matches as written, as the same path, or by its last part when only one does."""
    rows = merged.rows()
    text = choice.strip()
    if re.fullmatch(r"[+-]?\d+", text):
        number = int(text)
        if not 1 <= number <= len(rows):
            raise UserError(f"--baseline {text}: the merged table has rows 1 to {len(rows)}; give one of those "
                            "numbers or one of the files")
        return number
    candidates = [*firsts, *((file, index) for index, file in enumerate(merged.files))]
    source = _match_file(text, candidates)
    if source is None:
        names = ", ".join(dict.fromkeys(name for name, _ in candidates))
        raise UserError(f"--baseline {choice}: neither a row number nor one of the files merged ({names})")
    return next(number for number, (s, _) in enumerate(rows, start=1) if s == source)


def _match_file(text: str, candidates: Sequence[tuple[str, int]]) -> int | None:
    """The source index of the candidate ``text`` names: as written, then as the same path, then by its
    last part (only when that part is unique among the candidates)."""
    for name, index in candidates:
        if name == text:
            return index
    wanted = _resolved(text)
    for name, index in candidates:
        if wanted is not None and _resolved(name) == wanted:
            return index
    by_last = {index for name, index in candidates if Path(name).name == Path(text).name}
    return by_last.pop() if len(by_last) == 1 else None


def _resolved(name: str) -> Path | None:
    try:
        return Path(name).expanduser().resolve()
    except (OSError, RuntimeError):
        return None


# --------------------------------------------------------------------------- scaling
def _shape(value: Sequence[int]) -> str:
    return "×".join(map(str, value))


def _setting(key: str) -> Callable[[ScalingResults], Any]:
    return lambda results: results.settings.get(key)


def _default(value: Any) -> str:
    return "default" if value is None else str(value)


SAME_SWEEP: list[tuple[str, Callable[[ScalingResults], Any], Callable[[Any], str]]] = [
    ("dataset", lambda r: r.dataset.name, str),
    ("training set (the images the subsamples are drawn from)", lambda r: r.dataset.train_size, "{:,} images".format),
    ("test set size", lambda r: r.dataset.test_size, "{:,} images".format),
    ("number of classes", lambda r: r.dataset.num_classes, str),
    ("image shape", lambda r: r.dataset.image_shape, _shape),
    ("class names", lambda r: r.dataset.class_names, ", ".join),
    ("base seed (--seed, which draws the test set)", lambda r: r.seed, str),
    ("--epochs", _setting("epochs"), _default),
    ("--precision", _setting("precision"), _default),
    ("--svm", _setting("svm"), _default),
    ("--preset", _setting("preset"), _default),
]
"""What two partial sweeps must share to be one sweep: (what it is, its value in results, how it reads)."""


def _trains_cnn(results: ScalingResults) -> bool:
    return any(name in ("cnn", "learned-svm") for name in results.pipelines)


def sweep_difference(first: tuple[str, ScalingResults], other: tuple[str, ScalingResults]) -> str | None:
    """The first way ``other`` is not part of the same sweep as ``first``, as a one-line message naming
    both values, or None when they can be merged."""
    (first_name, a), (name, b) = first, other
    checks = list(SAME_SWEEP)
    if _trains_cnn(a) and _trains_cnn(b):  # auto precision is bf16 on some GPUs and fp32 on a CPU
        checks.append(("the CNN's precision", _setting("cnn_precision"), _default))
    for what, value, shown in checks:
        if value(a) != value(b):
            return (f"cannot merge {name} with {first_name}: their {what} differs ({first_name}: {shown(value(a))}, "
                    f"{name}: {shown(value(b))}); merged sweeps need the same dataset, test set and settings")
    return None


def merge_scaling(named: Sequence[tuple[str, ScalingResults]], created: str) -> ScalingResults:
    """One sweep from partial sweeps of it: the union of their runs, its crossovers recomputed.

    The sweeps must share the dataset, the test set (drawn by the base seed) and the settings that
    change results (:data:`SAME_SWEEP`); a run (pipeline, size, seed) in two files is kept once, and
    must have the same accuracy in both; together they must give every pipeline a run at every size
    and seed. Otherwise a ``UserError`` names the first problem. The merged results take the first
    file's dataset, environment and settings; ``settings["merged_from"]`` lists the files (those a
    merged sweep itself came from, in its place), ``device`` every device used.
    """
    from featvslearn.experiments.scaling import crossovers  # torch and the pipelines: only when merging sweeps

    first = named[0][1]
    for other in named[1:]:
        problem = sweep_difference(named[0], other)
        if problem:
            raise UserError(problem)
    pipelines: dict[str, dict[tuple[int, int], tuple[ScalingRun, str, int]]] = {}
    for name, results in named:
        for pipeline, runs in results.pipelines.items():
            kept = pipelines.setdefault(pipeline, {})
            for index, run in enumerate(runs):
                key = (run.train_size, run.seed)
                if key in kept and kept[key][0].accuracy != run.accuracy:
                    raise UserError(
                        f"runs disagree: {pipeline} at {run.train_size:,} training images, seed {run.seed} has "
                        f"accuracy {kept[key][0].accuracy:.4f} in {kept[key][1]} but {run.accuracy:.4f} in "
                        f"{name}; merge runs of one sweep only (the same run gives the same accuracy)")
                kept.setdefault(key, (run, name, index))
    sizes = sorted({size for runs in pipelines.values() for size, _ in runs})
    seeds = sorted({seed for runs in pipelines.values() for _, seed in runs})
    for pipeline, runs in pipelines.items():
        for size in sizes:
            for seed in seeds:
                if (size, seed) not in runs:
                    have = ", ".join(name for name, r in named if pipeline in r.pipelines)
                    raise UserError(
                        f"the merged sweep has a gap: {pipeline} has no run at {size:,} training images, seed "
                        f"{seed} (it ran in {have}); every pipeline needs a run at every size and seed of the files "
                        f"merged: add a file with it (featvslearn scaling --sizes {size} --seeds "
                        f"{seed - first.seed + 1} --pipelines {pipeline}, the other options as before)")
    ordered = {pipeline: [runs[(size, seed)] for size in sizes for seed in seeds]
               for pipeline, runs in pipelines.items()}
    merged = ScalingResults(
        dataset=first.dataset,
        device=", ".join(dict.fromkeys(results.device for _, results in named)),
        seed=first.seed,
        seeds=seeds,
        sizes=sizes,
        environment=dict(first.environment),
        settings=_merged_settings(named, sizes, list(pipelines)),
        pipelines={pipeline: [run for run, _, _ in runs] for pipeline, runs in ordered.items()},
        crossover={},
        created=created,
        total_seconds=sum(results.total_seconds for _, results in named),
        machine_busy=_any_busy([results.machine_busy for _, results in named]),
        null_reasons=_run_reasons(named, ordered),
    )
    merged.crossover = crossovers(merged)
    return merged


def _merged_settings(named: Sequence[tuple[str, ScalingResults]], sizes: list[int],
                     pipelines: list[str]) -> dict[str, Any]:
    """The first file's settings, with the sizes, pipelines, CNN epochs per size and skipped files of all
    of them, and ``merged_from``: the files merged."""
    settings = dict(named[0][1].settings)
    settings.pop("failed_runs", None)  # every run is in the merged sweep: another file ran any that failed
    epochs: dict[str, Any] = {}
    skipped: list[str] = []
    merged_from: list[str] = []
    for name, results in named:
        epochs.update(results.settings.get("cnn_epochs_per_size") or {})
        skipped += [file for file in results.settings.get("skipped_files") or [] if file not in skipped]
        merged_from += results.settings.get("merged_from") or [name]
    settings["pipelines"] = pipelines
    if any(results.settings.get("sizes_option") is not None for _, results in named):
        settings["sizes_option"] = sizes
    if epochs:
        settings["cnn_epochs_per_size"] = {str(size): epochs[str(size)] for size in sizes if str(size) in epochs}
    settings["skipped_files"] = skipped
    settings["merged_from"] = merged_from
    return settings


def _any_busy(flags: Sequence[bool | None]) -> bool | None:
    """Busy when any file was; not judged when any file was not judged; quiet otherwise."""
    if any(flag for flag in flags):
        return True
    return None if any(flag is None for flag in flags) else False


def _run_reasons(named: Sequence[tuple[str, ScalingResults]],
                 ordered: dict[str, list[tuple[ScalingRun, str, int]]]) -> dict[str, str]:
    """The null reasons of the runs kept, at their paths in the merged results."""
    reasons: dict[str, str] = {}
    by_file = dict(named)
    for pipeline, runs in ordered.items():
        for new, (_, name, old) in enumerate(runs):
            prefix = f"pipelines.{pipeline}[{old}]."
            for path, reason in by_file[name].null_reasons.items():
                if path.startswith(prefix):
                    reasons[f"pipelines.{pipeline}[{new}].{path[len(prefix):]}"] = reason
    return reasons


def scaling_notes(named: Sequence[tuple[str, ScalingResults]]) -> list[str]:
    """Lines a reader of a merged sweep should see: its runs were timed on different machines or devices."""
    from featvslearn.reports.merged import machine_name

    machines = dict.fromkeys(f"{results.device} on {machine_name(results.environment)}" for _, results in named)
    if len(machines) < 2:
        return []
    return [f"the merged sweep's runs were timed on {len(machines)} machines or devices ({'; '.join(machines)}): "
            "its accuracies compare, but its training times do not"]


def replace_baseline(merged: MergedCompareResults, choice: str, name: str) -> MergedCompareResults:
    """``merged`` with the baseline row ``choice`` names (see :func:`choose_baseline`); ``name`` is its file."""
    return replace(merged, baseline=choose_baseline(merged, choice, [(name, 0)]))
