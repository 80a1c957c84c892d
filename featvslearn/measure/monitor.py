"""The monitor: a background sampler, stage timing, and the summaries of its samples.

A :class:`Monitor` reads the CPU counters (:mod:`featvslearn.measure.cpu`) and NVML's samples
(:mod:`featvslearn.measure.nvml`) while a pipeline runs; :func:`summarise` and :func:`downsample`
turn its :class:`Sample` s into figures and plots; :class:`Stopwatch` times a plain block.
"""

from __future__ import annotations

import itertools
import os
import threading
import time
from collections.abc import Iterable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field, replace
from statistics import fmean
from typing import Any

import psutil
import torch

from featvslearn.device import synchronize
from featvslearn.measure.contention import STAGE_ROLES, other_load_percent_mean
from featvslearn.measure.cpu import (
    MIN_LOAD_WINDOW_SECONDS,
    CpuCounters,
    cpu_shares,
    logical_core_count,
    read_cpu_counters,
)
from featvslearn.measure.energy import EnergyMeter
from featvslearn.measure.nvml import (
    NVML_FALLBACK_PERIOD_SECONDS,
    NVML_LOOKBACK_SECONDS,
    NVML_SETTLE_MAX_SECONDS,
    GpuReading,
    NvmlGpu,
    attribute,
    attribute_share,
    nvml_readings,
    typical_period_us,
)

# ============================================================================ records


@dataclass(frozen=True)
class Sample:
    """One reading of the machine at ``t_seconds`` (seconds since the monitor started).

    The percentages describe the interval since the previous sample, ``interval_seconds`` long.
    ``cpu_util_percent``: this process's CPU (all threads); ``other_load_percent``: the rest of
    the machine's busy CPU; both as shares of the whole machine (100 % = every logical core
    busy). Over a 50 ms interval they are coarse (the machine counters tick every 10 ms).
    ``gpu_util_percent``: NVML's kernel-active % over the interval (:data:`GPU_UTIL_MEANING`),
    filled in when the monitor exits; None without NVML samples. ``rss_bytes``: this process's
    resident memory at ``t_seconds``.
    """

    t_seconds: float
    gpu_util_percent: float | None
    cpu_util_percent: float
    rss_bytes: int
    other_load_percent: float | None = None
    interval_seconds: float | None = None


@dataclass(frozen=True)
class UtilisationStats:
    """Summary of a time window; GPU figures are None without NVML samples.

    ``gpu_util_percent_mean``/``_max``: NVML's kernel-active % (:data:`GPU_UTIL_MEANING`), the
    mean weighted by how much of each sample's period lies in the window; ``gpu_util_samples``:
    how many NVML samples overlap it. ``gpu_process_util_percent_mean``: this process's part of
    it (:data:`GPU_PROCESS_UTIL_MEANING`), None where NVML gives no per-process figures.
    ``cpu_util_percent_mean``: this process's CPU and ``other_load_percent_mean`` the rest of the
    machine's, as shares of the whole machine. ``peak_rss_bytes``: this process's peak resident memory.
    """

    gpu_util_percent_mean: float | None
    gpu_util_percent_max: float | None
    gpu_util_samples: int
    cpu_util_percent_mean: float | None
    peak_rss_bytes: int | None
    other_load_percent_mean: float | None = None
    gpu_process_util_percent_mean: float | None = None


@dataclass
class StageMeasurement:
    """One measured stage of a pipeline: its name, its role, where it ran and what it cost.

    ``role``: what its seconds count as, declared when the stage is opened: ``train``, ``predict`` or
    ``untimed`` (see :mod:`featvslearn.measure.contention`). ``seconds``: wall time; ``start_seconds``: its
    start in monitor seconds. ``cpu_seconds``: this process's CPU seconds in the stage (user + system, all
    threads, children excluded) — equal to ``seconds`` for one busy thread, near 0 for a stage that waits.
    ``other_load_percent``: the CPU the rest of the machine used during the stage, % of the whole machine;
    None for a stage shorter than :data:`MIN_LOAD_WINDOW_SECONDS`. ``gpu_joules`` and ``cpu_joules``: the
    energy the GPU and the CPU packages used during the stage (None where not measured, see
    :mod:`featvslearn.measure.energy`); ``energy_below_resolution``: the stage was too short for the counters."""

    name: str
    device: str
    role: str
    seconds: float = 0.0
    start_seconds: float = 0.0
    stats: UtilisationStats | None = None
    cpu_seconds: float = 0.0
    other_load_percent: float | None = None
    gpu_joules: float | None = None
    cpu_joules: float | None = None
    energy_below_resolution: bool = False


# ============================================================================ the monitor


class Monitor:
    """Samples the machine in a background thread while a pipeline runs.

    Use as a context manager; wrap each stage in ``with monitor.stage(name, device, role=...):``. ``gpu``
    replaces the :class:`NvmlGpu` read for ``device`` (a simulated NVML in tests), and ``energy`` the
    :class:`EnergyMeter` of the GPU's and the CPU packages' energy counters. After exit:
    ``seconds`` and ``cpu_seconds`` are the whole run's wall and process CPU seconds;
    ``gpu_readings`` and ``gpu_process_readings`` hold NVML's device-wide and this process's
    samples; ``notes`` says which GPU figures are missing and why.
    """

    def __init__(self, device: torch.device, interval_s: float = 0.05, gpu: NvmlGpu | None = None,
                 energy: EnergyMeter | None = None) -> None:
        self.device = device
        self.interval_s = interval_s
        self.gpu = gpu if gpu is not None else NvmlGpu(device)
        self.energy = energy if energy is not None else EnergyMeter(
            self.gpu.nvml_and_handle(), gpu_missing=f"GPU energy not measured: {self.gpu.error or 'no NVML'}")
        self.samples: list[Sample] = []
        self.stages: list[StageMeasurement] = []
        self.gpu_readings: list[GpuReading] = []
        self.gpu_process_readings: list[GpuReading] = []
        self.logical_cores = logical_core_count()
        self.seconds = 0.0
        self.cpu_seconds = 0.0
        self.epoch_start_seconds = 0.0
        self._process = psutil.Process()
        self._pid = os.getpid()
        self._lock = threading.Lock()
        self._stop = threading.Event()
        self._thread: threading.Thread | None = None
        self._t0 = 0.0
        self._start: CpuCounters | None = None
        self._end: CpuCounters | None = None
        self._last: CpuCounters | None = None
        self._gpu_raw: dict[int, float] = {}
        self._own_raw: dict[int, float] = {}
        self._pids_seen: set[int] = set()
        self._gpu_since_us = 0
        self._process_since_us = 0

    def __enter__(self) -> Monitor:
        if self.device.type == "cuda":
            torch.cuda.reset_peak_memory_stats(self.device)
        self._start = self._last = read_cpu_counters(self._process)
        self._t0 = self._start.wall_seconds
        self.epoch_start_seconds = time.time()  # NVML stamps samples in µs since the epoch
        self._gpu_since_us = self._process_since_us = int((self.epoch_start_seconds - NVML_LOOKBACK_SECONDS) * 1e6)
        self._thread = threading.Thread(target=self._run, name="featvslearn-monitor", daemon=True)
        self._thread.start()
        return self

    def __exit__(self, exc_type: object, *exc: object) -> None:
        self._end = read_cpu_counters(self._process)
        self.seconds = self._end.wall_seconds - self._t0
        self.cpu_seconds = self._end.process_seconds - self._start.process_seconds if self._start else 0.0
        self._stop.set()
        if self._thread is not None:
            self._thread.join()
        last_t = self.samples[-1].t_seconds if self.samples else None
        if last_t is None or time.perf_counter() - self._t0 - last_t >= self.interval_s / 2:
            self._take_sample()  # at least one sample, and none over a sliver of an interval
        if exc_type is None:
            self._await_last_gpu_sample()
        self._finish_gpu()

    def _run(self) -> None:
        while not self._stop.wait(self.interval_s):
            self._take_sample()

    def _take_sample(self) -> None:
        with self._lock:
            now = read_cpu_counters(self._process)
            previous = self._last or now
            _, process_percent, other_percent = cpu_shares(previous, now, self.logical_cores)
            self._last = now
            self.samples.append(Sample(
                t_seconds=now.wall_seconds - self._t0,
                gpu_util_percent=None,  # filled from NVML's own samples at exit
                cpu_util_percent=process_percent or 0.0,
                rss_bytes=self._process.memory_info().rss,
                other_load_percent=other_percent,
                interval_seconds=now.wall_seconds - previous.wall_seconds,
            ))
            self._collect_gpu()

    def _collect_gpu(self) -> None:
        """Fetch NVML's samples published since the last fetch (call with the lock held)."""
        if not self.gpu.available:
            return
        for stamp, percent in self.gpu.utilisation_samples(self._gpu_since_us):
            self._gpu_raw[stamp] = percent
            self._gpu_since_us = max(self._gpu_since_us, stamp)
        for pid, stamp, percent in self.gpu.process_samples(self._process_since_us):
            self._pids_seen.add(pid)
            if pid == self._pid:
                self._own_raw[stamp] = max(percent, self._own_raw.get(stamp, 0.0))
            self._process_since_us = max(self._process_since_us, stamp)

    def _await_last_gpu_sample(self) -> None:
        """Wait, briefly, until NVML has published a sample stamped at or after the end of the run."""
        if not self._gpu_raw:
            return
        period_us = typical_period_us(sorted(self._gpu_raw)) or NVML_FALLBACK_PERIOD_SECONDS * 1e6
        deadline = time.perf_counter() + min(NVML_SETTLE_MAX_SECONDS, 2 * period_us / 1e6)
        end_us = (self.epoch_start_seconds + self.seconds) * 1e6
        while max(self._gpu_raw) < end_us and self.gpu.samples_error is None and time.perf_counter() < deadline:
            time.sleep(min(self.interval_s, period_us / 2e6))
            with self._lock:
                self._collect_gpu()

    def _build_gpu_readings(self) -> None:
        """Turn the NVML samples fetched so far into readings on the monitor clock (lock held)."""
        period_us = typical_period_us(sorted(self._gpu_raw))
        self.gpu_readings = nvml_readings(self._gpu_raw.items(), self.epoch_start_seconds, period_us)
        own = self._own_raw.items() if self._pid in self._pids_seen else ()
        self.gpu_process_readings = nvml_readings(own, self.epoch_start_seconds,
                                                  period_us or typical_period_us(sorted(self._own_raw)))

    def _gpu_process_share(self, start_s: float, end_s: float) -> float | None:
        """This process's GPU share over a window, or None where NVML named no sample after this process."""
        if self._pid not in self._pids_seen:
            return None
        return attribute_share(self.gpu_process_readings, self.gpu_readings, start_s, end_s)

    def _finish_gpu(self) -> None:
        """Place every NVML sample, now all fetched, into the samples' intervals and the stages."""
        with self._lock:
            self._collect_gpu()
            self._build_gpu_readings()
        if not self.gpu_readings:
            return
        self.samples = [
            replace(s, gpu_util_percent=attribute(self.gpu_readings, s.t_seconds - (s.interval_seconds or 0.0),
                                                  s.t_seconds)[0])
            for s in self.samples
        ]
        for record in self.stages:
            if record.stats is not None:
                record.stats = replace(record.stats, **self._gpu_fields(record.start_seconds,
                                                                        record.start_seconds + record.seconds))

    def _gpu_fields(self, start_s: float, end_s: float) -> dict[str, Any]:
        mean, peak, count = attribute(self.gpu_readings, start_s, end_s)
        return {"gpu_util_percent_mean": mean, "gpu_util_percent_max": peak, "gpu_util_samples": count,
                "gpu_process_util_percent_mean": self._gpu_process_share(start_s, end_s)}

    @property
    def notes(self) -> list[str]:
        """Why GPU figures are missing, one line per reason; empty when nothing is missing."""
        notes = []
        if not self.gpu.available and self.device.type == "cuda" and self.gpu.error:
            notes.append(self.gpu.error)
        notes += [e for e in (self.gpu.samples_error, self.gpu.process_error) if e]
        if self.gpu.available and self.gpu.process_error is None and self._pid not in self._pids_seen:
            notes.append(
                f"NVML's per-process samples never named this process (pid {self._pid}): it ran no kernels, "
                "or it runs in a PID namespace (a container) whose ids NVML does not see; "
                "its own GPU share is unknown"
            )
        return notes

    @property
    def energy_notes(self) -> list[str]:
        """Why an energy figure is missing: the CPU packages' anywhere, the GPU's on a CUDA device only."""
        notes = [self.energy.rapl.error] if self.energy.rapl.error else []
        return ([self.energy.gpu_error] if self.device.type == "cuda" and self.energy.gpu_error else []) + notes

    @contextmanager
    def stage(self, name: str, device: torch.device | str, *, role: str) -> Iterator[StageMeasurement]:
        """Time a stage that runs on ``device``; CUDA work is synchronised at both ends.

        ``role`` says what its seconds count as: ``train``, ``predict`` or ``untimed`` (a warm-up
        pass, compilation), as :mod:`featvslearn.measure.contention` names them.

        The record's CPU figures are set when the stage ends; its GPU figures then are
        provisional and final once the monitor has exited.
        """
        if role not in STAGE_ROLES:
            raise ValueError(f"a stage's role is one of {', '.join(STAGE_ROLES)}, not {role!r}")
        device_name = str(torch.device(device))
        synchronize(device)
        record = StageMeasurement(name=name, device=device_name, role=role)
        energy_start = self.energy.read()
        start = read_cpu_counters(self._process)
        rss_start = self._process.memory_info().rss
        record.start_seconds = start.wall_seconds - self._t0
        try:
            yield record
        finally:
            synchronize(device)
            end = read_cpu_counters(self._process)
            energy = self.energy.between(energy_start, self.energy.read())
            record.gpu_joules, record.cpu_joules = energy.gpu_joules, energy.cpu_joules
            record.energy_below_resolution = energy.below_resolution
            rss_end = self._process.memory_info().rss
            record.seconds = end.wall_seconds - start.wall_seconds
            record.cpu_seconds, cpu_percent, other_percent = cpu_shares(start, end, self.logical_cores)
            record.other_load_percent = other_percent if record.seconds >= MIN_LOAD_WINDOW_SECONDS else None
            with self._lock:
                self._collect_gpu()
                self._build_gpu_readings()
            end_s = record.start_seconds + record.seconds
            window = self.window_stats(record.start_seconds, end_s)
            record.stats = replace(
                window,
                cpu_util_percent_mean=cpu_percent,
                other_load_percent_mean=record.other_load_percent,
                peak_rss_bytes=max(rss_start, rss_end, window.peak_rss_bytes or 0),
            )
            self.stages.append(record)

    def window_stats(self, start_s: float, end_s: float) -> UtilisationStats:
        """Statistics of ``[start_s, end_s]`` (monitor seconds): NVML readings overlapping it, samples inside it."""
        window = [s for s in self.samples if start_s <= s.t_seconds <= end_s + 1e-9]
        return replace(summarise(window), **self._gpu_fields(start_s, end_s))

    def overall_stats(self) -> UtilisationStats:
        """Statistics over the whole run; CPU figures from the counters at its two ends once it has exited."""
        stats = replace(summarise(self.samples), **self._gpu_fields(0.0, self.seconds))
        if self._start is None or self._end is None:
            return stats
        _, cpu_percent, other_percent = cpu_shares(self._start, self._end, self.logical_cores)
        return replace(stats, cpu_util_percent_mean=cpu_percent, other_load_percent_mean=other_percent)

    @property
    def other_load_percent_mean(self) -> float | None:
        """Other processes' CPU over the timed (non-warm-up) stages, % of the machine, weighted by time."""
        return other_load_percent_mean(self.stages)

    def peak_gpu_memory_bytes(self) -> int | None:
        """Peak memory torch allocated on the GPU since the monitor started, or None."""
        if self.device.type != "cuda":
            return None
        return int(torch.cuda.max_memory_allocated(self.device))


# ============================================================================ summaries


def _mean(values: Iterable[float | None]) -> float | None:
    present = [v for v in values if v is not None]
    return fmean(present) if present else None


def summarise(samples: list[Sample]) -> UtilisationStats:
    """Mean and max GPU utilisation, mean process and other CPU, and peak RSS of ``samples``.

    Plain means over the samples (the sampler's intervals are near equal); GPU and other-load
    means skip the samples without a reading.
    """
    gpu = [s.gpu_util_percent for s in samples if s.gpu_util_percent is not None]
    return UtilisationStats(
        gpu_util_percent_mean=fmean(gpu) if gpu else None,
        gpu_util_percent_max=max(gpu) if gpu else None,
        gpu_util_samples=len(gpu),
        cpu_util_percent_mean=fmean(s.cpu_util_percent for s in samples) if samples else None,
        peak_rss_bytes=max(s.rss_bytes for s in samples) if samples else None,
        other_load_percent_mean=_mean(s.other_load_percent for s in samples),
    )


def downsample(samples: list[Sample], max_points: int) -> list[Sample]:
    """At most ``max_points`` samples in time order, each the mean of a run of consecutive ones.

    The samples are sorted by time, split into ``max_points`` runs of (nearly) equal length,
    and each run becomes one sample: mean time, mean GPU utilisation and other load (over the
    readings that are not None; None if none is), mean CPU utilisation, peak RSS and the summed
    interval. Averaging, rather than keeping every k-th sample, keeps short bursts of work in
    the means. Fewer samples than ``max_points`` come back unchanged (sorted).
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
        intervals = [s.interval_seconds for s in run if s.interval_seconds is not None]
        out.append(Sample(
            t_seconds=fmean(s.t_seconds for s in run),
            gpu_util_percent=_mean(s.gpu_util_percent for s in run),
            cpu_util_percent=fmean(s.cpu_util_percent for s in run),
            rss_bytes=max(s.rss_bytes for s in run),
            other_load_percent=_mean(s.other_load_percent for s in run),
            interval_seconds=sum(intervals) if intervals else None,
        ))
    return out


# ============================================================================ clocks


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
