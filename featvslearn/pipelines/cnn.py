"""cnn: a small CNN trained on the device with the whole training set held there.

``train_network`` (to device, warm-up, train, as measured stages) is shared with
learned-svm, which trains its own network when no cnn ran before it, and with ablate,
which trains its variants with it.
"""

from __future__ import annotations

import math
from collections.abc import Callable
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

from featvslearn.measure.contention import PREDICT, TRAIN, UNTIMED
from featvslearn.pipelines.base import Pipeline, PipelineOutput, RunContext

if TYPE_CHECKING:
    import torch

    from featvslearn.learned import train
    from featvslearn.learned.models import CNNConfig


@dataclass
class TrainedCNN:
    """A CNN trained in this run, kept so that learned-svm can reuse it."""

    eval_model: torch.nn.Module  # the EMA of the weights when the preset keeps one, else the trained model
    normaliser: train.Normaliser
    settings: train.TrainSettings
    train_seconds: float
    details: dict[str, Any]
    hflip: bool = False  # whether a horizontal flip keeps the class (test-time augmentation may flip)


def train_network(context: RunContext, cnn_config: CNNConfig, settings: train.TrainSettings, name: str = "cnn",
                  epoch_accuracy: bool = False, stop_after: Callable[[int, float], bool] | None = None,
                  ) -> tuple[TrainedCNN, train.TrainLog]:
    """Build ``cnn_config`` and train it with ``settings``: stages to device, warm-up and train.

    The network is initialised from ``settings.seed``; progress goes to the ``<name>-train``
    task. With ``epoch_accuracy`` the test accuracy after each epoch is measured (and counted
    in training time). ``stop_after(epochs done, train seconds so far)`` may end training after an
    epoch (see :func:`featvslearn.learned.train.train_cnn`). Returns the trained network with its
    details, and the training log.
    """
    import torch

    from featvslearn.device import dtype_name
    from featvslearn.learned import train
    from featvslearn.learned.models import CNN, flops_per_image, parameter_count
    from featvslearn.measure.peak import training_gflops

    monitor, device, progress = context.monitor, context.device, context.progress
    train_set, test_set = context.split.train, context.split.test
    torch.manual_seed(settings.seed)
    first_stage = len(monitor.stages)
    with monitor.stage("to device", device, role=TRAIN):
        model = CNN(cnn_config).to(device=device, memory_format=torch.channels_last)
        images = context.on_device(train_set.images).permute(0, 3, 1, 2)  # (N, C, H, W) uint8, channels_last
        labels = torch.as_tensor(train_set.labels, device=device)
        normaliser = train.Normaliser.fit(images)
        whitened = train.whiten_first_layer(model, images, normaliser) if settings.whiten else 0
    with monitor.stage("warm-up" + (" and compile" if settings.compile else ""), device, role=UNTIMED) as warm:
        trainable = train.warm_up(model, images, labels, normaliser, settings)
    total = settings.epochs
    state: dict[str, Any] = {"loss": "", "steps": 1}

    def on_step(epoch: int, step: int, steps: int) -> None:
        state["steps"] = steps
        progress(f"{name}-train", f"{name}: training, epoch {epoch + 1:,}/{total:,}{state['loss']}",
                 epoch * steps + step, total * steps)

    def on_epoch(epoch: int, loss: float, accuracy: float | None) -> None:
        state["loss"] = f", loss {loss:.3f}" + (f", test accuracy {accuracy:.4f}" if accuracy is not None else "")
        steps = state["steps"]
        progress(f"{name}-train", f"{name}: training, epoch {epoch:,}/{total:,}{state['loss']}", epoch * steps,
                 total * steps)

    evaluate = None
    if epoch_accuracy:
        test_images = context.on_device(test_set.images).permute(0, 3, 1, 2)  # (N, C, H, W) uint8
        test_labels = torch.as_tensor(test_set.labels, device=device)

        def evaluate(net: torch.nn.Module) -> float:
            predictions = train.predict(net, test_images, normaliser, settings.autocast_dtype)
            return float((predictions == test_labels).float().mean())

    progress(f"{name}-train", f"{name}: training, epoch 1/{total:,}", 0, None)  # its clock starts here
    with monitor.stage("train", device, role=TRAIN) as train_stage:
        log = train.train_cnn(model, images, labels, normaliser, settings, on_step=on_step, on_epoch=on_epoch,
                              trainable=trainable, evaluate=evaluate, stop_after=stop_after)
    height, width = train_set.image_shape[:2]
    flops = flops_per_image(cnn_config, height, width)
    details: dict[str, Any] = {
        "architecture": cnn_config.as_dict(),
        "parameters": parameter_count(model),
        "flops_per_image": flops,
        # forward and backward over the train stage's wall seconds (see featvslearn.measure.peak)
        "train_gflops_per_second": training_gflops(flops, log.images_seen, train_stage.seconds),
        "whitened_first_layer_filters": whitened,
        "training": settings.as_dict(),
        "precision": dtype_name(settings.autocast_dtype),
        "epochs_trained": len(log.loss_per_epoch),
        "loss_per_epoch": log.loss_per_epoch,
        "seconds_per_epoch": log.seconds_per_epoch,
        # one clock: the images actually processed over the wall seconds of the train stage
        "train_images_per_second": log.images_seen / train_stage.seconds if train_stage.seconds > 0 else None,
    }
    if log.test_accuracy_per_epoch:
        details["test_accuracy_per_epoch"] = log.test_accuracy_per_epoch
    if settings.compile:
        details["compile_seconds"] = warm.seconds  # the warm-up step that compiles, untimed
    train_seconds = sum(s.seconds for s in monitor.stages[first_stage:] if s.role == TRAIN)
    return TrainedCNN(log.ema_model or model, normaliser, settings, train_seconds, details, train_set.hflip_ok), log


BUDGET_PROBE_STEPS = 10
"""Optimiser steps a budget probe times to estimate the seconds of one epoch (the first step, which
sets up the optimiser's state, is run before them and not counted)."""
BUDGET_PROBE_SHARE = 0.1
"""The share of the budget after which the probe stops timing steps (once it has timed
:data:`BUDGET_PROBE_MIN_STEPS`): on a busy machine a probe must not spend the budget it is sizing."""
BUDGET_PROBE_MIN_STEPS = 3
BUDGET_PROBE_MISS = 1.5
"""A measured epoch this many times slower or faster than the probe's estimate is stated in the reason."""


class _ProbeDone(Exception):
    """Raised from the probe's step callback once it has timed enough steps."""


def probe_cnn(context: RunContext, cnn_config: CNNConfig, settings: train.TrainSettings,
              limit_seconds: float = math.inf) -> tuple[float, float]:
    """(seconds per epoch, seconds to predict the test set) of ``cnn_config`` trained with ``settings``
    on this device, timed on a throwaway network (whitened as the real one is) on the first training and
    test images: one untimed step, then the median of up to :data:`BUDGET_PROBE_STEPS` timed steps
    (fewer once the probe has run ``limit_seconds``, never fewer than :data:`BUDGET_PROBE_MIN_STEPS`),
    and one prediction pass. The median keeps one slow step on a busy machine from deciding the schedule."""
    import contextlib
    import dataclasses
    import itertools
    import statistics
    import time

    import torch

    from featvslearn.device import synchronize
    from featvslearn.learned import train
    from featvslearn.learned.models import CNN

    device, train_set, test_set = context.device, context.split.train, context.split.test
    start = time.perf_counter()
    steps_per_epoch = max(1, len(train_set) // settings.batch_size)
    steps = min(BUDGET_PROBE_STEPS + 1, steps_per_epoch)
    rows = min(len(train_set), steps * settings.batch_size)
    images = context.on_device(train_set.images)[:rows].permute(0, 3, 1, 2)  # (rows, C, H, W) uint8
    labels = torch.as_tensor(train_set.labels[:rows], device=device)
    model = CNN(cnn_config).to(device=device, memory_format=torch.channels_last)
    normaliser = train.Normaliser.fit(images)
    if settings.whiten:
        train.whiten_first_layer(model, images, normaliser)
    quick = dataclasses.replace(settings, epochs=1, compile=False)
    trainable = train.warm_up(model, images, labels, normaliser, quick)
    ends: list[float] = []

    def on_step(epoch: int, step: int, total: int) -> None:
        synchronize(device)
        ends.append(time.perf_counter())
        timed = len(ends) - 1
        if timed >= BUDGET_PROBE_MIN_STEPS and ends[-1] - start > limit_seconds:
            raise _ProbeDone

    with contextlib.suppress(_ProbeDone):
        train.train_cnn(model, images, labels, normaliser, quick, trainable=trainable, on_step=on_step)
    steps_timed = [b - a for a, b in itertools.pairwise(ends)]
    step_seconds = statistics.median(steps_timed) if steps_timed else ends[0] - start
    tests = context.on_device(test_set.images)[:rows].permute(0, 3, 1, 2)  # (rows', C, H, W) uint8
    begin = time.perf_counter()
    train.predict(model, tests, normaliser, settings.autocast_dtype, tta=settings.tta, hflip=train_set.hflip_ok)
    synchronize(device)
    predict_seconds = (time.perf_counter() - begin) * len(test_set) / max(1, len(tests))
    return step_seconds * steps_per_epoch, predict_seconds


def train_default_network(context: RunContext) -> TrainedCNN:
    """Train compare's CNN for the dataset, device and the context's settings (preset, epochs, precision).

    Without a budget the CNN trains for its standard epochs (a fixed function of the training-set
    size and the device type) or ``--epochs``. With a budget and no ``--epochs``, a measured
    ``choose epochs (budget probe)`` stage first estimates an epoch's seconds, the CNN trains for its
    standard epochs or as many as fit, and stops early when one more epoch, at the pace its epochs
    have measured, would run past the budget (less the test set's estimated prediction). The reason
    says so, and names both paces when the probe missed by more than :data:`BUDGET_PROBE_MISS` times.
    """
    from featvslearn.device import autocast_dtype
    from featvslearn.learned import train
    from featvslearn.learned.models import cnn_config_for
    from featvslearn.pipelines import budget as budgets

    options, device, train_set = context.settings, context.device, context.split.train
    budget = options.budget
    preset = train.PRESETS[options.preset]
    cnn_config = cnn_config_for(train_set.image_shape, train_set.num_classes, device.type, preset.width_multiplier)

    def settings_for(epochs: int | None) -> train.TrainSettings:
        return train.train_settings_for(
            len(train_set), min(train_set.image_shape[:2]), device.type, train_set.hflip_ok, options.seed,
            epochs=epochs, autocast_dtype=autocast_dtype(device, options.precision), preset=options.preset,
            compile=options.compile,
        )

    settings = settings_for(options.epochs)
    choice = None
    stop_after = None
    if budget is not None and options.epochs is not None:
        choice = budgets.given(budget, "--epochs", budgets.epochs_text(options.epochs))
    elif budget is not None:
        with context.monitor.stage("choose epochs (budget probe)", device, role=TRAIN) as stage:
            context.progress("cnn-budget", f"cnn: timing a few steps for the {budget.seconds:,.0f} s budget", 0, None)
            epoch_seconds, predict_seconds = probe_cnn(context, cnn_config, settings,
                                                        BUDGET_PROBE_SHARE * budget.seconds)
        epochs, choice = budgets.epochs_within(budget, settings.epochs, epoch_seconds, context.spent_seconds(),
                                               predict_seconds)
        choice.probe_seconds = stage.seconds
        context.progress("cnn-budget", f"cnn: chose {choice.chosen} for the budget", 1, 1)
        settings = settings_for(epochs)

        def stop_after(epochs_done: int, train_seconds: float) -> bool:
            """Stop when one more epoch, at the pace measured so far, would run past the budget."""
            next_epoch = train_seconds / epochs_done
            return context.spent_seconds() + train_seconds + next_epoch + predict_seconds > budget.seconds

    trained, log = train_network(context, cnn_config, settings, epoch_accuracy=options.epoch_accuracy,
                                 stop_after=stop_after)
    if choice is not None and stop_after is not None:
        done = len(log.loss_per_epoch)
        measured = sum(log.seconds_per_epoch) / max(1, done)
        pace = (f"{budgets.seconds_text(measured)} s an epoch measured, "
                f"{budgets.seconds_text(epoch_seconds)} s estimated by the probe")
        if log.stopped_early:
            choice.chosen = budgets.epochs_text(done)
            choice.reason += (f"; it stopped after {budgets.epochs_text(done)} of {settings.epochs}, as one more "
                              f"would have run past the budget ({pace})")
        elif not 1 / BUDGET_PROBE_MISS < measured / max(epoch_seconds, 1e-9) < BUDGET_PROBE_MISS:
            choice.reason += f"; the probe missed the pace ({pace})"
    trained.details = {"preset": options.preset, **trained.details}
    if choice is not None:
        trained.details["budget"] = choice.as_dict()
    return trained


def predict_test_set(context: RunContext, trained: TrainedCNN) -> Any:
    """The trained network's predictions ``(N,)`` int64 on the test set, as a measured ``evaluate`` stage."""
    from featvslearn.learned import train

    test_set = context.split.test
    with context.monitor.stage("evaluate", context.device, role=PREDICT):
        test_images = context.on_device(test_set.images).permute(0, 3, 1, 2)  # (N, C, H, W) uint8
        return train.predict(
            trained.eval_model, test_images, trained.normaliser, trained.settings.autocast_dtype,
            tta=trained.settings.tta, hflip=context.split.train.hflip_ok,
        ).cpu().numpy()


def run(context: RunContext) -> PipelineOutput:
    """Train the CNN and evaluate it on the test set; leaves the network in ``context.products["cnn"]``."""
    trained = train_default_network(context)
    predictions = predict_test_set(context, trained)
    context.products["cnn"] = trained
    from featvslearn.classical.colour import input_words

    details = {"input": input_words(context.split.train.images),
               "features": "learned: convolutions over the raw pixels, every channel, trained end to end",
               **trained.details, "test_time_augmentation": trained.settings.tta}
    return PipelineOutput(predictions=predictions, details=details)


PIPELINE = Pipeline(
    name="cnn",
    summary="a small CNN (conv-BN-ReLU stages) trained end to end on the device",
    learned=True,
    run=run,
    options=("epochs", "preset", "precision", "compile", "epoch_accuracy", "seed"),
)
