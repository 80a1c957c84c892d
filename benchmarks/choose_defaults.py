"""Choose the accuracy-tuned defaults on a validation split of the Fashion-MNIST training set.

Only the 60,000 training images are read; the test files never are. A seeded, stratified
split keeps 10,000 of them for validation and 50,000 to fit on; every grid below runs through the
product's own code (HOG featuriser, torch SVMs and the CNN trainer), and each is
printed as a table (value, validation accuracy, seconds) with the value chosen and whether it is
the value in the code:

- linear SVM C (``classical.default_svm_c``, its branch for 20,000 training images or more);
- RBF SVM (``classical.svm_settings_for("rbf", ...)``): C x gamma scale at 2,000 landmarks, then
  2,000 against 4,000 landmarks at the chosen C and gamma (300 L-BFGS iterations throughout);
- CNN epochs (``train.default_epochs``): validation accuracy after epochs 4, 6, 8 and 9 of ONE
  run of 9 epochs (the default for 50,000 images: 420,000 image passes). The one-cycle schedule
  decays the learning rate to zero only at the last epoch, so a reading before it understates a
  schedule of that length; ``--epochs-separately`` trains each length as its own run (18 more
  epochs);
- CNN width (``models.cnn_config_for``, 32 then 64 channels on a CPU): the width multiplier of the
  presets, 0.5 against 1, both trained for 9 epochs.

(ablate chooses each variant's learning rate itself, in every run, on a validation split of that
run's training images: see ``featvslearn.experiments.ablation.choose_lr``.)

Rule: the best validation accuracy; any value within 0.002 of it that costs less wins (fewer
landmarks, epochs or channels; for C and gamma, which cost alike, the smaller value, the smoother
model).

Everything runs on the CPU at the precision compare picks there (``auto``: bf16 autocast and bf16
SVM matrices on a CPU with fast bf16, fp32 elsewhere). The full run takes about 9 minutes on a
2-core CPU (AMD EPYC with fast bf16, 2 torch threads), from rates measured there: HOG features of
60,000 images 7 s, a linear SVM fit 10 s, an RBF fit at 2,000 landmarks 14 s, the CNN 2,600
training images/s at width x1 and 6,700 at x0.5; about 4.5 minutes each for the SVMs and the CNN
(``--epochs-separately`` adds about 6). The minutes of each part are printed at the end.
``--quick`` runs the same code on a few hundred images in under a minute, to check the script;
its choices mean nothing.

    .venv/bin/python benchmarks/choose_defaults.py [--quick] [--only svm|cnn] [--seed 0]
        [--data-dir DIR] [--epochs-separately]
"""

from __future__ import annotations

import argparse
import dataclasses
import math
import sys
import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np
import torch

from featvslearn import classical
from featvslearn.datasets import Dataset, Split, subsample
from featvslearn.datasets.core import split_dataset
from featvslearn.datasets.idx import FASHION_MNIST_CLASSES, IDX_IMAGES_MAGIC, IDX_LABELS_MAGIC, find_idx, read_idx
from featvslearn.device import autocast_dtype, svm_precision
from featvslearn.experiments.run import measured_run, seed_everything, warm_up
from featvslearn.learned import train
from featvslearn.learned.models import cnn_config_for
from featvslearn.pipelines import RunContext, RunSettings
from featvslearn.pipelines.cnn import train_network

TOLERANCE = 0.002
"""A value within this much validation accuracy of the best counts as a tie; the cheaper one wins."""
DEVICE = torch.device("cpu")
FULL_TRAINING_SET = 60_000
"""Fashion-MNIST's training images: the size compare trains on, for the code's size-dependent defaults."""


# --------------------------------------------------------------------------- plan
@dataclass(frozen=True)
class Plan:
    """The sizes and grids of one run of this script."""

    fit_size: int
    validation_size: int
    linear_cs: tuple[float, ...]
    rbf_cs: tuple[float, ...]
    rbf_gammas: tuple[float, ...]
    rbf_search_landmarks: int
    rbf_landmarks: tuple[int, ...]
    cnn_epochs: tuple[int, ...]
    cnn_widths: tuple[float, ...]


FULL = Plan(
    fit_size=50_000, validation_size=10_000,
    linear_cs=(0.0003, 0.001, 0.003, 0.01, 0.03),
    rbf_cs=(1.0, 3.0, 10.0, 30.0), rbf_gammas=(0.5, 1.0, 2.0), rbf_search_landmarks=2_000, rbf_landmarks=(2_000, 4_000),
    cnn_epochs=(3, 4, 6, train.default_epochs(50_000, "cpu")), cnn_widths=(0.5, 1.0),
)
QUICK = Plan(
    fit_size=1_500, validation_size=500,
    linear_cs=FULL.linear_cs,
    rbf_cs=(3.0, 10.0), rbf_gammas=(1.0, 2.0), rbf_search_landmarks=100, rbf_landmarks=(100, 200),
    cnn_epochs=(1, 2), cnn_widths=FULL.cnn_widths,
)


def describe(plan: Plan, parts: Sequence[str], separately: bool) -> list[str]:
    """What the run will do, one line per part."""
    rbf_runs = len(plan.rbf_cs) * len(plan.rbf_gammas) + len(plan.rbf_landmarks) - 1
    epochs = max(plan.cnn_epochs)
    cnn_epochs = (sum(plan.cnn_epochs) if separately else epochs) + epochs * (len(plan.cnn_widths) - 1)
    lines = [f"data: {plan.fit_size:,} fit / {plan.validation_size:,} validation images, a stratified split of "
             "the Fashion-MNIST training set (the test set is not read)"]
    if "svm" in parts:
        lines += [f"svm: HOG features of {plan.fit_size + plan.validation_size:,} images; linear C "
                  f"{_values(plan.linear_cs)} ({len(plan.linear_cs)} fits); rbf C {_values(plan.rbf_cs)} x gamma "
                  f"scale {_values(plan.rbf_gammas)} at {plan.rbf_search_landmarks:,} landmarks, then landmarks "
                  f"{_values(plan.rbf_landmarks)} ({rbf_runs} fits)"]
    if "cnn" in parts:
        how = "one run per length" if separately else f"read after each epoch of one {epochs}-epoch run"
        lines += [f"cnn: epochs {_values(plan.cnn_epochs)} ({how}); width multiplier {_values(plan.cnn_widths)} "
                  f"at {epochs} epochs; {cnn_epochs} epochs of {plan.fit_size:,} images in all"]
    return lines


def _values(values: Sequence[float]) -> str:
    return ", ".join(f"{v:,g}" for v in values)


# --------------------------------------------------------------------------- data
def load_training_set(data_dir: Path | None) -> Dataset:
    """Fashion-MNIST's training images (60,000, 28, 28, 1) uint8 and labels, found where the product looks.

    Only the two training files are read.
    """
    found = find_idx("fashion-mnist", data_dir)
    if found is None:
        sys.exit("Fashion-MNIST not found (the idx files in --data-dir, the cache or "
                 "/usr/share/datasets/fashion-mnist); download it with "
                 "`featvslearn compare --dataset fashion-mnist` or pass --data-dir DIR")
    folder, files = found
    images = read_idx(files[0], IDX_IMAGES_MAGIC)  # (N, 28, 28)
    labels = read_idx(files[1], IDX_LABELS_MAGIC)  # (N,)
    return Dataset(name="fashion-mnist", images=images[..., np.newaxis].copy(), labels=labels.astype(np.int64),
                   class_names=FASHION_MNIST_CLASSES, source=str(folder), hflip_ok=True)


def validation_split(training_set: Dataset, plan: Plan, seed: int) -> Split:
    """A seeded, stratified fit / validation split of the training set (the validation part as ``test``)."""
    pool = subsample(training_set, min(len(training_set), plan.fit_size + plan.validation_size), seed=seed)
    # ceil(fraction * N) validation images: half an image below the size rounds up to it exactly
    split = split_dataset(pool, (plan.validation_size - 0.5) / len(pool), seed=seed)
    assert len(split.test) == plan.validation_size, len(split.test)
    return split


# --------------------------------------------------------------------------- choosing
@dataclass(frozen=True)
class Row:
    """One grid point: its label, value, validation accuracy, seconds, and where it stands in the
    cost order (lower is cheaper) that breaks ties."""

    label: str
    value: Any
    accuracy: float
    seconds: float
    cost: tuple[float, ...]


def choose(rows: Sequence[Row]) -> Row:
    """The best validation accuracy; among values within ``TOLERANCE`` of it, the cheapest."""
    best = max(r.accuracy for r in rows)
    return min((r for r in rows if best - r.accuracy <= TOLERANCE + 1e-12), key=lambda r: r.cost)


def same(a: Any, b: Any) -> bool:
    """Whether two grid values are equal (floats to a relative 1e-9)."""
    if isinstance(a, tuple):
        return len(a) == len(b) and all(same(x, y) for x, y in zip(a, b, strict=True))
    return math.isclose(float(a), float(b), rel_tol=1e-9)


def show_grid(title: str, rows: Sequence[Row], code_value: Any, code_label: str, seconds_header: str = "seconds",
              note: str = "") -> dict[str, Any]:
    """Print one grid as a table with the choice; returns the summary line's fields."""
    chosen = choose(rows)
    best = max(r.accuracy for r in rows)
    width = max(len("value"), *(len(r.label) for r in rows))
    print(f"\n{title}")
    print(f"  {'value':<{width}}  validation accuracy  {seconds_header:>9}")
    for r in rows:
        marks = (" <- best" if r.accuracy == best else "") + (" <- chosen" if r is chosen else "") + (
            " (code)" if same(r.value, code_value) else "")
        print(f"  {r.label:<{width}}  {r.accuracy:19.4f}  {r.seconds:9.1f}{marks}")
    agrees = same(chosen.value, code_value)
    print(f"  chosen: {chosen.label}; the code has {code_label}: " + ("the same" if agrees else "DIFFERENT"))
    if note:
        print(f"  note: {note}")
    return {"setting": title, "code": code_label, "chosen": chosen.label, "same": agrees}


class Ticker:
    """A progress callback that prints the latest description at most every ``every_seconds``."""

    def __init__(self, every_seconds: float) -> None:
        self.every_seconds = every_seconds
        self.last = 0.0

    def __call__(self, key: str, description: str, completed: float, total: float | None) -> None:
        now = time.perf_counter()
        if now - self.last >= self.every_seconds:
            self.last = now
            done = f" ({completed / total:.0%})" if total else ""
            print(f"    {description.replace('test accuracy', 'validation accuracy')}{done}", flush=True)


# --------------------------------------------------------------------------- SVM
def hog_features(split: Split) -> tuple[np.ndarray, np.ndarray, float]:
    """HOG features of the fit and validation images, standardised on the fit part, as hog-svm makes them.

    Returns (fit features (N, D) float32, validation features (M, D) float32, seconds).
    """
    start = time.perf_counter()
    featuriser = classical.make_hog_features(classical.hog_settings_for(split.train.image_shape), device="cpu")
    featuriser.fit(split.train.images[:1])
    chunk = classical.featurise_chunk_size(len(split.train), "cpu")
    x_fit = classical.featurise(featuriser, classical.images_on(split.train.images, "cpu"), chunk)
    x_validation = classical.featurise(featuriser, classical.images_on(split.test.images, "cpu"), chunk)
    standardiser = classical.Standardiser(copy=False)
    x_fit = standardiser.fit_transform(x_fit)
    return x_fit.numpy(), standardiser.transform(x_validation).numpy(), time.perf_counter() - start


def score_svm(settings: classical.SVMSettings, x_fit: np.ndarray, y_fit: np.ndarray, x_validation: np.ndarray,
              y_validation: np.ndarray, seed: int) -> tuple[float, float]:
    """Fit the SVM of ``settings`` as hog-svm does; returns (validation accuracy, fit seconds)."""
    seed_everything(seed)
    precision = svm_precision(DEVICE, "auto")
    classifier = classical.make_classifier(settings, x_fit.shape[1], "cpu", seed, precision)
    start = time.perf_counter()
    classical.fit_classifier(classifier, x_fit, y_fit)
    seconds = time.perf_counter() - start
    accuracy = float(np.mean(classical.predict_classifier(classifier, x_validation) == y_validation))
    return accuracy, seconds


def choose_svm(split: Split, plan: Plan, seed: int) -> list[dict[str, Any]]:
    """The linear C grid, then the RBF C x gamma grid and the landmark grid; prints each."""
    print("\n== SVM on HOG features ==")
    print(f"  HOG features of {len(split.train):,} + {len(split.test):,} images ...", flush=True)
    x_fit, x_validation, seconds = hog_features(split)
    print(f"  {x_fit.shape[1]:,} features per image in {seconds:.1f} s", flush=True)
    y_fit, y_validation = split.train.labels, split.test.labels
    n_fit = len(y_fit)

    def score(settings: classical.SVMSettings, label: str) -> tuple[float, float]:
        print(f"  {label} ...", end=" ", flush=True)
        accuracy, fit_seconds = score_svm(settings, x_fit, y_fit, x_validation, y_validation, seed)
        print(f"{accuracy:.4f} in {fit_seconds:.1f} s", flush=True)
        return accuracy, fit_seconds

    summary = []
    linear = classical.svm_settings_for("linear", n_fit)
    rows = []
    for c in plan.linear_cs:
        accuracy, fit_seconds = score(dataclasses.replace(linear, C=c), f"linear C {c:g}")
        rows.append(Row(f"C {c:g}", c, accuracy, fit_seconds, (c,)))
    code_c = classical.svm_settings_for("linear", FULL_TRAINING_SET).C
    summary.append(show_grid(f"linear SVM C (max_iter {linear.max_iter})", rows, code_c,
                             f"C {code_c:g} (default_svm_c, 20,000 images or more)", "fit s"))

    code = classical.svm_settings_for("rbf", FULL_TRAINING_SET)
    base = dataclasses.replace(classical.svm_settings_for("rbf", n_fit), n_components=plan.rbf_search_landmarks)
    rows = []
    for c in plan.rbf_cs:
        for gamma in plan.rbf_gammas:
            accuracy, fit_seconds = score(dataclasses.replace(base, C=c, gamma_scale=gamma),
                                          f"rbf C {c:g}, gamma x{gamma:g}, {base.n_components:,} landmarks")
            rows.append(Row(f"C {c:g}, gamma x{gamma:g}", (c, gamma), accuracy, fit_seconds, (c, gamma)))
    summary.append(show_grid(
        f"RBF SVM C x gamma scale ({base.n_components:,} landmarks, max_iter {base.max_iter})", rows,
        (code.C, code.gamma_scale), f"C {code.C:g}, gamma x{code.gamma_scale:g}", "fit s"))
    chosen = choose(rows)
    c, gamma = chosen.value
    rows = [Row(f"{base.n_components:,}", base.n_components, chosen.accuracy, chosen.seconds, (base.n_components,))]
    for landmarks in plan.rbf_landmarks:
        if landmarks != base.n_components:
            settings = dataclasses.replace(base, C=c, gamma_scale=gamma, n_components=landmarks)
            accuracy, fit_seconds = score(settings, f"rbf C {c:g}, gamma x{gamma:g}, {landmarks:,} landmarks")
            rows.append(Row(f"{landmarks:,}", landmarks, accuracy, fit_seconds, (landmarks,)))
    rows.sort(key=lambda r: r.cost)
    summary.append(show_grid(
        f"RBF SVM landmarks (C {c:g}, gamma x{gamma:g})", rows, code.n_components,
        f"{code.n_components:,} at 60,000 images (min(4,000, n / 15): "
        f"{classical.svm_settings_for('rbf', n_fit).n_components:,} for {n_fit:,})", "fit s"))
    return summary


# --------------------------------------------------------------------------- CNN
@dataclass(frozen=True)
class CNNRun:
    """Validation accuracy and training seconds after each epoch of one run."""

    accuracy_per_epoch: list[float]
    seconds_per_epoch: list[float]


def train_cnn_run(split: Split, width_multiplier: float, epochs: int, seed: int, ticker: Ticker) -> CNNRun:
    """Train compare's CNN (standard preset settings, the network at ``width_multiplier``) on the fit
    part for ``epochs``, measuring validation accuracy after each epoch; as ablate runs a variant:
    an untimed warm-up on a small slice, then the run."""
    train_set = split.train
    cnn_config = cnn_config_for(train_set.image_shape, train_set.num_classes, DEVICE.type, width_multiplier)
    dtype = autocast_dtype(DEVICE, "auto")
    run_settings = RunSettings(seed=seed, epochs=epochs, epoch_accuracy=True)

    def body(context: RunContext) -> tuple[Any, train.TrainLog]:
        images = context.split.train
        settings = train.train_settings_for(len(images), min(images.image_shape[:2]), DEVICE.type, images.hflip_ok,
                                            seed, epochs=context.settings.epochs, autocast_dtype=dtype)
        return train_network(context, cnn_config, settings, epoch_accuracy=context.settings.epoch_accuracy)

    seed_everything(seed)
    with measured_run(DEVICE, "cnn", len(train_set)) as monitor:
        warm_up(monitor, body, split, DEVICE, run_settings)
        _, log = body(RunContext(split=split, device=DEVICE, settings=run_settings, monitor=monitor,
                                 progress=ticker))
    return CNNRun(log.test_accuracy_per_epoch, log.seconds_per_epoch)


def choose_cnn(split: Split, plan: Plan, seed: int, separately: bool, ticker: Ticker) -> list[dict[str, Any]]:
    """The epochs grid (one run read after each epoch, or one run per length), then the width grid."""
    print("\n== CNN ==")
    longest = max(plan.cnn_epochs)
    n_fit = len(split.train)
    runs: dict[int, CNNRun] = {}
    for epochs in sorted(plan.cnn_epochs) if separately else [longest]:
        print(f"  width x1, {epochs} epoch{'s' if epochs != 1 else ''} on {n_fit:,} images ...", flush=True)
        runs[epochs] = train_cnn_run(split, 1.0, epochs, seed, ticker)
    rows = []
    for epochs in sorted(plan.cnn_epochs):
        run = runs[epochs] if separately else runs[longest]
        accuracy, seconds = run.accuracy_per_epoch[epochs - 1], sum(run.seconds_per_epoch[:epochs])
        rows.append(Row(f"{epochs} ({epochs * n_fit:,} image passes)", epochs, accuracy, seconds, (epochs,)))
    code_epochs = train.default_epochs(n_fit, DEVICE.type)
    note = "" if separately else (
        f"read after each epoch of one {longest}-epoch schedule: the learning rate reaches zero only at epoch "
        f"{longest}, so a shorter reading understates a schedule of that length (--epochs-separately trains each)")
    summary = [show_grid("CNN epochs on a CPU (width x1, standard preset)", rows, code_epochs,
                         f"{code_epochs} epochs for {n_fit:,} images (default_epochs: about 240,000 image passes, "
                         f"{train.default_epochs(FULL_TRAINING_SET, DEVICE.type)} epochs of 60,000)",
                         "train s", note)]
    rows = []
    for width in sorted(plan.cnn_widths):
        if width == 1.0:
            run = runs[longest]
        else:
            print(f"  width x{width:g}, {longest} epochs on {n_fit:,} images ...", flush=True)
            run = train_cnn_run(split, width, longest, seed, ticker)
        channels = cnn_config_for(split.train.image_shape, split.train.num_classes, DEVICE.type, width).widths
        rows.append(Row(f"x{width:g} ({'/'.join(map(str, channels))} channels)", width, run.accuracy_per_epoch[-1],
                        sum(run.seconds_per_epoch), (width,)))
    summary.append(show_grid(f"CNN width multiplier on a CPU ({longest} epochs)", rows, 1.0,
                             "x1 (32/64/128 channels on a CPU; the standard preset)", "train s"))
    return summary


# --------------------------------------------------------------------------- main
PARTS = ("svm", "cnn")


def main() -> None:
    sys.stdout.reconfigure(line_buffering=True)  # type: ignore[union-attr]
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--data-dir", type=Path, default=None,
                        help="folder with the Fashion-MNIST idx files (default: where the product looks)")
    parser.add_argument("--quick", action="store_true", help="tiny sizes (about a minute) to check the script")
    parser.add_argument("--only", choices=PARTS, default=None, help="run one part")
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--epochs-separately", action="store_true",
                        help="train each CNN epoch count as its own run instead of reading one run after each epoch")
    args = parser.parse_args()
    plan = QUICK if args.quick else FULL
    parts = (args.only,) if args.only else PARTS
    print(f"choose_defaults: {'--quick (tiny sizes: the choices mean nothing)' if args.quick else 'full run'}, "
          f"seed {args.seed}, CPU, {torch.get_num_threads()} torch threads")
    for line in describe(plan, parts, args.epochs_separately):
        print(f"  {line}")
    start = time.perf_counter()
    data_dir = args.data_dir.expanduser() if args.data_dir else None
    split = validation_split(load_training_set(data_dir), plan, args.seed)
    print(f"  loaded from {split.train.source}: {len(split.train):,} fit / {len(split.test):,} validation "
          f"in {time.perf_counter() - start:.1f} s")
    ticker = Ticker(5.0 if args.quick else 20.0)
    choosers: dict[str, Callable[[], list[dict[str, Any]]]] = {
        "svm": lambda: choose_svm(split, plan, args.seed),
        "cnn": lambda: choose_cnn(split, plan, args.seed, args.epochs_separately, ticker),
    }
    summary: list[dict[str, Any]] = []
    minutes: dict[str, float] = {}
    for part in parts:
        part_start = time.perf_counter()
        summary += choosers[part]()
        minutes[part] = (time.perf_counter() - part_start) / 60
    print("\n== summary ==")
    for s in summary:
        print(f"  {'same     ' if s['same'] else 'DIFFERENT'}  {s['setting']}: chosen {s['chosen']}; code {s['code']}")
    print(f"minutes: {', '.join(f'{p} {m:.1f}' for p, m in minutes.items())}; "
          f"total {(time.perf_counter() - start) / 60:.1f}")


if __name__ == "__main__":
    main()
