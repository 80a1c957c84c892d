"""Downloads through torchvision, for the built-in datasets that are not on disk.

torchvision is imported only when a download is needed. Each function takes the
folder to download into and leaves the files where the loaders in
:mod:`featvslearn.datasets.idx` and :mod:`featvslearn.datasets.cifar` look for them.
"""

from __future__ import annotations

import importlib
from pathlib import Path
from types import ModuleType

from featvslearn.datasets.cifar import CIFAR_ARCHIVE, CIFAR_FOLDER
from featvslearn.datasets.core import error_reason
from featvslearn.datasets.idx import IDX_FILES
from featvslearn.errors import UserError


def torchvision_datasets() -> ModuleType:
    """Import ``torchvision.datasets`` lazily (tests replace this function)."""
    try:
        return importlib.import_module("torchvision.datasets")
    except ImportError as exc:  # pragma: no cover - torchvision is a dependency
        raise UserError(
            f"cannot download without torchvision ({error_reason(exc)}); install "
            "torchvision or pass --data-dir with the files"
        ) from exc


def download_idx(name: str, root: Path) -> None:
    """Download ``"fashion-mnist"`` or ``"mnist"`` into ``root/<FashionMNIST|MNIST>/raw``.

    ``root`` is created if needed. Raises UserError naming the reason (network, HTTP,
    checksum or disk) and where to put the files instead.
    """
    tvd = torchvision_datasets()
    cls = tvd.FashionMNIST if name == "fashion-mnist" else tvd.MNIST
    try:
        root.mkdir(parents=True, exist_ok=True)
        cls(root=str(root), train=True, download=True)
    except UserError:
        raise
    except Exception as exc:  # network, HTTP, checksum and disk errors alike
        raise UserError(
            f"could not download {name} ({error_reason(exc)}); put the four files "
            f"{', '.join(IDX_FILES)} in a directory DIR and pass --data-dir DIR"
        ) from exc


def download_cifar(root: Path) -> Path:
    """Download ``cifar-10-python.tar.gz`` (checksum verified) into ``root``; return its path.

    ``root`` is created if needed; the archive is not extracted. Raises UserError
    naming the reason and where to put the files instead.
    """
    tvd = torchvision_datasets()
    try:
        root.mkdir(parents=True, exist_ok=True)
        tvd.utils.download_url(
            tvd.CIFAR10.url, str(root), filename=CIFAR_ARCHIVE, md5=tvd.CIFAR10.tgz_md5
        )
    except UserError:
        raise
    except Exception as exc:
        raise UserError(
            f"could not download cifar10 ({error_reason(exc)}); put {CIFAR_ARCHIVE} or "
            f"the {CIFAR_FOLDER}/ folder in a directory DIR and pass --data-dir DIR"
        ) from exc
    archive = root / CIFAR_ARCHIVE
    if not archive.is_file():
        raise UserError(
            f"downloading cifar10 left no {archive}; put {CIFAR_ARCHIVE} in a "
            "directory DIR and pass --data-dir DIR"
        )
    return archive
