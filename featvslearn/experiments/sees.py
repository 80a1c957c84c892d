"""What each side sees: the arrays of the report's section of that name, computed after a comparison ran.

:func:`side_pictures` takes the comparison's split and, when the cnn ran, its trained network, and
returns a :class:`~featvslearn.results.pictures.SidePictures`: a few training images per class; one
test image per class; their HOG cells and pictures at hog-svm's fine scale and sift-svm's dense SIFT
grid (both need only the images and the settings each pipeline takes for the image size, so they are
drawn whichever pipelines ran); and the CNN's first trained layer with its strongest maps of those
test images. Nothing here is timed or written to a results file.
"""

from __future__ import annotations

from typing import Any

import numpy as np

from featvslearn.classical.features import hog_settings_for
from featvslearn.classical.pictures import hog_cells, hog_picture, sift_grid
from featvslearn.datasets import Split
from featvslearn.results.pictures import CNNPictures, HOGPictures, SidePictures, SIFTGrid

CLASSES_SHOWN = 10
"""At most this many classes are shown (the first ones): more would not fit a slide."""
SAMPLES_PER_CLASS = 6
"""Training images shown per class."""
STRONGEST_MAPS = 6
"""The CNN's feature maps shown per test image: the channels of highest mean activation."""


def hog_pictures(images: np.ndarray) -> HOGPictures:
    """HOG of ``images`` (M, H, W, C) uint8 at hog-svm's fine scale for their size: each image's cell
    histograms and skimage's HOG picture, with the settings hog-svm takes (``hog_settings_for``)."""
    settings = hog_settings_for(tuple(images.shape[1:]))  # type: ignore[arg-type]
    cell, orientations = settings.fine_pixels_per_cell, settings.orientations
    height, width = images.shape[1:3]
    cells = np.zeros((len(images), height // cell, width // cell, orientations))  # (M, rows, cols, O)
    pictures = np.zeros(images.shape[:3])  # (M, H, W)
    for i, image in enumerate(images):
        cells[i] = hog_cells(image, cell, orientations)
        pictures[i] = hog_picture(image, cell, orientations, settings.cells_per_block, settings.block_norm)
    return HOGPictures(pixels_per_cell=cell, orientations=orientations,
                       coarse_pixels_per_cell=settings.coarse_pixels_per_cell, cells=cells, pictures=pictures)


def cnn_pictures(trained: Any, images: np.ndarray) -> CNNPictures | None:
    """The first trained layer of the cnn's network (``trained``: a pipeline's ``TrainedCNN``) and its
    strongest maps of ``images`` (M, H, W, C) uint8; None when no convolution of it was trained."""
    from featvslearn.learned.pictures import first_trained_layer

    found = first_trained_layer(trained.eval_model, trained.normaliser, images, strongest=STRONGEST_MAPS)
    if found is None:
        return None
    return CNNPictures(layer=found.layer, convolutions=found.convolutions, filters=found.filters,
                       fixed_filters=found.fixed_filters,
                       whitened=int(trained.details.get("whitened_first_layer_filters", 0)),
                       maps=found.maps, channels=found.channels)


def side_pictures(split: Split, products: dict[str, Any], pipelines: tuple[str, ...]) -> SidePictures:
    """The pictures' arrays for ``split``: the first :data:`CLASSES_SHOWN` classes, up to
    :data:`SAMPLES_PER_CLASS` training images of each (the first in the split's order) and its first
    test image; the cnn's part from ``products["cnn"]`` (a run's products), or none when ``pipelines``
    had no cnn."""
    train, test = split.train, split.test
    classes = range(min(train.num_classes, CLASSES_SHOWN))
    samples = tuple(train.images[np.flatnonzero(train.labels == k)[:SAMPLES_PER_CLASS]] for k in classes)
    firsts = [int(found[0]) for k in classes if len(found := np.flatnonzero(test.labels == k))]
    test_images, test_labels = test.images[firsts], test.labels[firsts]  # (M, H, W, C), (M,)
    trained = products.get("cnn")
    cnn = cnn_pictures(trained, test_images) if trained is not None and len(test_images) else None
    if cnn is not None:
        no_cnn = ""
    elif "cnn" not in pipelines:
        no_cnn = "the cnn was not among this run's pipelines (--pipelines)"
    else:
        no_cnn = "the cnn trained no convolution" if trained is not None else "the cnn's network was not kept"
    centres_y, centres_x, patch, bin_size, stride = sift_grid(train.image_shape)
    return SidePictures(
        class_names=tuple(train.class_names[k] for k in classes), total_classes=train.num_classes,
        samples=samples, test_images=test_images, test_labels=test_labels, hog=hog_pictures(test_images),
        sift=SIFTGrid(centres_x=centres_x, centres_y=centres_y, patch_pixels=patch, spatial_bin_size=bin_size,
                      stride=stride),
        cnn=cnn, no_cnn=no_cnn)
