"""What every dataset source shares: the in-memory types, the cache folder, and splitting.

A :class:`Dataset` holds images as an ``(N, H, W, C)`` ``uint8`` array (``C`` is 1 or 3)
and labels as an ``(N,)`` ``int64`` array. :func:`split_dataset` and :func:`subsample`
pick seeded, stratified subsets of one. Nothing here prints; every mistake a user can
fix raises :class:`featvslearn.errors.UserError` with a one-line message naming the fix.
"""

from __future__ import annotations

import dataclasses
import difflib
import math
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np

from featvslearn.errors import UserError
from featvslearn.files import default_cache_dir


@dataclass(frozen=True)
class ImageSizing:
    """How the images of an image folder were brought to one size (the built-in datasets need none).

    Attributes:
        height, width: the size every image was given, in pixels.
        method: what was done: ``"none"`` (every image already had that size), ``"scale"``
            (every image had its aspect ratio and was only scaled), or how images of another
            aspect ratio were made to fit before scaling: ``"pad"``, ``"crop"`` or ``"squash"``.
        images: the images read; ``resized``: those whose size changed; ``fitted``: those
            padded, cropped or squashed to another aspect ratio.
        distinct_sizes: how many different sizes the files had.
        min_height, max_height, min_width, max_width: the range of the files' sizes, in pixels.
        rule: how the size was chosen, in words (``"given by --image-size 48"``, ``"the size of
            every file"``, ...).
        fill: the colour of the padding bands (one value per channel, the same for every image)
            when images were padded; None otherwise.
    """

    height: int
    width: int
    method: str
    images: int
    resized: int
    fitted: int
    distinct_sizes: int
    min_height: int
    max_height: int
    min_width: int
    max_width: int
    rule: str = ""
    fill: tuple[int, ...] | None = None


@dataclass(frozen=True, eq=False)
class Dataset:
    """A labelled image set held in memory.

    Attributes:
        name: ``"digits"``, ``"fashion-mnist"``, ``"mnist"``, ``"cifar10"`` or the
            image folder's name.
        images: ``(N, H, W, C)`` ``uint8``, ``C`` in ``{1, 3}``, C-contiguous.
        labels: ``(N,)`` ``int64`` in ``[0, num_classes)``.
        class_names: one name per class; label ``k`` is ``class_names[k]``.
        source: human description of where the data came from.
        hflip_ok: whether a horizontal flip preserves the class.
        skipped: files of an image folder that could not be read (paths relative to
            the folder); empty for the built-in datasets.
        sizing: how an image folder's files were brought to one size; None for the
            built-in datasets, whose images all have one size already.

    Equality is identity (``eq=False``): comparing arrays field by field is ambiguous.
    """

    name: str
    images: np.ndarray
    labels: np.ndarray
    class_names: tuple[str, ...]
    source: str
    hflip_ok: bool
    skipped: tuple[str, ...] = ()
    sizing: ImageSizing | None = None

    def __post_init__(self) -> None:
        images, labels = self.images, self.labels
        if (
            not isinstance(images, np.ndarray)
            or images.dtype != np.uint8
            or images.ndim != 4
        ):
            raise ValueError("Dataset.images must be a (N, H, W, C) uint8 array")
        if images.shape[3] not in (1, 3) or not images.flags.c_contiguous:
            raise ValueError("Dataset.images must have C in {1, 3} and be C-contiguous")
        if not isinstance(labels, np.ndarray) or labels.dtype != np.int64:
            raise ValueError("Dataset.labels must be an int64 array")
        if labels.shape != (images.shape[0],):
            raise ValueError("Dataset.labels must have shape (N,) matching images")
        if not isinstance(self.class_names, tuple) or not self.class_names:
            raise ValueError("Dataset.class_names must be a non-empty tuple")
        if labels.size and (labels.min() < 0 or labels.max() >= len(self.class_names)):
            raise ValueError("Dataset.labels must lie in [0, num_classes)")

    @property
    def num_classes(self) -> int:
        """``len(class_names)``; counts classes absent from this set too."""
        return len(self.class_names)

    @property
    def image_shape(self) -> tuple[int, int, int]:
        """``(H, W, C)`` of every image."""
        _, h, w, c = self.images.shape
        return (int(h), int(w), int(c))

    def __len__(self) -> int:
        return int(self.images.shape[0])


OWN_SPLIT = "the dataset's own training and test sets"
"""The origin of a split a dataset ships with (Fashion-MNIST, MNIST, CIFAR-10)."""


@dataclass(frozen=True)
class Split:
    """A train set and a test set sharing class names and image shape, and where the split came from
    (``origin``, one phrase: ``"the dataset's own training and test sets"``, ``"train/ and test/ used as
    given (270 and 90 images)"``, ``"no split in the folder: a stratified 25 % test split drawn with seed
    0"``)."""

    train: Dataset
    test: Dataset
    origin: str = ""


@dataclass(frozen=True)
class Availability:
    """Whether a built-in dataset can be loaded without a download, from where, and how to fetch it.

    Attributes:
        name: the dataset's name for ``--dataset``.
        available_offline: whether it loads here without the network.
        location: the folder or archive it would load from; None when not found (or bundled).
        note: one line on what was found, or what will happen without it.
        home: the dataset's home page; None for one that ships with a package.
        download_from: the address of the folder its files are downloaded from: each file's
            address is this followed by the file's name; None when nothing is downloaded.
        download_bytes: the size of that download in bytes, all files together.
        files: the files to fetch, each placed as it is (``.gz`` files are not unpacked).
        place: where to put them on a machine without a network.
    """

    name: str
    available_offline: bool
    location: str | None
    note: str
    home: str | None = None
    download_from: str | None = None
    download_bytes: int | None = None
    files: tuple[str, ...] = ()
    place: str | None = None

    @property
    def download_size(self) -> str | None:
        """The download's size in MiB (2**20 bytes), to one decimal, e.g. ``"162.6 MiB"``; None if none."""
        return None if self.download_bytes is None else mebibytes(self.download_bytes)


def mebibytes(size: int) -> str:
    """``size`` bytes in MiB (2**20 bytes) to one decimal: ``170498071`` -> ``"162.6 MiB"``."""
    return f"{size / 2**20:.1f} MiB"


# ---------------------------------------------------------------------------- helpers


def search_bases(data_dir: Path | None) -> list[Path]:
    """Folders searched for downloaded files, in order: ``data_dir`` (if given), then the cache."""
    return ([data_dir] if data_dir is not None else []) + [default_cache_dir()]


def place_for(data_dir: Path | None, in_cache: Path) -> str:
    """Where to put a dataset's files for offline use: ``data_dir`` (or any folder DIR passed as
    ``--data-dir DIR``), or ``in_cache``, the folder of the cache that is searched."""
    first = f"{data_dir} (--data-dir)" if data_dir is not None else "DIR, with --data-dir DIR"
    return f"{first}, or {in_cache}"


def is_file(path: Path) -> bool:
    """``path.is_file()``, but ``False`` where a directory cannot be searched."""
    try:
        return path.is_file()
    except OSError:
        return False


def _one_line(text: object, limit: int = 300) -> str:
    """Collapse whitespace (newlines included) so that text fits a one-line message."""
    flat = " ".join(str(text).split())
    return flat if len(flat) <= limit else flat[: limit - 3] + "..."


def error_reason(exc: BaseException) -> str:
    """``"TypeName: message"`` of ``exc`` on one line (at most 300 characters), for a UserError."""
    text = _one_line(exc)
    return f"{type(exc).__name__}: {text}" if text else type(exc).__name__


def name_key(name: str) -> str:
    """A name in lower case without ``-``, ``_`` or spaces (``"Fashion_MNIST"`` -> ``"fashionmnist"``)."""
    return "".join(ch for ch in name.lower() if ch not in "-_" and not ch.isspace())


def did_you_mean(word: str, choices: Sequence[str]) -> str:
    """``" (did you mean X?)"`` (or ``X or Y``) for the choices close to ``word``; ``""`` when none is.

    Case, ``-`` and ``_`` are ignored, so ``"Hog_SVN"`` still finds ``hog-svm``.
    """
    by_key = {name_key(choice): choice for choice in choices}
    close = difflib.get_close_matches(name_key(word), list(by_key), n=2, cutoff=0.6)
    return f" (did you mean {' or '.join(by_key[key] for key in close)}?)" if close else ""


# ----------------------------------------------------------------------- splitting


def _allocate(
    counts: np.ndarray, size: int, low: np.ndarray, high: np.ndarray
) -> np.ndarray:
    """Split ``size`` over classes proportionally to ``counts`` within ``[low, high]``.

    Largest-remainder rounding of the quotas ``size * counts / counts.sum()``, then
    clamped to the bounds while keeping the total. Requires
    ``low.sum() <= size <= high.sum()``. Deterministic (ties go to the lower class).
    """
    quota = size * counts / counts.sum()
    take = np.clip(np.floor(quota).astype(np.int64), low, high)
    while take.sum() > size:
        excess = np.where(take > low, take - quota, -np.inf)
        take[int(np.argmax(excess))] -= 1
    while take.sum() < size:
        deficit = np.where(take < high, quota - take, -np.inf)
        take[int(np.argmax(deficit))] += 1
    return take


def _rng(seed: int) -> np.random.Generator:
    if isinstance(seed, bool) or not isinstance(seed, (int, np.integer)) or seed < 0:
        raise UserError(f"seed must be a whole number >= 0, got {seed!r}; pass e.g. 0")
    return np.random.default_rng(int(seed))


def _stratified_pick(
    labels: np.ndarray, take: np.ndarray, classes: np.ndarray, rng: np.random.Generator
) -> np.ndarray:
    """Sorted indices holding ``take[k]`` random images of ``classes[k]``."""
    picked = [
        rng.choice(np.flatnonzero(labels == cls), size=int(n), replace=False)
        for cls, n in zip(classes, take, strict=True)
    ]
    return np.sort(np.concatenate(picked)).astype(np.int64)


def _split_indices(
    labels: np.ndarray, class_names: Sequence[str], test_fraction: float, seed: int
) -> tuple[np.ndarray, np.ndarray]:
    """Seeded stratified split of ``range(len(labels))`` into sorted train/test indices.

    Every class keeps at least one image on both sides.
    """
    classes, counts = np.unique(labels, return_counts=True)
    small = [class_names[c] for c, n in zip(classes, counts, strict=True) if n < 2]
    if small:
        raise UserError(
            f"class {small[0]!r} has fewer than 2 images, too few to split into train "
            "and test; add images to it or provide separate train/ and test/ folders"
        )
    n_test = math.ceil(test_fraction * len(labels))
    k = len(classes)
    if n_test < k or len(labels) - n_test < k:
        raise UserError(
            f"a test fraction of {test_fraction} puts {n_test} of {len(labels)} images "
            "in the test set, but both sets need at least one image of each of the "
            f"{k} classes; choose a test fraction nearer 0.5 or add images"
        )
    take = _allocate(counts, n_test, np.ones(k, np.int64), counts - 1)
    test = _stratified_pick(labels, take, classes, _rng(seed))
    mask = np.ones(len(labels), dtype=bool)
    mask[test] = False
    return np.flatnonzero(mask).astype(np.int64), test


def _take(ds: Dataset, indices: np.ndarray, **changes: Any) -> Dataset:
    return dataclasses.replace(
        ds,
        images=np.ascontiguousarray(ds.images[indices]),
        labels=np.ascontiguousarray(ds.labels[indices]),
        **changes,
    )


def split_dataset(ds: Dataset, test_fraction: float, seed: int, where: str = "dataset") -> Split:
    """Seeded stratified split of ``ds`` into train and test sets.

    ``test_fraction`` (in ``(0, 1)``) of the images, rounded up, go to the test set;
    every class keeps at least one image on both sides, else a UserError names the
    class or the fraction to change. Both sets keep the original image order; the
    files of ``ds.skipped`` are listed on the train set only. The split's ``origin`` says it was
    drawn, from the ``where`` (``"dataset"``, ``"folder"``) that had none.
    """
    train_idx, test_idx = _split_indices(ds.labels, ds.class_names, test_fraction, seed)
    origin = f"no split in the {where}: a stratified {100 * test_fraction:g} % test split drawn with seed {seed}"
    return Split(train=_take(ds, train_idx), test=_take(ds, test_idx, skipped=()), origin=origin)


def subsample(ds: Dataset, size: int | None, *, seed: int) -> Dataset:
    """Seeded stratified subsample of ``size`` images of ``ds``.

    Class proportions are kept (largest-remainder rounding) and every class present in
    ``ds`` keeps at least one image, so ``size`` must be at least the number of classes
    present. The result keeps the original order of the chosen images and has the same
    dtypes and shapes as ``ds`` (``(size, H, W, C)`` uint8 images, ``(size,)`` int64
    labels). ``size`` of ``None`` or ``len(ds)`` returns ``ds`` itself. The same seed
    always picks the same images.

    (scikit-learn's stratified splitters are not used: they can drop rare classes
    entirely and refuse classes with a single image.)
    """
    if size is None or size == len(ds):
        return ds
    if isinstance(size, bool) or not isinstance(size, (int, np.integer)):
        raise UserError(
            f"subsample size must be a whole number, got {size!r}; pass an integer"
        )
    size = int(size)
    if size > len(ds):
        raise UserError(
            f"asked for {size} images but {ds.name} has only {len(ds)} available; "
            f"pass a size of at most {len(ds)}"
        )
    classes, counts = np.unique(ds.labels, return_counts=True)
    if size < len(classes):
        raise UserError(
            f"asked for {size} images but {ds.name} has {len(classes)} classes and "
            f"each needs at least one; pass a size of at least {len(classes)}"
        )
    take = _allocate(counts, size, np.ones(len(classes), np.int64), counts)
    indices = _stratified_pick(ds.labels, take, classes, _rng(seed))
    return _take(ds, indices)
