"""Hand-engineered image features as scikit-learn transformers."""

from featvslearn.features.hog import HOGTransformer, ThumbnailTransformer, hog_scales_for

__all__ = ["HOGTransformer", "ThumbnailTransformer", "hog_scales_for"]
