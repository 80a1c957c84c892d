"""A comparison over several training seeds (``compare --seeds N``): each pipeline's accuracy as mean ±
sample standard deviation and per seed, its times as median and range, and the verdict over the seeds.

McNemar's test covers the sampling of the test images, not the randomness of training. With N seeds
each pair of pipelines is tested on every seed (on the same test images), the p-values Holm-adjusted
over every pair and seed together, and one pipeline is said to beat another only when the test finds
the difference on every seed, in the same direction. Otherwise the reading says on how many seeds it
did. Pure computation and text; :mod:`featvslearn.reports.compare` puts it into the reading and report.
"""

from __future__ import annotations

import dataclasses
import math
import statistics
from dataclasses import dataclass

from featvslearn.reports.shared import TableContent, best_accuracy_cells, fmt_names, fmt_seconds, md_table
from featvslearn.results import CompareResults, PairedTest, PipelineResult, SeedRun
from featvslearn.stats import SIGNIFICANCE, format_p_value


def seeded(results: CompareResults) -> bool:
    """Whether ``results`` hold runs with more than one training seed."""
    return len(results.seeds) > 1


@dataclass(frozen=True)
class SeedSummary:
    """One pipeline on one device over the seeds: ``accuracies`` in seed order, their mean and sample
    standard deviation, and the median, least and most train seconds; ``predict_seconds`` the median."""

    name: str
    device: str
    accuracies: tuple[float, ...]
    train_seconds: tuple[float, ...]
    predict_seconds: float

    @property
    def mean(self) -> float:
        return math.fsum(self.accuracies) / len(self.accuracies)

    @property
    def sd(self) -> float:
        return statistics.stdev(self.accuracies) if len(self.accuracies) > 1 else 0.0

    @property
    def train_median(self) -> float:
        return statistics.median(self.train_seconds)

    def mean_sd(self) -> str:
        """``0.9689 ± 0.0021``."""
        return f"{self.mean:.4f} ± {self.sd:.4f}"

    def percent(self) -> str:
        """``96.9 ± 0.2 %``."""
        return f"{100 * self.mean:.1f} ± {100 * self.sd:.1f} %"


def summaries(results: CompareResults) -> list[SeedSummary]:
    """Every (pipeline, device) of ``results`` summarised over its seeds, in the order of ``pipelines``."""
    runs: dict[tuple[str, str], list[SeedRun]] = {}
    for run in sorted(results.seed_runs, key=lambda r: r.seed):
        runs.setdefault((run.pipeline, run.device), []).append(run)
    found = []
    for p in results.pipelines:
        mine = runs.get((p.name, p.device), [])
        if mine:
            found.append(SeedSummary(p.name, p.device, tuple(r.accuracy for r in mine),
                                     tuple(r.train_seconds for r in mine),
                                     statistics.median(r.predict_seconds for r in mine)))
    return found


def first_device(results: CompareResults) -> list[SeedSummary]:
    """The summaries of the first device's runs: those the reading compares."""
    return [s for s in summaries(results) if s.device == results.devices[0]]


def as_pipelines(results: CompareResults) -> list[PipelineResult]:
    """The first device's runs with their accuracy, train and predict seconds replaced by the mean and the
    medians over the seeds (images/s from the median predict seconds), for the reading's sentences."""
    first = {p.name: p for p in results.pipelines if p.device == results.devices[0]}
    n = results.dataset.test_size
    return [dataclasses.replace(first[s.name], accuracy=s.mean, train_seconds=s.train_median,
                                predict_seconds=s.predict_seconds,
                                images_per_second=n / s.predict_seconds if s.predict_seconds > 0 else None)
            for s in first_device(results) if s.name in first]


def _pair_tests(results: CompareResults, a: str, b: str) -> list[PairedTest]:
    return [t for t in results.tests if set(t.pipelines) == {a, b} and t.seed is not None]


def _more_accurate_on(test: PairedTest, name: str) -> bool:
    """Whether ``name`` got more of the images right than the other pipeline of ``test``."""
    mine, theirs = (test.a_only, test.b_only) if test.pipelines[0] == name else (test.b_only, test.a_only)
    return (mine or 0) > (theirs or 0)


def outcome(results: CompareResults, best: str, runner: str) -> str:
    """``"win"`` when ``best`` was significantly more accurate than ``runner`` on every seed (Holm-adjusted),
    ``"tie"`` when their accuracies were equal on every seed, ``"untested"`` without a test on every seed,
    ``"unclear"`` otherwise."""
    tests = _pair_tests(results, best, runner)
    if len(tests) < len(results.seeds) or any(t.p_value_holm is None for t in tests):
        return "untested"
    if all(t.a_only == t.b_only for t in tests):
        return "tie"
    if all(t.p_value_holm < SIGNIFICANCE and _more_accurate_on(t, best) for t in tests):  # type: ignore[operator]
        return "win"
    return "unclear"


def _test_words(results: CompareResults) -> str:
    pairs = len({frozenset(t.pipelines) for t in results.tests if t.seed is not None})
    seeds = len(results.seeds)
    family = f"{pairs} pair{'s' if pairs != 1 else ''} × {seeds} seeds"
    return f"an exact McNemar test on each seed, Holm-adjusted over the {family}"


def accuracy_sentence(results: CompareResults, ranked: list[SeedSummary]) -> str:
    """Who beat whom over the seeds, only when the test on every seed agrees; otherwise on how many seeds
    it found the difference. ``ranked``: the first device's summaries, highest mean first."""
    best, runner = ranked[0], ranked[1]
    seeds, n = len(results.seeds), results.dataset.test_size
    tests = _pair_tests(results, best.name, runner.name)
    result = outcome(results, best.name, runner.name)
    figures = f"{best.percent()} against {runner.percent()} on {n:,} test images, mean ± sd"
    if result == "untested":
        return f"{best.name} {best.percent()} and {runner.name} {runner.percent()} over {seeds} seeds " \
               "(this results file has no per-image results for every seed, so no significance test)."
    if result == "tie":
        both = fmt_names([best.name, runner.name])
        return f"{both} are equally accurate on every one of the {seeds} seeds: {figures}."
    largest = max(t.p_value_holm for t in tests)  # type: ignore[type-var]
    if result == "win":
        return (f"**{best.name} beat** {runner.name} on every one of the {seeds} seeds: {figures} "
                f"({_test_words(results)}; largest {format_p_value(largest)}).")
    found = [t for t in tests if t.p_value_holm < SIGNIFICANCE]  # type: ignore[operator]
    ahead = sum(_more_accurate_on(t, best.name) for t in found)
    behind = len(found) - ahead
    shown = (f"{best.name} was significantly more accurate on {ahead} of the {seeds} seeds"
             + (f" and {runner.name} on {behind}" if behind else ""))
    if not found:
        shown = "the difference was significant on none of them"
    return (f"No consistent difference between {best.name} and {runner.name} over {seeds} seeds: {figures}; "
            f"{shown} ({_test_words(results)}; a verdict needs every seed).")


def times_sentence(results: CompareResults) -> str:
    """That the times the reading compares are medians over the seeds."""
    return f"Times are medians over the {len(results.seeds)} seeds."


# --------------------------------------------------------------------------- tables
SEED_HEADERS = ["pipeline", "device", "accuracy mean ± sd", "min – max", "train s median", "train s range"]
"""The over-the-seeds table's headers (the report adds a column per seed)."""


def _row(s: SeedSummary) -> list[str]:
    return [s.name, s.device, s.mean_sd(), f"{min(s.accuracies):.4f} – {max(s.accuracies):.4f}",
            fmt_seconds(s.train_median),
            f"{fmt_seconds(min(s.train_seconds))} – {fmt_seconds(max(s.train_seconds))}"]


def seeds_table(results: CompareResults) -> TableContent:
    """Every pipeline over the seeds, for the terminal: accuracy mean ± sd and range, train seconds'
    median and range (empty rows with one seed)."""
    rows = summaries(results) if seeded(results) else []
    seeds = results.seeds
    return TableContent(
        title=f"over {len(seeds)} training seeds ({seeds[0]}–{seeds[-1]}), the same split",
        headers=SEED_HEADERS,
        rows=[_row(s) for s in rows],
        text_columns=2,
        best=best_accuracy_cells([s.mean for s in rows], SEED_HEADERS.index("accuracy mean ± sd")),
    )


def seed_lines(results: CompareResults) -> list[str]:
    """The report's section over the seeds: the table with each seed's accuracy, and what was tested."""
    if not seeded(results):
        return []
    seeds, rows = results.seeds, summaries(results)
    headers = [*SEED_HEADERS, *[f"seed {seed}" for seed in seeds]]
    table = [[*_row(s), *[f"{a:.4f}" for a in s.accuracies]] for s in rows]
    tests = sorted((t for t in results.tests if t.seed is not None), key=lambda t: (t.pipelines, t.seed))
    shown = "; ".join(f"{' vs '.join(t.pipelines)} seed {t.seed}: {format_p_value(t.p_value)} "
                      f"(Holm-adjusted {format_p_value(t.p_value_holm or t.p_value).removeprefix('p ')})"
                      for t in tests)
    return [f"## Over {len(seeds)} seeds", "",
            *md_table(headers, table, text_columns=2), "",
            f"Every pipeline was trained with seeds {seeds[0]}–{seeds[-1]} on the same training and test images; "
            "the side-by-side table and the sections below show the first seed's runs. The standard deviation is "
            f"the sample one (n − 1). The verdict comes from {_test_words(results)}: one pipeline beat another "
            f"only when the adjusted p-value is below {SIGNIFICANCE} on every seed, in the same direction."
            + (f" The tests: {shown}." if shown else ""), ""]
