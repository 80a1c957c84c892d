"""The command line: parse options, show progress and tables; the work happens elsewhere."""

from __future__ import annotations

import functools
import os
import sys
from collections.abc import Callable
from pathlib import Path
from typing import TYPE_CHECKING, Annotated, Any, TypeVar

import typer
from rich.console import Console
from rich.markup import escape

from featvslearn import __version__
from featvslearn.cli import options as opt
from featvslearn.cli.progress import _live_progress
from featvslearn.cli.sweeps import SweepInterrupted, running_sweep
from featvslearn.errors import MAKE_VARIABLES_ENV, UserError, in_make_terms
from featvslearn.experiments.config import AblateConfig, CompareConfig, ScalingConfig, parse_sizes

if TYPE_CHECKING:
    from featvslearn.results import Results

app = typer.Typer(
    name="featvslearn",
    help="Hand-engineered features (HOG + SVM) against a learned CNN: same images, same device, "
    "measured side by side.",
    epilog="Examples:\n"
    "  featvslearn compare --dataset digits\n"
    "      the quick start: the 8x8 digits bundled with scikit-learn, no download\n"
    "  featvslearn compare --dataset cifar10 --device cuda\n"
    "      the headline run: CIFAR-10 (downloaded once) on the GPU\n"
    "  featvslearn datasets\n"
    "      which datasets are here offline, and where\n\n"
    "Run featvslearn COMMAND -h for a command's options.",
    no_args_is_help=True,
    add_completion=False,
    pretty_exceptions_enable=False,
    cls=opt.HelpGroup,
    context_settings=opt.CONTEXT_SETTINGS,
)


def _console_width(stream: Any) -> int | None:
    """The width for a console writing to ``stream``: an explicit ``COLUMNS`` (a positive number) wherever
    it goes; otherwise the terminal's own (None) on a terminal, and 160 in a file or a pipe."""
    columns = os.environ.get("COLUMNS", "").strip()
    if columns.isdigit() and int(columns) > 0:
        return int(columns)
    return None if stream.isatty() else 160


# Wide enough for the side-by-side table when output goes to a file or a pipe, unless COLUMNS says otherwise.
out = Console(width=_console_width(sys.stdout))
err = Console(stderr=True, width=_console_width(sys.stderr))

F = TypeVar("F", bound=Callable[..., Any])


def print_error(message: str) -> None:
    """``message`` as one ``error:`` line on stderr; under make, options it sets are named as its variables."""
    message = in_make_terms(" ".join(message.split()), os.environ.get(MAKE_VARIABLES_ENV))
    err.print(f"[bold red]error:[/] {escape(message)}", highlight=False, soft_wrap=True)


def handles_errors(command: F) -> F:
    """Turn a user mistake into one line on stderr and exit code 2, and Ctrl-C into exit code 130."""

    @functools.wraps(command)
    def wrapper(*args: Any, **kwargs: Any) -> Any:
        try:
            return command(*args, **kwargs)
        except UserError as exc:
            print_error(str(exc))
            raise typer.Exit(2) from None
        except KeyboardInterrupt as exc:
            kept = str(exc) if isinstance(exc, SweepInterrupted) else "stopped cleanly, no output file was written"
            err.print(f"[yellow]interrupted: {escape(kept)}[/]", highlight=False, soft_wrap=True)
            raise typer.Exit(130) from None

    return wrapper  # type: ignore[return-value]


def _warn_skipped(settings: dict[str, Any]) -> None:
    """Name the image files a run skipped as unreadable."""
    skipped = settings.get("skipped_files") or []
    if skipped:
        err.print(f"[yellow]warning:[/] skipped {len(skipped)} unreadable file(s): {', '.join(skipped[:5])}"
                  + (" …" if len(skipped) > 5 else ""), highlight=False)


def _show(results: Results) -> None:
    """The results' table, their plain-language reading, and any warning a reader must see."""
    from featvslearn.cli.tables import FittedTable, results_table
    from featvslearn.reports import data_notes, lessons, more_tables, reading, warnings

    out.print(results_table(results))
    for table in more_tables(results):
        out.print(FittedTable(table))
    for note in data_notes(results):
        out.print(escape(note), highlight=False)
    out.print(reading(results).replace("**", ""), highlight=False)
    for lesson in lessons(results):
        out.print(f"- {escape(lesson)}", highlight=False)
    for warning in warnings(results):
        err.print(f"[bold yellow]warning:[/] {escape(warning)}", highlight=False)


def _finish(results: Results, json_path: Path | None, report_path: Path | None) -> None:
    """After a run: name skipped files, show the results, write --json and --report where asked."""
    _warn_skipped(results.settings)
    _show(results)
    _write_outputs(results, json_path, report_path)


def _write_outputs(results: Results, json_path: Path | None, report_path: Path | None) -> None:
    """Write the --json results and the --report Markdown (with its plots) where asked, and say where."""
    from featvslearn.reports import sees, write_markdown
    from featvslearn.results import CompareResults, write_json

    if json_path:
        write_json(results, json_path)
        out.print(f"results written to {json_path}", highlight=False)
    if report_path:
        write_markdown(results, report_path)
        out.print(f"report written to {report_path}", highlight=False)
        if isinstance(results, CompareResults) and (where := sees.where_line(results, report_path)):
            out.print(where, highlight=False, soft_wrap=True)


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


@app.command(cls=opt.HelpCommand, context_settings=opt.CONTEXT_SETTINGS,
             short_help="HOG + SVM against a CNN: accuracy, time, speed, memory.")
@handles_errors
def compare(
    dataset: opt.Dataset = "digits",
    device: opt.Devices = "auto",
    pipelines: opt.Pipelines = opt.DEFAULT_PIPELINES_TEXT,
    train_size: opt.TrainSize = None,
    test_size: opt.TestSize = None,
    epochs: opt.Epochs = None,
    seed: opt.Seed = 0,
    data_dir: opt.DataDir = None,
    no_download: opt.NoDownload = False,
    image_size: opt.ImageSize = None,
    fit: opt.Fit = None,
    precision: opt.Precision = "auto",
    svm: opt.CompareSvm = None,
    budget: opt.Budget = None,
    seeds: opt.CompareSeeds = 1,
    tune: opt.Tune = False,
    preset: opt.Preset = "standard",
    compile: opt.Compile = False,
    epoch_accuracy: opt.EpochAccuracy = False,
    report: opt.Report = None,
    json_path: opt.Json = None,
    save: opt.Save = None,
) -> None:
    """Train HOG + SVM and a CNN on the same images, device and time budget; show accuracy, time, speed and memory."""
    from featvslearn.experiments.compare import run_comparison
    from featvslearn.pipelines.saved import check_save_folder

    config = CompareConfig(
        dataset=dataset, device=device, pipelines=tuple(pipelines.split(",")), train_size=train_size,
        test_size=test_size, epochs=epochs, seed=seed, data_dir=data_dir, download=not no_download,
        precision=precision, svm=svm, budget=budget, seeds=seeds, tune=tune, preset=preset, compile=compile,
        epoch_accuracy=epoch_accuracy, report_path=report, json_path=json_path, image_size=image_size, fit=fit,
    ).validated()
    save_folder = check_save_folder(save) if save is not None else None
    products: dict[str, Any] | None = {} if save_folder is not None else None
    with _live_progress() as progress:
        results = run_comparison(config, progress=progress, products=products)
    _finish(results, config.json_path, config.report_path)
    if save_folder is not None and products is not None:
        from featvslearn.experiments.predict import save_run

        save_run(save_folder, products, config.pipelines, results.dataset)
        out.print(f"models written to {save_folder} (featvslearn predict {save_folder} IMAGE...)", highlight=False)


@app.command(cls=opt.HelpCommand, context_settings=opt.CONTEXT_SETTINGS,
             short_help="CNN variants: activations, batch norm, dropout, depth.")
@handles_errors
def ablate(
    dataset: opt.Dataset = "digits",
    variants: opt.Variants = opt.DEFAULT_VARIANTS_TEXT,
    device: opt.Device = "auto",
    train_size: opt.AblateTrainSize = None,
    test_size: opt.TestSize = None,
    epochs: opt.AblateEpochs = None,
    seed: opt.Seed = 0,
    data_dir: opt.DataDir = None,
    no_download: opt.NoDownload = False,
    image_size: opt.ImageSize = None,
    fit: opt.Fit = None,
    precision: opt.Precision = "auto",
    report: opt.Report = None,
    json_path: opt.Json = None,
    resume: opt.Resume = False,
    executor: opt.Executor = "local",
    ray_address: opt.RayAddress = None,
    gpus_per_run: opt.GpusPerRun = None,
    cpus_per_run: opt.CpusPerRun = None,
) -> None:
    """Train CNN variants for the same budget: sigmoid, tanh, ReLU; with and without batch norm and dropout; deeper."""
    from featvslearn.experiments.ablation import run_ablation

    config = AblateConfig(
        dataset=dataset, device=device, variants=tuple(variants.split(",")), train_size=train_size,
        test_size=test_size, epochs=epochs, seed=seed, data_dir=data_dir, download=not no_download,
        precision=precision, report_path=report, json_path=json_path, resume=resume, executor=executor,
        ray_address=ray_address, gpus_per_run=gpus_per_run, cpus_per_run=cpus_per_run, image_size=image_size,
        fit=fit,
    ).validated()
    with running_sweep(config, "ablate", err) as (log, runs_on), _live_progress() as progress:
        results = run_ablation(config, progress=progress, executor=runs_on, log=log)
    _finish(results, config.json_path, config.report_path)


@app.command(cls=opt.HelpCommand, context_settings=opt.CONTEXT_SETTINGS,
             short_help="Accuracy at growing training sizes: where the CNN overtakes.")
@handles_errors
def scaling(
    dataset: opt.Dataset = "digits",
    sizes: opt.Sizes = None,
    seeds: opt.Seeds = 3,
    device: opt.Device = "auto",
    pipelines: opt.Pipelines = opt.DEFAULT_PIPELINES_TEXT,
    test_size: opt.TestSize = None,
    epochs: opt.Epochs = None,
    seed: opt.ScalingSeed = 0,
    data_dir: opt.DataDir = None,
    no_download: opt.NoDownload = False,
    image_size: opt.ImageSize = None,
    fit: opt.Fit = None,
    precision: opt.Precision = "auto",
    svm: opt.Svm = "linear",
    preset: opt.Preset = "standard",
    report: opt.Report = None,
    json_path: opt.Json = None,
    resume: opt.Resume = False,
    executor: opt.Executor = "local",
    ray_address: opt.RayAddress = None,
    gpus_per_run: opt.GpusPerRun = None,
    cpus_per_run: opt.CpusPerRun = None,
) -> None:
    """Train every pipeline at growing training-set sizes; show accuracy ± std per size and where the CNN overtakes."""
    from featvslearn.experiments.scaling import run_scaling

    config = ScalingConfig(
        dataset=dataset, device=device, pipelines=tuple(pipelines.split(",")), test_size=test_size,
        epochs=epochs, seed=seed, data_dir=data_dir, download=not no_download, precision=precision, svm=svm,
        preset=preset, report_path=report, json_path=json_path,
        sizes=parse_sizes(sizes) if sizes is not None else None, seeds=seeds, resume=resume, executor=executor,
        ray_address=ray_address, gpus_per_run=gpus_per_run, cpus_per_run=cpus_per_run, image_size=image_size,
        fit=fit,
    ).validated()
    with (running_sweep(config, "scaling", err, runs_per_entry=len(config.pipelines)) as (log, runs_on),
          _live_progress("once") as progress):
        results = run_scaling(config, progress=progress, executor=runs_on, log=log,
                              on_plan=lambda plan: progress.progress.console.print(plan.describe(), highlight=False))
    _finish(results, config.json_path, config.report_path)


@app.command(cls=opt.HelpCommand, context_settings=opt.CONTEXT_SETTINGS,
             short_help="List the datasets and where each is found offline.")
@handles_errors
def datasets(data_dir: opt.ListDataDir = None) -> None:
    """List the datasets, which are available offline here and from where, and for those that are
    downloaded, the address, the size and where to put the files on a machine without a network."""
    from featvslearn.cli.tables import datasets_table, downloads_table
    from featvslearn.datasets import dataset_availability

    found = dataset_availability(data_dir)
    out.print(datasets_table(found))
    out.print("Any folder with one sub-folder of images per class also works: featvslearn compare --dataset PATH",
              highlight=False)
    out.print(downloads_table(found))


@app.command(cls=opt.HelpCommand, context_settings=opt.CONTEXT_SETTINGS,
             short_help="Re-render saved results, or merge several: table, report, plots.")
@handles_errors
def report(results_json: opt.ResultsJsons, out_path: opt.MergeOut = None, json_path: opt.MergeJson = None,
           baseline: opt.Baseline = None) -> None:
    """Re-render a saved results JSON as the table, a Markdown report and its plots, without training anything.

    Several are merged first: compare results side by side, or partial scaling sweeps into one sweep.
    """
    from featvslearn.files import check_output_path, check_plots_folder
    from featvslearn.reports import write_markdown
    from featvslearn.results import read_json

    if len(results_json) > 1 or json_path is not None or baseline is not None:
        _merge_and_report(results_json, out_path, json_path, baseline)
        return
    results = read_json(results_json[0])  # first: a wrong input file is the likelier mistake
    target = check_output_path(out_path or results_json[0].with_suffix(".md"), (".md",), "--out")
    check_plots_folder(target, "--out")
    _show(results)
    write_markdown(results, target)
    out.print(f"report written to {target}", highlight=False)


@app.command(cls=opt.HelpCommand, context_settings=opt.CONTEXT_SETTINGS,
             short_help="Classify image files with the pipelines compare --save kept.")
@handles_errors
def predict(models_dir: opt.ModelsDir, images: opt.Images, json_path: opt.PredictJson = None,
            device: opt.Device = "auto") -> None:
    """Classify image files with every pipeline compare --save wrote in MODELS_DIR: each pipeline's class
    and score per image (SVMs: the decision value; cnn: the softmax probability)."""
    import json

    from featvslearn.cli.predictions import predictions_table
    from featvslearn.experiments.predict import predict_images
    from featvslearn.files import atomic_write_text, check_output_path

    json_target = check_output_path(json_path, (".json",), "--json") if json_path is not None else None
    predictions = predict_images(models_dir, images, device)
    out.print(predictions_table(predictions))
    if json_target is not None:
        atomic_write_text(json_target, json.dumps(predictions.as_dict(), indent=2, allow_nan=False) + "\n")
        out.print(f"predictions written to {json_target}", highlight=False)


MERGED_REPORT = Path("merged.md")
"""Where ``report`` writes the report of several files without --out: in the current folder."""


def _merge_and_report(paths: list[Path], out_path: Path | None, json_path: Path | None,
                      baseline: str | None) -> None:
    """``report`` with several files, --json or --baseline: read and check every file, merge them, check
    the outputs, then show the table and write --json and the report."""
    from datetime import datetime, timezone

    from featvslearn.experiments.merge import merge, replace_baseline
    from featvslearn.files import check_output_path, check_plots_folder, expand_user
    from featvslearn.reports import write_markdown
    from featvslearn.results import MergedCompareResults, read_json, write_json

    named = [(str(path), read_json(path)) for path in paths]  # every file read and checked before any is written
    inputs: dict[Path, str] = {}
    for path in paths:
        resolved = expand_user(path, "RESULTS_JSON").resolve()
        if resolved in inputs:
            also = f" (also as {inputs[resolved]})" if inputs[resolved] != str(path) else ""
            raise UserError(f"{path} is given twice{also}; pass each results file once")
        inputs[resolved] = str(path)
    notes: list[str] = []
    results: Results
    if len(named) > 1:
        merged = merge(named, datetime.now(timezone.utc).isoformat(timespec="seconds"), baseline)
        results, notes = merged.results, merged.notes
    else:
        name, results = named[0]
        if baseline is not None:
            if not isinstance(results, MergedCompareResults):
                raise UserError(f"--baseline picks the row the speed-ups of merged compare results divide, but {name} "
                                f"holds {results.kind} results; pass two or more compare results, or leave it out")
            results = replace_baseline(results, baseline, name)
    target = check_output_path(out_path or (MERGED_REPORT if len(paths) > 1 else paths[0].with_suffix(".md")),
                               (".md",), "--out")
    check_plots_folder(target, "--out")
    json_target = check_output_path(json_path, (".json",), "--json") if json_path is not None else None
    for option, written in (("--out", target), ("--json", json_target)):
        if written is not None and written in inputs:
            raise UserError(f"{option} {written} is one of the results files read; choose another file name")
    if out_path is None and len(paths) > 1:
        out.print(f"no --out given: the report goes to {MERGED_REPORT} in the current folder", highlight=False)
    _show(results)
    for note in notes:
        err.print(f"[bold yellow]note:[/] {escape(note)}", highlight=False, soft_wrap=True)
    if json_target is not None:
        write_json(results, json_target)
        out.print(f"merged results written to {json_target}" if len(paths) > 1
                  else f"results written to {json_target}", highlight=False)
    write_markdown(results, target)
    out.print(f"report written to {target}", highlight=False)


def main() -> None:
    """Console-script entry point."""
    app()


if __name__ == "__main__":
    sys.exit(main())
