"""The command line: parse options, show progress and tables; the work happens elsewhere."""

from __future__ import annotations

import contextlib
import functools
import sys
import warnings
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import TYPE_CHECKING, Annotated, Any, Literal, TypeVar

import typer
from rich.console import Console
from rich.markup import escape
from rich.progress import BarColumn, MofNCompleteColumn, Progress, SpinnerColumn, TextColumn, TimeElapsedColumn
from rich.table import Table

from featvslearn import __version__
from featvslearn.config import (
    ABLATION_TRAIN_SIZE,
    ABLATION_VARIANTS,
    DEFAULT_ABLATION_VARIANTS,
    DEFAULT_PIPELINES,
    PIPELINES,
    PRECISIONS,
    PRESETS,
    AblateConfig,
    CompareConfig,
    ScalingConfig,
    parse_sizes,
)
from featvslearn.data import DATASET_NAMES
from featvslearn.errors import UserError

if TYPE_CHECKING:
    from featvslearn.results import Results

app = typer.Typer(
    name="featvslearn",
    help="Hand-engineered features (HOG + SVM) against a learned CNN: same images, same device, "
    "measured side by side.",
    no_args_is_help=True,
    add_completion=False,
    pretty_exceptions_enable=False,
)

# Wide enough for the side-by-side table when output goes to a file or a pipe.
out = Console(width=None if sys.stdout.isatty() else 160)
err = Console(stderr=True, width=None if sys.stderr.isatty() else 160)

F = TypeVar("F", bound=Callable[..., Any])


def handles_errors(command: F) -> F:
    """Turn a user mistake into one line on stderr and exit code 2, and Ctrl-C into exit code 130."""

    @functools.wraps(command)
    def wrapper(*args: Any, **kwargs: Any) -> Any:
        try:
            return command(*args, **kwargs)
        except UserError as exc:
            message = " ".join(str(exc).split())  # one line, whatever the user typed
            err.print(f"[bold red]error:[/] {escape(message)}", highlight=False, soft_wrap=True)
            raise typer.Exit(2) from None
        except KeyboardInterrupt:
            err.print("[yellow]interrupted: stopped cleanly, no output file was written[/]")
            raise typer.Exit(130) from None

    return wrapper  # type: ignore[return-value]


class RichProgress:
    """Shows the experiment's progress callbacks as Rich progress bars, one per task key."""

    def __init__(self, progress: Progress) -> None:
        self.progress = progress
        self.tasks: dict[str, Any] = {}

    def __call__(self, key: str, description: str, completed: float, total: float | None) -> None:
        if key not in self.tasks:
            self.tasks[key] = self.progress.add_task(description, total=total)
        task = self.tasks[key]
        self.progress.update(task, description=description, completed=completed, total=total)


def _progress_bars() -> Progress:
    return Progress(
        SpinnerColumn(),
        TextColumn("[progress.description]{task.description}"),
        BarColumn(),
        MofNCompleteColumn(),
        TimeElapsedColumn(),
        console=err,
        transient=False,
    )


@contextlib.contextmanager
def _live_progress(warning_action: Literal["always", "once"] = "always") -> Iterator[RichProgress]:
    """Rich progress bars on stderr for the callbacks, with library warnings printed above them.

    ``warning_action`` is the filter for ``UserWarning``: ``always``, or ``once`` for runs that
    repeat the same step many times.
    """
    with _progress_bars() as bars, warnings.catch_warnings():
        warnings.simplefilter(warning_action, UserWarning)
        warnings.showwarning = lambda message, *args, **kwargs: bars.console.print(
            f"[yellow]warning:[/] {escape(str(message))}", highlight=False)
        yield RichProgress(bars)


def _warn_skipped(settings: dict[str, Any]) -> None:
    """Name the image files a run skipped as unreadable."""
    skipped = settings.get("skipped_files") or []
    if skipped:
        err.print(f"[yellow]warning:[/] skipped {len(skipped)} unreadable file(s): {', '.join(skipped[:5])}"
                  + (" …" if len(skipped) > 5 else ""), highlight=False)


def _write_outputs(results: Results, json_path: Path | None, report_path: Path | None) -> None:
    """Write the --json results and the --report Markdown (with its plots) where asked, and say where."""
    from featvslearn.report import write_markdown
    from featvslearn.results import write_json

    if json_path:
        write_json(results, json_path)
        out.print(f"results written to {json_path}", highlight=False)
    if report_path:
        write_markdown(results, report_path)
        out.print(f"report written to {report_path}", highlight=False)


def _version(value: bool) -> None:
    if value:
        out.print(f"featvslearn {__version__}")
        raise typer.Exit()


@app.callback()
def root(
    version: Annotated[bool, typer.Option("--version", callback=_version, is_eager=True,
                                          help="Show the version and exit.")] = False,
) -> None:
    """Re-run the central experiment of the deep-learning revolution on your own data and hardware."""


@app.command()
@handles_errors
def compare(
    dataset: Annotated[str, typer.Option(help=f"{', '.join(DATASET_NAMES)}, or a folder with one sub-folder "
                                              "of images per class (optionally under train/ and test/).")] = "digits",
    device: Annotated[str, typer.Option(help="auto, cpu, cuda, cuda:N or mps; auto picks CUDA when available. "
                                              "A comma list (cpu,cuda) runs every pipeline on each device and adds "
                                              "a speed-up column.")]
    = "auto",
    pipelines: Annotated[str, typer.Option(help=f"Comma list of {', '.join(PIPELINES)}. learned-svm fits the "
                                                "hog-svm SVM on the CNN's features, reusing this run's CNN.")]
    = ",".join(DEFAULT_PIPELINES),
    train_size: Annotated[int | None, typer.Option(help="Training images (stratified, seeded subsample).")] = None,
    test_size: Annotated[int | None, typer.Option(help="Test images (stratified, seeded subsample).")] = None,
    epochs: Annotated[int | None, typer.Option(help="CNN epochs; default adapts to dataset size and device.")]
    = None,
    seed: Annotated[int, typer.Option(help="Seed for splits, subsamples, initialisation and shuffling.")] = 0,
    data_dir: Annotated[Path | None, typer.Option(help="Folder holding the dataset's files, or to download into.")]
    = None,
    no_download: Annotated[bool, typer.Option("--no-download", help="Never download; use local files only.")]
    = False,
    precision: Annotated[str, typer.Option(help=f"Compute precision: {', '.join(PRECISIONS)}. auto: bf16/fp16 "
                                                "on CUDA, bf16 on CPUs with bf16 units, else fp32 (CNN autocast; "
                                                "bf16 also holds the SVMs' feature matrices).")] = "auto",
    svm: Annotated[str, typer.Option(help="SVM of hog-svm, sift-svm and learned-svm: linear (default), rbf "
                                          "(Nystroem kernel approximation + linear SVM), rbf-exact "
                                          "(scikit-learn SVC; slow above 20k images).")] = "linear",
    tune: Annotated[bool, typer.Option("--tune", help="Choose C (and gamma) by a small grid search on a fifth of "
                                                      "the training set held out for validation.")] = False,
    preset: Annotated[str, typer.Option(help=f"CNN size and schedule: {', '.join(PRESETS)} (half width and epochs, "
                                             "no TTA / defaults, flip TTA / double width and epochs, flip and "
                                             "shift TTA, weight EMA).")] = "standard",
    compile: Annotated[bool, typer.Option("--compile", help="torch.compile the CNN; compile time is reported as "
                                                            "its own warm-up stage.")] = False,
    epoch_accuracy: Annotated[bool, typer.Option("--epoch-accuracy", help="Also measure test accuracy after each "
                                                                          "CNN epoch (counted in training time).")]
    = False,
    report: Annotated[Path | None, typer.Option(help="Write a Markdown report to this .md file, and its plots "
                                                     "into a folder beside it (out.md → out-plots/).")] = None,
    json_path: Annotated[Path | None, typer.Option("--json", help="Write the results to this .json file.")] = None,
) -> None:
    """Train HOG + SVM and a CNN on the same images and device; show accuracy, time, speed and memory."""
    from featvslearn.experiment import run_comparison
    from featvslearn.report import rich_table

    config = CompareConfig(
        dataset=dataset, device=device, pipelines=tuple(pipelines.split(",")), train_size=train_size,
        test_size=test_size, epochs=epochs, seed=seed, data_dir=data_dir, download=not no_download,
        precision=precision, svm=svm, tune=tune, preset=preset, compile=compile, epoch_accuracy=epoch_accuracy,
        report_path=report, json_path=json_path,
    ).validated()
    with _live_progress() as progress:
        results = run_comparison(config, progress=progress)
    _warn_skipped(results.settings)
    out.print(rich_table(results))
    _write_outputs(results, config.json_path, config.report_path)


@app.command()
@handles_errors
def ablate(
    dataset: Annotated[str, typer.Option(help=f"{', '.join(DATASET_NAMES)}, or a folder with one sub-folder "
                                              "of images per class (optionally under train/ and test/).")] = "digits",
    variants: Annotated[str, typer.Option(help=f"Comma list of {', '.join(ABLATION_VARIANTS)}, or all. plain: no "
                                               "normalisation; deep: twice the convolutions per stage.")]
    = ",".join(DEFAULT_ABLATION_VARIANTS),
    device: Annotated[str, typer.Option(help="auto, cpu, cuda, cuda:N or mps; auto picks CUDA when available.")]
    = "auto",
    train_size: Annotated[int | None, typer.Option(help=f"Training images (stratified, seeded subsample); default "
                                                        f"{ABLATION_TRAIN_SIZE:,} or all if fewer.")] = None,
    test_size: Annotated[int | None, typer.Option(help="Test images (stratified, seeded subsample); default all.")]
    = None,
    epochs: Annotated[int | None, typer.Option(help="Epochs for every variant; default about 100,000 image passes "
                                                    "(10 epochs of 10,000 images), within 10-40.")] = None,
    seed: Annotated[int, typer.Option(help="Seed for splits, subsamples, initialisation and shuffling.")] = 0,
    data_dir: Annotated[Path | None, typer.Option(help="Folder holding the dataset's files, or to download into.")]
    = None,
    no_download: Annotated[bool, typer.Option("--no-download", help="Never download; use local files only.")]
    = False,
    precision: Annotated[str, typer.Option(help=f"Compute precision: {', '.join(PRECISIONS)}. auto: bf16/fp16 "
                                                "on CUDA, bf16 on CPUs with bf16 units, else fp32.")] = "auto",
    report: Annotated[Path | None, typer.Option(help="Write a Markdown report (and its plots) to this .md file.")]
    = None,
    json_path: Annotated[Path | None, typer.Option("--json", help="Write the results to this .json file.")] = None,
) -> None:
    """Train CNN variants for the same budget: sigmoid, tanh, ReLU; with and without batch norm and dropout; deeper."""
    from featvslearn.ablation import run_ablation
    from featvslearn.report import ablate_table

    config = AblateConfig(
        dataset=dataset, device=device, variants=tuple(variants.split(",")), train_size=train_size,
        test_size=test_size, epochs=epochs, seed=seed, data_dir=data_dir, download=not no_download,
        precision=precision, report_path=report, json_path=json_path,
    ).validated()
    with _live_progress() as progress:
        results = run_ablation(config, progress=progress)
    _warn_skipped(results.settings)
    out.print(ablate_table(results))
    _write_outputs(results, config.json_path, config.report_path)


@app.command()
@handles_errors
def scaling(
    dataset: Annotated[str, typer.Option(help=f"{', '.join(DATASET_NAMES)}, or a folder with one sub-folder "
                                              "of images per class (optionally under train/ and test/).")] = "digits",
    sizes: Annotated[str | None, typer.Option(help="Comma list of training-set sizes, e.g. 100,300,1000. Default: "
                                                   "about 10 images per class up to the whole training set, in "
                                                   "steps of about ×3.")] = None,
    seeds: Annotated[int, typer.Option(help="Runs per size, with seeds --seed, --seed+1, …: each draws its own "
                                            "subsample and initialisation.")] = 3,
    device: Annotated[str, typer.Option(help="auto, cpu, cuda, cuda:N or mps; auto picks CUDA when available.")]
    = "auto",
    pipelines: Annotated[str, typer.Option(help=f"Comma list of {', '.join(PIPELINES)}. learned-svm reuses the "
                                                "CNN of the same size and seed.")] = ",".join(DEFAULT_PIPELINES),
    test_size: Annotated[int | None, typer.Option(help="Test images (stratified, seeded subsample), the same for "
                                                       "every run.")] = None,
    epochs: Annotated[int | None, typer.Option(help="CNN epochs at every size; default adapts to each size and the "
                                                    "device.")] = None,
    seed: Annotated[int, typer.Option(help="Base seed: the test subsample and the first run of each size.")] = 0,
    data_dir: Annotated[Path | None, typer.Option(help="Folder holding the dataset's files, or to download into.")]
    = None,
    no_download: Annotated[bool, typer.Option("--no-download", help="Never download; use local files only.")]
    = False,
    precision: Annotated[str, typer.Option(help=f"Compute precision: {', '.join(PRECISIONS)} (CNN autocast and "
                                                "SVM feature matrices).")] = "auto",
    svm: Annotated[str, typer.Option(help="SVM of hog-svm, sift-svm and learned-svm: linear (default), rbf or "
                                          "rbf-exact.")]
    = "linear",
    preset: Annotated[str, typer.Option(help=f"CNN size and schedule: {', '.join(PRESETS)}.")] = "standard",
    report: Annotated[Path | None, typer.Option(help="Write a Markdown report (with plots beside it) to this .md "
                                                     "file.")] = None,
    json_path: Annotated[Path | None, typer.Option("--json", help="Write the results to this .json file.")] = None,
) -> None:
    """Train every pipeline at growing training-set sizes; show accuracy ± std per size and where the CNN overtakes."""
    from featvslearn.report import scaling_table
    from featvslearn.scaling import run_scaling

    config = ScalingConfig(
        compare=CompareConfig(
            dataset=dataset, device=device, pipelines=tuple(pipelines.split(",")), test_size=test_size,
            epochs=epochs, seed=seed, data_dir=data_dir, download=not no_download, precision=precision, svm=svm,
            preset=preset, report_path=report, json_path=json_path,
        ),
        sizes=parse_sizes(sizes) if sizes is not None else None,
        seeds=seeds,
    ).validated()
    with _live_progress("once") as progress:
        results = run_scaling(config, progress=progress,
                              on_plan=lambda plan: progress.progress.console.print(plan.describe(), highlight=False))
    out.print(scaling_table(results))
    _write_outputs(results, config.compare.json_path, config.compare.report_path)


@app.command()
@handles_errors
def datasets(
    data_dir: Annotated[Path | None, typer.Option(help="Also look in this folder.")] = None,
) -> None:
    """List the datasets, and which are available offline here and from where."""
    from featvslearn.data import dataset_availability

    table = Table(title="datasets")
    for column in ("name", "offline", "where", "note"):
        table.add_column(column)
    for item in dataset_availability(data_dir):
        table.add_row(item.name, "yes" if item.available_offline else "no", item.location or "–", item.note)
    out.print(table)
    out.print("Any folder with one sub-folder of images per class also works: featvslearn compare --dataset PATH",
              highlight=False)


@app.command()
@handles_errors
def report(
    results_json: Annotated[Path, typer.Argument(help="A results .json written by compare, scaling or ablate --json.")],
    out_path: Annotated[Path | None, typer.Option("--out", help="Markdown file to write (default: beside the JSON, "
                                                                 "with .md); its plots go into <name>-plots/ "
                                                                 "beside it.")] = None,
) -> None:
    """Re-render a saved results JSON as the table, a Markdown report and its plots, without training anything."""
    from featvslearn.files import check_output_path, check_plots_folder
    from featvslearn.report import terminal_table, write_markdown
    from featvslearn.results import read_json

    target = check_output_path(out_path or results_json.with_suffix(".md"), (".md",), "--out")
    check_plots_folder(target, "--out")
    results = read_json(results_json)
    out.print(terminal_table(results))
    write_markdown(results, target)
    out.print(f"report written to {target}", highlight=False)


def main() -> None:
    """Console-script entry point."""
    app()


if __name__ == "__main__":
    sys.exit(main())
