"""run_scaling(config) -> ScalingResults: every pipeline at each training-set size and seed, one test set.

The "data" factor of the deep-learning revolution: hand-engineered features tend to lead when
labelled images are few, and a CNN overtakes them as the training set grows. This module draws
a stratified, seeded subsample of the training set per (size, seed), trains each pipeline on it
with :func:`featvslearn.experiments.run.run_batch`, tests every run on the same test set, and finds where
the CNN overtakes each hand-engineered pipeline.

Like ``compare``, it never prints: progress and the plan go to callbacks.
"""

from __future__ import annotations

import dataclasses
import json
import math
import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from datetime import datetime, timezone
from typing import Any

import numpy as np
import torch
from pydantic import TypeAdapter

from featvslearn.datasets import Split, subsample
from featvslearn.device import autocast_dtype, dtype_name
from featvslearn.errors import UserError
from featvslearn.executors import Executor, RunFailure, Task
from featvslearn.experiments.config import ScalingConfig
from featvslearn.experiments.run import dataset_info, load_data, run_batch, seed_everything, skipped_files
from featvslearn.experiments.runlog import RunLog, dataset_identity
from featvslearn.experiments.sweep import (
    InProcessCallbacks,
    executor_settings,
    failed_runs_setting,
    failures,
    run_sweep,
)
from featvslearn.learned import train
from featvslearn.measure import environment
from featvslearn.measure.contention import machine_busy
from featvslearn.pipelines import LEARNED_PIPELINES
from featvslearn.progress import Progress, no_progress
from featvslearn.reports.scaling import Spread, spread
from featvslearn.results import Crossover, PipelineResult, ScalingResults, ScalingRun

# ----------------------------------------------------------------------------- sizes

IMAGES_PER_CLASS_AT_START = 10
"""The default sizes start near this many training images per class."""

CLOSE_TO_FULL = 1.25
"""A default size within this factor of the whole training set is left out: the full set follows."""


def _one_three_series(limit: int) -> list[int]:
    """1, 3, 10, 30, 100, … up to ``limit`` (inclusive): steps of about ×3 that read well on a log axis."""
    values, decade = [], 1
    while decade <= limit:
        values += [v for v in (decade, 3 * decade) if v <= limit]
        decade *= 10
    return values


def default_sizes(n_train: int, num_classes: int) -> list[int]:
    """Training-set sizes spanning the dataset, from about 10 images per class to all of them.

    The sizes follow 1, 3, 10, 30, 100, … (steps of about ×3), starting at the value nearest
    (on a log scale) to ``10 × num_classes``, leaving out values within 25 % of ``n_train``,
    and always ending with ``n_train`` itself. Fashion-MNIST (10 classes, 60,000 images):
    100, 300, 1000, 3000, 10000, 30000, 60000; scikit-learn's digits (10 classes, 1,347):
    100, 300, 1000, 1347; 3 classes and 48 images: 30, 48.
    """
    if n_train < 1 or num_classes < 1:
        raise ValueError("n_train and num_classes must be positive")
    target = IMAGES_PER_CLASS_AT_START * num_classes
    series = _one_three_series(100 * max(target, n_train))
    start = min(series, key=lambda v: abs(math.log(v / target)))
    sizes = [v for v in series if start <= v and num_classes <= v and v * CLOSE_TO_FULL <= n_train]
    return [*sizes, n_train]


def check_sizes(sizes: Sequence[int], n_train: int, num_classes: int) -> None:
    """A size outside ``[num_classes, n_train]`` is a one-line UserError naming the valid range."""
    for size in sizes:
        if not num_classes <= size <= n_train:
            raise UserError(
                f"--sizes {size} is out of range: the training set has {n_train:,} images in {num_classes} "
                f"classes, so use sizes from {num_classes} (one image per class) to {n_train}"
            )


# ------------------------------------------------------------------------- crossover


def _qualifier(verdicts: Sequence[str], sizes: Sequence[int]) -> str:
    """How a lead over ``sizes`` stands against the spread across seeds, for a crossover's reason: ", beyond the
    spread across seeds", ", but within the spread across seeds at 300 images", or " (one seed: no spread across
    seeds is known)"."""
    if "unknown" in verdicts:
        return " (one seed: no spread across seeds is known)"
    within = [f"{size:,}" for size, verdict in zip(sizes, verdicts, strict=True) if verdict == "within"]
    if within:
        shown = within[0] if len(within) == 1 else f"{', '.join(within[:-1])} and {within[-1]}"
        return f", but within the spread across seeds at {shown} images"
    return ", beyond the spread across seeds"


def find_crossover(sizes: Sequence[int], cnn_means: Sequence[float], other_means: Sequence[float],
                   spreads: Sequence[Spread] | None = None) -> Crossover:
    """Where the CNN's mean accuracy overtakes another pipeline's, along ascending ``sizes``.

    The crossover size is the smallest size from which the CNN's mean is above the other
    pipeline's at that size and at every larger size. Between it and the size below, the
    difference of the means (CNN minus other) is interpolated linearly in log size to
    estimate where it crosses zero. The size and estimate are a pure function of the means.

    Returns a :class:`Crossover`; without a crossover in the range, its size, estimate and
    between are None and its reason is "the CNN is ahead at every size", "the CNN never
    overtakes in this range" (never above), or "the CNN does not stay ahead up to the
    largest size" (above somewhere, but not at the largest size). ``spreads`` (optional, one per
    size, from :func:`featvslearn.reports.scaling.spread`) says how the two compare with the
    spread across seeds at each size; with it, the reason says whether the CNN's lead is beyond
    that spread where it is claimed ("…, beyond the spread across seeds", "…, but within the spread
    across seeds at 300 images", or "(one seed: no spread across seeds is known)").
    """
    if not sizes or not len(sizes) == len(cnn_means) == len(other_means):
        raise ValueError("sizes, cnn_means and other_means must be non-empty and equally long")
    if spreads is not None and len(spreads) != len(sizes):
        raise ValueError("spreads must hold one verdict per size")
    if list(sizes) != sorted(set(sizes)):
        raise ValueError("sizes must be ascending without repeats")

    def qualified(start: int) -> str:
        return "" if spreads is None else _qualifier(spreads[start:], sizes[start:])

    ahead = [c > o for c, o in zip(cnn_means, other_means, strict=True)]
    if all(ahead):
        return Crossover(None, None, None, "the CNN is ahead at every size" + qualified(0))
    if not ahead[-1]:
        reason = ("the CNN does not stay ahead up to the largest size" if any(ahead)
                  else "the CNN never overtakes in this range")
        if spreads is not None and spreads[-1] != "beyond":
            reason += (f"; at {sizes[-1]:,} images the two are within the spread across seeds"
                       if spreads[-1] == "within" else " (one seed: no spread across seeds is known)")
        return Crossover(None, None, None, reason)
    first = len(ahead) - 1
    while ahead[first - 1]:
        first -= 1
    low, high = sizes[first - 1], sizes[first]
    below = cnn_means[first - 1] - other_means[first - 1]  # <= 0
    above = cnn_means[first] - other_means[first]  # > 0
    fraction = -below / (above - below)
    estimate = math.exp(math.log(low) + fraction * (math.log(high) - math.log(low)))
    return Crossover(
        size=int(high),
        estimate=estimate,
        between=[int(low), int(high)],
        reason=f"the CNN is ahead from {high:,} training images on{qualified(first)}; the curves cross near "
               f"{estimate:,.0f} (between {low:,} and {high:,})",
    )


def crossovers(results: ScalingResults) -> dict[str, Crossover]:
    """The crossover of the CNN over each hand-engineered pipeline of ``results`` (none without a CNN), each
    reason saying how the CNN's lead compares with the spread across seeds."""
    if "cnn" not in results.pipelines:
        return {}
    cnn = [s.accuracy_mean for s in results.summary("cnn")]

    def runs(name: str, size: int) -> list[ScalingRun]:
        return [r for r in results.pipelines[name] if r.train_size == size]

    return {
        name: find_crossover(results.sizes, cnn, [s.accuracy_mean for s in results.summary(name)],
                             [spread(runs("cnn", size), runs(name, size)) for size in results.sizes])
        for name in results.pipelines if name not in LEARNED_PIPELINES
    }


# ------------------------------------------------------------------------------ plan


@dataclass(frozen=True)
class ScalingPlan:
    """The work ahead, known once the data is loaded: sizes, seeds, runs and the CNN's share.

    ``cnn_epochs``: the CNN's epochs at each size (they adapt to the size unless --epochs is
    given); ``cnn_image_passes``: images the CNN trains on over every run (size × epochs,
    summed); ``full_run_image_passes``: those of one CNN run on the whole training set.
    """

    sizes: list[int]
    seeds: list[int]
    pipelines: list[str]
    n_train: int
    n_test: int
    cnn_epochs: dict[int, int]
    cnn_image_passes: int
    full_run_image_passes: int

    @property
    def runs(self) -> int:
        """Pipeline runs in all: sizes × seeds × pipelines."""
        return len(self.sizes) * len(self.seeds) * len(self.pipelines)

    def describe(self) -> str:
        """One or two sentences for the user before the work starts."""

        def count(n: int, noun: str) -> str:
            return f"{n:,} {noun}{'s' if n != 1 else ''}"

        text = (f"{count(self.runs, 'run')}: {count(len(self.sizes), 'size')} "
                f"({', '.join(f'{s:,}' for s in self.sizes)} training images) × {count(len(self.seeds), 'seed')} × "
                f"{count(len(self.pipelines), 'pipeline')}, each tested on the same {self.n_test:,} images.")
        if self.cnn_image_passes:
            ratio = self.cnn_image_passes / max(self.full_run_image_passes, 1)
            times = f"{ratio:.1f}×" if ratio >= 0.95 else f"{ratio:.2f}×"
            text += (f" CNN training: {self.cnn_image_passes:,} image passes, {times} one CNN run on all "
                     f"{self.n_train:,} training images (epochs per size: "
                     f"{', '.join(str(self.cnn_epochs[s]) for s in self.sizes)}).")
        return text


def _plan(config: ScalingConfig, split: Split, sizes: list[int]) -> ScalingPlan:
    device_type = config.torch_device().type
    train_set = split.train

    def epochs(size: int) -> int:
        return train.train_settings_for(size, min(train_set.image_shape[:2]), device_type, train_set.hflip_ok,
                                        config.seed, epochs=config.epochs, preset=config.preset).epochs

    cnn_epochs = {size: epochs(size) for size in sizes}
    # learned-svm without the cnn trains its own network
    trains_cnn = "cnn" in config.pipelines or "learned-svm" in config.pipelines
    passes = sum(size * cnn_epochs[size] for size in sizes) * config.seeds if trains_cnn else 0
    return ScalingPlan(sizes=sizes, seeds=list(config.seed_values), pipelines=list(config.pipelines),
                       n_train=len(train_set), n_test=len(split.test), cnn_epochs=cnn_epochs,
                       cnn_image_passes=passes, full_run_image_passes=len(train_set) * epochs(len(train_set)))


# ------------------------------------------------------------------------------- run


@dataclass(frozen=True)
class ScalingShared(InProcessCallbacks):
    """What every run of a scaling sweep needs and no run changes: sent to each worker once.

    ``full``: the whole training set (each run draws its subsample) and the shared test set;
    ``config``: the validated settings; ``device``: the resolved device, as text. ``progress`` and
    ``on_step(task, pipeline, finished)`` reach the caller only when the runs are carried out in
    this process (they are left behind when this is pickled, see :class:`InProcessCallbacks`).
    """

    full: Split
    config: ScalingConfig
    device: str
    progress: Progress = no_progress
    on_step: Callable[[Task, str, bool], None] | None = None


def scaling_tasks(sizes: Sequence[int], seeds: Sequence[int], uses_gpu: bool = False) -> list[Task]:
    """One task per (size, seed), sizes first, in the order given: each runs every pipeline on one subsample."""
    return [Task(key={"size": int(size), "seed": int(seed)}, label=f"size {size:,}, seed {seed}", uses_gpu=uses_gpu)
            for size in sizes for seed in seeds]


def work(task: Task, shared: ScalingShared) -> dict[str, ScalingRun]:
    """One run of a scaling sweep: every pipeline on the stratified subsample of ``task``'s size and seed.

    The subsample is drawn with the seed, and each pipeline trains with it (learned-svm reuses the
    CNN trained here). Returns {pipeline name: its :class:`ScalingRun`}.
    """
    size, seed = int(task.key["size"]), int(task.key["seed"])
    config = shared.config
    split = dataclasses.replace(shared.full, train=subsample(shared.full.train, size, seed=seed))

    def starting(name: str) -> None:
        if shared.on_step is not None:
            shared.on_step(task, name, False)

    def finished(name: str, result: PipelineResult) -> None:
        if shared.on_step is not None:
            shared.on_step(task, name, True)

    batch = run_batch(config.pipelines, split, torch.device(shared.device), config.run_settings(seed),
                      shared.progress, size_option="the largest of --sizes", on_start=starting, on_result=finished)
    return {name: ScalingRun(train_size=size, seed=seed, accuracy=result.accuracy, train_seconds=result.train_seconds,
                             other_load_percent_mean=result.other_load_percent_mean,
                             machine_busy=machine_busy(result.stages))
            for name, result in batch.items()}


_RUN = TypeAdapter(ScalingRun)


def encode_record(record: dict[str, ScalingRun]) -> dict[str, Any]:
    """A run's record as the run log holds it: {pipeline: its ScalingRun's fields}."""
    return {name: dataclasses.asdict(run) for name, run in record.items()}


def read_record(record: dict[str, Any], pipelines: Sequence[str]) -> dict[str, ScalingRun]:
    """A run's record from the run log back as {pipeline: ScalingRun}; a ``ValueError``
    (pydantic's ``ValidationError`` is one) if it is not one run of each of ``pipelines``."""
    if not isinstance(record, dict) or sorted(record) != sorted(pipelines):
        raise ValueError(f"a scaling run's record should hold the runs of {', '.join(pipelines)}")
    return {name: _RUN.validate_json(json.dumps(record[name])) for name in pipelines}


def sweep_identity(config: ScalingConfig, device: str) -> dict[str, Any]:
    """What a scaling run's result depends on besides its size and seed: the run log's ``sweep``."""
    return {"kind": "scaling", "dataset": dataset_identity(config.dataset), "pipelines": list(config.pipelines),
            "test_size": config.test_size, "epochs": config.epochs, "precision": config.precision,
            "svm": config.svm, "preset": config.preset, "device": device, "seed": config.seed}


def run_scaling(config: ScalingConfig, progress: Progress = no_progress,
                on_plan: Callable[[ScalingPlan], None] | None = None, executor: Executor | None = None,
                log: RunLog | None = None) -> ScalingResults:
    """Train every pipeline of ``config`` at each training-set size and seed; return the measured runs.

    ``config`` should come from :meth:`ScalingConfig.validated`. The test set is drawn once
    (seeded with the base seed, like ``compare``) and shared by every run. For seed ``s`` and
    size ``n``, the training subsample is stratified and seeded with ``s`` (at the full size it
    is the whole training set, and the seeds differ in initialisation and shuffling only), and
    each pipeline trains with ``s``. ``on_plan`` receives the plan once the data is loaded,
    before any training. Raises ``UserError`` for sizes outside the training set's range.

    Each (size, seed) is one run (:func:`work`), carried out by ``executor`` (default: one after
    another in this process). With ``log``, each finished run is appended to it at once, and on
    ``log.resume`` the runs it already holds are reused (see :mod:`featvslearn.experiments.runlog`). A run that
    fails on the executor is left out of the results and named in ``settings["failed_runs"]``;
    a ``UserError`` if every run failed.
    """
    start = time.perf_counter()
    device = config.torch_device()
    seed_everything(config.seed)
    full, load_seconds = load_data(config, progress)
    num_classes = len(np.unique(full.train.labels))
    sizes = list(config.sizes) if config.sizes is not None else default_sizes(len(full.train), num_classes)
    check_sizes(sizes, len(full.train), num_classes)
    plan = _plan(config, full, sizes)
    if on_plan is not None:
        on_plan(plan)
    per_task = len(config.pipelines)
    done = failed = 0

    def report(text: str) -> None:
        progress("scaling", text, done, plan.runs)

    def finished_text() -> str:
        return f"scaling: {done:,} of {plan.runs:,} runs finished" + (f", {failed:,} failed" if failed else "")

    def on_step(task: Task, name: str, finished: bool) -> None:
        nonlocal done
        if finished:
            done += 1
            report(finished_text())
        else:
            report(f"scaling: {name}, {task.label}")

    settled = 0

    def on_start(reused: int) -> None:
        nonlocal done, settled
        settled, done = reused, reused * per_task
        report(f"scaling: {done:,} of {plan.runs:,} runs finished before (in the run log)" if reused
               else f"scaling: {plan.runs:,} runs")

    def on_outcome(task: Task, outcome: object) -> None:
        nonlocal done, failed, settled
        settled += 1
        failed += per_task if isinstance(outcome, RunFailure) else 0
        done = settled * per_task
        report(finished_text())

    tasks = scaling_tasks(sizes, config.seed_values, uses_gpu=device.type == "cuda")
    shared = ScalingShared(full=full, config=config, device=str(device), progress=progress, on_step=on_step)
    outcomes = run_sweep(work, tasks, shared, lambda record: read_record(record, config.pipelines), encode_record,
                         sweep_identity(config, str(device)), executor=executor, log=log, on_start=on_start,
                         on_outcome=on_outcome)
    runs: dict[str, list[ScalingRun]] = {name: [] for name in config.pipelines}
    for _, outcome in outcomes:
        if not isinstance(outcome, RunFailure):
            for name in config.pipelines:
                runs[name].append(outcome[name])
    measured = [size for size in sizes if any(run.train_size == size for run in runs[config.pipelines[0]])]
    if not measured:
        first = failures(outcomes)[0]
        raise UserError(f"every run failed; the first, {first.task.label}: {first.error}")
    settings: dict[str, Any] = {
        "pipelines": list(config.pipelines),
        "sizes_option": list(config.sizes) if config.sizes is not None else None,
        "test_size": config.test_size,
        "epochs": config.epochs,
        "cnn_epochs_per_size": {str(size): plan.cnn_epochs[size] for size in sizes} if plan.cnn_image_passes
        else {},
        "precision": config.precision,
        "cnn_precision": dtype_name(autocast_dtype(device, config.precision)),
        "preset": config.preset,
        "svm": config.svm,
        "device_option": config.device,
        **executor_settings(executor),
        "skipped_files": skipped_files(full),
    }
    if failures(outcomes):
        settings["failed_runs"] = failed_runs_setting(outcomes)
    results = ScalingResults(
        dataset=dataset_info(full, load_seconds),
        device=str(device),
        seed=config.seed,
        seeds=list(config.seed_values),
        sizes=measured,
        environment=environment(device),
        settings=settings,
        pipelines=runs,
        crossover={},
        created=datetime.now(timezone.utc).isoformat(timespec="seconds"),
        total_seconds=0.0,
    )
    results.crossover = crossovers(results)
    results.machine_busy = any(run.machine_busy for name_runs in runs.values() for run in name_runs)
    results.total_seconds = time.perf_counter() - start
    return results
