"""The kinds of results file — compare, scaling, ablate, and merged-compare (several compare results
side by side, from ``featvslearn report A.json B.json --json``) — and the schema version they carry.

Each is a strict dataclass built from :mod:`featvslearn.results.records`; ``to_dict`` gives the
object written to JSON (non-finite numbers as null, with ``null_reasons``) and ``from_dict``
checks a parsed document with :func:`featvslearn.results.validation.results_from_dict`.
"""

from __future__ import annotations

import math
from dataclasses import asdict, dataclass, field
from typing import Annotated, Any, Literal

from pydantic import Field, with_config

from featvslearn.results.pictures import SidePictures
from featvslearn.results.records import (
    STRICT,
    Crossover,
    DatasetInfo,
    PairedTest,
    PipelineResult,
    PositiveInt,
    ScalingRun,
    SeedRun,
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
    timings (None: not judged). ``slowdown``: how many times slower than its quickest a fixed
    calibration kernel ran during the command, the least of its timings (None: not measured, or no
    quiet reference on this machine yet; see :mod:`featvslearn.measure.calibration`). ``tests``
    (v2): paired significance tests between pipelines, each with its Holm-adjusted p-value.
    ``null_reasons`` (v2): why each value written as null is missing, by its path. ``seed_runs``
    (``compare --seeds N``, N > 1): every pipeline's run with each seed ``seed``, ``seed + 1``, …, on
    each device, the first seed's also in full in ``pipelines``; empty with one seed.
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
    slowdown: Annotated[float, Field(gt=0)] | None = None
    seed_runs: list[SeedRun] = field(default_factory=list)

    @property
    def seeds(self) -> list[int]:
        """The training seeds of the runs, in order: ``[seed]`` unless ``compare --seeds N`` ran more."""
        found = sorted({run.seed for run in self.seed_runs})
        return found or [self.seed]

    @property
    def devices(self) -> list[str]:
        """The devices every pipeline ran on, in the order given (``device`` is their comma list).

        With more than one, ``pipelines`` holds one result per (pipeline, device), each
        pipeline's runs in this order, so its first run is on the first device.
        """
        return [part.strip() for part in self.device.split(",") if part.strip()]

    @property
    def pictures(self) -> SidePictures | None:
        """What each side sees (:mod:`featvslearn.results.pictures`), kept in memory by the run that
        computed them and never written to JSON: None for results read from a file or merged."""
        return self.__dict__.get("_pictures")

    def with_pictures(self, pictures: SidePictures | None) -> CompareResults:
        """These results, holding ``pictures`` in memory (not a field: no file or schema carries them)."""
        self.__dict__["_pictures"] = pictures
        return self

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


def dataset_key(d: DatasetInfo) -> tuple[str, int, int, tuple[int, ...], int]:
    """What makes two results' images the same: dataset name, training and test set sizes, image shape
    and number of classes (the source may be another folder on another machine)."""
    return d.name, d.train_size, d.test_size, tuple(d.image_shape), d.num_classes


@with_config(STRICT)
@dataclass
class MergedCompareResults(_ResultsFile):
    """Several ``compare`` results side by side — from several machines, say — as merged by
    ``featvslearn report A.json B.json --json``.

    ``sources``: each file's results, whole, in the order given; ``files``: the file each came from,
    as it was named when merging. The merged table has one row per pipeline result, grouped by
    dataset (:meth:`rows` gives their order); ``baseline`` is the number (from 1, in that order) of
    the row whose train and predict seconds the speed-ups divide. ``created``: when they were merged.
    """

    sources: list[CompareResults]
    files: list[str]
    baseline: PositiveInt
    created: str
    kind: Literal["merged-compare"] = "merged-compare"
    schema_version: Literal[2] = SCHEMA_VERSION
    null_reasons: dict[str, str] = field(default_factory=dict)

    def rows(self) -> list[tuple[int, int]]:
        """(source index, pipeline index) of each row of the merged table, in the order printed.

        Rows are grouped by dataset (:func:`dataset_key`), the groups in the order their first file
        was given; within a group, files in the order given, each file's pipelines in its order.
        """
        groups: dict[tuple[str, int, int, tuple[int, ...], int], list[tuple[int, int]]] = {}
        for s, source in enumerate(self.sources):
            groups.setdefault(dataset_key(source.dataset), []).extend((s, p) for p in range(len(source.pipelines)))
        return [row for group in groups.values() for row in group]

    def to_dict(self) -> dict[str, Any]:
        """A plain dict of the merged results, as written to JSON: each source as its own file has it."""
        header = {"schema_version": self.schema_version, "kind": self.kind}
        body = {"sources": [source.to_dict() for source in self.sources], "files": list(self.files),
                "baseline": self.baseline, "created": self.created}
        return {**header, **body, "null_reasons": dict(self.null_reasons)}

    @classmethod
    def from_dict(cls, data: Any) -> MergedCompareResults:
        """Merged results from :meth:`to_dict`'s output; anything else is a ``UserError``."""
        from featvslearn.results.validation import results_from_dict  # it builds on these classes

        return results_from_dict(data, kind="merged-compare")  # type: ignore[return-value]


# Every kind of results file, by its "kind" field; each class has to_dict() and from_dict().
RESULT_KINDS: dict[str, Any] = {"compare": CompareResults, "scaling": ScalingResults, "ablate": AblateResults,
                                "merged-compare": MergedCompareResults}

Results = CompareResults | ScalingResults | AblateResults | MergedCompareResults

RERUN = {"compare": "featvslearn compare --json", "scaling": "featvslearn scaling --json",
         "ablate": "featvslearn ablate --json", "merged-compare": "featvslearn report (the compare files) --json"}
"""The command that writes each kind of results again, for error messages."""

