"""Fashion-MNIST and MNIST: the four idx files, gzipped or not, parsed with numpy.

The files are looked for in ``--data-dir`` (and the layouts torchvision leaves there),
then in the cache, then in read-only system copies such as Debian's
``/usr/share/datasets/fashion-mnist``. Nothing here touches the network: a caller that
allows downloads passes ``fetch`` (see :mod:`featvslearn.datasets.download`).
"""

from __future__ import annotations

import gzip
import math
import zlib
from collections.abc import Callable, Mapping
from pathlib import Path
from types import MappingProxyType

import numpy as np

from featvslearn.datasets.core import (
    OWN_SPLIT,
    Availability,
    Dataset,
    Split,
    default_cache_dir,
    error_reason,
    is_file,
    place_for,
)
from featvslearn.datasets.digits import DIGIT_CLASSES
from featvslearn.errors import UserError

IDX_DATASETS: tuple[str, ...] = ("fashion-mnist", "mnist")

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

IDX_FILES: tuple[str, ...] = (
    "train-images-idx3-ubyte.gz",
    "train-labels-idx1-ubyte.gz",
    "t10k-images-idx3-ubyte.gz",
    "t10k-labels-idx1-ubyte.gz",
)
#: Each dataset's home page.
IDX_HOMES: Mapping[str, str] = MappingProxyType({
    "fashion-mnist": "https://github.com/zalandoresearch/fashion-mnist",
    "mnist": "http://yann.lecun.com/exdb/mnist/",
})
#: Where torchvision downloads the files from (its first mirror); each file name is appended.
IDX_DOWNLOAD_FROM: Mapping[str, str] = MappingProxyType({
    "fashion-mnist": "http://fashion-mnist.s3-website.eu-central-1.amazonaws.com/",
    "mnist": "https://ossci-datasets.s3.amazonaws.com/mnist/",
})
#: The size in bytes of each of :data:`IDX_FILES` as served (Debian's dataset-fashion-mnist
#: recompressed them without the file name in the gzip header: each 23 or 24 bytes smaller).
IDX_FILE_BYTES: Mapping[str, tuple[int, ...]] = MappingProxyType({
    "fashion-mnist": (26_421_880, 29_515, 4_422_102, 5_148),
    "mnist": (9_912_422, 28_881, 1_648_877, 4_542),
})
_TORCHVISION_FOLDERS: Mapping[str, str] = MappingProxyType(
    {"fashion-mnist": "FashionMNIST", "mnist": "MNIST"}
)
IDX_IMAGES_MAGIC = 0x00000803
IDX_LABELS_MAGIC = 0x00000801


def read_idx(path: Path, magic: int) -> np.ndarray:
    """Parse an idx file (gzipped if the name ends in ``.gz``) of unsigned bytes.

    Returns a ``uint8`` array of the dimensions in the header: ``(N, H, W)`` for
    images (magic ``0x00000803``) or ``(N,)`` for labels (magic ``0x00000801``).
    Raises UserError naming the file for an unreadable, truncated, overlong or empty
    file, or one with another magic number.
    """
    fix = f"delete {path} and download it again"
    try:
        if path.name.endswith(".gz"):
            with gzip.open(path, "rb") as fh:
                raw = fh.read()
        else:
            raw = path.read_bytes()
    except (OSError, EOFError, zlib.error) as exc:
        raise UserError(f"cannot read {path} ({error_reason(exc)}); {fix}") from exc
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


# ------------------------------------------------------------------------ discovery


def _idx_file(folder: Path, gz_name: str) -> Path | None:
    for candidate in (folder / gz_name, folder / gz_name[: -len(".gz")]):
        if is_file(candidate):
            return candidate
    return None


def _candidate_dirs(name: str, data_dir: Path | None) -> list[Path]:
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


def find_idx(name: str, data_dir: Path | None) -> tuple[Path, tuple[Path, ...]] | None:
    """The first searched folder holding all four idx files of ``name``, and their paths.

    The paths come in the order of :data:`IDX_FILES` (train images, train labels, test
    images, test labels), each gzipped or not. ``None`` when no folder has all four.
    """
    for folder in _candidate_dirs(name, data_dir):
        files = [_idx_file(folder, f) for f in IDX_FILES]
        if all(f is not None for f in files):
            return folder, tuple(f for f in files if f is not None)
    return None


def _partial_hint(name: str, data_dir: Path | None) -> str:
    for folder in _candidate_dirs(name, data_dir):
        missing = [f for f in IDX_FILES if _idx_file(folder, f) is None]
        if 0 < len(missing) < len(IDX_FILES):
            return f" ({folder} lacks {', '.join(missing)})"
    return ""


def _is_system_dir(folder: Path) -> bool:
    return any(folder in dirs for dirs in SYSTEM_DIRS.values())


def _describe_dir(folder: Path) -> str:
    note = _SYSTEM_DIR_NOTES.get(folder)
    if note is None and _is_system_dir(folder):
        note = "system copy"
    return f"{folder} ({note})" if note else str(folder)


# -------------------------------------------------------------------------- loading


def _load_split(name: str, folder: Path, files: tuple[Path, ...]) -> Split:
    train_x, train_y, test_x, test_y = files
    class_names = FASHION_MNIST_CLASSES if name == "fashion-mnist" else DIGIT_CLASSES
    parts = []
    for img_path, lab_path in ((train_x, train_y), (test_x, test_y)):
        images = read_idx(img_path, IDX_IMAGES_MAGIC)
        labels = read_idx(lab_path, IDX_LABELS_MAGIC)
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

    return Split(train=make(tr_x, tr_y), test=make(te_x, te_y), origin=OWN_SPLIT)


def load_idx(
    name: str, data_dir: Path | None, fetch: Callable[[Path], None] | None
) -> Split:
    """Load ``"fashion-mnist"`` or ``"mnist"`` with its official train/test split.

    Args:
        name: one of :data:`IDX_DATASETS`.
        data_dir: the folder searched first (already expanded), or ``None``.
        fetch: downloads the files into the folder it is given (``data_dir``, else the
            cache); ``None`` where downloads are not allowed.

    Returns:
        ``(N, 28, 28, 1)`` uint8 images and ``(N,)`` int64 labels, 60000 and 10000 for
        the genuine files.

    Raises:
        UserError: no files found (naming a partial set), a fetch that left none, or
            corrupt files.
    """
    found = find_idx(name, data_dir)
    if found is None and fetch is not None:
        root = data_dir if data_dir is not None else default_cache_dir()
        fetch(root)
        found = find_idx(name, data_dir)
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
            f"no {name} files found {where}{_partial_hint(name, data_dir)}; put "
            f"{', '.join(IDX_FILES)} (gzipped or not) in a directory DIR and pass "
            "--data-dir DIR, or drop --no-download"
        )
    return _load_split(name, *found)


def availability(name: str, data_dir: Path | None) -> Availability:
    """Where ``name`` would be loaded from offline, and what to fetch for a machine without a
    network; only looks at the file system."""
    found = find_idx(name, data_dir)
    if found is not None:
        folder = found[0]
        note = "idx files found"
        if _is_system_dir(folder):
            note += f" ({_SYSTEM_DIR_NOTES.get(folder, 'system copy')})"
        location: str | None = str(folder)
    else:
        target = data_dir if data_dir is not None else default_cache_dir()
        location = None
        note = (
            f"not found; will download through torchvision into {target}, or pass "
            "--data-dir DIR holding the four idx files"
        )
    return Availability(
        name,
        found is not None,
        location,
        note,
        home=IDX_HOMES[name],
        download_from=IDX_DOWNLOAD_FROM[name],
        download_bytes=sum(IDX_FILE_BYTES[name]),
        files=IDX_FILES,
        place=place_for(data_dir, default_cache_dir() / name),
    )
