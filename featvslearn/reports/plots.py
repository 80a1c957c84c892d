"""Figures for the reports: pure functions from results to matplotlib figures.

Figures are built with ``matplotlib.figure.Figure`` directly (no pyplot, no global state), so
drawing never opens a window and works on a headless machine. Every function here takes plain
values (lists, class names, titles) or result records and returns a ``Figure``; choosing which
figures a report has, and their titles, is the report writer's job, and writing them as PNG
files is :mod:`featvslearn.reports.shared`'s.
"""

from __future__ import annotations

import math
from collections.abc import Mapping, Sequence

import numpy as np
from matplotlib.axes import Axes
from matplotlib.figure import Figure
from matplotlib.ticker import NullFormatter

from featvslearn.results import MisclassifiedExample, ScalingResults, Timeline, decode_image

ANNOTATE_COUNTS_UP_TO = 15  # classes; above this a confusion matrix's cells are too small for numbers
CLASS_TICKS_UP_TO = 40  # classes; above this the axes carry indices instead of names
STAGE_COLOURS = ("#fde0c5", "#d4e6f1", "#e8daef", "#d5f5e3", "#fcf3cf", "#f5cba7", "#d6dbdf", "#fadbd8")
GPU_COLOUR, CPU_COLOUR = "#2e7d32", "#1565c0"


def _short(name: str, limit: int = 14) -> str:
    """A class name cut to ``limit`` characters for a tick or a caption."""
    return name if len(name) <= limit else name[: limit - 1] + "…"


def _class_ticks(ax: Axes, axis: str, class_names: Sequence[str], rotate: bool) -> None:
    """Class names on one axis of ``ax`` (indices when there are too many classes to name)."""
    n = len(class_names)
    if n > CLASS_TICKS_UP_TO:
        return
    labels = [_short(c) for c in class_names]
    if axis == "x":
        widest = max((len(c) for c in labels), default=0)
        long = rotate and (widest * n > 40 or widest > 8)  # names that would overlap side by side
        ax.set_xticks(range(n), labels, rotation=45 if long else 0, ha="right" if long else "center",
                      rotation_mode="anchor", fontsize=8)
    else:
        ax.set_yticks(range(n), labels, fontsize=8)


# --------------------------------------------------------------------------- confusion matrix
def confusion_matrix_figure(matrix: Sequence[Sequence[int]], class_names: Sequence[str], title: str) -> Figure:
    """A confusion matrix (rows: true class, columns: predicted), shaded by the fraction of each
    true class, with the counts written in the cells when there are at most 15 classes."""
    counts = np.asarray(matrix, dtype=np.int64)  # (K, K)
    n = counts.shape[0]
    fractions = counts / np.maximum(counts.sum(axis=1, keepdims=True), 1)  # each row sums to 1
    side = min(2.8 + 0.42 * n, 12.0)
    figure = Figure(figsize=(side + 1.2, side), layout="constrained")
    ax = figure.add_subplot()
    image = ax.imshow(fractions, cmap="Blues", vmin=0.0, vmax=1.0, interpolation="nearest")
    figure.colorbar(image, ax=ax, shrink=0.8, label="fraction of the true class")
    if n <= ANNOTATE_COUNTS_UP_TO:
        for i in range(n):
            for j in range(n):
                if counts[i, j] or i == j:
                    ax.text(j, i, str(counts[i, j]), ha="center", va="center", fontsize=8,
                            color="white" if fractions[i, j] > 0.5 else "black")
    _class_ticks(ax, "x", class_names, rotate=True)
    _class_ticks(ax, "y", class_names, rotate=False)
    ax.set_xlabel("predicted class")
    ax.set_ylabel("true class")
    ax.set_title(title, fontsize=10)
    return figure


# --------------------------------------------------------------------------- per-class accuracy
def per_class_accuracy_figure(series: Sequence[tuple[str, Sequence[float]]], class_names: Sequence[str],
                              title: str = "Per-class test accuracy") -> Figure:
    """Grouped bars: for each class, one bar per run (``series`` is [(run label, accuracy per class)])."""
    n, k = len(class_names), max(len(series), 1)
    x = np.arange(n)
    width = 0.8 / k
    figure = Figure(figsize=(min(max(6.0, 0.22 * n * k + 2.5), 18.0), 4.0), layout="constrained")
    ax = figure.add_subplot()
    lowest = min((min(values) for _, values in series if len(values)), default=0.0)
    for i, (label, values) in enumerate(series):
        ax.bar(x + (i - (k - 1) / 2) * width, values, width, label=label)
    # start the axis below the lowest bar, so differences between runs show; the ticks say where
    bottom = 0.0 if lowest < 0.6 else math.floor((lowest - 0.05) * 10) / 10
    ax.set_ylim(bottom, 1.0)
    ax.set_xlim(-0.6, n - 0.4)
    _class_ticks(ax, "x", class_names, rotate=True)
    ax.set_ylabel("test accuracy" + (f" (axis from {bottom:.1f})" if bottom > 0 else ""))
    ax.grid(axis="y", alpha=0.3)
    ax.set_axisbelow(True)
    ax.legend(fontsize=8, loc="lower center", bbox_to_anchor=(0.5, 1.0), ncols=min(k, 4), frameon=False)
    figure.suptitle(title, fontsize=10)
    return figure


# --------------------------------------------------------------------------- misclassified images
def misclassified_figure(examples: Sequence[MisclassifiedExample], class_names: Sequence[str], title: str,
                         columns: int = 8) -> Figure:
    """A grid of misclassified test images, each captioned "true → predicted" with class names."""
    count = max(len(examples), 1)
    columns = min(columns, count)
    rows = math.ceil(count / columns)
    figure = Figure(figsize=(1.25 * columns + 0.2, 1.45 * rows + 0.5), layout="constrained")
    axes = figure.subplots(rows, columns, squeeze=False)
    for ax in axes.flat:
        ax.set_axis_off()
    for ax, example in zip(axes.flat, examples, strict=False):
        image = decode_image(example.image)  # (H, W, C) uint8
        if image.shape[2] == 1:
            ax.imshow(image[:, :, 0], cmap="gray", vmin=0, vmax=255, interpolation="nearest")
        else:
            ax.imshow(image, interpolation="nearest")
        ax.set_axis_on()
        ax.set_xticks([])
        ax.set_yticks([])
        true, predicted = (_short(_class_name(class_names, c), 12) for c in (example.label, example.prediction))
        ax.set_xlabel(f"{true}\n→ {predicted}", fontsize=7, color="#b71c1c")
    figure.suptitle(title, fontsize=10)
    return figure


def _class_name(class_names: Sequence[str], index: int) -> str:
    return class_names[index] if 0 <= index < len(class_names) else str(index)


# --------------------------------------------------------------------------- utilisation timelines
def timeline_figure(runs: Sequence[tuple[str, Timeline]],
                    title: str = "Utilisation over time; shaded bands are the stages") -> Figure:
    """One panel per run: GPU and CPU utilisation (%) against seconds since the run started,
    its stages shaded (one colour per stage name, the same in every panel) and named where
    there is room. A run without GPU readings says so in its panel's title."""
    count = max(len(runs), 1)
    figure = Figure(figsize=(10.0, 2.1 * count + 0.8), layout="constrained")
    axes = figure.subplots(count, 1, squeeze=False)[:, 0]
    stage_names = list(dict.fromkeys(stage["name"] for _, timeline in runs for stage in timeline.stages))
    colours = {name: STAGE_COLOURS[i % len(STAGE_COLOURS)] for i, name in enumerate(stage_names)}
    lines: dict[str, object] = {}
    for ax, (label, timeline) in zip(axes, runs, strict=False):
        t = np.asarray(timeline.t_seconds, dtype=float)
        end = max([float(t[-1]) if len(t) else 0.0] + [s["end_seconds"] for s in timeline.stages])
        end = end if end > 0 else 1.0
        for stage in timeline.stages:
            start, stop = stage["start_seconds"], stage["end_seconds"]
            ax.axvspan(start, stop, color=colours[stage["name"]], linewidth=0)
            if stop - start >= 0.06 * end:
                ax.text((start + stop) / 2, 101, stage["name"], ha="center", va="bottom", fontsize=7,
                        clip_on=True)
        if timeline.gpu_util_percent is not None:
            gpu = np.array([np.nan if v is None else v for v in timeline.gpu_util_percent], dtype=float)
            (lines["GPU util %"],) = ax.plot(t, gpu, color=GPU_COLOUR, linewidth=1.3)
            heading = label
        else:
            heading = f"{label} — no GPU readings: CPU only"
        (lines["CPU util % (whole machine)"],) = ax.plot(t, timeline.cpu_util_percent, color=CPU_COLOUR,
                                                         linewidth=1.0, alpha=0.8)
        ax.set_xlim(0, end)
        ax.set_ylim(0, 112)
        ax.set_yticks([0, 25, 50, 75, 100])
        ax.set_ylabel("%")
        ax.set_title(heading, fontsize=9, loc="left")
    axes[-1].set_xlabel("seconds since the run started")
    names = [name for name in ("GPU util %", "CPU util % (whole machine)") if name in lines]
    if names:
        figure.legend([lines[name] for name in names], names, loc="outside upper right", ncols=2, fontsize=8,
                      frameon=False)
    figure.suptitle(title, fontsize=10)
    return figure


# --------------------------------------------------------------------------- scaling

PIPELINE_COLOURS: dict[str, str] = {"hog-svm": "tab:orange", "cnn": "tab:blue", "learned-svm": "tab:green"}


def _colour(name: str, index: int) -> str:
    return PIPELINE_COLOURS.get(name, f"C{(index + 3) % 10}")


def _size_axis(ax: Axes, sizes: list[int]) -> None:
    """A log x axis labelled at the measured sizes only."""
    ax.set_xscale("log")
    ax.set_xticks(sizes)
    ax.set_xticklabels([f"{s:,}" for s in sizes], rotation=30 if len(sizes) > 6 else 0)
    ax.xaxis.set_minor_formatter(NullFormatter())
    ax.set_xlabel("training images (log scale)")
    ax.grid(True, which="major", alpha=0.3)


def scaling_accuracy_figure(results: ScalingResults) -> Figure:
    """Test accuracy against training-set size (log x): the mean over seeds with a ± std band, one line per
    pipeline, and a dashed vertical line (named in the legend) where the CNN overtakes each hand-engineered
    pipeline."""
    figure = Figure(figsize=(7.5, 4.6))
    ax = figure.add_subplot()
    for index, name in enumerate(results.pipelines):
        summary = results.summary(name)
        mean = np.array([s.accuracy_mean for s in summary])
        std = np.array([s.accuracy_std for s in summary])
        colour = _colour(name, index)
        ax.plot(results.sizes, mean, marker="o", color=colour, label=name)
        ax.fill_between(results.sizes, mean - std, mean + std, color=colour, alpha=0.2, linewidth=0)
    styles = iter(["--", ":", "-."] * 4)
    for name, crossover in results.crossover.items():
        if crossover.estimate is not None:  # in the legend, where no annotation can collide with the curves
            ax.axvline(crossover.estimate, color="0.35", linestyle=next(styles), linewidth=1,
                       label=f"cnn overtakes {name}: ≈ {crossover.estimate:,.0f} images")
    _size_axis(ax, results.sizes)
    ax.set_ylabel("test accuracy")
    seeds = len(results.seeds)
    spread = f"mean ± std over {seeds} seeds" if seeds > 1 else "1 seed"
    ax.set_title(f"{results.dataset.name}: accuracy against training-set size ({spread})", fontsize=10)
    ax.legend(loc="best", fontsize=9)
    return figure


def scaling_seconds_figure(results: ScalingResults) -> Figure:
    """Training seconds against training-set size, log-log: the mean over seeds with ± std error bars."""
    figure = Figure(figsize=(7.5, 4.6))
    ax = figure.add_subplot()
    for index, name in enumerate(results.pipelines):
        summary = results.summary(name)
        mean = np.array([max(s.train_seconds_mean, 1e-3) for s in summary])  # log axis: no zeros
        std = np.array([s.train_seconds_std for s in summary])
        ax.errorbar(results.sizes, mean, yerr=[np.minimum(std, mean * 0.999), std], marker="o", capsize=3,
                    color=_colour(name, index), label=name)
    _size_axis(ax, results.sizes)
    ax.set_yscale("log")
    ax.set_ylabel("training seconds (log scale)")
    ax.set_title(f"{results.dataset.name}: training time against training-set size, device {results.device}",
                 fontsize=10)
    ax.legend(loc="upper left")
    return figure


# --------------------------------------------------------------------------- ablation
def loss_curves_figure(curves: Mapping[str, Mapping[str, Sequence[float | None]]], chance_loss: float | None = None,
                       title: str = "") -> Figure:
    """Training loss against epochs, one line per variant.

    ``curves``: variant name -> {"epoch": [...], "loss": [...]} (a loss of None, not finite,
    leaves a gap). ``chance_loss``, if given, is drawn as a dashed line: the loss of a network
    that predicts every class equally (ln of the number of classes); the y axis then runs from
    0 to 1.3 times it.
    """
    figure = Figure(figsize=(7.5, 4.5))
    axes = figure.add_subplot()
    for name, curve in curves.items():
        losses = [float("nan") if v is None else v for v in curve["loss"]]
        axes.plot(curve["epoch"], losses, label=name, linewidth=1.6)
    if chance_loss is not None:
        axes.axhline(chance_loss, color="grey", linestyle="--", linewidth=1, label=f"chance ({chance_loss:.2f})")
        axes.set_ylim(0, 1.3 * chance_loss)  # a diverging curve leaves the plot instead of flattening the rest
    axes.set_xlabel("epoch")
    axes.set_ylabel("training loss (cross-entropy)")
    axes.set_xlim(left=0)
    axes.grid(alpha=0.3)
    axes.legend(fontsize="small", loc="upper right")
    if title:
        axes.set_title(title)
    return figure


def accuracy_bars_figure(accuracies: Mapping[str, float], chance: float | None = None, title: str = "") -> Figure:
    """Test accuracy per variant as horizontal bars, in the given order (first at the top).

    ``chance``, if given, is drawn as a dashed line: the accuracy of guessing.
    """
    names = list(accuracies)
    values = [accuracies[n] for n in names]
    figure = Figure(figsize=(7.5, 0.45 * len(names) + 1.4))
    axes = figure.add_subplot()
    positions = list(range(len(names)))[::-1]
    bars = axes.barh(positions, values, color="tab:blue")
    axes.bar_label(bars, labels=[f"{v:.1%}" for v in values], padding=3, fontsize="small")
    axes.set_yticks(positions, names)
    axes.set_xlim(0, 1.08)
    axes.set_xlabel("test accuracy")
    if chance is not None:
        axes.axvline(chance, color="grey", linestyle="--", linewidth=1, label=f"chance ({chance:.0%})")
        axes.legend(fontsize="small", loc="lower right")
    axes.grid(axis="x", alpha=0.3)
    if title:
        axes.set_title(title)
    return figure
