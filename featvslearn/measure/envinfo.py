"""The environment: what the results were measured on (versions, CPU, GPU, driver and CUDA)."""

from __future__ import annotations

import os
import platform
from typing import Any

import psutil
import torch

from featvslearn.device import cpu_model_name
from featvslearn.measure.nvml import NvmlGpu


def cpu_model() -> str:
    """The CPU's model name, from /proc/cpuinfo where there is one (:mod:`featvslearn.device`)."""
    return cpu_model_name()


def environment(device: torch.device) -> dict[str, Any]:
    """What the results were measured on: versions, CPU, GPU, driver and CUDA."""
    import numpy
    import PIL
    import skimage
    import sklearn
    import torchvision

    from featvslearn import __version__

    env: dict[str, Any] = {
        "featvslearn": __version__,
        "python": platform.python_version(),
        "platform": platform.platform(),
        "numpy": numpy.__version__,
        "torch": torch.__version__,
        "torchvision": torchvision.__version__,
        "scikit-learn": sklearn.__version__,
        "scikit-image": skimage.__version__,
        "pillow": PIL.__version__,
        "cpu": cpu_model(),
        "cpu_cores_logical": os.cpu_count(),
        "cpu_cores_physical": psutil.cpu_count(logical=False),
        "torch_threads": torch.get_num_threads(),
        "memory_total_bytes": psutil.virtual_memory().total,
        "cuda_available": torch.cuda.is_available(),
        "cuda_version": torch.version.cuda,
        "gpu": None,
        "gpu_driver": None,
    }
    if device.type == "cuda":
        index = device.index if device.index is not None else torch.cuda.current_device()
        env["gpu"] = torch.cuda.get_device_name(index)
        env["cudnn_version"] = torch.backends.cudnn.version()
        gpu_info = NvmlGpu(device).info()
        env["gpu_driver"] = gpu_info.get("driver")
        env["gpu_memory_total_bytes"] = gpu_info.get("memory_total_bytes")
        env["nvml"] = gpu_info.get("nvml")
    return env
