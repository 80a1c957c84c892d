"""Stages shared by the pipelines that end in an SVM: standardise, (tune,) fit, predict.

``run_classical`` is a hand-engineered pipeline as measured stages (featuriser ->
standardisation -> SVM); ``fit_svm_stages`` is its SVM half, which learned-svm reuses on the
CNN's features.
"""

from __future__ import annotations

import warnings
from typing import Any

import numpy as np

from featvslearn.pipelines.base import PipelineOutput, RunContext
from featvslearn.progress import bar

SVM_DESCRIPTIONS = {
    "linear": "linear SVM, squared hinge, one-vs-rest (L-BFGS, torch)",
    "rbf": "Nystroem RBF kernel map + linear SVM, squared hinge, one-vs-rest (L-BFGS, torch)",
    "rbf-exact": "scikit-learn SVC, RBF kernel (one-vs-one)",
}


def fit_svm_stages(context: RunContext, name: str, x_train: Any, labels: np.ndarray) -> tuple[Any, dict[str, Any], str]:
    """Optional tuning, then the SVM fit, as measured stages; ``x_train`` is standardised (N, D).

    Returns the fitted classifier, its details for the report, and the device it runs on.
    """
    import torch

    from featvslearn import classical
    from featvslearn.device import svm_precision

    options, monitor, progress = context.settings, context.monitor, context.progress
    n_train = len(labels)
    settings = classical.svm_settings_for(options.svm, n_train)
    svm_device = classical.classifier_device(settings, str(context.device))
    precision = svm_precision(torch.device(svm_device), options.precision)
    details: dict[str, Any] = {}
    if options.svm == "rbf-exact" and n_train > classical.EXACT_SVC_SLOW_ABOVE:
        warnings.warn(f"{name}: --svm rbf-exact on {n_train:,} training images takes many minutes and O(n²) memory; "
                      "--svm rbf approximates it in seconds", UserWarning, stacklevel=2)
    if options.tune:
        with monitor.stage("tune (validation split)", svm_device):
            progress(f"{name}-tune", f"{name}: tuning the SVM", 0, None)
            settings, scores = classical.tune_svm(settings, x_train, labels, svm_device, options.seed,
                                                  bar(progress, f"{name}-tune", f"{name}: tuning the SVM"), precision)
        details["svm_tuning"] = scores
    classifier = classical.make_classifier(settings, x_train.shape[1], svm_device, options.seed, precision)
    with monitor.stage("svm fit", svm_device):
        progress(f"{name}-fit", f"{name}: fitting the SVM", 0, None)
        classical.fit_classifier(classifier, x_train, labels, bar(progress, f"{name}-fit", f"{name}: fitting the SVM"))
        progress(f"{name}-fit", f"{name}: fitting the SVM", 1, 1)
    details["svm"] = SVM_DESCRIPTIONS[settings.kind]
    details["svm_settings"] = settings.as_dict()
    details["svm_precision"] = "fp64" if settings.kind == "rbf-exact" else precision
    return classifier, details, svm_device


def run_classical(context: RunContext, name: str, featuriser: Any, fit_stage: str | None,
                  fit_images: np.ndarray | None, what: str) -> tuple[PipelineOutput, int]:
    """A hand-engineered pipeline as measured stages: featuriser -> standardisation -> SVM.

    The images go to the context's device once, as uint8; the features, the standardisation
    and the SVM stay there (the features come to the host only for ``--svm rbf-exact``, which is
    scikit-learn's), so every stage runs, and is reported, on that device. ``fit_stage`` names
    the stage that fits the featuriser on ``fit_images`` (training images only: a codebook, say);
    without one, fitting only checks the image size and is part of the train-features stage.
    Returns the output (details to be completed by the caller) and the feature dimension.
    """
    from featvslearn import classical

    train_set, test_set = context.split.train, context.split.test
    monitor, progress, device = context.monitor, context.progress, context.device
    chunk = classical.featurise_chunk_size(len(train_set), device)
    if fit_stage is not None:
        with monitor.stage(fit_stage, device):
            progress(f"{name}-fit-features", f"{name}: {fit_stage}", 0, 1)
            featuriser.fit(classical.images_on(fit_images, device))
            progress(f"{name}-fit-features", f"{name}: {fit_stage}", 1, 1)
    with monitor.stage("features (train)", device):
        progress(f"{name}-train", f"{name}: {what}, train set", 0, len(train_set))
        images = classical.images_on(train_set.images, device)  # (N, H, W, C) uint8 on the device
        if fit_stage is None:
            featuriser.fit(images[:1])
        x_train = classical.featurise(featuriser, images, chunk,
                                      bar(progress, f"{name}-train", f"{name}: {what}, train set"))  # (N, D)
        del images
    with monitor.stage("standardise", device):
        standardiser = classical.Standardiser()
        x_train = standardiser.fit_transform(x_train)
    classifier, svm_details, svm_device = fit_svm_stages(context, name, x_train, train_set.labels)
    del x_train
    with monitor.stage("features (test)", device):
        progress(f"{name}-test", f"{name}: {what}, test set", 0, len(test_set))
        x_test = classical.featurise(featuriser, classical.images_on(test_set.images, device), chunk,
                                     bar(progress, f"{name}-test", f"{name}: {what}, test set"))  # (N, D)
    with monitor.stage("predict", svm_device):
        predictions = classical.predict_classifier(classifier, standardiser.transform(x_test))
    return PipelineOutput(predictions=predictions, details=svm_details), int(x_test.shape[1])
