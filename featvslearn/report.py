"""Report writers: the Rich side-by-side table, the Markdown report and its plain-language reading."""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path
from typing import Any

from matplotlib.figure import Figure
from rich.table import Table

from featvslearn.files import atomic_write_text
from featvslearn.plots import plots_folder, scaling_accuracy_figure, scaling_seconds_figure, write_figures
from featvslearn.results import CompareResults, PipelineResult, Results, ScalingResults, SizeSummary


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


def rich_table(results: CompareResults) -> Table:
    """The pipelines side by side, for the terminal."""
    d = results.dataset
    table = Table(title=f"{d.name}: {d.train_size:,} train / {d.test_size:,} test images, "
                        f"{'×'.join(map(str, d.image_shape))}, device {results.device}")
    for header in HEADERS:
        table.add_column(header, justify="left" if header in ("pipeline", "device") else "right")
    best = max(p.accuracy for p in results.pipelines) if results.pipelines else None
    for p in results.pipelines:
        row = _columns(p)
        if p.accuracy == best and len(results.pipelines) > 1:
            row[2] = f"[bold green]{row[2]}[/]"
        table.add_row(*row)
    return table


def reading(results: CompareResults) -> str:
    """A short plain-language reading: which pipeline won, by how much, at what cost."""
    pipelines = sorted(results.pipelines, key=lambda p: p.accuracy, reverse=True)
    if not pipelines:
        return "No pipeline was run."
    best = pipelines[0]
    lines = []
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
    gpu = [p for p in results.pipelines if p.gpu_util_percent_mean is not None]
    if gpu:
        busy = ", ".join(f"{p.name} {p.gpu_util_percent_mean:.0f}%" for p in gpu)
        lines.append(f"Mean GPU utilisation: {busy}.")
    return " ".join(lines)


def _md_table(headers: list[str], rows: list[list[str]], text_columns: int = 1) -> list[str]:
    """A Markdown table; the first ``text_columns`` columns align left, the rest (numbers) right."""
    aligns = ["---" if i < text_columns else "---:" for i in range(len(headers))]
    out = ["| " + " | ".join(headers) + " |", "| " + " | ".join(aligns) + " |"]
    out += ["| " + " | ".join(cell.replace("|", "\\|") for cell in row) + " |" for row in rows]
    return out


def markdown(results: CompareResults, links: dict[str, str] | None = None) -> str:
    """The whole Markdown report: title, reading, table, stages, dataset, settings, environment."""
    d = results.dataset
    names = " vs ".join(p.name for p in results.pipelines)
    lines = [
        f"# {names} on {d.name}",
        "",
        f"featvslearn {results.environment.get('featvslearn', '')} · {results.created} · device `{results.device}` · "
        f"seed {results.seed} · {results.total_seconds:.1f} s in all",
        "",
        "## Result",
        "",
        reading(results),
        "",
        "## Side by side",
        "",
        *_md_table(HEADERS, [_columns(p) for p in results.pipelines], text_columns=2),
        "",
        "Train seconds cover everything fitted on the training set (features and SVM, or CNN training); "
        "predict seconds go from raw test images to labels, so images/s is the end-to-end inference rate. "
        "A warm-up stage (one untimed pass, and compilation with --compile) is listed under Stages and "
        "counted in neither.",
        "",
        "## Stages",
        "",
    ]
    stage_rows = []
    for p in results.pipelines:
        for s in p.stages:
            gpu = ("–" if s.gpu_util_percent_mean is None
                   else f"{s.gpu_util_percent_mean:.0f}% / {s.gpu_util_percent_max:.0f}%")
            stage_rows.append([p.name, s.name, s.device, fmt_seconds(s.seconds), gpu,
                               fmt_percent(s.cpu_util_percent_mean), fmt_bytes(s.peak_rss_bytes)])
    lines += _md_table(["pipeline", "stage", "device", "seconds", "GPU util mean / max", "CPU util", "peak RSS"],
                       stage_rows, text_columns=3)
    lines += [
        "",
        "## Dataset",
        "",
        f"- **{d.name}**: {d.train_size:,} training and {d.test_size:,} test images of "
        f"{'×'.join(map(str, d.image_shape))} (H×W×C), {d.num_classes} classes",
        f"- source: {d.source}",
        f"- classes: {', '.join(d.class_names)}",
        f"- loaded in {d.load_seconds:.1f} s",
    ]
    skipped = results.settings.get("skipped_files") or []
    if skipped:
        lines.append(f"- {len(skipped)} unreadable file(s) skipped: {', '.join(skipped[:10])}"
                     + (" …" if len(skipped) > 10 else ""))
    if d.num_classes <= 20 and results.pipelines and results.pipelines[0].per_class_accuracy:
        lines += ["", "## Per-class accuracy", ""]
        rows = [[name] + [f"{p.per_class_accuracy[i]:.3f}" for p in results.pipelines]
                for i, name in enumerate(d.class_names)]
        lines += _md_table(["class"] + [p.name for p in results.pipelines], rows)
    lines += ["", "## Pipelines", ""]
    for p in results.pipelines:
        lines.append(f"### {p.name}")
        lines.append("")
        lines += [f"- {key}: {_fmt_detail(value)}" for key, value in p.details.items()
                  if key not in ("loss_per_epoch", "seconds_per_epoch")]
        if "loss_per_epoch" in p.details:
            losses = ", ".join(f"{v:.3f}" for v in p.details["loss_per_epoch"])
            seconds = ", ".join(f"{v:.1f}" for v in p.details["seconds_per_epoch"])
            lines += [f"- training loss per epoch: {losses}", f"- seconds per epoch: {seconds}"]
        lines.append("")
    lines += ["## Environment", ""]
    lines += _md_table(["what", "value"], [[k, str(v)] for k, v in results.environment.items()], text_columns=2)
    lines.append("")
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
    """The figures of a comparison report, by file name (without .png)."""
    return {}


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


def _image(links: dict[str, str], name: str, alt: str) -> list[str]:
    return [f"![{alt}]({links[name]})", ""] if name in links else []


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
        f"featvslearn {results.environment.get('featvslearn', '')} · {results.created} · device `{results.device}` · "
        f"seed{'s' if seeds != 1 else ''} {', '.join(map(str, results.seeds))} · {results.total_seconds:.1f} s in all",
        "",
        "## Result",
        "",
        scaling_reading(results),
        "",
        *_image(links, "accuracy-vs-size", "Test accuracy against training-set size"),
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
    lines += _image(links, "train-seconds-vs-size", "Training seconds against training-set size")
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
    lines += [
        "",
        "## Dataset",
        "",
        f"- **{d.name}**: subsamples of its {d.train_size:,} training images; {d.test_size:,} test images of "
        f"{'×'.join(map(str, d.image_shape))} (H×W×C), {d.num_classes} classes",
        f"- source: {d.source}",
        f"- classes: {', '.join(d.class_names)}",
        f"- loaded in {d.load_seconds:.1f} s",
    ]
    skipped = settings.get("skipped_files") or []
    if skipped:
        lines.append(f"- {len(skipped)} unreadable file(s) skipped: {', '.join(skipped[:10])}"
                     + (" …" if len(skipped) > 10 else ""))
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
    lines += ["", "## Environment", ""]
    lines += _md_table(["what", "value"], [[k, str(v)] for k, v in results.environment.items()], text_columns=2)
    lines.append("")
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


def terminal_table(results: Results) -> Table:
    """The terminal table of any kind of results."""
    return TABLES[results.kind](results)


def write_markdown(results: Results, path: Path) -> None:
    """Write the Markdown report to ``path`` and its PNG plots into a folder beside it.

    The plots are written first and the Markdown last, each atomically, so a report that
    exists always finds its images (linked by paths relative to the report).
    """
    folder = plots_folder(path)
    written = write_figures(FIGURES[results.kind](results), folder)
    links = {name: f"{folder.name}/{file.name}" for name, file in written.items()}
    atomic_write_text(path, MARKDOWN[results.kind](results, links))
