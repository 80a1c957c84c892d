"""run_comparison(config) -> CompareResults: every pipeline on the same split and devices, measured.

Progress flows back through a callback, so this module never prints and works in a notebook
as well as under the CLI.
"""

from __future__ import annotations

import time
from datetime import datetime, timezone
from typing import Any

from featvslearn.experiments.config import CompareConfig
from featvslearn.experiments.run import dataset_info, load_data, run_batch, seed_everything, skipped_files
from featvslearn.experiments.sees import side_pictures
from featvslearn.measure import environment, measure_slowdown
from featvslearn.measure.contention import machine_busy
from featvslearn.pipelines.budget import Budget
from featvslearn.progress import Progress, no_progress
from featvslearn.results import CompareResults, PairedTest, PipelineResult, SeedRun, decode_correct
from featvslearn.stats import pairwise_tests, pairwise_tests_over_seeds


def _labelled(progress: Progress, key: str, label: str) -> Progress:
    """``progress`` with ``label`` before each task's description and ``key`` after its key, so that the
    runs on several devices or with several seeds keep tasks of their own."""
    return lambda task, description, completed, total: progress(
        f"{task}@{key}", f"[{label}] {description}", completed, total)


def budget_for(config: CompareConfig) -> Budget | None:
    """Each pipeline's budget: ``--budget``, or None: every pipeline then follows its standard recipe,
    a fixed function of the dataset, the device type and the options, whatever the machine's load."""
    return None if config.budget is None else Budget(config.budget, "--budget")


def run_comparison(config: CompareConfig, progress: Progress = no_progress,
                   products: dict[str, Any] | None = None) -> CompareResults:
    """Run every pipeline of ``config`` on the same split, on each of its devices; return the results.

    The data is loaded once. With several devices (``--device cpu,cuda``) every pipeline runs
    on each, with the same seed; ``pipelines`` then holds one result per (pipeline, device),
    grouped by pipeline in the user's order and, within a pipeline, in device order.
    ``config`` should come from :meth:`CompareConfig.validated`. ``tests`` compares every pair of
    pipelines on the first device with an exact McNemar test on the same test images;
    ``machine_busy`` says whether other processes loaded the machine during any timed stage, and
    ``slowdown`` how much slower than its quickest a calibration kernel ran at least, timed at the start
    and after each pipeline (see :mod:`featvslearn.measure.calibration`).
    With ``--budget`` each pipeline runs within it, on each device (:func:`budget_for`).
    With ``--seeds N`` every pipeline is trained with each seed on every device, on the same split:
    ``pipelines`` holds the first seed's runs in full, ``seed_runs`` every seed's figures, and ``tests``
    compares every pair on every seed, Holm-adjusted over all of them.
    ``pictures`` (in memory only) holds what each side sees (:mod:`featvslearn.experiments.sees`).
    ``products``, if given, receives what the first seed's pipelines on the first device fitted, by
    pipeline name (their trained models, for :func:`featvslearn.pipelines.saved.save_models`).
    """
    start = time.perf_counter()
    devices = config.torch_devices()
    seeds = config.seed_values
    slowdowns = [measure_slowdown()]
    seed_everything(config.seed)
    split, load_seconds = load_data(config, progress, train_size=config.train_size)
    runs: dict[tuple[int, int], dict[str, PipelineResult]] = {}  # (seed, device index) -> results by name
    first_products: dict[str, Any] = {} if products is None else products  # the first seed's, first device's
    for seed in seeds:
        for index, device in enumerate(devices):
            labels = [*([str(device)] if len(devices) > 1 else []), *([f"seed {seed}"] if len(seeds) > 1 else [])]
            runs[seed, index] = run_batch(
                config.pipelines, split, device, config.run_settings(budget_for(config), seed=seed),
                _labelled(progress, f"{index}/{seed}", ", ".join(labels)) if labels else progress,
                on_result=lambda name, result: slowdowns.append(measure_slowdown()),
                products=first_products if (seed, index) == (config.seed, 0) else None)
    pictures = side_pictures(split, first_products, config.pipelines)
    known = [factor for factor in slowdowns if factor is not None]
    results = [runs[config.seed, index][name] for name in config.pipelines for index in range(len(devices))]
    correct = {seed: {name: decode_correct(runs[seed, 0][name].correct) for name in config.pipelines
                      if runs[seed, 0][name].correct is not None} for seed in seeds}
    tests = (pairwise_tests(correct[config.seed]) if len(seeds) == 1 else pairwise_tests_over_seeds(correct))
    seed_runs = [] if len(seeds) == 1 else [
        SeedRun(pipeline=name, device=str(device), seed=seed, accuracy=runs[seed, index][name].accuracy,
                train_seconds=runs[seed, index][name].train_seconds,
                predict_seconds=runs[seed, index][name].predict_seconds, correct=runs[seed, index][name].correct)
        for name in config.pipelines for index, device in enumerate(devices) for seed in seeds]
    every_run = [result for batch in runs.values() for result in batch.values()]
    gpu_device = next((d for d in devices if d.type == "cuda"), devices[0])
    return CompareResults(
        dataset=dataset_info(split, load_seconds),
        device=",".join(str(d) for d in devices),
        seed=config.seed,
        environment=environment(gpu_device),
        pipelines=results,
        machine_busy=machine_busy(stage for result in every_run for stage in result.stages),
        slowdown=min(known) if known else None,
        tests=[PairedTest(**test) for test in tests],
        seed_runs=seed_runs,
        settings={
            "pipelines": list(config.pipelines),
            "train_size": config.train_size,
            "test_size": config.test_size,
            "epochs": config.epochs,
            "precision": config.precision,
            "preset": config.preset,
            "compile": config.compile,
            "svm": config.svm,
            "tune": config.tune,
            "budget": config.budget,
            "seeds": config.seeds,
            "device_option": config.device,
            "skipped_files": skipped_files(split),
        },
        created=datetime.now(timezone.utc).isoformat(timespec="seconds"),
        total_seconds=time.perf_counter() - start,
    ).with_pictures(pictures)
