"""One measured run of any pipeline, and the pieces every command shares around it.

``run_pipeline`` runs one registered pipeline inside a :class:`~featvslearn.measure.Monitor`
and returns its :class:`~featvslearn.results.PipelineResult`; ``measured_run`` is the same
monitor and error handling for other training bodies (ablate's CNN variants). ``load_data``
draws the seeded split every command starts from. compare, scaling and ablate all go through
here; nothing here prints.
"""

from __future__ import annotations

import dataclasses
import random
from collections.abc import Callable, Iterator, Sequence
from contextlib import contextmanager
from typing import Any

import numpy as np
import torch

from featvslearn.datasets import Dataset, Split, load_split, subsample
from featvslearn.errors import UserError
from featvslearn.experiments.config import DataOptions
from featvslearn.measure import Monitor, StageMeasurement, Stopwatch, downsample
from featvslearn.measure.contention import PREDICT, TRAIN, UNTIMED, seconds_in
from featvslearn.pipelines import PIPELINES, RunContext, RunSettings, run_order
from featvslearn.progress import Progress, no_progress
from featvslearn.results import (
    DatasetInfo,
    ImageSizing,
    MisclassifiedExample,
    PipelineResult,
    StageResult,
    Timeline,
    encode_correct,
    encode_image,
)
from featvslearn.stats import wilson_interval

MISCLASSIFIED_EXAMPLES = 16
"""How many misclassified test images each pipeline's result keeps for the report."""
TIMELINE_POINTS = 600
"""At most this many utilisation samples per pipeline go into its result's timeline."""


# ----------------------------------------------------------------------------- set-up
def seed_everything(seed: int) -> None:
    """Seed Python, NumPy and torch (CPU and CUDA) so a run can be repeated exactly on a CPU."""
    random.seed(seed)
    np.random.seed(seed % 2**32)
    torch.manual_seed(seed)


def _subsample(ds: Dataset, size: int | None, option: str, seed: int) -> Dataset:
    if size is not None and size > len(ds):
        raise UserError(f"{option} {size} is larger than the {len(ds)} images available; use at most {len(ds)}")
    return subsample(ds, size, seed=seed)


def load_data(options: DataOptions, progress: Progress = no_progress,
              train_size: int | None = None) -> tuple[Split, float]:
    """Load the dataset of ``options`` and draw the seeded, stratified train and test subsets.

    ``train_size`` None keeps the whole training set. Returns the split and the load seconds.
    """
    progress("load", f"loading {options.dataset}", 0, None)
    with Stopwatch() as watch:
        split = load_split(options.dataset, data_dir=options.data_dir, download=options.download, seed=options.seed,
                           image_size=options.image_size, fit=options.fit)
        drawn = [f"{size:,} {side} images drawn from them (seed {seed})"
                 for size, side, part, seed in ((train_size, "training", split.train, options.seed),
                                                (options.test_size, "test", split.test, options.seed + 1))
                 if size is not None and size < len(part)]
        split = Split(
            train=_subsample(split.train, train_size, "--train-size", options.seed),
            test=_subsample(split.test, options.test_size, "--test-size", options.seed + 1),
            origin="; ".join([split.origin, *drawn]) if split.origin else "",
        )
    progress("load", f"loaded {options.dataset}: {len(split.train):,} train, {len(split.test):,} test", 1, 1)
    return split, watch.seconds


def dataset_info(split: Split, load_seconds: float) -> DatasetInfo:
    """What a results file says of its images: the training set's name, sizes, shape and classes, and how an
    image folder's files were brought to one size."""
    train_set = split.train
    sizing = train_set.sizing
    return DatasetInfo(
        name=train_set.name,
        train_size=len(train_set),
        test_size=len(split.test),
        image_shape=list(train_set.image_shape),
        num_classes=train_set.num_classes,
        source=train_set.source,
        class_names=list(train_set.class_names),
        load_seconds=load_seconds,
        sizing=None if sizing is None else ImageSizing(**{
            **dataclasses.asdict(sizing), "fill": None if sizing.fill is None else list(sizing.fill)}),
        split=split.origin or None,
    )


def skipped_files(split: Split) -> list[str]:
    """The unreadable image files that loading ``split`` passed over, training set first."""
    return list(split.train.skipped) + list(split.test.skipped)


# ------------------------------------------------------------------------ the measured run
def out_of_gpu_memory(n_train: int) -> UserError:
    """The message for a CNN that does not fit on the GPU."""
    return UserError(
        f"the GPU ran out of memory training the CNN on {n_train} images; lower --train-size or use --device cpu"
    )


@contextmanager
def measured_run(device: torch.device, name: str, n_train: int, size_option: str = "--train-size",
                 ) -> Iterator[Monitor]:
    """A :class:`Monitor` on ``device`` for one run of ``name``; running out of memory becomes a UserError.

    ``size_option`` is the option the message tells the user to lower.
    """
    try:
        with Monitor(device) as monitor:
            yield monitor
    except torch.cuda.OutOfMemoryError:
        raise out_of_gpu_memory(n_train) from None
    except MemoryError:
        raise UserError(f"{name} ran out of memory on {n_train:,} training images; lower {size_option}") from None


WARM_UP_TRAIN_IMAGES = 100
"""Training images (a stratified draw, at least one per class) of the untimed warm-up run."""
WARM_UP_TEST_IMAGES = 50
"""Test images the warm-up run predicts."""
WARM_UP_STAGE = "warm-up (small slice)"
"""The name of the warm-up stage every run starts with (warm-up stages count in no timing)."""


class _Unmeasured:
    """Stands in for a :class:`Monitor` inside a warm-up: stages run, synchronised, unrecorded."""

    def __init__(self) -> None:
        self.stages: list[StageMeasurement] = []

    @contextmanager
    def stage(self, name: str, device: torch.device | str, *, role: str) -> Iterator[StageMeasurement]:
        with Stopwatch(device) as watch:
            record = StageMeasurement(name=name, device=str(device), role=role)
            yield record
        record.seconds = watch.seconds


def warm_up_split(split: Split, seed: int) -> Split:
    """The small slice of ``split`` a warm-up runs on: a stratified draw of at most
    ``WARM_UP_TRAIN_IMAGES`` training images (at least one per class) and the first
    ``WARM_UP_TEST_IMAGES`` test images."""
    train_set, test_set = split.train, split.test
    classes = len(np.unique(train_set.labels))
    size = min(len(train_set), max(WARM_UP_TRAIN_IMAGES, classes))
    test_indices = np.arange(min(len(test_set), WARM_UP_TEST_IMAGES))
    return Split(train=subsample(train_set, size, seed=seed),
                 test=dataclasses.replace(test_set, images=test_set.images[test_indices],
                                          labels=test_set.labels[test_indices]))


def warm_up(monitor: Monitor, body: Callable[[RunContext], object], split: Split, device: torch.device,
            settings: RunSettings) -> None:
    """Run ``body`` once, unmeasured, on a small slice of ``split`` inside a :data:`WARM_UP_STAGE`.

    Every pipeline gets this, in every command, so one-time costs (lazy imports, the first
    optimizer, kernel selection, the first BLAS or LAPACK call on the device, kornia's first
    call) are paid here and not in its first timed stage. The warm-up trains for one epoch,
    without compilation, tuning or per-epoch accuracy, then everything is seeded again with
    ``settings.seed``, so the run that follows gives the same results as without it.
    """
    quick = dataclasses.replace(settings, epochs=1, compile=False, tune=False, epoch_accuracy=False)
    with monitor.stage(WARM_UP_STAGE, device, role=UNTIMED):
        body(RunContext(split=warm_up_split(split, settings.seed), device=device, settings=quick,
                        monitor=_Unmeasured(), progress=no_progress))  # type: ignore[arg-type]
    seed_everything(settings.seed)


def run_pipeline(name: str, split: Split, device: torch.device, settings: RunSettings,
                 progress: Progress = no_progress, products: dict[str, Any] | None = None,
                 size_option: str = "--train-size") -> PipelineResult:
    """Run the registered pipeline ``name`` on ``split`` and ``device``, measured; return its result.

    An untimed warm-up on a small slice comes first (see :func:`warm_up`); then everything is
    seeded with ``settings.seed`` and the pipeline runs. ``products`` is shared by the pipelines
    run on the same split, device and seed (learned-svm reuses the cnn's network from it).
    """
    pipeline = PIPELINES[name]
    seed_everything(settings.seed)
    with measured_run(device, name, len(split.train), size_option) as monitor:
        progress(f"{name}-warm-up", f"{name}: warm-up on a small slice", 0, None)
        warm_up(monitor, pipeline.run, split, device, settings)
        progress(f"{name}-warm-up", f"{name}: warm-up on a small slice", 1, 1)
        context = RunContext(split=split, device=device, settings=settings, monitor=monitor, progress=progress,
                             products=products if products is not None else {})
        output = pipeline.run(context)
    return pipeline_result(name, monitor, output.predictions, split, output.details, seed=settings.seed)


# ------------------------------------------------------------------------- the result
def stage_result(stage: StageMeasurement) -> StageResult:
    """A measured stage as it goes into a results file."""
    stats = stage.stats
    return StageResult(
        name=stage.name,
        device=stage.device,
        seconds=stage.seconds,
        role=stage.role,
        gpu_util_percent_mean=stats.gpu_util_percent_mean if stats else None,
        gpu_util_percent_max=stats.gpu_util_percent_max if stats else None,
        cpu_util_percent_mean=stats.cpu_util_percent_mean if stats else None,
        peak_rss_bytes=stats.peak_rss_bytes if stats else None,
        cpu_seconds=stage.cpu_seconds,
        other_load_percent=stage.other_load_percent,
        gpu_process_util_percent_mean=stats.gpu_process_util_percent_mean if stats else None,
        gpu_joules=stage.gpu_joules,
        cpu_joules=stage.cpu_joules,
        energy_below_resolution=stage.energy_below_resolution if stage.gpu_joules is not None else None,
    )


def energy_fields(monitor: Monitor) -> dict[str, Any]:
    """The joules of a run's training and prediction stages on the GPU and the CPU packages (None where a
    timed stage was not measured), and why a figure is missing."""
    timed = [s for s in monitor.stages if s.role != UNTIMED]

    def total(values: list[float | None]) -> float | None:
        return sum(v for v in values if v is not None) if timed and None not in values else None

    gpu = total([s.gpu_joules for s in timed]) if monitor.device.type == "cuda" else None
    return {"gpu_joules": gpu, "cpu_joules": total([s.cpu_joules for s in timed]),
            "energy_notes": monitor.energy_notes}


def usage_fields(monitor: Monitor) -> dict[str, Any]:
    """What ``monitor`` saw over a whole run: GPU and CPU utilisation, peak GPU memory and peak RSS.

    Keyword arguments of :class:`PipelineResult` and :class:`VariantResult`, which report them alike.
    """
    overall = monitor.overall_stats()
    return {
        "gpu_util_percent_mean": overall.gpu_util_percent_mean,
        "gpu_util_percent_max": overall.gpu_util_percent_max,
        "gpu_util_samples": overall.gpu_util_samples,
        "peak_gpu_memory_bytes": monitor.peak_gpu_memory_bytes(),
        "cpu_util_percent_mean": overall.cpu_util_percent_mean,
        "peak_rss_bytes": overall.peak_rss_bytes,
        "other_load_percent_mean": monitor.other_load_percent_mean,
        "gpu_process_util_percent_mean": overall.gpu_process_util_percent_mean,
        "gpu_notes": monitor.notes,
    }


def per_class_accuracy(labels: np.ndarray, predictions: np.ndarray, num_classes: int) -> list[float]:
    """The accuracy on each true class ``0 .. num_classes - 1``; 0.0 for a class with no test image."""
    labels, predictions = np.asarray(labels), np.asarray(predictions)
    return [float(np.mean(predictions[labels == c] == c)) if np.any(labels == c) else 0.0 for c in range(num_classes)]


def choose_misclassified(labels: np.ndarray, predictions: np.ndarray, limit: int = MISCLASSIFIED_EXAMPLES,
                         seed: int = 0) -> list[int]:
    """Indices of up to ``limit`` test examples with ``predictions != labels``, spread over the classes.

    Within each true class the mistakes are shuffled with ``seed``; then the classes take
    turns (smallest class index first), one example each, until ``limit`` are chosen or none
    is left. Returned sorted by true class, then index: the same inputs give the same list.
    """
    labels, predictions = np.asarray(labels), np.asarray(predictions)
    wrong = np.flatnonzero(labels != predictions)
    rng = np.random.default_rng(seed)
    queues = [list(rng.permutation(wrong[labels[wrong] == c])) for c in np.unique(labels[wrong])]
    chosen: list[int] = []
    while len(chosen) < limit and any(queues):
        for queue in queues:
            if queue and len(chosen) < limit:
                chosen.append(int(queue.pop(0)))
    return sorted(chosen, key=lambda i: (int(labels[i]), i))


def misclassified_examples(images: np.ndarray, labels: np.ndarray, predictions: np.ndarray,
                           limit: int = MISCLASSIFIED_EXAMPLES, seed: int = 0) -> list[MisclassifiedExample]:
    """The examples of :func:`choose_misclassified` with their images (N×H×W×C uint8) as PNG strings."""
    return [
        MisclassifiedExample(index=i, label=int(labels[i]), prediction=int(predictions[i]),
                             image=encode_image(images[i]))
        for i in choose_misclassified(labels, predictions, limit, seed)
    ]


def monitor_timeline(monitor: Monitor, max_points: int = TIMELINE_POINTS) -> Timeline:
    """The monitor's samples, downsampled to at most ``max_points``, and its stage windows.

    Times are seconds since the monitor (the pipeline) started, rounded to milliseconds;
    utilisations to 0.1 %. The GPU column is None when no sample has a GPU reading.
    """
    samples = downsample(monitor.samples, max_points)
    has_gpu = any(s.gpu_util_percent is not None for s in samples)
    return Timeline(
        t_seconds=[round(s.t_seconds, 3) for s in samples],
        gpu_util_percent=[None if s.gpu_util_percent is None else round(s.gpu_util_percent, 1) for s in samples]
        if has_gpu else None,
        cpu_util_percent=[round(s.cpu_util_percent, 1) for s in samples],
        rss_bytes=[int(s.rss_bytes) for s in samples],
        stages=[{"name": s.name, "device": s.device, "start_seconds": round(s.start_seconds, 3),
                 "end_seconds": round(s.start_seconds + s.seconds, 3)} for s in monitor.stages],
    )


def accuracy_fields(predictions: np.ndarray, labels: np.ndarray) -> dict[str, Any]:
    """Predictions ``(N,)`` against labels ``(N,)``: the accuracy, its 95 % Wilson interval and the packed
    per-image correctness, as keyword arguments of :class:`PipelineResult` and :class:`VariantResult`."""
    correct = np.asarray(predictions) == np.asarray(labels)  # (N,) bool
    return {"accuracy": float(np.mean(correct)),
            "accuracy_interval": wilson_interval(int(correct.sum()), len(correct)),
            "correct": encode_correct(correct)}


def pipeline_result(name: str, monitor: Monitor, predictions: np.ndarray, split: Split,
                    details: dict[str, Any], seed: int = 0) -> PipelineResult:
    """Assemble a pipeline's figures from its monitor and its test-set predictions ``(N,)``.

    Each stage's seconds count by the role it was opened with: training, prediction, or neither
    (untimed: warm-up and compilation, reported as ``warmup_seconds``). The result keeps some
    misclassified test images (chosen with ``seed``) so the report can show them.
    """
    from sklearn.metrics import confusion_matrix

    labels, num_classes = split.test.labels, split.train.num_classes
    stages = [stage_result(s) for s in monitor.stages]
    predict_seconds = seconds_in(stages, PREDICT)
    warmup_seconds = seconds_in(stages, UNTIMED)
    train_seconds = seconds_in(stages, TRAIN)
    matrix = confusion_matrix(labels, predictions, labels=list(range(num_classes)))
    return PipelineResult(
        name=name,
        **accuracy_fields(predictions, labels),
        train_seconds=train_seconds,
        predict_seconds=predict_seconds,
        images_per_second=len(labels) / predict_seconds if predict_seconds > 0 else None,
        device=str(monitor.device),
        **usage_fields(monitor),
        stages=stages,
        warmup_seconds=warmup_seconds,
        per_class_accuracy=per_class_accuracy(labels, predictions, num_classes),
        confusion_matrix=matrix.tolist(),
        details=details,
        misclassified=misclassified_examples(split.test.images, labels, predictions, seed=seed),
        timeline=monitor_timeline(monitor),
        **energy_fields(monitor),
    )


def run_batch(names: Sequence[str], split: Split, device: torch.device, settings: RunSettings,
              progress: Progress = no_progress, size_option: str = "--train-size",
              on_start: Callable[[str], None] | None = None,
              on_result: Callable[[str, PipelineResult], None] | None = None,
              products: dict[str, Any] | None = None) -> dict[str, PipelineResult]:
    """Run pipelines ``names`` on the same split, device and seed, in run order (a pipeline after the
    ones it needs, which it then reuses); returns the results by name, in the order given.

    ``on_start(name)`` and ``on_result(name, result)`` are called around each pipeline. ``products``,
    if given, is the dict the pipelines leave what they share in (the cnn its trained network), so
    the caller can use it afterwards.
    """
    products = {} if products is None else products
    results: dict[str, PipelineResult] = {}
    for name in run_order(names):
        if on_start is not None:
            on_start(name)
        results[name] = run_pipeline(name, split, device, settings, progress, products, size_option)
        if on_result is not None:
            on_result(name, results[name])
    return {name: results[name] for name in names}
