"""Small results of every kind, made by hand, for the report tests: no training needed."""

from __future__ import annotations

import math

import numpy as np

from featvslearn.results import (
    AblateResults,
    CompareResults,
    Crossover,
    DatasetInfo,
    MergedCompareResults,
    MisclassifiedExample,
    PipelineResult,
    ScalingResults,
    ScalingRun,
    StageResult,
    Timeline,
    VariantResult,
    encode_image,
)

CLASSES = ["disc", "bars", "cross"]


def shapes_dataset(train_size: int = 90, test_size: int = 30) -> DatasetInfo:
    """A three-class dataset of 8×8 grey images."""
    return DatasetInfo(name="shapes", train_size=train_size, test_size=test_size, image_shape=[8, 8, 1],
                       num_classes=3, source="hand-made", class_names=list(CLASSES), load_seconds=0.1)


# --------------------------------------------------------------------------- compare
def _timeline(seconds: float, stages: list[tuple[str, float, float]], gpu: list[float] | None) -> Timeline:
    t = list(np.linspace(0.0, seconds, 20).round(3))
    return Timeline(
        t_seconds=t,
        gpu_util_percent=gpu,
        cpu_util_percent=[50.0 + (i % 3) * 10 for i in range(len(t))],
        rss_bytes=[1_000_000 + i for i in range(len(t))],
        stages=[{"name": n, "device": "x", "start_seconds": a, "end_seconds": b} for n, a, b in stages],
    )


def _pipeline(name: str, device: str, train_s: float, predict_s: float, accuracy: float,
              gpu: list[float] | None) -> PipelineResult:
    rng = np.random.default_rng(len(name) + len(device))
    image = rng.integers(0, 256, (8, 8, 1), dtype=np.uint8)
    stages = ([("features (train)", 0.0, 0.3 * train_s), ("svm fit", 0.3 * train_s, train_s),
               ("predict", train_s, train_s + predict_s)] if name == "hog-svm"
              else [("warm-up", 0.0, 0.1), ("train", 0.1, train_s), ("evaluate", train_s, train_s + predict_s)])
    return PipelineResult(
        name=name, accuracy=accuracy, train_seconds=train_s, predict_seconds=predict_s,
        images_per_second=30 / predict_s, device=device,
        gpu_util_percent_mean=None if gpu is None else float(np.mean(gpu)),
        gpu_util_percent_max=None if gpu is None else float(np.max(gpu)),
        gpu_util_samples=0 if gpu is None else len(gpu),
        peak_gpu_memory_bytes=None if gpu is None else 123_456_789,
        cpu_util_percent_mean=60.0, peak_rss_bytes=900_000_000,
        stages=[StageResult(n, device, b - a) for n, a, b in stages],
        per_class_accuracy=[accuracy, 1.0, accuracy - 0.1],
        confusion_matrix=[[9, 1, 0], [0, 10, 0], [1, 1, 8]],
        details={"note": "hand-made"},
        misclassified=[MisclassifiedExample(index=3, label=0, prediction=1, image=encode_image(image)),
                       MisclassifiedExample(index=7, label=2, prediction=0, image=encode_image(image[::-1]))],
        timeline=_timeline(train_s + predict_s, stages, gpu),
    )


def compare_results(devices: tuple[str, ...] = ("cpu", "cuda:0")) -> CompareResults:
    """hog-svm and cnn on each device; the cuda runs have GPU readings, the CNN's busier than the SVM's."""
    times = {"cpu": (123.0, 4.0), "cuda:0": (10.0, 0.1)}
    busy = {"hog-svm": 15.0, "cnn": 95.0}
    pipelines = [
        _pipeline(name, device, *times[device], 0.9 if name == "hog-svm" else 0.95,
                  [busy[name]] * 20 if device.startswith("cuda") else None)
        for name in ("hog-svm", "cnn") for device in devices
    ]
    return CompareResults(
        dataset=shapes_dataset(), device=",".join(devices), seed=0, environment={"featvslearn": "test"},
        pipelines=pipelines, settings={"skipped_files": []}, created="2026-01-01T00:00:00+00:00",
        total_seconds=140.0,
    )


LAPTOP = {"featvslearn": "test", "cpu": "Intel Core i5-8250U", "cpu_cores_logical": 8, "cpu_cores_physical": 4,
          "gpu": None}
SERVER = {"featvslearn": "test", "cpu": "AMD EPYC 9654", "cpu_cores_logical": 16, "cpu_cores_physical": 8,
          "gpu": "NVIDIA H100"}


def merged_compare_results() -> MergedCompareResults:
    """A laptop's compare results on the CPU (rows 1-2, the baseline row 1) merged with a server's on its CPU
    and its H100 (rows 3-6)."""
    laptop, server = compare_results(("cpu",)), compare_results(("cpu", "cuda:0"))
    laptop.environment, server.environment = dict(LAPTOP), dict(SERVER)
    return MergedCompareResults(sources=[laptop, server], files=["laptop.json", "server.json"], baseline=1,
                                created="2026-01-02T00:00:00+00:00")


# --------------------------------------------------------------------------- scaling
SCALING_SIZES = [30, 60, 90]
SCALING_ACCURACY = {"hog-svm": [0.80, 0.85, 0.87], "cnn": [0.70, 0.86, 0.95]}  # mean over the seeds, per size


def scaling_results(seeds: tuple[int, ...] = (0, 1)) -> ScalingResults:
    """hog-svm and cnn at 30, 60 and 90 training images (10, 20, 30 per class): hog-svm leads at the
    smallest size, the CNN from 60 on; each seed is 1 point above or below the mean."""
    offsets = [0.01 * (1 if i % 2 else -1) for i in range(len(seeds))] if len(seeds) > 1 else [0.0]
    pipelines = {
        name: [ScalingRun(train_size=size, seed=seed, accuracy=round(accuracy + offset, 4),
                          train_seconds=(0.5 if name == "hog-svm" else 4.0) * size / 30 + offset)
               for size, accuracy in zip(SCALING_SIZES, accuracies, strict=True)
               for seed, offset in zip(seeds, offsets, strict=True)]
        for name, accuracies in SCALING_ACCURACY.items()
    }
    estimate = math.exp(math.log(30) + (math.log(60) - math.log(30)) * 0.1 / 0.11)
    return ScalingResults(
        dataset=shapes_dataset(), device="cpu", seed=seeds[0], seeds=list(seeds), sizes=list(SCALING_SIZES),
        environment={"featvslearn": "test"},
        settings={"pipelines": ["hog-svm", "cnn"], "sizes_option": None, "test_size": None, "epochs": None,
                  "cnn_epochs_per_size": {"30": 40, "60": 40, "90": 20}, "precision": "auto",
                  "cnn_precision": "fp32", "preset": "standard", "svm": "linear", "device_option": "cpu",
                  "skipped_files": []},
        pipelines=pipelines,
        crossover={"hog-svm": Crossover(size=60, estimate=estimate, between=[30, 60],
                                        reason=f"the CNN is ahead from 60 training images on; the curves cross "
                                               f"near {estimate:,.0f} (between 30 and 60)")},
        created="2026-01-01T00:00:00+00:00", total_seconds=50.0,
    )


# --------------------------------------------------------------------------- ablate
ABLATE_SETTINGS = {
    "epochs": 2, "batch_size": 32, "steps": 6, "optimizer": "Nesterov SGD", "lr": 0.2,
    "lr_rule": "the trainer's rate for every variant but relu-plain", "weight_decay": 0.0005,
    "label_smoothing": 0.1, "translate_pixels": 2, "hflip": False, "precision": "fp32",
    "initialisation": "He (Kaiming) normal for ReLU, Glorot (Xavier) uniform for sigmoid", "skipped_files": [],
}


def _variant(name: str, accuracy: float, losses: list[float | None], diverged: bool = False) -> VariantResult:
    activation, _, rest = name.partition("-")
    return VariantResult(
        name=name, activation=activation, batch_norm="bn" in rest, dropout=0.0, depth=3, accuracy=accuracy,
        train_seconds=2.5, loss_curve={"epoch": [0.5 * (i + 1) for i in range(2 * len(losses))],
                                       "loss": [x for x in losses for _ in range(2)]},
        loss_per_epoch=losses, seconds_per_epoch=[1.25] * len(losses), predict_seconds=0.1, warmup_seconds=0.2,
        diverged=diverged, parameters=1_234, flops_per_image=56_789, lr=0.2 if name != "relu-plain" else 0.05,
        device="cpu", gpu_util_percent_mean=None, gpu_util_percent_max=None, gpu_util_samples=0,
        peak_gpu_memory_bytes=None, cpu_util_percent_mean=99.0, peak_rss_bytes=500_000_000,
        stages=[StageResult("train", "cpu", 2.5), StageResult("evaluate", "cpu", 0.1)],
    )


def ablate_results() -> AblateResults:
    """relu-bn (best), relu-plain, and sigmoid-plain, which stays at chance and diverges."""
    return AblateResults(
        dataset=shapes_dataset(), device="cpu", seed=0, environment={"featvslearn": "test"},
        variants=[_variant("relu-bn", 0.9, [0.9, 0.5]), _variant("relu-plain", 0.8, [1.0, 0.7]),
                  _variant("sigmoid-plain", 1 / 3, [1.1, None], diverged=True)],
        settings=dict(ABLATE_SETTINGS), created="2026-01-01T00:00:00+00:00", total_seconds=9.0,
    )


def without_pictures(report: str) -> str:
    """A report without its "What each side sees" section (up to the next section)."""
    start = report.index("## What each side sees")
    end = report.find("\n## ", start + 1)
    return report[:start] + (report[end + 1:] if end >= 0 else "")
