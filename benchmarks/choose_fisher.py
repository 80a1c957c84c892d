"""Choose sift-fv's mixture components, PCA size and spatial pyramid on validation splits.

Fashion-MNIST (the default): the training set is split, seeded and stratified, into 50,000 images to
fit on and 10,000 to validate (seed 0, as every other choice in docs/benchmarks.md); the test set is
never read. A colour folder (``--folder``): only its ``train/`` images are read, split into three
quarters to fit on and a quarter to validate, ``--splits`` times with different seeds.

Each candidate is scored through the product's own code: dense SIFT (computed once per split),
:class:`featvslearn.classical.fisher.FisherVectorEncoder` fitted as ``pipelines.sift_fv`` fits it (on
the descriptors of at most ``FISHER_IMAGES`` fitting images, at most ``FISHER_DESCRIPTORS`` of them),
the thumbnail (and on colour data sift-svm's colour histogram), the standardiser and the standard SVM
for that many images. Printed: each candidate's feature count, mean validation accuracy (and per
split) and seconds (fit + encoding + SVM, per split). Rule: the best mean validation accuracy; a
candidate with fewer features (listed earlier) within 0.002 of it (Fashion-MNIST) or 0.01 (a folder,
whose validation parts are small) wins.

    .venv/bin/python benchmarks/choose_fisher.py [--device cpu] [--only 0,2]
    .venv/bin/python benchmarks/photo_folder.py /tmp/photos_fv --seed 2
    .venv/bin/python benchmarks/choose_fisher.py --folder /tmp/photos_fv [--splits 5]

``--reference`` scores sift-svm's standard featuriser (as ``pipelines.sift_svm`` builds it, its codebook
fitted on the fitting part) on the same splits instead, the bar sift-fv must clear to run by default.
"""

from __future__ import annotations

import argparse
import dataclasses
import time
from pathlib import Path
from typing import Any

import numpy as np
import torch

from featvslearn import classical
from featvslearn.classical.colour import has_colour, standard_colour_histogram
from featvslearn.classical.fisher import FisherVectorEncoder
from featvslearn.classical.hog import ThumbnailTransformer, thumbnail_side_for
from featvslearn.classical.sift import DenseSIFT, sift_settings_for
from featvslearn.datasets import Split, load_split
from featvslearn.datasets.core import split_dataset
from featvslearn.datasets.folder import load_folder
from featvslearn.device import svm_precision
from featvslearn.experiments.run import seed_everything
from featvslearn.pipelines.sift_fv import FISHER_DESCRIPTORS, FISHER_IMAGES

Candidate = tuple[int, int, tuple[int, ...]]
"""Mixture components, PCA dimensions, pyramid levels."""
FASHION_CANDIDATES: list[Candidate] = [
    (32, 64, (1,)), (64, 32, (1,)), (64, 64, (1,)), (16, 64, (1, 2)), (32, 32, (1, 2)), (32, 64, (1, 2)),
]
"""Fashion-MNIST's candidates, fewest features first (4,096 to 20,480)."""
FOLDER_CANDIDATES: list[Candidate] = [
    (8, 64, (1,)), (16, 32, (1,)), (16, 64, (1,)), (8, 64, (1, 2)), (16, 32, (1, 2)), (16, 64, (1, 2)),
]
"""A colour folder's candidates (a few hundred training images), fewest features first."""


def features(encoder: FisherVectorEncoder, grids: torch.Tensor, others: torch.Tensor) -> torch.Tensor:
    """Fisher vectors of ``grids`` joined with the other features (thumbnail, colour), (N, F)."""
    return torch.cat([encoder.transform(grids), others], dim=1)


def score(split: Split, grids: tuple[torch.Tensor, torch.Tensor], others: tuple[torch.Tensor, torch.Tensor],
          candidate: Candidate, device: str, seed: int) -> tuple[float, int, float]:
    """Validation accuracy, feature count and seconds of one candidate on one split."""
    components, dimensions, levels = candidate
    seed_everything(seed)
    start = time.perf_counter()
    chosen = np.sort(np.random.default_rng(seed).permutation(len(split.train))[:FISHER_IMAGES])
    encoder = FisherVectorEncoder(n_components=components, pca_dimensions=dimensions, pyramid_levels=levels,
                                  max_descriptors=FISHER_DESCRIPTORS, random_state=seed, device=device)
    encoder.fit(grids[0][torch.from_numpy(chosen).to(grids[0].device)].float())
    x_fit = torch.cat([encoder.transform(part.float()) for part in grids[0].split(10_000)])  # (N, F)
    x_fit = torch.cat([x_fit, others[0]], dim=1)
    standardiser = classical.Standardiser(copy=False)
    x_fit = standardiser.fit_transform(x_fit)
    settings = classical.svm_candidates(len(split.train), False)[0]
    precision = svm_precision(torch.device(device), "auto")
    classifier = classical.make_classifier(settings, x_fit.shape[1], device, seed, precision)
    classical.fit_classifier(classifier, x_fit, split.train.labels)
    n_features = int(x_fit.shape[1])
    del x_fit
    x_validation = torch.cat([encoder.transform(grids[1].float()), others[1]], dim=1)
    predictions = classical.predict_classifier(classifier, standardiser.transform(x_validation))
    return float(np.mean(predictions == split.test.labels)), n_features, time.perf_counter() - start


def describe(split: Split, device: str) -> tuple[tuple[torch.Tensor, torch.Tensor], tuple[torch.Tensor, torch.Tensor]]:
    """Dense SIFT grids (float16, to halve their memory) and the other features of both sides."""
    settings = sift_settings_for(split.train.image_shape)
    sift = DenseSIFT(settings.spatial_bin_size, settings.stride, device=device).fit(split.train.images[:1])
    parts: list[Any] = [ThumbnailTransformer(size=thumbnail_side_for(*split.train.image_shape[:2]))]
    if has_colour(split.train.images):
        parts.append(standard_colour_histogram("sift-svm"))
    grids, others = [], []
    for images in (split.train.images, split.test.images):
        on_device = classical.images_on(images, device)
        grids.append(torch.cat([sift.transform(chunk).half() for chunk in on_device.split(5_000)]))
        others.append(torch.cat([part.fit(on_device[:1]).transform(on_device) for part in parts], dim=1))
    return (grids[0], grids[1]), (others[0], others[1])


def sift_svm_accuracy(split: Split, device: str, seed: int) -> tuple[float, int, float]:
    """Validation accuracy, feature count and seconds of sift-svm's standard featuriser and SVM."""
    from sklearn.pipeline import FeatureUnion

    from featvslearn.classical.sift import make_sift_features
    from featvslearn.pipelines.sift_svm import LARGE_SET_WORDS, SIFT_CODEBOOK_IMAGES

    seed_everything(seed)
    start = time.perf_counter()
    train_set = split.train
    settings = sift_settings_for(train_set.image_shape,
                                 n_words=LARGE_SET_WORDS if len(train_set) >= classical.LARGE_SET_FROM else 128)
    rows, cols = DenseSIFT(settings.spatial_bin_size, settings.stride).fit(train_set.images[:1]).grid_shape_
    fit_images = min(len(train_set), SIFT_CODEBOOK_IMAGES)
    settings = dataclasses.replace(settings, n_words=min(settings.n_words, max(2, fit_images * rows * cols // 4)))
    parts = [("sift", make_sift_features(settings, device=device, seed=seed)),
             ("thumbnail", ThumbnailTransformer(size=thumbnail_side_for(*train_set.image_shape[:2])))]
    if has_colour(train_set.images):
        parts.append(("colour", standard_colour_histogram("sift-svm")))
    featuriser = FeatureUnion(parts)
    chosen = np.sort(np.random.default_rng(seed).permutation(len(train_set))[:fit_images])
    featuriser.fit(classical.images_on(train_set.images[chosen], device))
    chunk = classical.featurise_chunk_size(len(train_set), device)
    x_fit = classical.featurise(featuriser, classical.images_on(train_set.images, device), chunk)
    standardiser = classical.Standardiser(copy=False)
    x_fit = standardiser.fit_transform(x_fit)
    svm = classical.svm_candidates(len(train_set), False)[0]
    classifier = classical.make_classifier(svm, x_fit.shape[1], device, seed, svm_precision(torch.device(device),
                                                                                              "auto"))
    classical.fit_classifier(classifier, x_fit, train_set.labels)
    x_validation = classical.featurise(featuriser, classical.images_on(split.test.images, device), chunk)
    predictions = classical.predict_classifier(classifier, standardiser.transform(x_validation))
    return float(np.mean(predictions == split.test.labels)), int(x_fit.shape[1]), time.perf_counter() - start


def run_reference(splits: list[Split], device: str) -> None:
    """Print sift-svm's validation accuracy on every split."""
    results = [sift_svm_accuracy(split, device, seed) for seed, split in enumerate(splits)]
    per_split = " ".join(f"{accuracy:.4f}" for accuracy, _, _ in results)
    print(f"sift-svm (standard): {results[0][1]:,} features, mean {np.mean([a for a, _, _ in results]):.4f}  "
          f"{per_split}  {np.mean([s for _, _, s in results]):.1f} s/split", flush=True)


def run_grid(splits: list[Split], candidates: list[Candidate], device: str, margin: float) -> None:
    """Score every candidate on every split and print the table and the choice."""
    described = []
    for split in splits:
        start = time.perf_counter()
        described.append(describe(split, device))
        print(f"dense SIFT and thumbnail of {len(split.train):,} + {len(split.test):,} images: "
              f"{time.perf_counter() - start:.1f} s", flush=True)
    print(f"{'components':>10} {'PCA':>4} {'pyramid':>9} {'features':>9} {'mean':>7}  per split  s/split", flush=True)
    means: dict[Candidate, float] = {}
    for candidate in candidates:
        results = [score(split, grids, others, candidate, device, seed)
                   for seed, (split, (grids, others)) in enumerate(zip(splits, described, strict=True))]
        means[candidate] = float(np.mean([accuracy for accuracy, _, _ in results]))
        pyramid = "+".join(f"{level}x{level}" for level in candidate[2])
        per_split = " ".join(f"{accuracy:.4f}" for accuracy, _, _ in results)
        print(f"{candidate[0]:>10} {candidate[1]:>4} {pyramid:>9} {results[0][1]:>9,} {means[candidate]:7.4f}  "
              f"{per_split}  {np.mean([seconds for _, _, seconds in results]):7.1f}", flush=True)
    best = max(means.values())
    chosen = next(candidate for candidate, mean in means.items() if mean >= best - margin)
    print(f"chosen: {chosen} (best mean {best:.4f}; fewer features within {margin} win)")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--folder", type=Path, help="a colour image folder with train/ and test/ (only train/ is read)")
    parser.add_argument("--splits", type=int, default=5, help="a folder's validation splits (seeds 0, 1, ...)")
    parser.add_argument("--device", default="cpu")
    parser.add_argument("--only", help="comma-separated indices of the candidates to score (default: all)")
    parser.add_argument("--reference", action="store_true", help="score sift-svm on the same splits instead")
    args = parser.parse_args()
    if args.folder is None:
        train = load_split("fashion-mnist", download=False).train
        splits, candidates, margin = [split_dataset(train, 1 / 6, 0)], FASHION_CANDIDATES, 0.002
    else:
        training = load_folder(args.folder / "train", test_fraction=0.25, seed=0)
        pool = dataclasses.replace(training.train, images=np.concatenate([training.train.images, training.test.images]),
                                   labels=np.concatenate([training.train.labels, training.test.labels]))
        splits = [split_dataset(pool, 0.25, seed) for seed in range(args.splits)]
        candidates, margin = FOLDER_CANDIDATES, 0.01
    if args.only:
        candidates = [candidates[int(i)] for i in args.only.split(",")]
    shape = "x".join(str(v) for v in splits[0].train.image_shape)
    print(f"{args.folder or 'fashion-mnist'}: {len(splits)} split(s) of {len(splits[0].train):,} images {shape} to fit "
          f"on and {len(splits[0].test):,} to validate; device {args.device}, {torch.get_num_threads()} torch threads",
          flush=True)
    if args.reference:
        run_reference(splits, args.device)
    else:
        run_grid(splits, candidates, args.device, margin)


if __name__ == "__main__":
    main()
