"""The CLI's options, each written once as an ``Annotated`` alias that every command reuses.

Value options show a short placeholder in ``--help`` (``N``, ``NAME``, ``LIST``, ``PATH``);
flags show none: :class:`HelpCommand` and :class:`HelpGroup` see to that, and add ``-h``.
"""

from __future__ import annotations

import re
import sys
from pathlib import Path
from typing import Annotated, Any

import typer
from typer.core import TyperArgument, TyperCommand, TyperGroup, TyperOption

from featvslearn.datasets import DATASET_NAMES
from featvslearn.experiments.config import DEFAULT_PIPELINES, PIPELINES, PRECISIONS, PRESETS, SVM_KINDS
from featvslearn.learned.variants import ABLATION_TRAIN_SIZE, ABLATION_VARIANTS, DEFAULT_ABLATION_VARIANTS

DEFAULT_PIPELINES_TEXT = ",".join(DEFAULT_PIPELINES)
DEFAULT_VARIANTS_TEXT = ",".join(DEFAULT_ABLATION_VARIANTS)
CONTEXT_SETTINGS: dict[str, Any] = {"help_option_names": ["-h", "--help"]}
"""Every command takes ``-h`` as well as ``--help``."""


class _NamedArgument(TyperArgument):
    """An argument shown by its placeholder alone (``RESULTS_JSON``), without a type label beside it."""

    def display_type_rich(self, ctx: Any) -> str | None:
        return None


class _PlainHelp:
    """Help without type labels on flags or arguments, and a usage line without braces."""

    params: list[Any]

    def _plain_labels(self) -> None:
        for param in self.params:
            if isinstance(param, TyperOption) and param.is_flag and param.metavar is None:
                param.metavar = ""  # a flag takes no value, so it shows no placeholder
            elif type(param) is TyperArgument and param.metavar is not None:
                param.__class__ = _NamedArgument

    def get_help_option(self, ctx: Any) -> Any:
        option = super().get_help_option(ctx)  # type: ignore[misc]
        if option is not None and option.metavar is None:
            option.metavar = ""
        return option

    def collect_usage_pieces(self, ctx: Any) -> list[str]:
        pieces: list[str] = super().collect_usage_pieces(ctx)  # type: ignore[misc]
        return [re.sub(r"^\{(.*)\}(\.\.\.)?$", r"\1\2", piece) for piece in pieces]  # {A} → A, {A}... → A...


class HelpCommand(_PlainHelp, TyperCommand):
    """A command whose ``--help`` reads plainly (see :class:`_PlainHelp`)."""

    def __init__(self, *args: Any, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        self._plain_labels()


def click_echo_error(message: str) -> None:
    """One ``error:`` line on stderr, for mistakes Typer finds before a command runs."""
    typer.echo(f"error: {message}", err=True)


class HelpGroup(_PlainHelp, TyperGroup):
    """The app's group, with the same plain ``--help`` as its commands, and a mistyped option or value
    (``--seed abc``, ``--sed 1``) told in one ``error:`` line, like every other mistake."""

    def __init__(self, *args: Any, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        self._plain_labels()

    def main(self, *args: Any, standalone_mode: bool = True, **kwargs: Any) -> Any:
        if not standalone_mode:
            return super().main(*args, standalone_mode=False, **kwargs)
        try:
            result = super().main(*args, standalone_mode=False, **kwargs)
        except typer.Abort:
            click_echo_error("interrupted")
            sys.exit(130)
        except Exception as exc:  # Typer's usage errors: a message, an exit code, the command's context
            if not (hasattr(exc, "format_message") and hasattr(exc, "exit_code")):
                raise
            if not exc.format_message().strip():  # no command: the help is already shown, and is the answer
                sys.exit(0)
            context = getattr(exc, "ctx", None)
            command = context.command_path if context is not None else self.name
            message = " ".join(exc.format_message().split()).rstrip(".")
            click_echo_error(f"{message}; see {command} -h")
            sys.exit(exc.exit_code)
        sys.exit(result if isinstance(result, int) else 0)


Dataset = Annotated[str, typer.Option(
    metavar="NAME|PATH",
    help=f"{', '.join(DATASET_NAMES)}, or a folder with one sub-folder of images per class (optionally under "
         "train/ and test/).")]
Device = Annotated[str, typer.Option(
    "--device", metavar="DEVICE",
    help="auto, cpu, cuda, cuda:N or mps; auto picks CUDA when available.")]
Devices = Annotated[str, typer.Option(
    "--device", metavar="DEVICE",
    help="auto, cpu, cuda, cuda:N or mps; auto picks CUDA when available. A comma list (cpu,cuda) runs every "
         "pipeline on each device and adds speed-up columns.")]
Pipelines = Annotated[str, typer.Option(
    metavar="LIST",
    help=f"Comma list of {', '.join(PIPELINES)}. learned-svm fits the hog-svm SVM on the CNN's features, reusing "
         "the CNN trained on the same images.")]
TrainSize = Annotated[int | None, typer.Option(
    metavar="N",
    help="Training images (stratified, seeded subsample).")]
AblateTrainSize = Annotated[int | None, typer.Option(
    metavar="N",
    help=f"Training images (stratified, seeded subsample); default {ABLATION_TRAIN_SIZE:,} or all if fewer.")]
TestSize = Annotated[int | None, typer.Option(
    metavar="N",
    help="Test images (stratified, seeded subsample), the same for every run; default all.")]
Epochs = Annotated[int | None, typer.Option(
    metavar="N",
    help="CNN epochs; default adapts to the training-set size and device.")]
AblateEpochs = Annotated[int | None, typer.Option(
    metavar="N",
    help="Epochs for every variant; default about 100,000 image passes (10 epochs of 10,000 images), within 10-40.")]
Seed = Annotated[int, typer.Option(
    metavar="N",
    help="Seed for splits, subsamples, initialisation and shuffling.")]
ScalingSeed = Annotated[int, typer.Option(
    metavar="N",
    help="Base seed: the test subsample and the first run of each size.")]
DataDir = Annotated[Path | None, typer.Option(
    metavar="PATH",
    help="Folder holding the dataset's files, or to download into; it must exist.")]
ListDataDir = Annotated[Path | None, typer.Option(
    "--data-dir", metavar="PATH", help="Also look in this folder (as compare --data-dir would).")]
NoDownload = Annotated[bool, typer.Option("--no-download", help="Never download; use local files only.")]
ImageSize = Annotated[int | None, typer.Option(
    metavar="N",
    help="Image folders: bring every image to N×N pixels (8-256). Default: a folder's one size, else the "
         "median side, within 16-64.")]
Fit = Annotated[str | None, typer.Option(
    metavar="pad|crop|squash",
    help="Image folders: how an image of another aspect ratio fits the size: pad (default; bands of the "
         "folder's mean colour), crop (its centre) or squash (stretched).")]
Precision = Annotated[str, typer.Option(
    metavar="NAME",
    help=f"Compute precision: {', '.join(PRECISIONS)}. auto: bf16/fp16 on CUDA, bf16 on CPUs with bf16 units, else "
         "fp32 (CNN autocast; bf16 also holds the SVMs' feature matrices).")]
Svm = Annotated[str, typer.Option(
    metavar="NAME",
    help=f"SVM of every SVM pipeline (all but cnn): {', '.join(SVM_KINDS)}. linear (default); rbf: Nystroem kernel "
         "approximation + linear SVM (rbf-N: with N landmarks, e.g. rbf-6000); rbf-exact: scikit-learn SVC, slow "
         "above 20k images.")]
CompareSvm = Annotated[str | None, typer.Option(
    "--svm", metavar="NAME", show_default=False,
    help=f"SVM of every SVM pipeline (all but cnn): {', '.join(SVM_KINDS)}. Default: each pipeline's standard SVM "
         "(hog-svm from 20,000 training images: the Nystroem RBF SVM with up to 6,000 landmarks; else linear), or "
         "with --budget the strongest that fits. learned-svm fits the SVM hog-svm chose. A budget's choice, e.g. "
         "rbf-4000, can be named here to repeat it.")]
Budget = Annotated[float | None, typer.Option(
    metavar="SECONDS", show_default=False,
    help="Seconds each pipeline may spend after its warm-up (features, probes, training, prediction): each takes "
         "its strongest configuration estimated to fit, timed on this machine now, and stops at the next safe point "
         "past it (the CNN after that epoch). Default: no budget; every pipeline follows its standard recipe, the "
         "same on a quiet or a busy machine. --svm and --epochs still win.")]
Preset = Annotated[str, typer.Option(
    metavar="NAME",
    help=f"CNN size and schedule: {', '.join(PRESETS)} (half width and epochs, no TTA / defaults, flip TTA / double "
         "width and epochs, flip and shift TTA, weight EMA).")]
Report = Annotated[Path | None, typer.Option(
    metavar="PATH",
    help="Write a Markdown report to this .md file, and its plots into a folder beside it (out.md → out-plots/).")]
Json = Annotated[Path | None, typer.Option("--json", metavar="PATH", help="Write the results to this .json file.")]
Variants = Annotated[str, typer.Option(
    metavar="LIST", show_default=False,
    help=f"Comma list of {', '.join(ABLATION_VARIANTS)}, or all. plain: no normalisation; deep: four "
         f"convolutions per stage, not one. Default: {', '.join(DEFAULT_ABLATION_VARIANTS)}.")]
Sizes = Annotated[str | None, typer.Option(
    metavar="LIST",
    help="Comma list of training-set sizes, e.g. 100,300,1000. Default: about 10 images per class up to the whole "
         "training set, in steps of about ×3.")]
CompareSeeds = Annotated[int, typer.Option(
    "--seeds", metavar="N",
    help="Train every pipeline N times on the same split, with seeds --seed, --seed+1, …: accuracy as mean ± "
         "standard deviation, times as median and range, and a verdict only when the test on every seed agrees.")]
Seeds = Annotated[int, typer.Option(
    metavar="N",
    help="Runs per size, with seeds --seed, --seed+1, …: each draws its own subsample and initialisation.")]
Tune = Annotated[bool, typer.Option(
    "--tune", help="Choose C (and gamma) by a small grid search on a fifth of the training set held out for "
                   "validation.")]
Compile = Annotated[bool, typer.Option(
    "--compile", help="torch.compile the CNN; compile time is reported as its own warm-up stage.")]
EpochAccuracy = Annotated[bool, typer.Option(
    "--epoch-accuracy", help="Also measure test accuracy after each CNN epoch (counted in training time).")]
ResultsJsons = Annotated[list[Path], typer.Argument(
    metavar="RESULTS_JSON", show_default=False,
    help="The results .json that compare, scaling or ablate wrote with --json (not the .md report). Several are "
         "merged: compare results side by side (from several machines), or scaling results of one sweep.")]
MergeOut = Annotated[Path | None, typer.Option(
    "--out", metavar="PATH",
    help="Markdown file to write (default: beside the JSON, with .md; merged.md here when merging); its plots go "
         "into <name>-plots/ beside it.")]
MergeJson = Annotated[Path | None, typer.Option(
    "--json", metavar="PATH", help="Also write the (merged) results to this .json file; report re-renders it.")]
Baseline = Annotated[str | None, typer.Option(
    "--baseline", metavar="N|FILE", show_default=False,
    help="Merged compare results: the row the speed-ups divide, by its number in the table, or a file (its first "
         "row). Default: the first row.")]
Resume = Annotated[bool, typer.Option(
    "--resume", help="Go on with an interrupted sweep: reuse the runs its run log holds (OUT.runs.jsonl beside "
                     "--json OUT) and do only the others.")]
Executor = Annotated[str, typer.Option(
    metavar="NAME",
    help="Where the runs go: local (one after another, here) or ray (side by side on a Ray cluster; pip install "
         "'featvslearn\\[ray]').")]
RayAddress = Annotated[str | None, typer.Option(
    "--ray-address", metavar="ADDRESS", show_default=False,
    help="The Ray cluster --executor ray joins; default RAY_ADDRESS, else a Ray started on this machine.")]
GpusPerRun = Annotated[float | None, typer.Option(
    "--gpus-per-run", metavar="F", show_default=False,
    help="GPUs each run asks Ray for: a share such as 0.25 (four runs on one GPU) or a whole number; default 1.")]
CpusPerRun = Annotated[int | None, typer.Option(
    "--cpus-per-run", metavar="N", show_default=False,
    help="CPUs each run asks Ray for; default all of a machine's (for GPU runs, its CPUs in proportion to "
         "--gpus-per-run).")]
Save = Annotated[Path | None, typer.Option(
    "--save", metavar="DIR", show_default=False,
    help="Keep the trained pipelines: each in DIR/<pipeline>/ (settings as JSON, weights as plain tensors), "
         "replacing any of that name; featvslearn predict DIR IMAGE... uses them. With several devices or "
         "--seeds, the first device's first seed's.")]
ModelsDir = Annotated[Path, typer.Argument(
    metavar="MODELS_DIR", show_default=False, help="The folder compare --save wrote.")]
Images = Annotated[list[Path], typer.Argument(
    metavar="IMAGE", show_default=False,
    help="Image files (PNG, JPEG, ...); each is brought to the training size as the training images were.")]
PredictJson = Annotated[Path | None, typer.Option(
    "--json", metavar="PATH", help="Also write the predictions to this .json file.")]
