"""run_ablation(config) -> AblateResults: CNN variants trained for the same budget, each measured.

The "algorithms" factor of the deep-learning revolution, on networks of LeNet-5's shape: LeNet-5
as in 1998 (tanh, average pooling), then sigmoid, tanh or ReLU, with and without batch norm, at
5 and at 11 weight layers, and dropout with few training images. Every variant gets a fair
chance: initialisation matched to its activation and its own learning rate, chosen on a
validation split of its training images (timed apart from training); then it sees the same
training images in the same order, for the same epochs, with the same schedule and seed.
Progress flows back through a callback, so this module never prints.
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
from featvslearn.experiments.config import AblateConfig
from featvslearn.experiments.run import (
    accuracy_fields,
    dataset_info,
    load_data,
    measured_run,
    per_class_accuracy,
    seed_everything,
    skipped_files,
    stage_result,
    usage_fields,
    warm_up,
)
from featvslearn.experiments.runlog import RunLog, dataset_identity
from featvslearn.experiments.sweep import (
    InProcessCallbacks,
    executor_settings,
    failed_runs_setting,
    failures,
    run_sweep,
)
from featvslearn.learned import train
from featvslearn.learned.models import CNN, CNNConfig, lenet_config
from featvslearn.learned.variants import ABLATION_TRAIN_SIZE, ABLATION_VARIANTS, SMALL_TRAIN_SIZE, AblationVariant
from featvslearn.measure import environment
from featvslearn.measure.contention import PREDICT, TRAIN, UNTIMED, machine_busy, seconds_in
from featvslearn.pipelines import RunContext, RunSettings
from featvslearn.pipelines.cnn import TrainedCNN, predict_test_set, train_network
from featvslearn.progress import Progress, no_progress
from featvslearn.reports.ablate_reading import significance_setting
from featvslearn.results import AblateResults, VariantResult

LOSS_CURVE_POINTS = 200
"""Most points in a variant's loss curve: enough for a smooth plot, few enough for a small JSON."""

LR_STAGE = "choose lr (validation split)"
"""The stage that tries each learning rate: timed, and reported apart from training."""

LR_FACTORS: tuple[float, ...] = (5.0, 2.5, 1.0, 0.25, 0.1)
"""The learning rates each variant tries, as multiples of the trainer's (1, 0.5, 0.2, 0.05, 0.02 at batch 256)."""

VALIDATION_FRACTION = 0.2
"""The part of a variant's training images held out to choose its learning rate."""

LR_RULE = ("each variant's learning rate is chosen in its own run: a stratified fifth of its training images is held "
           "out, and of the trainer's rate times 5, 2.5, 1, 0.25 and 0.1 the one whose network, trained for a third of "
           "the epochs on the other four fifths, has the best validation accuracy (the larger rate on a tie) is used "
           "to train on all of them; the test images are never looked at")
"""How the learning rates are chosen, as the report states it."""


def selection_epochs(epochs: int) -> int:
    """Epochs of each learning-rate trial: a third of the variant's, at least 2 (and at most all of them)."""
    return min(epochs, max(2, round(epochs / 3)))


def ablation_epochs(n_train: int) -> int:
    """Epochs for every variant: about 100,000 image passes (10 epochs of 10,000), within 10-40.

    The same on every device, so a figure measured on a CPU can be repeated on a GPU.
    """
    return int(np.clip(math.ceil(100_000 / max(n_train, 1)), 10, 40))


def variant_cnn_config(variant: AblationVariant, image_shape: tuple[int, int, int], num_classes: int) -> CNNConfig:
    """The network of ``variant``: LeNet-5's shape for the image size, with the variant's activation,
    pooling, batch norm and dropout, four convolutions per stage when deep, and the initialisation
    matched to the activation (He for ReLU, Glorot for tanh and sigmoid)."""
    return lenet_config(image_shape, num_classes, activation=variant.activation, pooling=variant.pooling,
                        batch_norm=variant.batch_norm, dropout=variant.dropout,
                        convs_per_stage=4 if variant.deep else 1)


RECIPE_DEVICE_TYPE = "cpu"
"""Every variant trains with the trainer's CPU recipe (batch size at most 256) on every device, so the
ablation is the same experiment on a CPU and a GPU. With the GPU's batch of 512, 10,000 images give
half the optimiser steps (190 in 10 epochs), too few for a sigmoid network: on an H200 it stayed at
chance (0.100) where the CPU recipe trains it to 0.76."""


def variant_train_settings(n_train: int, image_side: int, hflip_ok: bool, seed: int, epochs: int,
                           dtype: torch.dtype | None, lr_factor: float = 1.0) -> train.TrainSettings:
    """The trainer's settings for ``epochs``: the same for every variant but the learning rate, and the
    same on every device (:data:`RECIPE_DEVICE_TYPE`).

    No variant uses the patch-whitening first layer (a trick for networks with batch norm) or
    test-time augmentation (not what is compared). The learning rate is the trainer's times
    ``lr_factor`` (see :func:`choose_lr`).
    """
    settings = train.train_settings_for(n_train, image_side, RECIPE_DEVICE_TYPE, hflip_ok, seed, epochs=epochs,
                                        autocast_dtype=dtype)
    return dataclasses.replace(settings, lr=settings.lr * lr_factor, whiten=False, tta=0)


def choose_lr(cnn_config: CNNConfig, train_set: Any, device: torch.device, epochs: int, seed: int,
              dtype: torch.dtype | None) -> tuple[float, list[dict[str, Any]]]:
    """The learning-rate factor (of :data:`LR_FACTORS`) with the best validation accuracy, and every trial.

    A stratified, seeded fifth of ``train_set`` is held out; each factor trains ``cnn_config`` for
    :func:`selection_epochs` on the rest and is scored on that fifth. The test set is not used.
    """
    from sklearn.model_selection import train_test_split

    fit_index, val_index = train_test_split(np.arange(len(train_set)), test_size=VALIDATION_FRACTION,
                                            stratify=train_set.labels, random_state=seed)
    images = train.images_to_device(train_set.images, device)  # (N, C, H, W) uint8
    labels = torch.as_tensor(train_set.labels, device=device)
    fit_images, fit_labels = images[torch.as_tensor(fit_index, device=device)], labels[fit_index]
    val_images, val_labels = images[torch.as_tensor(val_index, device=device)], train_set.labels[val_index]
    normaliser = train.Normaliser.fit(fit_images)
    trials: list[dict[str, Any]] = []
    for factor in LR_FACTORS:
        settings = variant_train_settings(len(fit_index), min(train_set.image_shape[:2]), train_set.hflip_ok, seed,
                                          selection_epochs(epochs), dtype, factor)
        torch.manual_seed(seed)
        model = CNN(cnn_config).to(device=device, memory_format=torch.channels_last)
        log = train.train_cnn(model, fit_images, fit_labels, normaliser, settings)
        predictions = train.predict(model, val_images, normaliser, dtype).cpu().numpy()
        final = log.loss_per_epoch[-1] if log.loss_per_epoch else float("nan")
        trials.append({"lr": settings.lr, "lr_factor": factor,
                       "validation_accuracy": float(np.mean(predictions == val_labels)),
                       "final_loss": final if math.isfinite(final) else None})
    best = max(range(len(trials)), key=lambda i: (trials[i]["validation_accuracy"], trials[i]["lr"]))
    return LR_FACTORS[best], trials


def loss_curve(loss_per_step: list[float], steps_per_epoch: int,
               points: int = LOSS_CURVE_POINTS) -> dict[str, list[Any]]:
    """The per-step training loss averaged over at most ``points`` equal windows of consecutive steps.

    Returns {"epoch": fractional epoch at the end of each window, "loss": the window's mean
    loss, or None where a step's loss was not finite}.
    """
    losses = np.asarray(loss_per_step, dtype=np.float64)
    if losses.size == 0:
        return {"epoch": [], "loss": []}
    windows = np.array_split(np.arange(losses.size), min(points, losses.size))
    epochs = [round(float(w[-1] + 1) / steps_per_epoch, 6) for w in windows]
    return {"epoch": epochs, "loss": _finite_or_none([float(losses[w].mean()) for w in windows])}


def _finite_or_none(values: list[float]) -> list[float | None]:
    """JSON has no NaN or infinity: a loss that stopped being a number becomes None."""
    return [v if math.isfinite(v) else None for v in values]


def variant_split(variant: AblationVariant, split: Split, seed: int) -> Split:
    """The images ``variant`` trains on: the run's, or a stratified seeded draw of ``variant.train_size``."""
    if variant.train_size is None or variant.train_size >= len(split.train):
        return split
    return dataclasses.replace(split, train=subsample(split.train, variant.train_size, seed=seed))


def variant_epochs(variant: AblationVariant, split: Split, epochs: int, config: AblateConfig) -> int:
    """``epochs`` (the run's), or for a small-data variant without ``--epochs``, its own from its size."""
    if variant.train_size is None or config.epochs is not None:
        return epochs
    return ablation_epochs(len(variant_split(variant, split, config.seed).train))


def run_variant(variant: AblationVariant, split: Split, device: torch.device, epochs: int, config: AblateConfig,
                progress: Progress = no_progress) -> VariantResult:
    """Choose the learning rate, then train and evaluate one variant on ``split``, every stage measured."""
    epochs = variant_epochs(variant, split, epochs, config)
    split = variant_split(variant, split, config.seed)
    train_set, test_set = split.train, split.test
    dtype = autocast_dtype(device, config.precision)
    cnn_config = variant_cnn_config(variant, train_set.image_shape, train_set.num_classes)
    run_settings = RunSettings(seed=config.seed, epochs=epochs, precision=config.precision)
    chosen: dict[str, Any] = {}

    def train_and_predict(context: RunContext) -> tuple[TrainedCNN, train.TrainLog, np.ndarray]:
        small = context.split.train
        settings = variant_train_settings(len(small), min(small.image_shape[:2]), small.hflip_ok, config.seed,
                                          context.settings.epochs or 1, dtype, chosen.get("factor", 1.0))
        trained, log = train_network(context, cnn_config, settings, name=variant.name)
        return trained, log, predict_test_set(context, trained)

    with measured_run(device, variant.name, len(train_set)) as monitor:
        warm_up(monitor, train_and_predict, split, device, run_settings)
        with monitor.stage(LR_STAGE, device, role=TRAIN):
            progress(f"{variant.name}-lr", f"{variant.name}: choosing the learning rate", 0, None)
            chosen["factor"], trials = choose_lr(cnn_config, train_set, device, epochs, config.seed, dtype)
            progress(f"{variant.name}-lr", f"{variant.name}: choosing the learning rate", 1, 1)
        trained, log, predictions = train_and_predict(
            RunContext(split=split, device=device, settings=run_settings, monitor=monitor, progress=progress))
    steps_per_epoch = max(1, len(log.loss_per_step) // epochs)
    stages = [stage_result(s) for s in monitor.stages]
    labels = test_set.labels
    per_class = per_class_accuracy(labels, predictions, train_set.num_classes)
    details = trained.details
    return VariantResult(
        name=variant.name,
        activation=variant.activation,
        batch_norm=variant.batch_norm,
        dropout=variant.dropout,
        depth=cnn_config.depth(),
        **accuracy_fields(predictions, labels),
        train_seconds=trained.train_seconds,
        loss_curve=loss_curve(log.loss_per_step, steps_per_epoch),
        loss_per_epoch=_finite_or_none(log.loss_per_epoch),
        seconds_per_epoch=log.seconds_per_epoch,
        predict_seconds=seconds_in(stages, PREDICT),
        warmup_seconds=seconds_in(stages, UNTIMED),
        diverged=not all(math.isfinite(v) for v in log.loss_per_step),
        parameters=details["parameters"],
        flops_per_image=details["flops_per_image"],
        lr=trained.settings.lr,
        device=str(device),
        **usage_fields(monitor),
        stages=stages,
        per_class_accuracy=per_class,
        details={
            "architecture": details["architecture"],
            "training": details["training"],
            "train_images_per_second": details["train_images_per_second"],
            "epochs": epochs,
            "pooling": variant.pooling,
        },
        train_images=len(train_set),
        lr_candidates=trials,
        lr_selection_seconds=sum(s.seconds for s in stages if s.name == LR_STAGE),
    )


def _ablation_split(config: AblateConfig, progress: Progress) -> tuple[Split, float]:
    """The split every variant trains on: ``--train-size`` images, else at most ``ABLATION_TRAIN_SIZE``."""
    split, load_seconds = load_data(config, progress, train_size=config.train_size)
    if config.train_size is None and len(split.train) > ABLATION_TRAIN_SIZE:
        # the same draw as --train-size 10000 would make
        split = dataclasses.replace(split, train=subsample(split.train, ABLATION_TRAIN_SIZE, seed=config.seed))
        progress("load", f"loaded {config.dataset}: {len(split.train):,} train (a stratified draw), "
                 f"{len(split.test):,} test", 1, 1)
    return split, load_seconds


@dataclass(frozen=True)
class AblateShared(InProcessCallbacks):
    """What every run of an ablation needs and no run changes: sent to each worker once.

    ``split``: the images every variant trains and is tested on; ``config``: the validated
    settings; ``device``: the resolved device, as text; ``epochs``: every variant's epochs.
    ``progress`` and ``on_step(task, variant, finished)`` reach the caller only when the runs are
    carried out in this process (see :class:`~featvslearn.experiments.sweep.InProcessCallbacks`).
    """

    split: Split
    config: AblateConfig
    device: str
    epochs: int
    progress: Progress = no_progress
    on_step: Callable[[Task, str, bool], None] | None = None


def ablate_tasks(variants: Sequence[str], uses_gpu: bool = False) -> list[Task]:
    """One task per variant, in the order given."""
    return [Task(key={"variant": name}, label=name, uses_gpu=uses_gpu) for name in variants]


def work(task: Task, shared: AblateShared) -> VariantResult:
    """One run of an ablation: train and evaluate ``task``'s variant, seeded with the sweep's seed."""
    name = str(task.key["variant"])
    if shared.on_step is not None:
        shared.on_step(task, name, False)
    seed_everything(shared.config.seed)
    result = run_variant(ABLATION_VARIANTS[name], shared.split, torch.device(shared.device), shared.epochs,
                         shared.config, shared.progress)
    return result


_VARIANT = TypeAdapter(VariantResult)


def read_record(record: dict[str, Any]) -> VariantResult:
    """A run's record from the run log back as a :class:`VariantResult`; a ``ValueError``
    (pydantic's ``ValidationError`` is one) if it is not one."""
    return _VARIANT.validate_json(json.dumps(record))


def sweep_identity(config: AblateConfig, device: str, train_size: int, epochs: int) -> dict[str, Any]:
    """What a variant's result depends on besides its name: the run log's ``sweep``."""
    return {"kind": "ablate", "dataset": dataset_identity(config.dataset), "train_size": train_size,
            "test_size": config.test_size, "epochs": epochs,
            "precision": config.precision, "device": device, "seed": config.seed,
            # what the variants are and how their rates are found: runs logged by other versions are not reused
            "networks": "LeNet-5 shape", "learning_rates": {"factors": list(LR_FACTORS), "chosen on": "validation"}}


def run_ablation(config: AblateConfig, progress: Progress = no_progress, executor: Executor | None = None,
                 log: RunLog | None = None) -> AblateResults:
    """Train every variant of ``config`` on the same split, epochs, schedule and seed; return the results.

    ``config`` should come from :meth:`AblateConfig.validated`. Each variant is one run
    (:func:`work`), carried out by ``executor`` (default: one after another in this process). With
    ``log``, each finished run is appended to it at once, and on ``log.resume`` the variants it
    already holds are reused (see :mod:`featvslearn.experiments.runlog`). A variant that fails on the executor
    is left out and named in ``settings["failed_runs"]``; a ``UserError`` if every one failed.
    """
    start = time.perf_counter()
    device = config.torch_device()
    seed_everything(config.seed)
    split, load_seconds = _ablation_split(config, progress)
    train_set = split.train
    epochs = config.epochs if config.epochs is not None else ablation_epochs(len(train_set))
    count = len(config.variants)
    done = failed = 0

    def finished_text() -> str:
        return f"ablate: {done:,} of {count:,} variants finished" + (f", {failed:,} failed" if failed else "")

    def on_start(reused: int) -> None:
        nonlocal done
        done = reused
        progress("ablate", f"ablate: {done:,} of {count:,} variants finished before (in the run log)" if reused
                 else f"ablate: {count:,} variants", done, count)

    def on_step(task: Task, name: str, finished: bool) -> None:
        progress("ablate", f"ablate: {name}", done, count)

    def on_outcome(task: Task, outcome: object) -> None:
        nonlocal done, failed
        done += 1
        failed += isinstance(outcome, RunFailure)
        progress("ablate", finished_text(), done, count)

    shared = AblateShared(split=split, config=config, device=str(device), epochs=epochs, progress=progress,
                          on_step=on_step)
    outcomes = run_sweep(work, ablate_tasks(config.variants, uses_gpu=device.type == "cuda"), shared, read_record,
                         dataclasses.asdict,
                         sweep_identity(config, str(device), len(train_set), epochs), executor=executor, log=log,
                         on_start=on_start, on_outcome=on_outcome)
    results = [outcome for _, outcome in outcomes if not isinstance(outcome, RunFailure)]
    if not results:
        first = failures(outcomes)[0]
        raise UserError(f"every run failed; the first, {first.task.label}: {first.error}")
    reference = train.train_settings_for(len(train_set), min(train_set.image_shape[:2]), RECIPE_DEVICE_TYPE,
                                         train_set.hflip_ok, config.seed, epochs=epochs,
                                         autocast_dtype=autocast_dtype(device, config.precision))
    settings: dict[str, Any] = {
        "variants": list(config.variants),
        "train_size": config.train_size,
        "test_size": config.test_size,
        "epochs": epochs,
        "epochs_option": config.epochs,
        "batch_size": reference.batch_size,
        "steps": max(1, len(train_set) // reference.batch_size) * epochs,
        "optimizer": f"Nesterov SGD, momentum {reference.momentum}, linear warm-up over "
                     f"{reference.warmup_fraction:.0%} of the steps then linear decay to zero",
        "lr": reference.lr,
        "lr_rule": LR_RULE,
        "lr_factors": list(LR_FACTORS),
        "small_train_size": SMALL_TRAIN_SIZE,
        "network": "LeNet-5's shape: 5x5 convolutions of 6 and 16 maps (one per stage, four when deep), 2x2 "
                   "pooling, fully connected 120 and 84, classifier",
        "weight_decay": reference.weight_decay,
        "label_smoothing": reference.label_smoothing,
        "translate_pixels": reference.translate_pixels,
        "hflip": reference.hflip,
        "precision": dtype_name(reference.autocast_dtype),
        "precision_option": config.precision,
        "initialisation": "He (Kaiming) normal for ReLU, Glorot (Xavier) uniform for tanh and sigmoid, zero biases",
        "whitened_first_layer": False,
        "test_time_augmentation": False,
        "device_option": config.device,
        **executor_settings(executor),
        "skipped_files": skipped_files(split),
    }
    if failures(outcomes):
        settings["failed_runs"] = failed_runs_setting(outcomes)
    ablation = AblateResults(
        machine_busy=any(machine_busy(v.stages) for v in results),
        dataset=dataset_info(split, load_seconds),
        device=str(device),
        seed=config.seed,
        environment=environment(device),
        variants=results,
        settings=settings,
        created=datetime.now(timezone.utc).isoformat(timespec="seconds"),
        total_seconds=time.perf_counter() - start,
    )
    # the McNemar tests the reading makes, raw and Holm-adjusted p-values (the report reads them from `correct`)
    ablation.settings["tests"] = significance_setting(ablation)
    ablation.total_seconds = time.perf_counter() - start
    return ablation
