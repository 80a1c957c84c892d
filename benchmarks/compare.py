"""Benchmark: the default comparison on a dataset, with the figures README quotes.

Runs ``featvslearn compare`` with default options through the library API and prints, per
pipeline, accuracy, train and predict seconds, images/s and the whole wall time, next to
the targets: on full Fashion-MNIST, hog-svm ≥ 0.90 and cnn ≥ 0.92 within 6 minutes on a
2-core CPU; on digits, both ≥ 0.95 within 2 minutes.

    .venv/bin/python benchmarks/compare.py --dataset fashion-mnist --device cpu
    .venv/bin/python benchmarks/compare.py --dataset digits
"""

from __future__ import annotations

import argparse
import time

import torch

from featvslearn.experiments.compare import run_comparison
from featvslearn.experiments.config import CompareConfig

TARGETS = {
    "fashion-mnist": ({"hog-svm": 0.90, "cnn": 0.92}, 360.0),
    "digits": ({"hog-svm": 0.95, "cnn": 0.95}, 120.0),
}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--dataset", default="fashion-mnist")
    parser.add_argument("--device", default="cpu")
    parser.add_argument("--seed", type=int, default=0)
    args = parser.parse_args()

    start = time.perf_counter()
    results = run_comparison(CompareConfig(dataset=args.dataset, device=args.device, seed=args.seed).validated())
    wall = time.perf_counter() - start
    env = results.environment
    print(f"dataset {results.dataset.name}: {results.dataset.train_size} train / {results.dataset.test_size} test, "
          f"device {results.device}, seed {results.seed}")
    print(f"machine: {env['cpu']}, {env['cpu_cores_logical']} logical cores, torch threads {torch.get_num_threads()}, "
          f"GPU {env['gpu']}")
    targets, wall_target = TARGETS.get(results.dataset.name, ({}, None))
    header = ("pipeline", "accuracy", "target", "train s", "predict s", "images/s", "wall s")
    print(f"{header[0]:10} " + " ".join(f"{h:>{w}}" for h, w in zip(header[1:], (9, 7, 8, 9, 10, 7), strict=True)))
    for p in results.pipelines:
        target = targets.get(p.name)
        mark = "" if target is None else (" ok" if p.accuracy >= target else " MISSED")
        print(f"{p.name:10} {p.accuracy:9.4f} {target or '':>7} {p.train_seconds:8.1f} {p.predict_seconds:9.2f} "
              f"{p.images_per_second:10,.0f} {sum(s.seconds for s in p.stages):7.1f}{mark}")
    mark = "" if wall_target is None else (" ok" if wall <= wall_target else " MISSED")
    print(f"load {results.dataset.load_seconds:.1f} s; whole comparison {wall:.1f} s"
          + (f" (target ≤ {wall_target:.0f} s){mark}" if wall_target else ""))


if __name__ == "__main__":
    main()
