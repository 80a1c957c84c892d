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
:mod:`~featvslearn.measure.envinfo` (versions and hardware), :mod:`~featvslearn.measure.contention` (the
warm-up and busy-machine rules) and :mod:`~featvslearn.measure.peak` (a device's measured matrix-product speed).
Names are imported on first use, so ``import featvslearn.measure`` loads no torch.
"""

from featvslearn.lazy import lazy_exports

EXPORTS: dict[str, str] = {
    "measure_slowdown": "calibration", "SLOW_FROM": "contention",
    "MIN_LOAD_WINDOW_SECONDS": "cpu", "CpuCounters": "cpu", "cpu_shares": "cpu", "logical_core_count": "cpu",
    "machine_busy_cpu_seconds": "cpu", "read_cpu_counters": "cpu", "cpu_model": "envinfo", "environment": "envinfo",
    "Monitor": "monitor", "Sample": "monitor", "StageMeasurement": "monitor", "Stopwatch": "monitor",
    "UtilisationStats": "monitor", "downsample": "monitor", "summarise": "monitor",
    "NVML_FALLBACK_PERIOD_SECONDS": "nvml", "NVML_LOOKBACK_SECONDS": "nvml", "NVML_SETTLE_MAX_SECONDS": "nvml",
    "NVML_TIMESTAMP_SLACK_SECONDS": "nvml", "GpuReading": "nvml", "NvmlGpu": "nvml", "attribute": "nvml",
    "attribute_share": "nvml", "nvml_readings": "nvml", "typical_period_us": "nvml",
}
"""Each public name and the submodule that defines it; reading one imports that submodule."""

__getattr__, __dir__ = lazy_exports(__name__, EXPORTS)
__all__ = sorted(EXPORTS)
