"""The command line through Typer's CliRunner: tables, files, error lines and exit codes."""

from __future__ import annotations

import dataclasses
import json
import os
import re
from pathlib import Path
from typing import Any

import pytest
import torch
from typer.testing import CliRunner

from featvslearn import __version__
from featvslearn.cli import app
from featvslearn.experiments import run
from featvslearn.experiments.config import CompareConfig
from featvslearn.pipelines import PIPELINES
from tests.conftest import needs_fashion
from tests.dataset_files import assert_user_error
from tests.hand_made import without_pictures

runner = CliRunner()

PIPELINE_KEYS = {
    "name", "accuracy", "train_seconds", "predict_seconds", "images_per_second", "gpu_util_percent_mean",
    "gpu_util_percent_max", "peak_gpu_memory_bytes", "cpu_util_percent_mean", "peak_rss_bytes", "stages",
}
SMALL = ["--train-size", "300", "--test-size", "120", "--epochs", "3"]


def invoke(*args: str):
    return runner.invoke(app, list(args))


def test_no_command_shows_the_help_and_no_error() -> None:
    for args in ([], ["-h"]):
        result = runner.invoke(app, args)
        assert result.exit_code == 0, result.output
        assert "Commands" in result.stdout and "compare" in result.stdout
        assert "error" not in result.output


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
    assert any(reading in text for reading in (" beat** ", "No significant difference between", "equally accurate"))
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
    # the pictures of "What each side sees" come from the run's images and network, which no results file holds
    assert "are drawn by the run itself" in again.read_text()
    assert without_pictures(again.read_text()) == without_pictures(first.read_text())
    assert sorted(p.name for p in (again.parent / "first-plots").iterdir()) == sorted(
        p.name for p in (tmp_path / "first-plots").iterdir() if not p.name.startswith("sees-"))
    other = tmp_path / "other.md"  # another name: only the plots folder in the links differs
    assert invoke("report", str(results), "--out", str(other)).exit_code == 0
    assert without_pictures(other.read_text().replace("other-plots/", "first-plots/")) == without_pictures(
        first.read_text())


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


# --------------------------------------------------------------------------- each mistake its own message
@pytest.mark.parametrize("alias", ["DIGITS", "Digits", " digits "])
def test_spellings_of_a_dataset_name_load_that_dataset(alias: str, monkeypatch: pytest.MonkeyPatch) -> None:
    loaded = []

    def record(name: str, **kwargs: object) -> None:
        loaded.append(name)
        raise KeyboardInterrupt  # stop before any training

    monkeypatch.setattr(run, "load_split", record)
    assert invoke("compare", "--dataset", alias).exit_code == 130
    assert loaded == ["digits"]


@pytest.mark.parametrize(
    ("alias", "name"),
    [("cifar-10", "cifar10"), ("CIFAR-10", "cifar10"), ("fashion_mnist", "fashion-mnist"),
     ("fashionmnist", "fashion-mnist"), ("FashionMNIST", "fashion-mnist"), ("MNIST", "mnist")],
)
def test_aliases_resolve_to_the_canonical_names(alias: str, name: str) -> None:
    assert CompareConfig(dataset=alias).validated().dataset == name


@pytest.mark.usefixtures("isolated_cache")
def test_an_alias_without_the_files_names_the_canonical_dataset(tmp_path: Path) -> None:
    result = invoke("compare", "--dataset", "CIFAR-10", "--no-download", "--data-dir", str(tmp_path))
    assert_user_error(result, "cifar-10-batches-py", "--data-dir")


def test_a_missing_folder_is_not_an_unknown_dataset(tmp_path: Path) -> None:
    missing = tmp_path / "photos"
    assert_user_error(invoke("compare", "--dataset", str(missing)),
                      f"--dataset: no folder {str(missing)!r}", "check the path", "digits, fashion-mnist")


def test_a_relative_missing_folder_says_where_it_was_looked_for(tmp_path: Path,
                                                                monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.chdir(tmp_path)
    assert_user_error(invoke("compare", "--dataset", "./photos"),
                      f"no folder './photos' (relative to {str(tmp_path)!r})")


def test_a_file_as_dataset_is_named_as_a_file(tmp_path: Path) -> None:
    image = tmp_path / "cat.png"
    image.write_bytes(b"not really an image")
    assert_user_error(invoke("compare", "--dataset", str(image)),
                      "is a file, not a folder", "pass a folder with one sub-folder of images per class")


def test_an_unreadable_folder_is_named_with_the_permission_fix(tmp_path: Path,
                                                               monkeypatch: pytest.MonkeyPatch) -> None:
    folder = tmp_path / "locked"
    folder.mkdir()
    real = os.scandir

    def scandir(path: object = ".") -> object:
        if Path(str(path)) == folder:
            raise PermissionError(13, "Permission denied", str(path))
        return real(path)  # type: ignore[arg-type]

    monkeypatch.setattr(os, "scandir", scandir)  # as chmod 000 would, even for root
    assert_user_error(invoke("compare", "--dataset", str(folder)),
                      "cannot be read (permission denied)", "chmod -R u+rX")


def test_a_folder_without_read_permission_is_refused(tmp_path: Path) -> None:
    folder = tmp_path / "locked"
    folder.mkdir()
    folder.chmod(0o000)
    try:
        if os.access(folder, os.R_OK):
            pytest.skip("this user (root) can read folders without read permission")
        assert_user_error(invoke("compare", "--dataset", str(folder)), "cannot be read (permission denied)")
    finally:
        folder.chmod(0o700)


def test_an_unknown_name_that_is_a_folder_here_is_the_folder(shapes_folder: Path,
                                                             monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.chdir(shapes_folder.parent)
    assert CompareConfig(dataset="shapes").validated().dataset == "shapes"
    (shapes_folder.parent / "mnist").mkdir()
    assert CompareConfig(dataset="mnist").validated().dataset == "mnist"  # a built-in name wins
    assert CompareConfig(dataset="./mnist").validated().dataset == "./mnist"  # and a path stays a path
    loaded = []

    def record(path: Path, *args: object, **kwargs: object) -> None:
        loaded.append(path)
        raise KeyboardInterrupt  # stop before any training

    monkeypatch.setattr("featvslearn.datasets.catalog.load_folder", record)
    assert invoke("compare", "--dataset", "shapes").exit_code == 130
    assert invoke("compare", "--dataset", "./mnist").exit_code == 130
    assert loaded == [Path("shapes"), Path("mnist")]


@pytest.mark.parametrize(
    ("command", "args", "fragments"),
    [
        ("compare", ["--dataset", "digts"], ["--dataset 'digts': unknown dataset (did you mean digits?)"]),
        ("compare", ["--dataset", "fashion"], ["(did you mean fashion-mnist?)"]),
        ("compare", ["--pipelines", "hog,cnn"], ["--pipelines: unknown pipeline 'hog' (did you mean hog-svm?)"]),
        ("compare", ["--pipelines", "HOG-SVM,Cnn", "--precision", "fp8"], ["error: --precision 'fp8' is not known"]),
        ("compare", ["--pipelines", "hog_svm"], ["unknown pipeline 'hog_svm' (did you mean hog-svm?)"]),
        ("compare", ["--precision", "bfloat16"], ["--precision 'bfloat16' is not known (did you mean bf16?)"]),
        ("compare", ["--svm", "rbff"], ["(did you mean rbf"]),
        ("compare", ["--preset", "bset"], ["(did you mean best?)"]),
        ("scaling", ["--pipelines", "sift,cnn"], ["unknown pipeline 'sift' (did you mean sift-fv or sift-svm?)"]),
        ("ablate", ["--variants", "relu-bm"], ["--variants: unknown variant 'relu-bm' (did you mean relu-bn"]),
    ],
    ids=["dataset", "dataset-prefix", "pipeline", "pipeline-case-ok", "pipeline-underscore", "precision", "svm",
         "preset", "scaling-pipeline", "variant"],
)
def test_near_misses_get_a_suggestion(command: str, args: list[str], fragments: list[str]) -> None:
    assert_user_error(invoke(command, *args), *fragments)


def test_every_bad_option_is_named_in_one_line(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    calls = []
    monkeypatch.setattr(run, "load_split", lambda *a, **k: calls.append(1))
    result = invoke("compare", "--pipelines", "hog,cnn", "--precision", "fp8", "--seed", "-1",
                    "--dataset", str(tmp_path / "missing"), "--json", str(tmp_path / "r.txt"))
    assert_user_error(result, "--pipelines: unknown pipeline 'hog'", "--precision 'fp8'", "--seed must be",
                      "--dataset: no folder", "--json")
    assert "hog-svm, sift-svm, sift-fv, cnn, learned-svm (comma separated); --" in result.stderr  # joined by "; "
    assert calls == []  # refused before any loading
    assert_user_error(invoke("ablate", "--variants", "relu-bm", "--epochs", "0"), "--variants:", "--epochs must be")
    assert_user_error(invoke("scaling", "--sizes", "0", "--seeds", "0"), "--sizes: 0", "--seeds must be")


@pytest.mark.parametrize(
    ("make", "fragments"),
    [
        (lambda tmp: tmp / "missing", ["no such folder; create it (mkdir -p"]),
        (lambda tmp: (tmp / "data.txt", (tmp / "data.txt").write_text("x"))[0], ["is a file, not a folder"]),
    ],
    ids=["missing", "file"],
)
def test_datasets_and_compare_refuse_the_same_bad_data_dir(make: Any, fragments: list[str], tmp_path: Path) -> None:
    data_dir = str(make(tmp_path))
    listed, compared = invoke("datasets", "--data-dir", data_dir), invoke("compare", "--data-dir", data_dir)
    assert_user_error(listed, "--data-dir", *fragments)
    assert_user_error(compared, "--data-dir", *fragments)
    assert listed.stderr == compared.stderr


def test_datasets_with_a_good_data_dir_lists_every_dataset(tmp_path: Path) -> None:
    result = invoke("datasets", "--data-dir", str(tmp_path))
    assert result.exit_code == 0, result.output
    assert "cifar10" in result.stdout


def test_datasets_gives_each_download_address_size_and_place(monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> None:
    from rich.console import Console

    monkeypatch.setenv("FEATVSLEARN_CACHE", str(tmp_path / "cache"))
    monkeypatch.setattr("featvslearn.cli.out", Console(width=80))
    result = invoke("datasets", "--data-dir", str(tmp_path))
    assert result.exit_code == 0, result.output
    text = result.stdout
    assert max(len(line.rstrip()) for line in text.splitlines()) <= 80 and "…" not in text
    for fragment in ("29.4 MiB", "11.1 MiB", "162.6 MiB", "ships with scikit-learn", "DATA_DIR=DIR",
                     "http://fashion-mnist.s3-website.eu-central-1.amazonaws.com/", "train-images-idx3-ubyte.gz",
                     "https://ossci-datasets.s3.amazonaws.com/mnist/", "https://www.cs.toronto.edu/~kriz/",
                     "cifar-10-python.tar.gz", "https://www.cs.toronto.edu/~kriz/cifar.html"):
        assert fragment in text, fragment
    folded = "".join(line.strip() for line in text.splitlines())  # a long path folds onto the next line
    assert f"put in: {tmp_path}" in folded and f"{tmp_path / 'cache'}/fashion-mnist" in folded
