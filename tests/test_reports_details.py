"""What a report shows of each pipeline's settings, and of CPU use: only settings that apply, never a zero
or an empty value standing for "not used", and CPU on one scale (a share of the whole machine) everywhere."""

from __future__ import annotations

import io
import re
from typing import Any

import pytest
from rich.console import Console

from featvslearn.classical.svm_settings import svm_settings_for
from featvslearn.cli.tables import results_table
from featvslearn.learned.models import cnn_config_for, lenet_config
from featvslearn.learned.train import train_settings_for
from featvslearn.pipelines.budget import Choice
from featvslearn.reports import compare, scaling
from featvslearn.reports.details import detail_lines
from featvslearn.reports.shared import CPU_HEADER, stages_table
from featvslearn.results import StageResult
from tests.hand_made import compare_results, scaling_results

PLACEHOLDER = re.compile(r"^(0|0\.0+|0, 0|–|-|none|None|\[\]|\{\})$")
"""A value that only says nothing is set."""
OVER_100 = re.compile(r"\b(10[1-9]|1[1-9]\d|[2-9]\d\d|\d{4,})\s?%")
"""A percentage over 100."""


def _budget(**fields: Any) -> dict[str, Any]:
    return Choice(budget_seconds=30.0, budget_source="default for 1,347 training images of 8×8×1 on cpu",
                  chosen="linear", reason="the only SVM for 1,347 training images", **fields).as_dict()


def _svm_details(kind: str, **budget: Any) -> dict[str, Any]:
    """An SVM pipeline's details as the pipelines record them (the real settings records)."""
    return {"feature_dimensions": 424, "svm": "an SVM", "svm_settings": svm_settings_for(kind, 1347).as_dict(),
            "svm_precision": "bf16", "budget": _budget(**budget)}


def _cnn_details(hflip: bool, preset: str = "standard") -> dict[str, Any]:
    """The cnn's details as its pipeline records them (the real settings records)."""
    training = train_settings_for(1347, 8, "cpu", hflip_ok=hflip, seed=0, preset=preset)
    return {"preset": preset, "architecture": cnn_config_for((8, 8, 1), 10, "cpu").as_dict(), "parameters": 56_266,
            "whitened_first_layer_filters": 18, "training": training.as_dict(), "precision": "fp32",
            "budget": _budget(estimates={"40 epochs": 14.75}, probe_seconds=0.32),
            "loss_per_epoch": [2.2, 0.5], "seconds_per_epoch": [1.0, 1.0], "test_time_augmentation": training.tta}


def _pairs(lines: list[str]) -> list[tuple[str, str, str]]:
    """Every ``name value`` pair of rendered ``- heading: name value; name value`` lines."""
    pairs = []
    for line in lines:
        heading, _, text = line.removeprefix("- ").partition(": ")
        for part in text.split("; "):
            name, _, value = part.rpartition(" ")
            pairs.append((heading, name, value))
    return pairs


def _pipelines_section(text: str) -> list[str]:
    return [line for line in text.split("## Pipelines", 1)[1].split("## Environment", 1)[0].splitlines()
            if line.startswith("- ")]


def test_a_linear_svm_shows_no_gamma_or_landmarks_and_a_kernel_svm_shows_what_it_uses() -> None:
    linear = "\n".join(detail_lines(_svm_details("linear")))
    assert "- svm settings: kind linear; C 0.3; max iterations 150" in linear
    assert "gamma" not in linear and "landmarks" not in linear and "n components" not in linear
    rbf = "\n".join(detail_lines(_svm_details("rbf-6000")))
    assert "- svm settings: kind rbf; C 1; gamma scale 1; landmarks 6,000; max iterations 300" in rbf
    exact = "\n".join(detail_lines(_svm_details("rbf-exact")))
    assert "- svm settings: kind rbf-exact; C 10; gamma scale 1\n" in exact + "\n" and "landmarks" not in exact


def test_a_budget_without_estimates_or_probes_shows_neither() -> None:
    linear = "\n".join(detail_lines(_svm_details("linear")))
    assert "- budget: 30 s (default for 1,347 training images of 8×8×1 on cpu); chose linear\n" in linear + "\n"
    assert "estimate" not in linear and "probe" not in linear
    probed = "\n".join(detail_lines(_svm_details("linear", estimates={"rbf-6000": 115.4, "linear": 16.9},
                                                 probe_seconds=17.8)))
    assert "chose linear; estimated: rbf-6000 115 s, linear 17 s; probes took 18 s" in probed


def test_a_network_without_dense_layers_shows_no_image_size_hidden_layers_or_dropout() -> None:
    text = "\n".join(detail_lines(_cnn_details(hflip=False)))
    architecture = next(line for line in text.splitlines() if line.startswith("- architecture: "))
    assert "image size" not in architecture and "hidden" not in architecture and "dropout" not in architecture
    assert "widths 32, 64" in architecture and "batch norm yes" in architecture
    lenet = "\n".join(detail_lines({"architecture": lenet_config((28, 28, 1), 10).as_dict()}))
    assert "hidden 120, 84" in lenet and "image size 28×28" in lenet


def test_test_time_augmentation_is_named_in_words_and_left_out_when_it_adds_nothing() -> None:
    # standard preset: mirrored copies, which add nothing where flips would change the class
    no_flips = "\n".join(detail_lines(_cnn_details(hflip=False), seed=0))
    assert "tta" not in no_flips and "test-time augmentation" not in no_flips
    flips = "\n".join(detail_lines(_cnn_details(hflip=True), seed=0))
    assert "- test-time augmentation: the image and its mirror image, predictions averaged" in flips
    assert "tta" not in flips
    quick = "\n".join(detail_lines(_cnn_details(hflip=True, preset="quick"), seed=0))
    assert "tta" not in quick and "test-time augmentation" not in quick


def test_the_training_line_repeats_neither_the_seed_nor_the_pipelines_own_lines() -> None:
    lines = detail_lines(_cnn_details(hflip=True), seed=0)
    training = next(line for line in lines if line.startswith("- training: "))
    assert "seed" not in training and "preset" not in training and "precision" not in training
    assert "- preset: standard" in lines and "- precision: fp32" in lines
    assert "seed 0" in "\n".join(detail_lines(_cnn_details(hflip=True), seed=7))  # trained with another seed


def test_no_rendered_setting_of_a_compare_report_is_a_zero_placeholder() -> None:
    results = compare_results(("cpu",))
    hog, cnn = results.pipelines
    hog.details = {**_svm_details("linear"), "svm_tuning": [
        {**svm_settings_for("linear", 1347).as_dict(), "C": c, "validation_accuracy": 0.9} for c in (0.075, 0.3)]}
    cnn.details = _cnn_details(hflip=False)
    lines = _pipelines_section(compare.markdown(results))
    hog_lines = [line for line in lines if "svm" in line]
    assert hog_lines and all("gamma" not in line and "landmarks" not in line for line in hog_lines)
    assert "- svm tuning: C 0.075: 0.9000; C 0.3: 0.9000" in lines
    for heading, name, value in _pairs(lines):
        assert not PLACEHOLDER.match(value), f"{heading}: {name} {value}"
    text = "\n".join(lines)
    for leak in ("image size 0", "n components", "tta", "estimates –", "probe seconds 0", "hidden –"):
        assert leak not in text


def test_the_scaling_settings_name_only_the_options_that_were_set() -> None:
    results = scaling_results()
    results.settings.update(preset="standard", svm=None, precision="auto", cnn_precision="bf16",
                            device_option=results.device)
    section = scaling.markdown(results).split("## Settings", 1)[1].split("## Environment", 1)[0]
    assert "- CNN preset: standard" in section and "- precision: auto (the CNN's: bf16)" in section
    assert "- svm:" not in section and "device" not in section and "–" not in section
    results.settings.update(device_option="auto", svm="rbf")
    section = scaling.markdown(results).split("## Settings", 1)[1]
    assert "- svm: rbf" in section and "- device asked for: auto" in section


# --------------------------------------------------------------------------- CPU on one scale
def _stage(name: str, seconds: float, cpu: float | None) -> StageResult:
    return StageResult(name=name, device="cpu", seconds=seconds, cpu_util_percent_mean=cpu, peak_rss_bytes=2**30)


def test_stage_rows_show_cpu_as_a_share_of_the_machine_never_over_100() -> None:
    lines = stages_table("pipeline", [("cnn", [_stage("to device", 0.004, 196.0), _stage("evaluate", 0.25, 101.9),
                                                _stage("train", 48.3, 41.2)])])
    text = "\n".join(lines)
    assert f"| pipeline | stage | device | seconds | {CPU_HEADER} | peak RSS |" in text
    assert "| cnn | to device | cpu | 0.00 | – | 1.00 GiB |" in text  # too short for the CPU counters
    assert "| cnn | evaluate | cpu | 0.25 | 100% | 1.00 GiB |" in text
    assert "| cnn | train | cpu | 48.3 | 41% | 1.00 GiB |" in text
    assert not OVER_100.search(text)
    assert "100 % means every core busy" in text and "shorter than 0.1 s shows –" in text


@pytest.mark.parametrize("width", [200, 80])
def test_every_cpu_column_says_its_unit_in_the_report_and_the_terminal(width: int) -> None:
    results = compare_results(("cpu",))
    results.pipelines[0].cpu_util_percent_mean = 196.0
    results.pipelines[0].stages = [_stage("svm fit", 2.0, 150.0)]
    text = compare.markdown(results)
    assert f"| {CPU_HEADER} |" in text.split("## Side by side", 1)[1].split("## Stages", 1)[0]
    assert f"| {CPU_HEADER} |" in text.split("## Stages", 1)[1]
    assert not OVER_100.search(text)
    console = Console(width=width, record=True, file=io.StringIO())
    console.print(results_table(results))
    shown = console.export_text()
    assert "machine" in shown and "100%" in shown and not OVER_100.search(shown)
