"""Result records of a comparison, a scaling run and an ablation, and their JSON round-trip."""

from __future__ import annotations

import base64
import io
import json
import math
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any

import numpy as np

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
class MisclassifiedExample:
    """A test image the pipeline got wrong: its index in the test set, true and predicted class.

    ``image`` is the image as a base64-encoded PNG (grey or RGB, the test set's H×W), so a
    results file can redraw it without the dataset; :func:`decode_image` turns it back into
    an H×W×C uint8 array.
    """

    index: int
    label: int
    prediction: int
    image: str


@dataclass
class Timeline:
    """A pipeline's utilisation over time, downsampled, with its stage windows.

    Columns of equal length: ``t_seconds`` since the pipeline started, ``gpu_util_percent``
    (None for the whole column without a GPU reading; a single None where one reading was
    missing), ``cpu_util_percent`` (system-wide) and ``rss_bytes`` (this process). ``stages``
    lists each stage as {"name", "device", "start_seconds", "end_seconds"} on the same clock.
    """

    t_seconds: list[float]
    gpu_util_percent: list[float | None] | None
    cpu_util_percent: list[float]
    rss_bytes: list[int]
    stages: list[dict[str, Any]] = field(default_factory=list)


@dataclass
class PipelineResult:
    """The figures of one pipeline on the test set.

    ``train_seconds`` covers everything fitted on the training set (features and SVM, or
    CNN training); ``predict_seconds`` covers the test set from raw images to labels, so
    ``images_per_second`` is the end-to-end inference throughput. ``warmup_seconds`` (the
    untimed warm-up pass, and compilation with ``--compile``) is reported on its own and is
    in neither.

    ``misclassified`` (up to 16 test images it got wrong, spread over the classes) and
    ``timeline`` (the utilisation samples of its run) are there so that a report can be
    redrawn from the JSON alone; files written before they existed load with ``[]`` and None.
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
    misclassified: list[MisclassifiedExample] = field(default_factory=list)
    timeline: Timeline | None = None

    @classmethod
    def from_dict(cls, data: dict[str, Any]) -> PipelineResult:
        """Rebuild a pipeline's result from its JSON object (the optional fields may be absent)."""
        timeline = data.get("timeline")
        return cls(**{
            **data,
            "stages": [StageResult(**s) for s in data["stages"]],
            "misclassified": [MisclassifiedExample(**m) for m in data.get("misclassified") or []],
            "timeline": Timeline(**timeline) if timeline is not None else None,
        })


def encode_image(image: np.ndarray) -> str:
    """An H×W×C uint8 image (C = 1 or 3) as a base64 PNG string, compact and lossless."""
    from PIL import Image

    array = np.asarray(image, dtype=np.uint8)
    if array.ndim == 3 and array.shape[2] == 1:
        array = array[:, :, 0]
    buffer = io.BytesIO()
    Image.fromarray(array).save(buffer, format="PNG", optimize=False)
    return base64.b64encode(buffer.getvalue()).decode("ascii")


def decode_image(text: str) -> np.ndarray:
    """The H×W×C uint8 image of :func:`encode_image`'s string."""
    from PIL import Image

    try:
        with Image.open(io.BytesIO(base64.b64decode(text, validate=True))) as image:
            array = np.asarray(image.convert("RGB" if image.mode not in ("L", "RGB") else image.mode), dtype=np.uint8)
    except (ValueError, TypeError, OSError) as exc:  # binascii.Error is a ValueError
        raise UserError(f"a misclassified image in the results file is not a base64 PNG ({exc}); "
                        "re-run the comparison") from None
    return array[:, :, None] if array.ndim == 2 else array


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


class _ResultsFile:
    """What every kind of results has in common: its JSON object, with schema and kind first."""

    def to_dict(self) -> dict[str, Any]:
        """A plain dict of the results, as written to JSON."""
        data = asdict(self)  # type: ignore[call-overload]
        # schema and kind first, so a reader can tell what a file is at a glance
        return {"schema_version": data.pop("schema_version"), "kind": data.pop("kind"), **data}


def _check_header(data: dict[str, Any], kind: str, what: str | None = None, rerun: str = "the command") -> None:
    """Refuse results of another schema version or kind.

    ``what`` names the kind in the message (default: ``kind``); ``rerun`` is what to re-run.
    """
    version = data.get("schema_version")
    if version != SCHEMA_VERSION:
        raise UserError(
            f"results schema version {version!r} is not supported (this featvslearn reads "
            f"version {SCHEMA_VERSION}); re-run {rerun} with this version"
        )
    if data.get("kind") != kind:
        raise UserError(f"results of kind {data.get('kind')!r} are not {what or kind} results")


def _plain_fields(data: dict[str, Any]) -> dict[str, Any]:
    """The fields that compare and ablate results read as they are: dataset, device, seed and the like."""
    return {
        "dataset": DatasetInfo(**data["dataset"]),
        "device": data["device"],
        "seed": data["seed"],
        "environment": data["environment"],
        "settings": data["settings"],
        "created": data["created"],
        "total_seconds": data["total_seconds"],
    }


@dataclass
class CompareResults(_ResultsFile):
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

    @property
    def devices(self) -> list[str]:
        """The devices every pipeline ran on, in the order given (``device`` is their comma list).

        With more than one, ``pipelines`` holds one result per (pipeline, device), each
        pipeline's runs in this order, so its first run is on the first device.
        """
        return [part.strip() for part in self.device.split(",") if part.strip()]

    @classmethod
    def from_dict(cls, data: dict[str, Any]) -> CompareResults:
        """Rebuild results from :meth:`to_dict`'s output; a wrong schema is a ``UserError``."""
        _check_header(data, "compare", what="comparison", rerun="the comparison")
        try:
            pipelines = [PipelineResult.from_dict(p) for p in data["pipelines"]]
            return cls(pipelines=pipelines, **_plain_fields(data))
        except (KeyError, TypeError, AttributeError) as exc:
            raise UserError(f"results file is incomplete or malformed ({exc}); re-run the comparison") from None


@dataclass
class ScalingRun:
    """One pipeline trained on one subsample: its size, its seed, and what it reached on the test set."""

    train_size: int
    seed: int
    accuracy: float
    train_seconds: float


@dataclass
class Crossover:
    """Where the CNN overtakes one pipeline along the training-set sizes.

    ``size``: the smallest measured size from which the CNN's mean accuracy is above the
    pipeline's at that size and at every larger one; ``between``: that size and the one below
    it, and ``estimate``: where the difference of the means crosses zero between them,
    interpolated linearly in log size. All three are None when there is no such size, and
    ``reason`` says why; otherwise it describes the crossover in words.
    """

    size: int | None
    estimate: float | None
    between: list[int] | None
    reason: str


@dataclass(frozen=True)
class SizeSummary:
    """One pipeline at one training-set size, over its seeds.

    ``*_std`` is the sample standard deviation over the seeds (0 with a single seed).
    """

    train_size: int
    runs: int
    accuracy_mean: float
    accuracy_std: float
    train_seconds_mean: float
    train_seconds_std: float


def _mean_std(values: list[float]) -> tuple[float, float]:
    mean = math.fsum(values) / len(values)
    if len(values) < 2:
        return mean, 0.0
    return mean, math.sqrt(math.fsum((v - mean) ** 2 for v in values) / (len(values) - 1))


@dataclass
class ScalingResults(_ResultsFile):
    """Everything ``featvslearn scaling`` measured: each pipeline at each training-set size and seed.

    ``dataset.train_size`` is the whole training set the subsamples are drawn from; every run
    is tested on the same ``dataset.test_size`` test images. ``pipelines`` maps a pipeline
    name to its runs, one per (size, seed) pair; ``crossover`` maps each hand-engineered
    pipeline to where the CNN overtakes it (empty when the CNN was not run).
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
    kind: str = "scaling"
    schema_version: int = SCHEMA_VERSION

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
    def from_dict(cls, data: dict[str, Any]) -> ScalingResults:
        """Rebuild results from :meth:`to_dict`'s output; anything malformed is a ``UserError``."""
        _check_header(data, "scaling", rerun="featvslearn scaling")
        try:
            results = cls(
                dataset=DatasetInfo(**data["dataset"]),
                device=_checked(data["device"], str, "device"),
                seed=_checked(data["seed"], int, "seed"),
                seeds=[_checked(v, int, "seeds") for v in data["seeds"]],
                sizes=[_checked(v, int, "sizes") for v in data["sizes"]],
                environment=_checked(data["environment"], dict, "environment"),
                settings=_checked(data["settings"], dict, "settings"),
                pipelines={_checked(name, str, "pipelines"): [_scaling_run(r) for r in runs]
                           for name, runs in _checked(data["pipelines"], dict, "pipelines").items()},
                crossover={_checked(name, str, "crossover"): _crossover(c)
                           for name, c in _checked(data["crossover"], dict, "crossover").items()},
                created=_checked(data["created"], str, "created"),
                total_seconds=_checked(data["total_seconds"], float, "total_seconds"),
            )
            results._check_runs()
        except (KeyError, TypeError, ValueError, AttributeError) as exc:
            reason = f"missing {exc}" if isinstance(exc, KeyError) else str(exc)
            raise UserError(f"results of kind 'scaling' are incomplete or malformed ({reason}); "
                            "re-run featvslearn scaling") from None
        return results

    def _check_runs(self) -> None:
        """Every pipeline has exactly one run per (size, seed) pair; else ValueError."""
        if not self.sizes or self.sizes != sorted(set(self.sizes)) or not self.seeds:
            raise ValueError("sizes must be ascending without repeats, and seeds not empty")
        if not self.pipelines:
            raise ValueError("no pipelines")
        expected = {(size, seed) for size in self.sizes for seed in self.seeds}
        for name, runs in self.pipelines.items():
            pairs = [(r.train_size, r.seed) for r in runs]
            if len(pairs) != len(expected) or set(pairs) != expected:
                raise ValueError(f"{name} does not have exactly one run per size and seed")
        for name in self.crossover:
            if name not in self.pipelines:
                raise ValueError(f"crossover of {name}, which has no runs")


def _checked(value: Any, kind: type, what: str) -> Any:
    """``value`` if it is a ``kind`` (ints count as floats, bools as nothing else); else TypeError."""
    ok = isinstance(value, (int, float)) if kind is float else isinstance(value, kind)
    if isinstance(value, bool) and kind is not bool:
        ok = False
    if not ok:
        raise TypeError(f"{what}: {value!r} should be of type {kind.__name__}")
    return float(value) if kind is float else value


def _scaling_run(data: dict[str, Any]) -> ScalingRun:
    if not isinstance(data, dict) or set(data) != {"train_size", "seed", "accuracy", "train_seconds"}:
        raise ValueError(f"a run must have train_size, seed, accuracy and train_seconds, got {data!r}")
    run = ScalingRun(
        train_size=_checked(data["train_size"], int, "train_size"),
        seed=_checked(data["seed"], int, "seed"),
        accuracy=_checked(data["accuracy"], float, "accuracy"),
        train_seconds=_checked(data["train_seconds"], float, "train_seconds"),
    )
    if not 0.0 <= run.accuracy <= 1.0 or not run.train_seconds >= 0 or run.train_size < 1:
        raise ValueError(f"a run's accuracy must lie in [0, 1], its seconds and size be positive: {data!r}")
    return run


def _crossover(data: dict[str, Any]) -> Crossover:
    if not isinstance(data, dict) or set(data) != {"size", "estimate", "between", "reason"}:
        raise ValueError(f"a crossover must have size, estimate, between and reason, got {data!r}")
    between = data["between"]
    if between is not None and (not isinstance(between, list) or len(between) != 2):
        raise ValueError(f"crossover between must be two sizes, got {between!r}")
    return Crossover(
        size=None if data["size"] is None else _checked(data["size"], int, "crossover size"),
        estimate=None if data["estimate"] is None else _checked(data["estimate"], float, "crossover estimate"),
        between=None if between is None else [_checked(v, int, "crossover between") for v in between],
        reason=_checked(data["reason"], str, "crossover reason"),
    )


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
class AblateResults(_ResultsFile):
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

    @classmethod
    def from_dict(cls, data: dict[str, Any]) -> AblateResults:
        """Rebuild results from :meth:`to_dict`'s output; a wrong schema or kind is a ``UserError``."""
        _check_header(data, "ablate")
        try:
            variants = [
                VariantResult(**{**v, "stages": [StageResult(**s) for s in v["stages"]]}) for v in data["variants"]
            ]
            return cls(variants=variants, **_plain_fields(data))
        except (KeyError, TypeError) as exc:
            raise UserError(f"results file is incomplete or malformed ({exc}); re-run the ablation") from None


# Every kind of results file, by its "kind" field; each class has to_dict() and from_dict().
RESULT_KINDS: dict[str, Any] = {"compare": CompareResults, "scaling": ScalingResults, "ablate": AblateResults}

Results = CompareResults | ScalingResults | AblateResults


def dumps(data: Any, indent: int = 2) -> str:
    """JSON text indented like ``json.dumps(indent=2)``, except that a list of plain values
    (numbers, strings, null) stays on one line: a confusion matrix reads row by row and a
    timeline column takes one line instead of hundreds."""

    def encode(value: Any, level: int) -> str:
        inner, outer = " " * (indent * (level + 1)), " " * (indent * level)
        if isinstance(value, dict) and value:
            items = [f"{inner}{json.dumps(str(k))}: {encode(v, level + 1)}" for k, v in value.items()]
            return "{\n" + ",\n".join(items) + "\n" + outer + "}"
        if isinstance(value, (list, tuple)) and any(isinstance(v, (dict, list, tuple)) for v in value):
            return "[\n" + ",\n".join(inner + encode(v, level + 1) for v in value) + "\n" + outer + "]"
        return json.dumps(value, separators=(", ", ": "))

    return encode(data, 0)


def write_json(results: Results, path: Path) -> None:
    """Write ``results`` to ``path`` as indented JSON (see :func:`dumps`), atomically."""
    atomic_write_text(path, dumps(results.to_dict()) + "\n")


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
