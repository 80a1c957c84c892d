"""Datasets: find, validate and load image data as uint8 arrays, and split it.

Every loader returns images as ``(N, H, W, C)`` ``uint8`` arrays (``C`` is 1 or 3) and
labels as ``(N,)`` ``int64`` arrays. Nothing here prints; every mistake a user can fix
raises :class:`featvslearn.errors.UserError` with a one-line message naming the fix.

Supported sources:

* ``digits``: scikit-learn's bundled 8x8 digits (always offline).
* ``fashion-mnist`` and ``mnist``: the four idx files (gzipped or not), parsed here with
  numpy; downloaded through torchvision when absent and allowed.
* ``cifar10``: the ``cifar-10-batches-py`` folder or the ``cifar-10-python.tar.gz``
  archive, extracted safely and unpickled with a restricted unpickler that only admits
  numpy's array reconstruction.
* any directory holding one sub-folder of images per class (optionally under ``train/``
  and ``test/``).
"""

from __future__ import annotations

import collections
import dataclasses
import gzip
import importlib
import math
import numbers
import os
import pickle
import shutil
import tarfile
import tempfile
import zlib
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path
from types import MappingProxyType, ModuleType
from typing import Any

import numpy as np

from featvslearn.errors import UserError
from featvslearn.files import expand_user

DATASET_NAMES: tuple[str, ...] = ("digits", "fashion-mnist", "mnist", "cifar10")

#: Read-only system locations searched last, per dataset (tests monkeypatch this).
SYSTEM_DIRS: Mapping[str, tuple[Path, ...]] = MappingProxyType(
    {"fashion-mnist": (Path("/usr/share/datasets/fashion-mnist"),)}
)

_SYSTEM_DIR_NOTES: Mapping[Path, str] = MappingProxyType(
    {Path("/usr/share/datasets/fashion-mnist"): "Debian package dataset-fashion-mnist"}
)

FASHION_MNIST_CLASSES: tuple[str, ...] = (
    "T-shirt/top",
    "Trouser",
    "Pullover",
    "Dress",
    "Coat",
    "Sandal",
    "Shirt",
    "Sneaker",
    "Bag",
    "Ankle boot",
)
DIGIT_CLASSES: tuple[str, ...] = tuple(str(i) for i in range(10))
CIFAR10_CLASSES: tuple[str, ...] = (
    "airplane",
    "automobile",
    "bird",
    "cat",
    "deer",
    "dog",
    "frog",
    "horse",
    "ship",
    "truck",
)

IDX_FILES: tuple[str, ...] = (
    "train-images-idx3-ubyte.gz",
    "train-labels-idx1-ubyte.gz",
    "t10k-images-idx3-ubyte.gz",
    "t10k-labels-idx1-ubyte.gz",
)
_TORCHVISION_FOLDERS: Mapping[str, str] = MappingProxyType(
    {"fashion-mnist": "FashionMNIST", "mnist": "MNIST"}
)
_IDX_IMAGES_MAGIC = 0x00000803
_IDX_LABELS_MAGIC = 0x00000801

CIFAR_FOLDER = "cifar-10-batches-py"
CIFAR_ARCHIVE = "cifar-10-python.tar.gz"
_CIFAR_TRAIN_BATCHES: tuple[str, ...] = tuple(f"data_batch_{i}" for i in range(1, 6))
_CIFAR_BATCHES: tuple[str, ...] = (*_CIFAR_TRAIN_BATCHES, "test_batch")
_CIFAR_MEMBERS: frozenset[str] = frozenset(
    f"{CIFAR_FOLDER}/{n}" for n in (*_CIFAR_BATCHES, "batches.meta", "readme.html")
)
_CIFAR_MAX_MEMBER_BYTES = 256 * 1024 * 1024
_CIFAR_PIXELS = 3 * 32 * 32

#: Images are resized to the folder's most common size, scaled down to fit this box.
MAX_FOLDER_SIDE = 64
#: Pillow's default decompression-bomb limit; larger images are skipped as unreadable.
_MAX_IMAGE_PIXELS = 89_478_485
_GREY_MODES: frozenset[str] = frozenset(
    {"1", "L", "LA", "La", "I", "F", "I;16", "I;16L", "I;16B", "I;16N"}
)


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

    Equality is identity (``eq=False``): comparing arrays field by field is ambiguous.
    """

    name: str
    images: np.ndarray
    labels: np.ndarray
    class_names: tuple[str, ...]
    source: str
    hflip_ok: bool
    skipped: tuple[str, ...] = ()

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


@dataclass(frozen=True)
class Split:
    """A train set and a test set sharing class names and image shape."""

    train: Dataset
    test: Dataset


@dataclass(frozen=True)
class Availability:
    """Whether a built-in dataset can be loaded without a download, and from where."""

    name: str
    available_offline: bool
    location: str | None
    note: str


# ---------------------------------------------------------------------------- helpers


def default_cache_dir() -> Path:
    """Where downloads and extractions go.

    ``$FEATVSLEARN_CACHE`` if set, else ``$XDG_CACHE_HOME/featvslearn``, else
    ``~/.cache/featvslearn``. The directory is not created.
    """
    env = os.environ.get("FEATVSLEARN_CACHE")
    if env:
        return expand_user(env, "FEATVSLEARN_CACHE")
    xdg = os.environ.get("XDG_CACHE_HOME")
    if xdg:
        return expand_user(xdg, "XDG_CACHE_HOME") / "featvslearn"
    return Path.home() / ".cache" / "featvslearn"


def _one_line(text: object, limit: int = 300) -> str:
    """Collapse whitespace (newlines included) so that text fits a one-line message."""
    flat = " ".join(str(text).split())
    return flat if len(flat) <= limit else flat[: limit - 3] + "..."


def _reason(exc: BaseException) -> str:
    text = _one_line(exc)
    return f"{type(exc).__name__}: {text}" if text else type(exc).__name__


def _torchvision_datasets() -> ModuleType:
    """Import ``torchvision.datasets`` lazily (tests replace this function)."""
    try:
        return importlib.import_module("torchvision.datasets")
    except ImportError as exc:  # pragma: no cover - torchvision is a dependency
        raise UserError(
            f"cannot download without torchvision ({_reason(exc)}); install "
            "torchvision or pass --data-dir with the files"
        ) from exc


def _check_data_dir(data_dir: Path | None) -> Path | None:
    if data_dir is None:
        return None
    data_dir = expand_user(data_dir, "--data-dir")
    if data_dir.exists() and not data_dir.is_dir():
        raise UserError(
            f"--data-dir {str(data_dir)!r} is a file, not a directory; pass a directory"
        )
    return data_dir


def _search_bases(data_dir: Path | None) -> list[Path]:
    return ([data_dir] if data_dir is not None else []) + [default_cache_dir()]


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


def _split_dataset(ds: Dataset, test_fraction: float, seed: int) -> Split:
    train_idx, test_idx = _split_indices(ds.labels, ds.class_names, test_fraction, seed)
    return Split(train=_take(ds, train_idx), test=_take(ds, test_idx, skipped=()))


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


# -------------------------------------------------------------------------- digits


def _load_digits() -> Dataset:
    from sklearn.datasets import load_digits

    bunch = load_digits()
    images = np.rint(np.asarray(bunch.images, dtype=np.float64) * (255.0 / 16.0))
    images = np.clip(images, 0, 255).astype(np.uint8)[..., np.newaxis]
    return Dataset(
        name="digits",
        images=np.ascontiguousarray(images),
        labels=np.asarray(bunch.target, dtype=np.int64),
        class_names=DIGIT_CLASSES,
        source="scikit-learn bundled digits (load_digits)",
        hflip_ok=False,
    )


# ----------------------------------------------------------------------- idx files


def _read_idx(path: Path, magic: int) -> np.ndarray:
    """Parse an idx file (gzipped if the name ends in ``.gz``) of unsigned bytes.

    Returns a ``uint8`` array of the dimensions in the header: ``(N, H, W)`` for
    images (magic ``0x00000803``) or ``(N,)`` for labels (magic ``0x00000801``).
    """
    fix = f"delete {path} and download it again"
    try:
        if path.name.endswith(".gz"):
            with gzip.open(path, "rb") as fh:
                raw = fh.read()
        else:
            raw = path.read_bytes()
    except (OSError, EOFError, zlib.error) as exc:
        raise UserError(f"cannot read {path} ({_reason(exc)}); {fix}") from exc
    ndim = magic & 0xFF
    header = 4 + 4 * ndim
    if len(raw) < 4 or int.from_bytes(raw[:4], "big") != magic:
        found = raw[:4].hex() if len(raw) >= 4 else "nothing"
        raise UserError(
            f"{path} is not an idx file of the expected kind (magic 0x{magic:08x}, "
            f"found 0x{found}); {fix}"
        )
    if len(raw) < header:
        raise UserError(f"{path} is truncated inside its header; {fix}")
    dims = tuple(int.from_bytes(raw[4 + 4 * i : 8 + 4 * i], "big") for i in range(ndim))
    expected = header + math.prod(dims)
    if len(raw) != expected:
        state = "truncated" if len(raw) < expected else "longer than its header says"
        raise UserError(
            f"{path} is {state} ({len(raw)} bytes, expected {expected} for dimensions "
            f"{dims}); {fix}"
        )
    if dims[0] == 0:
        raise UserError(f"{path} holds no items; {fix}")
    return np.frombuffer(raw, dtype=np.uint8, offset=header).reshape(dims)


def _is_file(path: Path) -> bool:
    """``path.is_file()``, but ``False`` where a directory cannot be searched."""
    try:
        return path.is_file()
    except OSError:
        return False


def _idx_file(folder: Path, gz_name: str) -> Path | None:
    for candidate in (folder / gz_name, folder / gz_name[: -len(".gz")]):
        if _is_file(candidate):
            return candidate
    return None


def _idx_candidate_dirs(name: str, data_dir: Path | None) -> list[Path]:
    """Folders searched for the idx files, in order.

    ``data_dir`` itself, ``data_dir/raw``, ``data_dir/<name>`` and torchvision's
    ``data_dir/<FashionMNIST|MNIST>/raw``; then the cache dir's ``<name>`` and
    torchvision layouts (not the cache dir itself, which both datasets share); then
    :data:`SYSTEM_DIRS`.
    """
    tv = _TORCHVISION_FOLDERS[name]
    dirs: list[Path] = []
    if data_dir is not None:
        dirs += [data_dir, data_dir / "raw", data_dir / name, data_dir / tv / "raw"]
    cache = default_cache_dir()
    dirs += [cache / name, cache / tv / "raw"]
    dirs += list(SYSTEM_DIRS.get(name, ()))
    return dirs


def _find_idx(name: str, data_dir: Path | None) -> tuple[Path, tuple[Path, ...]] | None:
    for folder in _idx_candidate_dirs(name, data_dir):
        files = [_idx_file(folder, f) for f in IDX_FILES]
        if all(f is not None for f in files):
            return folder, tuple(f for f in files if f is not None)
    return None


def _partial_idx_hint(name: str, data_dir: Path | None) -> str:
    for folder in _idx_candidate_dirs(name, data_dir):
        missing = [f for f in IDX_FILES if _idx_file(folder, f) is None]
        if 0 < len(missing) < len(IDX_FILES):
            return f" ({folder} lacks {', '.join(missing)})"
    return ""


def _describe_dir(folder: Path) -> str:
    note = _SYSTEM_DIR_NOTES.get(folder)
    if note is None and any(folder in dirs for dirs in SYSTEM_DIRS.values()):
        note = "system copy"
    return f"{folder} ({note})" if note else str(folder)


def _load_idx_split(name: str, folder: Path, files: tuple[Path, ...]) -> Split:
    train_x, train_y, test_x, test_y = files
    class_names = FASHION_MNIST_CLASSES if name == "fashion-mnist" else DIGIT_CLASSES
    parts = []
    for img_path, lab_path in ((train_x, train_y), (test_x, test_y)):
        images = _read_idx(img_path, _IDX_IMAGES_MAGIC)
        labels = _read_idx(lab_path, _IDX_LABELS_MAGIC)
        if len(labels) != len(images):
            raise UserError(
                f"{lab_path} has {len(labels)} labels but {img_path} has {len(images)} "
                f"images; replace both with matching copies from one download"
            )
        if int(labels.max()) >= len(class_names):
            raise UserError(
                f"{lab_path} has label {int(labels.max())} but {name} has "
                f"{len(class_names)} classes; replace it with the genuine {name} file"
            )
        parts.append((images, labels))
    (tr_x, tr_y), (te_x, te_y) = parts
    if tr_x.shape[1:] != te_x.shape[1:]:
        raise UserError(
            f"train images in {folder} are {tr_x.shape[1]}x{tr_x.shape[2]} but test "
            f"images are {te_x.shape[1]}x{te_x.shape[2]}; replace the files with one "
            "genuine set"
        )
    source = _describe_dir(folder)
    hflip = name == "fashion-mnist"

    def make(x: np.ndarray, y: np.ndarray) -> Dataset:
        return Dataset(
            name=name,
            images=x[..., np.newaxis].copy(),  # own, writeable memory
            labels=y.astype(np.int64),
            class_names=class_names,
            source=source,
            hflip_ok=hflip,
        )

    return Split(train=make(tr_x, tr_y), test=make(te_x, te_y))


def _download_idx(name: str, root: Path) -> None:
    tvd = _torchvision_datasets()
    cls = tvd.FashionMNIST if name == "fashion-mnist" else tvd.MNIST
    try:
        root.mkdir(parents=True, exist_ok=True)
        cls(root=str(root), train=True, download=True)
    except UserError:
        raise
    except Exception as exc:  # network, HTTP, checksum and disk errors alike
        raise UserError(
            f"could not download {name} ({_reason(exc)}); put the four files "
            f"{', '.join(IDX_FILES)} in a directory DIR and pass --data-dir DIR"
        ) from exc


def _load_idx_dataset(name: str, data_dir: Path | None, download: bool) -> Split:
    found = _find_idx(name, data_dir)
    if found is None and download:
        root = data_dir if data_dir is not None else default_cache_dir()
        _download_idx(name, root)
        found = _find_idx(name, data_dir)
        if found is None:
            raw = root / _TORCHVISION_FOLDERS[name] / "raw"
            raise UserError(
                f"downloading {name} into {root} did not leave the files "
                f"{', '.join(IDX_FILES)} in {raw}; put them in a directory DIR and "
                "pass --data-dir DIR"
            )
    if found is None:
        where = f"in {data_dir} or the cache {default_cache_dir()}"
        if data_dir is None:
            where = f"in the cache {default_cache_dir()}"
        raise UserError(
            f"no {name} files found {where}{_partial_idx_hint(name, data_dir)}; put "
            f"{', '.join(IDX_FILES)} (gzipped or not) in a directory DIR and pass "
            "--data-dir DIR, or drop --no-download"
        )
    return _load_idx_split(name, *found)


# ------------------------------------------------------------------------- CIFAR-10


class _ForbiddenGlobalError(pickle.UnpicklingError):
    """A pickle asked for a global outside the CIFAR-10 allow-list."""

    def __init__(self, module: str, name: str) -> None:
        super().__init__(f"{module}.{name}")
        self.qualified = f"{module}.{name}"


def _latin1_encode(text: object, encoding: object = "latin1") -> bytes:
    """``_codecs.encode`` for latin1 only, as pickle protocols 0-2 use it for bytes."""
    if not isinstance(text, str) or encoding not in ("latin1", "latin-1"):
        raise pickle.UnpicklingError(
            "_codecs.encode is only admitted for latin1 strings"
        )
    return text.encode("latin1")


def _numpy_reconstruct() -> Any:
    for module in ("numpy._core.multiarray", "numpy.core.multiarray"):
        try:
            return importlib.import_module(module)._reconstruct
        except (ImportError, AttributeError):  # pragma: no cover - numpy version
            continue
    raise pickle.UnpicklingError("numpy's _reconstruct is missing")  # pragma: no cover


class _CifarUnpickler(pickle.Unpickler):
    """Unpickler that only rebuilds numpy arrays, as genuine CIFAR-10 batches need.

    Admits ``numpy.core.multiarray._reconstruct`` (either spelling), ``numpy.ndarray``
    and ``numpy.dtype``; also ``_codecs.encode`` restricted to latin1 strings, which is
    how Python 3 writes ``bytes`` at pickle protocols 0-2. Everything else raises
    :class:`_ForbiddenGlobalError`.
    """

    def find_class(self, module: str, name: str) -> Any:
        if name == "_reconstruct" and module in (
            "numpy.core.multiarray",
            "numpy._core.multiarray",
        ):
            return _numpy_reconstruct()
        if module == "numpy" and name == "ndarray":
            return np.ndarray
        if module == "numpy" and name == "dtype":
            return np.dtype
        if module == "_codecs" and name == "encode":
            return _latin1_encode
        raise _ForbiddenGlobalError(module, name)


def _unpickle_cifar(path: Path) -> dict[str, Any]:
    """Load one CIFAR-10 pickle with :class:`_CifarUnpickler`; keys become ``str``."""
    fix = f"delete {path} (or its folder) and fetch CIFAR-10 again"
    try:
        with path.open("rb") as fh:
            obj = _CifarUnpickler(fh, encoding="bytes").load()
    except _ForbiddenGlobalError as exc:
        raise UserError(
            f"refusing to load {path}: it is not a genuine CIFAR-10 batch (it asks for "
            f"{exc.qualified}); {fix}"
        ) from exc
    except OSError as exc:
        raise UserError(f"cannot read {path} ({_reason(exc)}); {fix}") from exc
    except Exception as exc:  # UnpicklingError, EOFError, ValueError, MemoryError, ...
        raise UserError(
            f"{path} is corrupt or truncated ({_reason(exc)}); {fix}"
        ) from exc
    if not isinstance(obj, dict):
        raise UserError(f"{path} does not hold a CIFAR-10 dictionary; {fix}")
    out: dict[str, Any] = {}
    for key, value in obj.items():
        if isinstance(key, bytes):
            key = key.decode("latin1")
        if isinstance(key, str):
            out[key] = value
    return out


def _read_cifar_batch(path: Path) -> tuple[np.ndarray, np.ndarray]:
    """One batch as ``(N, 32, 32, 3)`` uint8 images and ``(N,)`` int64 labels."""
    fix = f"delete {path} (or its folder) and fetch CIFAR-10 again"
    batch = _unpickle_cifar(path)
    data, labels = batch.get("data"), batch.get("labels")
    if not isinstance(data, np.ndarray) or data.dtype != np.uint8 or data.ndim != 2:
        raise UserError(f"{path} has no uint8 'data' matrix; {fix}")
    if data.shape[1] != _CIFAR_PIXELS or data.shape[0] == 0:
        raise UserError(
            f"{path} has data of shape {data.shape}, expected (N, 3072); {fix}"
        )
    if not isinstance(labels, (list, tuple)) or len(labels) != data.shape[0]:
        raise UserError(
            f"{path} needs a list of {data.shape[0]} labels under 'labels'; {fix}"
        )
    if not all(type(v) is int and 0 <= v <= 9 for v in labels):
        raise UserError(f"{path} has labels that are not whole numbers 0-9; {fix}")
    images = data.reshape(-1, 3, 32, 32).transpose(0, 2, 3, 1)
    return np.ascontiguousarray(images), np.asarray(labels, dtype=np.int64)


def _read_cifar_meta(path: Path) -> tuple[str, ...]:
    if not _is_file(path):
        return CIFAR10_CLASSES
    names = _unpickle_cifar(path).get("label_names")
    if not isinstance(names, (list, tuple)) or len(names) != len(CIFAR10_CLASSES):
        return CIFAR10_CLASSES
    decoded = [
        n.decode("utf-8", "replace") if isinstance(n, bytes) else n for n in names
    ]
    if not all(isinstance(n, str) and n for n in decoded):
        return CIFAR10_CLASSES
    return tuple(decoded)


def _is_cifar_folder(folder: Path) -> bool:
    return all(_is_file(folder / b) for b in _CIFAR_BATCHES)


def _cifar_sources(data_dir: Path | None) -> list[tuple[str, Path]]:
    """``("folder" | "archive", path)`` candidates in search order."""
    found: list[tuple[str, Path]] = []
    for base in _search_bases(data_dir):
        for folder in (base / CIFAR_FOLDER, base):
            if _is_cifar_folder(folder):
                found.append(("folder", folder))
                break
        if _is_file(base / CIFAR_ARCHIVE):
            found.append(("archive", base / CIFAR_ARCHIVE))
    return found


def _check_member(archive: Path, member: tarfile.TarInfo, target: Path) -> bool:
    """Whether to extract ``member``; raises UserError for anything hostile."""
    name = member.name
    refuse = f"refusing to extract {archive}: member {name!r}"
    fix = "delete the archive and download the genuine CIFAR-10 again"
    parts = Path(name).parts
    if (
        name.startswith(("/", "\\"))
        or Path(name).is_absolute()
        or (parts and ":" in parts[0])
    ):
        raise UserError(f"{refuse} has an absolute path; {fix}")
    if ".." in parts or ".." in name.replace("\\", "/").split("/"):
        raise UserError(f"{refuse} climbs out with '..'; {fix}")
    if not (member.isfile() or member.isdir()):
        raise UserError(f"{refuse} is a link or device, not a plain file; {fix}")
    resolved = (target / name).resolve()
    if resolved != target.resolve() and target.resolve() not in resolved.parents:
        raise UserError(f"{refuse} would land outside {target}; {fix}")
    if member.isfile() and member.size > _CIFAR_MAX_MEMBER_BYTES:
        raise UserError(f"{refuse} is implausibly large ({member.size} bytes); {fix}")
    return (
        member.isfile() and name.replace("\\", "/").removeprefix("./") in _CIFAR_MEMBERS
    )


def _extract_cifar(archive: Path, parent: Path) -> Path:
    """Safely extract the batches of ``archive`` into ``parent/cifar-10-batches-py``.

    Every member is checked before anything is written; only the expected member
    names are extracted (with tarfile's ``"data"`` filter too), into a temporary
    folder that is renamed into place once complete.
    """
    final = parent / CIFAR_FOLDER
    if _is_cifar_folder(final):
        return final
    fix = f"delete {archive} and download it again"
    try:
        parent.mkdir(parents=True, exist_ok=True)
        tmp = Path(tempfile.mkdtemp(prefix=".cifar-extract-", dir=parent))
    except OSError as exc:
        raise UserError(
            f"cannot extract {archive} into {parent} ({_reason(exc)}); make it "
            "writable or set FEATVSLEARN_CACHE to a writable directory"
        ) from exc
    try:
        try:
            with tarfile.open(archive, "r:gz") as tar:
                members = tar.getmembers()
                wanted = [m for m in members if _check_member(archive, m, tmp)]
                for member in wanted:
                    if hasattr(tarfile, "data_filter"):
                        tar.extract(member, path=tmp, set_attrs=False, filter="data")
                    else:  # pragma: no cover - Python without extraction filters
                        tar.extract(member, path=tmp, set_attrs=False)
        except (tarfile.TarError, OSError, EOFError, zlib.error) as exc:
            raise UserError(
                f"{archive} is corrupt or truncated ({_reason(exc)}); {fix}"
            ) from exc
        if not _is_cifar_folder(tmp / CIFAR_FOLDER):
            raise UserError(
                f"{archive} lacks {CIFAR_FOLDER}/ with data_batch_1..5 and test_batch; "
                f"{fix}"
            )
        try:
            os.replace(tmp / CIFAR_FOLDER, final)
        except OSError:
            if not _is_cifar_folder(final):  # not a concurrent extraction that won
                raise
    except OSError as exc:
        raise UserError(
            f"cannot extract {archive} into {parent} ({_reason(exc)}); make it "
            "writable or set FEATVSLEARN_CACHE to a writable directory"
        ) from exc
    finally:
        shutil.rmtree(tmp, ignore_errors=True)
    return final


def _extraction_parent(archive: Path) -> Path:
    parent = archive.parent
    return parent if os.access(parent, os.W_OK) else default_cache_dir()


def _download_cifar(root: Path) -> Path:
    tvd = _torchvision_datasets()
    try:
        root.mkdir(parents=True, exist_ok=True)
        tvd.utils.download_url(
            tvd.CIFAR10.url, str(root), filename=CIFAR_ARCHIVE, md5=tvd.CIFAR10.tgz_md5
        )
    except UserError:
        raise
    except Exception as exc:
        raise UserError(
            f"could not download cifar10 ({_reason(exc)}); put {CIFAR_ARCHIVE} or the "
            f"{CIFAR_FOLDER}/ folder in a directory DIR and pass --data-dir DIR"
        ) from exc
    archive = root / CIFAR_ARCHIVE
    if not archive.is_file():
        raise UserError(
            f"downloading cifar10 left no {archive}; put {CIFAR_ARCHIVE} in a "
            "directory DIR and pass --data-dir DIR"
        )
    return archive


def _load_cifar(data_dir: Path | None, download: bool) -> Split:
    sources = _cifar_sources(data_dir)
    if sources:
        kind, path = sources[0]
        if kind == "folder":
            folder, source = path, str(path)
        else:
            folder = _extract_cifar(path, _extraction_parent(path))
            source = f"{folder} (extracted from {path})"
    elif download:
        root = data_dir if data_dir is not None else default_cache_dir()
        archive = _download_cifar(root)
        folder = _extract_cifar(archive, _extraction_parent(archive))
        source = f"{folder} (downloaded through torchvision)"
    else:
        where = f"the cache {default_cache_dir()}"
        if data_dir is not None:
            where = f"{data_dir} or {where}"
        raise UserError(
            f"no CIFAR-10 found in {where}; put the {CIFAR_FOLDER}/ folder or "
            f"{CIFAR_ARCHIVE} in a directory DIR and pass --data-dir DIR, or drop "
            "--no-download"
        )
    class_names = _read_cifar_meta(folder / "batches.meta")
    train = [_read_cifar_batch(folder / b) for b in _CIFAR_TRAIN_BATCHES]
    test_x, test_y = _read_cifar_batch(folder / "test_batch")

    def make(x: np.ndarray, y: np.ndarray) -> Dataset:
        return Dataset("cifar10", x, y, class_names, source, hflip_ok=True)

    return Split(
        train=make(
            np.concatenate([x for x, _ in train]), np.concatenate([y for _, y in train])
        ),
        test=make(test_x, test_y),
    )


# --------------------------------------------------------------------- image folders


def _list_dir(folder: Path) -> list[os.DirEntry[str]]:
    try:
        with os.scandir(folder) as it:
            return sorted(
                (e for e in it if not e.name.startswith(".")), key=lambda e: e.name
            )
    except OSError as exc:
        raise UserError(
            f"cannot read folder {folder} ({_reason(exc)}); check its permissions"
        ) from exc


def _class_dirs(folder: Path) -> dict[str, Path]:
    return {e.name: Path(e.path) for e in _list_dir(folder) if e.is_dir()}


def _image_files(class_dir: Path) -> list[Path]:
    """Every non-hidden file under ``class_dir``, recursively, without following folder links.

    Files that are not images Pillow can read (a README, a .csv, a corrupt PNG) are then
    skipped by the caller and named in ``Dataset.skipped``, so the user sees them.
    """
    files: list[Path] = []
    for entry in _list_dir(class_dir):
        path = Path(entry.path)
        if entry.is_dir(follow_symlinks=False):
            files += _image_files(path)
        elif entry.is_file():
            files.append(path)
    return files


def _probe(path: Path) -> tuple[tuple[int, int], bool] | None:
    """``((H, W), is_grey)`` from the header, or ``None`` if Pillow cannot open it."""
    from PIL import Image

    try:
        with Image.open(path) as im:
            w, h = im.size
            grey = _is_grey(im)
    except (OSError, ValueError, Image.DecompressionBombError, SyntaxError):
        return None
    if w < 1 or h < 1 or w * h > _MAX_IMAGE_PIXELS:
        return None
    return (h, w), grey


def _is_grey(im: Any) -> bool:
    """Whether a PIL image is greyscale: a grey mode, or a palette of greys only."""
    if im.mode in _GREY_MODES:
        return True
    if im.mode == "P":
        palette = im.getpalette("RGB") or []
        return all(
            palette[i] == palette[i + 1] == palette[i + 2]
            for i in range(0, len(palette) - 2, 3)
        )
    return False


def _grey_array(im: Any) -> np.ndarray:
    """A grey-mode PIL image as ``(H, W)`` uint8; 16-bit data is scaled down."""
    if im.mode in ("1", "L", "LA", "La"):
        return np.asarray(im.convert("L"), dtype=np.uint8)
    arr = np.asarray(im)
    if im.mode.startswith("I;16") or (im.mode == "I" and arr.size and arr.max() > 255):
        arr = np.clip(arr.astype(np.float64), 0, 65535) / 257.0
    elif im.mode == "F" and arr.size and float(np.nanmax(arr)) <= 1.0:
        arr = arr.astype(np.float64) * 255.0
    return np.clip(np.rint(np.nan_to_num(arr.astype(np.float64))), 0, 255).astype(
        np.uint8
    )


def _decode(path: Path, size_hw: tuple[int, int], colour: bool) -> np.ndarray | None:
    """Decode, convert and resize one image to ``(H, W, C)`` uint8; ``None`` if bad."""
    from PIL import Image

    h, w = size_hw
    try:
        with Image.open(path) as im:
            if im.size[0] * im.size[1] > _MAX_IMAGE_PIXELS:
                return None
            im.load()
            if im.mode == "P" and _is_grey(im):
                pic = im.convert("L")
            elif im.mode in _GREY_MODES:
                pic = Image.fromarray(_grey_array(im), mode="L")
            else:
                pic = im.convert("RGB")
            if pic.size != (w, h):
                pic = pic.resize((w, h), Image.Resampling.BILINEAR)
            arr = np.asarray(pic, dtype=np.uint8)
    except (OSError, ValueError, Image.DecompressionBombError, SyntaxError):
        return None
    if arr.ndim == 2:
        arr = arr[..., np.newaxis]
    if colour and arr.shape[2] == 1:
        arr = np.repeat(arr, 3, axis=2)
    return arr


def _target_size(sizes: Sequence[tuple[int, int]]) -> tuple[int, int]:
    (h, w), _ = collections.Counter(sizes).most_common(1)[0]
    if h > MAX_FOLDER_SIDE or w > MAX_FOLDER_SIDE:
        scale = min(MAX_FOLDER_SIDE / h, MAX_FOLDER_SIDE / w)
        h, w = max(1, round(h * scale)), max(1, round(w * scale))
    return h, w


def _load_folder(path: Path, test_fraction: float, seed: int) -> Split:
    root = expand_user(path, "--dataset")
    name = root.resolve().name or str(root)
    top = _class_dirs(root)
    has_train, has_test = "train" in top, "test" in top
    if has_train != has_test:
        present, absent = ("train", "test") if has_train else ("test", "train")
        raise UserError(
            f"{root} has {present}/ but no {absent}/; add {absent}/ with the same "
            f"class folders, or rename {present}/ so the class folders sit directly "
            f"in {root}"
        )
    sides = (
        {"train": _class_dirs(top["train"]), "test": _class_dirs(top["test"])}
        if has_train
        else {"all": top}
    )
    class_names = tuple(sorted(set().union(*(set(d) for d in sides.values()))))
    where = f"{root}/train" if has_train else str(root)
    if len(class_names) < 2:
        found = f"only {class_names[0]!r}" if class_names else "none"
        raise UserError(
            f"{where} needs one sub-folder per class and at least 2 classes (found "
            f"{found}); put each class's images in its own sub-folder"
        )
    index = {c: k for k, c in enumerate(class_names)}

    # Pass 1: headers only, to pick the common size and grey-or-colour without decoding.
    # (side, path, label, (H, W)) of every file Pillow could identify
    entries: list[tuple[str, Path, int, tuple[int, int]]] = []
    skipped: dict[str, list[str]] = {side: [] for side in sides}
    any_colour = False
    for side, classes in sides.items():
        for cls, cdir in classes.items():
            for file in _image_files(cdir):
                probe = _probe(file)
                if probe is None:
                    skipped[side].append(file.relative_to(root).as_posix())
                    continue
                size_hw, grey = probe
                any_colour |= not grey
                entries.append((side, file, index[cls], size_hw))
    if not entries:
        raise UserError(
            f"no readable images found under {root}; put images in one sub-folder "
            "per class"
        )
    target = _target_size([e[3] for e in entries])
    channels = 3 if any_colour else 1

    # Pass 2: decode and resize into one array per side.
    datasets: dict[str, Dataset] = {}
    for side in sides:
        mine = [e for e in entries if e[0] == side]
        images = np.empty((len(mine), *target, channels), dtype=np.uint8)
        labels = np.empty(len(mine), dtype=np.int64)
        n = 0
        for _, file, label, _ in mine:
            arr = _decode(file, target, colour=any_colour)
            if arr is None:
                skipped[side].append(file.relative_to(root).as_posix())
                continue
            images[n], labels[n] = arr, label
            n += 1
        datasets[side] = Dataset(
            name=name,
            images=np.ascontiguousarray(images[:n]),
            labels=labels[:n].copy(),
            class_names=class_names,
            source=f"image folder {root}",
            hflip_ok=True,
            skipped=tuple(sorted(skipped[side])),
        )

    first = "train" if has_train else "all"
    counts = np.bincount(datasets[first].labels, minlength=len(class_names))
    empty = [class_names[k] for k in np.flatnonzero(counts == 0)]
    if empty:
        folder = (top["train"] if has_train else root) / empty[0]
        if not folder.is_dir():
            raise UserError(
                f"class {empty[0]!r} is in {root}/test but has no folder {folder}; "
                "add it with training images or remove the class from test/"
            )
        raise UserError(
            f"class folder {folder} has no readable images; add images to it or "
            "remove the folder"
        )
    if has_train:
        if len(datasets["test"]) == 0:
            raise UserError(
                f"{root}/test has no readable images; put test images in its class "
                "folders"
            )
        return Split(train=datasets["train"], test=datasets["test"])
    return _split_dataset(datasets["all"], test_fraction, seed)


# ---------------------------------------------------------------------- public entry


def load_split(
    name: str,
    *,
    data_dir: Path | None = None,
    download: bool = True,
    seed: int = 0,
    test_fraction: float = 0.25,
) -> Split:
    """Load a dataset by name, or an image folder by path, as a train/test split.

    Args:
        name: one of :data:`DATASET_NAMES`, or the path of an existing directory with
            one sub-folder of images per class (names win over same-named folders;
            write ``./digits`` for such a folder).
        data_dir: where to look first for downloaded files (and where to download to).
        download: whether fetching from the network through torchvision is allowed.
        seed: seed of the stratified split (digits and folders without train/test).
        test_fraction: share of images in the test set where a split is made, in (0, 1).

    Returns:
        ``Split`` of two :class:`Dataset` with ``(N, H, W, C)`` uint8 images and
        ``(N,)`` int64 labels. Fashion-MNIST, MNIST and CIFAR-10 use their official
        splits (60000/10000, 60000/10000 and 50000/10000 images).

    Image folders: a folder is read as ``<root>/<class>/<images>`` or, if it has both
    ``train/`` and ``test/``, as ``<root>/{train,test}/<class>/<images>`` (classes
    are the union of both sides; a class may be absent from test). Class names are
    the sorted sub-folder names. Files with image extensions (png, jpg, bmp, gif,
    tiff, webp, ...) are read, hidden files and other extensions silently ignored;
    files Pillow cannot decode (or over its decompression-bomb limit) are listed in
    ``skipped`` (train's and test's each list their own; a random split lists them on
    train only). If every image is greyscale the result has ``C=1``, else everything
    becomes RGB (``C=3``, alpha dropped; 16-bit grey is scaled to 8 bits). All images
    are resized with bilinear resampling to the most common size ``(H, W)``, scaled
    down (keeping the aspect ratio) to fit in 64x64 when larger.

    Raises:
        UserError: unknown name, missing data (with ``download=False``) or a failed
            download, corrupt or hostile files, a bad folder layout, or a split that
            cannot give every class an image on both sides.
    """
    if (
        isinstance(test_fraction, bool)
        or not isinstance(test_fraction, numbers.Real)
        or not (0.0 < float(test_fraction) < 1.0)
    ):
        raise UserError(
            "test fraction must be between 0 and 1 (exclusive), got "
            f"{test_fraction!r}; pass e.g. 0.25"
        )
    data_dir = _check_data_dir(data_dir)
    if name == "digits":
        return _split_dataset(_load_digits(), float(test_fraction), seed)
    if name in ("fashion-mnist", "mnist"):
        return _load_idx_dataset(name, data_dir, download)
    if name == "cifar10":
        return _load_cifar(data_dir, download)
    path = expand_user(str(name), "--dataset") if str(name).strip() else None
    if path is not None and path.is_dir():
        return _load_folder(path, float(test_fraction), seed)
    extra = f" ({str(path)!r} is a file, not a directory)" if path is not None and path.is_file() else ""
    raise UserError(
        f"unknown dataset {str(name)!r}{extra}; use one of "
        f"{', '.join(DATASET_NAMES)} or the path of a directory with one sub-folder "
        "of images per class"
    )


def dataset_availability(data_dir: Path | None = None) -> list[Availability]:
    """Where each of :data:`DATASET_NAMES` would be loaded from offline.

    Only looks at the file system: never downloads or extracts anything.
    """
    data_dir = expand_user(data_dir, "--data-dir") if data_dir is not None else None
    cache = default_cache_dir()
    result = [Availability("digits", True, None, "bundled with scikit-learn")]
    for name in ("fashion-mnist", "mnist"):
        found = _find_idx(name, data_dir)
        if found is not None:
            folder = found[0]
            system = any(folder in dirs for dirs in SYSTEM_DIRS.values())
            note = "idx files found" + (
                f" ({_SYSTEM_DIR_NOTES.get(folder, 'system copy')})" if system else ""
            )
            result.append(Availability(name, True, str(folder), note))
        else:
            result.append(
                Availability(
                    name,
                    False,
                    None,
                    "not found; will download through torchvision into "
                    f"{data_dir or cache}, or pass --data-dir DIR holding the four "
                    "idx files",
                )
            )
    sources = _cifar_sources(data_dir)
    if sources:
        kind, path = sources[0]
        note = (
            f"{CIFAR_FOLDER} folder"
            if kind == "folder"
            else f"{CIFAR_ARCHIVE} (extracted on first use)"
        )
        result.append(Availability("cifar10", True, str(path), note))
    else:
        result.append(
            Availability(
                "cifar10",
                False,
                None,
                "not found; will download through torchvision into "
                f"{data_dir or cache}, or pass --data-dir DIR holding {CIFAR_FOLDER}/ "
                f"or {CIFAR_ARCHIVE}",
            )
        )
    return result


__all__ = [
    "DATASET_NAMES",
    "SYSTEM_DIRS",
    "Availability",
    "Dataset",
    "Split",
    "dataset_availability",
    "default_cache_dir",
    "load_split",
    "subsample",
]
