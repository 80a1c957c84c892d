"""Energy: what each stage cost in joules, on the GPU (NVML) and on the CPU packages (RAPL).

The method is Zeus's: read a cumulative counter at the start and at the end of a stage (after the
device's queued work has finished) and take the difference. NVML's counter is the GPU's total
energy in millijoules since the driver was loaded (``nvmlDeviceGetTotalEnergyConsumption``, Volta
and newer); it is refreshed every 20-100 ms, so a stage shorter than
:data:`COUNTER_RESOLUTION_SECONDS` is flagged as below its resolution rather than trusted. RAPL's
counters are the CPU packages' energy in microjoules under ``/sys/class/powercap`` (``intel-rapl:N``
zones named ``package-N``, which AMD's processors expose too), each wrapping at its
``max_energy_range_uj``. Either is None, with a one-line reason, where it cannot be read: no
NVIDIA GPU, a GPU or driver without the counter, no powercap folder, or counters readable only by
root (the usual default since 2020).
"""

from __future__ import annotations

import time
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

POWERCAP = Path("/sys/class/powercap")
"""Where the kernel exposes RAPL's energy counters."""
COUNTER_RESOLUTION_SECONDS = 0.1
"""Stages shorter than this are flagged: NVML refreshes its energy counter only every 20-100 ms."""


@dataclass(frozen=True)
class EnergyReading:
    """The counters at one moment: the GPU's millijoules and each CPU package's microjoules (None: not read)."""

    seconds: float
    gpu_millijoules: int | None
    cpu_microjoules: tuple[int, ...] | None


@dataclass(frozen=True)
class StageEnergy:
    """Joules between two readings: ``gpu_joules`` and ``cpu_joules`` (None where not measured), and
    ``below_resolution``: the window was shorter than :data:`COUNTER_RESOLUTION_SECONDS`."""

    gpu_joules: float | None
    cpu_joules: float | None
    below_resolution: bool


class RaplPackages:
    """The CPU packages' RAPL energy counters under ``root`` (a simulated tree in tests).

    ``available`` is False and ``error`` says why when no package counter can be read.
    """

    def __init__(self, root: Path | None = None) -> None:
        root = root if root is not None else POWERCAP
        self.error: str | None = None
        self._zones: list[tuple[Path, int]] = []  # (energy_uj file, max_energy_range_uj)
        if not root.is_dir():
            self.error = f"CPU energy not measured: no RAPL counters here ({root} does not exist)"
            return
        zones = sorted(p for p in root.glob("*-rapl:*") if p.name.count(":") == 1)
        for zone in zones:
            try:
                if not (zone / "name").read_text().strip().startswith("package"):
                    continue
                limit = int((zone / "max_energy_range_uj").read_text())
                int((zone / "energy_uj").read_text())
            except PermissionError:
                self.error = (f"CPU energy not measured: {zone / 'energy_uj'} is readable by root only; "
                              "run as root or make it readable")
                self._zones = []
                return
            except (OSError, ValueError) as exc:
                self.error = f"CPU energy not measured: {zone} cannot be read ({exc})"
                self._zones = []
                return
            self._zones.append((zone / "energy_uj", limit))
        if not self._zones and self.error is None:
            self.error = f"CPU energy not measured: no RAPL package zone under {root}"

    @property
    def available(self) -> bool:
        return bool(self._zones)

    def read(self) -> tuple[int, ...] | None:
        """Each package's counter in microjoules, or None (``error`` then says why)."""
        if not self._zones:
            return None
        try:
            return tuple(int(path.read_text()) for path, _ in self._zones)
        except (OSError, ValueError) as exc:
            self.error = f"CPU energy not measured: a RAPL counter stopped being readable ({exc})"
            self._zones = []
            return None

    def joules(self, start: Sequence[int], end: Sequence[int]) -> float:
        """Joules between two readings, each package's counter unwrapped once at its range."""
        return sum((b - a) % limit for (a, b, (_, limit)) in zip(start, end, self._zones, strict=True)) / 1e6


class EnergyMeter:
    """Reads the GPU's and the CPU packages' energy counters; a stage's joules are the difference.

    ``gpu`` is an initialised NVML module and device handle (or stand-ins), None when there is no
    NVIDIA GPU; ``rapl`` the CPU packages' counters. ``notes`` says which figure is missing and why.
    """

    def __init__(self, gpu: tuple[Any, Any] | None, rapl: RaplPackages | None = None,
                 gpu_missing: str = "GPU energy not measured: not a CUDA device") -> None:
        self.rapl = rapl if rapl is not None else RaplPackages()
        self._nvml, self._handle = gpu if gpu is not None else (None, None)
        self.gpu_error: str | None = None if gpu is not None else gpu_missing
        if gpu is not None:
            self._read_gpu()  # a GPU or driver without the counter says so now

    def _read_gpu(self) -> int | None:
        if self._nvml is None or self.gpu_error is not None:
            return None
        try:
            return int(self._nvml.nvmlDeviceGetTotalEnergyConsumption(self._handle))
        except Exception as exc:  # not supported on this GPU or driver
            self.gpu_error = f"GPU energy not measured: NVML's energy counter is unavailable ({exc})"
            return None

    def read(self) -> EnergyReading:
        """The counters now (call after synchronising the device, so its queued work is counted)."""
        return EnergyReading(time.perf_counter(), self._read_gpu(), self.rapl.read())

    def between(self, start: EnergyReading, end: EnergyReading) -> StageEnergy:
        """The joules spent between two readings."""
        gpu = None
        if start.gpu_millijoules is not None and end.gpu_millijoules is not None:
            gpu = (end.gpu_millijoules - start.gpu_millijoules) / 1e3
        cpu = None
        if start.cpu_microjoules is not None and end.cpu_microjoules is not None:
            cpu = self.rapl.joules(start.cpu_microjoules, end.cpu_microjoules)
        return StageEnergy(gpu, cpu, end.seconds - start.seconds < COUNTER_RESOLUTION_SECONDS)

    @property
    def notes(self) -> list[str]:
        """Why a figure is missing, one line each."""
        return [e for e in (self.gpu_error, self.rapl.error) if e]
