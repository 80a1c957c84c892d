"""Contention and warm-up rules shared by measurement and reports: plain Python, no torch.

A timed stage is any stage not named as a warm-up. Other processes using more than
:data:`BUSY_MACHINE_THRESHOLD_PERCENT` of the machine during a timed stage make the results'
timings suspect, and the results say so (``machine_busy``).
"""

from __future__ import annotations

from collections.abc import Iterable
from typing import Protocol

BUSY_MACHINE_THRESHOLD_PERCENT = 25.0
"""Other processes using more than this share of the machine (%) during a timed stage make its
timings suspect: :func:`machine_busy` is then true."""

WARM_UP_PREFIX = "warm-up"
"""Stages named with this prefix (one untimed pass, compilation) are not timed stages."""

GPU_UTIL_MEANING = (
    "kernel-active %: the share of time at least one kernel was running on the GPU (any process); "
    "not how much of the GPU's compute it used"
)
"""What ``gpu_util_percent`` means, in words for a report."""

GPU_PROCESS_UTIL_MEANING = (
    "this process's kernel-active %: the share of time a kernel of this process was running on the GPU, "
    "from NVML's per-process samples (smUtil); not how much of the GPU's compute it used"
)
"""What ``gpu_process_util_percent_mean`` means, in words for a report."""


class StageLoad(Protocol):
    """What :func:`machine_busy` reads of a stage: a :class:`StageMeasurement` or a stored result of one."""

    @property
    def name(self) -> str: ...

    @property
    def seconds(self) -> float: ...

    @property
    def other_load_percent(self) -> float | None: ...


def is_warm_up(stage_name: str) -> bool:
    """Whether a stage is a warm-up (one untimed pass, compilation), not a timed stage."""
    return stage_name.startswith(WARM_UP_PREFIX)


def other_load_percent_mean(stages: Iterable[StageLoad]) -> float | None:
    """The other processes' CPU over the timed stages, % of the machine, weighted by stage seconds.

    Warm-up stages and stages without a figure are left out; None when none is left.
    """
    timed = [s for s in stages if not is_warm_up(s.name) and s.other_load_percent is not None]
    seconds = sum(s.seconds for s in timed)
    if not timed or seconds <= 0:
        return None
    return sum(s.other_load_percent * s.seconds for s in timed) / seconds  # type: ignore[operator]


def machine_busy(stages: Iterable[StageLoad],
                 threshold_percent: float = BUSY_MACHINE_THRESHOLD_PERCENT) -> bool:
    """True when other processes used more than ``threshold_percent`` of the machine in any timed stage.

    Warm-up stages (names starting with :data:`WARM_UP_PREFIX`) and stages without an
    ``other_load_percent`` do not count.
    """
    return any(
        not is_warm_up(s.name) and s.other_load_percent is not None and s.other_load_percent > threshold_percent
        for s in stages
    )
