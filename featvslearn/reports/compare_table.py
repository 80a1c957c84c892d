"""The comparison's table and its runs on several devices: labels, speed-ups, the side-by-side cells.

Pure content (plain strings) shared by the terminal table, the Markdown report and the merged report.
"""

from __future__ import annotations

import re
from collections import Counter
from dataclasses import dataclass

from featvslearn.pipelines.budget import seconds_text
from featvslearn.reports.shared import (
    CPU_HEADER,
    SAME_SPEED,
    TableContent,
    best_accuracy_cells,
    fmt_bytes,
    fmt_cpu_share,
    fmt_rate,
    fmt_seconds,
    fmt_speed_up,
)
from featvslearn.results import CompareResults, PipelineResult


# --------------------------------------------------------------------------- runs on several devices
def run_labels(results: CompareResults) -> list[str]:
    """A name for each result: the pipeline, and with several devices "pipeline on device".

    A run that would repeat an earlier label (``--device cpu,cpu``) gets " #2", " #3", ….
    """
    several = len(results.devices) > 1
    labels = [f"{p.name} on {p.device}" if several else p.name for p in results.pipelines]
    seen: Counter[str] = Counter()
    out = []
    for label in labels:
        seen[label] += 1
        out.append(label if seen[label] == 1 else f"{label} #{seen[label]}")
    return out


def run_keys(results: CompareResults) -> list[str]:
    """File-name-safe keys of :func:`run_labels` (``cnn on cuda:0`` → ``cnn-on-cuda-0``)."""
    return [re.sub(r"[^a-z0-9]+", "-", label.lower()).strip("-") or "run" for label in run_labels(results)]


@dataclass(frozen=True)
class SpeedUp:
    """How much faster a run was than the same pipeline's run on the first device.

    ``train`` is the baseline's train seconds over this run's; ``predict`` the baseline's
    predict seconds over this run's (the ratio of images/s). None where a time is zero.
    """

    baseline_device: str
    train: float | None
    predict: float | None


def _ratio(baseline: float, value: float) -> float | None:
    return baseline / value if value > 0 and baseline > 0 else None


def speed_ups(results: CompareResults) -> list[SpeedUp | None]:
    """Per result, its speed-up against the first run of the same pipeline (on the first device).

    None for that first run itself, and for every run when only one device was used.
    """
    if len(results.devices) < 2:
        return [None] * len(results.pipelines)
    first: dict[str, PipelineResult] = {}
    out: list[SpeedUp | None] = []
    for p in results.pipelines:
        base = first.setdefault(p.name, p)
        out.append(None if base is p else SpeedUp(
            baseline_device=base.device,
            train=_ratio(base.train_seconds, p.train_seconds),
            predict=_ratio(base.predict_seconds, p.predict_seconds),
        ))
    return out


def speed_up_cells(up: SpeedUp | None) -> list[str]:
    """The cells under :data:`SPEED_UP_HEADERS`: train and predict speed-ups such as "12.3×" ("–" where a
    time is zero), "1.0×" for the first device's run itself (``up`` None)."""
    if up is None:
        return [fmt_speed_up(1.0)] * 2
    return [fmt_speed_up(up.train), fmt_speed_up(up.predict)]


def speed_up_caption(results: CompareResults) -> str:
    """The line under the table that says what :data:`SPEED_UP_HEADERS` divide; empty with one device."""
    if len(results.devices) < 2:
        return ""
    first = results.devices[0]
    return f"train × and pred ×: speed-up vs {first} (the pipeline's seconds on {first} over the row's)"


def speed_up_sentence(results: CompareResults) -> str:
    """One sentence naming the biggest speed-up over the first device; empty with one device."""
    candidates = []
    for label, p, up in zip(run_labels(results), results.pipelines, speed_ups(results), strict=True):
        if up is None:
            continue
        if up.train is not None:
            candidates.append((up.train, "training", label, p, up))
        if up.predict is not None:
            candidates.append((up.predict, "inference", label, p, up))
    if not candidates:
        return ""
    value, what, label, p, up = max(candidates, key=lambda c: c[0])
    base = next(b for b in results.pipelines if b.name == p.name)
    if what == "training":
        figures = f"{base.train_seconds:.1f} s against {p.train_seconds:.1f} s"
    else:
        figures = f"{p.images_per_second:,.0f} against {base.images_per_second:,.0f} images/s"
    if value < 1 / SAME_SPEED:
        return (f"Every run was slower than on {up.baseline_device}; the closest was {what} of {label}, "
                f"{fmt_speed_up(1 / value)} slower ({figures}).")
    if value < SAME_SPEED:
        return (f"No run was clearly faster than on {up.baseline_device}: the best, {what} of {label}, was about "
                f"as fast ({figures}).")
    return f"The biggest speed-up over {up.baseline_device}: {what} of {label}, {fmt_speed_up(value)} ({figures})."


def first_runs(results: CompareResults) -> list[PipelineResult]:
    """Each pipeline's first run (on the first device), in the report's order."""
    first: dict[str, PipelineResult] = {}
    for p in results.pipelines:
        first.setdefault(p.name, p)
    return list(first.values())


# --------------------------------------------------------------------------- table
HEADERS = ["pipeline", "device", "accuracy", "train s", "pred s", "img/s", CPU_HEADER, "peak RSS"]
"""The side-by-side table's headers when no run used a GPU: seconds to train and to predict the test
set, test images labelled per second, the process's mean CPU as a share of the whole machine, and its
peak resident memory."""
GPU_HEADERS = ["GPU util mean / max", "peak GPU mem"]
"""The GPU columns, which join :data:`HEADERS` after ``img/s`` when some run used a GPU."""
GPU_COLUMN = HEADERS.index("img/s") + 1
BUDGET_HEADER = "within budget"
"""The column, after the others, that says what each run chose within its budget and the seconds it
used of it (when some run had a budget)."""
SPEED_UP_HEADERS = ["train ×", "pred ×"]
"""The speed-up columns, last, with several devices: how many times faster than the same pipeline's
run on the first device training and predicting were (short, so the table fits where it can)."""
ACCURACY_COLUMN = HEADERS.index("accuracy")


def fmt_gpu_util(p: PipelineResult) -> str:
    """Mean / max GPU utilisation, or 'no GPU'."""
    if p.gpu_util_percent_mean is None:
        return "no GPU" if p.device.startswith("cpu") else "unavailable"
    return f"{p.gpu_util_percent_mean:.0f}% / {p.gpu_util_percent_max:.0f}%"


def _used_gpu(results: CompareResults) -> bool:
    """Whether some run used a GPU: it ran on cuda or mps, or has a GPU reading."""
    return any(p.device.startswith(("cuda", "mps")) or p.gpu_util_percent_mean is not None
               or p.peak_gpu_memory_bytes is not None for p in results.pipelines)


def budget_choice(p: PipelineResult) -> dict | None:
    """What ``p`` chose within its budget (``details["budget"]``, see :mod:`featvslearn.pipelines.budget`), or None."""
    choice = p.details.get("budget")
    return choice if isinstance(choice, dict) and isinstance(choice.get("budget_seconds"), int | float) else None


def used_seconds(p: PipelineResult) -> float:
    """The seconds a run spent after its warm-up: what its budget covers."""
    return p.train_seconds + p.predict_seconds


def budget_cell(p: PipelineResult) -> str:
    """``rbf-6000, 105 / 240 s``: the configuration chosen and the seconds used of the budget."""
    choice = budget_choice(p)
    if choice is None:
        return ""
    return f"{choice.get('chosen', '?')}, {seconds_text(used_seconds(p))} / {seconds_text(choice['budget_seconds'])} s"


def _has_budget(results: CompareResults) -> bool:
    return any(budget_choice(p) is not None for p in results.pipelines)


def _columns(p: PipelineResult, gpu: bool) -> list[str]:
    """One run's cells under :data:`HEADERS`, with the :data:`GPU_HEADERS` cells when ``gpu``."""
    cells = [
        p.name,
        p.device,
        f"{p.accuracy:.4f}",
        fmt_seconds(p.train_seconds),
        fmt_seconds(p.predict_seconds),
        fmt_rate(p.images_per_second),
        fmt_cpu_share(p.cpu_util_percent_mean),
        fmt_bytes(p.peak_rss_bytes),
    ]
    if gpu:
        cells[GPU_COLUMN:GPU_COLUMN] = [fmt_gpu_util(p), fmt_bytes(p.peak_gpu_memory_bytes)]
    return cells


def table_headers(results: CompareResults) -> list[str]:
    """The side-by-side table's headers: :data:`HEADERS`, the :data:`GPU_HEADERS` after ``img/s`` when
    some run used a GPU, and the :data:`SPEED_UP_HEADERS` with several devices."""
    headers = list(HEADERS)
    if _used_gpu(results):
        headers[GPU_COLUMN:GPU_COLUMN] = GPU_HEADERS
    if _has_budget(results):
        headers.append(BUDGET_HEADER)
    if len(results.devices) < 2:
        return headers
    return [*headers, *SPEED_UP_HEADERS]


def table_rows(results: CompareResults) -> list[list[str]]:
    """The side-by-side table's rows, one per result, matching :func:`table_headers`."""
    gpu, budget = _used_gpu(results), _has_budget(results)
    rows = [_columns(p, gpu) + ([budget_cell(p)] if budget else []) for p in results.pipelines]
    if len(results.devices) < 2:
        return rows
    return [[*row, *speed_up_cells(up)] for row, up in zip(rows, speed_ups(results), strict=True)]


def table(results: CompareResults) -> TableContent:
    """The pipelines side by side: one row per result; with several results, the best accuracy is marked;
    with several devices, a caption says what the speed-up columns divide."""
    d = results.dataset
    budgets = sorted({choice["budget_seconds"] for p in results.pipelines if (choice := budget_choice(p))})
    budget = f", budget {' or '.join(seconds_text(b) for b in budgets)} s a pipeline" if budgets else ""
    return TableContent(
        title=f"{d.name}: {d.train_size:,} train / {d.test_size:,} test images, "
              f"{'×'.join(map(str, d.image_shape))}, device {results.device}{budget}",
        headers=table_headers(results),
        rows=table_rows(results),
        text_columns=2,
        best=best_accuracy_cells([p.accuracy for p in results.pipelines], ACCURACY_COLUMN),
        caption=speed_up_caption(results),
    )
