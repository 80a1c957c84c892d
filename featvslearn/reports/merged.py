"""The report of a merged comparison: compare results from several files (machines) side by side.

One row per pipeline result, grouped by dataset, each naming its file, device and the machine that
ran it (the GPU for a GPU run, otherwise the CPU and its cores), with the speed-up of training and
prediction over a baseline row; speed-ups only on the baseline's dataset, since other images take
other times. Then where each file came from, and a bar chart of the training seconds.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np
from matplotlib.figure import Figure
from matplotlib.patches import Patch

from featvslearn.reports import compare
from featvslearn.reports.shared import (
    SAME_SPEED,
    TableContent,
    fmt_names,
    fmt_rate,
    fmt_seconds,
    fmt_speed_up,
    fmt_value,
    image_lines,
    md_table,
    report_opening,
)
from featvslearn.reports.style import (
    CHANCE_COLOUR,
    legend_right,
    new_figure,
    pipeline_colour,
    plain_log_axis,
    styled,
)
from featvslearn.results import CompareResults, MergedCompareResults, PipelineResult, dataset_key


# --------------------------------------------------------------------------- machines
def machine_name(environment: Mapping[str, Any]) -> str:
    """A machine by its CPU, as its results recorded it: ``"AMD EPYC, 2 cores"`` (physical cores where
    known, else logical), ``"unknown CPU"`` when the results do not say."""
    cpu = str(environment.get("cpu") or "unknown CPU")
    cores = environment.get("cpu_cores_physical") or environment.get("cpu_cores_logical")
    if isinstance(cores, int) and not isinstance(cores, bool) and cores > 0:
        return f"{cpu}, {cores} core{'s' if cores != 1 else ''}"
    return cpu


def gpu_name(environment: Mapping[str, Any]) -> str | None:
    """The GPU the results recorded (``"NVIDIA H100"``), or None."""
    gpu = environment.get("gpu")
    return str(gpu) if gpu else None


def processor(source: CompareResults, p: PipelineResult) -> str:
    """What ran one result: its GPU for a CUDA run (``"NVIDIA H100"``), ``"<CPU>, GPU (mps)"`` on Apple
    silicon, otherwise the CPU and its cores (:func:`machine_name`)."""
    if p.device.startswith("cuda"):
        return gpu_name(source.environment) or f"CUDA GPU of {machine_name(source.environment)}"
    if p.device.startswith("mps"):
        return f"{source.environment.get('cpu') or 'Apple'} GPU (mps)"
    return machine_name(source.environment)


def file_labels(files: Sequence[str]) -> list[str]:
    """How each file is named in the report: its last part (``a.json``) when that tells them apart,
    otherwise the name as given."""
    short = [Path(file).name or file for file in files]
    return short if len(set(short)) == len(short) else list(files)


# --------------------------------------------------------------------------- rows
@dataclass(frozen=True)
class Row:
    """One row of the merged table: its number as printed (from 1), where it came from, and its speed-ups
    over the baseline row (None where they do not apply: another dataset, or a time of zero)."""

    number: int
    source: int
    result: PipelineResult
    file: str
    dataset: str
    machine: str
    same_dataset: bool
    train_speed_up: float | None
    predict_speed_up: float | None

    @property
    def label(self) -> str:
        """``cnn on cuda (NVIDIA H100, row 4)``: the row in a sentence."""
        return f"{self.result.name} on {self.result.device} ({self.machine}, row {self.number})"


def fmt_ratio(value: float | None) -> str:
    """A speed-up as in the compare table (``12.3×``), but two significant digits below 1 (``0.07×``), so a
    slower row does not read 0.0×; a dash when it cannot be computed."""
    if value is None or value >= 0.95:
        return fmt_speed_up(value)
    return f"{value:.2g}×"


def _ratio(baseline: float, value: float) -> float | None:
    return baseline / value if value > 0 and baseline > 0 else None


def dataset_labels(results: MergedCompareResults) -> list[str]:
    """Per source, its dataset as the table names it: the name, and its sizes when two groups share it."""
    keys = [dataset_key(s.dataset) for s in results.sources]
    names = {key[0] for key in keys}
    shared = len(names) < len(set(keys))
    return [f"{key[0]} ({key[1]:,}/{key[2]:,})" if shared and sum(1 for k in set(keys) if k[0] == key[0]) > 1
            else key[0] for key in keys]


def rows(results: MergedCompareResults) -> list[Row]:
    """Every row of the merged table, in the order printed (:meth:`MergedCompareResults.rows`)."""
    order = results.rows()
    files = file_labels(results.files)
    datasets = dataset_labels(results)
    base_source, base_index = order[results.baseline - 1]
    base = results.sources[base_source].pipelines[base_index]
    base_key = dataset_key(results.sources[base_source].dataset)
    out = []
    for number, (s, i) in enumerate(order, start=1):
        source = results.sources[s]
        p = source.pipelines[i]
        same = dataset_key(source.dataset) == base_key
        out.append(Row(
            number=number, source=s, result=p, file=files[s], dataset=datasets[s], machine=processor(source, p),
            same_dataset=same,
            train_speed_up=_ratio(base.train_seconds, p.train_seconds) if same else None,
            predict_speed_up=_ratio(base.predict_seconds, p.predict_seconds) if same else None,
        ))
    return out


def baseline_row(results: MergedCompareResults) -> Row:
    """The row the speed-ups divide."""
    return rows(results)[results.baseline - 1]


# --------------------------------------------------------------------------- table
def _several_datasets(results: MergedCompareResults) -> bool:
    return len({dataset_key(s.dataset) for s in results.sources}) > 1


def table_headers(results: MergedCompareResults) -> list[str]:
    """``#``, the dataset (with several), file, pipeline, device, machine, then the figures and the
    speed-ups over the baseline row."""
    return ["#", *(["dataset"] if _several_datasets(results) else []), "file", "pipeline", "device", "machine",
            "accuracy", "train s", "pred s", "img/s", "train ×", "pred ×"]


def table_rows(results: MergedCompareResults) -> list[list[str]]:
    """The merged table's rows, matching :func:`table_headers`."""
    several = _several_datasets(results)
    out = []
    for row in rows(results):
        p = row.result
        rate = "–" if p.images_per_second is None else fmt_rate(p.images_per_second)
        speed = ([fmt_ratio(row.train_speed_up), fmt_ratio(row.predict_speed_up)] if row.same_dataset
                 else ["–", "–"])
        out.append([str(row.number), *([row.dataset] if several else []), row.file, p.name, p.device, row.machine,
                    f"{p.accuracy:.4f}", fmt_seconds(p.train_seconds), fmt_seconds(p.predict_seconds), rate, *speed])
    return out


def _best_cells(results: MergedCompareResults, column: int) -> frozenset[tuple[int, int]]:
    """The best accuracy of each dataset's rows (with two rows or more there)."""
    groups: dict[str, list[tuple[int, Row]]] = {}
    for index, row in enumerate(rows(results)):
        groups.setdefault(row.dataset, []).append((index, row))
    best: set[tuple[int, int]] = set()
    for group in groups.values():
        if len(group) < 2:
            continue
        top = max(row.result.accuracy for _, row in group)
        best |= {(index, column) for index, row in group if row.result.accuracy == top}
    return frozenset(best)


def caption(results: MergedCompareResults) -> str:
    """What the speed-up columns divide, and where they do not apply."""
    base = baseline_row(results)
    other = " (– on another dataset)" if _several_datasets(results) else ""
    return (f"train × and pred ×: speed-up vs the baseline, row {base.number} ({base.result.name} on "
            f"{base.result.device}, {base.machine}, {base.file}): its seconds over the row's{other}")


def title(results: MergedCompareResults) -> str:
    """The table's title: the dataset (or how many), files and results."""
    counts = f"{len(results.sources)} files, {len(results.rows())} results"
    if _several_datasets(results):
        names = ", ".join(dict.fromkeys(dataset_labels(results)))
        return f"merged comparison: {len(set(dataset_labels(results)))} datasets ({names}), {counts}"
    d = results.sources[0].dataset
    return (f"merged comparison: {d.name}, {d.train_size:,} train / {d.test_size:,} test images, "
            f"{'×'.join(map(str, d.image_shape))}; {counts}")


def table(results: MergedCompareResults) -> TableContent:
    """Every row side by side, grouped by dataset, with the speed-ups over the baseline row; the best
    accuracy of each dataset is marked."""
    headers = table_headers(results)
    return TableContent(
        title=title(results),
        headers=headers,
        rows=table_rows(results),
        text_columns=headers.index("machine") + 1,
        best=_best_cells(results, headers.index("accuracy")),
        caption=caption(results),
    )


# --------------------------------------------------------------------------- reading
def _fastest(what: str, value: float, row: Row, base: Row, figures: str) -> str:
    """``Fastest training: cnn on cuda (NVIDIA H100, row 4), 12.3× the baseline (…).``"""
    if row is base:
        return f"Fastest {what}: the baseline itself ({figures})."
    if value < SAME_SPEED:
        return f"Fastest {what}: {row.label}, about as fast as the baseline ({figures})."
    return f"Fastest {what}: {row.label}, {fmt_speed_up(value)} the baseline ({figures})."


def speed_sentences(results: MergedCompareResults) -> list[str]:
    """The fastest training and the fastest inference on the baseline's dataset, against the baseline."""
    base = baseline_row(results)
    same = [base if row.number == base.number else row for row in rows(results) if row.same_dataset]
    lines = []
    train = [(row.train_speed_up, row) for row in same if row.train_speed_up is not None]
    if train:
        value, row = max(train, key=lambda c: c[0])
        seconds = f"{fmt_seconds(row.result.train_seconds)} s"
        figures = seconds if row is base else f"{seconds} against {fmt_seconds(base.result.train_seconds)} s"
        lines.append(_fastest("training", value, row, base, figures))
    predict = [(row.predict_speed_up, row) for row in same if row.predict_speed_up is not None]
    if predict:
        value, row = max(predict, key=lambda c: c[0])
        rate, base_rate = row.result.images_per_second, base.result.images_per_second
        if rate is None or base_rate is None:
            figures = f"{fmt_seconds(row.result.predict_seconds)} s for the test set"
        elif row is base:
            figures = f"{fmt_rate(rate)} images/s"
        else:
            figures = f"{fmt_rate(rate)} against {fmt_rate(base_rate)} images/s"
        lines.append(_fastest("inference", value, row, base, figures))
    return lines


def accuracy_sentences(results: MergedCompareResults) -> list[str]:
    """The most accurate rows of each dataset (no significance test: the rows ran apart)."""
    groups: dict[str, list[Row]] = {}
    for row in rows(results):
        groups.setdefault(row.dataset, []).append(row)
    lines = []
    for dataset, group in groups.items():
        top = max(row.result.accuracy for row in group)
        best = [row for row in group if row.result.accuracy == top]
        where = f" on {dataset}" if len(groups) > 1 else ""
        if len(best) == len(group) and len(group) > 1:
            lines.append(f"Every row{where} reached the same accuracy, {top:.1%}.")
        elif len(best) == 1:
            lines.append(f"Most accurate{where}: {best[0].label}, {top:.1%}.")
        else:
            names = fmt_names([f"{row.result.name} (row {row.number})" for row in best])
            lines.append(f"Most accurate{where}: {names}, {top:.1%} each.")
    return lines


def reading(results: MergedCompareResults) -> str:
    """A short plain-language reading: the baseline, the fastest training and inference against it (on its
    dataset), the most accurate rows, and which datasets have no speed-up."""
    base = baseline_row(results)
    lines = [f"Baseline: {base.label} from {base.file}."]
    lines += speed_sentences(results)
    lines += accuracy_sentences(results)
    others = list(dict.fromkeys(row.dataset for row in rows(results) if not row.same_dataset))
    if others:
        lines.append(f"Rows on {fmt_names(others)} have no speed-up: other images take other times, so only rows on "
                     f"{base.dataset} are timed against the baseline.")
    return " ".join(lines)


def warnings(results: MergedCompareResults) -> list[str]:
    """Each file's own warnings (a busy machine, a small test set, …), named by file; and files written by
    different featvslearn versions."""
    files = file_labels(results.files)
    found: list[str] = []
    for file, source in zip(files, results.sources, strict=True):
        found += [f"{file}: {warning}" for warning in compare.warnings(source) if f"{file}: {warning}" not in found]
    versions = list(dict.fromkeys(str(s.environment.get("featvslearn", "unknown")) for s in results.sources))
    if len(versions) > 1:
        found.append(f"the files were written by different featvslearn versions ({', '.join(versions)}); a change "
                     "between them may explain part of a difference")
    return found


# --------------------------------------------------------------------------- Markdown
def settings_differences(results: MergedCompareResults) -> dict[str, list[Any]]:
    """The settings whose values differ between the files (skipped files aside): name → each file's value."""
    keys = list(dict.fromkeys(k for s in results.sources for k in s.settings if k != "skipped_files"))
    values = {key: [s.settings.get(key) for s in results.sources] for key in keys}
    return {key: vals for key, vals in values.items() if any(v != vals[0] for v in vals)}


def _row_span(numbers: Sequence[int]) -> str:
    if not numbers:
        return "–"
    if list(numbers) == list(range(numbers[0], numbers[-1] + 1)) and len(numbers) > 1:
        return f"{numbers[0]}–{numbers[-1]}"
    return ", ".join(map(str, numbers))


def sources_lines(results: MergedCompareResults) -> list[str]:
    """The Sources section: per file, its machine, GPU, device, seed, when it was written and by which
    featvslearn, and its rows; then the settings that differ between the files."""
    files = file_labels(results.files)
    numbers: dict[int, list[int]] = {}
    for row in rows(results):
        numbers.setdefault(row.source, []).append(row.number)
    table_rows = [[file, machine_name(s.environment), gpu_name(s.environment) or "–", s.device, str(s.seed),
                   s.created, str(s.environment.get("featvslearn", "–")), _row_span(numbers.get(i, []))]
                  for i, (file, s) in enumerate(zip(files, results.sources, strict=True))]
    lines = ["## Sources", "",
             *md_table(["file", "machine", "GPU", "device", "seed", "created", "featvslearn", "rows"], table_rows,
                       text_columns=7), ""]
    differences = settings_differences(results)
    if differences:
        parts = [f"{key.replace('_', ' ')} ("
                 + ", ".join(f"{file} {fmt_value(value, key)}" for file, value in zip(files, values, strict=True))
                 + ")" for key, values in differences.items()]
        lines += [f"Settings that differ between the files: {'; '.join(parts)}.", ""]
    else:
        lines += ["Every file ran with the same settings.", ""]
    lines += ["Each file's full report (stages, per-class accuracy, confusion matrices, environment) comes from "
              "`featvslearn report FILE` on that file alone.", ""]
    return lines


def dataset_section(results: MergedCompareResults) -> list[str]:
    """One line per dataset: its images and the rows that ran on it."""
    seen: dict[str, tuple[CompareResults, list[int]]] = {}
    for row in rows(results):
        seen.setdefault(row.dataset, (results.sources[row.source], []))[1].append(row.number)
    lines = ["## Datasets", ""]
    for label, (source, numbers) in seen.items():
        d = source.dataset
        lines.append(f"- **{label}**: {d.train_size:,} training and {d.test_size:,} test images of "
                     f"{'×'.join(map(str, d.image_shape))} (H×W×C), {d.num_classes} classes; rows {_row_span(numbers)}")
    return [*lines, ""]


def markdown(results: MergedCompareResults, links: Mapping[str, str] | None = None) -> str:
    """The whole Markdown report: title, reading, the merged table, the figure, sources and datasets."""
    links = links or {}
    content = table(results)
    names = " vs ".join(dict.fromkeys(p.name for s in results.sources for p in s.pipelines))
    datasets = fmt_names(list(dict.fromkeys(dataset_labels(results))))
    base = baseline_row(results)
    lines = [
        *report_opening(f"{names} on {datasets}: {len(results.sources)} results files merged",
                        f"{len(results.rows())} results from {len(results.sources)} files · merged {results.created} "
                        f"· baseline row {base.number} ({base.result.name} on {base.result.device}, {base.machine}, "
                        f"{base.file})", warnings(results), reading(results)),
        "## Side by side",
        "",
        *md_table(content.headers, content.rows, content.text_columns),
        "",
        "One row per pipeline result of each file, grouped by dataset. Train seconds cover everything fitted on "
        "the training set; predict seconds go from raw test images to labels, so images/s is the end-to-end "
        f"inference rate. The train × and pred × columns are the speed-up vs the baseline, row {base.number}: its "
        "train and predict seconds divided by the row's (above 1× the row is faster). They compare rows on the "
        "baseline's dataset only, whatever their pipeline, device or machine; choose another baseline with "
        "--baseline N (a row) or --baseline FILE (its first row). Accuracies of different machines are not tested "
        "for significance: each file's report has its own tests.",
        "",
        *image_lines(links, "train-seconds", "training seconds of every row, log scale"),
        *sources_lines(results),
        *dataset_section(results),
    ]
    return "\n".join(lines)


# --------------------------------------------------------------------------- figures
@styled
def train_seconds_figure(groups: Sequence[tuple[str, Sequence[tuple[str, str, float]]]],
                         baseline: tuple[int, float] | None = None, baseline_label: str = "baseline") -> Figure:
    """Horizontal bars of training seconds on a log axis, one per row, grouped (``groups`` is
    [(group title, [(row label, pipeline, seconds)])], the titles shown with more than one group), each
    bar in its pipeline's colour. ``baseline`` (group index, seconds): a dashed line at those seconds
    across that group's bars, labelled ``baseline_label`` in the legend."""
    slots: list[tuple[str, str | None, float | None, int]] = []  # (tick label, pipeline or None, seconds, group)
    for index, (group_title, items) in enumerate(groups):
        if len(groups) > 1:
            slots.append((group_title, None, None, index))
        slots += [(label, pipeline, seconds, index) for label, pipeline, seconds in items]
    widest = max((len(label) for label, _, _, _ in slots), default=0)
    figure = new_figure(min(8.5 + 0.085 * widest, 18.0), max(1.2 + 0.42 * len(slots), 3.0))
    ax = figure.add_subplot()
    y = np.arange(len(slots))[::-1].astype(float)
    positive = [s for _, _, s, _ in slots if s is not None and s > 0]
    floor = min(positive) / 2 if positive else 0.01
    for position, (_, pipeline, seconds, _) in zip(y, slots, strict=True):
        if pipeline is None or seconds is None:
            continue
        ax.barh(position, max(seconds, floor), height=0.7, color=pipeline_colour(pipeline))
        ax.text(max(seconds, floor) * 1.08, position, f"{fmt_seconds(seconds)} s", va="center", fontsize="small")
    ax.set_yticks(y, [label for label, _, _, _ in slots])
    for tick, (_, pipeline, _, _) in zip(ax.get_yticklabels(), slots, strict=True):
        if pipeline is None:
            tick.set_fontweight("bold")
    handles: list[Any] = [Patch(color=pipeline_colour(name), label=name)
                          for name in dict.fromkeys(p for _, p, _, _ in slots if p is not None)]
    if baseline is not None and baseline[1] > 0:
        span = [position for position, (_, pipeline, _, group) in zip(y, slots, strict=True)
                if group == baseline[0] and pipeline is not None]
        if span:
            handles.append(ax.vlines(baseline[1], min(span) - 0.45, max(span) + 0.45, colors=CHANCE_COLOUR,
                                     linestyles="--", linewidth=1.2, label=baseline_label))
    if positive:
        ax.set_xlim(floor * 0.8, max(positive) * 3.0)  # room for the labels at the bars' ends
    ax.set_ylim(-0.6, len(slots) - 0.4)
    plain_log_axis(ax.xaxis)
    ax.set_xlabel("training seconds (log scale)")
    ax.grid(axis="x", which="major", alpha=0.3)
    ax.set_axisbelow(True)
    legend_right(ax, handles, [str(h.get_label()) for h in handles])
    ax.set_title("Training time of every row")
    return figure


def figures(results: MergedCompareResults) -> dict[str, Figure]:
    """``train-seconds``: every row's training seconds, grouped by dataset, in its pipeline's colour."""
    all_rows = rows(results)
    groups: dict[str, list[tuple[str, str, float]]] = {}
    for row in all_rows:
        groups.setdefault(row.dataset, []).append(
            (f"{row.number} · {row.result.name} · {row.result.device} · {row.machine} · {row.file}", row.result.name,
             row.result.train_seconds))
    base = all_rows[results.baseline - 1]
    return {"train-seconds": train_seconds_figure(list(groups.items()),
                                                  (list(groups).index(base.dataset), base.result.train_seconds),
                                                  f"baseline (row {base.number})")}
