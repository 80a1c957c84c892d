"""One look for every report figure: a colour per pipeline and per ablation variant, line styles,
font sizes readable on a projector, plain tick labels, and legends that sit outside the data.

Every figure function in :mod:`featvslearn.reports.plots` builds its figure inside
:func:`figure_style` (the :func:`styled` decorator does it), so the font sizes and line widths
below apply to that figure only: nothing here changes matplotlib's global settings. Colours are
looked up by name, never by position, so hog-svm has the same colour in the comparison report
and in the scaling report, whichever pipelines each one ran.
"""

from __future__ import annotations

import functools
import math
import zlib
from collections.abc import Callable, Iterator, Sequence
from contextlib import contextmanager
from dataclasses import dataclass
from decimal import Decimal
from typing import Any, ParamSpec

import matplotlib
from matplotlib.artist import Artist
from matplotlib.axes import Axes
from matplotlib.axis import Axis
from matplotlib.figure import Figure
from matplotlib.legend import Legend
from matplotlib.ticker import FuncFormatter, LogLocator, NullFormatter

from featvslearn.learned.variants import ABLATION_VARIANTS

# --------------------------------------------------------------------------- fonts and lines
FONT_SIZE = 12.0
"""Points: tick labels, legends and text in the figures (seen from the back of a room)."""
SMALL_FONT_SIZE = 10.5
"""Points: text that must fit a small space (counts in confusion-matrix cells, image captions)."""
LABEL_FONT_SIZE = 13.0
"""Points: axis labels."""
TITLE_FONT_SIZE = 14.0
"""Points: titles."""
LINE_WIDTH = 2.2
MARKER_SIZE = 7.0

RC: dict[str, Any] = {
    "font.size": FONT_SIZE,
    "axes.titlesize": TITLE_FONT_SIZE,
    "axes.labelsize": LABEL_FONT_SIZE,
    "xtick.labelsize": FONT_SIZE,
    "ytick.labelsize": FONT_SIZE,
    "legend.fontsize": FONT_SIZE,
    "legend.title_fontsize": FONT_SIZE,
    "figure.titlesize": TITLE_FONT_SIZE,
    "lines.linewidth": LINE_WIDTH,
    "lines.markersize": MARKER_SIZE,
    "axes.linewidth": 1.0,
    "grid.alpha": 0.35,
    "legend.frameon": False,
    "figure.constrained_layout.h_pad": 0.06,
    "figure.constrained_layout.w_pad": 0.06,
}
"""The settings every figure is built with (inside :func:`figure_style`, never globally)."""

P = ParamSpec("P")


@contextmanager
def figure_style() -> Iterator[None]:
    """Within this block, new figures, axes, texts and lines take the report style (:data:`RC`).

    Nothing comes in; matplotlib's own settings are restored on leaving the block.
    """
    with matplotlib.rc_context(RC):
        yield


def styled(build: Callable[P, Figure]) -> Callable[P, Figure]:
    """A figure function that builds its figure inside :func:`figure_style`: takes a function that
    returns a ``Figure`` and returns one with the same arguments and result."""
    @functools.wraps(build)
    def wrapper(*args: P.args, **kwargs: P.kwargs) -> Figure:
        with figure_style():
            return build(*args, **kwargs)
    return wrapper


def new_figure(width: float, height: float) -> Figure:
    """A ``Figure`` of ``width`` × ``height`` inches with constrained layout (labels and outside
    legends are fitted into the figure, so none is clipped). No pyplot, so no window and no global
    figure list. Call it inside :func:`figure_style` (a :func:`styled` function)."""
    return Figure(figsize=(width, height), layout="constrained")


# --------------------------------------------------------------------------- pipelines
PIPELINE_COLOURS: dict[str, str] = {
    "hog-svm": "#E69F00",  # orange
    "sift-svm": "#CC79A7",  # reddish purple
    "sift-fv": "#D55E00",  # vermillion
    "cnn": "#0072B2",  # blue
    "learned-svm": "#009E73",  # bluish green
}
"""One colour per pipeline (Okabe–Ito, readable with the common colour-vision deficiencies), the same
in every figure of every report."""

SPARE_COLOURS: tuple[str, ...] = ("#9467BD", "#56B4E9", "#8C564B", "#7F7F7F", "#BCBD22", "#17BECF")
"""Colours for names no table here knows (a results file from another version): chosen from the
name itself, so the name keeps its colour in every figure."""

GPU_COLOUR = "#111111"
"""The GPU utilisation line of the timelines (no pipeline has black)."""
CPU_COLOUR = "#6E6E6E"
"""The CPU utilisation line of the timelines (no pipeline has grey)."""
CHANCE_COLOUR = "#555555"
"""Reference lines: chance level, crossovers."""
STAGE_COLOURS: tuple[str, ...] = ("#fdd9b5", "#cfe3f5", "#dcd0ee", "#cdeed8", "#faf0b4", "#f7c6c7", "#d9d9d9",
                                  "#c4ece9", "#eadbc8", "#e7f3c0", "#f4d0ec", "#e0e0b0", "#a3c9fe", "#78d3f0",
                                  "#7fd6c5", "#a7d2a2", "#ffe5a8")
"""Light backgrounds for the stages of a timeline, one per name of :data:`KNOWN_STAGES`, no two alike."""
KNOWN_STAGES: tuple[str, ...] = (
    "warm-up (small slice)", "features (train)", "standardise", "svm fit", "features (test)", "predict",
    "codebook (k-means)", "to device", "warm-up", "train", "evaluate", "tune (validation split)",
    "choose svm (budget probe)", "choose epochs (budget probe)", "choose lr (validation split)",
    "warm-up and compile", "PCA + Gaussian mixture (EM)")
"""Every stage the pipelines and experiments run, in the order of their colours in :data:`STAGE_COLOURS`."""
SPARE_STAGE_COLOURS: tuple[str, ...] = ("#cbbff7", "#f7b89d", "#f8b3d1", "#8bedef")
"""Backgrounds for stage names :data:`KNOWN_STAGES` lacks (a results file from another version): none is
the colour of a known stage."""


def stage_colour(name: str) -> str:
    """The background colour of stage ``name``, the same in every timeline: its own for a known stage; for
    another name, a spare colour chosen by a stable checksum of the name."""
    if name in KNOWN_STAGES:
        return STAGE_COLOURS[KNOWN_STAGES.index(name)]
    return SPARE_STAGE_COLOURS[zlib.crc32(name.encode()) % len(SPARE_STAGE_COLOURS)]


def _spare_colour(name: str) -> str:
    """A spare colour picked by a stable checksum of ``name`` (the same in every run of the program)."""
    return SPARE_COLOURS[zlib.crc32(name.encode()) % len(SPARE_COLOURS)]


def pipeline_colour(name: str) -> str:
    """The colour of pipeline ``name`` (``hog-svm``, ``cnn``, …) as a hex string, the same in every figure."""
    return PIPELINE_COLOURS.get(name) or _spare_colour(name)


REPEAT_HATCHES: tuple[str, ...] = ("", "//", "..", "xx", "\\\\", "++")
"""Bar hatching for a pipeline's first, second, … run (``--device cpu,cuda``): same colour, other hatch."""


def repeat_hatch(repeat: int) -> str:
    """The hatch of a pipeline's ``repeat``-th run (0 for its first: no hatch)."""
    return REPEAT_HATCHES[repeat % len(REPEAT_HATCHES)]


# --------------------------------------------------------------------------- ablation variants
VARIANT_COLOURS: dict[str, str] = {
    # ReLU: blues and purple; relu-bn has the cnn's colour
    "relu-bn": "#0072B2",
    "relu-bn-dropout": "#56B4E9",
    "relu-plain": "#1F3A93",
    "relu-deep-plain": "#7B3FA0",
    "relu-deep-bn": "#17BECF",
    "relu-bn-small": "#5B7FA6",
    "relu-bn-dropout-small": "#9FB7E8",
    # tanh: greens; LeNet-5 (tanh, average pooling) the darkest
    "lenet5": "#1B5E20",
    "tanh-plain": "#009E73",
    "tanh-bn": "#8CBF26",
    "tanh-deep-plain": "#4F7942",
    # sigmoid: reds, oranges and pink
    "sigmoid-plain": "#D55E00",
    "sigmoid-deep-plain": "#8B1A1A",
    "sigmoid-bn": "#E69F00",
    "sigmoid-deep-bn": "#CC79A7",
}
"""One colour per ablation variant, grouped in families by activation; no two variants share one."""

DEEP_LINESTYLE, SHALLOW_LINESTYLE = (0, (5, 2.5)), "-"
"""Deep variants are dashed, the others solid, so a deep curve lying on its shallow twin shows both."""
MARKERS: dict[str, str] = {"bn": "o", "dropout": "^", "plain": "s"}
"""The marker of a variant: by its normalisation (batch norm, batch norm with dropout, none)."""


@dataclass(frozen=True)
class VariantStyle:
    """How one ablation variant is drawn: its colour (hex), line style and marker."""

    colour: str
    linestyle: str | tuple[float, tuple[float, ...]]
    marker: str

    def line_kwargs(self) -> dict[str, Any]:
        """Keyword arguments for ``Axes.plot``: colour, line style, marker (filled, white edge)."""
        return {"color": self.colour, "linestyle": self.linestyle, "marker": self.marker,
                "markeredgecolor": "white", "markeredgewidth": 0.8}


def variant_style(name: str) -> VariantStyle:
    """The colour, line style and marker of ablation variant ``name``, the same in every figure.

    Known variants (``featvslearn.learned.variants.ABLATION_VARIANTS``) are styled from their settings;
    another name (a results file from another version) from the words in it ("deep", "bn", …).
    """
    variant = ABLATION_VARIANTS.get(name)
    words = set(name.split("-"))
    deep = variant.deep if variant is not None else "deep" in words
    if variant is not None:
        norm = ("dropout" if variant.dropout > 0 else "bn") if variant.batch_norm else "plain"
    else:
        norm = next((word for word in ("dropout", "bn", "plain") if word in words), "")
    return VariantStyle(colour=VARIANT_COLOURS.get(name) or _spare_colour(name),
                        linestyle=DEEP_LINESTYLE if deep else SHALLOW_LINESTYLE,
                        marker=MARKERS.get(norm, "D"))


# --------------------------------------------------------------------------- tick labels
def plain_number(value: float) -> str:
    """A tick value as plain digits with thousands separators: 1000 → "1,000", 0.05 → "0.05",
    10 → "10" (never "10¹" or "1e+01")."""
    if value == 0 or not math.isfinite(value):
        return "0" if value == 0 else str(value)
    text = format(Decimal(f"{value:.6g}"), ",f")
    return text.rstrip("0").rstrip(".") if "." in text else text


def plain_axis(axis: Axis) -> None:
    """Plain numbers with thousands separators on a linear ``axis`` (``ax.xaxis`` or ``ax.yaxis``)."""
    axis.set_major_formatter(FuncFormatter(lambda value, _position: plain_number(value)))


def plain_log_axis(axis: Axis) -> None:
    """Make ``axis`` (``ax.xaxis`` or ``ax.yaxis``, with the data already drawn) logarithmic with plain
    tick labels: 0.1, 1, 10, 100, 1,000 instead of 10⁻¹ … 10³. Over a narrow range the ticks add
    2× and 5× steps (1, 2, 5, 10, …), so at least two ticks are labelled; minor ticks stay unlabelled."""
    ax = axis.axes
    if axis is ax.yaxis:
        ax.set_yscale("log")
        low, high = ax.get_ylim()
    else:
        ax.set_xscale("log")
        low, high = ax.get_xlim()
    decades = math.log10(max(high, 1e-300) / max(low, 1e-300)) if low > 0 and high > 0 else 3.0
    subs: tuple[float, ...] = (1.0, 2.0, 5.0) if decades <= 2.5 else (1.0,)
    if decades <= 0.7:
        subs = (1.0, 1.5, 2.0, 3.0, 5.0, 7.0)
    axis.set_major_locator(LogLocator(base=10, subs=subs))
    axis.set_major_formatter(FuncFormatter(lambda value, _position: plain_number(value)))
    axis.set_minor_formatter(NullFormatter())


# --------------------------------------------------------------------------- legends
def legend_right(ax: Axes, handles: Sequence[Artist] | None = None, labels: Sequence[str] | None = None,
                 **kwargs: Any) -> Legend:
    """A legend beside ``ax``, to the right of its data area (constrained layout makes room), so it
    never covers a point. ``handles``/``labels`` default to the axes' labelled artists; other
    keyword arguments go to ``Axes.legend``. Returns the legend."""
    options: dict[str, Any] = {"loc": "upper left", "bbox_to_anchor": (1.02, 1.0), "borderaxespad": 0.0}
    options.update(kwargs)
    if handles is None:
        return ax.legend(**options)
    return ax.legend(handles, labels if labels is not None else [str(h.get_label()) for h in handles],
                     **options)


def legend_below(figure: Figure, handles: Sequence[Artist], labels: Sequence[str], ncols: int = 3,
                 **kwargs: Any) -> Legend:
    """A figure legend under every axes of ``figure`` (constrained layout makes room), so it covers no
    data; ``ncols`` entries a row. Other keyword arguments go to ``Figure.legend``. Returns the legend."""
    return figure.legend(list(handles), list(labels), loc="outside lower center", ncols=max(1, ncols), **kwargs)
