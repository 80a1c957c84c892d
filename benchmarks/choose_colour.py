"""Choose how hog-svm and sift-svm use colour, on validation splits of a colour folder's train/ side.

Only the folder's ``train/`` images are read; ``test/`` never is. The train side is split, seeded
and stratified, into a part to fit on and a quarter for validation, ``--splits`` times with
different seeds (the validation parts are small, so one split's accuracy moves by several points);
each candidate is scored on every split through the product's own code (the featurisers of
``featvslearn.classical``, the standardiser and the standard SVM for that many images) and printed
with its mean validation accuracy, the accuracy of each split and its seconds per split:

- hog-svm: HOG at two cell sizes + thumbnail (the features of grey data), alone or with a colour
  histogram: hue only (CS231n's features exercise), hue-saturation, HSV, or Lab a*b*, over the whole
  image or the whole image and a 2x2 grid;
- sift-svm: grey or opponent-colour SIFT words (van de Sande et al., 2010) + thumbnail, each with and
  without the hue-saturation histogram; grey SIFT with the HSV histogram too.

Rule: the best mean validation accuracy; a candidate with fewer features (listed earlier) within
0.01 of it wins. The chosen ones are ``classical.colour.STANDARD_HISTOGRAMS`` (sift-svm keeps grey SIFT).

    .venv/bin/python benchmarks/photo_folder.py /tmp/photos_val --seed 1
    .venv/bin/python benchmarks/choose_colour.py /tmp/photos_val [--splits 5] [--only hog|sift] [--device cpu]

About 7 minutes on a shared 2-core CPU for 270 training images (sift-svm's codebooks take most).
"""

from __future__ import annotations

import argparse
import dataclasses
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

import numpy as np
import torch
from sklearn.pipeline import FeatureUnion

from featvslearn import classical
from featvslearn.classical.colour import ColourHistogram
from featvslearn.classical.hog import ThumbnailTransformer, thumbnail_side_for
from featvslearn.classical.sift import DenseSIFT, make_sift_features, sift_settings_for
from featvslearn.datasets import Split
from featvslearn.datasets.core import split_dataset
from featvslearn.datasets.folder import load_folder
from featvslearn.device import svm_precision
from featvslearn.experiments.run import seed_everything
from featvslearn.pipelines.sift_svm import SIFT_CODEBOOK_IMAGES

HUE_SATURATION = ColourHistogram("hsv", (8, 4, 1), (1, 2))
HSV = ColourHistogram("hsv", (8, 3, 3), (1, 2))
HOG_CANDIDATES: dict[str, ColourHistogram | None] = {
    "none (HOG + thumbnail)": None,
    "hue 10, whole image": ColourHistogram("hsv", (10, 1, 1), (1,)),
    "hue-sat 8x4, whole image": ColourHistogram("hsv", (8, 4, 1), (1,)),
    "hue-sat 8x4, whole + 2x2": HUE_SATURATION,
    "a*b* 8x8, whole + 2x2": ColourHistogram("lab", (1, 8, 8), (1, 2)),
    "HSV 8x3x3, whole + 2x2": HSV,
}
"""hog-svm's candidates, fewest features first."""
SIFT_CANDIDATES: dict[str, tuple[str, ColourHistogram | None]] = {
    "grey SIFT (none)": ("grey", None),
    "grey SIFT + hue-sat 8x4, whole + 2x2": ("grey", HUE_SATURATION),
    "grey SIFT + HSV 8x3x3, whole + 2x2": ("grey", HSV),
    "opponent SIFT": ("opponent", None),
    "opponent SIFT + hue-sat 8x4, whole + 2x2": ("opponent", HUE_SATURATION),
}
"""sift-svm's candidates, fewest features first."""


def hog_featuriser(split: Split, device: str, histogram: ColourHistogram | None, seed: int) -> Any:
    """hog-svm's featuriser with ``histogram`` (a fresh copy) or none, fitted as the pipeline fits it."""
    settings = classical.hog_settings_for(split.train.image_shape)
    featuriser = classical.make_hog_features(settings, device=device,
                                             colour=None if histogram is None else _fresh(histogram))
    return featuriser.fit(classical.images_on(split.train.images[:1], device))


def sift_featuriser(split: Split, device: str, candidate: tuple[str, ColourHistogram | None], seed: int) -> Any:
    """sift-svm's featuriser (as ``pipelines.sift_svm`` builds it) with the candidate's SIFT colour and
    histogram, its codebook fitted on the training part."""
    descriptors, histogram = candidate
    train_set = split.train
    settings = sift_settings_for(train_set.image_shape, n_words=128)
    codebook_images = min(len(train_set), SIFT_CODEBOOK_IMAGES)
    rows, cols = DenseSIFT(settings.spatial_bin_size, settings.stride).fit(train_set.images[:1]).grid_shape_
    settings = dataclasses.replace(settings, n_words=min(settings.n_words, max(2, codebook_images * rows * cols // 4)))
    parts = [("sift", make_sift_features(settings, device=device, seed=seed, colour=descriptors)),
             ("thumbnail", ThumbnailTransformer(size=thumbnail_side_for(*train_set.image_shape[:2])))]
    if histogram is not None:
        parts.append(("colour", _fresh(histogram)))
    featuriser = FeatureUnion(parts)
    return featuriser.fit(classical.images_on(train_set.images, device))


def _fresh(histogram: ColourHistogram) -> ColourHistogram:
    return ColourHistogram(**histogram.get_params())


def score(split: Split, featuriser: Any, device: str, seed: int) -> float:
    """Validation accuracy of the standard SVM for this many images on standardised features."""
    chunk = classical.featurise_chunk_size(len(split.train), device)
    x_fit = classical.featurise(featuriser, classical.images_on(split.train.images, device), chunk)
    x_validation = classical.featurise(featuriser, classical.images_on(split.test.images, device), chunk)
    standardiser = classical.Standardiser(copy=False)
    x_fit = standardiser.fit_transform(x_fit)
    settings = classical.svm_candidates(len(split.train), True)[0]
    precision = svm_precision(torch.device(device), "auto")
    classifier = classical.make_classifier(settings, x_fit.shape[1], device, seed, precision)
    classical.fit_classifier(classifier, x_fit, split.train.labels)
    predictions = classical.predict_classifier(classifier, standardiser.transform(x_validation))
    return float(np.mean(predictions == split.test.labels))


def run_grid(title: str, candidates: dict[str, Any], make: Callable[..., Any], splits: list[Split],
             device: str) -> str:
    """Score every candidate on every split, print the table and return the chosen candidate's name."""
    print(f"\n{title}")
    print(f"{'candidate':44} {'features':>8} {'mean':>6}  per split{'':{5 * len(splits) - 8}}  s/split")
    means: dict[str, float] = {}
    for name, candidate in candidates.items():
        accuracies, seconds, dims = [], 0.0, 0
        for seed, split in enumerate(splits):
            seed_everything(seed)
            start = time.perf_counter()
            featuriser = make(split, device, candidate, seed)
            accuracies.append(score(split, featuriser, device, seed))
            seconds += time.perf_counter() - start
            dims = int(classical.featurise(featuriser, classical.images_on(split.train.images[:1], device), 1).shape[1])
        means[name] = float(np.mean(accuracies))
        per_split = " ".join(f"{a:.3f}"[1:] for a in accuracies)
        print(f"{name:44} {dims:>8,} {means[name]:6.3f}  {per_split}  {seconds / len(splits):7.1f}")
    best = max(means.values())
    chosen = next(name for name, mean in means.items() if mean >= best - 0.01)
    print(f"chosen: {chosen} (best mean {best:.3f}; fewer features within 0.01 win)")
    return chosen


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("folder", type=Path, help="a colour image folder with train/ and test/ (only train/ is read)")
    parser.add_argument("--splits", type=int, default=5, help="validation splits (seeds 0, 1, ...)")
    parser.add_argument("--device", default="cpu")
    parser.add_argument("--only", choices=("hog", "sift"), help="run one pipeline's grid only")
    args = parser.parse_args()
    training = load_folder(args.folder / "train", test_fraction=0.25, seed=0)
    pool = training.train  # every image of train/: a flat folder's split, undone
    pool = dataclasses.replace(pool, images=np.concatenate([training.train.images, training.test.images]),
                               labels=np.concatenate([training.train.labels, training.test.labels]))
    splits = [split_dataset(pool, 0.25, seed) for seed in range(args.splits)]
    shape = "x".join(str(v) for v in pool.image_shape)
    print(f"{args.folder}/train: {len(pool)} images {shape}, {args.splits} splits of "
          f"{len(splits[0].train)} to fit on and {len(splits[0].test)} to validate; device {args.device}, "
          f"{torch.get_num_threads()} torch threads")
    if args.only != "sift":
        run_grid("hog-svm: colour histogram added to HOG + thumbnail", HOG_CANDIDATES, hog_featuriser, splits,
                 args.device)
    if args.only != "hog":
        run_grid("sift-svm: SIFT colour and colour histogram", SIFT_CANDIDATES, sift_featuriser, splits, args.device)


if __name__ == "__main__":
    main()
