"""Reading files that may be hostile: a restricted unpickler and safe tar extraction.

CIFAR-10 ships as Python pickles inside a ``tar.gz`` archive, and both formats can do
harm when read naively: a pickle can name any importable callable (``os.system``) and
have it run, and an archive member can be an absolute path, climb out with ``..``, or be
a link or device. Everything that guards against that lives here:

* :class:`RestrictedUnpickler` rebuilds numpy arrays and plain containers and raises
  :class:`ForbiddenGlobalError` for any other global, before it is called.
* :func:`check_member` refuses an archive member that could write outside the target
  folder or is implausibly large; :func:`safe_extract` checks every member before
  writing anything and then extracts only the expected plain files.
"""

from __future__ import annotations

import importlib
import pickle
import tarfile
import zlib
from pathlib import Path
from typing import Any

import numpy as np

from featvslearn.datasets.core import error_reason
from featvslearn.errors import UserError

# --------------------------------------------------------------------------- pickles


class ForbiddenGlobalError(pickle.UnpicklingError):
    """A pickle asked for a global outside the allow-list of :class:`RestrictedUnpickler`.

    ``qualified`` is the ``"module.name"`` it asked for.
    """

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


class RestrictedUnpickler(pickle.Unpickler):
    """Unpickler that only rebuilds numpy arrays, as genuine CIFAR-10 batches need.

    Admits ``numpy.core.multiarray._reconstruct`` (either spelling), ``numpy.ndarray``
    and ``numpy.dtype``; also ``_codecs.encode`` restricted to latin1 strings, which is
    how Python 3 writes ``bytes`` at pickle protocols 0-2. Everything else raises
    :class:`ForbiddenGlobalError` without being imported or called.
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
        raise ForbiddenGlobalError(module, name)


# -------------------------------------------------------------------------- archives


def check_member(
    archive: Path,
    member: tarfile.TarInfo,
    target: Path,
    *,
    what: str,
    max_member_bytes: int,
) -> None:
    """Refuse a member of ``archive`` that is unsafe to extract into ``target``.

    Args:
        archive: the archive's path, for the message.
        member: one entry of the archive.
        target: the folder it would be extracted into.
        what: the dataset the archive should hold, for the fix (``"CIFAR-10"``).
        max_member_bytes: the largest plain file admitted.

    Raises:
        UserError: the member has an absolute path, a ``..`` component, is anything
            but a plain file or folder (a symbolic or hard link, a device, a FIFO),
            would resolve outside ``target``, or is a file over ``max_member_bytes``.
    """
    name = member.name
    refuse = f"refusing to extract {archive}: member {name!r}"
    fix = f"delete the archive and download the genuine {what} again"
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
    if member.isfile() and member.size > max_member_bytes:
        raise UserError(f"{refuse} is implausibly large ({member.size} bytes); {fix}")


def member_path(member: tarfile.TarInfo) -> str:
    """A member's name with ``/`` separators and no leading ``./``."""
    return member.name.replace("\\", "/").removeprefix("./")


def safe_extract(
    archive: Path,
    target: Path,
    wanted: frozenset[str],
    *,
    what: str,
    max_member_bytes: int,
) -> None:
    """Extract the plain files of the ``tar.gz`` ``archive`` named in ``wanted`` into ``target``.

    Every member is checked with :func:`check_member` before anything is written, so a
    hostile archive is refused whole. Then only the plain files whose
    :func:`member_path` is in ``wanted`` are extracted under the existing folder
    ``target`` (with tarfile's ``"data"`` filter too, and without the archive's owners
    and permissions); every other member is ignored.

    Raises:
        UserError: a hostile member (see :func:`check_member`), or an archive that is
            corrupt or truncated or cannot be written out.
    """
    fix = f"delete {archive} and download it again"
    try:
        with tarfile.open(archive, "r:gz") as tar:
            members = tar.getmembers()
            for member in members:
                check_member(
                    archive, member, target, what=what, max_member_bytes=max_member_bytes
                )
            chosen = [m for m in members if m.isfile() and member_path(m) in wanted]
            for member in chosen:
                if hasattr(tarfile, "data_filter"):
                    tar.extract(member, path=target, set_attrs=False, filter="data")
                else:  # pragma: no cover - Python without extraction filters
                    tar.extract(member, path=target, set_attrs=False)
    except (tarfile.TarError, OSError, EOFError, zlib.error) as exc:
        raise UserError(
            f"{archive} is corrupt or truncated ({error_reason(exc)}); {fix}"
        ) from exc
