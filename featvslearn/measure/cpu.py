"""CPU counters: this process's and the machine's busy CPU seconds, and the shares between two readings.

CPU percentages are shares of the whole machine: 100 % = every logical core busy for the whole
window (:func:`cpu_shares`).
"""

from __future__ import annotations

import os
import time
from dataclasses import dataclass

import psutil

# ============================================================================ constants

MIN_LOAD_WINDOW_SECONDS = 0.1
"""The machine's CPU counters advance in 10 ms ticks per core; a stage shorter than this gets no
``other_load_percent`` (one tick would read as tens of percent)."""


# ============================================================================ records


@dataclass(frozen=True)
class CpuCounters:
    """Cumulative clocks read at one moment, in seconds.

    ``wall_seconds``: ``time.perf_counter()``; ``process_seconds``: this process's user + system
    CPU (all threads); ``machine_busy_seconds``: the machine's non-idle CPU summed over its cores.
    """

    wall_seconds: float
    process_seconds: float
    machine_busy_seconds: float


# ============================================================================ CPU counters


def machine_busy_cpu_seconds() -> float:
    """CPU seconds the machine's logical cores have spent busy since boot, summed over the cores.

    Busy is everything but idle and iowait, as ``psutil.cpu_percent`` counts it: guest time is
    already inside user and nice, so it is not added again; steal (time a hypervisor gave to
    other guests) counts as busy, since this process could not use it either.
    """
    times = psutil.cpu_times()
    total = sum(times) - getattr(times, "guest", 0.0) - getattr(times, "guest_nice", 0.0)
    return total - times.idle - getattr(times, "iowait", 0.0)


def read_cpu_counters(process: psutil.Process) -> CpuCounters:
    """The wall clock, ``process``'s CPU seconds (user + system) and the machine's busy CPU seconds, now."""
    times = process.cpu_times()
    return CpuCounters(time.perf_counter(), times.user + times.system, machine_busy_cpu_seconds())


def cpu_shares(start: CpuCounters, end: CpuCounters,
               logical_cores: int) -> tuple[float, float | None, float | None]:
    """CPU between two readings: (process CPU seconds, process %, other processes' %).

    Percentages are of the whole machine: CPU seconds / (wall seconds × ``logical_cores``) × 100.
    Other processes' CPU is the machine's busy CPU less this process's, kept between 0 and what
    the machine had left (the counters tick separately, in 10 ms steps). Both percentages are
    None when no wall time passed.
    """
    process_seconds = max(0.0, end.process_seconds - start.process_seconds)
    wall = end.wall_seconds - start.wall_seconds
    if wall <= 0:
        return process_seconds, None, None
    capacity = wall * max(1, logical_cores)
    others = end.machine_busy_seconds - start.machine_busy_seconds - process_seconds
    others = min(max(0.0, others), max(0.0, capacity - process_seconds))
    return process_seconds, 100.0 * process_seconds / capacity, 100.0 * others / capacity


def logical_core_count() -> int:
    """The machine's logical cores (what 100 % of the machine means), at least 1."""
    return psutil.cpu_count(logical=True) or os.cpu_count() or 1
