"""The parts of a results file: stages, pipelines, runs, variants, and the field types they share.

Plain dataclasses with a strict pydantic config (no unknown fields, no type coercion, finite
numbers); :mod:`featvslearn.results.kinds` builds the three kinds of results file from them.
Also the compact encodings a file uses: :func:`encode_image` / :func:`decode_image` (a test image
as a base64 PNG) and :func:`encode_correct` / :func:`decode_correct` (per-example correctness,
packed eight to a byte).
"""

from __future__ import annotations

import base64
import binascii
import io
from dataclasses import dataclass, field
from typing import Annotated, Any, Literal

import numpy as np
from pydantic import AfterValidator, ConfigDict, Field, with_config

from featvslearn.errors import UserError

# ----------------------------------------------------------------------------- Field types

STRICT = ConfigDict(extra="forbid", strict=True, allow_inf_nan=False)
"""Every record: no unknown fields, no type coercion (true is not 1, "1" is not 1), finite numbers."""


def _fraction(value: float) -> float:
    if not 0.0 <= value <= 1.0:
        raise ValueError(f"should lie in [0, 1], got {value!r}")
    return value


def _interval(value: tuple[float, float]) -> tuple[float, float]:
    if value[0] > value[1]:
        raise ValueError(f"should be [low, high] with low <= high, got {value!r}")
    return value


Fraction = Annotated[float, AfterValidator(_fraction), Field(json_schema_extra={"minimum": 0, "maximum": 1})]
"""A float in [0, 1]: an accuracy or a p-value."""

Interval = Annotated[tuple[Fraction, Fraction], AfterValidator(_interval)]
"""(low, high), both in [0, 1], a JSON array of two: a confidence interval of an accuracy."""

NonNegativeSeconds = Annotated[float, Field(ge=0)]
PositiveInt = Annotated[int, Field(ge=1)]
Base64 = Annotated[str, Field(pattern=r"^[A-Za-z0-9+/]*={0,2}$")]


# ----------------------------------------------------------------------------- Records


@with_config(STRICT)
@dataclass
class StageResult:
    """One stage of a pipeline: where it ran, how long it took, what the machine did.

    ``cpu_seconds`` (v2) is the process's CPU time over the stage, user + system, all threads;
    ``other_load_percent`` (v2) is the mean CPU other processes used meanwhile, as a percentage of
    the whole machine. ``gpu_util_percent_*`` is NVML's kernel-active % (any process) over the
    stage, from its timestamped samples; ``gpu_process_util_percent_mean`` (v2) this process's own
    share where NVML gives per-process figures. Each is None where it was not measured.
    ``role`` says what the stage's seconds count as (``train``, ``predict``, ``untimed``); None in
    files written before stages carried it, whose stage names implied it
    (:func:`featvslearn.measure.contention.role_of`). ``gpu_joules`` and ``cpu_joules``: the energy the
    GPU (NVML's counter) and the CPU packages (RAPL) used during the stage, None where not measured;
    ``energy_below_resolution``: the stage was shorter than the counters resolve (its joules are rough).
    """

    name: str
    device: str
    seconds: float
    gpu_util_percent_mean: float | None = None
    gpu_util_percent_max: float | None = None
    cpu_util_percent_mean: float | None = None
    peak_rss_bytes: int | None = None
    cpu_seconds: float | None = None
    other_load_percent: float | None = None
    gpu_process_util_percent_mean: float | None = None
    role: Literal["train", "predict", "untimed"] | None = None
    gpu_joules: Annotated[float, Field(ge=0)] | None = None
    cpu_joules: Annotated[float, Field(ge=0)] | None = None
    energy_below_resolution: bool | None = None


@with_config(STRICT)
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


@with_config(STRICT)
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


@with_config(STRICT)
@dataclass
class PackedBits:
    """A boolean vector, compactly: ``length`` values packed eight to a byte, base64-encoded.

    ``bits`` is ``base64(np.packbits(values))`` (first value in the high bit of the first
    byte, zero padding in the last byte). Build it with :func:`encode_correct`, read it with
    :func:`decode_correct`.
    """

    length: Annotated[int, Field(ge=0)]
    bits: Base64


def encode_correct(correct: np.ndarray | list[bool]) -> PackedBits:
    """Pack a pipeline's per-example correctness on the test set, (N,) bool, into :class:`PackedBits`."""
    values = np.asarray(correct, dtype=bool).reshape(-1)
    return PackedBits(length=int(values.size), bits=base64.b64encode(np.packbits(values).tobytes()).decode("ascii"))


def unpack_bits(packed: PackedBits) -> np.ndarray:
    """The (length,) bool vector of ``packed``; ValueError if the bytes do not fit its length."""
    try:
        raw = base64.b64decode(packed.bits, validate=True)
    except binascii.Error as exc:
        raise ValueError(f"is not base64 ({exc})") from None
    if len(raw) != (packed.length + 7) // 8:
        raise ValueError(f"holds {len(raw)} bytes, but {packed.length} values take {(packed.length + 7) // 8}")
    values = np.unpackbits(np.frombuffer(raw, dtype=np.uint8))
    if values[packed.length:].any():
        raise ValueError("has bits set past its length")
    return values[: packed.length].astype(bool)


def decode_correct(packed: PackedBits) -> np.ndarray:
    """The (N,) bool vector of :func:`encode_correct`: True where the pipeline labelled test image i right.

    Files :func:`read_json` returns are already checked; a hand-built malformed value is a ``UserError``.
    """
    try:
        return unpack_bits(packed)
    except ValueError as exc:
        raise UserError(f"a pipeline's correct vector {exc}; re-run the comparison") from None


@with_config(STRICT)
@dataclass
class PipelineResult:
    """The figures of one pipeline on the test set.

    ``train_seconds`` covers everything fitted on the training set (features and SVM, or
    CNN training); ``predict_seconds`` covers the test set from raw images to labels, so
    ``images_per_second`` is the end-to-end inference throughput (None in a file when predict
    took 0 s; the file's ``null_reasons`` says so). ``warmup_seconds`` (the untimed warm-up
    pass, and compilation with ``--compile``) is reported on its own and is in neither.

    ``misclassified`` (up to 16 test images it got wrong, spread over the classes) and
    ``timeline`` (the utilisation samples of its run) are there so that a report can be
    redrawn from the JSON alone; files written before they existed load with ``[]`` and None.

    Version 2 adds, all optional: ``other_load_percent_mean`` (mean CPU used by other processes
    during the run, % of the whole machine), ``accuracy_interval`` ((low, high), the 95 % Wilson
    interval of ``accuracy``, an array of two in JSON) and ``correct`` (per test image, whether
    it was labelled right; :func:`encode_correct` packs it, :func:`decode_correct` unpacks it),
    ``gpu_process_util_percent_mean`` (this process's own kernel-active %, where NVML gives
    per-process figures) and ``gpu_notes`` (why GPU figures are missing, one line each).

    ``gpu_joules`` and ``cpu_joules``: the energy of its training and prediction stages (the untimed
    warm-up left out, as in the times) on the GPU and on the CPU packages; None where a timed stage was
    not measured, ``energy_notes`` then saying why (:mod:`featvslearn.measure.energy`).
    """

    name: str
    accuracy: Fraction
    train_seconds: float
    predict_seconds: float
    images_per_second: float | None
    device: str
    gpu_util_percent_mean: float | None
    gpu_util_percent_max: float | None
    gpu_util_samples: int
    peak_gpu_memory_bytes: int | None
    cpu_util_percent_mean: float | None
    peak_rss_bytes: int | None
    stages: list[StageResult]
    warmup_seconds: float = 0.0
    per_class_accuracy: list[Fraction] = field(default_factory=list)
    confusion_matrix: list[list[int]] = field(default_factory=list)
    details: dict[str, Any] = field(default_factory=dict)
    misclassified: list[MisclassifiedExample] = field(default_factory=list)
    timeline: Timeline | None = None
    other_load_percent_mean: float | None = None
    accuracy_interval: Interval | None = None
    correct: PackedBits | None = None
    gpu_process_util_percent_mean: float | None = None
    gpu_notes: list[str] = field(default_factory=list)
    gpu_joules: Annotated[float, Field(ge=0)] | None = None
    cpu_joules: Annotated[float, Field(ge=0)] | None = None
    energy_notes: list[str] = field(default_factory=list)


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


@with_config(STRICT)
@dataclass
class ImageSizing:
    """How the images of an image folder were brought to one size.

    ``height`` × ``width``: the size every image was given. ``method``: ``"none"`` (every file had
    that size), ``"scale"`` (every file had its aspect ratio and was only scaled), or how files of
    another aspect ratio were made to fit: ``"pad"`` (scaled to fit and centred on bands of ``fill``),
    ``"crop"`` (their centre) or ``"squash"`` (stretched). ``images``: images read; ``resized``: those
    whose size changed; ``fitted``: those padded, cropped or squashed. ``distinct_sizes`` and
    ``min_``/``max_`` ``height``/``width``: the sizes of the files. ``rule``: how the size was chosen, in
    words ("" in files written before it). ``fill``: the padding colour, one value per channel and the
    same for every image (the mean colour of all the folder's images), when images were padded.
    """

    height: PositiveInt
    width: PositiveInt
    method: Literal["none", "scale", "pad", "crop", "squash"]
    images: Annotated[int, Field(ge=0)]
    resized: Annotated[int, Field(ge=0)]
    fitted: Annotated[int, Field(ge=0)]
    distinct_sizes: Annotated[int, Field(ge=0)]
    min_height: PositiveInt
    max_height: PositiveInt
    min_width: PositiveInt
    max_width: PositiveInt
    rule: str = ""
    fill: Annotated[list[Annotated[int, Field(ge=0, le=255)]], Field(min_length=1, max_length=3)] | None = None


@with_config(STRICT)
@dataclass
class DatasetInfo:
    """Which images were compared.

    ``sizing`` (optional): how an image folder's files of several sizes were brought to one
    (:class:`ImageSizing`); None for the built-in datasets and in files written before it existed.
    ``split`` (optional): where the train/test split came from, one phrase ("train/ and test/ used as
    given (270 and 90 images)"; "no split in the folder: a stratified 25 % test split drawn with seed 0";
    then any seeded draw of fewer images); None in files written before it.
    """

    name: str
    train_size: int
    test_size: int
    image_shape: list[int]
    num_classes: int
    source: str
    class_names: list[str]
    load_seconds: float
    sizing: ImageSizing | None = None
    split: str | None = None


@with_config(STRICT)
@dataclass
class PairedTest:
    """A significance test of two pipelines on the same test images.

    ``pipelines`` names the two, A and B (as in the results' ``pipelines``); ``test`` is the
    test's name (``"mcnemar-exact"``: McNemar's exact binomial test on the images exactly one of
    them got right); ``p_value`` is its two-sided p-value. Optional counts: ``a_only`` (images
    only A got right), ``b_only`` (only B) and ``n`` (test images). ``p_value_holm``: the p-value
    Holm-adjusted over every pair tested in the same results (equal to ``p_value`` for one pair;
    None in files written before it), the one a reading compares with the significance level.
    ``seed``: with ``compare --seeds N``, the training seed both runs had (one test per pair and
    seed, all adjusted together); None with one seed.
    """

    pipelines: Annotated[list[str], Field(min_length=2, max_length=2)]
    test: str
    p_value: Fraction
    a_only: Annotated[int, Field(ge=0)] | None = None
    b_only: Annotated[int, Field(ge=0)] | None = None
    n: Annotated[int, Field(ge=0)] | None = None
    p_value_holm: Fraction | None = None
    seed: Annotated[int, Field(ge=0)] | None = None


@with_config(STRICT)
@dataclass
class SeedRun:
    """One pipeline trained with one seed on a compare's split (``compare --seeds N``): the figures the
    seeds are summarised by, and its per-image correctness for the paired tests.

    ``pipeline`` and ``device`` name the run as in the results' ``pipelines``; ``seed`` is its training
    seed (the split is the same for every seed); ``correct`` is as in :class:`PipelineResult`.
    """

    pipeline: str
    device: str
    seed: Annotated[int, Field(ge=0)]
    accuracy: Fraction
    train_seconds: NonNegativeSeconds
    predict_seconds: NonNegativeSeconds
    correct: PackedBits | None = None



@with_config(STRICT)
@dataclass
class ScalingRun:
    """One pipeline trained on one subsample: its size, its seed, and what it reached on the test set.

    ``other_load_percent_mean`` (v2): mean CPU other processes used during the run, % of the machine;
    ``machine_busy`` (v2): whether they used more than 25 % of it during any timed stage of the run.
    """

    train_size: PositiveInt
    seed: int
    accuracy: Fraction
    train_seconds: NonNegativeSeconds
    other_load_percent_mean: float | None = None
    machine_busy: bool | None = None


@with_config(STRICT)
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
    between: Annotated[list[int], Field(min_length=2, max_length=2)] | None
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




@with_config(STRICT)
@dataclass
class VariantResult:
    """One CNN variant of an ablation, trained on the same images, epochs and schedule as the others.

    ``depth`` counts weight layers (every convolution and the classifier); ``dropout`` is a
    rate (0 = none). ``loss_curve`` holds at most 200 points: ``epoch``
    (fractional, at the end of each window of steps) and ``loss`` (the mean training loss over
    that window, None where it was not finite). ``train_seconds`` covers moving the data to the
    device and the training loop; ``warmup_seconds`` (one untimed pass) and ``predict_seconds``
    (the test set) are counted apart. ``other_load_percent_mean`` and ``accuracy_interval`` (v2)
    are as in :class:`PipelineResult`. ``train_images``: the images it trained on (fewer than the
    run's for a small-data variant); ``lr_candidates``: each learning rate tried on a validation
    split of those images, ``{"lr", "validation_accuracy", "final_loss"}``, and
    ``lr_selection_seconds`` the time that took, apart from ``train_seconds`` (absent from files
    written before the rate was chosen per run). ``correct``: per test image, whether the variant
    labelled it right (as :class:`PipelineResult`'s; the paired McNemar tests between variants read
    it), None in files written before it was kept.
    """

    name: str
    activation: str
    batch_norm: bool
    dropout: float
    depth: int
    accuracy: Fraction
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
    per_class_accuracy: list[Fraction] = field(default_factory=list)
    details: dict[str, Any] = field(default_factory=dict)
    other_load_percent_mean: float | None = None
    accuracy_interval: Interval | None = None
    gpu_process_util_percent_mean: float | None = None
    gpu_notes: list[str] = field(default_factory=list)
    train_images: int | None = None
    lr_candidates: list[dict[str, Any]] = field(default_factory=list)
    lr_selection_seconds: float | None = None
    correct: PackedBits | None = None

