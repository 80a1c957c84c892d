"""Settings of each command, validated once, before any data is loaded or model trained."""

from __future__ import annotations

import dataclasses
from dataclasses import dataclass
from pathlib import Path

import torch

from featvslearn.classical import SVM_KINDS
from featvslearn.data import DATASET_NAMES
from featvslearn.device import resolve_devices
from featvslearn.errors import UserError
from featvslearn.files import check_output_path, check_plots_folder, expand_user

PIPELINES: tuple[str, ...] = ("hog-svm", "sift-svm", "cnn", "learned-svm")
"""Pipelines ``compare`` can run."""

LEARNED_PIPELINES: tuple[str, ...] = ("cnn", "learned-svm")
"""Pipelines whose features are learned; every other pipeline is hand-engineered."""

DEFAULT_PIPELINES: tuple[str, ...] = ("hog-svm", "cnn")
PRESETS: tuple[str, ...] = ("quick", "standard", "best")

PRECISIONS: tuple[str, ...] = ("auto", "fp32", "bf16", "fp16")
MAX_SEED = 2**32 - 1
MAX_EPOCHS = 1000
MAX_SCALING_SEEDS = 100


def parse_pipelines(text: str) -> tuple[str, ...]:
    """A comma list of pipeline names -> a tuple without repeats; unknown names are a UserError."""
    names = tuple(dict.fromkeys(part.strip().lower() for part in text.split(",") if part.strip()))
    if not names:
        raise UserError(f"--pipelines is empty; choose from {', '.join(PIPELINES)}")
    unknown = [name for name in names if name not in PIPELINES]
    if unknown:
        raise UserError(f"unknown pipeline {unknown[0]!r}; choose from {', '.join(PIPELINES)} (comma separated)")
    return names


@dataclass(frozen=True)
class AblationVariant:
    """One CNN that ``ablate`` trains: its activation, batch norm, dropout rate (0 = none) and depth.

    ``deep`` doubles the convolutions of every stage (four instead of two); "plain" in a
    name means no normalisation. ``lr_factor`` scales the trainer's learning rate.
    """

    name: str
    activation: str
    batch_norm: bool
    dropout: float = 0.0
    deep: bool = False
    lr_factor: float = 1.0


# Each variant trains at the best of the learning rates tried in a pilot: the trainer's rate times 1,
# 0.5, 0.25 or 0.1. Test accuracy on Fashion-MNIST (3,000 training and 1,000 test images, 6 epochs,
# seed 0) at those factors, – where not tried:
#   relu-bn          0.755 / –     / 0.695 / –
#   relu-plain       0.334 / 0.621 / 0.657 / 0.575   -> 0.25
#   relu-deep-plain  –     / –     / 0.314 / 0.614   -> 0.1
#   tanh-plain       0.588 / –     / 0.430 / –
#   sigmoid-plain    0.100 / 0.100 / –     / –       (chance at either; sigmoid-deep-plain keeps 1 too)
# Variants with batch norm keep the trainer's rate, which batch norm is there to tolerate.
ABLATION_VARIANTS: dict[str, AblationVariant] = {v.name: v for v in (
    AblationVariant("relu-bn", "relu", batch_norm=True),  # the baseline: compare's network
    AblationVariant("relu-bn-dropout", "relu", batch_norm=True, dropout=0.5),
    AblationVariant("relu-plain", "relu", batch_norm=False, lr_factor=0.25),
    AblationVariant("tanh-plain", "tanh", batch_norm=False),
    AblationVariant("sigmoid-plain", "sigmoid", batch_norm=False),
    AblationVariant("relu-deep-plain", "relu", batch_norm=False, deep=True, lr_factor=0.1),
    AblationVariant("sigmoid-deep-plain", "sigmoid", batch_norm=False, deep=True),
    # not run by default: batch norm under the other activations, and with depth
    AblationVariant("tanh-bn", "tanh", batch_norm=True),
    AblationVariant("sigmoid-bn", "sigmoid", batch_norm=True),
    AblationVariant("relu-deep-bn", "relu", batch_norm=True, deep=True),
    AblationVariant("sigmoid-deep-bn", "sigmoid", batch_norm=True, deep=True),
)}
"""Variants ``ablate`` can train, by name."""

ABLATION_TRAIN_SIZE = 10_000
"""Training images ``ablate`` draws (stratified, seeded) when ``--train-size`` is not given and there are more."""

DEFAULT_ABLATION_VARIANTS: tuple[str, ...] = (
    "relu-bn", "relu-bn-dropout", "relu-plain", "tanh-plain", "sigmoid-plain", "relu-deep-plain", "sigmoid-deep-plain",
)


def parse_variants(text: str) -> tuple[str, ...]:
    """A comma list of variant names (or "all") -> a tuple without repeats; unknown names are a UserError."""
    choices = f"{', '.join(ABLATION_VARIANTS)} or all (comma separated)"
    names = tuple(dict.fromkeys(part.strip().lower() for part in text.split(",") if part.strip()))
    if not names:
        raise UserError(f"--variants is empty; choose from {choices}")
    if "all" in names:
        return tuple(ABLATION_VARIANTS)
    unknown = [name for name in names if name not in ABLATION_VARIANTS]
    if unknown:
        raise UserError(f"unknown variant {unknown[0]!r}; choose from {choices}")
    return names


@dataclass(frozen=True)
class CompareConfig:
    """What ``featvslearn compare`` runs: dataset, devices, pipelines, sizes, seed and outputs.

    ``device`` is one device option (``auto``, ``cpu``, ``cuda``, ``cuda:N``, ``mps``) or a comma
    list of them (``cpu,cuda``): every pipeline then runs on each device in turn.
    """

    dataset: str = "digits"
    device: str = "auto"
    pipelines: tuple[str, ...] = DEFAULT_PIPELINES
    train_size: int | None = None
    test_size: int | None = None
    epochs: int | None = None
    seed: int = 0
    data_dir: Path | None = None
    download: bool = True
    precision: str = "auto"
    preset: str = "standard"
    compile: bool = False
    epoch_accuracy: bool = False
    svm: str = "linear"
    tune: bool = False
    report_path: Path | None = None
    json_path: Path | None = None

    def validated(self) -> CompareConfig:
        """Check every option that can be checked before loading data; returns a cleaned copy.

        Raises ``UserError`` naming the option and the fix. The device is checked for
        availability here, and output paths for writability, so no training is wasted.
        """
        dataset = self.dataset.strip()
        if dataset.lower() in DATASET_NAMES:
            dataset = dataset.lower()
        elif not dataset or not expand_user(dataset, "--dataset").is_dir():
            raise UserError(
                f"unknown dataset {dataset!r}; use one of {', '.join(DATASET_NAMES)} or a folder of images "
                "with one sub-folder per class"
            )
        pipelines = parse_pipelines(",".join(self.pipelines))
        for option, value in (("--train-size", self.train_size), ("--test-size", self.test_size)):
            if value is not None and value < 1:
                raise UserError(f"{option} must be a positive number of images, got {value}")
        if self.epochs is not None and not 1 <= self.epochs <= MAX_EPOCHS:
            raise UserError(f"--epochs must be between 1 and {MAX_EPOCHS}, got {self.epochs}")
        if not 0 <= self.seed <= MAX_SEED:
            raise UserError(f"--seed must be between 0 and {MAX_SEED}, got {self.seed}")
        if self.svm not in SVM_KINDS:
            raise UserError(f"--svm {self.svm!r} is not known; use one of {', '.join(SVM_KINDS)}")
        if self.preset not in PRESETS:
            raise UserError(f"--preset {self.preset!r} is not known; use one of {', '.join(PRESETS)}")
        if self.precision not in PRECISIONS:
            raise UserError(f"--precision {self.precision!r} is not known; use one of {', '.join(PRECISIONS)}")
        data_dir = expand_user(self.data_dir, "--data-dir") if self.data_dir is not None else None
        if data_dir is not None and not data_dir.is_dir():
            raise UserError(f"--data-dir {str(data_dir)!r} is not a folder; create it or point to the data's folder")
        resolve_devices(self.device)
        report = check_output_path(self.report_path, (".md",), "--report") if self.report_path else None
        if report is not None:
            check_plots_folder(report, "--report")
        json_path = check_output_path(self.json_path, (".json",), "--json") if self.json_path else None
        return dataclasses.replace(
            self,
            dataset=dataset,
            pipelines=pipelines,
            data_dir=data_dir,
            report_path=report,
            json_path=json_path,
        )

    def torch_devices(self) -> list[torch.device]:
        """The resolved torch devices, in the order given (a device may appear twice)."""
        return resolve_devices(self.device)

    def torch_device(self) -> torch.device:
        """The first resolved torch device (the only one unless ``device`` is a comma list)."""
        return resolve_devices(self.device)[0]


def parse_sizes(text: str) -> tuple[int, ...]:
    """A comma list of training-set sizes (``"100,300,1000"``) -> a tuple of ints in the order given.

    Anything that is not a whole number is a UserError; :meth:`ScalingConfig.validated` sorts,
    removes repeats and checks the values.
    """
    parts = [part.strip() for part in text.split(",") if part.strip()]
    if not parts:
        raise UserError("--sizes is empty; give training-set sizes such as 100,300,1000")
    sizes = []
    for part in parts:
        try:
            sizes.append(int(part))
        except ValueError:
            raise UserError(f"--sizes: {part!r} is not a whole number; give sizes such as 100,300,1000") from None
    return tuple(sizes)


@dataclass(frozen=True)
class ScalingConfig:
    """What ``featvslearn scaling`` runs: every pipeline of ``compare`` at each training-set size and seed.

    ``compare`` carries the dataset, device, pipelines, test size, epochs, base seed, SVM, preset,
    precision and output paths; its ``train_size`` is unused (``sizes`` replaces it). ``sizes``
    of ``None`` picks sizes from the dataset (see :func:`featvslearn.scaling.default_sizes`).
    Run ``i`` of each size uses seed ``compare.seed + i`` for its subsample and its training.
    """

    compare: CompareConfig = dataclasses.field(default_factory=CompareConfig)
    sizes: tuple[int, ...] | None = None
    seeds: int = 3

    @property
    def seed_values(self) -> tuple[int, ...]:
        """The seeds of the runs at each size: the base seed and the ones after it."""
        return tuple(range(self.compare.seed, self.compare.seed + self.seeds))

    def validated(self) -> ScalingConfig:
        """Check every option before any data is loaded (sizes against the dataset are checked once it is).

        Raises ``UserError`` naming the option and the fix; returns a cleaned copy.
        """
        if self.compare.train_size is not None:
            raise UserError("scaling sets the training-set size itself; use --sizes instead of --train-size")
        if self.compare.tune or self.compare.compile or self.compare.epoch_accuracy:
            raise UserError("scaling does not take --tune, --compile or --epoch-accuracy; run compare for those")
        compare = self.compare.validated()
        if "," in compare.device:
            raise UserError(f"scaling runs on one device, not {compare.device!r}; pass one, such as --device cpu "
                            "(compare --device cpu,cuda measures the speed-up)")
        sizes = None
        if self.sizes is not None:
            if not self.sizes:
                raise UserError("--sizes is empty; give training-set sizes such as 100,300,1000")
            if min(self.sizes) < 1:
                raise UserError(f"--sizes: {min(self.sizes)} is not a positive number of images; "
                                "give sizes such as 100,300,1000")
            sizes = tuple(sorted(set(self.sizes)))
        if not 1 <= self.seeds <= MAX_SCALING_SEEDS:
            raise UserError(f"--seeds must be between 1 and {MAX_SCALING_SEEDS}, got {self.seeds}")
        if compare.seed + self.seeds - 1 > MAX_SEED:
            raise UserError(f"--seed {compare.seed} with --seeds {self.seeds} passes {MAX_SEED}; "
                            f"use --seed {MAX_SEED - self.seeds + 1} or lower")
        return dataclasses.replace(self, compare=compare, sizes=sizes)


@dataclass(frozen=True)
class AblateConfig:
    """What ``featvslearn ablate`` runs: dataset, device, CNN variants, sizes, seed and outputs.

    ``train_size`` None draws ``ABLATION_TRAIN_SIZE`` images when the dataset has more;
    ``epochs`` None means ``ablation.ablation_epochs`` of the training-set size.
    """

    dataset: str = "digits"
    device: str = "auto"
    variants: tuple[str, ...] = DEFAULT_ABLATION_VARIANTS
    train_size: int | None = None
    test_size: int | None = None
    epochs: int | None = None
    seed: int = 0
    data_dir: Path | None = None
    download: bool = True
    precision: str = "auto"
    report_path: Path | None = None
    json_path: Path | None = None

    def data_config(self) -> CompareConfig:
        """The same data, device, precision, seed and outputs as a ``CompareConfig``.

        ``ablate`` shares those options with ``compare``, so it shares their checks and
        ``experiment.load_data``.
        """
        return CompareConfig(
            dataset=self.dataset, device=self.device, pipelines=("cnn",), train_size=self.train_size,
            test_size=self.test_size, epochs=self.epochs, seed=self.seed, data_dir=self.data_dir,
            download=self.download, precision=self.precision, report_path=self.report_path, json_path=self.json_path,
        )

    def validated(self) -> AblateConfig:
        """Check every option before any data is loaded; returns a cleaned copy.

        Raises ``UserError`` naming the option and the fix, as ``CompareConfig.validated`` does.
        """
        checked = self.data_config().validated()
        if "," in checked.device:
            raise UserError(f"ablate runs on one device, not {checked.device!r}; pass one, such as --device cpu "
                            "(compare --device cpu,cuda measures the speed-up)")
        return dataclasses.replace(
            self,
            dataset=checked.dataset,
            variants=parse_variants(",".join(self.variants)),
            data_dir=checked.data_dir,
            report_path=checked.report_path,
            json_path=checked.json_path,
        )

    def torch_device(self) -> torch.device:
        """The resolved torch device."""
        return resolve_devices(self.device)[0]
