"""The datasets by name: load one as a train/test split, or say where each would come from.

:func:`load_split` takes a built-in name or an image folder's path and hands it to the
loader of its source; downloads are wired in here, so the source modules only read
files.
"""

from __future__ import annotations

import difflib
import functools
import numbers
import os
import stat
from pathlib import Path

from featvslearn.datasets import cifar, digits, idx
from featvslearn.datasets.core import Availability, Split, did_you_mean, name_key, split_dataset
from featvslearn.datasets.download import download_cifar, download_idx
from featvslearn.datasets.folder import load_folder
from featvslearn.errors import UserError
from featvslearn.files import expand_user

DATASET_NAMES: tuple[str, ...] = ("digits", *idx.IDX_DATASETS, "cifar10")
_BY_KEY = {name_key(name): name for name in DATASET_NAMES}  # cifar-10, Fashion_MNIST, MNIST, ... too
_FOLDER_HINT = "a folder with one sub-folder of images per class"


def _folder_state(path: Path) -> tuple[str, str]:
    """``("folder", "")``, ``("missing", "")``, ``("file", "")`` or ``("unreadable", reason)`` for ``path``."""
    try:
        if not stat.S_ISDIR(os.stat(path).st_mode):
            return "file", ""
        with os.scandir(path) as entries:
            next(entries, None)
    except (FileNotFoundError, NotADirectoryError):
        return "missing", ""
    except PermissionError:
        return "unreadable", "permission denied"
    except OSError as exc:
        return "unreadable", exc.strerror or str(exc)
    except ValueError:  # a NUL byte: no such path can exist
        return "missing", ""
    return "folder", ""


def check_data_dir(data_dir: Path | str | None, *, must_exist: bool = True) -> Path | None:
    """``--data-dir`` with ``~`` expanded, checked to be a readable folder; ``None`` stays ``None``.

    ``compare``, ``scaling``, ``ablate`` and ``datasets`` all check it here. With
    ``must_exist=False`` a folder that does not exist yet passes (a download creates it).
    Raises ``UserError`` naming the fix.
    """
    if data_dir is None:
        return None
    path = expand_user(data_dir, "--data-dir")
    state, reason = _folder_state(path)
    shown = repr(str(path))
    if state == "missing" and must_exist:
        raise UserError(f"--data-dir {shown}: no such folder; create it (mkdir -p {shown}) or pass the folder "
                        "that holds the dataset's files")
    if state == "file":
        raise UserError(f"--data-dir {shown} is a file, not a folder; pass the folder that holds the dataset's "
                        "files (or the folder to download into)")
    if state == "unreadable":
        raise UserError(f"--data-dir {shown} cannot be read ({reason}); make it readable "
                        f"(chmod u+rx {shown}) or pass another folder")
    return path


def _looks_like_path(text: str) -> bool:
    return "/" in text or os.sep in text or bool(os.altsep and os.altsep in text) or text.startswith((".", "~"))


def _sibling_hint(path: Path) -> str:
    """A folder beside the missing ``path`` whose name is close to it, as a did-you-mean; else ``""``."""
    parent = path.parent
    try:
        with os.scandir(parent) as entries:
            names = [entry.name for _, entry in zip(range(1000), entries, strict=False)
                     if entry.is_dir() and not entry.name.startswith(".")]
    except (OSError, ValueError):
        return ""
    close = difflib.get_close_matches(path.name, names, n=1, cutoff=0.75)
    return f" (did you mean {str(parent / close[0])!r}?)" if close else ""


def _file_hint(path: Path) -> str:
    """What to pass instead of a dataset file given as ``--dataset``."""
    name = path.name.lower()
    if name.startswith("cifar-10"):
        return f"for the CIFAR-10 archive pass --dataset cifar10 --data-dir {str(path.parent)!r}"
    if "idx" in name or "ubyte" in name:
        return f"for MNIST-style idx files pass --dataset mnist (or fashion-mnist) --data-dir {str(path.parent)!r}"
    if name.endswith((".zip", ".tar", ".tar.gz", ".tgz", ".tar.bz2", ".tar.xz", ".7z", ".rar")):
        return "extract the archive and pass the extracted folder"
    return f"pass {_FOLDER_HINT}"


def resolve_dataset(text: str | Path) -> str | Path:
    """What ``--dataset text`` means: a built-in dataset's name, or the path of an image folder.

    Text with a path separator, or starting with ``.`` or ``~``, is a path. Other text is a
    name: case, ``-`` and ``_`` do not matter (``cifar-10``, ``FashionMNIST``, ``MNIST``), and a
    built-in name wins over a folder of the same name (write ``./digits`` for the folder). Text
    that names no built-in dataset but exists on disk is a path too. A path must be a readable
    folder. Raises ``UserError`` for an unknown name (with close matches), a missing path, a
    file, or a folder that cannot be read.
    """
    text = str(text).strip()
    names = ", ".join(DATASET_NAMES)
    if not text:
        raise UserError(f"--dataset is empty; use one of {names}, or the path of {_FOLDER_HINT}")
    if not _looks_like_path(text):
        if name_key(text) in _BY_KEY:
            return _BY_KEY[name_key(text)]
        if not os.path.lexists(text):
            raise UserError(f"--dataset {text!r}: unknown dataset{did_you_mean(text, DATASET_NAMES)}, and no folder "
                            f"of that name here; use one of {names}, or the path of {_FOLDER_HINT}")
    path = expand_user(text, "--dataset")
    state, reason = _folder_state(path)
    shown = repr(str(path) if text.startswith("~") else text)
    if state == "missing":
        where = "" if path.is_absolute() else f" (relative to {str(Path.cwd())!r})"
        raise UserError(f"--dataset: no folder {shown}{where}{_sibling_hint(path)}; check the path, or use a "
                        f"built-in dataset: {names}")
    if state == "file":
        raise UserError(f"--dataset {shown} is a file, not a folder; {_file_hint(path)}")
    if state == "unreadable":
        raise UserError(f"--dataset {shown}: the folder cannot be read ({reason}); make it readable "
                        f"(chmod -R u+rX {shown}) or copy the images somewhere you can read")
    return path


def load_split(
    name: str,
    *,
    data_dir: Path | None = None,
    download: bool = True,
    seed: int = 0,
    test_fraction: float = 0.25,
    image_size: int | None = None,
    fit: str | None = None,
) -> Split:
    """Load a dataset by name, or an image folder by path, as a train/test split.

    Args:
        name: one of :data:`DATASET_NAMES` (or a spelling :func:`resolve_dataset` accepts,
            such as ``cifar-10``), or the path of an existing directory with one sub-folder
            of images per class (names win over same-named folders; write ``./digits`` for
            such a folder).
        data_dir: where to look first for downloaded files (and where to download to).
        download: whether fetching from the network through torchvision is allowed.
        seed: seed of the stratified split (digits and folders without train/test).
        test_fraction: share of images in the test set where a split is made, in (0, 1).
        image_size, fit: for image folders only: the side of the square every image is
            brought to (None: the folder's rule) and how one of another aspect ratio is
            made to fit (``pad``, ``crop``, ``squash``; None: ``pad``).

    Returns:
        ``Split`` of two :class:`Dataset` with ``(N, H, W, C)`` uint8 images and
        ``(N,)`` int64 labels. Fashion-MNIST, MNIST and CIFAR-10 use their official
        splits (60000/10000, 60000/10000 and 50000/10000 images).

    Image folders (details in :func:`featvslearn.datasets.folder.load_folder`): a
    folder is read as ``<root>/<class>/<images>`` or, if it has both ``train/`` and
    ``test/``, as ``<root>/{train,test}/<class>/<images>`` (classes are the union of
    both sides; a class may be absent from test). Class names are the sorted
    sub-folder names. Every file in a class folder is tried, whatever its extension;
    files Pillow cannot read (not an image, corrupt, or over its decompression-bomb
    limit) are skipped and listed in ``skipped`` (train's and test's each list their
    own; a random split lists them on train only). Hidden files and loose files beside
    the class folders are ignored. If every image is greyscale the result has ``C=1``,
    else everything becomes RGB (``C=3``, alpha dropped; 16-bit grey is scaled to 8
    bits). All images are brought to one size, chosen from the set of the files' sizes
    only (:func:`featvslearn.datasets.folder.target_size`) unless ``image_size`` is given:
    one of another aspect ratio is padded (scaled to fit, centred on bands of the mean
    colour of all the images), cropped or squashed; ``sizing`` records what was done.

    Raises:
        UserError: unknown name, missing data (with ``download=False``) or a failed
            download, corrupt or hostile files, a bad folder layout, a split that
            cannot give every class an image on both sides, or ``image_size`` or ``fit``
            for a built-in dataset.
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
    data_dir = check_data_dir(data_dir, must_exist=False)
    source = resolve_dataset(name)
    if isinstance(source, Path):
        return load_folder(source, float(test_fraction), seed, fit=fit or "pad", image_size=image_size)
    if image_size is not None or fit is not None:
        option = "--image-size" if image_size is not None else "--fit"
        raise UserError(f"{option} applies to image folders; the images of {source} all have one size already, so "
                        f"leave {option} out")
    if source == "digits":
        return split_dataset(digits.load_digits(), float(test_fraction), seed)
    if source in idx.IDX_DATASETS:
        fetch = functools.partial(download_idx, source) if download else None
        return idx.load_idx(source, data_dir, fetch)
    return cifar.load_cifar(data_dir, download_cifar if download else None)


def dataset_availability(data_dir: Path | None = None) -> list[Availability]:
    """Where each of :data:`DATASET_NAMES` would be loaded from offline, in that order.

    Only looks at the file system: never downloads or extracts anything.
    """
    data_dir = check_data_dir(data_dir)
    return [
        digits.availability(),
        *(idx.availability(name, data_dir) for name in idx.IDX_DATASETS),
        cifar.availability(data_dir),
    ]
