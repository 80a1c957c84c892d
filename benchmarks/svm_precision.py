"""Benchmark: the linear SVM with fp32 and with bf16 feature matrices, on hog-svm's features.

For each problem it fits ``LinearSVM`` (hog-svm's default C and iteration budget for that many
images) once with ``precision="fp32"`` and once with ``"bf16"``, on the standardised HOG
features hog-svm computes, and prints L-BFGS iterations, fit seconds, the primal objective
reached (on the bf16-rounded features both solve) and test accuracy. Problems: the digits
(bundled with scikit-learn), full Fashion-MNIST (when installed) and a small colour folder: 67
training and 40 test 32x32 crops of four of scikit-image's colour photographs, one class each.

    .venv/bin/python benchmarks/svm_precision.py [--device cpu]
"""

from __future__ import annotations

import argparse
import time

import numpy as np

from featvslearn import classical
from featvslearn.classical.svm import LinearSVM
from featvslearn.datasets import load_split


def colour_crops(n: int, seed: int) -> tuple[np.ndarray, np.ndarray]:
    """``n`` (32, 32, 3) uint8 crops of four colour photographs, labelled by photograph."""
    from skimage import data

    sources = [data.astronaut(), data.chelsea(), data.coffee(), data.rocket()]
    rng = np.random.default_rng(seed)
    labels = rng.integers(0, len(sources), n)
    crops = []
    for label in labels:
        image = sources[label][::4, ::4]  # a quarter scale: a crop shows a good part of the photograph
        row, col = rng.integers(image.shape[0] - 32), rng.integers(image.shape[1] - 32)
        crops.append(image[row : row + 32, col : col + 32])
    return np.stack(crops), labels


def problems() -> list[tuple[str, np.ndarray, np.ndarray, np.ndarray, np.ndarray]]:
    """(name, train images, train labels, test images, test labels) for each problem available here."""
    found = []
    digits = load_split("digits", download=False)
    found.append(("digits", digits.train.images, digits.train.labels, digits.test.images, digits.test.labels))
    try:
        fashion = load_split("fashion-mnist", download=False)
        found.append(("fashion-mnist", fashion.train.images, fashion.train.labels, fashion.test.images,
                      fashion.test.labels))
    except Exception as exc:  # not installed here
        print(f"fashion-mnist skipped: {exc}")
    x_train, y_train = colour_crops(67, seed=0)
    x_test, y_test = colour_crops(40, seed=1)
    found.append(("colour folder (67 images)", x_train, y_train, x_test, y_test))
    return found


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--device", default="cpu")
    device = parser.parse_args().device
    print(f"{'problem':27s} {'precision':9s} {'iterations':>10s} {'fit s':>7s} {'objective':>12s} {'accuracy':>8s}")
    for name, x_train, y_train, x_test, y_test in problems():
        featuriser = classical.make_hog_features(classical.hog_settings_for(x_train.shape[1:]), device=device)
        featuriser.fit(x_train[:1])
        chunk = classical.featurise_chunk_size(len(x_train), device)
        features = classical.featurise(featuriser, classical.images_on(x_train, device), chunk)  # (N, D)
        test = classical.featurise(featuriser, classical.images_on(x_test, device), chunk)  # (M, D)
        standardiser = classical.Standardiser(copy=False)
        features, test = standardiser.fit_transform(features), standardiser.transform(test)
        settings = classical.svm_settings_for("linear", len(x_train))
        rounded = features.bfloat16().float()  # the problem both solve to within fp32 rounding
        for precision in ("fp32", "bf16"):
            svm = LinearSVM(C=settings.C, max_iter=settings.max_iter, device=device, precision=precision)
            started = time.perf_counter()
            svm.fit(features, y_train)
            seconds = time.perf_counter() - started
            accuracy = float(np.mean(svm.predict(test) == y_test))
            reached = svm.objective(rounded, y_train)
            print(f"{name:27s} {precision:9s} {svm.n_iter_:10d} {seconds:7.2f} {reached:12.6g} {accuracy:8.4f}",
                  flush=True)


if __name__ == "__main__":
    main()
