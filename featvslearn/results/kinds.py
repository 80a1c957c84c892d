"""The three kinds of results file — compare, scaling, ablate — and the schema version they carry.

Each is a strict dataclass built from :mod:`featvslearn.results.records`; ``to_dict`` gives the
object written to JSON (non-finite numbers as null, with ``null_reasons``) and ``from_dict``
checks a parsed document with :func:`featvslearn.results.validation.results_from_dict`.
"""

from __future__ import annotations

import math
from dataclasses import asdict, dataclass, field
from typing import Any, Literal

from pydantic import with_config

from featvslearn.results.records import (
    STRICT,
    Crossover,
    DatasetInfo,
    PairedTest,
    PipelineResult,
    ScalingRun,
    SizeSummary,
    VariantResult,
)
from featvslearn.results.strict_json import finite

SCHEMA_VERSION = 2
"""The version :func:`write_json` writes."""


class _ResultsFile:
    """What every kind of results has in common: its JSON object, with schema and kind first."""

    def to_dict(self) -> dict[str, Any]:
        """A plain dict of the results, as written to JSON.

        Non-finite floats become None, and ``null_reasons`` gains the path of each with why.
        """
        data = asdict(self)  # type: ignore[call-overload]
        reasons = dict(data.pop("null_reasons"))
        header = {"schema_version": data.pop("schema_version"), "kind": data.pop("kind")}
        # schema and kind first, so a reader can tell what a file is at a glance
        return {**header, **finite(data, (), reasons), "null_reasons": reasons}


@with_config(STRICT)
@dataclass
class CompareResults(_ResultsFile):
    """Everything ``featvslearn compare`` measured, ready for the table, Markdown and JSON.

    ``machine_busy`` (v2): whether other processes loaded the machine enough to disturb the
    timings (None: not judged). ``tests`` (v2): paired significance tests between pipelines.
    ``null_reasons`` (v2): why each value written as null is missing, by its path.
    """

    dataset: DatasetInfo
    device: str
    seed: int
    environment: dict[str, Any]
    pipelines: list[PipelineResult]
    settings: dict[str, Any]
    created: str
    total_seconds: float
    kind: Literal["compare"] = "compare"
    schema_version: Literal[2] = SCHEMA_VERSION
    machine_busy: bool | None = None
    tests: list[PairedTest] = field(default_factory=list)
    null_reasons: dict[str, str] = field(default_factory=dict)

    @property
    def devices(self) -> list[str]:
        """The devices every pipeline ran on, in the order given (``device`` is their comma list).

        With more than one, ``pipelines`` holds one result per (pipeline, device), each
        pipeline's runs in this order, so its first run is on the first device.
        """
        return [part.strip() for part in self.device.split(",") if part.strip()]

    @classmethod
    def from_dict(cls, data: Any) -> CompareResults:
        """Results from :meth:`to_dict`'s output (or a version-1 file's object); anything else is a ``UserError``."""
        from featvslearn.results.validation import results_from_dict  # it builds on these classes

        return results_from_dict(data, kind="compare")  # type: ignore[return-value]


def _mean_std(values: list[float]) -> tuple[float, float]:
    mean = math.fsum(values) / len(values)
    if len(values) < 2:
        return mean, 0.0
    return mean, math.sqrt(math.fsum((v - mean) ** 2 for v in values) / (len(values) - 1))


@with_config(STRICT)
@dataclass
class ScalingResults(_ResultsFile):
    """Everything ``featvslearn scaling`` measured: each pipeline at each training-set size and seed.

    ``dataset.train_size`` is the whole training set the subsamples are drawn from; every run
    is tested on the same ``dataset.test_size`` test images. ``pipelines`` maps a pipeline
    name to its runs, one per (size, seed) pair; ``crossover`` maps each hand-engineered
    pipeline to where the CNN overtakes it (empty when the CNN was not run). ``machine_busy``
    and ``null_reasons`` (v2) are as in :class:`CompareResults`.
    """

    dataset: DatasetInfo
    device: str
    seed: int
    seeds: list[int]
    sizes: list[int]
    environment: dict[str, Any]
    settings: dict[str, Any]
    pipelines: dict[str, list[ScalingRun]]
    crossover: dict[str, Crossover]
    created: str
    total_seconds: float
    kind: Literal["scaling"] = "scaling"
    schema_version: Literal[2] = SCHEMA_VERSION
    machine_busy: bool | None = None
    null_reasons: dict[str, str] = field(default_factory=dict)

    def summary(self, name: str) -> list[SizeSummary]:
        """Pipeline ``name`` per training-set size (ascending): mean and std over the seeds."""
        summaries = []
        for size in self.sizes:
            runs = [r for r in self.pipelines[name] if r.train_size == size]
            accuracy_mean, accuracy_std = _mean_std([r.accuracy for r in runs])
            seconds_mean, seconds_std = _mean_std([r.train_seconds for r in runs])
            summaries.append(SizeSummary(size, len(runs), accuracy_mean, accuracy_std, seconds_mean, seconds_std))
        return summaries

    @classmethod
    def from_dict(cls, data: Any) -> ScalingResults:
        """Results from :meth:`to_dict`'s output (or a version-1 file's object); anything else is a ``UserError``."""
        from featvslearn.results.validation import results_from_dict  # it builds on these classes

        return results_from_dict(data, kind="scaling")  # type: ignore[return-value]


@with_config(STRICT)
@dataclass
class AblateResults(_ResultsFile):
    """Everything ``featvslearn ablate`` measured: one entry per CNN variant, same budget for each.

    ``machine_busy`` and ``null_reasons`` (v2) are as in :class:`CompareResults`.
    """

    dataset: DatasetInfo
    device: str
    seed: int
    environment: dict[str, Any]
    variants: list[VariantResult]
    settings: dict[str, Any]
    created: str
    total_seconds: float
    kind: Literal["ablate"] = "ablate"
    schema_version: Literal[2] = SCHEMA_VERSION
    machine_busy: bool | None = None
    null_reasons: dict[str, str] = field(default_factory=dict)

    @classmethod
    def from_dict(cls, data: Any) -> AblateResults:
        """Results from :meth:`to_dict`'s output (or a version-1 file's object); anything else is a ``UserError``."""
        from featvslearn.results.validation import results_from_dict  # it builds on these classes

        return results_from_dict(data, kind="ablate")  # type: ignore[return-value]


# Every kind of results file, by its "kind" field; each class has to_dict() and from_dict().
RESULT_KINDS: dict[str, Any] = {"compare": CompareResults, "scaling": ScalingResults, "ablate": AblateResults}

Results = CompareResults | ScalingResults | AblateResults

RERUN = {"compare": "featvslearn compare --json", "scaling": "featvslearn scaling --json",
         "ablate": "featvslearn ablate --json"}
"""The command that writes each kind of results again, for error messages."""

