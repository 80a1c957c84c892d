"""The command line through Typer's CliRunner: tables, files, error lines and exit codes."""

from __future__ import annotations

import dataclasses
import json
import os
import re
from pathlib import Path

import pytest
import torch
from typer.testing import CliRunner

from featvslearn import __version__, run
from featvslearn.cli import app
from featvslearn.pipelines import PIPELINES
from tests.conftest import needs_fashion

runner = CliRunner()

PIPELINE_KEYS = {
    "name", "accuracy", "train_seconds", "predict_seconds", "images_per_second", "gpu_util_percent_mean",
    "gpu_util_percent_max", "peak_gpu_memory_bytes", "cpu_util_percent_mean", "peak_rss_bytes", "stages",
}
SMALL = ["--train-size", "300", "--test-size", "120", "--epochs", "3"]


def invoke(*args: str):
    return runner.invoke(app, list(args))


def assert_user_error(result, *fragments: str) -> None:
    """Exit code 2, one error line on stderr (after any progress bars) naming the problem, no traceback."""
    assert result.exit_code == 2, result.output
    assert "Traceback" not in result.output
    lines = [line for line in result.stderr.splitlines() if line.strip()]
    errors = [line for line in lines if line.startswith("error:")]
    assert len(errors) == 1 and lines[-1] == errors[0], result.stderr
    for fragment in fragments:
        assert fragment in errors[0]


def test_version() -> None:
    result = invoke("--version")
    assert result.exit_code == 0
    assert __version__ in result.stdout


def test_compare_on_digits_writes_table_report_and_json(tmp_path: Path) -> None:
    report, results = tmp_path / "out.md", tmp_path / "out.json"
    result = invoke("compare", *SMALL, "--device", "cpu", "--report", str(report), "--json", str(results))
    assert result.exit_code == 0, result.output
    assert "hog-svm" in result.stdout and "cnn" in result.stdout and "accuracy" in result.stdout
    data = json.loads(results.read_text())
    assert data["dataset"]["name"] == "digits"
    assert data["dataset"]["train_size"] == 300 and data["dataset"]["test_size"] == 120
    assert data["dataset"]["image_shape"] == [8, 8, 1] and data["dataset"]["num_classes"] == 10
    assert {"name", "train_size", "test_size", "image_shape", "num_classes", "source"} <= set(data["dataset"])
    assert data["device"] == "cpu" and data["seed"] == 0
    assert {"python", "torch", "scikit-learn", "scikit-image", "cpu", "gpu", "gpu_driver", "cuda_version"} <= set(
        data["environment"])
    assert [p["name"] for p in data["pipelines"]] == ["hog-svm", "cnn"]
    for pipeline in data["pipelines"]:
        assert set(pipeline) >= PIPELINE_KEYS
        assert 0.5 < pipeline["accuracy"] <= 1.0
        assert pipeline["gpu_util_percent_mean"] is None and pipeline["peak_gpu_memory_bytes"] is None
        assert pipeline["peak_rss_bytes"] > 0
        for stage in pipeline["stages"]:
            assert {"name", "device", "seconds"} <= set(stage)
            assert stage["device"] == "cpu" and stage["seconds"] >= 0
    text = report.read_text()
    assert text.startswith("# hog-svm vs cnn on digits")
    for section in ("## Result", "## Side by side", "## Stages", "## Environment"):
        assert section in text
    assert " beat** " in text or "No significant difference between" in text
    links = re.findall(r"!\[[^\]]*\]\(([^)]+)\)", text)
    assert "out-plots/timeline.png" in links and "out-plots/confusion-cnn.png" in links
    assert all((tmp_path / link).is_file() for link in links)
    assert not list(tmp_path.glob(".*.tmp")) and not list(tmp_path.glob("out-plots/.*.tmp"))


def test_report_command_rerenders_the_same_markdown(tmp_path: Path) -> None:
    first, results = tmp_path / "first.md", tmp_path / "r.json"
    assert invoke("compare", *SMALL, "--pipelines", "hog-svm", "--report", str(first), "--json",
                  str(results)).exit_code == 0
    again = tmp_path / "again" / "first.md"  # same name, so the same plots folder name in the links
    again.parent.mkdir()
    result = invoke("report", str(results), "--out", str(again))
    assert result.exit_code == 0, result.output
    assert again.read_text() == first.read_text()
    assert sorted(p.name for p in (again.parent / "first-plots").iterdir()) == sorted(
        p.name for p in (tmp_path / "first-plots").iterdir())
    other = tmp_path / "other.md"  # another name: only the plots folder in the links differs
    assert invoke("report", str(results), "--out", str(other)).exit_code == 0
    assert other.read_text().replace("other-plots/", "first-plots/") == first.read_text()


def test_report_refuses_a_file_that_is_not_results(tmp_path: Path) -> None:
    bad = tmp_path / "bad.json"
    bad.write_text("{not json")
    assert_user_error(invoke("report", str(bad)), "bad.json")
    other = tmp_path / "future.json"
    other.write_text(json.dumps({"schema_version": 99, "kind": "compare"}))
    assert_user_error(invoke("report", str(other)), "schema version")
    assert_user_error(invoke("report", str(tmp_path / "missing.json")), "does not exist")


@pytest.mark.parametrize(
    ("args", "fragment"),
    [
        (["--dataset", "imagenet"], "unknown dataset"),
        (["--pipelines", "hog-svm,resnet"], "unknown pipeline 'resnet'"),
        (["--pipelines", ","], "--pipelines is empty"),
        (["--train-size", "0"], "--train-size"),
        (["--test-size", "-5"], "--test-size"),
        (["--train-size", "100000"], "larger than"),
        (["--epochs", "0"], "--epochs"),
        (["--seed", "-1"], "--seed"),
        (["--device", "tpu"], "--device"),
        (["--precision", "fp8"], "--precision"),
        (["--preset", "fastest"], "--preset"),
        (["--report", "/nonexistent-folder/out.md"], "does not exist"),
        (["--json", "results.txt"], ".json"),
        (["--data-dir", "/nonexistent-folder"], "--data-dir"),
    ],
    ids=["dataset", "pipeline", "no-pipelines", "train-size-0", "test-size-negative", "train-size-too-large",
         "epochs-0", "seed-negative", "device", "precision", "preset", "report-folder-missing", "json-suffix",
         "data-dir-missing"],
)
def test_user_mistakes_get_one_line_and_exit_code_2(args: list[str], fragment: str) -> None:
    assert_user_error(invoke("compare", *args), fragment)


@pytest.mark.skipif(torch.cuda.is_available(), reason="this machine has CUDA")
def test_cuda_without_cuda_is_a_user_error() -> None:
    assert_user_error(invoke("compare", "--device", "cuda"), "CUDA is not available", "--device cpu")


def test_unwritable_output_folder_is_refused_before_training(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    calls = []
    monkeypatch.setattr(run, "load_split", lambda *a, **k: calls.append(1))
    locked = tmp_path / "locked"
    locked.mkdir()
    locked.chmod(0o500)
    try:
        if os.access(locked, os.W_OK):
            pytest.skip("this user (root) can write to read-only folders")
        result = invoke("compare", "--json", str(locked / "r.json"))
        assert_user_error(result, "not writable")
        assert calls == []
    finally:
        locked.chmod(0o700)


def test_ctrl_c_exits_130_and_leaves_no_file(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    def interrupted(*args: object, **kwargs: object) -> None:
        raise KeyboardInterrupt

    monkeypatch.setitem(PIPELINES, "hog-svm", dataclasses.replace(PIPELINES["hog-svm"], run=interrupted))
    report, results = tmp_path / "r.md", tmp_path / "r.json"
    result = invoke("compare", *SMALL, "--report", str(report), "--json", str(results))
    assert result.exit_code == 130
    assert "Traceback" not in result.output
    assert list(tmp_path.iterdir()) == []


def test_datasets_lists_every_dataset() -> None:
    result = invoke("datasets")
    assert result.exit_code == 0, result.output
    for name in ("digits", "fashion-mnist", "mnist", "cifar10"):
        assert name in result.stdout


@pytest.mark.parametrize("fixture", ["shapes_folder", "shapes_split_folder"])
def test_image_folder_with_and_without_split(fixture: str, request: pytest.FixtureRequest, tmp_path: Path) -> None:
    folder = request.getfixturevalue(fixture)
    out = tmp_path / "folder.json"
    result = invoke("compare", "--dataset", str(folder), "--epochs", "15", "--json", str(out))
    assert result.exit_code == 0, result.output
    data = json.loads(out.read_text())
    assert data["dataset"]["num_classes"] == 3
    assert data["dataset"]["image_shape"] == [16, 16, 1]
    assert data["dataset"]["train_size"] + data["dataset"]["test_size"] == 72
    for pipeline in data["pipelines"]:
        assert pipeline["accuracy"] >= 0.8, pipeline["name"]


def test_python_dash_m_entry_point() -> None:
    import subprocess
    import sys

    result = subprocess.run([sys.executable, "-m", "featvslearn", "--version"], capture_output=True, text=True,
                            check=False)
    assert result.returncode == 0 and __version__ in result.stdout


@needs_fashion
def test_compare_on_real_fashion_mnist_subset(tmp_path: Path) -> None:
    out = tmp_path / "fashion.json"
    result = invoke("compare", "--dataset", "fashion-mnist", "--no-download", "--device", "cpu", "--train-size",
                    "3000", "--test-size", "1000", "--epochs", "6", "--json", str(out))
    assert result.exit_code == 0, result.output
    data = json.loads(out.read_text())
    assert data["dataset"]["image_shape"] == [28, 28, 1]
    assert "fashion-mnist" in data["dataset"]["source"]
    accuracies = {p["name"]: p["accuracy"] for p in data["pipelines"]}
    assert accuracies["hog-svm"] > 0.75 and accuracies["cnn"] > 0.70
