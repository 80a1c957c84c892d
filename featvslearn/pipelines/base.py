"""The small interface every pipeline implements, and the settings it may read.

A pipeline is a plain function ``run(context) -> PipelineOutput`` plus a description: its name, whether its
features are learned, and which other pipelines it reuses. The function runs its stages inside
``context.monitor`` (one ``with monitor.stage(name, device, role=...)`` per stage, the role saying whether
it trains, predicts or is untimed) and returns its test-set predictions; :mod:`featvslearn.experiments.run`
turns those into a measured result. This module imports neither torch nor scikit-learn, so the CLI can list
the pipelines before any heavy import."""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import asdict, dataclass, field
from typing import TYPE_CHECKING, Any

from featvslearn.measure.contention import is_timed
from featvslearn.pipelines.budget import Budget
from featvslearn.progress import Progress, no_progress

if TYPE_CHECKING:
    import numpy as np
    import torch

    from featvslearn.datasets import Split
    from featvslearn.measure import Monitor


@dataclass(frozen=True)
class RunSettings:
    """The options a pipeline may read; each pipeline names the ones it uses in ``Pipeline.options``.

    ``epochs`` None lets the CNN choose from the dataset size and the device (and the budget);
    ``precision`` is ``auto``, ``fp32``, ``bf16`` or ``fp16``; ``svm`` is ``linear``, ``rbf`` or
    ``rbf-exact``, or None: the strongest SVM within the budget (the linear SVM without one).
    ``budget`` is each pipeline's budget for everything after its warm-up, and where it came from
    (None: no budget; see :mod:`featvslearn.pipelines.budget`).
    """

    seed: int = 0
    epochs: int | None = None
    precision: str = "auto"
    preset: str = "standard"
    compile: bool = False
    epoch_accuracy: bool = False
    svm: str | None = "linear"
    tune: bool = False
    budget: Budget | None = None

    def as_dict(self) -> dict[str, Any]:
        return asdict(self)


DEVICE_IMAGES = "images on the device"
"""The key of ``RunContext.products`` under which the split's images, once on the device, are kept."""


def upload(images: np.ndarray, device: torch.device) -> torch.Tensor:
    """The one place a run moves images to its device: uint8 ``(N, H, W, C)`` -> the same tensor on
    ``device`` (on the CPU it shares the array's memory: nothing is copied), by
    :func:`featvslearn.classical.images_on`."""
    from featvslearn.classical import images_on

    return images_on(images, device)


@dataclass
class RunContext:
    """What a pipeline's ``run`` receives: the data, the device, its settings and the monitor.

    ``products`` is shared by the pipelines run on the same split, device and seed, in run
    order: ``cnn`` leaves its trained network there under ``"cnn"`` for ``learned-svm``, and
    :meth:`on_device` the split's images, put on the device once for all of them.
    """

    split: Split
    device: torch.device
    settings: RunSettings
    monitor: Monitor
    progress: Progress = no_progress
    products: dict[str, Any] = field(default_factory=dict)

    def on_device(self, images: np.ndarray) -> torch.Tensor:
        """``images`` (N, H, W, C) uint8, an array of the split, as a tensor on the run's device: uploaded
        (:func:`upload`) by the first pipeline that asks, in its stage, and read from there by the others."""
        kept = self.products.setdefault(DEVICE_IMAGES, {})
        entry = kept.get(id(images))
        if entry is None or entry[0] is not images:  # the array itself is kept, so its id stays its own
            entry = kept[id(images)] = (images, upload(images, self.device))
        return entry[1]

    def spent_seconds(self) -> float:
        """The seconds this run's finished timed stages have taken so far (warm-up left out)."""
        return sum(stage.seconds for stage in self.monitor.stages if is_timed(stage))


@dataclass
class PipelineOutput:
    """A pipeline's test-set predictions ``(N,)`` int64 and its details for the report. Which of
    its seconds are training and which prediction, its stages say (each opened with its role)."""

    predictions: np.ndarray
    details: dict[str, Any]


@dataclass(frozen=True)
class Pipeline:
    """One pipeline: its name, a one-line summary, whether its features are learned, the
    pipelines whose products it reuses when they run on the same split (``needs``; it trains
    its own otherwise), the :class:`RunSettings` fields it reads, and its ``run`` function."""

    name: str
    summary: str
    learned: bool
    run: Callable[[RunContext], PipelineOutput]
    needs: tuple[str, ...] = ()
    options: tuple[str, ...] = ()
