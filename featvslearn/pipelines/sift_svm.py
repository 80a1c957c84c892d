"""sift-svm: dense RootSIFT, a k-means codebook of visual words, spatial-pyramid histograms and an
intensity thumbnail (and on colour data a colour histogram), the SVM."""

from __future__ import annotations

import dataclasses

import numpy as np

from featvslearn.pipelines.base import Pipeline, PipelineOutput, RunContext
from featvslearn.pipelines.svm_stages import run_classical

SIFT_CODEBOOK_IMAGES = 10_000
"""Training images whose descriptors the sift-svm codebook is learned from (a seeded sample of them)."""
LARGE_SET_WORDS = 256
"""Visual words from ``classical.LARGE_SET_FROM`` (20,000) training images on (128 below), chosen on a
Fashion-MNIST validation split (docs/benchmarks.md)."""


def run(context: RunContext) -> PipelineOutput:
    """Dense SIFT words and an intensity thumbnail on the context's device, then standardisation and the SVM.

    The codebook is learned by k-means on descriptors of a seeded random sample of at most
    ``SIFT_CODEBOOK_IMAGES`` training images, never on test images.
    """
    from sklearn.pipeline import FeatureUnion

    from featvslearn.classical import LARGE_SET_FROM
    from featvslearn.classical.colour import has_colour, input_words, standard_colour_histogram
    from featvslearn.classical.hog import ThumbnailTransformer, thumbnail_side_for
    from featvslearn.classical.sift import DenseSIFT, make_sift_features, sift_settings_for

    train_set, seed = context.split.train, context.settings.seed
    settings = sift_settings_for(train_set.image_shape,
                                 n_words=LARGE_SET_WORDS if len(train_set) >= LARGE_SET_FROM else 128)
    thumbnail_side = thumbnail_side_for(*train_set.image_shape[:2])
    codebook_images = min(len(train_set), SIFT_CODEBOOK_IMAGES)
    rows, cols = DenseSIFT(settings.spatial_bin_size, settings.stride).fit(train_set.images[:1]).grid_shape_
    # A codebook needs several descriptors per word: small sets of small images get fewer words.
    settings = dataclasses.replace(settings, n_words=min(settings.n_words, max(2, codebook_images * rows * cols // 4)))
    # SIFT describes gradients only; the thumbnail adds the coarse intensity it drops, as in hog-svm (the
    # stronger on a Fashion-MNIST validation split; docs/benchmarks.md). On colour data a colour histogram
    # joins them (stronger than opponent-colour SIFT on a photo validation split).
    colour = standard_colour_histogram("sift-svm") if has_colour(train_set.images) else None
    parts = [("sift", make_sift_features(settings, device=str(context.device), seed=seed)),
             ("thumbnail", ThumbnailTransformer(size=thumbnail_side))]
    featuriser = FeatureUnion(parts if colour is None else [*parts, ("colour", colour)])
    chosen = np.sort(np.random.default_rng(seed).permutation(len(train_set))[:codebook_images])
    output, dimensions = run_classical(context, "sift-svm", featuriser, "codebook (k-means)",
                                       chosen, "dense SIFT words")
    words = featuriser.named_transformers["sift"].named_steps["words"]
    output.details = {
        "input": input_words(train_set.images),
        "features": "dense RootSIFT (kornia) of the grey image -> visual words by k-means on training descriptors "
                    "-> soft-assigned histograms over a 1x1, 2x2, 4x4 spatial pyramid, square-rooted; with "
                    + ("an intensity thumbnail" if colour is None else f"an RGB thumbnail and a {colour.describe()}")
                    + "; standardised",
        "sift": settings.as_dict(),
        "thumbnail_side": thumbnail_side,
        "codebook": {"training_images": codebook_images, "words": words.n_words,
                     "kmeans_iterations": int(words.n_iter_)},
        "feature_dimensions": dimensions,
        **output.details,
    }
    return output


PIPELINE = Pipeline(
    name="sift-svm",
    summary="dense RootSIFT, a k-means codebook of visual words and spatial-pyramid histograms, with an "
            "intensity thumbnail (+ a colour histogram on colour data), then an SVM",
    learned=False,
    run=run,
    options=("svm", "tune", "precision", "seed"),
)
