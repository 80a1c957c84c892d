"""The datasets by name: load one as a train/test split, or say where each would come from.

:func:`load_split` takes a built-in name or an image folder's path and hands it to the
loader of its source; downloads are wired in here, so the source modules only read
files.
"""

from __future__ import annotations

import functools
import numbers
from pathlib import Path

from featvslearn.datasets import cifar, digits, idx
from featvslearn.datasets.core import Availability, Split, split_dataset
from featvslearn.datasets.download import download_cifar, download_idx
from featvslearn.datasets.folder import load_folder
from featvslearn.errors import UserError
from featvslearn.files import expand_user

DATASET_NAMES: tuple[str, ...] = ("digits", *idx.IDX_DATASETS, "cifar10")


def _check_data_dir(data_dir: Path | None) -> Path | None:
    if data_dir is None:
        return None
    data_dir = expand_user(data_dir, "--data-dir")
    if data_dir.exists() and not data_dir.is_dir():
        raise UserError(
            f"--data-dir {str(data_dir)!r} is a file, not a directory; pass a directory"
        )
    return data_dir


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
    bits). All images are resized with bilinear resampling to the most common size
    ``(H, W)``, scaled down (keeping the aspect ratio) to fit in 64x64 when larger.

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
        return split_dataset(digits.load_digits(), float(test_fraction), seed)
    if name in idx.IDX_DATASETS:
        fetch = functools.partial(download_idx, name) if download else None
        return idx.load_idx(name, data_dir, fetch)
    if name == "cifar10":
        return cifar.load_cifar(data_dir, download_cifar if download else None)
    path = expand_user(str(name), "--dataset") if str(name).strip() else None
    if path is not None and path.is_dir():
        return load_folder(path, float(test_fraction), seed)
    extra = f" ({str(path)!r} is a file, not a directory)" if path is not None and path.is_file() else ""
    raise UserError(
        f"unknown dataset {str(name)!r}{extra}; use one of "
        f"{', '.join(DATASET_NAMES)} or the path of a directory with one sub-folder "
        "of images per class"
    )


def dataset_availability(data_dir: Path | None = None) -> list[Availability]:
    """Where each of :data:`DATASET_NAMES` would be loaded from offline, in that order.

    Only looks at the file system: never downloads or extracts anything.
    """
    data_dir = expand_user(data_dir, "--data-dir") if data_dir is not None else None
    return [
        digits.availability(),
        *(idx.availability(name, data_dir) for name in idx.IDX_DATASETS),
        cifar.availability(data_dir),
    ]
