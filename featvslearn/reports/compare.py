"""The comparison report: pipelines side by side, on one device or several, with its reading and figures."""

from __future__ import annotations

import re
from collections import Counter
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

from matplotlib.figure import Figure

from featvslearn.contention import GPU_UTIL_MEANING, machine_busy
from featvslearn.pipelines import PIPELINES
from featvslearn.reports.plots import (
    confusion_matrix_figure,
    misclassified_figure,
    per_class_accuracy_figure,
    timeline_figure,
)
from featvslearn.reports.shared import (
    MIN_TEST_IMAGES_PER_CLASS,
    SAME_SPEED,
    TableContent,
    best_accuracy_cells,
    byline,
    dataset_lines,
    environment_lines,
    fmt_bytes,
    fmt_percent,
    fmt_rate,
    fmt_seconds,
    fmt_speed_up,
    image,
    load_warnings,
    md_table,
    small_test_set_warning,
    stages_table,
    timed_other_load,
    warning_lines,
)
from featvslearn.results import CompareResults, PipelineResult
from featvslearn.stats import SIGNIFICANCE, format_p_value, verdict

PER_CLASS_FIGURE_UP_TO = 40  # classes; above this grouped bars are unreadable


# --------------------------------------------------------------------------- runs on several devices
def run_labels(results: CompareResults) -> list[str]:
    """A name for each result: the pipeline, and with several devices "pipeline on device".

    A run that would repeat an earlier label (``--device cpu,cpu``) gets " #2", " #3", ….
    """
    several = len(results.devices) > 1
    labels = [f"{p.name} on {p.device}" if several else p.name for p in results.pipelines]
    seen: Counter[str] = Counter()
    out = []
    for label in labels:
        seen[label] += 1
        out.append(label if seen[label] == 1 else f"{label} #{seen[label]}")
    return out


def run_keys(results: CompareResults) -> list[str]:
    """File-name-safe keys of :func:`run_labels` (``cnn on cuda:0`` → ``cnn-on-cuda-0``)."""
    return [re.sub(r"[^a-z0-9]+", "-", label.lower()).strip("-") or "run" for label in run_labels(results)]


@dataclass(frozen=True)
class SpeedUp:
    """How much faster a run was than the same pipeline's run on the first device.

    ``train`` is the baseline's train seconds over this run's; ``predict`` the baseline's
    predict seconds over this run's (the ratio of images/s). None where a time is zero.
    """

    baseline_device: str
    train: float | None
    predict: float | None


def _ratio(baseline: float, value: float) -> float | None:
    return baseline / value if value > 0 and baseline > 0 else None


def speed_ups(results: CompareResults) -> list[SpeedUp | None]:
    """Per result, its speed-up against the first run of the same pipeline (on the first device).

    None for that first run itself, and for every run when only one device was used.
    """
    if len(results.devices) < 2:
        return [None] * len(results.pipelines)
    first: dict[str, PipelineResult] = {}
    out: list[SpeedUp | None] = []
    for p in results.pipelines:
        base = first.setdefault(p.name, p)
        out.append(None if base is p else SpeedUp(
            baseline_device=base.device,
            train=_ratio(base.train_seconds, p.train_seconds),
            predict=_ratio(base.predict_seconds, p.predict_seconds),
        ))
    return out


def fmt_speed_up_cell(up: SpeedUp | None) -> str:
    """The speed-up column's text: "12.3× train / 40.0× predict", or "baseline" for the first device."""
    if up is None:
        return "baseline"
    return f"{fmt_speed_up(up.train)} train / {fmt_speed_up(up.predict)} predict"


def speed_up_sentence(results: CompareResults) -> str:
    """One sentence naming the biggest speed-up over the first device; empty with one device."""
    candidates = []
    for label, p, up in zip(run_labels(results), results.pipelines, speed_ups(results), strict=True):
        if up is None:
            continue
        if up.train is not None:
            candidates.append((up.train, "training", label, p, up))
        if up.predict is not None:
            candidates.append((up.predict, "inference", label, p, up))
    if not candidates:
        return ""
    value, what, label, p, up = max(candidates, key=lambda c: c[0])
    base = next(b for b in results.pipelines if b.name == p.name)
    if what == "training":
        figures = f"{base.train_seconds:.1f} s against {p.train_seconds:.1f} s"
    else:
        figures = f"{p.images_per_second:,.0f} against {base.images_per_second:,.0f} images/s"
    if value < 1:
        return (f"No run was faster than on {up.baseline_device}; the closest was {what} of {label}, at "
                f"{fmt_speed_up(value)} ({figures}).")
    return f"The biggest speed-up over {up.baseline_device}: {what} of {label}, {fmt_speed_up(value)} ({figures})."


def _first_runs(results: CompareResults) -> list[PipelineResult]:
    """Each pipeline's first run (on the first device), in the report's order."""
    first: dict[str, PipelineResult] = {}
    for p in results.pipelines:
        first.setdefault(p.name, p)
    return list(first.values())


# --------------------------------------------------------------------------- table
HEADERS = ["pipeline", "device", "accuracy", "train s", "predict s", "images/s", "GPU util mean / max",
           "peak GPU mem", "CPU util", "peak RSS"]
ACCURACY_COLUMN = HEADERS.index("accuracy")


def fmt_gpu_util(p: PipelineResult) -> str:
    """Mean / max GPU utilisation, or 'no GPU'."""
    if p.gpu_util_percent_mean is None:
        return "no GPU" if p.device.startswith("cpu") else "unavailable"
    return f"{p.gpu_util_percent_mean:.0f}% / {p.gpu_util_percent_max:.0f}%"


def _columns(p: PipelineResult) -> list[str]:
    return [
        p.name,
        p.device,
        f"{p.accuracy:.4f}",
        fmt_seconds(p.train_seconds),
        fmt_seconds(p.predict_seconds),
        fmt_rate(p.images_per_second),
        fmt_gpu_util(p),
        fmt_bytes(p.peak_gpu_memory_bytes),
        fmt_percent(p.cpu_util_percent_mean),
        fmt_bytes(p.peak_rss_bytes),
    ]


def table_headers(results: CompareResults) -> list[str]:
    """The side-by-side table's headers: :data:`HEADERS`, and a speed-up column with several devices."""
    if len(results.devices) < 2:
        return list(HEADERS)
    return [*HEADERS, f"speed-up vs {results.devices[0]}"]


def table_rows(results: CompareResults) -> list[list[str]]:
    """The side-by-side table's rows, one per result, matching :func:`table_headers`."""
    rows = [_columns(p) for p in results.pipelines]
    if len(results.devices) < 2:
        return rows
    return [[*row, fmt_speed_up_cell(up)] for row, up in zip(rows, speed_ups(results), strict=True)]


def table(results: CompareResults) -> TableContent:
    """The pipelines side by side: one row per result; with several results, the best accuracy is marked."""
    d = results.dataset
    return TableContent(
        title=f"{d.name}: {d.train_size:,} train / {d.test_size:,} test images, "
              f"{'×'.join(map(str, d.image_shape))}, device {results.device}",
        headers=table_headers(results),
        rows=table_rows(results),
        text_columns=2,
        best=best_accuracy_cells([p.accuracy for p in results.pipelines], ACCURACY_COLUMN),
    )


# --------------------------------------------------------------------------- reading
def _p_value(results: CompareResults, a: str, b: str) -> float | None:
    """The McNemar p-value of pipelines ``a`` and ``b`` in ``results.tests``, or None (a v1 file)."""
    for test in results.tests:
        if set(test.pipelines) == {a, b}:
            return test.p_value
    return None


def _accuracy_sentence(best: PipelineResult, runner: PipelineResult, p_value: float | None, n: int) -> str:
    """Who beat whom, only when the difference is significant; otherwise that there is none shown."""
    if p_value is None:
        return (f"{best.name} {best.accuracy:.1%} and {runner.name} {runner.accuracy:.1%} on {n:,} test images "
                "(this results file has no per-image results, so no significance test).")
    sentence = verdict(best.name, best.accuracy, runner.name, runner.accuracy, p_value, n)
    if p_value < SIGNIFICANCE and runner.accuracy < 1:
        fewer = ((1 - runner.accuracy) - (1 - best.accuracy)) / (1 - runner.accuracy)
        sentence = sentence.replace(f"{best.name} beat", f"**{best.name} beat**", 1)
        sentence = sentence[:-1] + f", {fewer:.0%} fewer mistakes."
    return sentence


def _speed_sentence(first: PipelineResult, second: PipelineResult, won: PipelineResult | None) -> str:
    """Which trained faster, or that they took about the same time; what it cost only after a real win."""
    fast, slow = sorted((first, second), key=lambda p: p.train_seconds)
    if fast.train_seconds <= 0 or slow.train_seconds / fast.train_seconds < SAME_SPEED:
        return (f"{first.name} and {second.name} trained in about the same time "
                f"({first.train_seconds:.1f} s and {second.train_seconds:.1f} s).")
    cost = ""
    if won is not None:
        cost = (f", so {won.name}'s higher accuracy cost training time" if won is slow
                else f", and {won.name} was also the more accurate")
    return (f"{fast.name} trained {slow.train_seconds / fast.train_seconds:.1f}× faster "
            f"({fast.train_seconds:.1f} s against {slow.train_seconds:.1f} s){cost}.")


def _inference_sentence(first: PipelineResult, second: PipelineResult) -> str:
    rates = [p.images_per_second for p in (first, second)]
    if any(rate is None or rate <= 0 for rate in rates):
        return ""
    quick, laggard = sorted((first, second), key=lambda p: -(p.images_per_second or 0))
    ratio = quick.images_per_second / laggard.images_per_second  # type: ignore[operator]
    if ratio < SAME_SPEED:
        return (f"At inference both label about {quick.images_per_second:,.0f} images/s from raw pixels "
                f"({first.name} {first.images_per_second:,.0f}, {second.name} {second.images_per_second:,.0f}).")
    return (f"At inference {quick.name} labels {quick.images_per_second:,.0f} images/s from raw pixels, "
            f"{ratio:.1f}× the rate of {laggard.name}.")


def reading(results: CompareResults) -> str:
    """A short plain-language reading: which pipeline won (only if significantly), at what cost.

    The two most accurate pipelines are compared with the exact McNemar test on the same test
    images: "A beat B" only when p < 0.05, otherwise "no significant difference". With several
    devices the comparison of pipelines uses the first device's runs, and a sentence names the
    biggest speed-up over that device.
    """
    pipelines = sorted(_first_runs(results), key=lambda p: p.accuracy, reverse=True)
    if not pipelines:
        return "No pipeline was run."
    best = pipelines[0]
    n = results.dataset.test_size
    lines = [f"On {results.devices[0]}:"] if len(results.devices) > 1 else []
    if len(pipelines) == 1:
        lines.append(
            f"{best.name} reached {best.accuracy:.1%} test accuracy in {best.train_seconds:.1f} s of training."
        )
    else:
        runner = pipelines[1]
        p_value = _p_value(results, best.name, runner.name)
        lines.append(_accuracy_sentence(best, runner, p_value, n))
        won = best if p_value is not None and p_value < SIGNIFICANCE else None
        lines.append(_speed_sentence(best, runner, won))
        lines.append(_inference_sentence(best, runner))
    speed = speed_up_sentence(results)
    if speed:
        lines.append(speed)
    gpu = [(label, p) for label, p in zip(run_labels(results), results.pipelines, strict=True)
           if p.gpu_util_percent_mean is not None]
    if gpu:
        busy = ", ".join(f"{label} {p.gpu_util_percent_mean:.0f}%" for label, p in gpu)
        lines.append(f"Mean GPU kernel-active time: {busy}.")
    return " ".join(line for line in lines if line)


def warnings(results: CompareResults) -> list[str]:
    """What a reader must know before trusting the figures: a busy machine, a small test set."""
    busy = [(label, timed_other_load(p.stages)) for label, p in zip(run_labels(results), results.pipelines,
                                                                    strict=True) if machine_busy(p.stages)]
    found = load_warnings(results.machine_busy, busy)
    smallest = smallest_test_class(results)
    if smallest is not None and smallest < MIN_TEST_IMAGES_PER_CLASS:
        found.append(small_test_set_warning(smallest, results.dataset.test_size))
    return found


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
    if results.tests:
        pairs = "; ".join(f"{' vs '.join(t.pipelines)} {format_p_value(t.p_value)}" for t in results.tests)
        lines.append(f"Exact McNemar tests on the same test images (a difference counts when p < "
                     f"{SIGNIFICANCE}): {pairs}.")
    return [" ".join(lines), ""]


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
        f"# {names} on {d.name}{devices}",
        "",
        byline(results, f"seed {results.seed}"),
        "",
        *warning_lines(warnings(results)),
        "## Result",
        "",
        reading(results),
        "",
        *uncertainty_lines(results),
        *gpu_lines(results),
        "## Side by side",
        "",
        *md_table(side_by_side.headers, side_by_side.rows, side_by_side.text_columns),
        "",
        "Train seconds cover everything fitted on the training set (features and SVM, or CNN training); "
        "predict seconds go from raw test images to labels, so images/s is the end-to-end inference rate. "
        "A warm-up stage (one untimed pass, and compilation with --compile) is listed under Stages and "
        "counted in neither.",
    ]
    if len(results.devices) > 1:
        lines += [
            "",
            f"Every pipeline ran on each device ({', '.join(results.devices)}) on the same data with the same "
            f"seed. The speed-up column divides a pipeline's train and predict seconds on {results.devices[0]} "
            "by its seconds on the row's device.",
        ]
    lines += ["", "## Stages", ""]
    lines += stages_table("pipeline", [(label, p.stages) for label, p in zip(labels, results.pipelines,
                                                                               strict=True)])
    if "timeline" in links:
        gpu = any(p.timeline is not None and p.timeline.gpu_util_percent is not None for p in results.pipelines)
        lines += [
            "",
            "### Utilisation over time",
            "",
            ("GPU kernel-active % (green, from NVML's timestamped samples) and this process's CPU, as a share of "
             "the whole machine (blue)" if gpu else "This process's CPU, as a share of the whole machine (no run "
             "had GPU readings)")
            + ", sampled at 20 Hz while each run went on and averaged to at most 600 points; the shaded bands "
            "are its stages.",
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
    lines += ["", "## Pipelines", ""]
    for label, p in zip(labels, results.pipelines, strict=True):
        lines.append(f"### {label}")
        lines.append("")
        lines += pipeline_settings_lines(p.name, results.settings)
        lines += [f"- {key}: {_fmt_detail(value)}" for key, value in p.details.items()
                  if key not in ("loss_per_epoch", "seconds_per_epoch")]
        if "loss_per_epoch" in p.details:
            losses = ", ".join(f"{v:.3f}" for v in p.details["loss_per_epoch"])
            seconds = ", ".join(f"{v:.1f}" for v in p.details["seconds_per_epoch"])
            lines += [f"- training loss per epoch: {losses}", f"- seconds per epoch: {seconds}"]
        lines.append("")
    lines += environment_lines(results.environment)
    return "\n".join(lines)


def pipeline_settings_lines(name: str, settings: Mapping[str, Any]) -> list[str]:
    """What the registry says the pipeline is, and the command's options it reads, with their values."""
    pipeline = PIPELINES.get(name)
    if pipeline is None:  # a results file from a version with other pipelines
        return []
    def shown(value: object) -> str:
        if value is None:
            return "default"
        if isinstance(value, bool):
            return "yes" if value else "no"
        return _fmt_detail(value)

    options = [f"--{option.replace('_', '-')} {shown(settings[option])}" for option in pipeline.options
               if option in settings]
    return [f"- pipeline: {pipeline.summary}"] + ([f"- options it reads: {', '.join(options)}"] if options else [])


def _fmt_detail(value: object) -> str:
    if isinstance(value, dict):
        return ", ".join(f"{k}={v}" for k, v in value.items())
    if isinstance(value, float):
        return f"{value:,.4g}"
    if isinstance(value, int):
        return f"{value:,}"
    return str(value)


# --------------------------------------------------------------------------- figures
def figures(results: CompareResults) -> dict[str, Figure]:
    """The figures of a comparison report, by file name (without .png).

    ``timeline`` (every run that has one), ``per-class-accuracy`` (grouped bars, up to 40
    classes), and per run ``confusion-<run>`` and ``misclassified-<run>`` (``<run>`` from
    :func:`run_keys`). A figure whose data the results lack (files written before the field
    existed) is left out.
    """
    d = results.dataset
    labels, keys = run_labels(results), run_keys(results)
    runs = list(zip(labels, keys, results.pipelines, strict=True))
    out: dict[str, Figure] = {}
    timelines = [(label, p.timeline) for label, _, p in runs if p.timeline is not None and p.timeline.t_seconds]
    if timelines:
        out["timeline"] = timeline_figure(timelines)
    series = [(label, p.per_class_accuracy) for label, _, p in runs if len(p.per_class_accuracy) == d.num_classes]
    if series and len(series) == len(runs) and d.num_classes <= PER_CLASS_FIGURE_UP_TO:
        out["per-class-accuracy"] = per_class_accuracy_figure(series, d.class_names)
    for label, key, p in runs:
        if len(p.confusion_matrix) == d.num_classes:
            out[f"confusion-{key}"] = confusion_matrix_figure(
                p.confusion_matrix, d.class_names, f"{label}: test accuracy {p.accuracy:.4f}")
    for label, key, p in runs:
        if p.misclassified:
            out[f"misclassified-{key}"] = misclassified_figure(
                p.misclassified, d.class_names, f"{label}: misclassified test images (true → predicted)")
    return out
