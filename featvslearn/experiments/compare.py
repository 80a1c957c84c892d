"""run_comparison(config) -> CompareResults: every pipeline on the same split and devices, measured.

Progress flows back through a callback, so this module never prints and works in a notebook
as well as under the CLI.
"""

from __future__ import annotations

import time
from datetime import datetime, timezone

import torch

from featvslearn.experiments.config import CompareConfig
from featvslearn.experiments.run import dataset_info, load_data, run_batch, seed_everything, skipped_files
from featvslearn.measure import environment, measure_slowdown
from featvslearn.measure.contention import machine_busy
from featvslearn.pipelines.budget import Budget
from featvslearn.progress import Progress, no_progress
from featvslearn.results import CompareResults, PairedTest, PipelineResult, decode_correct
from featvslearn.stats import pairwise_tests


def _on_device(progress: Progress, device: torch.device, index: int, several: bool) -> Progress:
    """``progress`` with the device named in each task, when the pipelines run on several devices."""
    if not several:
        return progress
    return lambda key, description, completed, total: progress(
        f"{key}@{index}", f"[{device}] {description}", completed, total)


def budget_for(config: CompareConfig) -> Budget | None:
    """Each pipeline's budget: ``--budget``, or None: every pipeline then follows its standard recipe,
    a fixed function of the dataset, the device type and the options, whatever the machine's load."""
    return None if config.budget is None else Budget(config.budget, "--budget")


def run_comparison(config: CompareConfig, progress: Progress = no_progress) -> CompareResults:
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
    """
    start = time.perf_counter()
    devices = config.torch_devices()
    slowdowns = [measure_slowdown()]
    seed_everything(config.seed)
    split, load_seconds = load_data(config, progress, train_size=config.train_size)
    by_device: list[dict[str, PipelineResult]] = [
        run_batch(config.pipelines, split, device, config.run_settings(budget_for(config)),
                  _on_device(progress, device, index, len(devices) > 1),
                  on_result=lambda name, result: slowdowns.append(measure_slowdown()))
        for index, device in enumerate(devices)
    ]
    known = [factor for factor in slowdowns if factor is not None]
    results = [runs[name] for name in config.pipelines for runs in by_device]
    correct = {name: decode_correct(runs[name].correct) for name in config.pipelines
               for runs in by_device[:1] if runs[name].correct is not None}
    gpu_device = next((d for d in devices if d.type == "cuda"), devices[0])
    return CompareResults(
        dataset=dataset_info(split, load_seconds),
        device=",".join(str(d) for d in devices),
        seed=config.seed,
        environment=environment(gpu_device),
        pipelines=results,
        machine_busy=machine_busy(stage for result in results for stage in result.stages),
        slowdown=min(known) if known else None,
        tests=[PairedTest(**test) for test in pairwise_tests(correct)],
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
            "device_option": config.device,
            "skipped_files": skipped_files(split),
        },
        created=datetime.now(timezone.utc).isoformat(timespec="seconds"),
        total_seconds=time.perf_counter() - start,
    )
