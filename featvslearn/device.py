"""The one place that chooses the torch device and the mixed-precision dtype, and the one reader of
/proc/cpuinfo (the CPU's model name and feature flags, which decide bf16 on a CPU)."""

from __future__ import annotations

import platform

import torch

from featvslearn.errors import UserError

DEVICE_CHOICES = "auto, cpu, cuda, cuda:N or mps"
CPUINFO_PATH = "/proc/cpuinfo"


def cpu_info(path: str = CPUINFO_PATH) -> dict[str, str]:
    """The fields of the first processor in ``path`` (``model name``, ``flags``, …) as text.

    Keys and values are stripped; an empty dict where the file is missing or unreadable
    (macOS, Windows, some sandboxes). Every processor of a machine is assumed alike.
    """
    fields: dict[str, str] = {}
    try:
        with open(path, encoding="utf-8") as f:
            for line in f:
                if not line.strip():
                    if fields:
                        break  # end of the first processor's block
                    continue
                key, sep, value = line.partition(":")
                if sep:
                    fields.setdefault(key.strip(), value.strip())
    except OSError:
        return {}
    return fields


def cpu_model_name(path: str = CPUINFO_PATH) -> str:
    """The CPU's model name from ``path``, else what the platform module says."""
    return cpu_info(path).get("model name") or platform.processor() or platform.machine()


def cpu_flags(path: str = CPUINFO_PATH) -> frozenset[str]:
    """The CPU's feature flags (``avx512_bf16``, ``amx_bf16``, …); empty where unknown."""
    return frozenset(cpu_info(path).get("flags", "").split())


def resolve_device(spec: str) -> torch.device:
    """Turn a user's device option into an available ``torch.device``.

    ``auto`` picks CUDA when it is available, else the CPU. An unavailable device is a
    ``UserError`` naming the devices this machine has.
    """
    spec = spec.strip().lower()
    if spec == "auto":
        return torch.device("cuda") if torch.cuda.is_available() else torch.device("cpu")
    if spec == "cpu":
        return torch.device("cpu")
    if spec == "mps":
        if not (hasattr(torch.backends, "mps") and torch.backends.mps.is_available()):
            raise UserError(f"--device mps is not available here; use {available_devices_text()}")
        return torch.device("mps")
    if spec == "cuda" or spec.startswith("cuda:"):
        if not torch.cuda.is_available():
            raise UserError(
                f"--device {spec!r}: CUDA is not available on this machine "
                f"(torch {torch.__version__}); use {available_devices_text()}"
            )
        if spec == "cuda":
            return torch.device("cuda", torch.cuda.current_device())
        index_text = spec.split(":", 1)[1]
        if not index_text.isdigit():
            raise UserError(f"--device {spec!r} is not a device; use {DEVICE_CHOICES}")
        index = int(index_text)
        if index >= torch.cuda.device_count():
            raise UserError(
                f"--device {spec!r}: this machine has {torch.cuda.device_count()} CUDA device(s); "
                f"use {available_devices_text()}"
            )
        return torch.device("cuda", index)
    raise UserError(f"--device {spec!r} is not a device; use {DEVICE_CHOICES}")


def resolve_devices(spec: str) -> list[torch.device]:
    """A comma list of device options (``cpu,cuda``) -> their torch devices, in order.

    Each item is resolved by :func:`resolve_device`, so an unavailable one is a ``UserError``;
    a device may be listed twice (``cpu,cpu`` measures the run-to-run spread).
    """
    parts = [part.strip() for part in spec.split(",")]
    if not any(parts):
        raise UserError(f"--device is empty; use {DEVICE_CHOICES}, or a comma list such as cpu,cuda")
    if not all(parts):
        raise UserError(f"--device {spec!r} has an empty item; write a comma list such as cpu,cuda")
    return [resolve_device(part) for part in parts]


def available_devices_text() -> str:
    """The devices this machine offers, as text for an error message."""
    names = ["cpu"]
    if torch.cuda.is_available():
        names += ["cuda"] + [f"cuda:{i}" for i in range(torch.cuda.device_count())]
    if hasattr(torch.backends, "mps") and torch.backends.mps.is_available():
        names.append("mps")
    return "--device " + " or ".join(names)


def cpu_has_fast_bf16() -> bool:
    """Whether this CPU has bf16 matrix units (AMX-BF16 or AVX512-BF16).

    On such CPUs, bf16 autocast trains a CNN about twice as fast as fp32.
    """
    return bool({"amx_bf16", "avx512_bf16"} & cpu_flags())


def autocast_dtype(device: torch.device, precision: str = "auto") -> torch.dtype | None:
    """The autocast dtype for training and inference on ``device``, or None for fp32.

    ``auto`` uses bf16 on CUDA cards that support it (fp16 otherwise), bf16 on CPUs with
    AMX-BF16 or AVX512-BF16, and fp32 everywhere else. ``fp32``, ``bf16`` and ``fp16`` force a choice.
    """
    if precision == "fp32":
        return None
    if precision == "bf16":
        return torch.bfloat16
    if precision == "fp16":
        return torch.float16
    if precision != "auto":
        raise UserError(f"--precision {precision!r} is not known; use auto, fp32, bf16 or fp16")
    if device.type == "cuda":
        return torch.bfloat16 if torch.cuda.is_bf16_supported() else torch.float16
    if device.type == "cpu" and cpu_has_fast_bf16():
        return torch.bfloat16
    return None


def svm_precision(device: torch.device, precision: str = "auto") -> str:
    """How the SVMs hold and multiply their feature matrices on ``device``: ``bf16`` or ``fp32``.

    bf16 wherever ``precision`` gives bf16 autocast (``auto`` on bf16-capable CPUs and GPUs,
    or ``bf16``); fp32 otherwise, fp16 included (kernel features can exceed its range).
    """
    return "bf16" if autocast_dtype(device, precision) == torch.bfloat16 else "fp32"


def dtype_name(dtype: torch.dtype | None) -> str:
    """A short name for a compute dtype: fp32, bf16 or fp16."""
    return {None: "fp32", torch.bfloat16: "bf16", torch.float16: "fp16"}.get(dtype, str(dtype))


def synchronize(device: torch.device | str) -> None:
    """Wait for queued work on ``device`` so a wall-clock reading is honest."""
    device = torch.device(device)
    if device.type == "cuda":
        torch.cuda.synchronize(device)
    elif device.type == "mps":
        torch.mps.synchronize()
