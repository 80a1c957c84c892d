"""Figures for the reports: pure functions from results to matplotlib figures.

Figures are built with ``matplotlib.figure.Figure`` directly (no pyplot, no global state), so
drawing never opens a window and works on a headless machine. Every function here takes plain
values (lists, class names, titles) or result records and returns a ``Figure``; choosing which
figures a report has, and their titles, is the report writer's job, and writing them as PNG
files is :mod:`featvslearn.reports.shared`'s. Colours, line styles, font sizes and tick labels come
from :mod:`featvslearn.reports.style`, so a pipeline or a variant looks the same in every figure.
"""

from __future__ import annotations

import math
from collections.abc import Mapping, Sequence

import numpy as np
from matplotlib.axes import Axes
from matplotlib.figure import Figure
from matplotlib.lines import Line2D
from matplotlib.patches import Patch
from matplotlib.ticker import NullFormatter, PercentFormatter

from featvslearn.reports import style
from featvslearn.reports.shared import CPU_HEADER
from featvslearn.reports.style import CPU_COLOUR, GPU_COLOUR, styled
from featvslearn.results import MisclassifiedExample, ScalingResults, Timeline, decode_image

ANNOTATE_COUNTS_UP_TO = 15  # classes; above this a confusion matrix's cells are too small for numbers
CLASS_TICKS_UP_TO = 40  # classes; above this the axes carry indices instead of names


def _short(name: str, limit: int = 14) -> str:
    """A class name cut to ``limit`` characters for a tick or a caption."""
    return name if len(name) <= limit else name[: limit - 1] + "…"


def _class_ticks(ax: Axes, axis: str, class_names: Sequence[str], rotate: bool) -> None:
    """Class names on one axis of ``ax`` (indices when there are too many classes to name)."""
    n = len(class_names)
    if n > CLASS_TICKS_UP_TO:
        return
    labels = [_short(c) for c in class_names]
    size = style.FONT_SIZE if n <= ANNOTATE_COUNTS_UP_TO else style.SMALL_FONT_SIZE
    if axis == "x":
        widest = max((len(c) for c in labels), default=0)
        long = rotate and (widest * n > 40 or widest > 6)  # names that would overlap side by side
        ax.set_xticks(range(n), labels, rotation=45 if long else 0, ha="right" if long else "center",
                      rotation_mode="anchor", fontsize=size)
    else:
        ax.set_yticks(range(n), labels, fontsize=size)


# --------------------------------------------------------------------------- confusion matrix
@styled
def confusion_matrix_figure(matrix: Sequence[Sequence[int]], class_names: Sequence[str], title: str) -> Figure:
    """A confusion matrix (rows: true class, columns: predicted), shaded by the fraction of each
    true class, with the counts written in the cells when there are at most 15 classes."""
    counts = np.asarray(matrix, dtype=np.int64)  # (K, K)
    n = counts.shape[0]
    fractions = counts / np.maximum(counts.sum(axis=1, keepdims=True), 1)  # each row sums to 1
    side = min(3.6 + 0.45 * n, 12.0)
    figure = style.new_figure(side + 1.4, side)
    ax = figure.add_subplot()
    image = ax.imshow(fractions, cmap="Blues", vmin=0.0, vmax=1.0, interpolation="nearest")
    figure.colorbar(image, ax=ax, shrink=0.8, label="fraction of the true class")
    if n <= ANNOTATE_COUNTS_UP_TO:
        for i in range(n):
            for j in range(n):
                if counts[i, j] or i == j:
                    ax.text(j, i, str(counts[i, j]), ha="center", va="center", fontsize=style.FONT_SIZE,
                            color="white" if fractions[i, j] > 0.5 else "black")
    _class_ticks(ax, "x", class_names, rotate=True)
    _class_ticks(ax, "y", class_names, rotate=False)
    ax.set_xlabel("predicted class")
    ax.set_ylabel("true class")
    ax.set_title(title)
    return figure


# --------------------------------------------------------------------------- per-class accuracy
@styled
def per_class_accuracy_figure(series: Sequence[tuple[str, Sequence[float]]], class_names: Sequence[str],
                              title: str = "Per-class test accuracy", colours: Sequence[str] | None = None,
                              hatches: Sequence[str] | None = None) -> Figure:
    """Grouped bars: for each class, one bar per run (``series`` is [(run label, accuracy per class)]).

    ``colours`` and ``hatches``, if given, hold one colour (a pipeline's, from
    :func:`featvslearn.reports.style.pipeline_colour`) and one hatch pattern per run; without
    them each run takes the next colour of matplotlib's cycle and no hatch.
    """
    n, k = len(class_names), max(len(series), 1)
    x = np.arange(n)
    width = 0.8 / k
    figure = style.new_figure(min(max(7.0, 0.26 * n * k + 3.0), 18.0), 4.8)
    ax = figure.add_subplot()
    lowest = min((min(values) for _, values in series if len(values)), default=0.0)
    for i, (label, values) in enumerate(series):
        look: dict[str, object] = {}
        if colours is not None:
            look["color"] = colours[i]
        if hatches is not None and hatches[i]:
            look.update(hatch=hatches[i], edgecolor="white", linewidth=0)
        ax.bar(x + (i - (k - 1) / 2) * width, values, width, label=label, **look)
    # start the axis below the lowest bar, so differences between runs show; the ticks say where
    bottom = 0.0 if lowest < 0.6 else math.floor((lowest - 0.05) * 10) / 10
    ax.set_ylim(bottom, 1.0)
    ax.set_xlim(-0.6, n - 0.4)
    _class_ticks(ax, "x", class_names, rotate=True)
    ax.set_ylabel("test accuracy" + (f" (axis from {bottom:.1f})" if bottom > 0 else ""))
    ax.grid(axis="y", alpha=0.3)
    ax.set_axisbelow(True)
    ax.legend(loc="lower center", bbox_to_anchor=(0.5, 1.02), ncols=min(k, 4), borderaxespad=0.0)
    figure.suptitle(title)
    return figure


# --------------------------------------------------------------------------- misclassified images
@styled
def misclassified_figure(examples: Sequence[MisclassifiedExample], class_names: Sequence[str], title: str,
                         columns: int = 8) -> Figure:
    """A grid of misclassified test images, each captioned "true → predicted" with class names."""
    count = max(len(examples), 1)
    columns = min(columns, count)
    rows = math.ceil(count / columns)
    figure = style.new_figure(1.45 * columns + 0.2, 1.8 * rows + 0.6)
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
        ax.set_xlabel(f"{true}\n→ {predicted}", fontsize=style.SMALL_FONT_SIZE, color="#b71c1c")
    figure.suptitle(title)
    return figure


def _class_name(class_names: Sequence[str], index: int) -> str:
    return class_names[index] if 0 <= index < len(class_names) else str(index)


# --------------------------------------------------------------------------- utilisation timelines
CPU_LABEL = CPU_HEADER
"""The CPU line's name in a timeline's legend: the same words as the tables' CPU column."""


@styled
def timeline_figure(runs: Sequence[tuple[str, Timeline]],
                    title: str = "Utilisation over time; shaded bands are the stages",
                    colours: Sequence[str] | None = None) -> Figure:
    """One panel per run: GPU and CPU utilisation (%) against seconds since the run started,
    its stages shaded (one colour per stage name, the same in every panel) and named where
    there is room. A run without GPU readings says so in its panel's title.

    ``runs`` is [(run label, its timeline)]. Every panel has the same time axis, so a 2-second run
    looks short beside a 75-second one; each panel's right-hand title gives its run's length. The
    legend under the panels names the lines and every stage colour. ``colours``, if given, holds
    one colour per run (its pipeline's), drawn as the panel's left edge.
    """
    count = max(len(runs), 1)
    width = 11.0
    figure = style.new_figure(width, 2.1 * count + 1.9)
    axes = figure.subplots(count, 1, squeeze=False, sharex=True)[:, 0]
    stage_names = list(dict.fromkeys(stage["name"] for _, timeline in runs for stage in timeline.stages))
    stage_colours = {name: style.stage_colour(name) for name in stage_names}
    ends = [_timeline_end(timeline) for _, timeline in runs]
    end = max(ends, default=0.0) or 1.0
    inches_per_second = (width - 1.6) / end  # the data area is about the figure less its y labels
    lines: dict[str, Line2D] = {}
    for index, (ax, (label, timeline)) in enumerate(zip(axes, runs, strict=False)):
        t = np.asarray(timeline.t_seconds, dtype=float)
        for stage in timeline.stages:
            start, stop, name = stage["start_seconds"], stage["end_seconds"], stage["name"]
            ax.axvspan(start, stop, color=stage_colours[name], linewidth=0)
            if (stop - start) * inches_per_second >= 0.095 * len(name) + 0.1:  # room for the name
                ax.text((start + stop) / 2, 102, name, ha="center", va="bottom", fontsize=style.SMALL_FONT_SIZE,
                        clip_on=True)
        if timeline.gpu_util_percent is not None:
            gpu = np.array([np.nan if v is None else v for v in timeline.gpu_util_percent], dtype=float)
            (lines["GPU util %"],) = ax.plot(t, gpu, color=GPU_COLOUR, linewidth=2.0)
            heading = label
        else:
            heading = f"{label} — no GPU readings: CPU only"
        # a share of the whole machine: the counters' 10 ms ticks can put a short sample over 100 %
        cpu = np.clip(np.asarray(timeline.cpu_util_percent, dtype=float), 0.0, 100.0)
        (lines[CPU_LABEL],) = ax.plot(t, cpu, color=CPU_COLOUR, linewidth=1.5)
        ax.set_ylim(0, 116)
        ax.set_yticks([0, 50, 100])
        ax.set_ylabel("%")
        ax.set_title(heading, loc="left", fontsize=style.FONT_SIZE)
        ax.set_title(f"{ends[index]:,.1f} s in all" if ends[index] < 100 else f"{ends[index]:,.0f} s in all",
                     loc="right", fontsize=style.FONT_SIZE)
        if colours is not None:
            ax.spines["left"].set(color=colours[index], linewidth=5)
    axes[0].set_xlim(0, end)
    style.plain_axis(axes[-1].xaxis)
    axes[-1].set_xlabel("seconds since the run started (the same scale in every panel)")
    names = [name for name in ("GPU util %", CPU_LABEL) if name in lines]
    handles: list[Line2D | Patch] = [lines[name] for name in names]
    handles += [Patch(color=stage_colours[name]) for name in stage_names]
    if handles:
        style.legend_below(figure, handles, names + stage_names, ncols=min(len(handles), 4))
    figure.suptitle(title)
    return figure


def _timeline_end(timeline: Timeline) -> float:
    """The seconds from a run's start to its last reading or the end of its last stage, whichever is later."""
    last = float(timeline.t_seconds[-1]) if len(timeline.t_seconds) else 0.0
    return max([last] + [float(s["end_seconds"]) for s in timeline.stages])


# --------------------------------------------------------------------------- scaling
def _size_axis(ax: Axes, sizes: list[int]) -> None:
    """A log x axis labelled at the measured sizes only, in plain numbers (100, 1,000)."""
    ax.set_xscale("log")
    ax.set_xticks(sizes)
    ax.set_xticklabels([style.plain_number(s) for s in sizes], rotation=30 if len(sizes) > 6 else 0)
    ax.xaxis.set_minor_formatter(NullFormatter())
    ax.set_xlabel("training images (log scale)")
    ax.grid(True, which="major")


def _scaling_title(results: ScalingResults, what: str, detail: str) -> str:
    """A scaling figure's title: the dataset and ``what`` on one line, ``detail`` on the next."""
    return f"{results.dataset.name}: {what}\n{detail}"


@styled
def scaling_accuracy_figure(results: ScalingResults) -> Figure:
    """Test accuracy against training-set size (log x): the mean over seeds with a ± std band, one line per
    pipeline in its colour, and a dashed vertical line (named in the legend, right of the plot) where the CNN
    overtakes each hand-engineered pipeline."""
    figure = style.new_figure(10.0, 5.2)
    ax = figure.add_subplot()
    for name in results.pipelines:
        summary = results.summary(name)
        mean = np.array([s.accuracy_mean for s in summary])
        std = np.array([s.accuracy_std for s in summary])
        colour = style.pipeline_colour(name)
        ax.plot(results.sizes, mean, marker="o", color=colour, label=name)
        ax.fill_between(results.sizes, mean - std, mean + std, color=colour, alpha=0.2, linewidth=0)
    styles = iter([(0, (5, 3)), ":", "-.", (0, (1, 1, 4, 1))] * 3)
    for name, crossover in results.crossover.items():
        if crossover.estimate is not None:  # in the legend, where no annotation can collide with the curves
            ax.axvline(crossover.estimate, color=style.CHANCE_COLOUR, linestyle=next(styles), linewidth=1.5,
                       label=f"cnn overtakes {name}: ≈ {crossover.estimate:,.0f} images")
    _size_axis(ax, results.sizes)
    ax.set_ylabel("test accuracy")
    seeds = len(results.seeds)
    spread = f"mean ± std over {seeds} seeds" if seeds > 1 else "1 seed"
    ax.set_title(_scaling_title(results, "accuracy against training-set size", spread), loc="left")
    style.legend_right(ax)
    return figure


@styled
def scaling_seconds_figure(results: ScalingResults) -> Figure:
    """Training seconds against training-set size, log-log with plain tick labels (0.1, 1, 10): the mean
    over seeds with ± std error bars, one line per pipeline in its colour, the legend right of the plot."""
    figure = style.new_figure(10.0, 5.2)
    ax = figure.add_subplot()
    for name in results.pipelines:
        summary = results.summary(name)
        mean = np.array([max(s.train_seconds_mean, 1e-3) for s in summary])  # log axis: no zeros
        std = np.array([s.train_seconds_std for s in summary])
        ax.errorbar(results.sizes, mean, yerr=[np.minimum(std, mean * 0.999), std], marker="o", capsize=4,
                    color=style.pipeline_colour(name), label=name)
    _size_axis(ax, results.sizes)
    style.plain_log_axis(ax.yaxis)
    ax.grid(True, which="major", axis="y")
    ax.set_ylabel("training seconds (log scale)")
    ax.set_title(_scaling_title(results, "training time against training-set size", f"device {results.device}"),
                 loc="left")
    style.legend_right(ax)
    return figure


# --------------------------------------------------------------------------- ablation
MARKERS_PER_CURVE = 8
"""About this many markers on each loss curve: enough to tell the variants apart, few enough to read."""


@styled
def loss_curves_figure(curves: Mapping[str, Mapping[str, Sequence[float | None]]], chance_loss: float | None = None,
                       title: str = "", x: str = "epoch") -> Figure:
    """Training loss against epochs (or seconds), one line per variant, in the variant's colour, line style
    (deep variants dashed) and marker (by normalisation) from :func:`featvslearn.reports.style.variant_style`.

    ``curves``: variant name -> {x: [...], "loss": [...]} (a loss of None, not finite, leaves a
    gap), where ``x`` is "epoch" or "seconds" (of training). ``chance_loss``, if given, is drawn as
    a dotted grey line: the loss of a network that predicts every class equally (ln of the number
    of classes); the y axis then runs from 0 to 1.3 times it. The legend is right of the plot, so it
    covers no curve. Returns the figure.
    """
    figure = style.new_figure(11.0, 5.6)
    axes = figure.add_subplot()
    for index, (name, curve) in enumerate(curves.items()):
        losses = [float("nan") if v is None else v for v in curve["loss"]]
        step = max(1, len(losses) // MARKERS_PER_CURVE)
        # markers of curves that lie on each other fall on different points, so each stays visible
        axes.plot(curve[x], losses, label=name, markevery=(index % step, step),
                  **style.variant_style(name).line_kwargs())
    if chance_loss is not None:
        axes.axhline(chance_loss, color=style.CHANCE_COLOUR, linestyle=":", linewidth=1.8, zorder=1,
                     label=f"chance ({chance_loss:.2f})")
        axes.set_ylim(0, 1.3 * chance_loss)  # a diverging curve leaves the plot instead of flattening the rest
    axes.set_xlabel("epoch" if x == "epoch" else "training seconds")
    axes.set_ylabel("training loss (cross-entropy)")
    axes.set_xlim(left=0)
    axes.grid(True)
    style.legend_right(axes, handlelength=3.2)
    if title:
        axes.set_title(title, loc="left")
    return figure


@styled
def accuracy_bars_figure(accuracies: Mapping[str, float], chance: float | None = None, title: str = "") -> Figure:
    """Test accuracy per variant as horizontal bars, in the given order (first at the top), each in
    the variant's colour (as in the loss curves) and labelled with its percentage.

    ``chance``, if given, is drawn as a dashed line: the accuracy of guessing, named in a legend
    under the plot. Returns the figure.
    """
    names = list(accuracies)
    values = [accuracies[n] for n in names]
    figure = style.new_figure(10.0, 0.5 * len(names) + 2.2)
    axes = figure.add_subplot()
    positions = list(range(len(names)))[::-1]
    bars = axes.barh(positions, values, color=[style.variant_style(n).colour for n in names])
    axes.bar_label(bars, labels=[f"{v:.1%}" for v in values], padding=4)
    axes.set_yticks(positions, names)
    axes.set_xlim(0, 1.13)  # room for "100.0%" right of the longest bar
    axes.set_xticks([0, 0.2, 0.4, 0.6, 0.8, 1.0])
    axes.xaxis.set_major_formatter(PercentFormatter(1.0, decimals=0))
    axes.set_xlabel("test accuracy")
    if chance is not None:
        line = axes.axvline(chance, color=style.CHANCE_COLOUR, linestyle="--", linewidth=1.8,
                            label=f"chance ({chance:.0%})")
        style.legend_below(figure, [line], [str(line.get_label())], ncols=1)
    axes.grid(axis="x")
    axes.set_axisbelow(True)
    if title:
        axes.set_title(title, loc="left")
    return figure
