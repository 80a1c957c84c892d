"""The GPU check's steps, in order, and how large each is on the GPU and in a dry run on the CPU."""

from __future__ import annotations

from dataclasses import dataclass

STEPS = ("environment", "data", "cuda-tests", "hog-speed", "compare-cuda-linear", "compare-cuda-rbf",
         "compare-cpu-cuda", "cnn-time-to-accuracy", "nvml", "airbench-peer", "scaling", "ablate")
"""Every step, in the order the check runs them."""

ALL_PIPELINES = ("hog-svm", "sift-svm", "sift-fv", "cnn", "learned-svm")

HOG_PARAMS = {"orientations": 9, "pixels_per_cell": (4, 4), "cells_per_block": (2, 2), "block_norm": "L2-Hys"}
"""The HOG setting of benchmarks/hog_speed.py (hog-svm's fine scale at 28x28)."""

MODULES = ("torch", "torchvision", "numpy", "sklearn", "skimage", "PIL", "joblib", "pydantic", "typer", "rich",
           "psutil", "pynvml", "matplotlib", "kornia", "pytest", "hypothesis")
"""Modules whose versions go into the summary (kornia: sift-svm; hypothesis: the CPU test suite only)."""

NEEDED = ("torch", "torchvision", "numpy", "sklearn", "skimage", "PIL", "joblib", "pydantic", "psutil", "pynvml",
          "matplotlib", "pytest")
"""Modules the check's steps cannot do without (pydantic: every results file; pynvml: the GPU readings)."""


@dataclass(frozen=True)
class Plan:
    """The sizes of every step: the check on the GPU, or its dry run on the CPU.

    ``None`` sizes mean the whole split and epochs ``None`` the defaults, as on the command line.
    ``fallback_minutes`` is the time scaling and ablate are expected to take when it cannot be
    worked out from an earlier compare.
    """

    device: str
    speedup_devices: str
    compare_train: int | None
    compare_test: int | None
    compare_epochs: int | None
    speedup_train: int
    speedup_test: int
    speedup_epochs: int
    accuracy_epochs: int | None
    scaling_sizes: tuple[int, ...] | None
    scaling_test: int | None
    scaling_epochs: int | None
    ablate_variants: tuple[str, ...] | None
    ablate_train: int | None
    ablate_test: int | None
    ablate_epochs: int | None
    hog_images: int | None
    hog_loop_images: int
    tests_timeout_s: float
    fallback_minutes: dict[str, float]


GPU_PLAN = Plan(device="cuda", speedup_devices="cpu,cuda", compare_train=None, compare_test=None, compare_epochs=None,
                speedup_train=5000, speedup_test=2000, speedup_epochs=3, accuracy_epochs=None, scaling_sizes=None,
                scaling_test=None, scaling_epochs=None, ablate_variants=None, ablate_train=None, ablate_test=None,
                ablate_epochs=None, hog_images=None, hog_loop_images=1000, tests_timeout_s=300.0,
                fallback_minutes={"scaling": 3.0, "ablate": 2.0})
"""The check itself: the whole Fashion-MNIST split on one GPU, default epochs."""

DRY_PLAN = Plan(device="cpu", speedup_devices="cpu,cpu", compare_train=300, compare_test=200, compare_epochs=1,
                speedup_train=200, speedup_test=100, speedup_epochs=1, accuracy_epochs=2, scaling_sizes=(50, 100),
                scaling_test=100, scaling_epochs=1, ablate_variants=("relu-bn", "sigmoid-plain"), ablate_train=200,
                ablate_test=100, ablate_epochs=1, hog_images=2000, hog_loop_images=200, tests_timeout_s=120.0,
                fallback_minutes={"scaling": 0.5, "ablate": 0.3})
"""The dry run: the same steps on the CPU with a few hundred images and 1-2 epochs."""
