"""Measurement: wall time (CUDA synchronised), GPU and CPU utilisation, memory, environment.

A :class:`Monitor` runs one background thread for a pipeline. It samples GPU utilisation
through NVML, system CPU utilisation and this process's resident memory at ``interval_s``
(20 Hz by default). Each :meth:`Monitor.stage` marks a time window; its statistics are read
from the samples inside that window, so stages and the whole pipeline share one sampler.
"""

from __future__ import annotations

import itertools
import os
import platform
import threading
import time
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from statistics import fmean
from typing import Any

import psutil
import torch

from featvslearn.device import synchronize


@dataclass(frozen=True)
class Sample:
    """One reading of the machine: seconds since the monitor started, and utilisations."""

    t_seconds: float
    gpu_util_percent: float | None
    cpu_util_percent: float
    rss_bytes: int


@dataclass(frozen=True)
class UtilisationStats:
    """Summary of the samples inside a time window; GPU figures are None without a GPU."""

    gpu_util_percent_mean: float | None
    gpu_util_percent_max: float | None
    gpu_util_samples: int
    cpu_util_percent_mean: float | None
    peak_rss_bytes: int | None


@dataclass
class StageMeasurement:
    """One measured stage of a pipeline: its name, where it ran and what it cost."""

    name: str
    device: str
    seconds: float = 0.0
    start_seconds: float = 0.0
    stats: UtilisationStats | None = None


class NvmlGpu:
    """Utilisation readings of one NVIDIA GPU through NVML (nvidia-ml-py).

    ``available`` is False, and readings are None, when the NVML library or the GPU is
    missing: utilisation is then reported as unavailable and the run goes on.
    """

    def __init__(self, device: torch.device) -> None:
        self.available = False
        self.error: str | None = None
        self._handle: Any = None
        self._nvml: Any = None
        if device.type != "cuda":
            self.error = "not a CUDA device"
            return
        try:
            import pynvml

            pynvml.nvmlInit()
            self._nvml = pynvml
            self._handle = _nvml_handle(pynvml, device)
            self.available = True
        except Exception as exc:  # NVML missing or broken: report as unavailable
            self.error = f"NVML unavailable: {exc}"

    def utilisation_percent(self) -> float | None:
        """The GPU's busy percentage over NVML's last sample period, or None."""
        if not self.available:
            return None
        try:
            return float(self._nvml.nvmlDeviceGetUtilizationRates(self._handle).gpu)
        except Exception:
            return None

    def info(self) -> dict[str, Any]:
        """Name, driver version and total memory of the GPU, as far as NVML tells."""
        if not self.available:
            return {"nvml": self.error}
        nvml = self._nvml
        driver = nvml.nvmlSystemGetDriverVersion()
        return {
            "nvml": "available",
            "driver": driver.decode() if isinstance(driver, bytes) else str(driver),
            "memory_total_bytes": int(nvml.nvmlDeviceGetMemoryInfo(self._handle).total),
        }


def _nvml_handle(pynvml: Any, device: torch.device) -> Any:
    """The NVML handle of a torch CUDA device, matched by PCI bus id when torch gives it."""
    index = device.index if device.index is not None else torch.cuda.current_device()
    props = torch.cuda.get_device_properties(index)
    bus = getattr(props, "pci_bus_id", None)
    if bus is not None:
        domain = getattr(props, "pci_domain_id", 0)
        device_id = getattr(props, "pci_device_id", 0)
        try:
            return pynvml.nvmlDeviceGetHandleByPciBusId(f"{domain:08X}:{bus:02X}:{device_id:02X}.0")
        except Exception:
            pass
    return pynvml.nvmlDeviceGetHandleByIndex(index)


class Monitor:
    """Samples the machine in a background thread while a pipeline runs.

    Use as a context manager; wrap each stage in ``with monitor.stage(name, device):``.
    """

    def __init__(self, device: torch.device, interval_s: float = 0.05) -> None:
        self.device = device
        self.interval_s = interval_s
        self.gpu = NvmlGpu(device)
        self.samples: list[Sample] = []
        self.stages: list[StageMeasurement] = []
        self._process = psutil.Process()
        self._stop = threading.Event()
        self._thread: threading.Thread | None = None
        self._t0 = 0.0
        self.seconds = 0.0

    def __enter__(self) -> Monitor:
        if self.device.type == "cuda":
            torch.cuda.reset_peak_memory_stats(self.device)
        self._t0 = time.perf_counter()
        psutil.cpu_percent(interval=None)  # prime: the next call measures since now
        self._thread = threading.Thread(target=self._run, name="featvslearn-monitor", daemon=True)
        self._thread.start()
        return self

    def __exit__(self, *exc: object) -> None:
        self.seconds = time.perf_counter() - self._t0
        self._stop.set()
        if self._thread is not None:
            self._thread.join()
        self._take_sample()  # always at least one sample

    def _run(self) -> None:
        while not self._stop.wait(self.interval_s):
            self._take_sample()

    def _take_sample(self) -> None:
        self.samples.append(
            Sample(
                t_seconds=time.perf_counter() - self._t0,
                gpu_util_percent=self.gpu.utilisation_percent(),
                cpu_util_percent=psutil.cpu_percent(interval=None),
                rss_bytes=self._process.memory_info().rss,
            )
        )

    @contextmanager
    def stage(self, name: str, device: torch.device | str) -> Iterator[StageMeasurement]:
        """Time a stage that runs on ``device``; CUDA work is synchronised at both ends."""
        device_name = str(torch.device(device))
        synchronize(device)
        record = StageMeasurement(name=name, device=device_name)
        start = time.perf_counter()
        record.start_seconds = start - self._t0
        try:
            yield record
        finally:
            synchronize(device)
            record.seconds = time.perf_counter() - start
            self._take_sample()  # every stage, however short, has a closing sample
            record.stats = self.window_stats(record.start_seconds, self.samples[-1].t_seconds)
            self.stages.append(record)

    def window_stats(self, start_s: float, end_s: float) -> UtilisationStats:
        """Statistics of the samples between ``start_s`` and ``end_s`` (monitor seconds)."""
        window = [s for s in self.samples if start_s <= s.t_seconds <= end_s + 1e-9]
        return summarise(window)

    def overall_stats(self) -> UtilisationStats:
        """Statistics over every sample the monitor took."""
        return summarise(self.samples)

    def peak_gpu_memory_bytes(self) -> int | None:
        """Peak memory torch allocated on the GPU since the monitor started, or None."""
        if self.device.type != "cuda":
            return None
        return int(torch.cuda.max_memory_allocated(self.device))


def summarise(samples: list[Sample]) -> UtilisationStats:
    """Mean and max GPU utilisation, mean CPU utilisation and peak RSS of ``samples``."""
    gpu = [s.gpu_util_percent for s in samples if s.gpu_util_percent is not None]
    return UtilisationStats(
        gpu_util_percent_mean=fmean(gpu) if gpu else None,
        gpu_util_percent_max=max(gpu) if gpu else None,
        gpu_util_samples=len(gpu),
        cpu_util_percent_mean=fmean(s.cpu_util_percent for s in samples) if samples else None,
        peak_rss_bytes=max(s.rss_bytes for s in samples) if samples else None,
    )


def downsample(samples: list[Sample], max_points: int) -> list[Sample]:
    """At most ``max_points`` samples in time order, each the mean of a run of consecutive ones.

    The samples are sorted by time, split into ``max_points`` runs of (nearly) equal length,
    and each run becomes one sample: mean time, mean GPU utilisation (over the readings that
    are not None; None if none is), mean CPU utilisation and peak RSS. Averaging, rather than
    keeping every k-th sample, keeps short bursts of work in the means. Fewer samples than
    ``max_points`` come back unchanged (sorted).
    """
    if max_points < 1:
        raise ValueError(f"max_points must be at least 1, got {max_points}")
    ordered = sorted(samples, key=lambda s: s.t_seconds)
    if len(ordered) <= max_points:
        return ordered
    edges = [i * len(ordered) // max_points for i in range(max_points + 1)]
    out = []
    for start, end in itertools.pairwise(edges):
        run = ordered[start:end]
        gpu = [s.gpu_util_percent for s in run if s.gpu_util_percent is not None]
        out.append(Sample(
            t_seconds=fmean(s.t_seconds for s in run),
            gpu_util_percent=fmean(gpu) if gpu else None,
            cpu_util_percent=fmean(s.cpu_util_percent for s in run),
            rss_bytes=max(s.rss_bytes for s in run),
        ))
    return out


@dataclass
class Stopwatch:
    """Wall-clock seconds of a block, synchronising ``device`` before reading the clock."""

    device: torch.device | str = "cpu"
    seconds: float = field(default=0.0, init=False)

    def __enter__(self) -> Stopwatch:
        synchronize(self.device)
        self._start = time.perf_counter()
        return self

    def __exit__(self, *exc: object) -> None:
        synchronize(self.device)
        self.seconds = time.perf_counter() - self._start


def cpu_model() -> str:
    """The CPU's model name, from /proc/cpuinfo where there is one."""
    try:
        with open("/proc/cpuinfo", encoding="utf-8") as f:
            for line in f:
                if line.startswith("model name"):
                    return line.split(":", 1)[1].strip()
    except OSError:
        pass
    return platform.processor() or platform.machine()


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
