"""The comparison report: pipelines side by side, on one device or several, with its reading and figures."""

from __future__ import annotations

from collections import Counter
from collections.abc import Mapping
from typing import Any

from matplotlib.figure import Figure

from featvslearn.measure.contention import GPU_UTIL_MEANING, SLOW_FROM, machine_busy
from featvslearn.pipelines import PIPELINES
from featvslearn.pipelines.budget import seconds_text
from featvslearn.reports import compare_seeds, energy, sees
from featvslearn.reports.compare_table import (
    GPU_HEADERS,
    HEADERS,
    SPEED_UP_HEADERS,
    SpeedUp,
    budget_choice,
    first_runs,
    fmt_gpu_util,
    run_keys,
    run_labels,
    speed_up_caption,
    speed_up_cells,
    speed_up_sentence,
    speed_ups,
    table,
    table_headers,
    table_rows,
    used_seconds,
)
from featvslearn.reports.details import detail_lines, input_lines
from featvslearn.reports.plots import (
    confusion_matrix_figure,
    misclassified_figure,
    per_class_accuracy_figure,
    timeline_figure,
)
from featvslearn.reports.shared import (
    CPU_NOTE,
    SAME_SPEED,
    TableContent,
    byline,
    dataset_lines,
    dataset_warnings,
    environment_lines,
    epoch_summary,
    fmt_names,
    fmt_rate,
    fmt_seconds,
    fmt_speed_up,
    fmt_value,
    image,
    load_warnings,
    md_table,
    report_opening,
    stages_table,
    timed_other_load,
)
from featvslearn.reports.style import pipeline_colour, repeat_hatch
from featvslearn.results import CompareResults, PipelineResult
from featvslearn.stats import SIGNIFICANCE, format_p_value, verdict

__all__ = ["GPU_HEADERS", "HEADERS", "SPEED_UP_HEADERS", "SpeedUp", "budget_lines", "figures", "fmt_gpu_util",
           "markdown", "more_tables", "reading", "run_keys", "run_labels", "speed_up_caption", "speed_up_cells",
           "speed_ups", "table", "table_headers", "table_rows", "warnings"]

PER_CLASS_FIGURE_UP_TO = 40  # classes; above this grouped bars are unreadable


# --------------------------------------------------------------------------- reading
def _p_value(results: CompareResults, a: str, b: str) -> float | None:
    """The McNemar p-value of pipelines ``a`` and ``b`` in ``results.tests`` the reading compares with the
    significance level: Holm-adjusted over every pair tested (raw in files older than the adjustment),
    or None (a v1 file)."""
    for test in results.tests:
        if set(test.pipelines) == {a, b}:
            return test.p_value if test.p_value_holm is None else test.p_value_holm
    return None


def _holm_sentence(results: CompareResults) -> str:
    """That the p-values a reading quotes are Holm-adjusted, and over how many pairs (empty for one pair)."""
    adjusted = [test for test in results.tests if test.p_value_holm is not None]
    if len(adjusted) < 2:
        return ""
    return (f"The p-values are Holm-adjusted over the {len(adjusted)} pairs of pipelines tested, so that "
            f"together they keep the chance of any false difference below {SIGNIFICANCE}.")


def is_busy(results: CompareResults) -> bool:
    """Whether this run's timings cannot be read as findings: other processes loaded the machine, or a
    calibration kernel ran :data:`~featvslearn.measure.calibration.SLOW_FROM` times its quiet time or slower."""
    return bool(results.machine_busy) or (results.slowdown is not None and results.slowdown >= SLOW_FROM)


def _busy_sentence(results: CompareResults) -> str:
    """Why the reading states no time ratios on a busy machine."""
    slower = (f"a calibration kernel ran {results.slowdown:.1f}× slower than on this machine when quiet, so "
              f"every timing here is likely about that much too long and by uneven amounts"
              if results.slowdown is not None and results.slowdown > 1 else
              "other processes loaded the CPU during the timed stages")
    # busy only when other processes were seen loading the CPU; a slow-down alone (a virtual machine's drift,
    # a throttled CPU) is said as what was measured
    state = "the machine was busy" if results.machine_busy else "this machine ran slower than when quiet"
    unloaded = ", though other processes did not load its CPU" if results.machine_busy is False else ""
    return (f"Timings are not compared here: {state} ({slower}{unloaded}), so which pipeline trained or "
            "predicted faster cannot be read from this run; re-run on a quiet machine to compare times.")


def _outcome(best: PipelineResult, runner: PipelineResult, p_value: float | None) -> str:
    """How the two most accurate pipelines compare: ``"tie"`` (the same accuracy), ``"win"`` (``best``
    significantly more accurate), ``"unclear"`` (no significant difference) or ``"untested"`` (no test)."""
    if best.accuracy == runner.accuracy:
        return "tie"
    if p_value is None:
        return "untested"
    return "win" if p_value < SIGNIFICANCE else "unclear"


def _accuracy_sentence(ranked: list[PipelineResult], p_value: float | None, n: int) -> str:
    """Who beat whom, only when the difference is significant; that they are level when their accuracies
    are equal; otherwise that no difference is shown. ``ranked``: the pipelines, most accurate first."""
    best, runner = ranked[0], ranked[1]
    outcome = _outcome(best, runner, p_value)
    if outcome == "tie":
        tied = [p.name for p in ranked if p.accuracy == best.accuracy]
        test = f" (McNemar {format_p_value(p_value)})" if p_value is not None and len(tied) == 2 else ""
        return (f"{fmt_names(tied)} are equally accurate: {100 * best.accuracy:.1f} % each on {n:,} test "
                f"images{test}.")
    if outcome == "untested":
        return (f"{best.name} {best.accuracy:.1%} and {runner.name} {runner.accuracy:.1%} on {n:,} test images "
                "(this results file has no per-image results, so no significance test).")
    sentence = verdict(best.name, best.accuracy, runner.name, runner.accuracy, p_value, n)  # type: ignore[arg-type]
    if outcome == "win":
        sentence = sentence.replace(f"{best.name} beat", f"**{best.name} beat**", 1)
        if best.accuracy == 1:
            sentence = sentence[:-1] + ", without a single mistake."
        else:
            fewer = ((1 - runner.accuracy) - (1 - best.accuracy)) / (1 - runner.accuracy)
            sentence = sentence[:-1] + f", {fewer:.0%} fewer mistakes."
    return sentence


def _speed_sentence(best: PipelineResult, runner: PipelineResult, outcome: str) -> str:
    """Which of the two trained faster and by how much, or that they took about the same time (within
    :data:`SAME_SPEED`); what that means for their accuracies, which ``outcome`` (:func:`_outcome`) gives."""
    a, b = best.train_seconds, runner.train_seconds
    if a <= 0 or b <= 0:
        return (f"{best.name} trained in {fmt_seconds(max(a, 0.0))} s and {runner.name} in "
                f"{fmt_seconds(max(b, 0.0))} s.")
    fast, slow = sorted((best, runner), key=lambda p: p.train_seconds)
    ratio = slow.train_seconds / fast.train_seconds
    if ratio < SAME_SPEED:
        cost = f", so {best.name}'s higher accuracy cost no extra training time" if outcome == "win" else ""
        return (f"{best.name} and {runner.name} trained in about the same time ({fmt_seconds(a)} s and "
                f"{fmt_seconds(b)} s){cost}.")
    cost = {
        "win": (f", so {best.name}'s higher accuracy cost training time" if best is slow
                else ", and was the more accurate too"),
        "tie": ", for the same accuracy",
        "unclear": ", with no significant difference in accuracy",
    }.get(outcome, "")
    return (f"{fast.name} trained {fmt_speed_up(ratio)} faster ({fmt_seconds(fast.train_seconds)} s against "
            f"{fmt_seconds(slow.train_seconds)} s){cost}.")


def _inference_sentence(first: PipelineResult, second: PipelineResult) -> str:
    """Which labels test images faster, end to end, or that both are about as fast (within :data:`SAME_SPEED`)."""
    rates = [p.images_per_second for p in (first, second)]
    if any(rate is None or rate <= 0 for rate in rates):
        return ""
    quick, laggard = sorted((first, second), key=lambda p: -(p.images_per_second or 0))
    ratio = quick.images_per_second / laggard.images_per_second  # type: ignore[operator]
    rates_shown = (f"{fmt_rate(quick.images_per_second)} against "  # type: ignore[arg-type]
                   f"{fmt_rate(laggard.images_per_second)} images/s from raw pixels")  # type: ignore[arg-type]
    if ratio < SAME_SPEED:
        return f"At inference {quick.name} is about as fast as {laggard.name}: {rates_shown}."
    return f"At inference {quick.name} is {fmt_speed_up(ratio)} as fast as {laggard.name}: {rates_shown}."


def reading(results: CompareResults) -> str:
    """A short plain-language reading: which pipeline won (only if significantly), at what cost.

    The two most accurate pipelines are compared with the exact McNemar test on the same test
    images, its p-value Holm-adjusted over every pair tested: "A beat B" only when p < 0.05,
    "equally accurate" when their accuracies are equal, otherwise "no significant difference".
    Training times and inference rates within :data:`SAME_SPEED` of each other read as about the
    same; on a busy machine (:func:`is_busy`) times are not compared at all, and the reading says why.
    With several devices the comparison
    of pipelines uses the first device's runs, and a sentence names the biggest speed-up over that
    device.
    """
    several = compare_seeds.seeded(results)
    pipelines = sorted(compare_seeds.as_pipelines(results) if several else first_runs(results),
                       key=lambda p: p.accuracy, reverse=True)
    if not pipelines:
        return "No pipeline was run."
    best = pipelines[0]
    n = results.dataset.test_size
    lines = [f"On {results.devices[0]}:"] if len(results.devices) > 1 else []
    if len(pipelines) == 1:
        lines.append(
            f"{best.name} reached {best.accuracy:.1%} test accuracy in {fmt_seconds(best.train_seconds)} s of "
            "training."
        )
    else:
        runner = pipelines[1]
        if several:
            ranked = sorted(compare_seeds.first_device(results), key=lambda s: s.mean, reverse=True)
            lines.append(compare_seeds.accuracy_sentence(results, ranked))
            outcome = compare_seeds.outcome(results, best.name, runner.name)
        else:
            p_value = _p_value(results, best.name, runner.name)
            lines.append(_accuracy_sentence(pipelines, p_value, n))
            lines.append(_holm_sentence(results))
            outcome = _outcome(best, runner, p_value)
        if is_busy(results):
            lines.append(_busy_sentence(results))
        else:
            speed = _speed_sentence(best, runner, outcome)
            lines.append(speed.replace("no significant difference in accuracy",
                                       "no consistent difference in accuracy") if several else speed)
            lines.append(_inference_sentence(best, runner))
            lines.append(energy.energy_sentence(best, runner))
            if several:
                lines.append(compare_seeds.times_sentence(results))
    speed = "" if is_busy(results) else speed_up_sentence(results)
    if speed:
        lines.append(speed)
    gpu = [(label, p) for label, p in zip(run_labels(results), results.pipelines, strict=True)
           if p.gpu_util_percent_mean is not None]
    if gpu:
        busy = ", ".join(f"{label} {p.gpu_util_percent_mean:.0f}%" for label, p in gpu)
        lines.append(f"Mean GPU kernel-active time: {busy}.")
    return " ".join(line for line in lines if line)


def warnings(results: CompareResults) -> list[str]:
    """What a reader must know before trusting the figures: a busy machine, a test set too small per
    class, image files of several sizes brought to one."""
    busy = [(label, timed_other_load(p.stages)) for label, p in zip(run_labels(results), results.pipelines,
                                                                    strict=True) if machine_busy(p.stages)]
    found = load_warnings(results.machine_busy, busy)
    if results.slowdown is not None and results.slowdown >= SLOW_FROM:
        found.append(f"timings about {results.slowdown:.1f}× slower than on this machine when quiet: a fixed "
                     "calibration kernel, timed at the start and after each pipeline, took at least that many times "
                     "its quickest time here; re-run on a quiet machine before quoting times")
    return found + dataset_warnings(results.dataset, smallest_test_class(results))


def gpu_lines(results: CompareResults) -> list[str]:
    """What the GPU columns mean, each run's own share where NVML gave it, and why figures are missing."""
    runs = list(zip(run_labels(results), results.pipelines, strict=True))
    if not any(p.gpu_util_percent_mean is not None or p.gpu_notes for _, p in runs):
        return []
    lines = [f"GPU util is NVML's {GPU_UTIL_MEANING}."]
    own = [f"{label} {p.gpu_process_util_percent_mean:.0f}%" for label, p in runs
           if p.gpu_process_util_percent_mean is not None]
    lines.append(f"This process's own kernel-active time: {', '.join(own)}." if own
                 else "NVML gave no per-process figures here, so this process's own share is not known.")
    notes = sorted({f"{label}: {note}" for label, p in runs for note in p.gpu_notes})
    lines += [f"Missing GPU figures, {note}." for note in notes]
    return [" ".join(lines), ""]


def uncertainty_lines(results: CompareResults) -> list[str]:
    """Each accuracy with its 95 % Wilson interval, and the p-value of every pair (Markdown lines)."""
    intervals = [f"{label} {p.accuracy:.4f} ({p.accuracy_interval[0]:.4f}–{p.accuracy_interval[1]:.4f})"
                 for label, p in zip(run_labels(results), results.pipelines, strict=True)
                 if p.accuracy_interval is not None]
    if not intervals:
        return []
    lines = [f"Test accuracy with its 95 % Wilson interval on {results.dataset.test_size:,} test images: "
             + "; ".join(intervals) + "."]
    if compare_seeds.seeded(results):
        return [f"{lines[0][:-1]}, with the first seed; every seed's tests are under Over "
                f"{len(results.seeds)} seeds.", ""]
    if results.tests:
        def shown(t: Any) -> str:
            raw = f"{' vs '.join(t.pipelines)} {format_p_value(t.p_value)}"
            return raw if t.p_value_holm is None or len(results.tests) < 2 else \
                f"{raw} (Holm-adjusted {format_p_value(t.p_value_holm).removeprefix('p ')})"
        adjusted = len(results.tests) > 1 and all(t.p_value_holm is not None for t in results.tests)
        counts = "the Holm-adjusted p-value" if adjusted else "p"
        lines.append(f"Exact McNemar tests on the same test images (a difference counts when {counts} < "
                     f"{SIGNIFICANCE}): {'; '.join(shown(t) for t in results.tests)}.")
    return [" ".join(lines), ""]


def budget_lines(results: CompareResults) -> list[str]:
    """What each run chose within its budget and why, and the seconds it used (plain sentences; empty
    for results without a budget). The first says what a budget covers."""
    runs = [(label, p, choice) for label, p in zip(run_labels(results), results.pipelines, strict=True)
            if (choice := budget_choice(p)) is not None]
    if not runs:
        return []
    sources = sorted({f"{seconds_text(choice['budget_seconds'])} s ({choice.get('budget_source', '?')})"
                      for _, _, choice in runs})
    lines = [f"Each pipeline had {' or '.join(sources)} for everything after its warm-up: features, probes, "
             "training and prediction; each took its strongest configuration estimated to fit, from probes timed "
             "on this device (counted in its training time), never from test accuracy. These choices depend on "
             "this machine's speed and load at that moment: another machine, or this one busier, may choose "
             "otherwise; without --budget every pipeline follows its standard recipe instead."]
    for label, p, choice in runs:
        used = used_seconds(p)
        over = used - choice["budget_seconds"]
        outcome = (f"it used {seconds_text(used)} s, {seconds_text(over)} s over the budget" if over > 0
                   else f"it used {seconds_text(used)} s")
        probe = f", {seconds_text(choice['probe_seconds'])} s of them probing" if choice.get("probe_seconds") else ""
        lines.append(f"{label}: {choice.get('chosen', '?')}, {choice.get('reason', '')}; {outcome}{probe}.")
    return lines


def _budget_section(results: CompareResults) -> list[str]:
    lines = budget_lines(results)
    if not lines:
        return []
    return ["## Budget", "", lines[0], "", *[f"- {line}" for line in lines[1:]], ""]


def more_tables(results: CompareResults) -> list[TableContent]:
    """The table over the seeds after the side-by-side one, for a comparison over several seeds."""
    return [compare_seeds.seeds_table(results)] if compare_seeds.seeded(results) else []


def seeds_text(results: CompareResults) -> str:
    """``seed 0``, or ``seeds 0–4`` for a comparison over several training seeds."""
    seeds = results.seeds
    return f"seed {seeds[0]}" if len(seeds) == 1 else f"seeds {seeds[0]}–{seeds[-1]}"


def smallest_test_class(results: CompareResults) -> int | None:
    """The test images of the smallest class (rows of any confusion matrix), or None without one."""
    for p in results.pipelines:
        if p.confusion_matrix:
            return min(sum(row) for row in p.confusion_matrix)
    return None


# --------------------------------------------------------------------------- Markdown
def markdown(results: CompareResults, links: Mapping[str, str] | None = None) -> str:
    """The whole Markdown report: title, reading, table, stages, dataset, settings, environment.

    ``links`` maps figure names (those of :func:`figures`) to PNG paths relative to the report;
    each figure given is shown in the section it belongs to, the others are left out.
    """
    links = links or {}
    d = results.dataset
    labels, keys = run_labels(results), run_keys(results)
    names = " vs ".join(dict.fromkeys(p.name for p in results.pipelines))
    devices = f": {' vs '.join(results.devices)}" if len(results.devices) > 1 else ""
    side_by_side = table(results)
    lines = [
        *report_opening(f"{names} on {d.name}{devices}", byline(results, seeds_text(results)), warnings(results),
                        reading(results)),
        *uncertainty_lines(results),
        *gpu_lines(results),
        *energy.energy_lines(labels, results.pipelines),
        *_budget_section(results),
        "## Side by side",
        "",
        *md_table(side_by_side.headers, side_by_side.rows, side_by_side.text_columns),
        "",
        "Train seconds cover everything fitted on the training set (features and SVM, or CNN training); "
        "predict seconds go from raw test images to labels, so images/s is the end-to-end inference rate. "
        "A warm-up stage (one untimed pass, and compilation with --compile) is listed under Stages and "
        f"counted in neither. {CPU_NOTE}",
        *input_lines(results.pipelines),
    ]
    if len(results.devices) > 1:
        lines += [
            "",
            f"Every pipeline ran on each device ({', '.join(results.devices)}) on the same data with the same "
            f"seed. The train × and pred × columns are the speed-up vs {results.devices[0]}: a pipeline's train "
            f"and predict seconds on {results.devices[0]} divided by its seconds on the row's device.",
        ]
    lines += ["", *compare_seeds.seed_lines(results), "## Stages", ""]
    lines += stages_table("pipeline", [(label, p.stages) for label, p in zip(labels, results.pipelines,
                                                                               strict=True)])
    if "timeline" in links:
        gpu = any(p.timeline is not None and p.timeline.gpu_util_percent is not None for p in results.pipelines)
        lines += [
            "",
            "### Utilisation over time",
            "",
            ("GPU kernel-active % (black line, from NVML's timestamped samples) and this process's CPU as a "
             "share of the whole machine (grey line)" if gpu else "This process's CPU as a share of the whole "
             "machine (grey line; no run had GPU readings)")
            + ", sampled at 20 Hz while each run went on and averaged to at most 600 points; the shaded bands "
            "are its stages, each stage in its own colour.",
            "",
            image("GPU and CPU utilisation over time, per run", links["timeline"]),
        ]
    lines += dataset_lines(d, results.settings)
    per_class_table = (d.num_classes <= 20 and bool(results.pipelines)
                       and all(len(p.per_class_accuracy) == d.num_classes for p in results.pipelines))
    if per_class_table or "per-class-accuracy" in links:
        lines += ["", "## Per-class accuracy", ""]
        if per_class_table:
            rows = [[name] + [f"{p.per_class_accuracy[i]:.3f}" for p in results.pipelines]
                    for i, name in enumerate(d.class_names)]
            lines += md_table(["class", *labels], rows)
            lines.append("")
        if "per-class-accuracy" in links:
            lines.append(image("per-class test accuracy", links["per-class-accuracy"]))
    confusion = [(label, links[f"confusion-{key}"]) for label, key in zip(labels, keys, strict=True)
                 if f"confusion-{key}" in links]
    if confusion:
        lines += ["", "## Confusion matrices", "",
                  "Rows are the true classes, columns the predicted ones; each cell is shaded by the fraction of "
                  "its true class" + (" and shows the count." if d.num_classes <= 15 else ".")]
        for label, link in confusion:
            lines += ["", image(f"{label}: confusion matrix", link)]
    mistakes = [(label, links[f"misclassified-{key}"]) for label, key in zip(labels, keys, strict=True)
                if f"misclassified-{key}" in links]
    if mistakes:
        lines += ["", "## Misclassified test images", "",
                  "Up to 16 test images each run got wrong, spread over the true classes (chosen with the run's "
                  "seed); under each image, its true class → the predicted one."]
        for label, link in mistakes:
            lines += ["", image(f"{label}: misclassified test images", link)]
    lines += ["", *sees.section_lines(results, links), "## Pipelines", ""]
    for label, p in zip(labels, results.pipelines, strict=True):
        lines.append(f"### {label}")
        lines.append("")
        lines += pipeline_settings_lines(p.name, results.settings)
        lines += detail_lines(p.details, seed=results.seed)
        if p.details.get("loss_per_epoch"):
            lines.append("- training progress: " + epoch_summary(p.details["loss_per_epoch"],
                                                                 p.details.get("seconds_per_epoch") or []))
        lines.append("")
    lines += environment_lines(results.environment)
    return "\n".join(lines)


def pipeline_settings_lines(name: str, settings: Mapping[str, Any]) -> list[str]:
    """What the registry says the pipeline is, and the command's options it reads, with their values."""
    pipeline = PIPELINES.get(name)
    if pipeline is None:  # a results file from a version with other pipelines
        return []
    options = [f"--{option.replace('_', '-')} "
               + ("default" if settings[option] is None else fmt_value(settings[option], option))
               for option in pipeline.options if option in settings]
    return [f"- pipeline: {pipeline.summary}"] + ([f"- options it reads: {', '.join(options)}"] if options else [])


# --------------------------------------------------------------------------- figures
def figures(results: CompareResults) -> dict[str, Figure]:
    """The figures of a comparison report, by file name (without .png).

    ``timeline`` (every run that has one), ``per-class-accuracy`` (grouped bars, up to 40
    classes), and per run ``confusion-<run>`` and ``misclassified-<run>`` (``<run>`` from
    :func:`run_keys`). A figure whose data the results lack (files written before the field
    existed) is left out. Each pipeline has its colour from :mod:`featvslearn.reports.style`;
    a pipeline's runs on later devices have the same colour, hatched. Results fresh from a run add
    the pictures of :mod:`featvslearn.reports.sees`.
    """
    d = results.dataset
    labels, keys = run_labels(results), run_keys(results)
    runs = list(zip(labels, keys, results.pipelines, strict=True))
    out: dict[str, Figure] = {}
    timed = [(label, p.timeline, p.name) for label, _, p in runs if p.timeline is not None and p.timeline.t_seconds]
    if timed:
        out["timeline"] = timeline_figure([(label, timeline) for label, timeline, _ in timed],
                                          colours=[pipeline_colour(name) for _, _, name in timed])
    series = [(label, p.per_class_accuracy) for label, _, p in runs if len(p.per_class_accuracy) == d.num_classes]
    if series and len(series) == len(runs) and d.num_classes <= PER_CLASS_FIGURE_UP_TO:
        out["per-class-accuracy"] = per_class_accuracy_figure(
            series, d.class_names, colours=[pipeline_colour(p.name) for p in results.pipelines],
            hatches=_repeat_hatches(results))
    for label, key, p in runs:
        if len(p.confusion_matrix) == d.num_classes:
            out[f"confusion-{key}"] = confusion_matrix_figure(
                p.confusion_matrix, d.class_names, f"{label}: test accuracy {p.accuracy:.4f}")
    for label, key, p in runs:
        if p.misclassified:
            out[f"misclassified-{key}"] = misclassified_figure(
                p.misclassified, d.class_names, f"{label}: misclassified test images (true → predicted)")
    return out | sees.figures(results)


def _repeat_hatches(results: CompareResults) -> list[str]:
    """Per result, the hatch of its bars: none for a pipeline's first run, a pattern for its later runs
    (on later devices), so runs of one pipeline share its colour and still differ."""
    seen: Counter[str] = Counter()
    hatches = []
    for p in results.pipelines:
        hatches.append(repeat_hatch(seen[p.name]))
        seen[p.name] += 1
    return hatches
