"""Report writers: the Rich side-by-side table, the Markdown report and its plain-language reading."""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path
from typing import Any

from matplotlib.figure import Figure
from rich.table import Table

from featvslearn.files import atomic_write_text
from featvslearn.plots import plots_folder, write_figures
from featvslearn.results import CompareResults, PipelineResult, Results


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


# Per results kind: the figures to draw, and the Markdown given {figure name: relative PNG path}.
FIGURES: dict[str, Callable[[Any], dict[str, Figure]]] = {"compare": compare_figures}
MARKDOWN: dict[str, Callable[[Any, dict[str, str]], str]] = {"compare": lambda r, links: markdown(r, links)}
TABLES: dict[str, Callable[[Any], Table]] = {"compare": rich_table}


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
