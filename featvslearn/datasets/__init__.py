"""Datasets: find, validate and load image data as uint8 arrays, and split it.

Every loader returns images as ``(N, H, W, C)`` ``uint8`` arrays (``C`` is 1 or 3) and
labels as ``(N,)`` ``int64`` arrays. Nothing here prints; every mistake a user can fix
raises :class:`featvslearn.errors.UserError` with a one-line message naming the fix.

One module per source:

* :mod:`~featvslearn.datasets.digits`: scikit-learn's bundled 8x8 digits (always offline).
* :mod:`~featvslearn.datasets.idx`: ``fashion-mnist`` and ``mnist``, the four idx files
  (gzipped or not), parsed with numpy.
* :mod:`~featvslearn.datasets.cifar`: ``cifar10``, the ``cifar-10-batches-py`` folder or
  the ``cifar-10-python.tar.gz`` archive.
* :mod:`~featvslearn.datasets.folder`: any directory holding one sub-folder of images
  per class (optionally under ``train/`` and ``test/``).
* :mod:`~featvslearn.datasets.download`: torchvision downloads of the built-in sets
  when they are absent and allowed.
* :mod:`~featvslearn.datasets.untrusted`: the restricted unpickler and the archive
  checks that keep hostile files from running code or writing outside their folder.

:mod:`~featvslearn.datasets.core` holds the shared types and the stratified splitting,
and :mod:`~featvslearn.datasets.catalog` picks the source by name. The read-only system
copies searched for idx files are ``featvslearn.datasets.idx.SYSTEM_DIRS``.
"""

from __future__ import annotations

from featvslearn.datasets.catalog import DATASET_NAMES, dataset_availability, load_split
from featvslearn.datasets.core import (
    Availability,
    Dataset,
    Split,
    default_cache_dir,
    subsample,
)

__all__ = [
    "DATASET_NAMES",
    "Availability",
    "Dataset",
    "Split",
    "dataset_availability",
    "default_cache_dir",
    "load_split",
    "subsample",
]
