"""A folder of images with one sub-folder per class, optionally under ``train/`` and ``test/``.

Images are read with Pillow (imported when first needed), converted to one colour mode
and brought to one size; files Pillow cannot read are skipped and named in
``Dataset.skipped`` rather than dropped unseen.

The size depends only on the set of the files' sizes, never on their names or order
(:func:`target_size`): ``--image-size N`` gives N×N; else a folder whose files all have one
size keeps it (scaled down to fit :data:`MAX_FOLDER_SIDE`); files of one aspect ratio take
the median file's size; files of several aspect ratios become squares whose side is the
median of the files' geometric-mean sides, clipped to :data:`MIN_FOLDER_SIDE`-:data:`MAX_FOLDER_SIDE`
(HOG's cells and the CNN's stages need a few pixels; more than 64 costs both sides time
without helping at the scale of a workshop).

Images of another aspect ratio than the size chosen are padded to it by default: squashing
would stretch every object in them (a round cell becomes an oval, a tall bottle a short one),
which the features and the CNN would then learn as if it were part of the class; cropping
would cut off whatever lies near the long edges. Each image is scaled to fit inside the size
and centred on bands of one colour shared by every image, the mean colour of all the folder's
images: a colour of the image's own would hand both sides a cue to its class. The images are
then ordered by class and by their pixels, so renaming files changes nothing. What was done is
recorded in ``Dataset.sizing``.
"""

from __future__ import annotations

import hashlib
import os
import statistics
from collections.abc import Sequence
from pathlib import Path
from typing import Any

import numpy as np

from featvslearn.datasets.core import Dataset, ImageSizing, Split, error_reason, split_dataset
from featvslearn.errors import UserError
from featvslearn.files import expand_user

#: The largest side a folder's images are given without --image-size.
MAX_FOLDER_SIDE = 64
#: The smallest side a folder of several aspect ratios is given without --image-size.
MIN_FOLDER_SIDE = 16
#: The sides --image-size accepts.
IMAGE_SIZE_RANGE = (8, 256)
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


def _changes_aspect(h: int, w: int, size_hw: tuple[int, int]) -> bool:
    """Whether an ``h`` x ``w`` image has another aspect ratio than ``size_hw`` (to the nearest pixel)."""
    return _fitted_shape(h, w, size_hw, "pad") != (h, w)


def _resize(arr: np.ndarray, size_hw: tuple[int, int]) -> np.ndarray:
    """``arr`` ``(h, w, C)`` uint8 resized (bilinear) to ``size_hw``; itself when it has that size."""
    from PIL import Image

    h, w = size_hw
    if arr.shape[:2] == (h, w):
        return arr
    pic = Image.fromarray(arr[..., 0] if arr.shape[2] == 1 else arr)
    out = np.asarray(pic.resize((w, h), Image.Resampling.BILINEAR), dtype=np.uint8)
    return out[..., np.newaxis] if out.ndim == 2 else out


def _read(path: Path, colour: bool) -> np.ndarray | None:
    """Decode one image to ``(h, w, C)`` uint8 at its own size (C = 3 when ``colour``, else 1); ``None`` if bad."""
    from PIL import Image

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
    if colour and arr.shape[2] == 1:
        arr = np.repeat(arr, 3, axis=2)
    return arr


def fit_image(image: np.ndarray, size_hw: tuple[int, int], method: str) -> np.ndarray:
    """``image`` ``(h, w, C)`` uint8 brought to ``size_hw`` by ``method``, before any padding.

    ``"crop"``: its centre at that aspect ratio, resized to ``size_hw``; ``"squash"``: resized
    to ``size_hw``, stretched; ``"pad"``: resized to fit inside ``size_hw`` keeping its aspect ratio
    (``(h', w', C)`` with one side equal), for :func:`pad_image` to centre.
    """
    h, w = image.shape[:2]
    if method == "crop":
        new_h, new_w = _fitted_shape(h, w, size_hw, "crop")
        top, left = (h - new_h) // 2, (w - new_w) // 2
        return _resize(np.ascontiguousarray(image[top:top + new_h, left:left + new_w]), size_hw)
    if method == "squash" or not _changes_aspect(h, w, size_hw):
        return _resize(image, size_hw)
    scale = min(size_hw[0] / h, size_hw[1] / w)
    inner = (min(size_hw[0], max(1, round(h * scale))), min(size_hw[1], max(1, round(w * scale))))
    return _resize(image, inner)


def pad_image(image: np.ndarray, size_hw: tuple[int, int], fill: Sequence[int]) -> np.ndarray:
    """``image`` ``(h', w', C)`` centred in ``size_hw`` on bands of ``fill`` (one value per channel)."""
    if image.shape[:2] == tuple(size_hw):
        return image
    out = np.empty((*size_hw, image.shape[2]), dtype=np.uint8)
    out[...] = np.asarray(fill, dtype=np.uint8)
    top, left = (size_hw[0] - image.shape[0]) // 2, (size_hw[1] - image.shape[1]) // 2
    out[top:top + image.shape[0], left:left + image.shape[1]] = image
    return out


def prepare_image(path: Path, size_hw: tuple[int, int], channels: int, method: str = "pad",
                  fill: Sequence[int] | None = None) -> np.ndarray:
    """One image file brought to a trained model's input exactly as its folder's images were:
    ``(H, W, channels)`` uint8, fitted by ``method`` and padded with ``fill`` (zero when None).

    Raises :class:`UserError` when Pillow cannot read the file or ``method`` is not known.
    """
    if method not in FIT_METHODS:
        raise UserError(f"cannot fit images by {method!r}; use one of {', '.join(FIT_METHODS)}")
    arr = _read(path, colour=channels == 3)
    if arr is None:
        raise UserError(f"cannot read {path} as an image; pass a PNG, JPEG or another file Pillow reads")
    if channels == 1 and arr.shape[2] == 3:
        arr = np.rint(arr.astype(np.float64) @ [0.299, 0.587, 0.114]).astype(np.uint8)[..., np.newaxis]
    fitted = fit_image(arr, size_hw, method)
    return pad_image(fitted, size_hw, fill if fill is not None else [0] * channels)


def target_size(sizes: Sequence[tuple[int, int]], image_size: int | None = None) -> tuple[tuple[int, int], str]:
    """The ``(H, W)`` a folder whose files have ``sizes`` is brought to, and the rule that chose it, in words.

    A function of the multiset of sizes only: the files' names and order play no part.
    """
    if image_size is not None:
        return (image_size, image_size), f"given by --image-size {image_size}"
    distinct = set(sizes)
    areas = sorted(sizes, key=lambda hw: (hw[0] * hw[1], hw))
    if all(not _changes_aspect(h, w, areas[0]) for h, w in distinct):  # one size, or one aspect ratio
        h, w = areas[(len(areas) - 1) // 2]  # the median file's size (the lower one of an even count)
        rule = "the size of every file" if len(distinct) == 1 else "the median file's size (one aspect ratio)"
        if h > MAX_FOLDER_SIDE or w > MAX_FOLDER_SIDE:
            scale = min(MAX_FOLDER_SIDE / h, MAX_FOLDER_SIDE / w)
            h, w = max(1, round(h * scale)), max(1, round(w * scale))
            rule += f", scaled down to fit {MAX_FOLDER_SIDE}×{MAX_FOLDER_SIDE}"
        return (h, w), rule
    median = statistics.median(float(np.sqrt(h * w)) for h, w in sizes)
    side = int(np.clip(round(median), MIN_FOLDER_SIDE, MAX_FOLDER_SIDE))
    return (side, side), (f"square, the median of the files' sides (√(H×W), {median:,.0f} px) clipped to "
                          f"{MIN_FOLDER_SIDE}–{MAX_FOLDER_SIDE}")


def _sizing(sizes: Sequence[tuple[int, int]], size_hw: tuple[int, int], method: str, rule: str,
            fill: Sequence[int] | None) -> ImageSizing:
    """What bringing images of ``sizes`` (``(h, w)`` each, at least one) to ``size_hw`` with ``method`` did."""
    resized = sum(size != size_hw for size in sizes)
    fitted = sum(_changes_aspect(h, w, size_hw) for h, w in sizes)
    heights, widths = [h for h, _ in sizes], [w for _, w in sizes]
    method = "none" if not resized else ("scale" if not fitted else method)
    return ImageSizing(
        height=size_hw[0], width=size_hw[1],
        method=method,
        images=len(sizes), resized=resized, fitted=fitted, distinct_sizes=len(set(sizes)),
        min_height=min(heights), max_height=max(heights), min_width=min(widths), max_width=max(widths),
        rule=rule, fill=tuple(int(v) for v in fill) if fill is not None and method == "pad" else None,
    )


def _by_content(images: np.ndarray, labels: np.ndarray) -> np.ndarray:
    """The order that sorts images by label, then by a hash of their pixels: the same for any file order."""
    digests = [hashlib.blake2b(image.tobytes(), digest_size=16).digest() for image in images]
    return np.array(sorted(range(len(labels)), key=lambda i: (int(labels[i]), digests[i])), dtype=np.int64)


# ------------------------------------------------------------------------- loading


def load_folder(path: Path, test_fraction: float, seed: int, fit: str = "pad", image_size: int | None = None) -> Split:
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
            fit: ``"pad"`` (the default: scaled to fit inside it and centred on bands of
            the mean colour of all the folder's images, nothing stretched or lost),
            ``"crop"`` (its centre) or ``"squash"`` (stretched); see the module's
            docstring for why.
        image_size: the side of the square every image is brought to; None: the
            rule of :func:`target_size`.

    Returns:
        ``Split`` of two :class:`Dataset` named after the folder, with ``(N, H, W, C)``
        uint8 images and ``(N,)`` int64 labels. If every image is greyscale ``C`` is
        1, else every image becomes RGB (``C`` = 3: alpha dropped, grey replicated);
        16-bit grey is scaled to 8 bits. Every image is brought to the size
        :func:`target_size` chooses (bilinear): one of another aspect ratio is padded,
        cropped or squashed as ``fit`` says. Each side's images are ordered by class,
        then by their pixels, so the file names and their order change nothing. Both
        datasets' ``sizing`` records the sizes seen, the size used, the rule that chose
        it and what was done (:class:`ImageSizing`); the split says where it came from.

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
            not in :data:`FIT_METHODS`; an ``image_size`` outside :data:`IMAGE_SIZE_RANGE`.
    """
    if fit not in FIT_METHODS:
        raise UserError(f"cannot fit images by {fit!r}; use one of {', '.join(FIT_METHODS)}")
    check_image_size(image_size)
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
    target, rule = target_size([e[3] for e in entries], image_size)
    channels = 3 if any_colour else 1

    # Pass 2: decode and fit (before padding) every image; the padding colour is their mean.
    fitted: dict[str, list[tuple[np.ndarray, int, tuple[int, int]]]] = {side: [] for side in sides}
    total = np.zeros(channels, dtype=np.int64)
    pixels = 0
    for side, file, label, size_hw in entries:
        arr = _read(file, colour=any_colour)
        if arr is None:
            skipped[side].append(file.relative_to(root).as_posix())
            continue
        arr = fit_image(arr, target, fit)
        total += arr.reshape(-1, channels).sum(axis=0, dtype=np.int64)
        pixels += arr.shape[0] * arr.shape[1]
        fitted[side].append((arr, label, size_hw))
    fill = [int(v) for v in np.rint(total / max(pixels, 1))]
    decoded: dict[str, tuple[np.ndarray, np.ndarray]] = {}
    sizes: list[tuple[int, int]] = []  # of every image decoded, for the sizing record
    for side, items in fitted.items():
        images = np.empty((len(items), *target, channels), dtype=np.uint8)
        labels = np.empty(len(items), dtype=np.int64)
        for n, (arr, label, size_hw) in enumerate(items):
            images[n], labels[n] = pad_image(arr, target, fill), label
            sizes.append(size_hw)
        order = _by_content(images, labels)
        decoded[side] = (np.ascontiguousarray(images[order]), labels[order])
    sizing = _sizing(sizes, target, fit, rule, fill) if sizes else None
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
        given = (f"train/ and test/ used as given ({len(datasets['train']):,} and {len(datasets['test']):,} "
                 "images)")
        return Split(train=datasets["train"], test=datasets["test"], origin=given)
    return split_dataset(datasets["all"], test_fraction, seed, where="folder")


def check_image_size(image_size: int | None) -> None:
    """Raise a :class:`UserError` naming the range when ``image_size`` is not None and outside it."""
    low, high = IMAGE_SIZE_RANGE
    if image_size is not None and not low <= image_size <= high:
        raise UserError(f"--image-size must be between {low} and {high} pixels, got {image_size}")
