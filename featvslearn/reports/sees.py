"""The comparison report's section "What each side sees": a hand-engineered feature next to a learned one.

Four figures, one idea each, from the arrays a comparison run keeps in memory
(:class:`~featvslearn.results.pictures.SidePictures`, ``results.pictures``): ``sees-samples`` (training
images per class), ``sees-hand-engineered`` (one test image per class, its HOG picture and sift-svm's
dense SIFT grid), ``sees-cnn-filters`` (the CNN's first trained layer) and ``sees-cnn-maps`` (its
strongest feature maps of the same test images). Results read from a file hold no pictures: the
section then says that the run draws them. Colour images are drawn in colour, grey ones in grey.
"""

from __future__ import annotations

from collections.abc import Mapping
from pathlib import Path

import numpy as np
from matplotlib.axes import Axes
from matplotlib.collections import LineCollection
from matplotlib.figure import Figure
from matplotlib.patches import Rectangle

from featvslearn.files import plots_folder
from featvslearn.reports import style
from featvslearn.reports.shared import image_lines
from featvslearn.reports.style import styled
from featvslearn.results import CompareResults
from featvslearn.results.pictures import CNNPictures, HOGPictures, SidePictures, SIFTGrid

TITLE = "What each side sees"
FIGURES = ("sees-samples", "sees-hand-engineered", "sees-cnn-filters", "sees-cnn-maps")
"""The section's figures, by file name (without .png), in the order the section shows them."""
FILTERS_SHOWN = 8
"""Trained filters (rows) and their inputs (columns) the filter figure shows, the strongest ones."""
LABEL_CHARACTERS = 12
"""Class names are cut to this many characters above and beside the images."""
GRID_COLOUR = "#FFB000"  # amber: visible on grey, black and most photos
PATCH_COLOUR = "#00E5FF"  # cyan: the one SIFT square drawn, distinct from the grid's dots


def _short(name: str) -> str:
    return name if len(name) <= LABEL_CHARACTERS else name[: LABEL_CHARACTERS - 1] + "…"


def _show(ax: Axes, image: np.ndarray) -> None:
    """An (H, W, C) uint8 image on ``ax``, grey in grey and colour in colour, pixels sharp when small."""
    small = max(image.shape[:2]) <= 64
    if image.shape[-1] == 1:
        ax.imshow(image[..., 0], cmap="gray", vmin=0, vmax=255, interpolation="nearest" if small else "antialiased")
    else:
        ax.imshow(image, interpolation="nearest" if small else "antialiased")
    _bare(ax)


def _bare(ax: Axes) -> None:
    """No ticks on ``ax`` (its labels stay, for row and column names)."""
    ax.set_xticks([])
    ax.set_yticks([])


def _row_label(ax: Axes, text: str) -> None:
    """A row's name, horizontal, left of its first image."""
    ax.set_ylabel(text, rotation=0, ha="right", va="center", labelpad=10, fontsize=style.LABEL_FONT_SIZE)


# --------------------------------------------------------------------------- a. training images
@styled
def samples_figure(pictures: SidePictures) -> Figure:
    """A few training images of each class shown, one row per class, its name on the left."""
    rows = max(len(pictures.samples), 1)
    columns = max((len(s) for s in pictures.samples), default=1) or 1
    side = 1.25
    label = 0.4 + 0.11 * max((len(_short(name)) for name in pictures.class_names), default=1)  # inches
    figure = style.new_figure(columns * side + label, rows * side + 0.7)
    axes = figure.subplots(rows, columns, squeeze=False)
    for row, (name, images) in enumerate(zip(pictures.class_names, pictures.samples, strict=True)):
        for column, ax in enumerate(axes[row]):
            if column < len(images):
                _show(ax, images[column])
            else:
                ax.set_axis_off()
        _row_label(axes[row, 0], _short(name))
    figure.suptitle(f"Training images: up to {columns} of each class")
    return figure


# --------------------------------------------------------------------------- b. HOG and dense SIFT
def draw_hog(ax: Axes, cells: np.ndarray, pixels_per_cell: int, shape: tuple[int, int]) -> None:
    """skimage's HOG picture drawn as lines: in each cell (``cells`` (rows, cols, orientations)), one line
    per orientation bin through the cell's centre, along the edge (across the bin's mid gradient angle),
    as bright as the bin is strong against the image's strongest."""
    rows, cols, orientations = cells.shape
    angles = np.pi * (np.arange(orientations) + 0.5) / orientations  # (O,) mid gradient angle of each bin
    radius = 0.45 * pixels_per_cell
    centre_y = np.arange(rows) * pixels_per_cell + pixels_per_cell / 2 - 0.5  # (rows,) pixel-centre coordinates
    centre_x = np.arange(cols) * pixels_per_cell + pixels_per_cell / 2 - 0.5  # (cols,)
    cy, cx, angle = np.meshgrid(centre_y, centre_x, angles, indexing="ij")  # each (rows, cols, O)
    dx, dy = -radius * np.sin(angle), radius * np.cos(angle)  # along the edge: across the gradient
    segments = np.stack([np.stack([cx - dx, cy - dy], -1), np.stack([cx + dx, cy + dy], -1)], -2)  # (r, c, O, 2, 2)
    strength = cells / cells.max() if cells.max() > 0 else cells  # (rows, cols, O) in [0, 1]
    colours = np.zeros((*strength.shape, 4))
    colours[..., :3] = 1.0
    colours[..., 3] = strength
    ax.set_facecolor("black")
    ax.add_collection(LineCollection(segments.reshape(-1, 2, 2), colors=colours.reshape(-1, 4),
                                     linewidths=max(1.2, 8.0 / max(rows, cols)), capstyle="round"))
    ax.set_xlim(-0.5, shape[1] - 0.5)
    ax.set_ylim(shape[0] - 0.5, -0.5)
    ax.set_aspect("equal")
    _bare(ax)


def draw_sift_grid(ax: Axes, image: np.ndarray, grid: SIFTGrid) -> None:
    """``image`` with the dense SIFT grid over it: a dot at each descriptor's centre and, for the middle
    one, the square it describes with its 4 x 4 cells."""
    _show(ax, image)
    xs, ys = np.meshgrid(grid.centres_x, grid.centres_y)  # each (rows, cols)
    dot = max(5.0, 120.0 / max(xs.shape))  # points squared: fewer, larger dots on a coarse grid
    ax.scatter(xs.ravel(), ys.ravel(), s=dot, c=GRID_COLOUR, edgecolors="black", linewidths=0.3, zorder=3)
    x, y = grid.centres_x[len(grid.centres_x) // 2], grid.centres_y[len(grid.centres_y) // 2]
    half, cell = grid.patch_pixels / 2, grid.spatial_bin_size
    for k in range(1, grid.patch_pixels // cell):
        ax.plot([x - half + k * cell] * 2, [y - half, y + half], color=PATCH_COLOUR, linewidth=0.8, alpha=0.6, zorder=4)
        ax.plot([x - half, x + half], [y - half + k * cell] * 2, color=PATCH_COLOUR, linewidth=0.8, alpha=0.6, zorder=4)
    ax.add_patch(Rectangle((x - half, y - half), grid.patch_pixels, grid.patch_pixels, fill=False,
                           edgecolor=PATCH_COLOUR, linewidth=2.5, zorder=5))
    ax.set_xlim(-0.5, image.shape[1] - 0.5)
    ax.set_ylim(image.shape[0] - 0.5, -0.5)


def hog_label(hog: HOGPictures) -> str:
    return f"HOG\n{hog.pixels_per_cell}-px cells\n{hog.orientations} orientations"


def sift_label(grid: SIFTGrid) -> str:
    return f"dense SIFT\n{grid.patch_pixels}-px squares\nevery {grid.stride} px"


@styled
def hand_engineered_figure(pictures: SidePictures) -> Figure:
    """One column per test image (one per class shown): the image, its HOG picture, and the dense SIFT grid."""
    columns = max(len(pictures.test_images), 1)
    side = 1.45
    figure = style.new_figure(columns * side + 2.3, 3 * side + 0.9)
    axes = figure.subplots(3, columns, squeeze=False)
    shape = pictures.test_images.shape[1:3]
    for column, (image, label) in enumerate(zip(pictures.test_images, pictures.test_labels, strict=True)):
        _show(axes[0, column], image)
        axes[0, column].set_title(_short(pictures.class_names[int(label)]), fontsize=style.FONT_SIZE)
        draw_hog(axes[1, column], pictures.hog.cells[column], pictures.hog.pixels_per_cell, shape)
        draw_sift_grid(axes[2, column], image, pictures.sift)
    for row, text in enumerate(("test image", hog_label(pictures.hog), sift_label(pictures.sift))):
        _row_label(axes[row, 0], text)
    figure.suptitle("What the hand-engineered features see: the same recipe for every image")
    return figure


# --------------------------------------------------------------------------- c. the CNN
def _filter_image(weights: np.ndarray) -> tuple[np.ndarray, dict[str, object]]:
    """One filter (C, k, k) as something to draw: a colour filter scaled to [0, 1] as RGB (k, k, 3); a grey
    one as (k, k) in a diverging map, white at 0. Returns the array and imshow's keyword arguments."""
    if weights.shape[0] == 3:
        low, high = weights.min(), weights.max()
        rgb = (weights - low) / (high - low) if high > low else np.full_like(weights, 0.5)
        return rgb.transpose(1, 2, 0), {}  # (k, k, 3)
    limit = float(np.abs(weights).max()) or 1.0
    return weights.mean(axis=0), {"cmap": "RdBu_r", "vmin": -limit, "vmax": limit}


def layer_title(cnn: CNNPictures) -> str:
    """``conv 2 of 5`` with its filters' shape."""
    out, inputs, kh, kw = cnn.filters.shape
    return f"conv {cnn.layer} of {cnn.convolutions}: {out} filters of {inputs} × {kh} × {kw}"


@styled
def cnn_filters_figure(cnn: CNNPictures) -> Figure:
    """The first trained layer's filters. On pixels (the first convolution trained): every filter as an
    image. After fixed filters: the strongest trained filters (rows) on the inputs they weigh most
    (columns), each cell a k x k kernel (red adds that input's map, blue subtracts it), under the fixed
    filter that makes each input's map."""
    filters = cnn.filters  # (out, in, kh, kw)
    if cnn.fixed_filters is None:
        count = min(len(filters), 32)
        columns = min(count, 8)
        rows = -(-count // columns)
        figure = style.new_figure(columns * 1.2 + 0.4, rows * 1.2 + 0.9)
        axes = figure.subplots(rows, columns, squeeze=False)
        for ax in axes.flat:
            ax.set_axis_off()
        for index, ax in enumerate(axes.flat[:count]):
            array, look = _filter_image(filters[index])
            ax.imshow(array, interpolation="nearest", **look)
        figure.suptitle(f"Learned filters on the pixels, {layer_title(cnn)}")
        return figure
    outputs = np.argsort(-np.sqrt((filters**2).sum(axis=(1, 2, 3))))[:FILTERS_SHOWN]  # strongest filters
    inputs = np.argsort(-np.abs(filters).sum(axis=(0, 2, 3)))[:FILTERS_SHOWN]  # inputs weighed most
    shown = filters[np.ix_(outputs, inputs)]  # (rows, columns, kh, kw)
    limit = float(np.abs(shown).max()) or 1.0
    rows, columns = len(outputs) + 1, len(inputs)
    figure = style.new_figure(columns * 1.2 + 2.6, rows * 1.2 + 1.1)
    axes = figure.subplots(rows, columns, squeeze=False)
    for column, channel in enumerate(inputs):
        array, look = _filter_image(cnn.fixed_filters[channel])
        axes[0, column].imshow(array, interpolation="nearest", **look)
        axes[0, column].set_title(f"map {channel}", fontsize=style.FONT_SIZE)
        _bare(axes[0, column])
        for row in range(1, rows):
            axes[row, column].imshow(shown[row - 1, column], cmap="RdBu_r", vmin=-limit, vmax=limit,
                                     interpolation="nearest")
            _bare(axes[row, column])
    _row_label(axes[0, 0], "conv 1\n(fixed)")
    for row, out in enumerate(outputs, start=1):
        _row_label(axes[row, 0], f"filter {out}")
    figure.suptitle(f"Learned: {layer_title(cnn)}\n{len(outputs)} strongest filters (rows) on the "
                    f"{len(inputs)} conv-1 maps they weigh most (red adds, blue subtracts)")
    return figure


@styled
def cnn_maps_figure(pictures: SidePictures, cnn: CNNPictures) -> Figure:
    """The test images of the hand-engineered figure (one column each) and, under each, the first trained
    layer's strongest feature maps (one row per channel, each row on one scale, brighter is stronger)."""
    columns = max(len(pictures.test_images), 1)
    channels = len(cnn.channels)
    side = 1.35
    figure = style.new_figure(columns * side + 2.0, (channels + 1) * side + 1.1)
    axes = figure.subplots(channels + 1, columns, squeeze=False)
    for column, (image, label) in enumerate(zip(pictures.test_images, pictures.test_labels, strict=True)):
        _show(axes[0, column], image)
        axes[0, column].set_title(_short(pictures.class_names[int(label)]), fontsize=style.FONT_SIZE)
        for row in range(channels):
            scale = float(cnn.maps[:, row].max()) or 1.0
            axes[row + 1, column].imshow(cnn.maps[column, row], cmap="magma", vmin=0.0, vmax=scale,
                                         interpolation="nearest")
            _bare(axes[row + 1, column])
    _row_label(axes[0, 0], "test image")
    for row, channel in enumerate(cnn.channels):
        _row_label(axes[row + 1, 0], f"channel {channel}")
    h, w = cnn.maps.shape[2:]
    figure.suptitle(f"What the CNN sees: conv {cnn.layer} (its first trained layer) after batch norm and ReLU,\n"
                    f"the {channels} channels of highest mean activation, {h} × {w} maps")
    return figure


def figures(results: CompareResults) -> dict[str, Figure]:
    """The section's figures by file name (:data:`FIGURES`): none for results without pictures, and no
    CNN figures when no cnn ran."""
    pictures = results.pictures
    if pictures is None or not len(pictures.test_images):
        return {}
    out = {"sees-samples": samples_figure(pictures), "sees-hand-engineered": hand_engineered_figure(pictures)}
    if pictures.cnn is not None:
        out["sees-cnn-filters"] = cnn_filters_figure(pictures.cnn)
        out["sees-cnn-maps"] = cnn_maps_figure(pictures, pictures.cnn)
    return out


def figure_names(results: CompareResults) -> list[str]:
    """The names of the figures :func:`figures` draws for ``results``, without drawing them."""
    pictures = results.pictures
    if pictures is None or not len(pictures.test_images):
        return []
    return list(FIGURES if pictures.cnn is not None else FIGURES[:2])


def where_line(results: CompareResults, report_path: Path) -> str | None:
    """One line saying where the section's pictures are, for the terminal; None when there are none."""
    names = figure_names(results)
    if not names:
        return None
    folder = plots_folder(report_path)
    return f"{TITLE.lower()}: {folder / names[0]}.png" + "".join(f", {name}.png" for name in names[1:])


# --------------------------------------------------------------------------- Markdown
def _cnn_lines(pictures: SidePictures, links: Mapping[str, str]) -> list[str]:
    cnn = pictures.cnn
    if cnn is None:
        return ["", f"The CNN's part is left out: {pictures.no_cnn}." if pictures.no_cnn else
                "The CNN's part is left out."]
    if cnn.fixed_filters is not None:
        total = len(cnn.fixed_filters)
        made = (f"{cnn.whitened} patch-whitening filters computed from the training images" if cnn.whitened >= total
                else f"{cnn.whitened} patch-whitening filters computed from the training images and "
                     f"{total - cnn.whitened} random ones" if cnn.whitened else f"{total} random filters")
        fixed = (f"The CNN's first convolution (conv 1) is fixed: {made}, never trained. Its first trained "
                 f"layer is conv {cnn.layer}: each of its filters weighs conv 1's maps at every position of its "
                 f"kernel. Each row below is one of its strongest filters, each column one conv-1 map it weighs "
                 f"most, under the fixed filter that makes that map.")
    else:
        fixed = f"The CNN's first trained layer is conv {cnn.layer}, on the pixels: each filter is shown as an image."
    return ["", "### Learned: the CNN's first trained layer", "", fixed, "",
            *image_lines(links, "sees-cnn-filters", f"conv {cnn.layer}: learned filters"),
            f"Its strongest feature maps of the same test images: conv {cnn.layer} after batch norm and ReLU, the "
            f"{len(cnn.channels)} channels of highest mean activation over these images, each row on one scale "
            "(brighter is stronger). Unlike HOG and SIFT, what these maps respond to was learned from the training "
            "images.", "",
            *image_lines(links, "sees-cnn-maps", f"conv {cnn.layer}: strongest feature maps of the test images")]


def section_lines(results: CompareResults, links: Mapping[str, str]) -> list[str]:
    """The section "What each side sees" (Markdown lines). Without pictures (results read from a file), a
    sentence saying that the run draws them."""
    pictures = results.pictures
    lines = [f"## {TITLE}", ""]
    if pictures is None or "sees-samples" not in links:
        return [*lines, "Its pictures (training images, the HOG and dense SIFT of test images, the CNN's learned "
                "filters and feature maps) are drawn by the run itself, `featvslearn compare --report`: a results "
                "file holds neither the images nor the network, so a report re-rendered from one has none.", ""]
    shown = len(pictures.class_names)
    classes = (f"the first {shown} of {pictures.total_classes} classes" if shown < pictures.total_classes
               else "every class")
    hog, grid = pictures.hog, pictures.sift
    lines += [f"A few training images of {classes}, as the pipelines get them:", "",
              *image_lines(links, "sees-samples", "training images per class"),
              "### Hand-engineered: HOG and dense SIFT", "",
              f"One test image per class, and what the hand-engineered features take from it, by the same fixed "
              f"recipe for every image. HOG (hog-svm, its fine scale; the coarse one has "
              f"{hog.coarse_pixels_per_cell}-pixel cells) cuts the image into {hog.pixels_per_cell} × "
              f"{hog.pixels_per_cell}-pixel cells and draws, in each, a line along the edge direction of each of "
              f"its {hog.orientations} orientation bins, brighter for stronger gradients (skimage's HOG picture, "
              f"drawn as lines). Dense SIFT (sift-svm) describes a square of {grid.patch_pixels} × "
              f"{grid.patch_pixels} pixels, "
              f"4 × 4 cells around each dot, one every {grid.stride} pixel"
              f"{'s' if grid.stride > 1 else ''}; one square is drawn with its cells.", "",
              *image_lines(links, "sees-hand-engineered", "test images with their HOG pictures and dense SIFT grids")]
    return [*lines, *_cnn_lines(pictures, links), ""]
