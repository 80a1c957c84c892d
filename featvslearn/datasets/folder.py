"""A folder of images with one sub-folder per class, optionally under ``train/`` and ``test/``.

Images are read with Pillow (imported when first needed), converted to one colour mode
and brought to one size; files Pillow cannot read are skipped and named in
``Dataset.skipped`` rather than dropped unseen.

Images of another aspect ratio than the size chosen are padded to it by default, then
scaled: squashing would stretch every object in them (a round cell becomes an oval, a
tall bottle a short one), which the features and the CNN would then learn as if it were
part of the class; cropping would cut off whatever lies near the long edges. Padding keeps
the whole image undistorted, at the cost of flat bands along two sides, filled with the
mean colour of the image's own border so that the bands continue its background instead
of drawing a new edge. What was done is recorded in ``Dataset.sizing``.
"""

from __future__ import annotations

import collections
import os
from collections.abc import Sequence
from pathlib import Path
from typing import Any

import numpy as np

from featvslearn.datasets.core import Dataset, ImageSizing, Split, error_reason, split_dataset
from featvslearn.errors import UserError
from featvslearn.files import expand_user

#: Images are resized to the folder's most common size, scaled down to fit this box.
MAX_FOLDER_SIDE = 64
#: How images of another aspect ratio than the size chosen are made to fit, before scaling.
FIT_METHODS: tuple[str, ...] = ("pad", "crop", "squash")
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


def _fitted_shape(h: int, w: int, size_hw: tuple[int, int], method: str) -> tuple[int, int]:
    """The ``(H, W)`` an ``h`` x ``w`` image is padded or cropped to, to take the aspect ratio
    of ``size_hw`` (its own size when it has that ratio already, to the nearest pixel)."""
    target_h, target_w = size_hw
    wider = w * target_h >= h * target_w
    if method == "crop":
        return (h, max(1, round(h * target_w / target_h))) if wider else (max(1, round(w * target_h / target_w)), w)
    return (max(1, round(w * target_h / target_w)), w) if wider else (h, max(1, round(h * target_w / target_h)))


def fit_aspect(image: np.ndarray, size_hw: tuple[int, int], method: str) -> np.ndarray:
    """``image`` ``(h, w, C)`` uint8 given the aspect ratio of ``size_hw``, not yet scaled.

    ``"pad"``: centred on bands of the mean colour of its outermost pixels; ``"crop"``: its
    centre; ``"squash"`` (and an image with that ratio already): the image itself, for the
    scaling to stretch.
    """
    h, w = image.shape[:2]
    if method == "squash":
        return image
    new_h, new_w = _fitted_shape(h, w, size_hw, method)
    if (new_h, new_w) == (h, w):
        return image
    if method == "crop":
        top, left = (h - new_h) // 2, (w - new_w) // 2
        return np.ascontiguousarray(image[top:top + new_h, left:left + new_w])
    border = np.concatenate([image[0], image[-1], image[:, 0], image[:, -1]])
    fill = np.rint(border.astype(np.float64).mean(axis=0)).astype(np.uint8)
    out = np.empty((new_h, new_w, image.shape[2]), dtype=np.uint8)
    out[...] = fill
    top, left = (new_h - h) // 2, (new_w - w) // 2
    out[top:top + h, left:left + w] = image
    return out


def _changes_aspect(h: int, w: int, size_hw: tuple[int, int]) -> bool:
    """Whether an ``h`` x ``w`` image has another aspect ratio than ``size_hw`` (to the nearest pixel)."""
    return _fitted_shape(h, w, size_hw, "pad") != (h, w)


def _decode(path: Path, size_hw: tuple[int, int], colour: bool, method: str = "pad") -> np.ndarray | None:
    """Decode, convert, fit (:func:`fit_aspect`) and resize one image to ``(H, W, C)`` uint8; ``None`` if bad."""
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
            arr = np.asarray(pic, dtype=np.uint8)
    except (OSError, ValueError, Image.DecompressionBombError, SyntaxError):
        return None
    if arr.ndim == 2:
        arr = arr[..., np.newaxis]
    arr = fit_aspect(arr, size_hw, method)
    if arr.shape[:2] != (h, w):
        pic = Image.fromarray(arr[..., 0] if arr.shape[2] == 1 else arr)
        arr = np.asarray(pic.resize((w, h), Image.Resampling.BILINEAR), dtype=np.uint8)
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


def _sizing(sizes: Sequence[tuple[int, int]], size_hw: tuple[int, int], method: str) -> ImageSizing:
    """What bringing images of ``sizes`` (``(h, w)`` each, at least one) to ``size_hw`` with ``method`` did."""
    resized = sum(size != size_hw for size in sizes)
    fitted = sum(_changes_aspect(h, w, size_hw) for h, w in sizes)
    heights, widths = [h for h, _ in sizes], [w for _, w in sizes]
    return ImageSizing(
        height=size_hw[0], width=size_hw[1],
        method="none" if not resized else ("scale" if not fitted else method),
        images=len(sizes), resized=resized, fitted=fitted, distinct_sizes=len(set(sizes)),
        min_height=min(heights), max_height=max(heights), min_width=min(widths), max_width=max(widths),
    )


# ------------------------------------------------------------------------- loading


def load_folder(path: Path, test_fraction: float, seed: int, fit: str = "pad") -> Split:
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
        fit: how an image of another aspect ratio than the size chosen is made to
            fit before it is scaled: ``"pad"`` (the default: centred on bands of the
            mean colour of its border, nothing stretched or lost), ``"crop"`` (its
            centre) or ``"squash"`` (stretched); see the module's docstring for why.

    Returns:
        ``Split`` of two :class:`Dataset` named after the folder, with ``(N, H, W, C)``
        uint8 images and ``(N,)`` int64 labels. If every image is greyscale ``C`` is
        1, else every image becomes RGB (``C`` = 3: alpha dropped, grey replicated);
        16-bit grey is scaled to 8 bits. Every image is brought to the most common
        ``(H, W)``, scaled down keeping the aspect ratio to fit in
        :data:`MAX_FOLDER_SIDE` x :data:`MAX_FOLDER_SIDE`: one of another aspect ratio
        is first padded, cropped or squashed as ``fit`` says, then every image of
        another size is resized (bilinear). Both datasets' ``sizing`` records the sizes
        seen, the size used and what was done (:class:`ImageSizing`).

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
            ``test/``; a class too small for the split; an unreadable folder; a ``fit``
            not in :data:`FIT_METHODS`.
    """
    if fit not in FIT_METHODS:
        raise UserError(f"cannot fit images by {fit!r}; use one of {', '.join(FIT_METHODS)}")
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

    # Pass 2: decode, fit and resize into one array per side.
    decoded: dict[str, tuple[np.ndarray, np.ndarray]] = {}
    sizes: list[tuple[int, int]] = []  # of every image decoded, for the sizing record
    for side in sides:
        mine = [e for e in entries if e[0] == side]
        images = np.empty((len(mine), *target, channels), dtype=np.uint8)
        labels = np.empty(len(mine), dtype=np.int64)
        n = 0
        for _, file, label, size_hw in mine:
            arr = _decode(file, target, colour=any_colour, method=fit)
            if arr is None:
                skipped[side].append(file.relative_to(root).as_posix())
                continue
            images[n], labels[n] = arr, label
            sizes.append(size_hw)
            n += 1
        decoded[side] = (np.ascontiguousarray(images[:n]), labels[:n].copy())
    sizing = _sizing(sizes, target, fit) if sizes else None
    datasets = {
        side: Dataset(
            name=name,
            images=images,
            labels=labels,
            class_names=class_names,
            source=f"image folder {root}",
            hflip_ok=True,
            skipped=tuple(sorted(skipped[side])),
            sizing=sizing,
        )
        for side, (images, labels) in decoded.items()
    }

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
