"""bf16 feature matrices in the linear SVM: the solver still converges as it does in fp32."""

from __future__ import annotations

import numpy as np
import torch

from featvslearn import classical
from featvslearn.classical.svm import LinearSVM
from featvslearn.datasets import load_split


def hog_features(n: int) -> tuple[torch.Tensor, np.ndarray]:
    """Standardised HOG features (n, D) of the first n digits training images, and their labels."""
    split = load_split("digits", download=False)
    images = split.train.images[:n]
    featuriser = classical.make_hog_features(classical.hog_settings_for(images.shape[1:]), device="cpu")
    x = classical.featurise(featuriser.fit(images[:1]), classical.images_on(images, "cpu"), 1000)
    return classical.Standardiser(copy=False).fit_transform(x), split.train.labels[:n]


def test_a_bf16_fit_reaches_the_fp32_optimum_instead_of_stalling_on_rounding() -> None:
    x, y = hog_features(67)  # a small problem: 67 images, 424 features, about 290 L-BFGS iterations in fp32
    fp32 = LinearSVM(C=0.3, max_iter=300, precision="fp32").fit(x, y)
    bf16 = LinearSVM(C=0.3, max_iter=300, precision="bf16").fit(x, y)
    rounded = x.bfloat16().float()  # the problem bf16 storage solves
    assert bf16.n_iter_ >= 0.8 * fp32.n_iter_, (bf16.n_iter_, fp32.n_iter_)
    assert bf16.objective(rounded, y) <= fp32.objective(rounded, y) * (1 + 1e-3)
    np.testing.assert_allclose(bf16.decision_function(x), fp32.decision_function(x), atol=0.05)


def test_bf16_and_fp32_scores_are_formed_in_fp32() -> None:
    x, y = hog_features(200)
    svm = LinearSVM(C=0.3, max_iter=50, precision="bf16").fit(x, y)
    scores = svm.decision_function(x)  # (N, K)
    exact = x.bfloat16().double().numpy() @ svm.coef_.T.astype(np.float64) + svm.intercept_
    np.testing.assert_allclose(scores, exact, rtol=0, atol=1e-4)  # bf16 results would be off by ~1e-2
