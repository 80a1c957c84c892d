"""Benchmark: featvslearn's cnn against its peer, airbench94, on the same GPU and the same 32×32 colour images.

airbench94 (Keller Jordan, the ``airbench`` package from the package registry; 94 % on CIFAR-10 in
2.6-3.8 s on an A100) is the fastest published CNN trainer for these images. Both train on the same
50,000 training images on the same device: real CIFAR-10 when ``--data-dir`` holds it (the files
``featvslearn compare --dataset cifar10 --data-dir DIR`` reads), otherwise a synthetic set of random
images of the same shape, which serves for timing only (no accuracy is read from it: the output says so).
airbench's ``CifarLoader`` reads ``train.pt`` and ``test.pt`` from a folder; they are written under
``--out``, so the peer never touches the network.

Printed and written to ``OUT/airbench_peer.json`` for each side: seconds per epoch, training images per
second, total training seconds and test accuracy (real data only), and the ratio of featvslearn's
seconds per epoch to airbench's (the GPU check's target: within 1.25×). Each side's one-time costs
(cuDNN's algorithm search, airbench's warm-up run, featvslearn's warm-up on a small slice) are paid
before its timed run.

``--dry-run`` runs the same steps on the CPU with a few hundred images and one epoch, to check the
script and the files it writes: airbench94 builds its network with ``.half().cuda()``, so on a CPU its
side is skipped with that reason.

    PYTHONPATH=. python benchmarks/airbench_peer.py --out DIR [--data-dir DIR] [--device cuda] [--dry-run]
"""

from __future__ import annotations

import argparse
import contextlib
import json
import os
import statistics
import time
from pathlib import Path
from typing import Any

import numpy as np
import torch

from featvslearn.datasets import Dataset, Split, load_split
from featvslearn.errors import UserError
from featvslearn.experiments.run import run_pipeline
from featvslearn.files import atomic_write_text
from featvslearn.pipelines.base import RunSettings

TRAIN_IMAGES, TEST_IMAGES = 50_000, 10_000
DRY_TRAIN, DRY_TEST = 512, 256
AIRBENCH_EPOCHS = 9.9
"""airbench94's published schedule (its ``hyp['opt']['train_epochs']``)."""
TARGET_RATIO = 1.25
"""The GPU check's target: featvslearn's cnn epoch within this many times airbench94's."""
CLASSES = ("airplane", "automobile", "bird", "cat", "deer", "dog", "frog", "horse", "ship", "truck")


# ----------------------------------------------------------------------------- data
def the_images(data_dir: Path | None, dry_run: bool, seed: int = 0) -> tuple[Split, bool]:
    """CIFAR-10 from ``data_dir`` (real: True), or a synthetic set of its shape (False); a few hundred
    images of either for a dry run."""
    real = None
    if data_dir is not None:
        with contextlib.suppress(UserError):
            real = load_split("cifar10", data_dir=data_dir, download=False)
    n_train, n_test = (DRY_TRAIN, DRY_TEST) if dry_run else (TRAIN_IMAGES, TEST_IMAGES)
    if real is not None:
        return Split(train=_first(real.train, n_train), test=_first(real.test, n_test), origin=real.origin), True
    rng = np.random.default_rng(seed)

    def synthetic(n: int, name: str) -> Dataset:
        images = rng.integers(0, 256, (n, 32, 32, 3), dtype=np.uint8)  # (N, H, W, C)
        labels = rng.integers(0, len(CLASSES), n).astype(np.int64)
        return Dataset(name, images, labels, CLASSES, "random images of CIFAR-10's shape", hflip_ok=True)

    return Split(train=synthetic(n_train, "synthetic"), test=synthetic(n_test, "synthetic"),
                 origin="synthetic: for timing only"), False


def _first(ds: Dataset, n: int) -> Dataset:
    return Dataset(ds.name, ds.images[:n].copy(), ds.labels[:n].copy(), ds.class_names, ds.source, ds.hflip_ok)


def write_airbench_files(split: Split, folder: Path) -> None:
    """``train.pt`` and ``test.pt`` as airbench's CifarLoader reads them: uint8 images (N, 32, 32, 3),
    int64 labels and the class names."""
    folder.mkdir(parents=True, exist_ok=True)
    for name, ds in (("train.pt", split.train), ("test.pt", split.test)):
        torch.save({"images": torch.from_numpy(ds.images), "labels": torch.from_numpy(ds.labels),
                    "classes": list(ds.class_names)}, folder / name)


# ----------------------------------------------------------------------------- the two sides
def featvslearn_side(split: Split, device: torch.device, real: bool, epochs: int | None) -> dict[str, Any]:
    """featvslearn's cnn through the same measured run as ``compare`` (its warm-up on a small slice untimed)."""
    settings = RunSettings(seed=0, epochs=epochs, epoch_accuracy=False)
    result = run_pipeline("cnn", split, device, settings)
    per_epoch = result.details["seconds_per_epoch"]
    seconds = statistics.median(per_epoch)
    return {"ran": True, "epochs": len(per_epoch), "seconds_per_epoch": seconds,
            "images_per_second": len(split.train) / seconds, "train_seconds": result.train_seconds,
            "test_accuracy": result.accuracy if real else None,
            "batch_size": result.details["training"]["batch_size"], "precision": result.details["precision"]}


def airbench_side(split_folder: Path, device: torch.device, n_train: int, real: bool) -> dict[str, Any]:
    """airbench94 on the files in ``split_folder`` (its warm-up run first, untimed); a reason when it cannot run."""
    if device.type != "cuda":
        return {"ran": False, "reason": "airbench94 runs on CUDA only (its network is built with .half().cuda())"}
    try:
        import airbench
    except ImportError:
        return {"ran": False, "reason": "the airbench package is not installed (pip install airbench)"}
    here = Path.cwd()
    os.chdir(split_folder.parent)  # airbench's trainer opens its test set as ./cifar10/test.pt
    try:
        def loader() -> Any:
            return airbench.CifarLoader(split_folder.name, train=True, batch_size=1024,
                                        aug={"flip": True, "translate": 2}, altflip=True, gpu=device.index or 0)

        airbench.warmup94(train_loader=loader(), verbose=False)
        torch.cuda.synchronize(device)
        start = time.perf_counter()
        model = airbench.train94(train_loader=loader(), verbose=False)
        torch.cuda.synchronize(device)
        seconds = time.perf_counter() - start
        accuracy = None
        if real:
            test = airbench.CifarLoader(split_folder.name, train=False, batch_size=2000, gpu=device.index or 0)
            accuracy = float(airbench.evaluate(model, test, tta_level=2))
    finally:
        os.chdir(here)
    per_epoch = seconds / AIRBENCH_EPOCHS
    return {"ran": True, "epochs": AIRBENCH_EPOCHS, "seconds_per_epoch": per_epoch,
            "images_per_second": n_train / per_epoch, "train_seconds": seconds, "test_accuracy": accuracy,
            "batch_size": 1024, "precision": "fp16"}


# ----------------------------------------------------------------------------- main
def compare_sides(ours: dict[str, Any], peer: dict[str, Any]) -> dict[str, Any]:
    """The ratio of featvslearn's seconds per epoch to airbench94's, and whether it meets the target."""
    if not peer.get("ran"):
        return {"epoch_ratio": None, "target": TARGET_RATIO, "met": None, "reason": peer.get("reason")}
    ratio = ours["seconds_per_epoch"] / peer["seconds_per_epoch"]
    return {"epoch_ratio": ratio, "target": TARGET_RATIO, "met": ratio <= TARGET_RATIO, "reason": None}


def lines(summary: dict[str, Any]) -> list[str]:
    """The figures as the terminal shows them."""
    out = [f"data: {summary['data']} ({summary['train_images']:,} training images, device {summary['device']})"]
    for name in ("featvslearn", "airbench94"):
        side = summary[name]
        if not side.get("ran"):
            out.append(f"{name:12} skipped: {side['reason']}")
            continue
        accuracy = f", test accuracy {side['test_accuracy']:.4f}" if side["test_accuracy"] is not None else ""
        out.append(f"{name:12} {side['seconds_per_epoch']:.3f} s an epoch ({side['images_per_second']:,.0f} "
                   f"images/s), {side['train_seconds']:.2f} s of training for {side['epochs']:g} epochs{accuracy}")
    ratio = summary["ratio"]
    if ratio["epoch_ratio"] is not None:
        out.append(f"featvslearn's epoch is {ratio['epoch_ratio']:.2f}× airbench94's (target ≤ {TARGET_RATIO}×: "
                   f"{'met' if ratio['met'] else 'missed'})")
    if summary["data"].startswith("synthetic"):
        out.append("synthetic images: the timings hold, no accuracy is read from them")
    return out


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--out", type=Path, required=True, help="folder for airbench_peer.json and the .pt files")
    parser.add_argument("--data-dir", type=Path, default=None, help="a folder holding CIFAR-10")
    parser.add_argument("--device", default=None, help="default: cuda when available, else cpu")
    parser.add_argument("--dry-run", action="store_true", help="a few hundred images, one epoch, on the CPU")
    args = parser.parse_args()
    device = torch.device("cpu" if args.dry_run else args.device or ("cuda" if torch.cuda.is_available() else "cpu"))
    split, real = the_images(args.data_dir, args.dry_run)
    files = args.out / "airbench-data" / "cifar10"
    write_airbench_files(split, files)
    ours = featvslearn_side(split, device, real, epochs=1 if args.dry_run else None)
    peer = airbench_side(files, device, len(split.train), real)
    summary = {"data": "CIFAR-10" if real else "synthetic: random images of CIFAR-10's shape, for timing only",
               "train_images": len(split.train), "device": str(device), "dry_run": args.dry_run,
               "torch": torch.__version__, "featvslearn": ours, "airbench94": peer, "ratio": compare_sides(ours, peer)}
    for line in lines(summary):
        print(line)
    atomic_write_text(args.out / "airbench_peer.json", json.dumps(summary, indent=2, allow_nan=False) + "\n")
    print(f"written to {args.out / 'airbench_peer.json'}")


if __name__ == "__main__":
    main()
