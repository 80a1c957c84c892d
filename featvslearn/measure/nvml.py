"""NVML: GPU utilisation samples of one NVIDIA GPU, placed on the monitor's clock and attributed to time windows.

GPU utilisation is NVML's kernel-active % (:data:`GPU_UTIL_MEANING`).
"""

from __future__ import annotations

import itertools
from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from statistics import median
from typing import Any

import torch

# ============================================================================ constants

NVML_LOOKBACK_SECONDS = 1.0
"""The monitor asks NVML for samples from this long before it started, so that the first sample
inside the run has a predecessor and hence a known period."""

NVML_FALLBACK_PERIOD_SECONDS = 1 / 6
"""The period a lone NVML sample is taken to cover: NVML's shortest documented sampling period."""

NVML_SETTLE_MAX_SECONDS = 1.0
"""At exit the monitor waits at most this long (and at most two sampling periods) for NVML to
publish the sample that covers the end of the run."""

NVML_TIMESTAMP_SLACK_SECONDS = 2e-6
"""NVML stamps samples in whole microseconds, and epoch seconds as floats resolve about 0.24 µs:
a sample whose period overlaps a window by no more than this does not count in it."""

_NVML_VALUE_FIELDS = ("dVal", "uiVal", "ulVal", "ullVal", "sllVal", "siVal", "usVal")
"""``c_nvmlValue_t`` union members, indexed by NVML_VALUE_TYPE_* (0 = double … 6 = unsigned short)."""


# ============================================================================ records


@dataclass(frozen=True)
class GpuReading:
    """One NVML utilisation sample on the monitor's clock.

    ``percent`` describes the period ``(end_seconds - period_seconds, end_seconds]``, in seconds
    since the monitor started.
    """

    end_seconds: float
    period_seconds: float
    percent: float


# ============================================================================ NVML


class NvmlGpu:
    """Utilisation readings of one NVIDIA GPU through NVML (nvidia-ml-py).

    ``available`` is False, and readings are None or empty, when the NVML library or the GPU is
    missing; ``error`` says why. ``samples_error`` and ``process_error`` say why NVML's
    timestamped device samples or its per-process samples stopped or never came (not
    supported on this GPU or driver, …). The run goes on either way.
    """

    def __init__(self, device: torch.device) -> None:
        self._reset()
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

    @classmethod
    def from_nvml(cls, nvml: Any, handle: Any) -> NvmlGpu:
        """The GPU ``handle`` read through ``nvml``: an initialised pynvml module, or a stand-in for one."""
        gpu = cls.__new__(cls)
        gpu._reset()
        gpu._nvml, gpu._handle, gpu.available = nvml, handle, True
        return gpu

    def _reset(self) -> None:
        self.available = False
        self.error: str | None = None
        self.samples_error: str | None = None
        self.process_error: str | None = None
        self._handle: Any = None
        self._nvml: Any = None

    def utilisation_samples(self, since_us: int) -> list[tuple[int, float]]:
        """NVML's GPU utilisation samples newer than ``since_us``: (timestamp µs since the epoch, percent).

        Each percent is NVML's kernel-active % over the sampling period ending at its timestamp
        (:data:`GPU_UTIL_MEANING`). Empty when there is none yet, or when samples are unavailable
        (``samples_error`` says why; no further call is made then).
        """
        if not self.available or self.samples_error is not None:
            return []
        nvml = self._nvml
        try:
            value_type, samples = nvml.nvmlDeviceGetSamples(self._handle, nvml.NVML_GPU_UTILIZATION_SAMPLES,
                                                           since_us)
        except Exception as exc:
            if _nvml_error_code(exc) in (getattr(nvml, "NVML_ERROR_NOT_FOUND", 6), 0):
                return []  # no sample newer than since_us
            self.samples_error = f"NVML utilisation samples unavailable: {exc}"
            return []
        if not 0 <= int(value_type) < len(_NVML_VALUE_FIELDS):
            self.samples_error = f"NVML utilisation samples have an unknown value type {value_type}"
            return []
        member = _NVML_VALUE_FIELDS[int(value_type)]
        return [(int(s.timeStamp), float(getattr(s.sampleValue, member))) for s in samples]

    def process_samples(self, since_us: int) -> list[tuple[int, int, float]]:
        """NVML's per-process samples newer than ``since_us``: (pid, timestamp µs since the epoch, smUtil %).

        NVML lists only processes that ran kernels in the sampling period. Empty when there is
        none, or when per-process samples are unavailable (``process_error`` says why).
        """
        if not self.available or self.process_error is not None:
            return []
        nvml = self._nvml
        try:
            samples = nvml.nvmlDeviceGetProcessUtilization(self._handle, since_us)
        except Exception as exc:
            if _nvml_error_code(exc) in (getattr(nvml, "NVML_ERROR_NOT_FOUND", 6), 0):
                return []  # no process ran kernels since since_us
            self.process_error = f"NVML per-process utilisation unavailable: {exc}"
            return []
        return [(int(s.pid), int(s.timeStamp), float(s.smUtil)) for s in samples]

    def nvml_and_handle(self) -> tuple[Any, Any] | None:
        """The NVML module and this GPU's handle, for other readings (energy); None when unavailable."""
        return (self._nvml, self._handle) if self.available else None

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


def _nvml_error_code(exc: Exception) -> int | None:
    """The NVML return code an ``NVMLError`` carries, or None for any other exception."""
    value = getattr(exc, "value", None)
    return value if isinstance(value, int) else None


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


def typical_period_us(timestamps_us: Sequence[int]) -> float | None:
    """The median spacing of sorted NVML timestamps (µs), or None for fewer than two."""
    gaps = [b - a for a, b in itertools.pairwise(timestamps_us) if b > a]
    return float(median(gaps)) if gaps else None


def nvml_readings(samples: Iterable[tuple[int, float]], epoch_start_seconds: float,
                  period_us: float | None = None) -> list[GpuReading]:
    """NVML samples (timestamp µs since the epoch, percent) -> :class:`GpuReading` s in time order.

    Times become monitor seconds: timestamp / 1e6 - ``epoch_start_seconds`` (``time.time()`` when
    the monitor started). Each sample covers the time since the sample before it; the first
    one, and one after a gap longer than twice the usual spacing (``period_us``, else the median
    spacing, else :data:`NVML_FALLBACK_PERIOD_SECONDS`), covers one usual spacing.
    """
    ordered = sorted(dict(samples).items())
    typical = period_us or typical_period_us([t for t, _ in ordered]) or NVML_FALLBACK_PERIOD_SECONDS * 1e6
    readings = []
    previous: int | None = None
    for stamp, percent in ordered:
        gap = stamp - previous if previous is not None else None
        period = gap if gap is not None and 0 < gap <= 2 * typical else typical
        readings.append(GpuReading(stamp / 1e6 - epoch_start_seconds, period / 1e6, percent))
        previous = stamp
    return readings


def _overlap(reading: GpuReading, start_s: float, end_s: float) -> float:
    """Seconds of ``reading``'s period inside ``[start_s, end_s]``; 0 for a sliver within the timestamp slack."""
    overlap = min(end_s, reading.end_seconds) - max(start_s, reading.end_seconds - reading.period_seconds)
    return overlap if overlap > NVML_TIMESTAMP_SLACK_SECONDS else 0.0


def attribute(readings: Iterable[GpuReading], start_s: float, end_s: float) -> tuple[float | None, float | None, int]:
    """NVML readings over the window ``[start_s, end_s]``: (weighted mean %, max %, readings overlapping).

    Each reading counts by how many seconds of its period lie inside the window, so a stage
    gets what NVML saw during it and not the reading of a period that ended before it began.
    (None, None, 0) when no reading's period overlaps the window.
    """
    weighted = weight = 0.0
    peak: float | None = None
    count = 0
    for reading in readings:
        overlap = _overlap(reading, start_s, end_s)
        if overlap > 0:
            weighted += reading.percent * overlap
            weight += overlap
            peak = reading.percent if peak is None else max(peak, reading.percent)
            count += 1
    return (weighted / weight if weight > 0 else None), peak, count


def attribute_share(own: Iterable[GpuReading], device: Iterable[GpuReading], start_s: float,
                    end_s: float) -> float | None:
    """This process's part of the GPU's kernel activity over ``[start_s, end_s]``, in %.

    ``own`` holds the process's per-process readings, ``device`` the device-wide ones. NVML lists
    a process only in periods where it ran kernels, so time the device readings cover with no
    ``own`` reading counts as 0 %. None when no device reading overlaps the window.
    """
    covered = sum(_overlap(r, start_s, end_s) for r in device)
    if covered <= 0:
        return None
    used = sum(r.percent * _overlap(r, start_s, end_s) for r in own)
    return min(100.0, used / covered)
