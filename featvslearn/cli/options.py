"""The CLI's options, each written once as an ``Annotated`` alias that every command reuses."""

from __future__ import annotations

from pathlib import Path
from typing import Annotated

import typer

from featvslearn.config import DEFAULT_PIPELINES, PIPELINES, PRECISIONS, PRESETS, SVM_KINDS
from featvslearn.datasets import DATASET_NAMES
from featvslearn.variants import ABLATION_TRAIN_SIZE, ABLATION_VARIANTS, DEFAULT_ABLATION_VARIANTS

DEFAULT_PIPELINES_TEXT = ",".join(DEFAULT_PIPELINES)
DEFAULT_VARIANTS_TEXT = ",".join(DEFAULT_ABLATION_VARIANTS)

Dataset = Annotated[str, typer.Option(
    help=f"{', '.join(DATASET_NAMES)}, or a folder with one sub-folder of images per class (optionally under "
         "train/ and test/).")]
Device = Annotated[str, typer.Option(help="auto, cpu, cuda, cuda:N or mps; auto picks CUDA when available.")]
Devices = Annotated[str, typer.Option(
    help="auto, cpu, cuda, cuda:N or mps; auto picks CUDA when available. A comma list (cpu,cuda) runs every "
         "pipeline on each device and adds a speed-up column.")]
Pipelines = Annotated[str, typer.Option(
    help=f"Comma list of {', '.join(PIPELINES)}. learned-svm fits the hog-svm SVM on the CNN's features, reusing "
         "the CNN trained on the same images.")]
TrainSize = Annotated[int | None, typer.Option(help="Training images (stratified, seeded subsample).")]
AblateTrainSize = Annotated[int | None, typer.Option(
    help=f"Training images (stratified, seeded subsample); default {ABLATION_TRAIN_SIZE:,} or all if fewer.")]
TestSize = Annotated[int | None, typer.Option(
    help="Test images (stratified, seeded subsample), the same for every run; default all.")]
Epochs = Annotated[int | None, typer.Option(help="CNN epochs; default adapts to the training-set size and device.")]
AblateEpochs = Annotated[int | None, typer.Option(
    help="Epochs for every variant; default about 100,000 image passes (10 epochs of 10,000 images), within 10-40.")]
Seed = Annotated[int, typer.Option(help="Seed for splits, subsamples, initialisation and shuffling.")]
ScalingSeed = Annotated[int, typer.Option(help="Base seed: the test subsample and the first run of each size.")]
DataDir = Annotated[Path | None, typer.Option(help="Folder holding the dataset's files, or to download into.")]
NoDownload = Annotated[bool, typer.Option("--no-download", help="Never download; use local files only.")]
Precision = Annotated[str, typer.Option(
    help=f"Compute precision: {', '.join(PRECISIONS)}. auto: bf16/fp16 on CUDA, bf16 on CPUs with bf16 units, else "
         "fp32 (CNN autocast; bf16 also holds the SVMs' feature matrices).")]
Svm = Annotated[str, typer.Option(
    help=f"SVM of hog-svm, sift-svm and learned-svm: {', '.join(SVM_KINDS)}. linear (default); rbf: Nystroem kernel "
         "approximation + linear SVM; rbf-exact: scikit-learn SVC, slow above 20k images.")]
Preset = Annotated[str, typer.Option(
    help=f"CNN size and schedule: {', '.join(PRESETS)} (half width and epochs, no TTA / defaults, flip TTA / double "
         "width and epochs, flip and shift TTA, weight EMA).")]
Report = Annotated[Path | None, typer.Option(
    help="Write a Markdown report to this .md file, and its plots into a folder beside it (out.md → out-plots/).")]
Json = Annotated[Path | None, typer.Option("--json", help="Write the results to this .json file.")]
Variants = Annotated[str, typer.Option(
    help=f"Comma list of {', '.join(ABLATION_VARIANTS)}, or all. plain: no normalisation; deep: twice the "
         "convolutions per stage.")]
Sizes = Annotated[str | None, typer.Option(
    help="Comma list of training-set sizes, e.g. 100,300,1000. Default: about 10 images per class up to the whole "
         "training set, in steps of about ×3.")]
Seeds = Annotated[int, typer.Option(
    help="Runs per size, with seeds --seed, --seed+1, …: each draws its own subsample and initialisation.")]
Tune = Annotated[bool, typer.Option(
    "--tune", help="Choose C (and gamma) by a small grid search on a fifth of the training set held out for "
                   "validation.")]
Compile = Annotated[bool, typer.Option(
    "--compile", help="torch.compile the CNN; compile time is reported as its own warm-up stage.")]
EpochAccuracy = Annotated[bool, typer.Option(
    "--epoch-accuracy", help="Also measure test accuracy after each CNN epoch (counted in training time).")]
