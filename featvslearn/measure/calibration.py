"""How much slower this machine runs now than when it was quiet: a fixed calibration kernel, timed.

Other processes' CPU share (:mod:`featvslearn.measure.cpu`) understates what they cost a
multi-threaded run: a torch operator split over every core waits for its slowest thread, so one
core taken by another process can make a run several times slower while the load figure says
half. Here the slow-down itself is measured: the same small CPU workload (matrix products and
element-wise work, on the run's torch thread count) is timed at the start of a command and after
every pipeline, and compared with the quickest time it has ever taken on this machine (CPU model,
thread count and torch version), kept in featvslearn's cache. A command's slow-down is its
quickest calibration's: a process that has just trained a network runs the kernel up to a third
slower even on a quiet machine, so only a slow-down that lasts the whole command is stated. The
first calibration on a machine has no reference, so no slow-down can be stated yet.
"""

from __future__ import annotations

import json
import time
from pathlib import Path

import torch

from featvslearn.device import cpu_model_name
from featvslearn.files import atomic_write_text, default_cache_dir

REPEATS = 5
"""Timed repeats of the kernel; the quickest counts (the one least disturbed)."""
MAX_SECONDS = 0.5
"""A calibration stops repeating once it has taken this long (at least two timed repeats): on a busy
machine one repeat can take a hundred times its quiet 2 ms."""
SIZE = 384
"""Side of the matrices the kernel multiplies: about 4 ms on a quiet 2-core CPU, long enough that timer
and scheduler noise stay a few per cent of it."""


def kernel_seconds(repeats: int = REPEATS) -> float:
    """The quickest of up to ``repeats`` timings of the fixed CPU workload (a few ms on a quiet machine),
    in seconds; fewer when they add up to :data:`MAX_SECONDS`, never fewer than two."""
    generator = torch.Generator().manual_seed(0)
    a = torch.rand(SIZE, SIZE, generator=generator)  # (S, S)
    b = torch.rand(SIZE, SIZE, generator=generator)  # (S, S)
    timings: list[float] = []
    began = time.perf_counter()
    for attempt in range(repeats + 1):  # the first call pays one-time costs and is not counted
        start = time.perf_counter()
        x = a
        for _ in range(8):
            x = torch.tanh(x @ b) * 0.5  # (S, S)
        float(x.sum())
        if attempt:
            timings.append(time.perf_counter() - start)
        if len(timings) >= 2 and time.perf_counter() - began > MAX_SECONDS:
            break
    return min(timings)


def machine_key() -> str:
    """What a calibration is valid for: the CPU, torch's thread count and version, and the kernel's size."""
    return f"{cpu_model_name()} | {torch.get_num_threads()} threads | torch {torch.__version__} | {SIZE}²"


def calibration_path() -> Path:
    """The file holding each machine's quickest calibration: ``calibration.json`` in featvslearn's cache."""
    return default_cache_dir() / "calibration.json"


def slowdown(seconds: float, path: Path | None = None) -> float | None:
    """``seconds`` (a :func:`kernel_seconds` timing) over the quickest calibration of this machine, or
    None when there is none yet. The quickest is updated when ``seconds`` beats it; a cache that
    cannot be read or written is treated as empty (the figure is then unknown, never wrong)."""
    path = path or calibration_path()
    key = machine_key()
    try:
        known = json.loads(path.read_text(encoding="utf-8"))
        known = known if isinstance(known, dict) else {}
    except (OSError, ValueError):
        known = {}
    reference = known.get(key)
    valid = isinstance(reference, float | int) and not isinstance(reference, bool) and reference > 0
    if not valid or seconds < reference:
        known[key] = seconds
        try:
            path.parent.mkdir(parents=True, exist_ok=True)
            atomic_write_text(path, json.dumps(known, indent=1, sort_keys=True) + "\n")
        except OSError:
            pass
    return seconds / reference if valid else None


def measure_slowdown(path: Path | None = None) -> float | None:
    """Time the kernel now and return how many times slower than this machine's quickest it ran (None: no
    reference yet). 1.0 means as quick as ever; 4.0, every timing about four times too long."""
    return slowdown(kernel_seconds(), path)
