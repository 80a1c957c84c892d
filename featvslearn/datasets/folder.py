"""A folder of images with one sub-folder per class, optionally under ``train/`` and ``test/``.

Images are read with Pillow (imported when first needed), converted to one colour mode
and resized to one size; files Pillow cannot read are skipped and named in
``Dataset.skipped`` rather than dropped unseen.
"""

from __future__ import annotations

import collections
import os
from collections.abc import Sequence
from pathlib import Path
from typing import Any

import numpy as np

from featvslearn.datasets.core import Dataset, Split, error_reason, split_dataset
from featvslearn.errors import UserError
from featvslearn.files import expand_user

#: Images are resized to the folder's most common size, scaled down to fit this box.
MAX_FOLDER_SIDE = 64
#: Pillow's default decompression-bomb limit; larger images are skipped as unreadable.
MAX_IMAGE_PIXELS = 89_478_485
_GREY_MODES: frozenset[str] = frozenset(
    {"1", "L", "LA", "La", "I", "F", "I;16", "I;16L", "I;16B", "I;16N"}
)


# ------------------------------------------------------------------------- listing


def _list_dir(folder: Path) -> list[os.DirEntry[str]]:
    try:
        with os.scandir(folder) as it:
            return sorted(
                (e for e in it if not e.name.startswith(".")), key=lambda e: e.name
            )
    except OSError as exc:
        raise UserError(
            f"cannot read folder {folder} ({error_reason(exc)}); check its permissions"
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


# ------------------------------------------------------------------------ decoding


def _probe(path: Path) -> tuple[tuple[int, int], bool] | None:
    """``((H, W), is_grey)`` from the header, or ``None`` if Pillow cannot open it."""
    from PIL import Image

    try:
        with Image.open(path) as im:
            w, h = im.size
            grey = _is_grey(im)
    except (OSError, ValueError, Image.DecompressionBombError, SyntaxError):
        return None
    if w < 1 or h < 1 or w * h > MAX_IMAGE_PIXELS:
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
            if im.size[0] * im.size[1] > MAX_IMAGE_PIXELS:
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


# ------------------------------------------------------------------------- loading


def load_folder(path: Path, test_fraction: float, seed: int) -> Split:
    """Load an image folder as a train/test split.

    Args:
        path: ``<root>/<class>/<images>``, or ``<root>/{train,test}/<class>/<images>``
            when the folder has both ``train/`` and ``test/`` (then nothing else in
            ``<root>`` is read). Classes are the sorted union of the class folder
            names of both sides; a class may be absent from test. Images in folders
            nested inside a class folder count for that class.
        test_fraction: share of images put in the test set when there is no
            ``train/`` and ``test/``, in (0, 1); the split is seeded and stratified.
        seed: seed of that split.

    Returns:
        ``Split`` of two :class:`Dataset` named after the folder, with ``(N, H, W, C)``
        uint8 images and ``(N,)`` int64 labels. If every image is greyscale ``C`` is
        1, else every image becomes RGB (``C`` = 3: alpha dropped, grey replicated);
        16-bit grey is scaled to 8 bits. All images are resized (bilinear) to the most
        common ``(H, W)``, scaled down keeping the aspect ratio to fit in
        :data:`MAX_FOLDER_SIDE` x :data:`MAX_FOLDER_SIDE`.

    Which files are read: every file in a class folder is tried, whatever its
    extension. One Pillow cannot read (a ``notes.txt``, a ``.csv``, a corrupt or
    truncated image, one over :data:`MAX_IMAGE_PIXELS`) is skipped and listed,
    relative to the folder, in ``Dataset.skipped``: train's and test's each list their
    own, and a random split lists them all on train. Not read and not listed: hidden
    files and folders (names starting with ``.``), links to folders inside a class
    folder, and loose files beside the class folders.

    Raises:
        UserError: only one of ``train/`` and ``test/``; fewer than 2 classes; no
            readable image at all, in a class folder, or in ``test/``; a class only in
            ``test/``; a class too small for the split; an unreadable folder.
    """
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
    return split_dataset(datasets["all"], test_fraction, seed)
