"""run_comparison(config) -> CompareResults: every pipeline on the same split and devices, measured.

Progress flows back through a callback, so this module never prints and works in a notebook
as well as under the CLI.
"""

from __future__ import annotations

import dataclasses
import random
import time
import warnings
from collections.abc import Callable
from dataclasses import dataclass
from datetime import datetime, timezone
from typing import Any, Protocol

import numpy as np
import torch
from sklearn.metrics import confusion_matrix
from sklearn.preprocessing import StandardScaler

from featvslearn import classical, train
from featvslearn.config import CompareConfig
from featvslearn.data import Dataset, Split, load_split, subsample
from featvslearn.device import autocast_dtype, dtype_name, svm_precision
from featvslearn.errors import UserError
from featvslearn.features.sift import DenseSIFT, make_sift_features, sift_settings_for
from featvslearn.measure import Monitor, StageMeasurement, Stopwatch, downsample, environment
from featvslearn.models import CNN, CNNConfig, cnn_config_for, flops_per_image, parameter_count
from featvslearn.results import (
    CompareResults,
    DatasetInfo,
    MisclassifiedExample,
    PipelineResult,
    StageResult,
    Timeline,
    encode_image,
)

MISCLASSIFIED_EXAMPLES = 16
"""How many misclassified test images each pipeline's result keeps for the report."""
TIMELINE_POINTS = 600
"""At most this many utilisation samples per pipeline go into its result's timeline."""


class Progress(Protocol):
    """Receives progress: a task key, its description, work done and total (None: unknown)."""

    def __call__(self, key: str, description: str, completed: float, total: float | None) -> None: ...


def no_progress(key: str, description: str, completed: float, total: float | None) -> None:
    """A progress callback that ignores everything."""


def seed_everything(seed: int) -> None:
    """Seed Python, NumPy and torch (CPU and CUDA) so a run can be repeated exactly on a CPU."""
    random.seed(seed)
    np.random.seed(seed % 2**32)
    torch.manual_seed(seed)


def warm_up_torch_imports() -> None:
    """Pay a one-time import cost of torch before anything is timed.

    Building the process's first optimizer imports torch._dynamo and several hundred modules
    (about 2 s on a 2-core CPU). Untreated, that lands in the first pipeline's first timed
    stage (hog-svm's SVM fit), and with ``--device cpu,cuda`` in the speed-up baseline.
    """
    torch.optim.SGD([torch.zeros(1, requires_grad=True)], lr=0.0)


def load_data(config: CompareConfig, progress: Progress = no_progress) -> tuple[Split, float]:
    """Load the dataset and draw the seeded, stratified train and test subsets.

    Returns the split and the load seconds.
    """
    progress("load", f"loading {config.dataset}", 0, None)
    with Stopwatch() as watch:
        split = load_split(config.dataset, data_dir=config.data_dir, download=config.download, seed=config.seed)
        split = Split(
            train=_subsample(split.train, config.train_size, "--train-size", config.seed),
            test=_subsample(split.test, config.test_size, "--test-size", config.seed + 1),
        )
    progress("load", f"loaded {config.dataset}: {len(split.train)} train, {len(split.test)} test", 1, 1)
    return split, watch.seconds


def dataset_info(split: Split, load_seconds: float) -> DatasetInfo:
    """What a results file says of its images: the training set's name, sizes, shape and classes."""
    train_set = split.train
    return DatasetInfo(
        name=train_set.name,
        train_size=len(train_set),
        test_size=len(split.test),
        image_shape=list(train_set.image_shape),
        num_classes=train_set.num_classes,
        source=train_set.source,
        class_names=list(train_set.class_names),
        load_seconds=load_seconds,
    )


def skipped_files(split: Split) -> list[str]:
    """The unreadable image files that loading ``split`` passed over, training set first."""
    return list(split.train.skipped) + list(split.test.skipped)


def _subsample(ds: Dataset, size: int | None, option: str, seed: int) -> Dataset:
    if size is not None and size > len(ds):
        raise UserError(f"{option} {size} is larger than the {len(ds)} images available; use at most {len(ds)}")
    return subsample(ds, size, seed=seed)


def _stage_result(stage: StageMeasurement) -> StageResult:
    stats = stage.stats
    return StageResult(
        name=stage.name,
        device=stage.device,
        seconds=stage.seconds,
        gpu_util_percent_mean=stats.gpu_util_percent_mean if stats else None,
        gpu_util_percent_max=stats.gpu_util_percent_max if stats else None,
        cpu_util_percent_mean=stats.cpu_util_percent_mean if stats else None,
        peak_rss_bytes=stats.peak_rss_bytes if stats else None,
    )


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
    }


def _is_warm_up(stage_name: str) -> bool:
    """Warm-up stages (one untimed pass, compilation) count in neither train nor predict seconds."""
    return stage_name.startswith("warm-up")


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


def _pipeline_result(name: str, monitor: Monitor, predictions: np.ndarray, labels: np.ndarray, num_classes: int,
                     predict_stages: set[str], details: dict, *, images: np.ndarray | None = None,
                     seed: int = 0) -> PipelineResult:
    """Assemble a pipeline's figures from its monitor and its test-set predictions.

    ``images`` (the test images, N×H×W×C uint8) lets the result keep some misclassified
    examples for the report; ``seed`` chooses them.
    """
    stages = [_stage_result(s) for s in monitor.stages]
    predict_seconds = sum(s.seconds for s in stages if s.name in predict_stages)
    warmup_seconds = sum(s.seconds for s in stages if _is_warm_up(s.name))
    train_seconds = sum(s.seconds for s in stages if s.name not in predict_stages) - warmup_seconds
    matrix = confusion_matrix(labels, predictions, labels=list(range(num_classes)))
    per_class = matrix.diagonal() / np.maximum(matrix.sum(axis=1), 1)
    return PipelineResult(
        name=name,
        accuracy=float(np.mean(predictions == labels)),
        train_seconds=train_seconds,
        predict_seconds=predict_seconds,
        images_per_second=len(labels) / predict_seconds if predict_seconds > 0 else float("inf"),
        device=str(monitor.device),
        **usage_fields(monitor),
        stages=stages,
        warmup_seconds=warmup_seconds,
        per_class_accuracy=[float(v) for v in per_class],
        confusion_matrix=matrix.tolist(),
        details=details,
        misclassified=misclassified_examples(images, labels, predictions, seed=seed) if images is not None else [],
        timeline=monitor_timeline(monitor),
    )


def _bar(progress: Progress, key: str, description: str) -> Callable[[int, int], None]:
    """A (done, total) callback that forwards to ``progress`` under one key."""
    return lambda done, total: progress(key, description, done, total)


def _fit_svm_stages(monitor: Monitor, name: str, x_train: Any, labels: np.ndarray, n_train: int,
                    device: torch.device, config: CompareConfig,
                    progress: Progress) -> tuple[Any, dict[str, Any], str]:
    """Optional tuning, then the SVM fit, as measured stages; x_train is standardised (N, D).

    Returns the fitted classifier, its details for the report, and the device it runs on.
    """
    settings = classical.svm_settings_for(config.svm, n_train)
    svm_device = classical.classifier_device(settings, str(device))
    precision = svm_precision(torch.device(svm_device), config.precision)
    details: dict[str, Any] = {}
    if config.svm == "rbf-exact" and n_train > classical.EXACT_SVC_SLOW_ABOVE:
        warnings.warn(f"{name}: --svm rbf-exact on {n_train:,} training images takes many minutes and O(n²) memory; "
                      "--svm rbf approximates it in seconds", UserWarning, stacklevel=2)
    if config.tune:
        with monitor.stage("tune (validation split)", svm_device):
            settings, scores = classical.tune_svm(settings, x_train, labels, svm_device, config.seed,
                                                  _bar(progress, f"{name}-tune", f"{name}: tuning the SVM"), precision)
        details["svm_tuning"] = scores
    classifier = classical.make_classifier(settings, x_train.shape[1], svm_device, config.seed, precision)
    with monitor.stage("svm fit", svm_device):
        progress(f"{name}-fit", f"{name}: fitting the SVM", 0, None)
        classical.fit_classifier(classifier, x_train, labels, _bar(progress, f"{name}-fit", f"{name}: fitting the SVM"))
        progress(f"{name}-fit", f"{name}: fitting the SVM", 1, 1)
    details["svm"] = {
        "linear": "linear SVM, squared hinge, one-vs-rest (L-BFGS, torch)",
        "rbf": "Nystroem RBF kernel map + linear SVM, squared hinge, one-vs-rest (L-BFGS, torch)",
        "rbf-exact": "scikit-learn SVC, RBF kernel (one-vs-one)",
    }[settings.kind]
    details["svm_settings"] = settings.as_dict()
    details["svm_precision"] = "fp64" if settings.kind == "rbf-exact" else precision
    return classifier, details, svm_device


def _run_classical(name: str, split: Split, device: torch.device, config: CompareConfig, featuriser: Any,
                   fit_stage: str | None, fit_images: np.ndarray | None, what: str,
                   progress: Progress) -> tuple[PipelineResult, int]:
    """A hand-engineered pipeline as measured stages: featuriser -> standardisation -> SVM.

    ``fit_stage`` names the stage that fits the featuriser on ``fit_images`` (training images
    only: a codebook, say); without one, fitting only checks the image size and is part of the
    train-features stage. Returns the result (details to be filled in by the
    caller) and the feature dimension.
    """
    train_set, test_set = split.train, split.test
    scaler = StandardScaler()
    chunk = max(1000, len(train_set) // 20)
    with Monitor(device) as monitor:
        if fit_stage is not None:
            with monitor.stage(fit_stage, device):
                progress(f"{name}-fit-features", f"{name}: {fit_stage}", 0, 1)
                featuriser.fit(fit_images)
                progress(f"{name}-fit-features", f"{name}: {fit_stage}", 1, 1)
        with monitor.stage("features (train)", device):
            if fit_stage is None:
                featuriser.fit(train_set.images[:1])
            x_train = classical.transform_in_chunks(
                featuriser, train_set.images, chunk, _bar(progress, f"{name}-train", f"{name}: {what}, train set"))
        with monitor.stage("standardise", "cpu"):
            x_train = scaler.fit_transform(x_train)
        classifier, svm_details, svm_device = _fit_svm_stages(
            monitor, name, x_train, train_set.labels, len(train_set), device, config, progress)
        del x_train
        with monitor.stage("features (test)", device):
            x_test = classical.transform_in_chunks(
                featuriser, test_set.images, chunk, _bar(progress, f"{name}-test", f"{name}: {what}, test set"))
        with monitor.stage("predict", svm_device):
            predictions = classical.predict_classifier(classifier, scaler.transform(x_test))
    result = _pipeline_result(name, monitor, predictions, test_set.labels, train_set.num_classes,
                              {"features (test)", "predict"}, svm_details, images=test_set.images, seed=config.seed)
    return result, int(x_test.shape[1])


def run_hog_svm(split: Split, device: torch.device, config: CompareConfig,
                progress: Progress = no_progress) -> PipelineResult:
    """Batched HOG features on ``device``, then standardisation (CPU) and the SVM on ``device``."""
    settings = classical.hog_settings_for(split.train.image_shape)
    featuriser = classical.make_hog_features(settings, device=str(device))
    result, dimensions = _run_classical("hog-svm", split, device, config, featuriser, None, None, "HOG features",
                                        progress)
    result.details = {
        "features": "HOG at two cell sizes (batched in torch, equal to skimage) + intensity thumbnail, standardised",
        "hog": settings.as_dict(),
        "feature_dimensions": dimensions,
        **result.details,
    }
    return result


SIFT_CODEBOOK_IMAGES = 10_000
"""Training images whose descriptors the sift-svm codebook is learned from (a seeded sample of them)."""


def run_sift_svm(split: Split, device: torch.device, config: CompareConfig,
                 progress: Progress = no_progress) -> PipelineResult:
    """Dense SIFT and a spatial-pyramid codebook on ``device``, then standardisation and the SVM.

    The codebook is learned by k-means on descriptors of a seeded random sample of at most
    ``SIFT_CODEBOOK_IMAGES`` training images, never on test images.
    """
    settings = sift_settings_for(split.train.image_shape)
    codebook_images = min(len(split.train), SIFT_CODEBOOK_IMAGES)
    rows, cols = DenseSIFT(settings.spatial_bin_size, settings.stride).fit(split.train.images[:1]).grid_shape_
    # A codebook needs several descriptors per word: small sets of small images get fewer words.
    settings = dataclasses.replace(settings, n_words=min(settings.n_words, max(2, codebook_images * rows * cols // 4)))
    featuriser = make_sift_features(settings, device=str(device), seed=config.seed)
    chosen = np.sort(np.random.default_rng(config.seed).permutation(len(split.train))[:codebook_images])
    result, dimensions = _run_classical("sift-svm", split, device, config, featuriser, "codebook (k-means)",
                                        split.train.images[chosen], "dense SIFT words", progress)
    words = featuriser.named_steps["words"]
    result.details = {
        "features": "dense RootSIFT (kornia) -> visual words by k-means on training descriptors -> soft-assigned "
                    "histograms over a 1x1, 2x2, 4x4 spatial pyramid, square-rooted, standardised",
        "sift": settings.as_dict(),
        "codebook": {"training_images": codebook_images, "words": words.n_words,
                     "kmeans_iterations": int(words.n_iter_)},
        "feature_dimensions": dimensions,
        **result.details,
    }
    return result


@dataclass
class TrainedCNN:
    """A CNN trained in this run, kept so that learned-svm can reuse it."""

    eval_model: torch.nn.Module  # the EMA of the weights when the preset keeps one, else the trained model
    normaliser: train.Normaliser
    settings: train.TrainSettings
    train_seconds: float
    details: dict[str, Any]


def _train_cnn_stages(monitor: Monitor, split: Split, device: torch.device, config: CompareConfig,
                      progress: Progress) -> TrainedCNN:
    """The CNN's training stages (to device, warm-up, train) inside ``monitor``."""
    train_set = split.train
    preset = train.PRESETS[config.preset]
    cnn_config = cnn_config_for(train_set.image_shape, train_set.num_classes, device.type, preset.width_multiplier)
    settings = train.train_settings_for(
        len(train_set), min(train_set.image_shape[:2]), device.type, train_set.hflip_ok, config.seed,
        epochs=config.epochs, autocast_dtype=autocast_dtype(device, config.precision), preset=config.preset,
        compile=config.compile,
    )
    trained, _ = train_cnn_stages(monitor, split, device, cnn_config, settings, progress,
                                  epoch_accuracy=config.epoch_accuracy)
    trained.details = {"preset": config.preset, **trained.details}
    return trained


def train_cnn_stages(monitor: Monitor, split: Split, device: torch.device, cnn_config: CNNConfig,
                     settings: train.TrainSettings, progress: Progress = no_progress, name: str = "cnn",
                     epoch_accuracy: bool = False) -> tuple[TrainedCNN, train.TrainLog]:
    """Build ``cnn_config`` and train it with ``settings``: stages to device, warm-up and train in ``monitor``.

    The network is initialised from ``settings.seed``; progress goes to the ``<name>-train``
    task. With ``epoch_accuracy`` the test accuracy after each epoch is measured (and counted
    in training time). Returns the trained network with its details, and the training log.
    """
    train_set, test_set = split.train, split.test
    torch.manual_seed(settings.seed)
    first_stage = len(monitor.stages)
    with monitor.stage("to device", device):
        model = CNN(cnn_config).to(device=device, memory_format=torch.channels_last)
        images = train.images_to_device(train_set.images, device)  # (N, C, H, W) uint8
        labels = torch.as_tensor(train_set.labels, device=device)
        normaliser = train.Normaliser.fit(images)
        whitened = train.whiten_first_layer(model, images, normaliser) if settings.whiten else 0
    with monitor.stage("warm-up" + (" and compile" if settings.compile else ""), device):
        trainable = train.warm_up(model, images, labels, normaliser, settings)
    total = settings.epochs
    state: dict[str, Any] = {"loss": "", "steps": 1}

    def on_step(epoch: int, step: int, steps: int) -> None:
        state["steps"] = steps
        progress(f"{name}-train", f"{name}: training, epoch {epoch + 1}/{total}{state['loss']}",
                 epoch * steps + step, total * steps)

    def on_epoch(epoch: int, loss: float, accuracy: float | None) -> None:
        state["loss"] = f", loss {loss:.3f}" + (f", test accuracy {accuracy:.4f}" if accuracy is not None else "")
        steps = state["steps"]
        progress(f"{name}-train", f"{name}: training, epoch {epoch}/{total}{state['loss']}", epoch * steps,
                 total * steps)

    evaluate = None
    if epoch_accuracy:
        test_images = train.images_to_device(test_set.images, device)
        test_labels = torch.as_tensor(test_set.labels, device=device)

        def evaluate(net: torch.nn.Module) -> float:
            predictions = train.predict(net, test_images, normaliser, settings.autocast_dtype)
            return float((predictions == test_labels).float().mean())

    with monitor.stage("train", device):
        log = train.train_cnn(model, images, labels, normaliser, settings, on_step=on_step, on_epoch=on_epoch,
                              trainable=trainable, evaluate=evaluate)
    height, width = train_set.image_shape[:2]
    details: dict[str, Any] = {
        "architecture": cnn_config.as_dict(),
        "parameters": parameter_count(model),
        "flops_per_image": flops_per_image(cnn_config, height, width),
        "whitened_first_layer_filters": whitened,
        "training": settings.as_dict(),
        "precision": dtype_name(settings.autocast_dtype),
        "loss_per_epoch": log.loss_per_epoch,
        "seconds_per_epoch": log.seconds_per_epoch,
        "train_images_per_second": len(train_set) * settings.epochs / max(sum(log.seconds_per_epoch), 1e-9),
    }
    if log.test_accuracy_per_epoch:
        details["test_accuracy_per_epoch"] = log.test_accuracy_per_epoch
    train_seconds = sum(s.seconds for s in monitor.stages[first_stage:] if not _is_warm_up(s.name))
    return TrainedCNN(log.ema_model or model, normaliser, settings, train_seconds, details), log


def _out_of_gpu_memory(n_train: int) -> UserError:
    return UserError(
        f"the GPU ran out of memory training the CNN on {n_train} images; lower --train-size or use --device cpu"
    )


def run_cnn(split: Split, device: torch.device, config: CompareConfig,
            progress: Progress = no_progress) -> tuple[PipelineResult, TrainedCNN]:
    """Train the CNN on ``device`` with the whole training set held there; evaluate on the test set.

    Returns the result and the trained network, for learned-svm to reuse.
    """
    test_set = split.test
    try:
        with Monitor(device) as monitor:
            trained = _train_cnn_stages(monitor, split, device, config, progress)
            with monitor.stage("evaluate", device):
                test_images = train.images_to_device(test_set.images, device)
                predictions = train.predict(
                    trained.eval_model, test_images, trained.normaliser, trained.settings.autocast_dtype,
                    tta=trained.settings.tta, hflip=split.train.hflip_ok,
                ).cpu().numpy()
    except torch.cuda.OutOfMemoryError:
        raise _out_of_gpu_memory(len(split.train)) from None
    details = {**trained.details, "test_time_augmentation": trained.settings.tta}
    result = _pipeline_result("cnn", monitor, predictions, test_set.labels, split.train.num_classes,
                              {"evaluate"}, details, images=test_set.images, seed=config.seed)
    return result, trained


def run_learned_svm(split: Split, device: torch.device, config: CompareConfig, trained: TrainedCNN | None = None,
                    progress: Progress = no_progress) -> PipelineResult:
    """The CNN's penultimate features -> the same standardisation and linear SVM as hog-svm.

    Reuses ``trained`` (the CNN of this run) when given; otherwise trains one first, and
    those stages count as this pipeline's training.
    """
    train_set, test_set = split.train, split.test
    try:
        with Monitor(device) as monitor:
            reused = trained is not None
            if trained is None:
                trained = _train_cnn_stages(monitor, split, device, config, progress)
            net, normaliser, dtype = trained.eval_model, trained.normaliser, trained.settings.autocast_dtype
            with monitor.stage("features (train)", device):
                x_train = train.predict(net, train.images_to_device(train_set.images, device), normaliser, dtype,
                                        features=True)  # (N, D) on device
            with monitor.stage("standardise", device):
                mean, std = x_train.mean(0), x_train.std(0).clamp(min=1e-6)
                x_train = (x_train - mean) / std
            classifier, svm_details, svm_device = _fit_svm_stages(
                monitor, "learned-svm", x_train, train_set.labels, len(train_set), device, config, progress)
            with monitor.stage("features (test)", device):
                x_test = train.predict(net, train.images_to_device(test_set.images, device), normaliser, dtype,
                                       features=True)
            with monitor.stage("predict", svm_device):
                predictions = classical.predict_classifier(classifier, (x_test - mean) / std)
    except torch.cuda.OutOfMemoryError:
        raise _out_of_gpu_memory(len(train_set)) from None
    details = {
        "features": f"penultimate layer of the cnn ({x_test.shape[1]} values per image), standardised",
        "cnn": ("reuses the cnn trained in this run" + f" ({trained.train_seconds:.1f} s of training, not counted "
                "here)") if reused else "trains its own cnn (counted in train seconds)",
        **svm_details,
        "same_svm_as": "hog-svm (same --svm settings)",
    }
    return _pipeline_result("learned-svm", monitor, predictions, test_set.labels, train_set.num_classes,
                            {"features (test)", "predict"}, details, images=test_set.images, seed=config.seed)


def _training_order(pipelines: tuple[str, ...]) -> list[str]:
    """Run cnn before learned-svm, so the probe can reuse the network; results keep the user's order."""
    names = list(pipelines)
    if "cnn" in names and "learned-svm" in names and names.index("learned-svm") < names.index("cnn"):
        names.remove("cnn")
        names.insert(names.index("learned-svm"), "cnn")
    return names


def _on_device(progress: Progress, device: torch.device, index: int, several: bool) -> Progress:
    """``progress`` with the device named in each task, when the pipelines run on several devices."""
    if not several:
        return progress
    return lambda key, description, completed, total: progress(
        f"{key}@{index}", f"[{device}] {description}", completed, total)


def run_pipeline(name: str, split: Split, device: torch.device, config: CompareConfig, trained: TrainedCNN | None,
                 progress: Progress = no_progress) -> tuple[PipelineResult, TrainedCNN | None]:
    """Run pipeline ``name`` on ``split``; returns its result and the CNN trained so far.

    ``trained`` is the CNN of an earlier ``cnn`` run on the same split, which learned-svm
    reuses (it trains its own when there is none).
    """
    if name == "hog-svm":
        return run_hog_svm(split, device, config, progress), trained
    if name == "sift-svm":
        return run_sift_svm(split, device, config, progress), trained
    if name == "cnn":
        return run_cnn(split, device, config, progress)
    if name == "learned-svm":
        return run_learned_svm(split, device, config, trained, progress), trained
    raise UserError(f"unknown pipeline {name!r}")  # config validation makes this unreachable


def run_pipelines(split: Split, device: torch.device, config: CompareConfig,
                  progress: Progress = no_progress) -> list[PipelineResult]:
    """Every pipeline of ``config`` on ``device``, each seeded with ``config.seed``; in the user's order."""
    results: list[PipelineResult] = []
    trained: TrainedCNN | None = None
    for name in _training_order(config.pipelines):
        seed_everything(config.seed)
        try:
            result, trained = run_pipeline(name, split, device, config, trained, progress)
        except MemoryError:
            raise UserError(
                f"{name} ran out of memory on {len(split.train)} training images; lower --train-size"
            ) from None
        results.append(result)
    order = {name: i for i, name in enumerate(config.pipelines)}
    results.sort(key=lambda r: order[r.name])
    return results


def run_comparison(config: CompareConfig, progress: Progress = no_progress) -> CompareResults:
    """Run every pipeline of ``config`` on the same split, on each of its devices; return the results.

    The data is loaded once. With several devices (``--device cpu,cuda``) every pipeline runs
    on each, with the same seed; ``pipelines`` then holds one result per (pipeline, device),
    grouped by pipeline in the user's order and, within a pipeline, in device order.
    ``config`` should come from :meth:`CompareConfig.validated`.
    """
    start = time.perf_counter()
    devices = config.torch_devices()
    warm_up_torch_imports()
    seed_everything(config.seed)
    split, load_seconds = load_data(config, progress)
    runs: list[tuple[int, PipelineResult]] = []
    for index, device in enumerate(devices):
        on_device = _on_device(progress, device, index, len(devices) > 1)
        runs += [(index, result) for result in run_pipelines(split, device, config, on_device)]
    order = {name: i for i, name in enumerate(config.pipelines)}
    results = [result for _, result in sorted(runs, key=lambda run: (order[run[1].name], run[0]))]
    gpu_device = next((d for d in devices if d.type == "cuda"), devices[0])
    return CompareResults(
        dataset=dataset_info(split, load_seconds),
        device=",".join(str(d) for d in devices),
        seed=config.seed,
        environment=environment(gpu_device),
        pipelines=results,
        settings={
            "pipelines": list(config.pipelines),
            "train_size": config.train_size,
            "test_size": config.test_size,
            "epochs": config.epochs,
            "precision": config.precision,
            "preset": config.preset,
            "compile": config.compile,
            "svm": config.svm,
            "tune": config.tune,
            "device_option": config.device,
            "skipped_files": skipped_files(split),
        },
        created=datetime.now(timezone.utc).isoformat(timespec="seconds"),
        total_seconds=time.perf_counter() - start,
    )
