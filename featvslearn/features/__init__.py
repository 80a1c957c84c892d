"""Hand-engineered image features as scikit-learn transformers, and a batched HOG."""

from featvslearn.features.hog import HOGTransformer, ThumbnailTransformer, check_hog_params, hog, hog_scales_for

__all__ = ["HOGTransformer", "ThumbnailTransformer", "check_hog_params", "hog", "hog_scales_for"]
