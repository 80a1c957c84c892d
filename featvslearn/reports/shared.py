"""What every kind of report shares: number formats, plain tables, the common sections, image links,
and writing the figures beside the report."""

from __future__ import annotations

import contextlib
import io
import math
from collections.abc import Callable, Iterable, Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any
from urllib.parse import quote

from matplotlib.figure import Figure

from featvslearn.files import atomic_write_bytes, atomic_write_text, make_folder, plots_folder
from featvslearn.measure.contention import is_timed
from featvslearn.measure.cpu import MIN_LOAD_WINDOW_SECONDS
from featvslearn.results import DatasetInfo, ImageSizing, Results, StageResult

DPI = 110


# --------------------------------------------------------------------------- number formats
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


CPU_HEADER = "CPU % of machine"
"""The header of every CPU column: this process's CPU as a share of the whole machine (100 % = every
logical core busy for the whole window), the scale :mod:`featvslearn.measure` records."""
CPU_NOTE = ("CPU % of machine is this process's CPU time (all its threads) over the wall time of every logical "
            "core together: 100 % means every core busy for the whole time.")
"""What :data:`CPU_HEADER` means, in one sentence for under a table."""
SHORT_STAGE_NOTE = (f"A stage shorter than {MIN_LOAD_WINDOW_SECONDS:g} s shows – for CPU: the CPU counters "
                    "advance in 10 ms steps, too coarse to measure it.")
"""Why a short stage has no CPU share."""


def fmt_cpu_share(value: float | None, seconds: float | None = None) -> str:
    """A CPU share of the whole machine (see :data:`CPU_HEADER`) as ``"42%"``, between 0 and 100 %.

    A dash when there is none, or when the window was ``seconds`` long and that is shorter than
    ``MIN_LOAD_WINDOW_SECONDS`` (the counters tick in 10 ms steps, so one tick too many reads as far
    over 100 %). The counters' rounding can put a busy window a little over 100 %; it shows as 100 %.
    """
    if value is None or not math.isfinite(value) or (seconds is not None and seconds < MIN_LOAD_WINDOW_SECONDS):
        return "–"
    return f"{min(max(value, 0.0), 100.0):.0f}%"


def fmt_mean_max(mean: float | None, maximum: float | None) -> str:
    """A utilisation as "mean% / max%", or a dash when there were no readings."""
    return "–" if mean is None else f"{mean:.0f}% / {maximum:.0f}%"


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


def fmt_mean_std(mean: float, std: float, runs: int, digits: int = 4) -> str:
    """``0.9056 ± 0.0012``; the mean alone for a single run."""
    return f"{mean:.{digits}f}" if runs < 2 else f"{mean:.{digits}f} ± {std:.{digits}f}"


def fmt_names(names: Sequence[str]) -> str:
    """Names in a sentence: ``a``, ``a and b``, ``a, b and c``."""
    return names[0] if len(names) == 1 else f"{', '.join(names[:-1])} and {names[-1]}"


def fmt_key(key: str) -> str:
    """A field's name as words: ``cpu_cores_logical`` → ``cpu cores logical``; a ``_bytes`` ending,
    which :func:`fmt_value` turns into MiB or GiB, is dropped (``memory_total_bytes`` → ``memory total``)."""
    return key.removesuffix("_bytes").replace("_", " ")


def fmt_value(value: object, key: str = "") -> str:
    """A recorded value as a person reads it, for any report section.

    None (and a number that is not finite) → ``–``; booleans → yes / no; a count of bytes (its
    ``key`` ends in ``_bytes``) → MiB or GiB; other whole numbers with thousands separators
    (not a ``…version``); other numbers with four significant digits; a mapping → ``name value``
    pairs joined by ``; ``, its names as words and its unset (None) entries left out; a list →
    its items joined by ``, ``.
    """
    if value is None:
        return "–"
    if isinstance(value, bool):
        return "yes" if value else "no"
    if isinstance(value, int):
        if key.endswith("_bytes"):
            return fmt_bytes(value)
        return str(value) if "version" in key else f"{value:,}"
    if isinstance(value, float):
        if not math.isfinite(value):
            return "–"
        return f"{value:,.0f}" if abs(value) >= 1000 else f"{value:.4g}"
    if isinstance(value, Mapping):
        return "; ".join(f"{fmt_key(str(k))} {fmt_value(v, str(k))}" for k, v in value.items() if v is not None) or "–"
    if isinstance(value, (list, tuple)):
        return ", ".join(fmt_value(item, key) for item in value) or "–"
    return str(value)


def epoch_summary(losses: Sequence[float | None], seconds: Sequence[float]) -> str:
    """A training run's epochs in one line: how many and how long, the training loss after the first
    and the last epoch and its lowest, and where it stopped being a number (None or not finite)."""
    epochs = len(losses)
    if not epochs:
        return "no epochs recorded"
    total = math.fsum(seconds)
    head = f"{epochs} epoch{'s' if epochs != 1 else ''}"
    if seconds:
        head += f" in {total:.1f} s" + (f" ({total / len(seconds):.2f} s each on average)" if epochs > 1 else "")
    numbers = [(i, x) for i, x in enumerate(losses) if x is not None and math.isfinite(x)]
    broken = next((i for i, x in enumerate(losses) if x is None or not math.isfinite(x)), None)
    if not numbers:
        return f"{head}; the training loss was never a number"
    if epochs == 1:
        return f"{head}; training loss {numbers[0][1]:.3f}"
    low_epoch, low = min(numbers, key=lambda item: item[1])
    parts = [f"training loss {losses[0]:.3f} after epoch 1" if broken != 0 else "no training loss after epoch 1"]
    if broken is None:
        parts.append(f"{losses[-1]:.3f} after epoch {epochs}" + (" (its lowest)" if low_epoch == epochs - 1 else ""))
    if broken is not None or low_epoch != epochs - 1:
        parts.append(f"lowest {low:.3f} after epoch {low_epoch + 1}")
    text = f"{head}; {', '.join(parts)}"
    if broken is not None:
        text += f"; it stopped being a number at epoch {broken + 1}"
    return text


# --------------------------------------------------------------------------- tables
@dataclass(frozen=True)
class TableContent:
    """A table as plain strings, for the terminal (and the report, where it shows the same table).

    ``rows`` match ``headers``. The first ``text_columns`` columns hold text (aligned left), the
    others numbers (aligned right). ``best`` holds the (row, column) indices of the cells with the
    best accuracy, for a renderer to emphasise; ``caption`` is a line under the table, or empty.
    """

    title: str
    headers: list[str]
    rows: list[list[str]]
    text_columns: int = 1
    best: frozenset[tuple[int, int]] = frozenset()
    caption: str = ""


def md_table(headers: Sequence[str], rows: Iterable[Sequence[str]], text_columns: int = 1) -> list[str]:
    """A Markdown table, one line per row; the first ``text_columns`` columns align left, the rest (numbers)
    right. A ``|`` in a cell is escaped."""
    aligns = ["---" if i < text_columns else "---:" for i in range(len(headers))]
    out = ["| " + " | ".join(headers) + " |", "| " + " | ".join(aligns) + " |"]
    out += ["| " + " | ".join(cell.replace("|", "\\|") for cell in row) + " |" for row in rows]
    return out


def stages_table(label_header: str, runs: Iterable[tuple[str, Sequence[StageResult]]]) -> list[str]:
    """The Markdown table of every stage of every run, and the lines under it that say what its CPU
    column means; ``runs`` is [(run label, its stages)] and ``label_header`` names the first column
    (``pipeline``, ``variant``). The GPU column appears only when some stage ran on a GPU or has GPU
    readings. CPU is a share of the whole machine (:func:`fmt_cpu_share`), a dash for a stage too short
    to measure."""
    stages = [(label, s) for label, run_stages in runs for s in run_stages]
    gpu = any(s.device.startswith(("cuda", "mps")) or s.gpu_util_percent_mean is not None for _, s in stages)
    rows = [[label, s.name, s.device, fmt_seconds(s.seconds),
             *([fmt_mean_max(s.gpu_util_percent_mean, s.gpu_util_percent_max)] if gpu else []),
             fmt_cpu_share(s.cpu_util_percent_mean, s.seconds), fmt_bytes(s.peak_rss_bytes)]
            for label, s in stages]
    headers = [label_header, "stage", "device", "seconds", *(["GPU util mean / max"] if gpu else []), CPU_HEADER,
               "peak RSS"]
    short = any(s.seconds < MIN_LOAD_WINDOW_SECONDS for _, s in stages)
    note = CPU_NOTE + (" " + SHORT_STAGE_NOTE if short else "")
    return [*md_table(headers, rows, text_columns=3), "", note]


# --------------------------------------------------------------------------- common sections
def byline(results: Results, seeds: str) -> str:
    """The line under a report's title: version, when, device, ``seeds`` (the seed or seeds) and total time."""
    return (f"featvslearn {results.environment.get('featvslearn', '')} · {results.created} · device "
            f"`{results.device}` · {seeds} · {results.total_seconds:.1f} s in all")


def dataset_lines(d: DatasetInfo, settings: Mapping[str, Any], subsamples: bool = False) -> list[str]:
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
    if d.split:
        lines.append(f"- split: {d.split}")
    if d.sizing is not None:
        lines.append(f"- image sizes: {sizing_sentence(d.sizing)}")
    skipped = settings.get("skipped_files") or []
    if skipped:
        lines.append(f"- {len(skipped)} unreadable file(s) skipped: {', '.join(skipped[:10])}"
                     + (" …" if len(skipped) > 10 else ""))
    return lines


_FIT_WORDS = {
    "pad": "scaled to fit inside it and centred on bands of one colour{fill} (nothing stretched or cut off)",
    "crop": "cropped to that aspect ratio around their centre (their edges cut off)",
    "squash": "stretched to that aspect ratio (squashed, which distorts what they show)",
}


def sizing_sentence(s: ImageSizing) -> str:
    """What bringing an image folder's files to one size did, in words: the sizes seen, the size used, how."""
    if s.distinct_sizes <= 1:
        seen = f"all {s.images:,} images were {s.min_height:,}×{s.min_width:,}"
    else:
        seen = (f"the {s.images:,} images came in {s.distinct_sizes:,} sizes, heights {s.min_height:,}–"
                f"{s.max_height:,} and widths {s.min_width:,}–{s.max_width:,} pixels")
    size = f"{s.height:,}×{s.width:,} (H×W)" + (f", {s.rule}" if s.rule else "")
    if s.method == "none":
        return f"{seen} (H×W), so none was resized" + (f" ({s.rule})" if s.rule else "")
    if s.method == "scale":
        return f"{seen}, all of one aspect ratio; {s.resized:,} were scaled to {size} (bilinear)"
    fill = "" if not s.fill else f", the mean colour of all the images ({', '.join(map(str, s.fill))})"
    return (f"{seen}; every image was brought to {size}: {s.fitted:,} of another aspect ratio were "
            f"{_FIT_WORDS.get(s.method, s.method).format(fill=fill)}, and {s.resized:,} were resized (bilinear)")


def environment_lines(environment: Mapping[str, Any]) -> list[str]:
    """The report's Environment section, as a two-column table (names as words, values as
    :func:`fmt_value` shows them), and the blank line that ends the report."""
    rows = [[fmt_key(k), fmt_value(v, k)] for k, v in environment.items()]
    return ["## Environment", "", *md_table(["what", "value"], rows, text_columns=2), ""]


# --------------------------------------------------------------------------- image links
def image(alt: str, link: str) -> str:
    """A Markdown image of the PNG at ``link`` (a path relative to the report); the path is
    percent-encoded, so spaces and ``#`` in a report's name are safe, and brackets in ``alt``
    become parentheses."""
    return f"![{alt.replace('[', '(').replace(']', ')')}]({quote(link)})"


def image_lines(links: Mapping[str, str], name: str, alt: str) -> list[str]:
    """The Markdown image of figure ``name`` and a blank line, or nothing when it was not drawn."""
    return [image(alt, links[name]), ""] if name in links else []


# --------------------------------------------------------------------------- the files
def png_bytes(figure: Figure) -> bytes:
    """The figure rendered as PNG bytes; no metadata, so the same figure gives the same bytes."""
    buffer = io.BytesIO()
    figure.savefig(buffer, format="png", dpi=DPI, bbox_inches="tight", metadata={"Software": None})
    return buffer.getvalue()


def write_figures(figures: Mapping[str, Figure], folder: Path) -> dict[str, Path]:
    """Write each figure as ``folder/<name>.png`` (atomically); returns name → path written.

    The folder is created when there is a figure to write. If writing stops part-way (a full
    disk, Ctrl-C) and the folder was created here, the files written so far and the folder are
    removed again. An operating-system error is a one-line ``UserError``.
    """
    written: dict[str, Path] = {}
    if not figures:
        return written
    created = make_folder(folder)
    try:
        for name, figure in figures.items():
            path = folder / f"{name}.png"
            atomic_write_bytes(path, png_bytes(figure))
            written[name] = path
    except BaseException:
        if created:
            remove_figures(written, folder)
        raise
    return written


def remove_figures(written: Mapping[str, Path], folder: Path) -> None:
    """Remove the files in ``written``, then ``folder`` if that leaves it empty."""
    for path in written.values():
        with contextlib.suppress(OSError):
            path.unlink()
    with contextlib.suppress(OSError):
        folder.rmdir()


def write_report(path: Path, figures: Mapping[str, Figure], markdown: Callable[[dict[str, str]], str]) -> None:
    """Write ``figures`` as PNG files into the plots folder beside ``path``, then the Markdown that
    ``markdown`` makes from {figure name: PNG path relative to the report} to ``path``.

    The plots are written first and the Markdown last, each atomically, so a report that
    exists always finds its images. If the Markdown cannot be written (a full disk, Ctrl-C),
    a plots folder created by this call is removed again.
    """
    folder = plots_folder(path)
    existed = folder.exists()
    written: dict[str, Path] = {}
    try:
        written = write_figures(figures, folder)
        links = {name: f"{folder.name}/{file.name}" for name, file in written.items()}
        atomic_write_text(path, markdown(links))
    except BaseException:
        if not existed:
            remove_figures(written, folder)
        raise


def best_accuracy_cells(accuracies: Sequence[float], column: int) -> frozenset[tuple[int, int]]:
    """The (row, column) cells holding the best accuracy, to be marked; none with fewer than two rows."""
    if len(accuracies) < 2:
        return frozenset()
    top = max(accuracies)
    return frozenset((row, column) for row, accuracy in enumerate(accuracies) if accuracy == top)


# --------------------------------------------------------------------------- warnings
MIN_TEST_IMAGES_PER_CLASS = 10
"""Below this many test images in a class, accuracies are too coarse to read; the report says so."""
SAME_SPEED = 1.1
"""Two times or rates within this factor of each other read as "about the same"."""


def timed_other_load(stages: Sequence[StageResult]) -> float | None:
    """The most other processes used of the machine (%) during any timed stage, or None."""
    loads = [s.other_load_percent for s in stages if is_timed(s) and s.other_load_percent is not None]
    return max(loads) if loads else None


def busy_machine_warning(affected: Sequence[tuple[str, float | None]]) -> str:
    """One line naming the runs measured while other processes loaded the machine, and how much."""
    worst = max((load for _, load in affected if load is not None), default=None)
    share = f"up to {worst:.0f} %" if worst is not None else "over a quarter"
    names = [name for name, _ in affected]
    if len(names) > BUSY_RUNS_NAMED:
        runs = f"{', '.join(names[:BUSY_RUNS_NAMED - 1])} and {len(names) - BUSY_RUNS_NAMED + 1:,} more runs"
    else:
        runs = ", ".join(names)
    return (f"timings measured on a busy machine: other processes used {share} of the CPU during "
            f"{runs}; re-run on a quiet machine before quoting times")


BUSY_RUNS_NAMED = 4
"""The busy-machine warning names at most this many runs; beyond, it counts the rest."""


def small_test_set_warning(d: DatasetInfo, smallest: int | None, between: str = "pipelines") -> str | None:
    """One line saying the test set is too small per class for differences between ``between`` to mean
    much, or None when it is not.

    ``smallest``: the test images of the smallest class, where known; otherwise the mean per class
    decides (a mean under :data:`MIN_TEST_IMAGES_PER_CLASS` means some class is under it too).
    """
    total = d.test_size
    if total < 1:
        return None
    tail = (f"; differences between {between} are not reliable; use at least {MIN_TEST_IMAGES_PER_CLASS} "
            "test images per class")
    overall = f"accuracies move in steps of {100 / total:.1f} points (one test image)"
    if smallest is None:
        mean = total / max(d.num_classes, 1)
        if mean >= MIN_TEST_IMAGES_PER_CLASS:
            return None
        return (f"only about {mean:.1f} test images per class ({total:,} in all, {d.num_classes} classes): "
                f"{overall}, per-class accuracies in steps of about {100 / mean:.0f} points{tail}")
    if smallest >= MIN_TEST_IMAGES_PER_CLASS:
        return None
    if smallest == 0:
        return (f"a class has no test images at all ({total:,} in all), so its accuracy is not measured; "
                f"{overall}{tail}")
    return (f"only {smallest:,} test image{'s' if smallest != 1 else ''} in the smallest class ({total:,} in all): "
            f"{overall}, that class's accuracy in steps of {100 / smallest:.0f} points{tail}")


def sizing_warning(d: DatasetInfo) -> str | None:
    """One line saying an image folder's files came in several sizes or aspect ratios and what was done
    to them (:func:`sizing_sentence`), or None when they all had one size."""
    s = d.sizing
    if s is None or (s.distinct_sizes <= 1 and not s.fitted):
        return None
    return (f"mixed image sizes: {sizing_sentence(s)}; choose with --image-size N and --fit pad|crop|squash")


def dataset_warnings(d: DatasetInfo, smallest: int | None, between: str = "pipelines") -> list[str]:
    """The warnings about the images themselves: a test set too small per class (see
    :func:`small_test_set_warning`), and files of several sizes brought to one."""
    return [w for w in (small_test_set_warning(d, smallest, between), sizing_warning(d)) if w]


UNCHECKED_LOAD_WARNING = (
    "these timings were measured without the busy-machine check (a results file from before schema "
    "version 2), so whether other processes slowed them is unknown; the accuracies do not depend on it"
)
"""The warning for results that recorded no ``machine_busy``."""


def warning_lines(warnings: Sequence[str]) -> list[str]:
    """Each warning as a Markdown quote block, for the top of a report."""
    return [f"> **Warning:** {warning}\n" for warning in warnings]


def report_opening(title: str, byline_text: str, warnings: Sequence[str], reading_text: str) -> list[str]:
    """How every report opens: its title, the byline, the warnings a reader must see, and the Result
    section with the plain-language reading (each followed by a blank line)."""
    return [f"# {title}", "", byline_text, "", *warning_lines(warnings), "## Result", "", reading_text, ""]


def load_warnings(machine_busy: bool | None, busy: Sequence[tuple[str, float | None]]) -> list[str]:
    """The busy-machine warning naming the affected runs, or the unchecked-load one for old files."""
    if machine_busy is None:
        return [UNCHECKED_LOAD_WARNING]
    return [busy_machine_warning(busy)] if machine_busy and busy else []


FAILED_RUNS_NAMED = 3
"""How many failed runs a warning names (the rest it counts)."""


def failed_runs_warnings(settings: Mapping[str, Any]) -> list[str]:
    """One line naming the runs of a sweep that failed (``settings["failed_runs"]``), if any did."""
    failed = [f for f in settings.get("failed_runs") or [] if isinstance(f, dict)]
    if not failed:
        return []
    named = "; ".join(f"{f.get('label', '?')} ({' '.join(str(f.get('error', '')).split())[:200]})"
                      for f in failed[:FAILED_RUNS_NAMED])
    more = f"; and {len(failed) - FAILED_RUNS_NAMED:,} more" if len(failed) > FAILED_RUNS_NAMED else ""
    runs = "1 run" if len(failed) == 1 else f"{len(failed):,} runs"
    return [f"{runs} failed and {'is' if len(failed) == 1 else 'are'} left out of the figures: {named}{more}; "
            "the same command with --resume runs only what is missing"]
