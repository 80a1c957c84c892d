"""The GPU check's steps by name, in the order :data:`gpucheck.plan.STEPS` runs them.

Each step is a function of the check and its record in the summary: it logs what it does, fills
the record's details, notes and files, and records its figures; an exception fails the step only.
"""

from __future__ import annotations

from collections.abc import Callable

from gpucheck.check import Check, Step
from gpucheck.steps.compares import (
    step_compare_cpu_cuda,
    step_compare_linear,
    step_compare_rbf,
    step_nvml,
    step_time_to_accuracy,
)
from gpucheck.steps.environment import step_cuda_tests, step_data, step_environment
from gpucheck.steps.hog import step_hog_speed
from gpucheck.steps.long import step_ablate, step_scaling
from gpucheck.steps.peer import step_airbench_peer

STEP_BODIES: dict[str, Callable[[Check, Step], None]] = {
    "environment": step_environment, "data": step_data, "cuda-tests": step_cuda_tests, "hog-speed": step_hog_speed,
    "compare-cuda-linear": step_compare_linear, "compare-cuda-rbf": step_compare_rbf,
    "compare-cpu-cuda": step_compare_cpu_cuda, "cnn-time-to-accuracy": step_time_to_accuracy, "nvml": step_nvml,
    "airbench-peer": step_airbench_peer, "scaling": step_scaling, "ablate": step_ablate,
}
"""Every step's function by its name in the summary."""
