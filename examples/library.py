"""Use featvslearn as a library, without the CLI: run a comparison, then use the pieces.

    .venv/bin/python examples/library.py
"""

from __future__ import annotations

from sklearn.pipeline import make_pipeline

from featvslearn.classical import hog_settings_for, make_hog_features, make_svm
from featvslearn.datasets import load_split
from featvslearn.experiments.compare import run_comparison
from featvslearn.experiments.config import CompareConfig
from featvslearn.reports.compare import reading


def main() -> None:
    # 1. The whole comparison, with a progress callback of our own instead of Rich bars.
    def progress(key: str, description: str, done: float, total: float | None) -> None:
        if total is not None and done >= total:
            print(f"done: {description}")

    results = run_comparison(CompareConfig(dataset="digits", device="cpu", seed=1).validated(), progress)
    for p in results.pipelines:
        print(f"{p.name:8} accuracy {p.accuracy:.3f}  train {p.train_seconds:.2f} s  "
              f"{p.images_per_second:,.0f} images/s")
    print(reading(results))

    # 2. The hand-engineered pipeline as an ordinary scikit-learn Pipeline.
    split = load_split("digits", seed=1)
    pipeline = make_pipeline(make_hog_features(hog_settings_for(split.train.image_shape)), make_svm(len(split.train)))
    pipeline.fit(split.train.images, split.train.labels)
    print(f"HOG + SVM as a scikit-learn pipeline: {pipeline.score(split.test.images, split.test.labels):.3f}")


if __name__ == "__main__":
    main()
