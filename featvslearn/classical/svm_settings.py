"""Which SVM, with which settings: defaults per training-set size, the budget's candidates and
probes, the grid search, and fitting and predicting with any of them.

``make_svm`` builds standardisation and the SVM as one scikit-learn ``Pipeline``:
``make_pipeline(make_hog_features(...), make_svm(...))`` is the whole hand-engineered pipeline
for your own scikit-learn code; featvslearn runs the halves as separately measured stages.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import asdict, dataclass, replace
from typing import Any

import numpy as np
import torch
from sklearn.pipeline import Pipeline
from sklearn.svm import SVC
from sklearn.utils.validation import check_array

from featvslearn.classical.array_checks import to_tensor
from featvslearn.classical.standardiser import Standardiser
from featvslearn.classical.svm import FAST_STEPS_FROM, LinearSVM, NystroemRBF
from featvslearn.classical.svm_kinds import SVM_KINDS, rbf_landmarks
from featvslearn.device import svm_precision, synchronize

LARGE_SET_FROM = 20_000
"""Training images from which the classical pipelines use the settings chosen on a Fashion-MNIST
validation split (50,000 fit / 10,000 held out): the SVMs' C and gamma, the RBF SVM as a budget's
choice, sift-svm's larger codebook. Smaller sets keep hand-set values."""
EXACT_SVC_SLOW_ABOVE = 20_000
"""Training images above which scikit-learn's exact SVC takes many minutes."""


def default_svm_c(n_train: int) -> float:
    """Regularisation of the linear SVM suited to the training-set size: stronger for small sets.

    The C for 20,000 images or more (0.0003) is chosen on a Fashion-MNIST validation split by
    benchmarks/choose_defaults.py (figures in docs/benchmarks.md). Smaller sets keep hand-set
    values, 0.03 from 2,000 images and 0.3 below.
    """
    return 0.0003 if n_train >= LARGE_SET_FROM else 0.03 if n_train >= 2_000 else 0.3


@dataclass(frozen=True)
class SVMSettings:
    """Which SVM, and its hyper-parameters (reported with the results).

    ``gamma_scale`` multiplies scikit-learn's ``"scale"`` choice 1 / (D * variance), which is
    1 / D on standardised features.
    """

    kind: str
    C: float
    gamma_scale: float = 1.0
    n_components: int = 0
    max_iter: int = 150

    def as_dict(self) -> dict[str, Any]:
        return asdict(self)


def svm_settings_for(kind: str, n_train: int) -> SVMSettings:
    """Defaults for ``kind`` (linear, rbf, rbf-N or rbf-exact) suited to the training-set size.

    ``rbf-N`` is the RBF SVM's settings with N landmarks (at most one per training image, as the
    kernel map takes them from the training rows).
    """
    landmarks = rbf_landmarks(kind)
    if landmarks is not None:
        return replace(svm_settings_for("rbf", n_train), n_components=landmarks)
    if kind == "linear":
        return SVMSettings("linear", default_svm_c(n_train))
    if kind == "rbf":
        # C 3, the gamma scale 0.5 and the 4,000-landmark cap for 20,000 images or more: chosen on a
        # Fashion-MNIST validation split by benchmarks/choose_defaults.py (at 300 L-BFGS iterations);
        # smaller sets keep the hand-set C 1 and gamma scale 1, which the script does not try.
        large = n_train >= LARGE_SET_FROM
        return SVMSettings("rbf", 3.0 if large else 1.0, 0.5 if large else 1.0,
                           int(min(4000, max(100, n_train // 15))), max_iter=300)
    if kind == "rbf-exact":
        return SVMSettings("rbf-exact", 10.0, 1.0)
    raise ValueError(f"unknown SVM {kind!r}; use one of {', '.join(SVM_KINDS)}")


RBF_LANDMARKS_WITHIN_BUDGET: tuple[int, ...] = (6000, 4000, 2000)
"""The RBF SVM's landmark counts a budget chooses from, most first: each stronger than the next on a
Fashion-MNIST validation split, fewer no stronger than the linear SVM (docs/benchmarks.md)."""
PROBE_ROWS = 8192
"""Training rows a budget probe fits on (more for a large kernel map), scaled to the whole set."""


def svm_candidates(n_train: int, rbf: bool = True) -> list[SVMSettings]:
    """The SVMs a budget chooses from, strongest first: with ``rbf``, the RBF SVM with fewer and fewer
    landmarks (from :data:`LARGE_SET_FROM` images, at most one landmark per 8 images); then the linear
    SVM. Below that many the linear SVM is the stronger (on a digits validation split; docs/benchmarks.md),
    so it is the only configuration."""
    linear = svm_settings_for("linear", n_train)
    if not rbf or n_train < LARGE_SET_FROM:
        return [linear]
    kernel_svm = svm_settings_for("rbf", n_train)
    return [replace(kernel_svm, n_components=m) for m in RBF_LANDMARKS_WITHIN_BUDGET if m <= n_train // 8] + [linear]


def svm_name(settings: SVMSettings) -> str:
    """A short name of the SVM of ``settings``: ``linear``, ``rbf-4000`` (landmarks) or ``rbf-exact``."""
    return f"rbf-{settings.n_components}" if settings.kind == "rbf" else settings.kind


def _probe_rows(n: int, settings: SVMSettings, n_features: int) -> int:
    """Rows for a probe of ``settings``: :data:`PROBE_ROWS`, or enough for the SVM to take the same
    kind of solver steps it takes on all ``n`` rows (see ``FAST_STEPS_FROM``), at most ``n``."""
    width = settings.n_components or n_features
    same_steps = FAST_STEPS_FROM // width + 1 if n * width >= FAST_STEPS_FROM else 0
    return min(n, max(PROBE_ROWS, same_steps))


PROBE_ITERATION_SHARE = 10
"""A budget probe runs a tenth of the SVM's L-BFGS iterations (at least 10) and scales their seconds up:
the solver's bf16 and exact steps keep their proportions (see ``LinearSVM.fit``)."""


def probe_svm(settings: SVMSettings, x: torch.Tensor, y: np.ndarray, n_test: int, device: str, seed: int = 0,
              precision: str = "fp32") -> tuple[float, NystroemRBF | None]:
    """Estimate the seconds to fit the SVM of ``settings`` on features ``x`` (N, D) and to predict
    ``n_test`` images, from a short fit timed on a seeded draw of rows (see :func:`_probe_rows`).

    The kernel map's fit does not grow with N and is timed as it is; the map's transform is scaled
    from the probe's rows to N (and to ``n_test``), the SVM's fit from the probe's rows and
    iterations (a tenth, see :data:`PROBE_ITERATION_SHARE`) to N rows and all its iterations, its
    predictions to ``n_test``. The estimate errs long: the real fit may converge before its last
    iteration. Returns the estimate and, for the RBF SVM, the kernel map fitted on all of ``x``:
    the one the real fit would make, which :func:`fit_classifier` can take as it is.
    """
    import time

    n = len(y)
    rows = _probe_rows(n, settings, x.shape[1])
    pick = np.sort(np.random.default_rng(seed).choice(n, rows, replace=False))
    part, labels = (x, y) if rows == n else (x[torch.as_tensor(pick, device=x.device)], y[pick])  # (rows, D), (rows,)
    iterations = min(settings.max_iter, max(10, settings.max_iter // PROBE_ITERATION_SHARE))
    classifier = make_classifier(replace(settings, max_iter=iterations), x.shape[1], device, seed, precision)

    def timed(step: Callable[..., Any], *args: Any) -> tuple[Any, float]:
        start = time.perf_counter()
        value = step(*args)
        synchronize(device)
        return value, time.perf_counter() - start

    kernel, kernel_fit, transform = None, 0.0, 0.0
    svm, features = classifier, part
    if isinstance(classifier, Pipeline):
        kernel, svm = classifier.named_steps["kernel"], classifier.named_steps["svm"]
        _, kernel_fit = timed(kernel.fit, x)  # landmarks drawn from all N rows, as the real fit draws them
        features, transform = timed(kernel.transform, part)  # (rows, n_components)
    _, fit = timed(svm.fit, features, labels)
    _, predict = timed(svm.predict, features)
    per_row = 1.0 / rows
    estimate = (kernel_fit + transform * n * per_row + fit * n * per_row * settings.max_iter / iterations
                + (transform + predict) * n_test * per_row)
    return estimate, kernel


def make_classifier(settings: SVMSettings, n_features: int, device: str = "cpu", seed: int = 0,
                    precision: str = "fp32") -> Any:
    """The SVM of ``settings`` for standardised features with ``n_features`` columns.

    linear: the torch linear SVM on ``device``. rbf: a Nystroem RBF kernel map and the same
    linear SVM, both on ``device``. Both hold their feature matrices in ``precision`` (fp32 or
    bf16; see :func:`featvslearn.device.svm_precision`). rbf-exact: scikit-learn's ``SVC``
    (CPU, fp64, O(n²) memory).
    """
    gamma = settings.gamma_scale / max(n_features, 1)
    svm = LinearSVM(C=settings.C, max_iter=settings.max_iter, device=device, precision=precision)
    if settings.kind == "linear":
        return svm
    if settings.kind == "rbf":
        return Pipeline([
            ("kernel", NystroemRBF(n_components=settings.n_components, gamma=gamma, random_state=seed, device=device,
                                   precision=precision)),
            ("svm", svm),
        ])
    return SVC(C=settings.C, kernel="rbf", gamma=gamma)


def classifier_device(settings: SVMSettings, device: str) -> str:
    """Where the classifier of ``settings`` runs."""
    return "cpu" if settings.kind == "rbf-exact" else device


def _on_host(x: Any) -> np.ndarray:
    """Features as a NumPy array, for scikit-learn's SVC (torch tensors may live on a GPU)."""
    return x.detach().cpu().numpy() if isinstance(x, torch.Tensor) else np.asarray(x)


def _on_kernel_device(pipeline: Pipeline, x: Any) -> Any:
    """Features for the rbf Pipeline as a float32 tensor on its device.

    The kernel map then hands its (N, n_components) features to the SVM as a tensor on that
    device, in its precision, instead of as a float32 host array.
    """
    if isinstance(x, torch.Tensor):
        return x
    array = check_array(x, dtype=np.float32, ensure_min_samples=0, ensure_all_finite=False)  # checked by the map
    return to_tensor(array, pipeline.named_steps["kernel"].device, torch.float32)


def fit_classifier(classifier: Any, x: Any, y: np.ndarray, progress: Any = None,
                   kernel: NystroemRBF | None = None) -> Any:
    """Fit a classifier from :func:`make_classifier` on features (N, D), array or tensor.

    L-BFGS progress is forwarded where there is one. ``kernel``: a kernel map already fitted on
    these features with the classifier's settings (from :func:`probe_svm`), used instead of fitting
    the RBF SVM's own again.
    """
    if isinstance(classifier, LinearSVM):
        return classifier.fit(x, y, progress=progress)
    if isinstance(classifier, Pipeline) and kernel is not None:
        classifier.steps[0] = ("kernel", kernel)
        classifier.named_steps["svm"].fit(kernel.transform(_on_kernel_device(classifier, x)), y, progress=progress)
        return classifier
    if isinstance(classifier, Pipeline):
        return classifier.fit(_on_kernel_device(classifier, x), y, svm__progress=progress)
    return classifier.fit(_on_host(x), y)


def predict_classifier(classifier: Any, x: Any) -> np.ndarray:
    """Labels (N,) from a fitted classifier of :func:`make_classifier`, for features (N, D), array or tensor."""
    if isinstance(classifier, SVC):
        return classifier.predict(_on_host(x))
    if isinstance(classifier, Pipeline):
        x = _on_kernel_device(classifier, x)
    return np.asarray(classifier.predict(x))


def tune_svm(settings: SVMSettings, x: np.ndarray, y: np.ndarray, device: str = "cpu", seed: int = 0,
             progress: Any = None, precision: str = "fp32") -> tuple[SVMSettings, list[dict[str, Any]]]:
    """A small grid search on a validation part (a fifth) of the training set, never the test set.

    Tries C x {1/4, 1, 4} and, for the RBF kinds, gamma x {1/2, 1, 2}. Returns the best
    settings and every candidate's validation accuracy.
    """
    from sklearn.model_selection import train_test_split

    fit_index, val_index = train_test_split(np.arange(len(y)), test_size=0.2, stratify=y, random_state=seed)
    gammas = (1.0,) if settings.kind == "linear" else (0.5, 1.0, 2.0)
    candidates = [replace(settings, C=settings.C * c, gamma_scale=settings.gamma_scale * g)
                  for c in (0.25, 1.0, 4.0) for g in gammas]
    scores: list[dict[str, Any]] = []
    for done, candidate in enumerate(candidates):
        classifier = make_classifier(candidate, x.shape[1], device, seed, precision)
        fit_classifier(classifier, x[fit_index], y[fit_index])
        accuracy = float(np.mean(predict_classifier(classifier, x[val_index]) == y[val_index]))
        scores.append({**candidate.as_dict(), "validation_accuracy": accuracy})
        if progress is not None:
            progress(done + 1, len(candidates))
    best = max(range(len(candidates)), key=lambda i: scores[i]["validation_accuracy"])
    return candidates[best], scores


def make_svm(n_train: int, device: str = "cpu", kind: str = "linear", n_features: int = 0, seed: int = 0,
             precision: str = "auto") -> Pipeline:
    """Standardisation followed by the SVM of ``kind`` with default settings, as one Pipeline.

    ``n_features`` sets the RBF kernel width (1 / n_features on standardised features); it
    is only needed for the RBF kinds. ``precision`` is as for ``--precision`` (auto: bf16
    feature matrices where the device multiplies bf16 fast).
    """
    settings = svm_settings_for(kind, n_train)
    matrices = svm_precision(torch.device(device), precision)
    return Pipeline([("scale", Standardiser()),
                     ("svm", make_classifier(settings, n_features, device, seed, matrices))])
