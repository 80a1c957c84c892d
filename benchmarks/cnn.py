"""Benchmark: the CNN trainer and the learned-svm probe, with the figures README quotes.

Runs the cnn and learned-svm pipelines on the full Fashion-MNIST (and on CIFAR-10 when a copy
is found offline) with the test accuracy read after every epoch, and prints test accuracy,
training seconds, training and inference images/s, the epoch count and the precision, the
training seconds to 0.92 and to 0.93 test accuracy (epochs' own seconds, the readings not
counted), and the training GFLOP/s against a large matrix product measured in the same precision
on the same device. Targets on a 2-core CPU: cnn ≥ 0.93 with training ≤ 120 s, learned-svm ≥ 0.90.

    .venv/bin/python benchmarks/cnn.py --device cpu [--preset standard] [--epochs N]
"""

from __future__ import annotations

import argparse

import torch

from featvslearn.device import autocast_dtype, dtype_name
from featvslearn.errors import UserError
from featvslearn.experiments.compare import run_comparison
from featvslearn.experiments.config import CompareConfig
from featvslearn.measure.peak import matmul_gflops

TARGETS = {"fashion-mnist": {"cnn": (0.93, 120.0), "learned-svm": (0.90, None)}}
MILESTONES = (0.92, 0.93)


def seconds_to(accuracies: list[float], seconds: list[float], target: float) -> str:
    """Training seconds until the first epoch whose test accuracy reaches ``target``, as text."""
    for epoch, accuracy in enumerate(accuracies):
        if accuracy >= target:
            return f"{sum(seconds[: epoch + 1]):.1f} s (epoch {epoch + 1})"
    return "not reached"


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--device", default="cpu")
    parser.add_argument("--preset", default="standard")
    parser.add_argument("--epochs", type=int, default=None)
    parser.add_argument("--datasets", default="fashion-mnist,cifar10")
    args = parser.parse_args()
    for dataset in args.datasets.split(","):
        config = CompareConfig(dataset=dataset, device=args.device, pipelines=("cnn", "learned-svm"),
                               preset=args.preset, epochs=args.epochs, download=False, epoch_accuracy=True)
        try:
            results = run_comparison(config.validated())
        except UserError as exc:
            print(f"{dataset}: skipped ({exc})")
            continue
        env = results.environment
        print(f"{dataset}: {results.dataset.train_size} train / {results.dataset.test_size} test on {results.device} "
              f"({env['cpu']}, {env['torch_threads']} threads, GPU {env['gpu']}), preset {args.preset}; "
              f"machine busy (other processes' load): {results.machine_busy}")
        for p in results.pipelines:
            target, limit = TARGETS.get(dataset, {}).get(p.name, (None, None))
            verdict = ""
            if target is not None:
                ok = p.accuracy >= target and (limit is None or p.train_seconds <= limit)
                verdict = f"  target ≥ {target}" + (f" in ≤ {limit:.0f} s" if limit else "") + (" ok" if ok else
                                                                                                 " MISSED")
            line = f"  {p.name:11} accuracy {p.accuracy:.4f}  train {p.train_seconds:6.1f} s  " \
                   f"predict {p.images_per_second:9,.0f} images/s"
            if p.name == "cnn":
                d = p.details
                line += (f"  {d['training']['epochs']} epochs, {d['train_images_per_second']:,.0f} train images/s, "
                         f"{d['precision']}, {d['parameters']:,} parameters, {d['flops_per_image'] / 1e6:.1f} MFLOP"
                         f"/image, epoch seconds {', '.join(f'{s:.1f}' for s in d['seconds_per_epoch'])}")
                accuracies, seconds = d.get("test_accuracy_per_epoch", []), d["seconds_per_epoch"]
                line += "".join(f"\n    to {m}: {seconds_to(accuracies, seconds, m)}" for m in MILESTONES)
                line += ("\n    per-epoch test accuracy " + ", ".join(f"{a:.4f}" for a in accuracies))
                dtype = autocast_dtype(torch.device(args.device), "auto")
                peak = matmul_gflops(args.device, dtype)
                achieved = d["train_gflops_per_second"]
                line += (f"\n    training {achieved:.0f} GFLOP/s (3 x forward FLOPs per image) against "
                         f"{peak:.0f} GFLOP/s for a 2048x2048 {dtype_name(dtype)} matrix product here: "
                         f"{achieved / peak:.0%}")
            print(line + verdict)


if __name__ == "__main__":
    main()
