"""Figures for the reports: pure functions from results to matplotlib figures, and their PNG files.

Figures are built with ``matplotlib.figure.Figure`` directly (no pyplot, no global state), so
drawing never opens a window and works on a headless machine.
"""

from __future__ import annotations

import io
from collections.abc import Mapping
from pathlib import Path
from typing import Any

import numpy as np
from matplotlib.figure import Figure
from matplotlib.ticker import NullFormatter

from featvslearn.files import atomic_write_bytes
from featvslearn.results import ScalingResults

DPI = 110


def png_bytes(figure: Figure) -> bytes:
    """The figure rendered as PNG bytes."""
    buffer = io.BytesIO()
    figure.savefig(buffer, format="png", dpi=DPI, bbox_inches="tight")
    return buffer.getvalue()


def plots_folder(report_path: Path) -> Path:
    """Where a report's PNG files go: a folder beside it, named after it (``out.md`` → ``out-plots/``)."""
    return report_path.with_name(f"{report_path.stem}-plots")


def write_figures(figures: Mapping[str, Figure], folder: Path) -> dict[str, Path]:
    """Write each figure as ``folder/<name>.png`` (atomically); returns name → path written."""
    written: dict[str, Path] = {}
    if not figures:
        return written
    folder.mkdir(parents=True, exist_ok=True)
    for name, figure in figures.items():
        path = folder / f"{name}.png"
        atomic_write_bytes(path, png_bytes(figure))
        written[name] = path
    return written


# --------------------------------------------------------------------------- scaling

PIPELINE_COLOURS: dict[str, str] = {"hog-svm": "tab:orange", "cnn": "tab:blue", "learned-svm": "tab:green"}


def _colour(name: str, index: int) -> str:
    return PIPELINE_COLOURS.get(name, f"C{(index + 3) % 10}")


def _size_axis(ax: Any, sizes: list[int]) -> None:
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
