"""Figures for the reports: pure functions from results to matplotlib figures, and their PNG files.

Figures are built with ``matplotlib.figure.Figure`` directly (no pyplot, no global state), so
drawing never opens a window and works on a headless machine.
"""

from __future__ import annotations

import io
from collections.abc import Mapping
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
