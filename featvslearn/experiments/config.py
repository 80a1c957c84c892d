"""Settings of each command, as plain values, validated once before any data is loaded.

Every command shares :class:`DataOptions` (dataset, device, test size, seed, files, precision,
outputs); :class:`CompareConfig`, :class:`ScalingConfig` and :class:`AblateConfig` add their
own. This module imports neither torch nor scikit-learn, so ``featvslearn --help`` is quick.
"""

from __future__ import annotations

import dataclasses
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Any, TypeVar

from featvslearn.classical.svm_kinds import MAX_LANDMARKS, SVM_KINDS, known_svm, rbf_landmarks
from featvslearn.datasets.catalog import check_data_dir, resolve_dataset
from featvslearn.datasets.core import did_you_mean
from featvslearn.datasets.folder import FIT_METHODS, check_image_size
from featvslearn.errors import UserError
from featvslearn.executors import EXECUTORS, Resources
from featvslearn.files import check_output_path, check_plots_folder
from featvslearn.learned.variants import ABLATION_VARIANTS, DEFAULT_ABLATION_VARIANTS, parse_variants
from featvslearn.pipelines import LEARNED_PIPELINES, PIPELINE_NAMES, RunSettings
from featvslearn.pipelines.budget import MAX_BUDGET_SECONDS, Budget

if TYPE_CHECKING:
    import torch

PIPELINES: tuple[str, ...] = PIPELINE_NAMES
"""Pipelines ``compare`` and ``scaling`` can run (from the registry in :mod:`featvslearn.pipelines`)."""

__all__ = [
    "LEARNED_PIPELINES",
    "PIPELINES",
    "AblateConfig",
    "CompareConfig",
    "DataOptions",
    "Problems",
    "ScalingConfig",
    "SweepOptions",
    "parse_pipelines",
    "parse_sizes",
]

DEFAULT_PIPELINES: tuple[str, ...] = ("hog-svm", "cnn")
PRESETS: tuple[str, ...] = ("quick", "standard", "best")
PRECISIONS: tuple[str, ...] = ("auto", "fp32", "bf16", "fp16")
MAX_SEED = 2**32 - 1
MAX_EPOCHS = 1000
MAX_SCALING_SEEDS = 100
MAX_COMPARE_SEEDS = 100
T = TypeVar("T")


class Problems:
    """The one-line problems of several options, collected so that one ``UserError`` names them all."""

    def __init__(self) -> None:
        self.messages: list[str] = []

    def add(self, message: str) -> None:
        """Note one problem (a message that names the option and the fix)."""
        if message not in self.messages:
            self.messages.append(message)

    def check(self, check: Callable[..., T], *args: Any, **kwargs: Any) -> T | None:
        """``check(*args, **kwargs)``, or None after noting the ``UserError`` it raised."""
        try:
            return check(*args, **kwargs)
        except UserError as exc:
            self.add(str(exc))
            return None

    def raise_any(self) -> None:
        """Raise one ``UserError`` with every problem noted, joined by ``"; "``; nothing if there is none."""
        if self.messages:
            raise UserError("; ".join(self.messages))


def _parse_names(text: str, choices: Sequence[str], option: str, what: str, choices_text: str) -> tuple[str, ...]:
    """A comma list of ``choices`` (any case) -> their names without repeats.

    Unknown names are one ``UserError`` naming each, with the choices close to it.
    """
    names = tuple(dict.fromkeys(part.strip().lower() for part in text.split(",") if part.strip()))
    if not names:
        raise UserError(f"{option} is empty; choose from {choices_text}")
    unknown = [name for name in names if name not in choices]
    if unknown:
        named = ", ".join(f"{name!r}{did_you_mean(name, choices)}" for name in unknown)
        raise UserError(f"{option}: unknown {what}{'s' if len(unknown) > 1 else ''} {named}; "
                        f"choose from {choices_text}")
    return names


def parse_pipelines(text: str) -> tuple[str, ...]:
    """A comma list of pipeline names -> a tuple without repeats; unknown names are a UserError."""
    return _parse_names(text, PIPELINES, "--pipelines", "pipeline", f"{', '.join(PIPELINES)} (comma separated)")


def _parse_ablation_variants(text: str) -> tuple[str, ...]:
    """``--variants``: like :func:`~featvslearn.learned.variants.parse_variants`, close matches for unknown names."""
    choices = (*ABLATION_VARIANTS, "all")
    names = _parse_names(text, choices, "--variants", "variant",
                         f"{', '.join(ABLATION_VARIANTS)} or all (comma separated)")
    return parse_variants(",".join(names))


def _unknown_choice(option: str, value: str, choices: Sequence[str]) -> str:
    return f"{option} {value!r} is not known{did_you_mean(value, choices)}; use one of {', '.join(choices)}"


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


def _check_model_options(problems: Problems, epochs: int | None, svm: str | None = "linear",
                         preset: str = "standard") -> None:
    """The checks of the options that shape the pipelines' training (``--precision`` is a data option)."""
    if epochs is not None and not 1 <= epochs <= MAX_EPOCHS:
        problems.add(f"--epochs must be between 1 and {MAX_EPOCHS}, got {epochs}")
    landmarks = None if svm is None else rbf_landmarks(svm)
    if landmarks is not None and not 1 <= landmarks <= MAX_LANDMARKS:
        problems.add(f"--svm {svm}: the landmarks must number between 1 and {MAX_LANDMARKS:,}, e.g. rbf-4000")
    elif svm is not None and not known_svm(svm):
        problems.add(_unknown_choice("--svm", svm, SVM_KINDS))
    if preset not in PRESETS:
        problems.add(_unknown_choice("--preset", preset, PRESETS))


@dataclass(frozen=True)
class DataOptions:
    """The options every command shares: which data, where it runs, the seed and the outputs.

    ``device`` is one device option (``auto``, ``cpu``, ``cuda``, ``cuda:N``, ``mps``) or, for
    ``compare``, a comma list of them (``cpu,cuda``): every pipeline then runs on each device.
    """

    dataset: str = "digits"
    device: str = "auto"
    test_size: int | None = None
    seed: int = 0
    data_dir: Path | None = None
    download: bool = True
    precision: str = "auto"
    report_path: Path | None = None
    json_path: Path | None = None
    image_size: int | None = None
    fit: str | None = None

    def checked_data_options(self, one_device: str | None = None, problems: Problems | None = None) -> dict[str, Any]:
        """Check the shared options before any data is loaded; returns the cleaned values to replace.

        ``one_device`` names the command when it runs on one device only. The device is checked
        for availability here, and the output paths for writability, so no training is wasted.
        Problems go to ``problems`` when given (the caller raises them with its own); else every
        problem found is raised here as one ``UserError`` naming each option and its fix.
        """
        from featvslearn.device import resolve_devices

        found = problems if problems is not None else Problems()
        source = found.check(resolve_dataset, self.dataset)
        # a folder's path is kept as typed (./mnist stays a folder); a name becomes the canonical one
        dataset = self.dataset.strip() if isinstance(source, Path) else source or self.dataset
        if self.test_size is not None and self.test_size < 1:
            found.add(f"--test-size must be a positive number of images, got {self.test_size}")
        if not 0 <= self.seed <= MAX_SEED:
            found.add(f"--seed must be between 0 and {MAX_SEED}, got {self.seed}")
        if self.precision not in PRECISIONS:
            found.add(_unknown_choice("--precision", self.precision, PRECISIONS))
        data_dir = found.check(check_data_dir, self.data_dir)
        found.check(check_image_size, self.image_size)
        if self.fit is not None and self.fit not in FIT_METHODS:
            found.add(_unknown_choice("--fit", self.fit, FIT_METHODS))
        if source is not None and not isinstance(source, Path) and (self.image_size, self.fit) != (None, None):
            option = "--image-size" if self.image_size is not None else "--fit"
            found.add(f"{option} applies to image folders; the images of {source} all have one size already, so "
                      f"leave {option} out")
        found.check(resolve_devices, self.device)
        if one_device and "," in self.device:
            found.add(f"{one_device} runs on one device, not {self.device!r}; pass one, such as --device cpu "
                      "(compare --device cpu,cuda measures the speed-up)")
        report = found.check(check_output_path, self.report_path, (".md",), "--report") if self.report_path else None
        if report is not None:
            found.check(check_plots_folder, report, "--report")
        json_path = found.check(check_output_path, self.json_path, (".json",), "--json") if self.json_path else None
        if problems is None:
            found.raise_any()
        return {"dataset": dataset, "data_dir": data_dir, "report_path": report, "json_path": json_path}

    def torch_devices(self) -> list[torch.device]:
        """The resolved torch devices, in the order given (a device may appear twice)."""
        from featvslearn.device import resolve_devices

        return resolve_devices(self.device)

    def torch_device(self) -> torch.device:
        """The first resolved torch device (the only one unless ``device`` is a comma list)."""
        return self.torch_devices()[0]


@dataclass(frozen=True)
class SweepOptions(DataOptions):
    """The options of a sweep (``scaling``, ``ablate``): where its runs are carried out, and resuming.

    ``executor``: ``local`` (one run after another in this process) or ``ray`` (runs side by side
    on a Ray cluster at ``ray_address``; None: ``RAY_ADDRESS``, else a local Ray), each asking for
    ``cpus_per_run`` CPUs (None: all of a machine's) and ``gpus_per_run`` GPUs (None: one; a
    fraction shares a GPU). ``resume``: reuse the runs already in the sweep's run log.
    """

    resume: bool = False
    executor: str = "local"
    ray_address: str | None = None
    gpus_per_run: float | None = None
    cpus_per_run: int | None = None

    def check_sweep_options(self, problems: Problems) -> None:
        """Note the problems of the sweep options in ``problems``."""
        if self.executor not in EXECUTORS:
            problems.add(_unknown_choice("--executor", self.executor, EXECUTORS))
        gpus = self.gpus_per_run
        if gpus is not None and not (0 < gpus <= 1 or (float(gpus).is_integer() and gpus > 1)):
            problems.add(f"--gpus-per-run must be a share of one GPU (more than 0, at most 1, such as 0.25) or a "
                         f"whole number of GPUs, got {gpus:g}")
        if self.cpus_per_run is not None and self.cpus_per_run < 1:
            problems.add(f"--cpus-per-run must be a whole number of CPUs, at least 1, got {self.cpus_per_run}")
        given = [option for option, value in (("--ray-address", self.ray_address),
                                              ("--gpus-per-run", self.gpus_per_run),
                                              ("--cpus-per-run", self.cpus_per_run)) if value is not None]
        if self.executor == "local" and given:
            problems.add(f"{' and '.join(given)} {'is' if len(given) == 1 else 'are'} for runs on Ray; "
                         "add --executor ray (the local executor runs one run at a time, with the whole machine)")

    def resources(self) -> Resources:
        """What each run asks the executor for."""
        return Resources(cpus_per_run=None if self.cpus_per_run is None else float(self.cpus_per_run),
                         gpus_per_run=1.0 if self.gpus_per_run is None else float(self.gpus_per_run))


def _check_train_size(problems: Problems, train_size: int | None) -> None:
    if train_size is not None and train_size < 1:
        problems.add(f"--train-size must be a positive number of images, got {train_size}")


@dataclass(frozen=True)
class CompareConfig(DataOptions):
    """What ``featvslearn compare`` runs: the shared options, the pipelines and their settings.

    ``budget`` is each pipeline's budget in seconds (None: no budget, every pipeline follows its
    standard recipe); ``svm`` None lets the SVM pipelines choose: their standard SVM, or within the budget.
    ``seeds``: every pipeline is trained ``seeds`` times on the same split, with training seeds ``seed``,
    ``seed + 1``, … (:attr:`seed_values`).
    """

    pipelines: tuple[str, ...] = DEFAULT_PIPELINES
    train_size: int | None = None
    epochs: int | None = None
    preset: str = "standard"
    compile: bool = False
    epoch_accuracy: bool = False
    svm: str | None = None
    tune: bool = False
    budget: float | None = None
    seeds: int = 1

    @property
    def seed_values(self) -> tuple[int, ...]:
        """The training seeds: the base seed and the ones after it."""
        return tuple(range(self.seed, self.seed + self.seeds))

    def validated(self) -> CompareConfig:
        """Check every option that can be checked before loading data; returns a cleaned copy.

        Raises one ``UserError`` naming every option that is wrong and its fix.
        """
        problems = Problems()
        pipelines = problems.check(parse_pipelines, ",".join(self.pipelines))
        cleaned = self.checked_data_options(problems=problems)
        _check_train_size(problems, self.train_size)
        _check_model_options(problems, self.epochs, self.svm, self.preset)
        if self.budget is not None and not 0 < self.budget <= MAX_BUDGET_SECONDS:
            problems.add(f"--budget must be a number of seconds above 0 and at most {MAX_BUDGET_SECONDS:,.0f} "
                         f"(a day), got {self.budget:g}")
        if not 1 <= self.seeds <= MAX_COMPARE_SEEDS:
            problems.add(f"--seeds must be between 1 and {MAX_COMPARE_SEEDS}, got {self.seeds}")
        elif self.seed + self.seeds - 1 > MAX_SEED:
            problems.add(f"--seed plus --seeds must stay within {MAX_SEED}; give a smaller --seed")
        problems.raise_any()
        return dataclasses.replace(self, pipelines=pipelines, **cleaned)

    def run_settings(self, budget: Budget | None = None, seed: int | None = None) -> RunSettings:
        """What the pipelines read, each within ``budget`` (None: no budget), trained with ``seed``
        (None: ``--seed``)."""
        return RunSettings(seed=self.seed if seed is None else seed, epochs=self.epochs, precision=self.precision,
                           preset=self.preset, compile=self.compile, epoch_accuracy=self.epoch_accuracy,
                           svm=self.svm, tune=self.tune, budget=budget)


@dataclass(frozen=True)
class ScalingConfig(SweepOptions):
    """What ``featvslearn scaling`` runs: every pipeline at each training-set size and seed.

    ``sizes`` of ``None`` picks sizes from the dataset (see :func:`featvslearn.experiments.scaling.default_sizes`).
    Run ``i`` of each size uses seed ``seed + i`` for its subsample and its training.
    """

    pipelines: tuple[str, ...] = DEFAULT_PIPELINES
    sizes: tuple[int, ...] | None = None
    seeds: int = 3
    epochs: int | None = None
    preset: str = "standard"
    svm: str = "linear"

    @property
    def seed_values(self) -> tuple[int, ...]:
        """The seeds of the runs at each size: the base seed and the ones after it."""
        return tuple(range(self.seed, self.seed + self.seeds))

    def validated(self) -> ScalingConfig:
        """Check every option before any data is loaded (sizes against the dataset are checked once it is).

        Raises one ``UserError`` naming every option that is wrong and its fix; returns a cleaned copy.
        """
        problems = Problems()
        pipelines = problems.check(parse_pipelines, ",".join(self.pipelines))
        cleaned = self.checked_data_options(one_device="scaling", problems=problems)
        _check_model_options(problems, self.epochs, self.svm, self.preset)
        self.check_sweep_options(problems)
        sizes = None
        if self.sizes is not None:
            if not self.sizes:
                problems.add("--sizes is empty; give training-set sizes such as 100,300,1000")
            elif min(self.sizes) < 1:
                problems.add(f"--sizes: {min(self.sizes)} is not a positive number of images; "
                             "give sizes such as 100,300,1000")
            else:
                sizes = tuple(sorted(set(self.sizes)))
        if not 1 <= self.seeds <= MAX_SCALING_SEEDS:
            problems.add(f"--seeds must be between 1 and {MAX_SCALING_SEEDS}, got {self.seeds}")
        elif 0 <= self.seed <= MAX_SEED and self.seed + self.seeds - 1 > MAX_SEED:
            problems.add(f"--seed {self.seed} with --seeds {self.seeds} passes {MAX_SEED}; "
                         f"use --seed {MAX_SEED - self.seeds + 1} or lower")
        problems.raise_any()
        return dataclasses.replace(self, pipelines=pipelines, sizes=sizes, **cleaned)

    def run_settings(self, seed: int) -> RunSettings:
        """What the pipelines of the run with ``seed`` read."""
        return RunSettings(seed=seed, epochs=self.epochs, precision=self.precision, preset=self.preset,
                           svm=self.svm)


@dataclass(frozen=True)
class AblateConfig(SweepOptions):
    """What ``featvslearn ablate`` runs: the shared options, the CNN variants, their data and epochs.

    ``train_size`` None draws ``variants.ABLATION_TRAIN_SIZE`` images when the dataset has more;
    ``epochs`` None means ``ablation.ablation_epochs`` of the training-set size.
    """

    variants: tuple[str, ...] = DEFAULT_ABLATION_VARIANTS
    train_size: int | None = None
    epochs: int | None = None

    def validated(self) -> AblateConfig:
        """Check every option before any data is loaded; returns a cleaned copy.

        Raises one ``UserError`` naming every option that is wrong, as ``CompareConfig.validated`` does.
        """
        problems = Problems()
        variants = problems.check(_parse_ablation_variants, ",".join(self.variants))
        cleaned = self.checked_data_options(one_device="ablate", problems=problems)
        _check_train_size(problems, self.train_size)
        _check_model_options(problems, self.epochs)
        self.check_sweep_options(problems)
        problems.raise_any()
        return dataclasses.replace(self, variants=variants, **cleaned)
