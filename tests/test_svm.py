"""The torch linear SVM and the Nystroem kernel map."""

from __future__ import annotations

import numpy as np
import pytest
import torch
from scipy.spatial.distance import cdist
from sklearn.datasets import make_classification
from sklearn.svm import LinearSVC

from featvslearn.classical.svm import LinearSVM, NystroemRBF


def test_linear_svm_separates_separable_classes() -> None:
    rng = np.random.default_rng(0)
    centres = rng.normal(0, 5, (4, 10))
    y = np.repeat(np.arange(4), 50)
    x = centres[y] + rng.normal(0, 0.5, (200, 10))
    model = LinearSVM(C=1.0).fit(x, y)
    assert (model.predict(x) == y).all()
    assert model.coef_.shape == (4, 10) and model.intercept_.shape == (4,)


def test_linear_svm_agrees_with_liblinear_on_the_same_objective() -> None:
    x, y = make_classification(n_samples=600, n_features=20, n_informative=10, n_classes=3, random_state=0)
    ours = LinearSVM(C=0.1, max_iter=500, tol=1e-7).fit(x, y)
    theirs = LinearSVC(C=0.1, loss="squared_hinge", tol=1e-8, max_iter=20000, intercept_scaling=100).fit(x, y)
    agreement = np.mean(ours.predict(x) == theirs.predict(x))
    assert agreement >= 0.98
    np.testing.assert_allclose(ours.coef_, theirs.coef_, atol=0.05)


def test_linear_svm_keeps_string_labels_and_reports_progress() -> None:
    x, y = make_classification(n_samples=200, n_features=5, random_state=1)
    labels = np.where(y == 1, "cat", "dog")
    calls: list[tuple[int, int]] = []
    model = LinearSVM(max_iter=60).fit(x, labels, progress=lambda done, total: calls.append((done, total)))
    assert set(model.predict(x)) <= {"cat", "dog"}
    assert calls and all(total == 60 and done <= 60 for done, total in calls)


def test_nystroem_reproduces_the_kernel_when_every_row_is_a_landmark() -> None:
    x = np.random.default_rng(0).normal(size=(50, 4))
    mapped = NystroemRBF(n_components=50, gamma=0.5).fit(x).transform(x).astype(np.float64)
    exact = np.exp(-0.5 * cdist(x, x, "sqeuclidean"))
    np.testing.assert_allclose(mapped @ mapped.T, exact, atol=1e-3, rtol=0)


def test_bf16_feature_matrices_give_the_fp32_answer() -> None:
    x, y = make_classification(n_samples=2000, n_features=40, n_informative=20, n_classes=4, random_state=2)
    full = LinearSVM(C=0.1, max_iter=200).fit(x, y)
    half = LinearSVM(C=0.1, max_iter=200, precision="bf16").fit(x, y)
    assert np.mean(full.predict(x) == half.predict(x)) >= 0.97
    assert half.coef_.dtype == np.float32  # only the feature matrix is held in bf16
    mapped = NystroemRBF(n_components=300, gamma=0.02, precision="bf16").fit(x)
    features = mapped.transform(torch.tensor(x[:200], dtype=torch.float32))
    assert features.dtype == torch.bfloat16  # tensors in, tensors out (on the device, in bf16)
    np.testing.assert_array_equal(mapped.transform(x[:200]), features.float().numpy())  # arrays in: float32 out
    exact = torch.exp(-0.02 * torch.cdist(torch.tensor(x[:200]), torch.tensor(x[:200])).square())
    assert (features.double() @ features.double().T - exact).abs().mean() < 0.02


def test_unknown_precision_is_refused() -> None:
    with pytest.raises(ValueError, match="fp32, bf16"):
        LinearSVM(precision="fp8").fit(np.eye(4), np.arange(4))


def test_nystroem_copes_with_repeated_landmarks() -> None:
    x = np.repeat(np.random.default_rng(1).normal(size=(5, 3)), 20, axis=0)  # 100 rows, 5 distinct
    mapped = NystroemRBF(n_components=100, gamma=0.5).fit(x).transform(x).astype(np.float64)
    exact = np.exp(-0.5 * cdist(x, x, "sqeuclidean"))
    np.testing.assert_allclose(mapped @ mapped.T, exact, atol=1e-3, rtol=0)
