"""Report writers: the Rich side-by-side table, the Markdown report and its plain-language reading."""

from __future__ import annotations

import math
from collections.abc import Callable
from pathlib import Path
from typing import Any

from matplotlib.figure import Figure
from rich.table import Table

from featvslearn.files import atomic_write_text
from featvslearn.plots import accuracy_bars_figure, loss_curves_figure, plots_folder, write_figures
from featvslearn.results import AblateResults, CompareResults, PipelineResult, Results, VariantResult


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
# Other kinds register themselves below, next to their writers.
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
        f"featvslearn {results.environment.get('featvslearn', '')} · {results.created} · device `{results.device}` · "
        f"seed {results.seed} · {results.total_seconds:.1f} s in all",
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
    skipped = s.get("skipped_files") or []
    if skipped:
        lines.append(f"- {len(skipped)} unreadable file(s) skipped: {', '.join(skipped[:10])}"
                     + (" …" if len(skipped) > 10 else ""))
    lines += ["", "## Environment", ""]
    lines += _md_table(["what", "value"], [[k, str(v)] for k, v in results.environment.items()], text_columns=2)
    lines.append("")
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
