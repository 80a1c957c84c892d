"""The scaling report: accuracy and training time by training-set size, and where the CNN overtakes."""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from typing import Literal

from matplotlib.figure import Figure

from featvslearn.reports.plots import scaling_accuracy_figure, scaling_seconds_figure
from featvslearn.reports.shared import (
    SAME_SPEED,
    TableContent,
    byline,
    dataset_lines,
    dataset_warnings,
    environment_lines,
    failed_runs_warnings,
    fmt_mean_std,
    fmt_names,
    fmt_seconds,
    fmt_speed_up,
    fmt_value,
    image_lines,
    load_warnings,
    md_table,
    report_opening,
)
from featvslearn.results import Crossover, ScalingResults, ScalingRun, SizeSummary
from featvslearn.stats import mean_interval

LEVEL_POINTS = 0.002
"""Accuracies closer than this (0.2 points) are called level."""


def _per_class(size: int, num_classes: int) -> str:
    per_class = size / max(num_classes, 1)
    return f"{per_class:,.0f}" if per_class >= 10 or per_class == int(per_class) else f"{per_class:.1f}"


def _summaries(results: ScalingResults) -> dict[str, list[SizeSummary]]:
    return {name: results.summary(name) for name in results.pipelines}


# --------------------------------------------------------------------------- spread across seeds
Spread = Literal["beyond", "within", "unknown"]
"""How two pipelines' accuracies at one size compare with the spread across seeds: apart beyond it,
within it, or unknown (one seed)."""


def spread(a: Sequence[ScalingRun], b: Sequence[ScalingRun]) -> Spread:
    """Whether the mean accuracies of runs ``a`` and ``b`` (one size, one run per seed) are apart beyond the
    spread across seeds: "beyond" where the 95 % t-intervals of the two means do not overlap, or the
    95 % t-interval of the per-seed differences (a paired t-test; each seed draws one subsample for
    both) leaves out zero; "unknown" with a single seed on either side; "within" otherwise."""
    interval_a = mean_interval([r.accuracy for r in a]) if a else None
    interval_b = mean_interval([r.accuracy for r in b]) if b else None
    if interval_a is None or interval_b is None:
        return "unknown"
    if interval_a[1] < interval_b[0] or interval_b[1] < interval_a[0]:
        return "beyond"
    by_seed = {r.seed: r.accuracy for r in b}
    differences = [r.accuracy - by_seed[r.seed] for r in a if r.seed in by_seed]
    paired = mean_interval(differences) if differences else None
    return "beyond" if paired is not None and (paired[0] > 0 or paired[1] < 0) else "within"


def _runs_at(results: ScalingResults, name: str, size: int) -> list[ScalingRun]:
    return [r for r in results.pipelines[name] if r.train_size == size]


def _sizes_text(sizes: Sequence[int]) -> str:
    return fmt_names([f"{s:,}" for s in sizes]) + " images"


# --------------------------------------------------------------------------- reading
def _leader_sentence(results: ScalingResults, summaries: dict[str, list[SizeSummary]], index: int) -> str:
    """Who leads at one size: "At 100 training images (10 per class) **hog-svm leads**: …", said only where
    the lead is beyond the spread across seeds; otherwise which mean is higher, within the spread or with
    no spread known (one seed)."""
    size = results.sizes[index]
    where = (f"At {size:,} training images ({_per_class(size, results.dataset.num_classes)} per class"
             + (", the whole training set)" if size == results.dataset.train_size else ")"))
    ranked = sorted(((rows[index], name) for name, rows in summaries.items()),
                    key=lambda item: item[0].accuracy_mean, reverse=True)
    (best, best_name), *rest = ranked
    if not rest:
        return f"{where} {best_name} reached {best.accuracy_mean:.1%}."
    runner, runner_name = rest[0]
    gap = best.accuracy_mean - runner.accuracy_mean
    both = f"{best.accuracy_mean:.1%} ± {best.accuracy_std:.1%}" if best.runs > 1 else f"{best.accuracy_mean:.1%}"
    other = (f"{runner.accuracy_mean:.1%} ± {runner.accuracy_std:.1%}" if runner.runs > 1
             else f"{runner.accuracy_mean:.1%}")
    if gap == 0:
        spread_text = (f" (± {best.accuracy_std:.1%} and ± {runner.accuracy_std:.1%} over the seeds)"
                       if best.runs > 1 or runner.runs > 1 else "")
        return f"{where} {best_name} and {runner_name} are level at {best.accuracy_mean:.1%}{spread_text}."
    if gap < LEVEL_POINTS:
        return (f"{where} {best_name} and {runner_name} are level: {both} and {other}, less than "
                f"{LEVEL_POINTS * 100:.1f} points apart.")
    verdict = spread(_runs_at(results, best_name, size), _runs_at(results, runner_name, size))
    if verdict == "beyond":
        return (f"{where} **{best_name} leads**: {both} against {other} for {runner_name}, {gap * 100:.1f} points "
                "ahead, beyond the spread across seeds.")
    if verdict == "within":
        return (f"{where} {best_name}'s mean is higher: {both} against {other} for {runner_name}, "
                f"{gap * 100:.1f} points apart, within the spread across seeds.")
    return (f"{where} {best_name} scored higher: {both} against {other} for {runner_name}, {gap * 100:.1f} points "
            "apart, from one seed, so no spread across seeds is known.")


def _crossover_sentence(results: ScalingResults, summaries: dict[str, list[SizeSummary]], name: str,
                        crossover: Crossover) -> str:
    """Where the CNN overtakes ``name``, said as established only where the CNN's lead from there on is beyond
    the spread across seeds at every size."""
    sizes = results.sizes
    low, high = sizes[0], sizes[-1]
    verdicts = [spread(_runs_at(results, "cnn", size), _runs_at(results, name, size)) for size in sizes]
    cnn, other = summaries["cnn"], summaries[name]
    if crossover.size is not None and crossover.size in sizes:
        first = sizes.index(crossover.size)
        cross = (f"; the curves cross near {crossover.estimate:,.0f} images, between {crossover.between[0]:,} and "
                 f"{crossover.between[1]:,} (interpolated in log size)" if crossover.estimate is not None
                 and crossover.between is not None else "")
        after = verdicts[first:]
        if all(v == "beyond" for v in after):
            return (f"**The CNN overtakes {name} from {crossover.size:,} training images on**, beyond the spread "
                    f"across seeds at every size from there{cross}.")
        if "unknown" in after:
            return (f"The CNN's accuracy is above {name}'s from {crossover.size:,} training images on{cross}; but "
                    "with one seed no spread across seeds is known, so the crossover is not established.")
        within = [size for size, v in zip(sizes[first:], after, strict=True) if v == "within"]
        return (f"The CNN's mean is above {name}'s from {crossover.size:,} training images on{cross}; but at "
                f"{_sizes_text(within)} the two are within the spread across seeds, so the crossover is not "
                "established.")
    if all(c.accuracy_mean > o.accuracy_mean for c, o in zip(cnn, other, strict=True)):
        if all(v == "beyond" for v in verdicts):
            return (f"Against {name} there is no crossover in this range: the CNN is ahead at every size, beyond "
                    f"the spread across seeds, already at {low:,} images; smaller sizes would be needed to find it.")
        if "unknown" in verdicts:
            return (f"Against {name} there is no crossover in this range: the CNN's accuracy is above at every "
                    f"size, already at {low:,} images, from one seed (no spread across seeds is known).")
        within = [size for size, v in zip(sizes, verdicts, strict=True) if v == "within"]
        return (f"Against {name} there is no crossover in this range: the CNN's mean is above at every size, but "
                f"at {_sizes_text(within)} the two are within the spread across seeds.")
    last = {"within": f"; at {high:,} images the two are within the spread across seeds",
            "unknown": " (one seed: no spread across seeds is known)"}.get(verdicts[-1], "")
    reason = ("the CNN does not stay ahead up to the largest size"
              if any(c.accuracy_mean > o.accuracy_mean for c, o in zip(cnn, other, strict=True))
              else "the CNN never overtakes in this range")
    return f"Against {name} there is no crossover between {low:,} and {high:,} training images: {reason}{last}."


def reading(results: ScalingResults) -> str:
    """A short plain-language reading: who leads at the smallest and largest size, and the crossovers, each
    judged against the spread across seeds."""
    summaries = _summaries(results)
    lines = [_leader_sentence(results, summaries, 0)]
    if len(results.sizes) > 1:
        lines.append(_leader_sentence(results, summaries, -1))
    for name, crossover in results.crossover.items():
        if name in summaries and "cnn" in summaries:
            lines.append(_crossover_sentence(results, summaries, name, crossover))
    if "cnn" not in results.pipelines:
        lines.append("The CNN was not run, so there is no crossover to find.")
    lines.append(_time_sentence(results.sizes[-1],
                                {name: rows[-1].train_seconds_mean for name, rows in summaries.items()}))
    seeds = len(results.seeds)
    if seeds > 1:
        lines.append(f"Accuracies are means ± sample standard deviation over {seeds} seeds, each drawing its own "
                     "stratified subsample and initialisation; a lead counts as beyond the spread across seeds "
                     "where the 95 % intervals of the two means do not overlap or a paired t-test over the seeds "
                     "finds it (p < 0.05);")
    else:
        lines.append(f"Accuracies come from one seed ({results.seeds[0]}), so there is no spread to judge them by;")
    lines.append(f"every run is tested on the same {results.dataset.test_size:,} images.")
    return " ".join(line for line in lines if line)


def _time_sentence(size: int, seconds: dict[str, float]) -> str:
    """How the pipelines' training times compare at ``size`` images: the slowest against the fastest, or
    that they took about the same time (within :data:`SAME_SPEED`); empty with one pipeline."""
    if len(seconds) < 2:
        return ""
    ranked = sorted(seconds, key=seconds.__getitem__)
    fast, slow = ranked[0], ranked[-1]
    shown = ", ".join(f"{name} {fmt_seconds(seconds[name])} s" for name in seconds)
    if seconds[fast] <= 0:
        return f"At {size:,} images the training times were {shown}."
    ratio = seconds[slow] / seconds[fast]
    if ratio < SAME_SPEED:
        names = " and ".join(seconds) if len(seconds) == 2 else "all pipelines"
        return f"At {size:,} images {names} trained in about the same time ({shown})."
    return (f"At {size:,} images {slow} took {fmt_speed_up(ratio)} as long to train as {fast} "
            f"({fmt_seconds(seconds[slow])} s against {fmt_seconds(seconds[fast])} s).")


# --------------------------------------------------------------------------- table
def table(results: ScalingResults) -> TableContent:
    """Accuracy (mean ± std) and training seconds per size and pipeline, one row per size; with several
    pipelines, the best accuracy of each size is marked. The caption gives each crossover's reason."""
    d = results.dataset
    seeds = len(results.seeds)
    summaries = _summaries(results)
    headers = ["train images", "per class"]
    for name in summaries:
        headers += [f"{name} accuracy", f"{name} train s"]
    rows: list[list[str]] = []
    best: set[tuple[int, int]] = set()
    for index, size in enumerate(results.sizes):
        at_size = [summary[index] for summary in summaries.values()]
        top = max(s.accuracy_mean for s in at_size)
        row = [f"{size:,}", _per_class(size, d.num_classes)]
        for s in at_size:
            if s.accuracy_mean == top and len(at_size) > 1:
                best.add((index, len(row)))
            row += [fmt_mean_std(s.accuracy_mean, s.accuracy_std, s.runs), fmt_seconds(s.train_seconds_mean)]
        rows.append(row)
    return TableContent(
        title=f"{d.name}: test accuracy by training-set size (mean{' ± std' if seeds > 1 else ''} over "
              f"{seeds} seed{'s' if seeds != 1 else ''}), {d.test_size:,} test images, device {results.device}",
        headers=headers,
        rows=rows,
        text_columns=0,
        best=frozenset(best),
        caption=" ".join(f"{name}: {c.reason}." for name, c in results.crossover.items()),
    )


# --------------------------------------------------------------------------- Markdown
def markdown(results: ScalingResults, links: Mapping[str, str] | None = None) -> str:
    """The scaling report: reading, plots, accuracy and time per size, every run, dataset, settings, environment.

    ``links`` maps figure names (``accuracy-vs-size``, ``train-seconds-vs-size``) to paths relative to the report.
    """
    links = links or {}
    d = results.dataset
    summaries = _summaries(results)
    names = list(summaries)
    seeds = len(results.seeds)
    lines = [
        *report_opening(f"Scaling: {' vs '.join(names)} on {d.name}, {results.sizes[0]:,} to "
                        f"{results.sizes[-1]:,} training images",
                        byline(results, f"seed{'s' if seeds != 1 else ''} {', '.join(map(str, results.seeds))}"),
                        warnings(results), reading(results)),
        *image_lines(links, "accuracy-vs-size", "Test accuracy against training-set size"),
        "## Accuracy by training-set size",
        "",
    ]
    rows = [[f"{size:,}", _per_class(size, d.num_classes)]
            + [fmt_mean_std(summaries[n][i].accuracy_mean, summaries[n][i].accuracy_std, summaries[n][i].runs)
               for n in names]
            for i, size in enumerate(results.sizes)]
    lines += md_table(["training images", "per class", *names], rows, text_columns=0)
    lines += [
        "",
        f"Test accuracy, mean{' ± sample standard deviation' if seeds > 1 else ''} over {seeds} "
        f"seed{'s' if seeds != 1 else ''}, on the same {d.test_size:,} test images. Each seed draws its own "
        "stratified subsample of the training set (at the full size, the seeds differ in initialisation and "
        "shuffling only).",
        "",
        *mean_interval_lines(results),
        "## Crossover",
        "",
    ]
    if results.crossover:
        lines += [f"- **{name}**: {c.reason}." for name, c in results.crossover.items()]
        lines.append("")
        lines.append("The crossover size is the smallest measured size from which the CNN's mean accuracy is above "
                     "the pipeline's at that size and at every larger one; the estimate interpolates the difference "
                     "of the means linearly in log size between that size and the one below.")
    else:
        lines.append("No crossover to find: it needs the cnn and at least one hand-engineered pipeline.")
    lines += ["", "## Training time by training-set size", ""]
    lines += image_lines(links, "train-seconds-vs-size", "Training seconds against training-set size")
    rows = [[f"{size:,}"] + [fmt_mean_std(summaries[n][i].train_seconds_mean, summaries[n][i].train_seconds_std,
                                          summaries[n][i].runs, digits=2) for n in names]
            for i, size in enumerate(results.sizes)]
    lines += md_table(["training images", *[f"{n} train s" for n in names]], rows, text_columns=0)
    epochs = results.settings.get("cnn_epochs_per_size") or {}
    adapted = ""
    if epochs and not results.settings.get("epochs") and len(set(epochs.values())) > 1:
        first, last = next(iter(epochs.items())), list(epochs.items())[-1]
        adapted = (f" The CNN's epochs adapt to the size ({first[1]} at {int(first[0]):,} images, {last[1]} at "
                   f"{int(last[0]):,}), so its training time is not proportional to the size.")
    lines.append("")
    lines.append("Train seconds cover everything fitted on the training set (features and SVM, or CNN training), "
                 "without the untimed warm-up pass."
                 + (" learned-svm reuses the cnn of the same size and seed, so its seconds are its SVM's only."
                    if "learned-svm" in names and "cnn" in names else "") + adapted)
    lines += ["", "## Every run", ""]
    rows = []
    for size in results.sizes:
        for seed in results.seeds:
            row = [f"{size:,}", str(seed)]
            for name in names:
                run = next((r for r in results.pipelines[name] if r.train_size == size and r.seed == seed), None)
                row += ["failed", "–"] if run is None else [f"{run.accuracy:.4f}", fmt_seconds(run.train_seconds)]
            rows.append(row)
    lines += md_table(["training images", "seed", *[f"{n} {what}" for n in names for what in ("accuracy",
                                                                                               "train s")]],
                      rows, text_columns=0)
    settings = results.settings
    lines += dataset_lines(d, settings, subsamples=True)
    sizes_option = settings.get("sizes_option")
    lines += [
        "",
        "## Settings",
        "",
        f"- pipelines: {', '.join(names)}",
        f"- training-set sizes: {', '.join(f'{s:,}' for s in results.sizes)}"
        + (" (--sizes)" if sizes_option else " (default: about 10 images per class up to the whole training set, "
           "in steps of about ×3)"),
        f"- seeds: {', '.join(map(str, results.seeds))} (subsample, initialisation and shuffling)",
        f"- test images: {d.test_size:,}"
        + (" (--test-size, the same for every run)" if settings.get("test_size") else " (the whole test set)"),
    ]
    if epochs:
        lines.append("- CNN epochs per size: " + ", ".join(f"{int(s):,}: {e}" for s, e in epochs.items())
                     + (" (--epochs)" if settings.get("epochs") else " (adapted to the size)"))
    lines += option_lines(settings, results.device)
    lines += ["", *environment_lines(results.environment)]
    return "\n".join(lines)


def option_lines(settings: Mapping[str, object], device: str) -> list[str]:
    """The command's options that shaped every run, as Markdown list items, only those set: the CNN's
    preset, the precision asked for and what it came to for the CNN, the SVM (when one was named) and the
    device asked for (when it is not the device the byline names)."""
    shown = {key: fmt_value(settings[key], key) for key in ("preset", "precision", "cnn_precision", "svm",
                                                             "device_option") if settings.get(key) is not None}
    lines = [f"- CNN preset: {shown['preset']}"] if "preset" in shown else []
    precision, cnn_precision = shown.get("precision"), shown.get("cnn_precision")
    if precision and cnn_precision and precision != cnn_precision:
        lines.append(f"- precision: {precision} (the CNN's: {cnn_precision})")
    elif precision or cnn_precision:
        lines.append(f"- precision: {precision or cnn_precision}")
    if "svm" in shown:
        lines.append(f"- svm: {shown['svm']}")
    if shown.get("device_option", device) != device:
        lines.append(f"- device asked for: {shown['device_option']}")
    return lines


# --------------------------------------------------------------------------- figures
def figures(results: ScalingResults) -> dict[str, Figure]:
    """The figures of a scaling report, by file name (without .png)."""
    return {"accuracy-vs-size": scaling_accuracy_figure(results),
            "train-seconds-vs-size": scaling_seconds_figure(results)}


def warnings(results: ScalingResults) -> list[str]:
    """What a reader must know before trusting the figures: the runs measured on a busy machine, a test
    set too small per class (judged by the mean per class: a scaling file has no per-class counts), image
    files of several sizes brought to one."""
    busy = [(f"{name} at {run.train_size:,} images (seed {run.seed})", run.other_load_percent_mean)
            for name, runs in results.pipelines.items() for run in runs if run.machine_busy]
    return (load_warnings(results.machine_busy, busy) + dataset_warnings(results.dataset, None)
            + failed_runs_warnings(results.settings))


def mean_interval_lines(results: ScalingResults) -> list[str]:
    """A table of the 95 % t-interval of each mean accuracy across the seeds (none with a single seed)."""
    if len(results.seeds) < 2:
        return []
    rows = []
    for size in results.sizes:
        row = [f"{size:,}"]
        for runs in results.pipelines.values():
            interval = mean_interval([r.accuracy for r in runs if r.train_size == size])
            row.append("–" if interval is None else f"{max(0.0, interval[0]):.4f} – {min(1.0, interval[1]):.4f}")
        rows.append(row)
    return [
        f"95 % interval of the mean accuracy across the {len(results.seeds)} seeds (Student's t, clipped to "
        "[0, 1]; with few seeds it is wide, which is the honest answer):",
        "",
        *md_table(["training images", *results.pipelines], rows, text_columns=0),
        "",
    ]
