"""Report writers: the Rich side-by-side table, the Markdown report with its plots, and its reading."""

from __future__ import annotations

import math
import re
from collections import Counter
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Any
from urllib.parse import quote

from matplotlib.figure import Figure
from rich.table import Table

from featvslearn.files import atomic_write_text
from featvslearn.plots import (
    accuracy_bars_figure,
    confusion_matrix_figure,
    loss_curves_figure,
    misclassified_figure,
    per_class_accuracy_figure,
    plots_folder,
    remove_figures,
    scaling_accuracy_figure,
    scaling_seconds_figure,
    timeline_figure,
    write_figures,
)
from featvslearn.results import (
    AblateResults,
    CompareResults,
    DatasetInfo,
    PipelineResult,
    Results,
    ScalingResults,
    SizeSummary,
    VariantResult,
)

PER_CLASS_FIGURE_UP_TO = 40  # classes; above this grouped bars are unreadable


def fmt_bytes(value: int | None) -> str:
    """Bytes as MiB or GiB, or a dash when unknown."""
    if value is None:
        return "–"
    if value >= 1024**3:
        return f"{value / 1024**3:.2f} GiB"
    return f"{value / 1024**2:.0f} MiB"


def fmt_percent(value: float | None) -> str:
    """A utilisation percentage, or a dash when unavailable."""
    return "–" if value is None else f"{value:.0f}%"


def fmt_gpu_util(p: PipelineResult) -> str:
    """Mean / max GPU utilisation, or 'no GPU'."""
    if p.gpu_util_percent_mean is None:
        return "no GPU" if p.device.startswith("cpu") else "unavailable"
    return f"{p.gpu_util_percent_mean:.0f}% / {p.gpu_util_percent_max:.0f}%"


def fmt_seconds(value: float) -> str:
    """Seconds with sensible precision."""
    return f"{value:.2f}" if value < 10 else f"{value:.1f}"


def fmt_rate(value: float) -> str:
    """Images per second with thousands separators."""
    return f"{value:,.0f}"


def fmt_speed_up(value: float | None) -> str:
    """A ratio such as 12.3× (one decimal below 100), or a dash when it cannot be computed."""
    if value is None:
        return "–"
    return f"{value:.1f}×" if value < 100 else f"{value:,.0f}×"


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


HEADERS = ["pipeline", "device", "accuracy", "train s", "predict s", "images/s", "GPU util mean / max",
           "peak GPU mem", "CPU util", "peak RSS"]


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


def rich_table(results: CompareResults) -> Table:
    """The pipelines side by side, for the terminal."""
    d = results.dataset
    table = Table(title=f"{d.name}: {d.train_size:,} train / {d.test_size:,} test images, "
                        f"{'×'.join(map(str, d.image_shape))}, device {results.device}")
    for header in table_headers(results):
        table.add_column(header, justify="left" if header in ("pipeline", "device") else "right")
    best = max(p.accuracy for p in results.pipelines) if results.pipelines else None
    for p, row in zip(results.pipelines, table_rows(results), strict=True):
        if p.accuracy == best and len(results.pipelines) > 1:
            row[2] = f"[bold green]{row[2]}[/]"
        table.add_row(*row)
    return table


def reading(results: CompareResults) -> str:
    """A short plain-language reading: which pipeline won, by how much, at what cost.

    With several devices the comparison of pipelines uses the first device's runs, and a
    sentence names the biggest speed-up over that device.
    """
    pipelines = sorted(_first_runs(results), key=lambda p: p.accuracy, reverse=True)
    if not pipelines:
        return "No pipeline was run."
    best = pipelines[0]
    lines = [f"On {results.devices[0]}:"] if len(results.devices) > 1 else []
    if len(pipelines) == 1:
        lines.append(
            f"{best.name} reached {best.accuracy:.1%} test accuracy in {best.train_seconds:.1f} s of training."
        )
    else:
        runner = pipelines[1]
        gap = best.accuracy - runner.accuracy
        if gap < 0.002:
            lines.append(f"{best.name} and {runner.name} are level: {best.accuracy:.1%} against {runner.accuracy:.1%}.")
        else:
            best_errors, runner_errors = 1 - best.accuracy, 1 - runner.accuracy
            fewer = (runner_errors - best_errors) / runner_errors if runner_errors > 0 else 0.0
            lines.append(
                f"**{best.name} won**: {best.accuracy:.1%} test accuracy against {runner.accuracy:.1%} for "
                f"{runner.name}, {gap * 100:.1f} points better ({fewer:.0%} fewer mistakes)."
            )
        fast, slow = sorted((best, runner), key=lambda p: p.train_seconds)
        if fast.train_seconds > 0:
            lines.append(
                f"{fast.name} trained {slow.train_seconds / fast.train_seconds:.1f}× faster "
                f"({fast.train_seconds:.1f} s against {slow.train_seconds:.1f} s)"
                + (", so the gain in accuracy cost training time." if slow is best else ".")
            )
        quick, laggard = sorted((best, runner), key=lambda p: -p.images_per_second)
        lines.append(
            f"At inference {quick.name} labels {quick.images_per_second:,.0f} images/s from raw pixels, "
            f"{quick.images_per_second / max(laggard.images_per_second, 1e-9):.1f}× the rate of {laggard.name}."
        )
    speed = speed_up_sentence(results)
    if speed:
        lines.append(speed)
    gpu = [(label, p) for label, p in zip(run_labels(results), results.pipelines, strict=True)
           if p.gpu_util_percent_mean is not None]
    if gpu:
        busy = ", ".join(f"{label} {p.gpu_util_percent_mean:.0f}%" for label, p in gpu)
        lines.append(f"Mean GPU utilisation: {busy}.")
    return " ".join(lines)


def _md_table(headers: list[str], rows: list[list[str]], text_columns: int = 1) -> list[str]:
    """A Markdown table; the first ``text_columns`` columns align left, the rest (numbers) right."""
    aligns = ["---" if i < text_columns else "---:" for i in range(len(headers))]
    out = ["| " + " | ".join(headers) + " |", "| " + " | ".join(aligns) + " |"]
    out += ["| " + " | ".join(cell.replace("|", "\\|") for cell in row) + " |" for row in rows]
    return out


def _byline(results: Results, seeds: str) -> str:
    """The line under a report's title: version, when, device, ``seeds`` (the seed or seeds) and total time."""
    return (f"featvslearn {results.environment.get('featvslearn', '')} · {results.created} · device "
            f"`{results.device}` · {seeds} · {results.total_seconds:.1f} s in all")


def _dataset_lines(d: DatasetInfo, settings: dict[str, Any], subsamples: bool = False) -> list[str]:
    """The report's Dataset section (with a blank line before it), naming any unreadable files skipped.

    ``subsamples``: the runs trained on subsamples of the training set (scaling), not on all of it.
    """
    images = (f"subsamples of its {d.train_size:,} training images; {d.test_size:,} test images" if subsamples
              else f"{d.train_size:,} training and {d.test_size:,} test images")
    lines = [
        "",
        "## Dataset",
        "",
        f"- **{d.name}**: {images} of {'×'.join(map(str, d.image_shape))} (H×W×C), {d.num_classes} classes",
        f"- source: {d.source}",
        f"- classes: {', '.join(d.class_names)}",
        f"- loaded in {d.load_seconds:.1f} s",
    ]
    skipped = settings.get("skipped_files") or []
    if skipped:
        lines.append(f"- {len(skipped)} unreadable file(s) skipped: {', '.join(skipped[:10])}"
                     + (" …" if len(skipped) > 10 else ""))
    return lines


def _environment_lines(environment: dict[str, Any]) -> list[str]:
    """The report's Environment section, as a two-column table, and the blank line that ends the report."""
    return ["## Environment", "",
            *_md_table(["what", "value"], [[k, str(v)] for k, v in environment.items()], text_columns=2), ""]


def _image(alt: str, link: str) -> str:
    """A Markdown image; the path is percent-encoded, so spaces and ``#`` in a report's name are safe."""
    return f"![{alt.replace('[', '(').replace(']', ')')}]({quote(link)})"


def markdown(results: CompareResults, links: dict[str, str] | None = None) -> str:
    """The whole Markdown report: title, reading, table, stages, dataset, settings, environment.

    ``links`` maps figure names (those of :func:`compare_figures`) to PNG paths relative to
    the report; each figure given is shown in the section it belongs to, the others are left out.
    """
    links = links or {}
    d = results.dataset
    labels, keys = run_labels(results), run_keys(results)
    names = " vs ".join(dict.fromkeys(p.name for p in results.pipelines))
    devices = f": {' vs '.join(results.devices)}" if len(results.devices) > 1 else ""
    lines = [
        f"# {names} on {d.name}{devices}",
        "",
        _byline(results, f"seed {results.seed}"),
        "",
        "## Result",
        "",
        reading(results),
        "",
        "## Side by side",
        "",
        *_md_table(table_headers(results), table_rows(results), text_columns=2),
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
    stage_rows = []
    for label, p in zip(labels, results.pipelines, strict=True):
        for s in p.stages:
            gpu = ("–" if s.gpu_util_percent_mean is None
                   else f"{s.gpu_util_percent_mean:.0f}% / {s.gpu_util_percent_max:.0f}%")
            stage_rows.append([label, s.name, s.device, fmt_seconds(s.seconds), gpu,
                               fmt_percent(s.cpu_util_percent_mean), fmt_bytes(s.peak_rss_bytes)])
    lines += _md_table(["pipeline", "stage", "device", "seconds", "GPU util mean / max", "CPU util", "peak RSS"],
                       stage_rows, text_columns=3)
    if "timeline" in links:
        gpu = any(p.timeline is not None and p.timeline.gpu_util_percent is not None for p in results.pipelines)
        lines += [
            "",
            "### Utilisation over time",
            "",
            ("GPU utilisation (green, read through NVML) and the whole machine's CPU utilisation (blue)" if gpu
             else "The whole machine's CPU utilisation (no run had GPU readings)")
            + ", sampled at 20 Hz while each run went on and averaged to at most 600 points; the shaded bands "
            "are its stages.",
            "",
            _image("GPU and CPU utilisation over time, per run", links["timeline"]),
        ]
    lines += _dataset_lines(d, results.settings)
    per_class_table = (d.num_classes <= 20 and bool(results.pipelines)
                       and all(len(p.per_class_accuracy) == d.num_classes for p in results.pipelines))
    if per_class_table or "per-class-accuracy" in links:
        lines += ["", "## Per-class accuracy", ""]
        if per_class_table:
            rows = [[name] + [f"{p.per_class_accuracy[i]:.3f}" for p in results.pipelines]
                    for i, name in enumerate(d.class_names)]
            lines += _md_table(["class", *labels], rows)
            lines.append("")
        if "per-class-accuracy" in links:
            lines.append(_image("per-class test accuracy", links["per-class-accuracy"]))
    confusion = [(label, links[f"confusion-{key}"]) for label, key in zip(labels, keys, strict=True)
                 if f"confusion-{key}" in links]
    if confusion:
        lines += ["", "## Confusion matrices", "",
                  "Rows are the true classes, columns the predicted ones; each cell is shaded by the fraction of "
                  "its true class" + (" and shows the count." if d.num_classes <= 15 else ".")]
        for label, link in confusion:
            lines += ["", _image(f"{label}: confusion matrix", link)]
    mistakes = [(label, links[f"misclassified-{key}"]) for label, key in zip(labels, keys, strict=True)
                if f"misclassified-{key}" in links]
    if mistakes:
        lines += ["", "## Misclassified test images", "",
                  "Up to 16 test images each run got wrong, spread over the true classes (chosen with the run's "
                  "seed); under each image, its true class → the predicted one."]
        for label, link in mistakes:
            lines += ["", _image(f"{label}: misclassified test images", link)]
    lines += ["", "## Pipelines", ""]
    for label, p in zip(labels, results.pipelines, strict=True):
        lines.append(f"### {label}")
        lines.append("")
        lines += [f"- {key}: {_fmt_detail(value)}" for key, value in p.details.items()
                  if key not in ("loss_per_epoch", "seconds_per_epoch")]
        if "loss_per_epoch" in p.details:
            losses = ", ".join(f"{v:.3f}" for v in p.details["loss_per_epoch"])
            seconds = ", ".join(f"{v:.1f}" for v in p.details["seconds_per_epoch"])
            lines += [f"- training loss per epoch: {losses}", f"- seconds per epoch: {seconds}"]
        lines.append("")
    lines += _environment_lines(results.environment)
    return "\n".join(lines)


def _fmt_detail(value: object) -> str:
    if isinstance(value, dict):
        return ", ".join(f"{k}={v}" for k, v in value.items())
    if isinstance(value, float):
        return f"{value:,.4g}"
    if isinstance(value, int):
        return f"{value:,}"
    return str(value)


def compare_figures(results: CompareResults) -> dict[str, Figure]:
    """The figures of a comparison report, by file name (without .png).

    ``timeline`` (every run that has one), ``per-class-accuracy`` (grouped bars, up to 40
    classes), and per run ``confusion-<run>`` and ``misclassified-<run>`` (``<run>`` from
    :func:`run_keys`). A figure whose data the results lack (files written before the field
    existed) is left out.
    """
    d = results.dataset
    labels, keys = run_labels(results), run_keys(results)
    runs = list(zip(labels, keys, results.pipelines, strict=True))
    figures: dict[str, Figure] = {}
    timelines = [(label, p.timeline) for label, _, p in runs if p.timeline is not None and p.timeline.t_seconds]
    if timelines:
        figures["timeline"] = timeline_figure(timelines)
    series = [(label, p.per_class_accuracy) for label, _, p in runs if len(p.per_class_accuracy) == d.num_classes]
    if series and len(series) == len(runs) and d.num_classes <= PER_CLASS_FIGURE_UP_TO:
        figures["per-class-accuracy"] = per_class_accuracy_figure(series, d.class_names)
    for label, key, p in runs:
        if len(p.confusion_matrix) == d.num_classes:
            figures[f"confusion-{key}"] = confusion_matrix_figure(
                p.confusion_matrix, d.class_names, f"{label}: test accuracy {p.accuracy:.4f}")
    for label, key, p in runs:
        if p.misclassified:
            figures[f"misclassified-{key}"] = misclassified_figure(
                p.misclassified, d.class_names, f"{label}: misclassified test images (true → predicted)")
    return figures


# ---------------------------------------------------------------------------- scaling

LEVEL_POINTS = 0.002
"""Accuracies closer than this (0.2 points) are called level."""


def fmt_mean_std(mean: float, std: float, runs: int, digits: int = 4) -> str:
    """``0.9056 ± 0.0012``; the mean alone for a single run."""
    return f"{mean:.{digits}f}" if runs < 2 else f"{mean:.{digits}f} ± {std:.{digits}f}"


def _per_class(size: int, num_classes: int) -> str:
    per_class = size / max(num_classes, 1)
    return f"{per_class:,.0f}" if per_class >= 10 or per_class == int(per_class) else f"{per_class:.1f}"


def _summaries(results: ScalingResults) -> dict[str, list[SizeSummary]]:
    return {name: results.summary(name) for name in results.pipelines}


def _leader_sentence(results: ScalingResults, summaries: dict[str, list[SizeSummary]], index: int) -> str:
    """Who leads at one size: "At 100 training images (10 per class) **hog-svm leads**: …"."""
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
    spread = max(best.accuracy_std, runner.accuracy_std)
    both = f"{best.accuracy_mean:.1%} ± {best.accuracy_std:.1%}" if best.runs > 1 else f"{best.accuracy_mean:.1%}"
    other = (f"{runner.accuracy_mean:.1%} ± {runner.accuracy_std:.1%}" if runner.runs > 1
             else f"{runner.accuracy_mean:.1%}")
    if gap < LEVEL_POINTS:
        return f"{where} {best_name} and {runner_name} are level: {both} and {other}."
    text = (f"{where} **{best_name} leads**: {both} against {other} for {runner_name}, "
            f"{gap * 100:.1f} points ahead")
    if best.runs > 1 and gap <= spread:
        text += ", within the spread over seeds"
    return text + "."


def scaling_reading(results: ScalingResults) -> str:
    """A short plain-language reading: who leads at the smallest and largest size, and the crossovers."""
    summaries = _summaries(results)
    lines = [_leader_sentence(results, summaries, 0)]
    if len(results.sizes) > 1:
        lines.append(_leader_sentence(results, summaries, -1))
    low, high = results.sizes[0], results.sizes[-1]
    for name, crossover in results.crossover.items():
        if crossover.size is not None:
            lines.append(f"**The CNN overtakes {name} from {crossover.size:,} training images on**; the curves "
                         f"cross near {crossover.estimate:,.0f} images (between {crossover.between[0]:,} and "
                         f"{crossover.between[1]:,}, interpolated in log size).")
        elif crossover.reason == "the CNN is ahead at every size":
            lines.append(f"Against {name} there is no crossover in this range: the CNN is ahead at every size, "
                         f"already at {low:,} images; smaller sizes would be needed to find it.")
        else:
            lines.append(f"Against {name} there is no crossover between {low:,} and {high:,} training images: "
                         f"{crossover.reason}.")
    if "cnn" not in results.pipelines:
        lines.append("The CNN was not run, so there is no crossover to find.")
    at_full = {name: rows[-1].train_seconds_mean for name, rows in summaries.items()}
    if len(at_full) > 1:
        fast, slow = min(at_full, key=at_full.__getitem__), max(at_full, key=at_full.__getitem__)
        if at_full[fast] > 0:
            lines.append(f"At {high:,} images {slow} trained in {at_full[slow]:.1f} s against {at_full[fast]:.1f} s "
                         f"for {fast} ({at_full[slow] / at_full[fast]:.1f}×).")
    seeds = len(results.seeds)
    if seeds > 1:
        lines.append(f"Accuracies are means ± sample standard deviation over {seeds} seeds, each drawing its own "
                     "stratified subsample and initialisation;")
    else:
        lines.append(f"Accuracies come from one seed ({results.seeds[0]}), so there is no spread to judge them by;")
    lines.append(f"every run is tested on the same {results.dataset.test_size:,} images.")
    return " ".join(lines)


def scaling_table(results: ScalingResults) -> Table:
    """Accuracy (mean ± std) and training seconds per size and pipeline, for the terminal."""
    d = results.dataset
    seeds = len(results.seeds)
    table = Table(title=f"{d.name}: test accuracy by training-set size (mean{' ± std' if seeds > 1 else ''} over "
                        f"{seeds} seed{'s' if seeds != 1 else ''}), {d.test_size:,} test images, "
                        f"device {results.device}")
    table.add_column("train images", justify="right")
    table.add_column("per class", justify="right")
    summaries = _summaries(results)
    for name in summaries:
        table.add_column(f"{name} accuracy", justify="right")
        table.add_column(f"{name} train s", justify="right")
    for index, size in enumerate(results.sizes):
        best = max(rows[index].accuracy_mean for rows in summaries.values())
        row = [f"{size:,}", _per_class(size, d.num_classes)]
        for rows in summaries.values():
            s = rows[index]
            cell = fmt_mean_std(s.accuracy_mean, s.accuracy_std, s.runs)
            row += [f"[bold green]{cell}[/]" if s.accuracy_mean == best and len(summaries) > 1 else cell,
                    fmt_seconds(s.train_seconds_mean)]
        table.add_row(*row)
    table.caption = " ".join(f"{name}: {c.reason}." for name, c in results.crossover.items()) or None
    return table


def _image_lines(links: dict[str, str], name: str, alt: str) -> list[str]:
    """The Markdown image of figure ``name`` and a blank line, or nothing when it was not drawn."""
    return [_image(alt, links[name]), ""] if name in links else []


def scaling_markdown(results: ScalingResults, links: dict[str, str] | None = None) -> str:
    """The scaling report: reading, plots, accuracy and time per size, every run, dataset, settings, environment.

    ``links`` maps figure names (``accuracy-vs-size``, ``train-seconds-vs-size``) to paths relative to the report.
    """
    links = links or {}
    d = results.dataset
    summaries = _summaries(results)
    names = list(summaries)
    seeds = len(results.seeds)
    lines = [
        f"# Scaling: {' vs '.join(names)} on {d.name}, {results.sizes[0]:,} to {results.sizes[-1]:,} "
        "training images",
        "",
        _byline(results, f"seed{'s' if seeds != 1 else ''} {', '.join(map(str, results.seeds))}"),
        "",
        "## Result",
        "",
        scaling_reading(results),
        "",
        *_image_lines(links, "accuracy-vs-size", "Test accuracy against training-set size"),
        "## Accuracy by training-set size",
        "",
    ]
    rows = [[f"{size:,}", _per_class(size, d.num_classes)]
            + [fmt_mean_std(summaries[n][i].accuracy_mean, summaries[n][i].accuracy_std, summaries[n][i].runs)
               for n in names]
            for i, size in enumerate(results.sizes)]
    lines += _md_table(["training images", "per class", *names], rows, text_columns=0)
    lines += [
        "",
        f"Test accuracy, mean{' ± sample standard deviation' if seeds > 1 else ''} over {seeds} "
        f"seed{'s' if seeds != 1 else ''}, on the same {d.test_size:,} test images. Each seed draws its own "
        "stratified subsample of the training set (at the full size, the seeds differ in initialisation and "
        "shuffling only).",
        "",
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
    lines += _image_lines(links, "train-seconds-vs-size", "Training seconds against training-set size")
    rows = [[f"{size:,}"] + [fmt_mean_std(summaries[n][i].train_seconds_mean, summaries[n][i].train_seconds_std,
                                          summaries[n][i].runs, digits=2) for n in names]
            for i, size in enumerate(results.sizes)]
    lines += _md_table(["training images", *[f"{n} train s" for n in names]], rows, text_columns=0)
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
                run = next(r for r in results.pipelines[name] if r.train_size == size and r.seed == seed)
                row += [f"{run.accuracy:.4f}", fmt_seconds(run.train_seconds)]
            rows.append(row)
    lines += _md_table(["training images", "seed", *[f"{n} {what}" for n in names for what in ("accuracy",
                                                                                                 "train s")]],
                       rows, text_columns=0)
    settings = results.settings
    lines += _dataset_lines(d, settings, subsamples=True)
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
    for key in ("preset", "cnn_precision", "precision", "svm", "device_option"):
        if key in settings:
            lines.append(f"- {key.replace('_', ' ')}: {settings[key]}")
    lines += ["", *_environment_lines(results.environment)]
    return "\n".join(lines)


def scaling_figures(results: ScalingResults) -> dict[str, Figure]:
    """The figures of a scaling report, by file name (without .png)."""
    return {"accuracy-vs-size": scaling_accuracy_figure(results),
            "train-seconds-vs-size": scaling_seconds_figure(results)}


# Per results kind: the figures to draw, and the Markdown given {figure name: relative PNG path}.
FIGURES: dict[str, Callable[[Any], dict[str, Figure]]] = {"compare": compare_figures, "scaling": scaling_figures}
MARKDOWN: dict[str, Callable[[Any, dict[str, str]], str]] = {"compare": lambda r, links: markdown(r, links),
                                                             "scaling": scaling_markdown}
TABLES: dict[str, Callable[[Any], Table]] = {"compare": rich_table, "scaling": scaling_table}
# Other kinds register themselves below, next to their writers.


def terminal_table(results: Results) -> Table:
    """The terminal table of any kind of results."""
    return TABLES[results.kind](results)


def write_markdown(results: Results, path: Path) -> None:
    """Write the Markdown report to ``path`` and its PNG plots into a folder beside it.

    The plots are written first and the Markdown last, each atomically, so a report that
    exists always finds its images (linked by paths relative to the report). If the
    Markdown cannot be written (a full disk, Ctrl-C), a plots folder created by this call is
    removed again.
    """
    folder = plots_folder(path)
    existed = folder.exists()
    figures = FIGURES[results.kind](results)
    written: dict[str, Path] = {}
    try:
        written = write_figures(figures, folder)
        links = {name: f"{folder.name}/{file.name}" for name, file in written.items()}
        atomic_write_text(path, MARKDOWN[results.kind](results, links))
    except BaseException:
        if not existed:
            remove_figures(written, folder)
        raise


# ---------------------------------------------------------------- ablate

ABLATE_HEADERS = ["variant", "activation", "batch norm", "dropout", "depth", "lr", "parameters", "accuracy",
                  "train s", "final loss"]


def _final_loss(v: VariantResult) -> str:
    losses = v.loss_per_epoch
    if v.diverged or not losses or losses[-1] is None:
        return "diverged"
    return f"{losses[-1]:.3f}"


def _ablate_columns(v: VariantResult) -> list[str]:
    return [
        v.name,
        v.activation,
        "yes" if v.batch_norm else "no",
        f"{v.dropout:g}" if v.dropout > 0 else "–",
        str(v.depth),
        f"{v.lr:.3g}",
        f"{v.parameters:,}",
        f"{v.accuracy:.4f}",
        fmt_seconds(v.train_seconds),
        _final_loss(v),
    ]


def ablate_table(results: AblateResults) -> Table:
    """The variants side by side, for the terminal; the best accuracy in bold green."""
    d = results.dataset
    table = Table(title=f"CNN ablation on {d.name}: {d.train_size:,} train / {d.test_size:,} test images, "
                        f"{results.settings.get('epochs')} epochs each, device {results.device}")
    for header in ABLATE_HEADERS:
        table.add_column(header, justify="left" if header in ("variant", "activation") else "right")
    best = max((v.accuracy for v in results.variants), default=None)
    for v in results.variants:
        row = _ablate_columns(v)
        if v.accuracy == best and len(results.variants) > 1:
            row[7] = f"[bold green]{row[7]}[/]"
        table.add_row(*row)
    return table


# (variant without the factor, variant with it, what the factor is), read in this order
_FACTORS = [
    ("relu-plain", "relu-bn", "Batch norm"),
    ("relu-bn", "relu-bn-dropout", "Dropout"),
    ("sigmoid-plain", "relu-plain", "ReLU instead of sigmoid"),
    ("tanh-plain", "relu-plain", "ReLU instead of tanh"),
    ("relu-plain", "relu-deep-plain", "Twice the depth without normalisation (ReLU)"),
    ("sigmoid-plain", "sigmoid-deep-plain", "Twice the depth without normalisation (sigmoid)"),
    ("sigmoid-deep-plain", "sigmoid-deep-bn", "Batch norm in the deep sigmoid net"),
]


def ablate_reading(results: AblateResults) -> str:
    """A short plain-language reading: the best and worst variant and the gap, which barely learned or diverged."""
    variants = results.variants
    if not variants:
        return "No variant was trained."
    chance = 1 / max(results.dataset.num_classes, 1)
    best = max(variants, key=lambda v: v.accuracy)
    worst = min(variants, key=lambda v: v.accuracy)
    budget = (f"{results.dataset.train_size:,} training images, {results.settings.get('epochs')} epochs, "
              "the same schedule and seed")
    if len(variants) == 1:
        return f"{best.name} reached {best.accuracy:.1%} test accuracy with {budget}."
    lines = [
        f"**{best.name} did best** with {best.accuracy:.1%} test accuracy; **{worst.name} did worst** with "
        f"{worst.accuracy:.1%}, {(best.accuracy - worst.accuracy) * 100:.1f} points behind — with the same budget "
        f"for every variant ({budget})."
    ]
    near_chance = [v.name for v in variants if v.accuracy < chance + 0.05]
    if near_chance:
        lines.append(f"{', '.join(near_chance)} stayed within 5 points of chance ({chance:.0%}): "
                     f"{'it' if len(near_chance) == 1 else 'they'} barely learned in this budget.")
    diverged = [v.name for v in variants if v.diverged]
    if diverged:
        lines.append(f"{', '.join(diverged)} diverged (the training loss stopped being a number).")
    return " ".join(lines)


def ablate_factors(results: AblateResults) -> list[str]:
    """What each change did to test accuracy, one line per pair of variants that differ in it."""
    by_name = {v.name: v for v in results.variants}
    lines = []
    for without, with_, factor in _FACTORS:
        if without in by_name and with_ in by_name:
            before, after = by_name[without].accuracy, by_name[with_].accuracy
            lines.append(f"{factor}: {(after - before) * 100:+.1f} points ({without} {before:.1%} → "
                         f"{with_} {after:.1%})")
    return lines


def ablate_markdown(results: AblateResults, links: dict[str, str] | None = None) -> str:
    """The ablation report: reading, table, loss curves, the shared budget, stages, dataset, environment."""
    links = links or {}
    d, s = results.dataset, results.settings
    lines = [
        f"# CNN ablation on {d.name}: activations, batch norm, dropout, depth",
        "",
        _byline(results, f"seed {results.seed}"),
        "",
        "## Result",
        "",
        ablate_reading(results),
        "",
    ]
    factors = ablate_factors(results)
    if factors:
        lines += ["What each change did to test accuracy:", "", *[f"- {line}" for line in factors], ""]
    lines += [
        "## Variants",
        "",
        *_md_table(ABLATE_HEADERS, [_ablate_columns(v) for v in results.variants], text_columns=2),
        "",
        "Depth counts weight layers (every convolution and the classifier); dropout applies before the "
        "classifier; \"plain\" means no normalisation. Train seconds cover moving the data to the device and the "
        "training loop; the final loss is the mean training loss of the last epoch.",
        "",
    ]
    if "loss-curves" in links:
        lines += ["## Training loss", "", f"![training loss per variant]({links['loss-curves']})", ""]
    if "accuracy" in links:
        lines += ["## Test accuracy", "", f"![test accuracy per variant]({links['accuracy']})", ""]
    lr_note = f"the trainer's learning rate is {s['lr']:.3g}, scaled per variant (the lr column): {s['lr_rule']}"
    lines += [
        "## The same budget for every variant",
        "",
        f"- {d.train_size:,} training images (the same ones, in the same order), {s['epochs']} epochs, batch "
        f"{s['batch_size']}, {s['steps']:,} optimiser steps",
        f"- {s['optimizer']}; {lr_note}",
        f"- weight decay {s['weight_decay']:g} on weights only, label smoothing {s['label_smoothing']:g}, "
        + (f"random translation by up to {s['translate_pixels']} pixels, " if s["translate_pixels"] else
           "no random translation, ")
        + ("random horizontal flips" if s["hflip"] else "no flips"),
        f"- initialisation: {s['initialisation']}; seed {results.seed}",
        f"- precision {s['precision']}; no patch-whitening first layer and no test-time augmentation "
        "(compare's CNN uses both)",
        "",
        "## Loss per epoch",
        "",
    ]
    epochs = max((len(v.loss_per_epoch) for v in results.variants), default=0)
    rows = [[v.name] + ["–" if x is None else f"{x:.3f}" for x in v.loss_per_epoch] for v in results.variants]
    lines += _md_table(["variant"] + [str(i + 1) for i in range(epochs)], rows)
    lines += ["", "## Stages", ""]
    stage_rows = []
    for v in results.variants:
        for st in v.stages:
            gpu = ("–" if st.gpu_util_percent_mean is None
                   else f"{st.gpu_util_percent_mean:.0f}% / {st.gpu_util_percent_max:.0f}%")
            stage_rows.append([v.name, st.name, st.device, fmt_seconds(st.seconds), gpu,
                               fmt_percent(st.cpu_util_percent_mean), fmt_bytes(st.peak_rss_bytes)])
    lines += _md_table(["variant", "stage", "device", "seconds", "GPU util mean / max", "CPU util", "peak RSS"],
                       stage_rows, text_columns=3)
    lines += _dataset_lines(d, s)
    lines += ["", *_environment_lines(results.environment)]
    return "\n".join(lines)


def ablate_figures(results: AblateResults) -> dict[str, Figure]:
    """The training-loss curves and the accuracy bars of an ablation, by file name (without .png)."""
    if not results.variants:
        return {}
    d = results.dataset
    title = f"{d.name}: {d.train_size:,} training images, {results.settings.get('epochs')} epochs per variant"
    return {
        "loss-curves": loss_curves_figure({v.name: v.loss_curve for v in results.variants},
                                          chance_loss=math.log(d.num_classes), title=title),
        "accuracy": accuracy_bars_figure({v.name: v.accuracy for v in results.variants},
                                         chance=1 / d.num_classes, title=title),
    }


FIGURES["ablate"] = ablate_figures
MARKDOWN["ablate"] = ablate_markdown
TABLES["ablate"] = ablate_table
