"""scikit-learn's bundled 8x8 digits: always available offline."""

from __future__ import annotations

import numpy as np

from featvslearn.datasets.core import Availability, Dataset

DIGIT_CLASSES: tuple[str, ...] = tuple(str(i) for i in range(10))


def load_digits() -> Dataset:
    """All 1797 digits as one :class:`Dataset` (no split).

    Images are ``(1797, 8, 8, 1)`` ``uint8``: the 0-16 grey levels scaled to 0-255 and
    rounded. Labels are ``(1797,)`` ``int64`` digits 0-9.
    """
    from sklearn.datasets import load_digits as sklearn_load_digits

    bunch = sklearn_load_digits()
    images = np.rint(np.asarray(bunch.images, dtype=np.float64) * (255.0 / 16.0))
    images = np.clip(images, 0, 255).astype(np.uint8)[..., np.newaxis]
    return Dataset(
        name="digits",
        images=np.ascontiguousarray(images),
        labels=np.asarray(bunch.target, dtype=np.int64),
        class_names=DIGIT_CLASSES,
        source="scikit-learn bundled digits (load_digits)",
        hflip_ok=False,
    )


def availability() -> Availability:
    """Digits always load offline: they ship with scikit-learn, so there is nothing to download."""
    return Availability("digits", True, None, "ships with scikit-learn: nothing to download")
