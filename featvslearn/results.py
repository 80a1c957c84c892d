"""Result records of a comparison and of an ablation, and their JSON round-trip."""

from __future__ import annotations

import json
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any

from featvslearn.errors import UserError
from featvslearn.files import atomic_write_text

SCHEMA_VERSION = 1


@dataclass
class StageResult:
    """One stage of a pipeline: where it ran, how long it took, what the machine did."""

    name: str
    device: str
    seconds: float
    gpu_util_percent_mean: float | None = None
    gpu_util_percent_max: float | None = None
    cpu_util_percent_mean: float | None = None
    peak_rss_bytes: int | None = None


@dataclass
class PipelineResult:
    """The figures of one pipeline on the test set.

    ``train_seconds`` covers everything fitted on the training set (features and SVM, or
    CNN training); ``predict_seconds`` covers the test set from raw images to labels, so
    ``images_per_second`` is the end-to-end inference throughput. ``warmup_seconds`` (the
    untimed warm-up pass, and compilation with ``--compile``) is reported on its own and is
    in neither.
    """

    name: str
    accuracy: float
    train_seconds: float
    predict_seconds: float
    images_per_second: float
    device: str
    gpu_util_percent_mean: float | None
    gpu_util_percent_max: float | None
    gpu_util_samples: int
    peak_gpu_memory_bytes: int | None
    cpu_util_percent_mean: float | None
    peak_rss_bytes: int | None
    stages: list[StageResult]
    warmup_seconds: float = 0.0
    per_class_accuracy: list[float] = field(default_factory=list)
    confusion_matrix: list[list[int]] = field(default_factory=list)
    details: dict[str, Any] = field(default_factory=dict)


@dataclass
class DatasetInfo:
    """Which images were compared."""

    name: str
    train_size: int
    test_size: int
    image_shape: list[int]
    num_classes: int
    source: str
    class_names: list[str]
    load_seconds: float


@dataclass
class CompareResults:
    """Everything ``featvslearn compare`` measured, ready for the table, Markdown and JSON."""

    dataset: DatasetInfo
    device: str
    seed: int
    environment: dict[str, Any]
    pipelines: list[PipelineResult]
    settings: dict[str, Any]
    created: str
    total_seconds: float
    kind: str = "compare"
    schema_version: int = SCHEMA_VERSION

    def to_dict(self) -> dict[str, Any]:
        """A plain dict of the results, as written to JSON."""
        data = asdict(self)
        # schema and kind first, so a reader can tell what a file is at a glance
        return {"schema_version": data.pop("schema_version"), "kind": data.pop("kind"), **data}

    @classmethod
    def from_dict(cls, data: dict[str, Any]) -> CompareResults:
        """Rebuild results from :meth:`to_dict`'s output; a wrong schema is a ``UserError``."""
        version = data.get("schema_version")
        if version != SCHEMA_VERSION:
            raise UserError(
                f"results schema version {version!r} is not supported (this featvslearn reads "
                f"version {SCHEMA_VERSION}); re-run the comparison with this version"
            )
        if data.get("kind") != "compare":
            raise UserError(f"results of kind {data.get('kind')!r} are not comparison results")
        try:
            pipelines = [
                PipelineResult(**{**p, "stages": [StageResult(**s) for s in p["stages"]]})
                for p in data["pipelines"]
            ]
            return cls(
                dataset=DatasetInfo(**data["dataset"]),
                device=data["device"],
                seed=data["seed"],
                environment=data["environment"],
                pipelines=pipelines,
                settings=data["settings"],
                created=data["created"],
                total_seconds=data["total_seconds"],
            )
        except (KeyError, TypeError) as exc:
            raise UserError(f"results file is incomplete or malformed ({exc}); re-run the comparison") from None


@dataclass
class VariantResult:
    """One CNN variant of an ablation, trained on the same images, epochs and schedule as the others.

    ``depth`` counts weight layers (every convolution and the classifier); ``dropout`` is a
    rate (0 = none). ``loss_curve`` holds at most 200 points: ``epoch``
    (fractional, at the end of each window of steps) and ``loss`` (the mean training loss over
    that window, None where it was not finite). ``train_seconds`` covers moving the data to the
    device and the training loop; ``warmup_seconds`` (one untimed pass) and ``predict_seconds``
    (the test set) are counted apart.
    """

    name: str
    activation: str
    batch_norm: bool
    dropout: float
    depth: int
    accuracy: float
    train_seconds: float
    loss_curve: dict[str, list[Any]]
    loss_per_epoch: list[float | None]
    seconds_per_epoch: list[float]
    predict_seconds: float
    warmup_seconds: float
    diverged: bool
    parameters: int
    flops_per_image: int
    lr: float
    device: str
    gpu_util_percent_mean: float | None
    gpu_util_percent_max: float | None
    gpu_util_samples: int
    peak_gpu_memory_bytes: int | None
    cpu_util_percent_mean: float | None
    peak_rss_bytes: int | None
    stages: list[StageResult]
    per_class_accuracy: list[float] = field(default_factory=list)
    details: dict[str, Any] = field(default_factory=dict)


@dataclass
class AblateResults:
    """Everything ``featvslearn ablate`` measured: one entry per CNN variant, same budget for each."""

    dataset: DatasetInfo
    device: str
    seed: int
    environment: dict[str, Any]
    variants: list[VariantResult]
    settings: dict[str, Any]
    created: str
    total_seconds: float
    kind: str = "ablate"
    schema_version: int = SCHEMA_VERSION

    def to_dict(self) -> dict[str, Any]:
        """A plain dict of the results, as written to JSON."""
        data = asdict(self)
        return {"schema_version": data.pop("schema_version"), "kind": data.pop("kind"), **data}

    @classmethod
    def from_dict(cls, data: dict[str, Any]) -> AblateResults:
        """Rebuild results from :meth:`to_dict`'s output; a wrong schema or kind is a ``UserError``."""
        _check_header(data, "ablate")
        try:
            variants = [
                VariantResult(**{**v, "stages": [StageResult(**s) for s in v["stages"]]}) for v in data["variants"]
            ]
            return cls(
                dataset=DatasetInfo(**data["dataset"]),
                device=data["device"],
                seed=data["seed"],
                environment=data["environment"],
                variants=variants,
                settings=data["settings"],
                created=data["created"],
                total_seconds=data["total_seconds"],
            )
        except (KeyError, TypeError) as exc:
            raise UserError(f"results file is incomplete or malformed ({exc}); re-run the ablation") from None


def _check_header(data: dict[str, Any], kind: str) -> None:
    """Refuse results of another schema version or kind."""
    version = data.get("schema_version")
    if version != SCHEMA_VERSION:
        raise UserError(
            f"results schema version {version!r} is not supported (this featvslearn reads "
            f"version {SCHEMA_VERSION}); re-run the command with this version"
        )
    if data.get("kind") != kind:
        raise UserError(f"results of kind {data.get('kind')!r} are not {kind} results")


# Every kind of results file, by its "kind" field; each class has to_dict() and from_dict().
RESULT_KINDS: dict[str, Any] = {"compare": CompareResults, "ablate": AblateResults}

Results = CompareResults | AblateResults


def write_json(results: Results, path: Path) -> None:
    """Write ``results`` to ``path`` as indented JSON, atomically."""
    atomic_write_text(path, json.dumps(results.to_dict(), indent=2) + "\n")


def read_json(path: Path) -> Results:
    """Read results written by :func:`write_json`; unreadable files are a ``UserError``."""
    try:
        data = json.loads(Path(path).read_text(encoding="utf-8"))
    except FileNotFoundError:
        raise UserError(f"results file {path} does not exist; pass the --json file of a run") from None
    except (OSError, UnicodeDecodeError, json.JSONDecodeError) as exc:
        raise UserError(f"cannot read results file {path} ({exc}); pass a --json file written by featvslearn") from None
    if not isinstance(data, dict):
        raise UserError(f"results file {path} is not a featvslearn results object")
    kind = data.get("kind")
    if kind not in RESULT_KINDS:
        raise UserError(f"results file {path} has kind {kind!r}; featvslearn reads "
                        f"{', '.join(RESULT_KINDS)} results")
    return RESULT_KINDS[kind].from_dict(data)
