"""Figures for the reports: pure functions from results to matplotlib figures, and their PNG files.

Figures are built with ``matplotlib.figure.Figure`` directly (no pyplot, no global state), so
drawing never opens a window and works on a headless machine.
"""

from __future__ import annotations

import io
from collections.abc import Mapping, Sequence
from pathlib import Path

from matplotlib.figure import Figure

from featvslearn.files import atomic_write_bytes

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


# ---------------------------------------------------------------- ablation figures

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
