"""CIFAR-10: the ``cifar-10-batches-py`` folder of pickled batches, or its ``tar.gz`` archive.

The folder is looked for in ``--data-dir`` and the cache; an archive is extracted
safely beside itself (or into the cache when that folder is read-only). Batches are
read with :class:`~featvslearn.datasets.untrusted.RestrictedUnpickler`, which only
admits numpy's array reconstruction. Nothing here touches the network: a caller that
allows downloads passes ``fetch`` (see :mod:`featvslearn.datasets.download`).
"""

from __future__ import annotations

import os
import shutil
import tempfile
from collections.abc import Callable
from pathlib import Path
from typing import Any

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
    search_bases,
)
from featvslearn.datasets.untrusted import (
    ForbiddenGlobalError,
    RestrictedUnpickler,
    safe_extract,
)
from featvslearn.errors import UserError

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
CIFAR_FOLDER = "cifar-10-batches-py"
CIFAR_ARCHIVE = "cifar-10-python.tar.gz"
CIFAR_HOME = "https://www.cs.toronto.edu/~kriz/cifar.html"
#: Where torchvision downloads the archive from (this folder's address, then its name), and its size in bytes.
CIFAR_DOWNLOAD_FROM = "https://www.cs.toronto.edu/~kriz/"
CIFAR_ARCHIVE_BYTES = 170_498_071
_TRAIN_BATCHES: tuple[str, ...] = tuple(f"data_batch_{i}" for i in range(1, 6))
_BATCHES: tuple[str, ...] = (*_TRAIN_BATCHES, "test_batch")
#: The archive members that are extracted; anything else in the archive is ignored.
ARCHIVE_MEMBERS: frozenset[str] = frozenset(
    f"{CIFAR_FOLDER}/{n}" for n in (*_BATCHES, "batches.meta", "readme.html")
)
#: Larger archive members are refused (a genuine batch is about 30 MB).
MAX_MEMBER_BYTES = 256 * 1024 * 1024
_PIXELS = 3 * 32 * 32


# -------------------------------------------------------------------------- batches


def _unpickle(path: Path) -> dict[str, Any]:
    """Load one CIFAR-10 pickle with :class:`RestrictedUnpickler`; keys become ``str``."""
    fix = f"delete {path} (or its folder) and fetch CIFAR-10 again"
    try:
        with path.open("rb") as fh:
            obj = RestrictedUnpickler(fh, encoding="bytes").load()
    except ForbiddenGlobalError as exc:
        raise UserError(
            f"refusing to load {path}: it is not a genuine CIFAR-10 batch (it asks for "
            f"{exc.qualified}); {fix}"
        ) from exc
    except OSError as exc:
        raise UserError(f"cannot read {path} ({error_reason(exc)}); {fix}") from exc
    except Exception as exc:  # UnpicklingError, EOFError, ValueError, MemoryError, ...
        raise UserError(
            f"{path} is corrupt or truncated ({error_reason(exc)}); {fix}"
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


def read_batch(path: Path) -> tuple[np.ndarray, np.ndarray]:
    """One batch file as ``(N, 32, 32, 3)`` uint8 images and ``(N,)`` int64 labels.

    Raises UserError naming the file for a hostile pickle (one that asks for any global
    but numpy's array reconstruction), a corrupt one, or one without a ``(N, 3072)``
    uint8 ``data`` matrix and ``N`` whole-number labels 0-9.
    """
    fix = f"delete {path} (or its folder) and fetch CIFAR-10 again"
    batch = _unpickle(path)
    data, labels = batch.get("data"), batch.get("labels")
    if not isinstance(data, np.ndarray) or data.dtype != np.uint8 or data.ndim != 2:
        raise UserError(f"{path} has no uint8 'data' matrix; {fix}")
    if data.shape[1] != _PIXELS or data.shape[0] == 0:
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


def _read_meta(path: Path) -> tuple[str, ...]:
    """The ten class names of ``batches.meta``; the official names if it is absent or unusable."""
    if not is_file(path):
        return CIFAR10_CLASSES
    names = _unpickle(path).get("label_names")
    if not isinstance(names, (list, tuple)) or len(names) != len(CIFAR10_CLASSES):
        return CIFAR10_CLASSES
    decoded = [
        n.decode("utf-8", "replace") if isinstance(n, bytes) else n for n in names
    ]
    if not all(isinstance(n, str) and n for n in decoded):
        return CIFAR10_CLASSES
    return tuple(decoded)


# ------------------------------------------------------------------------ discovery


def _is_cifar_folder(folder: Path) -> bool:
    return all(is_file(folder / b) for b in _BATCHES)


def cifar_sources(data_dir: Path | None) -> list[tuple[str, Path]]:
    """``("folder" | "archive", path)`` candidates in search order.

    Per searched base (``data_dir``, then the cache): a complete batches folder (the
    base's ``cifar-10-batches-py/`` or the base itself), then the base's archive.
    """
    found: list[tuple[str, Path]] = []
    for base in search_bases(data_dir):
        for folder in (base / CIFAR_FOLDER, base):
            if _is_cifar_folder(folder):
                found.append(("folder", folder))
                break
        if is_file(base / CIFAR_ARCHIVE):
            found.append(("archive", base / CIFAR_ARCHIVE))
    return found


# ------------------------------------------------------------------------ extraction


def extract_archive(archive: Path, parent: Path) -> Path:
    """Safely extract the batches of ``archive`` into ``parent/cifar-10-batches-py``.

    Every member is checked before anything is written; only the expected member
    names are extracted (see :func:`~featvslearn.datasets.untrusted.safe_extract`),
    into a temporary folder that is renamed into place once complete. An existing
    complete folder is returned as it is. Returns the batches folder.
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
            f"cannot extract {archive} into {parent} ({error_reason(exc)}); make it "
            "writable or set FEATVSLEARN_CACHE to a writable directory"
        ) from exc
    try:
        safe_extract(
            archive,
            tmp,
            ARCHIVE_MEMBERS,
            what="CIFAR-10",
            max_member_bytes=MAX_MEMBER_BYTES,
        )
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
            f"cannot extract {archive} into {parent} ({error_reason(exc)}); make it "
            "writable or set FEATVSLEARN_CACHE to a writable directory"
        ) from exc
    finally:
        shutil.rmtree(tmp, ignore_errors=True)
    return final


def _extraction_parent(archive: Path) -> Path:
    parent = archive.parent
    return parent if os.access(parent, os.W_OK) else default_cache_dir()


# -------------------------------------------------------------------------- loading


def load_cifar(data_dir: Path | None, fetch: Callable[[Path], Path] | None) -> Split:
    """Load CIFAR-10 with its official split (50000 train and 10000 test images).

    Args:
        data_dir: the folder searched first (already expanded), or ``None``.
        fetch: downloads the archive into the folder it is given (``data_dir``, else
            the cache) and returns its path; ``None`` where downloads are not allowed.

    Returns:
        ``(N, 32, 32, 3)`` uint8 images (HWC, RGB) and ``(N,)`` int64 labels; class
        names from ``batches.meta``, else the official ones.

    Raises:
        UserError: nothing found, a hostile or corrupt archive or batch.
    """
    sources = cifar_sources(data_dir)
    if sources:
        kind, path = sources[0]
        if kind == "folder":
            folder, source = path, str(path)
        else:
            folder = extract_archive(path, _extraction_parent(path))
            source = f"{folder} (extracted from {path})"
    elif fetch is not None:
        root = data_dir if data_dir is not None else default_cache_dir()
        archive = fetch(root)
        folder = extract_archive(archive, _extraction_parent(archive))
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
    class_names = _read_meta(folder / "batches.meta")
    train = [read_batch(folder / b) for b in _TRAIN_BATCHES]
    test_x, test_y = read_batch(folder / "test_batch")

    def make(x: np.ndarray, y: np.ndarray) -> Dataset:
        return Dataset("cifar10", x, y, class_names, source, hflip_ok=True)

    return Split(
        train=make(
            np.concatenate([x for x, _ in train]), np.concatenate([y for _, y in train])
        ),
        test=make(test_x, test_y),
        origin=OWN_SPLIT,
    )


def availability(data_dir: Path | None) -> Availability:
    """Where CIFAR-10 would be loaded from offline, and what to fetch for a machine without a
    network; never extracts anything."""
    sources = cifar_sources(data_dir)
    if sources:
        kind, path = sources[0]
        note = (
            f"{CIFAR_FOLDER} folder"
            if kind == "folder"
            else f"{CIFAR_ARCHIVE} (extracted on first use)"
        )
        location: str | None = str(path)
    else:
        target = data_dir if data_dir is not None else default_cache_dir()
        location = None
        note = (
            f"not found; will download through torchvision into {target}, or pass "
            f"--data-dir DIR holding {CIFAR_FOLDER}/ or {CIFAR_ARCHIVE}"
        )
    return Availability(
        "cifar10",
        bool(sources),
        location,
        note,
        home=CIFAR_HOME,
        download_from=CIFAR_DOWNLOAD_FROM,
        download_bytes=CIFAR_ARCHIVE_BYTES,
        files=(CIFAR_ARCHIVE,),
        place=place_for(data_dir, default_cache_dir()),
    )
