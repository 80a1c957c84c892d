"""The hand-engineered side: features made by hand, and the SVMs that classify them.

Modules, in the order a pipeline uses them:

* :mod:`.hog` — batched HOG in torch (equal to ``skimage.feature.hog``) and an intensity thumbnail;
* :mod:`.hog_bins` — HOG's orientation bins, strongest channels and square roots, as skimage's on any device;
* :mod:`.sift` — dense SIFT descriptors (grey or opponent colour) and a spatial-pyramid bag of visual words;
* :mod:`.fisher` — PCA, a diagonal Gaussian mixture by EM and improved Fisher vectors of dense descriptors;
* :mod:`.colour` — colour histograms (HSV or Lab, whole image and a coarse grid), for colour data;
* :mod:`.features` — hog-svm's featuriser and :func:`featurise`, which runs any featuriser on a device;
* :mod:`.standardiser` — zero mean, unit variance per feature, on the features' device;
* :mod:`.svm` — linear SVMs fitted in torch and the Nystroem RBF kernel map;
* :mod:`.svm_settings` — which SVM with which settings, the budget's probes, fit and predict;
* :mod:`.svm_kinds` — the names ``--svm`` accepts (plain Python);
* :mod:`.array_checks` — input checks shared by the estimators.

Every featuriser and SVM is a scikit-learn estimator. Names below are imported on first use, so
``import featvslearn.classical`` loads neither torch nor scikit-learn; the HOG function itself is
``featvslearn.classical.hog.hog``.
"""

from featvslearn.lazy import lazy_exports

EXPORTS: dict[str, str] = {
    "BLOCK_NORMS": "hog", "check_hog_params": "hog", "hog_n_features": "hog", "hog_tensor": "hog",
    "HOGTransformer": "hog", "ThumbnailTransformer": "hog", "HOGScale": "hog", "hog_scales_for": "hog",
    "thumbnail_side_for": "hog",
    "SIFTSettings": "sift", "sift_settings_for": "sift", "dense_sift": "sift", "DenseSIFT": "sift",
    "word_scores": "sift", "nearest_word": "sift", "kmeans": "sift", "SpatialPyramidCodebook": "sift",
    "make_sift_features": "sift",
    "fit_pca": "fisher", "fit_gmm": "fisher", "gmm_log_prob": "fisher", "region_weights": "fisher",
    "fisher_vectors": "fisher", "FisherVectorEncoder": "fisher",
    "ColourHistogram": "colour", "has_colour": "colour", "standard_colour_histogram": "colour",
    "input_words": "colour",
    "HOGSettings": "features", "hog_settings_for": "features", "make_hog_features": "features",
    "images_on": "features", "featurise_chunk_size": "features", "featurise": "features",
    "CPU_CHUNK_BYTES": "standardiser", "ACCELERATOR_CHUNK_ROWS": "standardiser", "Standardiser": "standardiser",
    "PRECISIONS": "svm", "FAST_STEPS_FROM": "svm", "CHOLESKY_TRIES": "svm", "RowChunks": "svm", "LinearSVM": "svm",
    "NystroemRBF": "svm",
    "LARGE_SET_FROM": "svm_settings", "EXACT_SVC_SLOW_ABOVE": "svm_settings", "default_svm_c": "svm_settings",
    "SVMSettings": "svm_settings", "svm_settings_for": "svm_settings", "RBF_LANDMARKS_WITHIN_BUDGET": "svm_settings",
    "PROBE_ROWS": "svm_settings", "svm_candidates": "svm_settings", "svm_name": "svm_settings",
    "PROBE_ITERATION_SHARE": "svm_settings", "probe_svm": "svm_settings", "make_classifier": "svm_settings",
    "classifier_device": "svm_settings", "fit_classifier": "svm_settings", "predict_classifier": "svm_settings",
    "tune_svm": "svm_settings", "make_svm": "svm_settings",
}
"""Each public name and the submodule that defines it; reading one imports that submodule."""

__getattr__, __dir__ = lazy_exports(__name__, EXPORTS)
__all__ = sorted(EXPORTS)
