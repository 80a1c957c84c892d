"""Contention and warm-up rules shared by measurement and reports: plain Python, no torch.

Every stage is opened with its role: training, prediction, or untimed (a warm-up pass,
compilation); the sums, the budget and the reports read the role, never the stage's name. A timed
stage is one whose role is not untimed. Other processes using more than
:data:`BUSY_MACHINE_THRESHOLD_PERCENT` of the machine during a timed stage make the results'
timings suspect, and the results say so (``machine_busy``).
"""

from __future__ import annotations

from collections.abc import Iterable
from typing import Protocol

BUSY_MACHINE_THRESHOLD_PERCENT = 25.0
"""Other processes using more than this share of the machine (%) during a timed stage make its
timings suspect: :func:`machine_busy` is then true."""

TRAIN = "train"
"""The role of a stage fitted on the training set: its seconds are training time."""
PREDICT = "predict"
"""The role of a stage that handles the test set: its seconds are prediction time."""
UNTIMED = "untimed"
"""The role of a warm-up pass or a compilation: reported on its own, in neither training nor prediction."""
STAGE_ROLES = (TRAIN, PREDICT, UNTIMED)

SLOW_FROM = 1.5
"""A calibration kernel this many times slower than its quickest on this machine makes the machine busy
for a reading (see :mod:`featvslearn.measure.calibration`): time ratios are then not findings."""

LEGACY_PREDICT_STAGES = frozenset({"features (test)", "predict", "evaluate"})
"""Results files written before stages carried their role: the names of their prediction stages
(and a name starting ``warm-up`` was untimed)."""

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


def role_of(stage: StageLoad) -> str:
    """A stage's role (:data:`TRAIN`, :data:`PREDICT` or :data:`UNTIMED`): the one it was opened with,
    or, for a stage read from a results file older than roles, the one its name implied then."""
    role = getattr(stage, "role", None)
    if role:
        return role
    if stage.name.startswith("warm-up"):
        return UNTIMED
    return PREDICT if stage.name in LEGACY_PREDICT_STAGES else TRAIN


def is_timed(stage: StageLoad) -> bool:
    """Whether a stage's seconds count (training or prediction), rather than an untimed warm-up or compile."""
    return role_of(stage) != UNTIMED


def seconds_in(stages: Iterable[StageLoad], role: str) -> float:
    """The seconds of the stages of ``role``."""
    return sum(stage.seconds for stage in stages if role_of(stage) == role)


def other_load_percent_mean(stages: Iterable[StageLoad]) -> float | None:
    """The other processes' CPU over the timed stages, % of the machine, weighted by stage seconds.

    Warm-up stages and stages without a figure are left out; None when none is left.
    """
    timed = [s for s in stages if is_timed(s) and s.other_load_percent is not None]
    seconds = sum(s.seconds for s in timed)
    if not timed or seconds <= 0:
        return None
    return sum(s.other_load_percent * s.seconds for s in timed) / seconds  # type: ignore[operator]


def machine_busy(stages: Iterable[StageLoad],
                 threshold_percent: float = BUSY_MACHINE_THRESHOLD_PERCENT) -> bool:
    """True when other processes used more than ``threshold_percent`` of the machine in any timed stage.

    Untimed stages and stages without an ``other_load_percent`` do not count.
    """
    return any(
        is_timed(s) and s.other_load_percent is not None and s.other_load_percent > threshold_percent
        for s in stages
    )
