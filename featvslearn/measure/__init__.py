"""Measurement: wall time (CUDA synchronised), process and machine CPU, GPU kernel activity, memory, environment.

A :class:`Monitor` runs one background thread for a pipeline. Every ``interval_s`` (20 Hz by
default) it reads cumulative counters — this process's CPU seconds, the machine's busy CPU
seconds — and this process's resident memory, and turns the differences between consecutive
readings into a :class:`Sample`. It also collects NVML's own timestamped GPU utilisation samples.

Each :meth:`Monitor.stage` marks a time window. Its CPU figures come from the counters read at
its two ends, so they are exact however short the stage; its GPU figures come from the NVML
samples whose periods overlap it, placed by NVML's timestamps rather than by when they were
read. NVML publishes a sample up to one sampling period after the fact, so GPU figures are
final once the monitor has exited.

Units, everywhere in this package:

* Process CPU is ``psutil.Process().cpu_times()`` user + system: every thread of this process,
  child processes not included (psutil counts a child only once it has exited and been waited
  for, so its time would land in whichever stage reaped it).
* CPU percentages are shares of the whole machine: 100 % = every logical core busy for the
  whole window. "Other load" is the machine's busy CPU minus this process's.
* GPU utilisation is NVML's kernel-active % (:data:`GPU_UTIL_MEANING`).

Modules: :mod:`~featvslearn.measure.cpu` (CPU counters and shares), :mod:`~featvslearn.measure.nvml`
(NVML samples and their attribution to windows), :mod:`~featvslearn.measure.monitor` (the
:class:`Monitor`, its records and summaries, :class:`Stopwatch`) and
:mod:`~featvslearn.measure.envinfo` (versions and hardware).
"""

from featvslearn.measure.cpu import (
    MIN_LOAD_WINDOW_SECONDS,
    CpuCounters,
    cpu_shares,
    logical_core_count,
    machine_busy_cpu_seconds,
    read_cpu_counters,
)
from featvslearn.measure.envinfo import cpu_model, environment
from featvslearn.measure.monitor import (
    Monitor,
    Sample,
    StageMeasurement,
    Stopwatch,
    UtilisationStats,
    downsample,
    summarise,
)
from featvslearn.measure.nvml import (
    NVML_FALLBACK_PERIOD_SECONDS,
    NVML_LOOKBACK_SECONDS,
    NVML_SETTLE_MAX_SECONDS,
    NVML_TIMESTAMP_SLACK_SECONDS,
    GpuReading,
    NvmlGpu,
    attribute,
    attribute_share,
    nvml_readings,
    typical_period_us,
)

__all__ = [
    "MIN_LOAD_WINDOW_SECONDS",
    "NVML_FALLBACK_PERIOD_SECONDS",
    "NVML_LOOKBACK_SECONDS",
    "NVML_SETTLE_MAX_SECONDS",
    "NVML_TIMESTAMP_SLACK_SECONDS",
    "CpuCounters",
    "GpuReading",
    "Monitor",
    "NvmlGpu",
    "Sample",
    "StageMeasurement",
    "Stopwatch",
    "UtilisationStats",
    "attribute",
    "attribute_share",
    "cpu_model",
    "cpu_shares",
    "downsample",
    "environment",
    "logical_core_count",
    "machine_busy_cpu_seconds",
    "nvml_readings",
    "read_cpu_counters",
    "summarise",
    "typical_period_us",
]
