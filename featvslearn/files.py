"""Output files: checked before any work starts, written atomically (temp file, then rename)."""

from __future__ import annotations

import contextlib
import os
import tempfile
from pathlib import Path

from featvslearn.errors import UserError


def expand_user(path: str | Path, option: str) -> Path:
    """``path`` with a leading ``~`` or ``~user`` expanded; an unknown user is a ``UserError``."""
    try:
        return Path(path).expanduser()
    except RuntimeError:
        raise UserError(
            f"{option} {str(path)!r}: cannot expand '~' (no such user's home); give the full path"
        ) from None


def check_output_path(path: Path, suffixes: tuple[str, ...], option: str) -> Path:
    """Check that ``path`` can be written later, before any training starts.

    The parent folder must exist and be writable, the path must not be a folder, and its
    suffix must be one of ``suffixes``. Returns the path, resolved.
    """
    path = expand_user(path, option)
    if suffixes and path.suffix.lower() not in suffixes:
        raise UserError(f"{option} {path}: the file name must end in {' or '.join(suffixes)}")
    if path.is_dir():
        raise UserError(f"{option} {path} is a folder; give a file name such as {path / ('results' + suffixes[0])}")
    parent = path.parent if str(path.parent) else Path(".")
    if not parent.is_dir():
        raise UserError(f"{option} {path}: folder {parent} does not exist; create it first (mkdir -p {parent})")
    if not os.access(parent, os.W_OK | os.X_OK):
        raise UserError(f"{option} {path}: folder {parent} is not writable; choose another folder")
    if path.exists() and not os.access(path, os.W_OK):
        raise UserError(f"{option} {path} exists and is read-only; choose another file name")
    return path.resolve()


def plots_folder(report_path: Path) -> Path:
    """Where a report's PNG files go: a folder beside it, named after it (``out.md`` → ``out-plots/``)."""
    return report_path.with_name(f"{report_path.stem}-plots")


def check_plots_folder(report_path: Path, option: str) -> Path:
    """Check, before any work, that the report's plots folder can be created or written.

    It may not exist yet (it is created beside the report, whose folder
    :func:`check_output_path` found writable); if it exists it must be a writable folder.
    Returns the folder.
    """
    folder = plots_folder(report_path)
    if folder.exists() and not folder.is_dir():
        raise UserError(f"{option} {report_path}: {folder} is a file, but the report's plots go in a folder "
                        "of that name; move the file or choose another report name")
    if folder.is_dir() and not os.access(folder, os.W_OK | os.X_OK):
        raise UserError(f"{option} {report_path}: the plots folder {folder} is not writable; "
                        "choose another report name or folder")
    return folder


def make_folder(folder: Path) -> bool:
    """Create ``folder`` (and its parents) if needed; True when it did not exist before.

    An operating-system error becomes a one-line ``UserError``.
    """
    if folder.is_dir():
        return False
    try:
        folder.mkdir(parents=True)
    except FileExistsError:
        if not folder.is_dir():
            raise UserError(f"cannot create folder {folder}: a file has that name; move it or choose another "
                            "report name") from None
        return False
    except OSError as exc:
        raise UserError(f"cannot create folder {folder} ({exc.strerror or exc}); choose another folder") from None
    return True


def atomic_write_bytes(path: Path, data: bytes) -> None:
    """Write ``data`` to ``path`` so that readers see the old file or the whole new one.

    The bytes go to a temporary file in the same folder, are flushed to disk, then renamed
    over ``path``. On any failure (a full disk, Ctrl-C) the temporary file is removed; an
    operating-system error (disk full, read-only folder) becomes a one-line ``UserError``.
    """
    path = Path(path)
    try:
        _write_then_rename(path, data)
    except OSError as exc:
        reason = exc.strerror or str(exc)
        raise UserError(f"cannot write {path} ({reason}); free some disk space or choose another folder") from None


def _write_then_rename(path: Path, data: bytes) -> None:
    fd, tmp_name = tempfile.mkstemp(prefix=f".{path.name}.", suffix=".tmp", dir=path.parent)
    try:
        with os.fdopen(fd, "wb") as f:
            f.write(data)
            f.flush()
            os.fsync(f.fileno())
        os.chmod(tmp_name, 0o644)
        os.replace(tmp_name, path)
    except BaseException:
        with contextlib.suppress(FileNotFoundError):
            os.unlink(tmp_name)
        raise


def atomic_write_text(path: Path, text: str) -> None:
    """Write UTF-8 ``text`` to ``path`` atomically (see :func:`atomic_write_bytes`)."""
    atomic_write_bytes(path, text.encode("utf-8"))


def default_cache_dir() -> Path:
    """featvslearn's cache: where downloads and extractions go, and the machine's calibration.

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
