"""sift-fv: dense RootSIFT reduced by PCA, improved Fisher vectors over a diagonal Gaussian mixture, an
intensity thumbnail (and on colour data a colour histogram), the SVM: the hand-engineered recipe of
2010–2012 that won ILSVRC 2011 and that a CNN beat in 2012."""

from __future__ import annotations

import numpy as np

from featvslearn.pipelines.base import Pipeline, PipelineOutput, RunContext
from featvslearn.pipelines.svm_stages import run_classical

FISHER_IMAGES = 10_000
"""Training images whose descriptors the PCA and the mixture are fitted on (a seeded sample of them)."""
FISHER_DESCRIPTORS = 200_000
"""Descriptors (drawn at random from those images') the PCA and the mixture are fitted on."""
LARGE_SET_COMPONENTS = 32
"""Mixture components from ``classical.LARGE_SET_FROM`` (20,000) training images on, chosen on a
Fashion-MNIST validation split (benchmarks/choose_fisher.py, docs/benchmarks.md)."""
SMALL_SET_COMPONENTS = 8
"""Mixture components below ``classical.LARGE_SET_FROM`` training images, chosen on validation splits of
a colour photo folder of 270 training images."""
PCA_DIMENSIONS = 64
"""What PCA keeps of each 128-value descriptor, chosen on both."""
PYRAMID_LEVELS = (1,)
"""One Fisher vector of the whole image: on both, a 1x1 + 2x2 spatial pyramid scored no higher."""


def run(context: RunContext) -> PipelineOutput:
    """Dense SIFT Fisher vectors and an intensity thumbnail on the context's device, then
    standardisation and the SVM.

    The PCA and the mixture are fitted on at most ``FISHER_DESCRIPTORS`` descriptors of a seeded
    random sample of at most ``FISHER_IMAGES`` training images, never on test images.
    """
    from sklearn.pipeline import FeatureUnion, Pipeline

    from featvslearn.classical import LARGE_SET_FROM
    from featvslearn.classical.colour import has_colour, input_words, standard_colour_histogram
    from featvslearn.classical.fisher import FisherVectorEncoder
    from featvslearn.classical.hog import ThumbnailTransformer, thumbnail_side_for
    from featvslearn.classical.sift import DenseSIFT, sift_settings_for

    train_set, seed, device = context.split.train, context.settings.seed, str(context.device)
    settings = sift_settings_for(train_set.image_shape)
    thumbnail_side = thumbnail_side_for(*train_set.image_shape[:2])
    fit_images = min(len(train_set), FISHER_IMAGES)
    sift = DenseSIFT(settings.spatial_bin_size, settings.stride, device=device)
    rows, cols = sift.fit(train_set.images[:1]).grid_shape_
    # A mixture needs many descriptors per component: small sets of small images get fewer.
    components = LARGE_SET_COMPONENTS if len(train_set) >= LARGE_SET_FROM else SMALL_SET_COMPONENTS
    components = min(components, max(1, fit_images * rows * cols // 50))
    encoder = FisherVectorEncoder(n_components=components, pca_dimensions=PCA_DIMENSIONS,
                                  pyramid_levels=PYRAMID_LEVELS, max_descriptors=FISHER_DESCRIPTORS,
                                  random_state=seed, device=device)
    # As in sift-svm: the thumbnail adds the coarse intensity SIFT drops; on colour data sift-svm's
    # colour histogram joins them.
    colour = standard_colour_histogram("sift-svm") if has_colour(train_set.images) else None
    parts = [("sift", Pipeline([("sift", sift), ("fisher", encoder)])),
             ("thumbnail", ThumbnailTransformer(size=thumbnail_side))]
    featuriser = FeatureUnion(parts if colour is None else [*parts, ("colour", colour)])
    chosen = np.sort(np.random.default_rng(seed).permutation(len(train_set))[:fit_images])
    output, dimensions = run_classical(context, "sift-fv", featuriser, "PCA + Gaussian mixture (EM)",
                                       chosen, "dense SIFT Fisher vectors")
    levels = " + ".join(f"{level}x{level}" for level in PYRAMID_LEVELS)
    where = "the whole image" if PYRAMID_LEVELS == (1,) else f"a {levels} spatial pyramid"
    output.details = {
        "input": input_words(train_set.images),
        "features": f"dense RootSIFT (kornia) of the grey image -> PCA to {PCA_DIMENSIONS} dimensions -> improved "
                    f"Fisher vectors (gradients for the means and variances of a {encoder.n_components}-component "
                    f"diagonal Gaussian mixture, power and L2 normalised) over {where}; with "
                    + ("an intensity thumbnail" if colour is None else f"an RGB thumbnail and a {colour.describe()}")
                    + "; standardised",
        "sift": {"spatial_bin_size": settings.spatial_bin_size, "stride": settings.stride},
        "thumbnail_side": thumbnail_side,
        "fisher": {"training_images": fit_images, "descriptors": min(fit_images * rows * cols, FISHER_DESCRIPTORS),
                   "pca_dimensions": PCA_DIMENSIONS, "components": encoder.n_components,
                   "pyramid_levels": list(PYRAMID_LEVELS), "em_iterations": int(encoder.n_iter_),
                   "log_likelihood_per_descriptor": round(float(encoder.log_likelihood_), 4)},
        "feature_dimensions": dimensions,
        **output.details,
    }
    return output


PIPELINE = Pipeline(
    name="sift-fv",
    summary="dense RootSIFT reduced by PCA, improved Fisher vectors over a Gaussian mixture, with an "
            "intensity thumbnail (+ a colour histogram on colour data), then an SVM",
    learned=False,
    run=run,
    options=("svm", "tune", "precision", "seed"),
)
