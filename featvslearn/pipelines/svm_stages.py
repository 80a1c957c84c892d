"""Stages shared by the pipelines that end in an SVM: standardise, (tune,) fit, predict.

``run_classical`` is a hand-engineered pipeline as measured stages (featuriser ->
standardisation -> SVM); ``fit_svm_stages`` is its SVM half, which learned-svm reuses on the
CNN's features.
"""

from __future__ import annotations

import warnings
from dataclasses import dataclass
from typing import Any

import numpy as np

from featvslearn.measure.contention import PREDICT, TRAIN
from featvslearn.pipelines.base import PipelineOutput, RunContext
from featvslearn.progress import bar

SVM_DESCRIPTIONS = {
    "linear": "linear SVM, squared hinge, one-vs-rest (L-BFGS, torch)",
    "rbf": "Nystroem RBF kernel map + linear SVM, squared hinge, one-vs-rest (L-BFGS, torch)",
    "rbf-exact": "scikit-learn SVC, RBF kernel (one-vs-one)",
}


def standard_svm(n_train: int, rbf_within_budget: bool) -> tuple[Any, str]:
    """The SVM a pipeline fits without ``--svm`` and without ``--budget``, and why: a fixed function of
    the training-set size, so the same command gives the same SVM on a quiet and on a busy machine.

    It is the strongest of :func:`featvslearn.classical.svm_candidates`: for hog-svm from
    :data:`featvslearn.classical.LARGE_SET_FROM` training images the RBF SVM with the most landmarks
    it allows (6,000 on Fashion-MNIST, which fits a few minutes on two cores), else the linear SVM.
    """
    from featvslearn import classical

    settings = classical.svm_candidates(n_train, rbf_within_budget)[0]
    if settings.kind == "rbf":
        why = (f"the standard SVM for {n_train:,} training images: the RBF SVM with the most landmarks "
               f"({settings.n_components:,}), the strongest on the Fashion-MNIST validation split")
    elif rbf_within_budget:
        why = (f"the standard SVM for {n_train:,} training images (the RBF SVM is the standard from "
               f"{classical.LARGE_SET_FROM:,})")
    else:
        why = "the standard SVM of this pipeline (the RBF SVM scored lower on its features)"
    return settings, why


def choose_svm(context: RunContext, name: str, x_train: Any, labels: np.ndarray, rest_seconds: float,
               rbf_within_budget: bool = False) -> tuple[Any, Any | None, Any | None, str]:
    """Which SVM to fit: ``--svm`` when given; else, with ``--budget``, the strongest that fits (probed
    in a measured ``choose svm (budget probe)`` stage when there is more than one); else the
    :func:`standard_svm`.

    The RBF SVM is a choice only with ``rbf_within_budget`` (hog-svm's rule: on its features it was
    measured the stronger, see docs/benchmarks.md) and from :data:`featvslearn.classical.LARGE_SET_FROM`
    training images. Within a budget no fit starts that is estimated past it: when even the quickest
    SVM is, it is fitted with fewer L-BFGS iterations, as many as the time left allows (at least 10).

    ``rest_seconds`` estimates what the pipeline will spend on the test set besides the SVM (its
    features). Returns the settings, the :class:`featvslearn.pipelines.budget.Choice` (None without a
    budget), the chosen RBF SVM's kernel map when its probe fitted it (None otherwise), and why.
    """
    import dataclasses
    import time

    from featvslearn import classical
    from featvslearn.device import svm_precision
    from featvslearn.pipelines import budget as budgets

    options, budget, n_train = context.settings, context.settings.budget, len(labels)
    if options.svm is not None:
        settings = classical.svm_settings_for(options.svm, n_train)
        return (settings, None if budget is None else budgets.given(budget, "--svm", options.svm), None,
                "given by --svm")
    if budget is None:
        settings, why = standard_svm(n_train, rbf_within_budget)
        return settings, None, None, why
    candidates = classical.svm_candidates(n_train, rbf_within_budget)
    if len(candidates) == 1:
        why = (f"the only SVM for {n_train:,} training images (the RBF SVM is a choice from "
               f"{classical.LARGE_SET_FROM:,})" if rbf_within_budget else
               f"the only SVM {name} chooses (the RBF SVM was measured stronger for hog-svm only)")
        return candidates[0], budgets.only(budget, classical.svm_name(candidates[0]), why), None, why
    device, n_test, before = str(context.device), len(context.split.test), context.spent_seconds()
    precision = svm_precision(context.device, options.precision)  # every probed SVM runs on the context's device
    kernels: dict[Any, Any] = {}

    def estimate(settings: Any) -> float:
        seconds, kernels[settings] = classical.probe_svm(settings, x_train, labels, n_test, device, options.seed,
                                                         precision)
        return seconds + rest_seconds

    def at_least(settings: Any, weaker: Any, weaker_rest: float) -> float:
        # a kernel map's transform and the SVM on its output grow with the landmarks, its fit faster
        ratio = settings.n_components / weaker.n_components if weaker.kind == "rbf" else 0.0
        return (weaker_rest - rest_seconds) * ratio + rest_seconds

    with context.monitor.stage("choose svm (budget probe)", device, role=TRAIN) as stage:
        context.progress(f"{name}-budget", f"{name}: probing the SVMs for the {budget.seconds:,.0f} s budget", 0, None)
        start = time.perf_counter()
        settings, choice = budgets.strongest_within(budget, candidates, classical.svm_name, estimate,
                                                    lambda: before + time.perf_counter() - start, at_least)
        context.progress(f"{name}-budget", f"{name}: chose {choice.chosen} for the budget", 1, 1)
    choice.probe_seconds = stage.seconds
    kernel = None if options.tune else kernels.get(settings)
    if kernel is not None:
        choice.reason += "; the fit takes the kernel map its probe fitted"
    estimated = choice.estimates.get(choice.chosen)
    if estimated is not None and estimated > budget.seconds:
        fit_rest = max(estimated - before - stage.seconds - rest_seconds, 1e-9)  # the SVM's own estimated seconds
        left = budget.seconds - context.spent_seconds() - rest_seconds
        iterations = max(10, min(settings.max_iter, int(settings.max_iter * left / fit_rest)))
        if iterations < settings.max_iter:
            choice.reason += (f"; fitted with {iterations} of its {settings.max_iter} L-BFGS iterations, so as not "
                              "to start a fit estimated past the budget")
            settings = dataclasses.replace(settings, max_iter=iterations)
    return settings, choice, kernel, choice.reason


@dataclass
class FittedSVMPipeline:
    """What an SVM pipeline fitted, left in a run's products under the pipeline's name (for
    ``compare --save``): the featuriser (a fitted scikit-learn featuriser, or the cnn's
    ``TrainedCNN`` for learned-svm), the fitted standardiser and the fitted classifier."""

    featuriser: Any
    standardiser: Any
    classifier: Any


HANDED_OVER = "hog-svm svm"
"""Where hog-svm leaves the SVM it chose (its settings after any tuning) in a run's products, for
learned-svm to fit the same SVM on the CNN's features."""


def fit_svm_stages(context: RunContext, name: str, x_train: Any, labels: np.ndarray, rest_seconds: float = 0.0,
                   rbf_within_budget: bool = False, handed_over: Any | None = None) -> tuple[Any, dict[str, Any], str]:
    """The SVM's choice (see :func:`choose_svm`), optional tuning, then its fit, as measured stages;
    ``x_train`` is standardised (N, D). ``handed_over``: settings to fit as they are (learned-svm
    fitting the SVM hog-svm chose), with no choice and no tuning.

    Returns the fitted classifier, its details for the report, and the device it runs on. The SVM
    fitted by hog-svm is left in ``context.products[HANDED_OVER]``.
    """
    import torch

    from featvslearn import classical
    from featvslearn.device import svm_precision

    options, monitor, progress = context.settings, context.monitor, context.progress
    n_train = len(labels)
    if handed_over is not None:
        settings, choice, kernel, why = handed_over, None, None, "the SVM hog-svm fitted in this run, handed over"
    else:
        settings, choice, kernel, why = choose_svm(context, name, x_train, labels, rest_seconds, rbf_within_budget)
    svm_device = classical.classifier_device(settings, str(context.device))
    precision = svm_precision(torch.device(svm_device), options.precision)
    details: dict[str, Any] = {}
    if options.svm == "rbf-exact" and n_train > classical.EXACT_SVC_SLOW_ABOVE:
        warnings.warn(f"{name}: --svm rbf-exact on {n_train:,} training images takes many minutes and O(n²) memory; "
                      "--svm rbf approximates it in seconds", UserWarning, stacklevel=2)
    if options.tune and handed_over is None:
        with monitor.stage("tune (validation split)", svm_device, role=TRAIN):
            progress(f"{name}-tune", f"{name}: tuning the SVM", 0, None)
            settings, scores = classical.tune_svm(settings, x_train, labels, svm_device, options.seed,
                                                  bar(progress, f"{name}-tune", f"{name}: tuning the SVM"), precision)
        details["svm_tuning"] = scores
    classifier = classical.make_classifier(settings, x_train.shape[1], svm_device, options.seed, precision)
    with monitor.stage("svm fit", svm_device, role=TRAIN):
        progress(f"{name}-fit", f"{name}: fitting the SVM", 0, None)
        classical.fit_classifier(classifier, x_train, labels, bar(progress, f"{name}-fit", f"{name}: fitting the SVM"),
                                 kernel)
        progress(f"{name}-fit", f"{name}: fitting the SVM", 1, 1)
    details["svm"] = SVM_DESCRIPTIONS[settings.kind]
    details["svm_choice"] = why
    details["svm_settings"] = settings.as_dict()
    details["svm_precision"] = "fp64" if settings.kind == "rbf-exact" else precision
    if name == "hog-svm":
        context.products[HANDED_OVER] = settings
    if choice is not None:
        details["budget"] = choice.as_dict()
    return classifier, details, svm_device


def run_classical(context: RunContext, name: str, featuriser: Any, fit_stage: str | None,
                  fit_rows: np.ndarray | None, what: str,
                  rbf_within_budget: bool = False) -> tuple[PipelineOutput, int]:
    """A hand-engineered pipeline as measured stages: featuriser -> standardisation -> SVM.

    The images go to the context's device once for the whole run (:meth:`RunContext.on_device`), as uint8;
    the features, the standardisation
    and the SVM stay there (the features come to the host only for ``--svm rbf-exact``, which is
    scikit-learn's), so every stage runs, and is reported, on that device. ``fit_stage`` names
    the stage that fits the featuriser on the training images of the sorted indices ``fit_rows`` (a
    codebook, say), taken from those on the device;
    without one, fitting only checks the image size and is part of the train-features stage.
    ``rbf_within_budget``: whether a budget may choose the RBF SVM (see :func:`choose_svm`).
    The fitted parts are left in ``context.products[name]`` (a :class:`FittedSVMPipeline`).
    Returns the output (details to be completed by the caller) and the feature dimension.
    """
    import torch

    from featvslearn import classical

    train_set, test_set = context.split.train, context.split.test
    monitor, progress, device = context.monitor, context.progress, context.device
    chunk = classical.featurise_chunk_size(len(train_set), device)
    if fit_stage is not None:
        with monitor.stage(fit_stage, device, role=TRAIN):
            progress(f"{name}-fit-features", f"{name}: {fit_stage}", 0, 1)
            on_device = context.on_device(train_set.images)  # (N, H, W, C) uint8
            featuriser.fit(on_device[torch.as_tensor(fit_rows, device=on_device.device)])  # (n, H, W, C)
            progress(f"{name}-fit-features", f"{name}: {fit_stage}", 1, 1)
    with monitor.stage("features (train)", device, role=TRAIN) as features_stage:
        progress(f"{name}-train", f"{name}: {what}, train set", 0, len(train_set))
        images = context.on_device(train_set.images)  # (N, H, W, C) uint8 on the device
        if fit_stage is None:
            featuriser.fit(images[:1])
        x_train = classical.featurise(featuriser, images, chunk,
                                      bar(progress, f"{name}-train", f"{name}: {what}, train set"))  # (N, D)
        del images
    with monitor.stage("standardise", device, role=TRAIN):
        standardiser = classical.Standardiser(copy=False)
        x_train = standardiser.fit_transform(x_train)
    test_features = features_stage.seconds * len(test_set) / len(train_set)  # estimated, for a budget
    classifier, svm_details, svm_device = fit_svm_stages(context, name, x_train, train_set.labels, test_features,
                                                         rbf_within_budget)
    del x_train
    with monitor.stage("features (test)", device, role=PREDICT):
        progress(f"{name}-test", f"{name}: {what}, test set", 0, len(test_set))
        x_test = classical.featurise(featuriser, context.on_device(test_set.images), chunk,
                                     bar(progress, f"{name}-test", f"{name}: {what}, test set"))  # (N, D)
    with monitor.stage("predict", svm_device, role=PREDICT):
        predictions = classical.predict_classifier(classifier, standardiser.transform(x_test))
    context.products[name] = FittedSVMPipeline(featuriser, standardiser, classifier)
    return PipelineOutput(predictions=predictions, details=svm_details), int(x_test.shape[1])
