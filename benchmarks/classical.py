"""Benchmark: the hand-engineered pipelines (hog-svm, sift-svm) on the full Fashion-MNIST.

Prints test accuracy and the seconds of every stage (where each ran), next to the targets
on a 2-core CPU: hog-svm ≥ 0.926 (the Fashion-MNIST benchmark's best HOG + SVM, which took
about 50 minutes) and sift-svm ≥ 0.90, each with training plus prediction ≤ 60 s. CIFAR-10
runs too when a copy is found offline.

    .venv/bin/python benchmarks/classical.py --device cpu [--svm budget,linear,rbf] [--budget 60]
                                             [--datasets fashion-mnist,cifar10]

Each pipeline runs once per SVM in ``--svm``: ``budget`` (default) lets it choose its strongest
SVM within ``--budget`` seconds (default 60, the targets' limit), as ``compare`` does; the names
of ``compare --svm`` fix the SVM.
"""

from __future__ import annotations

import argparse

from featvslearn.errors import UserError
from featvslearn.experiments.compare import run_comparison
from featvslearn.experiments.config import CompareConfig

TARGETS = {"fashion-mnist": {"hog-svm": (0.926, 60.0), "sift-svm": (0.90, 60.0)}}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--device", default="cpu")
    parser.add_argument("--svm", default="budget", help="comma-separated: budget (each pipeline's choice within "
                        "--budget), linear, rbf, rbf-exact")
    parser.add_argument("--budget", type=float, default=60.0, help="seconds per pipeline (default: 60)")
    parser.add_argument("--pipelines", default="hog-svm,sift-svm")
    parser.add_argument("--datasets", default="fashion-mnist,cifar10")
    args = parser.parse_args()
    for dataset in args.datasets.split(","):
        for svm in args.svm.split(","):
            if not run(dataset, svm, args):
                break


def run(dataset: str, svm: str, args: argparse.Namespace) -> bool:
    """Run and print one dataset with one SVM; False when the dataset is not available."""
    config = CompareConfig(dataset=dataset, device=args.device, pipelines=tuple(args.pipelines.split(",")),
                           svm=None if svm == "budget" else svm, budget=args.budget, download=False)
    try:
        results = run_comparison(config.validated())
    except UserError as exc:
        print(f"{dataset}: skipped ({exc})")
        return False
    env = results.environment
    print(f"{dataset}: {results.dataset.train_size} train / {results.dataset.test_size} test on {results.device} "
          f"({env['cpu']}, {env['torch_threads']} threads, GPU {env['gpu']}), --svm {svm}, "
          f"budget {args.budget:g} s a pipeline")
    for p in results.pipelines:
        target, limit = TARGETS.get(dataset, {}).get(p.name, (None, None))
        total = p.train_seconds + p.predict_seconds
        verdict = ""
        if target is not None:
            ok = p.accuracy >= target and (limit is None or total <= limit)
            verdict = f"  target ≥ {target}" + (f" in ≤ {limit:.0f} s" if limit else "") + (
                " ok" if ok else " MISSED")
        print(f"  {p.name:9} accuracy {p.accuracy:.4f}  train {p.train_seconds:6.1f} s  predict "
              f"{p.predict_seconds:5.2f} s  train+predict {total:6.1f} s  {p.details['feature_dimensions']:,} "
              f"features, {p.details.get('svm_precision', 'fp32')} SVM matrices{verdict}")
        if "budget" in p.details:
            print(f"      chose {p.details['budget']['chosen']}: {p.details['budget']['reason']}")
        for s in p.stages:
            print(f"      {s.name:22} {s.device:6} {s.seconds:7.2f} s")
    return True


if __name__ == "__main__":
    main()
