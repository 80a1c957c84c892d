"""Hand-engineered image features as scikit-learn transformers: a batched HOG and dense SIFT visual words."""

from featvslearn.features.hog import HOGTransformer, ThumbnailTransformer, check_hog_params, hog, hog_scales_for
from featvslearn.features.sift import DenseSIFT, SpatialPyramidCodebook, dense_sift, make_sift_features

__all__ = [
    "DenseSIFT",
    "HOGTransformer",
    "SpatialPyramidCodebook",
    "ThumbnailTransformer",
    "check_hog_params",
    "dense_sift",
    "hog",
    "hog_scales_for",
    "make_sift_features",
]
