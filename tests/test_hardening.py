"""Faults and bad input end to end: each gets one line and a clear exit code, never a half-written file.

docs/inputs.md lists every input path, the bad values it can get, and the test here (or in
the other test files) that tries each.
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import numpy as np
import pytest
import torch
from PIL import Image
from typer.testing import CliRunner

from featvslearn import classical, results
from featvslearn.classical.svm import LinearSVM
from featvslearn.cli import app
from featvslearn.experiments import run
from featvslearn.learned import train
from featvslearn.measure import NvmlGpu
from featvslearn.results import SCHEMA_VERSION
from tests.conftest import write_shapes_folder

runner = CliRunner()
SMALL = ["--train-size", "200", "--test-size", "100", "--epochs", "2"]


def invoke(*args: str) -> Any:
    return runner.invoke(app, list(args))


def error_line(result: Any) -> str:
    """The single 'error:' line on stderr, after checking there is exactly one and no traceback."""
    assert "Traceback" not in result.output
    errors = [line for line in result.stderr.splitlines() if line.startswith("error:")]
    assert len(errors) == 1, result.stderr
    return errors[0]


def outputs(tmp_path: Path) -> tuple[str, str, str, str]:
    return "--report", str(tmp_path / "r.md"), "--json", str(tmp_path / "r.json")


def raise_(exc: BaseException) -> Any:
    def fail(*args: object, **kwargs: object) -> None:
        raise exc

    return fail


# --------------------------------------------------------------------------- Ctrl-C
STAGES = {
    "loading": (run, "load_split"),
    "HOG features": (classical, "featurise"),
    "SVM fit": (LinearSVM, "fit"),
    "CNN training": (train, "train_cnn"),
    "CNN evaluation": (train, "predict"),
    "writing JSON": (results, "write_json"),
}


@pytest.mark.parametrize("stage", sorted(STAGES))
def test_ctrl_c_at_every_stage_exits_130_and_writes_nothing(
    stage: str, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    owner, name = STAGES[stage]
    monkeypatch.setattr(owner, name, raise_(KeyboardInterrupt()))
    result = invoke("compare", *SMALL, *outputs(tmp_path))
    assert result.exit_code == 130
    assert "Traceback" not in result.output and "interrupted" in result.stderr
    assert list(tmp_path.iterdir()) == []


def test_ctrl_c_during_the_rename_leaves_no_temporary_file(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr("featvslearn.files.os.replace", raise_(KeyboardInterrupt()))
    result = invoke("compare", *SMALL, *outputs(tmp_path))
    assert result.exit_code == 130
    assert list(tmp_path.iterdir()) == []


# --------------------------------------------------------------------------- full disk, memory
def test_a_full_disk_is_a_clear_error_and_keeps_no_partial_file(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr("featvslearn.files.os.fsync", raise_(OSError(28, "No space left on device")))
    result = invoke("compare", *SMALL, "--json", str(tmp_path / "r.json"))
    assert result.exit_code == 2
    assert "No space left on device" in error_line(result) and "free some disk space" in error_line(result)
    assert list(tmp_path.iterdir()) == []


def test_gpu_out_of_memory_names_the_option_to_lower(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(train, "train_cnn", raise_(torch.cuda.OutOfMemoryError("CUDA out of memory")))
    result = invoke("compare", *SMALL, "--pipelines", "cnn")
    assert result.exit_code == 2
    line = error_line(result)
    assert "out of memory" in line and "--train-size" in line


def test_host_out_of_memory_names_the_option_to_lower(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(classical, "featurise", raise_(MemoryError()))
    result = invoke("compare", *SMALL, "--pipelines", "hog-svm")
    assert result.exit_code == 2
    assert "--train-size" in error_line(result)


def test_missing_nvml_means_utilisation_unavailable_not_a_crash(monkeypatch: pytest.MonkeyPatch) -> None:
    import pynvml

    monkeypatch.setattr(pynvml, "nvmlInit", raise_(pynvml.NVMLError(pynvml.NVML_ERROR_LIBRARY_NOT_FOUND)))
    gpu = NvmlGpu(torch.device("cuda", 0))
    assert not gpu.available and "NVML unavailable" in (gpu.error or "")
    assert gpu.utilisation_samples(0) == [] and gpu.process_samples(0) == []
    assert gpu.info() == {"nvml": gpu.error}


# --------------------------------------------------------------------------- environment variables
def test_a_cache_variable_naming_an_unknown_home_is_a_user_error(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("FEATVSLEARN_CACHE", "~nosuchuser_featvslearn/cache")
    monkeypatch.setattr("featvslearn.datasets.idx.SYSTEM_DIRS", {})
    result = invoke("compare", "--dataset", "mnist", "--no-download")
    assert result.exit_code == 2
    assert "FEATVSLEARN_CACHE" in error_line(result)


def test_a_cache_variable_naming_a_file_finds_nothing_and_says_where_to_put_data(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    not_a_folder = tmp_path / "cache"
    not_a_folder.write_text("a file")
    monkeypatch.setenv("FEATVSLEARN_CACHE", str(not_a_folder))
    monkeypatch.setattr("featvslearn.datasets.idx.SYSTEM_DIRS", {})
    result = invoke("compare", "--dataset", "fashion-mnist", "--no-download")
    assert result.exit_code == 2
    assert "--data-dir" in error_line(result)


# --------------------------------------------------------------------------- image folders
def test_non_image_and_corrupt_files_are_skipped_and_named(tmp_path: Path) -> None:
    root = write_shapes_folder(tmp_path / "shapes", per_class=12)
    (root / "disc" / "notes.txt").write_text("a note, not an image")
    (root / "disc" / "broken.png").write_bytes(b"\x89PNG\r\n\x1a\n" + b"\x00" * 40)
    nested = root / "bars_h" / "more"
    nested.mkdir()
    Image.fromarray(np.full((16, 16), 90, np.uint8)).save(nested / "extra.png")  # nested images count
    (root / "bars_v" / ".DS_Store").write_bytes(b"\x00\x01")  # hidden: ignored
    out = tmp_path / "r.json"
    result = invoke("compare", "--dataset", str(root), "--epochs", "2", "--json", str(out))
    assert result.exit_code == 0, result.output
    warning = " ".join(result.stderr.split())
    assert "skipped 2 unreadable file(s)" in warning
    assert "disc/broken.png" in warning and "disc/notes.txt" in warning and ".DS_Store" not in warning
    data = json.loads(out.read_text())
    assert data["dataset"]["train_size"] + data["dataset"]["test_size"] == 37
    assert sorted(data["settings"]["skipped_files"]) == ["disc/broken.png", "disc/notes.txt"]


@pytest.mark.parametrize(
    ("layout", "fragment"),
    [
        ({"only": 4}, "at least 2 classes (found only 'only')"),
        ({"a": 4, "b": 0}, "has no readable images; add images to it or remove the folder"),
        ({}, "at least 2 classes (found none)"),
    ],
    ids=["one-class", "empty-class", "no-classes"],
)
def test_bad_folder_layouts_are_refused(layout: dict[str, int], fragment: str, tmp_path: Path) -> None:
    root = tmp_path / "folder"
    root.mkdir()
    for name, count in layout.items():
        (root / name).mkdir()
        for i in range(count):
            Image.fromarray(np.full((8, 8), i * 20, np.uint8)).save(root / name / f"{i}.png")
    result = invoke("compare", "--dataset", str(root))
    assert result.exit_code == 2
    assert fragment in error_line(result)


# --------------------------------------------------------------------------- report JSON
def _saved_results(tmp_path: Path) -> dict:
    path = tmp_path / "r.json"
    assert invoke("compare", *SMALL, "--pipelines", "hog-svm", "--json", str(path)).exit_code == 0
    return json.loads(path.read_text())


@pytest.mark.parametrize(
    ("mutate", "fragment"),
    [
        (lambda d: {**d, "schema_version": 0}, "schema version"),
        (lambda d: {**d, "schema_version": SCHEMA_VERSION + 1}, "schema version"),
        (lambda d: {k: v for k, v in d.items() if k != "schema_version"}, "schema version"),
        (lambda d: {**d, "kind": "scaling"}, "kind"),
        (lambda d: {k: v for k, v in d.items() if k != "pipelines"}, "incomplete"),
        (lambda d: {**d, "pipelines": [{"name": "x"}]}, "incomplete"),
        (lambda d: [d], "not a featvslearn results object"),
    ],
    ids=["older", "newer", "no-version", "other-kind", "no-pipelines", "bad-pipeline", "a-list"],
)
def test_report_refuses_results_it_cannot_read(mutate: Any, fragment: str, tmp_path: Path) -> None:
    bad = tmp_path / "bad.json"
    bad.write_text(json.dumps(mutate(_saved_results(tmp_path))))
    result = invoke("report", str(bad), "--out", str(tmp_path / "out.md"))
    assert result.exit_code == 2
    assert fragment in error_line(result)
    assert not (tmp_path / "out.md").exists()


PASS_RESULTS = "pass the results JSON that compare, scaling or ablate wrote with --json"


def test_report_on_the_markdown_report_names_the_json_beside_it(tmp_path: Path) -> None:
    report, results = tmp_path / "r.md", tmp_path / "r.json"
    report.write_text("# hog-svm vs cnn on digits\n\n## Result\n")
    results.write_text("{}")
    line = error_line(invoke("report", str(report)))
    assert line == f"error: {report} is the Markdown report; pass the results JSON written with --json ({results})"
    assert report.read_text().startswith("# hog-svm vs cnn")  # left as it was
    results.unlink()
    line = error_line(invoke("report", str(report)))
    assert line == f"error: {report} is the Markdown report; pass the results JSON written with --json"


@pytest.mark.parametrize(
    ("content", "fragment"),
    [('{"a": 1}', "is JSON but not featvslearn results"), ("[1, 2]", "its top level is a list"),
     ('"text"', "its top level is a string"), ("3", "its top level is a number"), ("null", "top level is null")],
    ids=["other-object", "list", "string", "number", "null"],
)
def test_report_on_other_json_says_what_to_pass(content: str, fragment: str, tmp_path: Path) -> None:
    other = tmp_path / "other.json"
    other.write_text(content)
    result = invoke("report", str(other))
    assert result.exit_code == 2
    line = error_line(result)
    assert fragment in line and line.endswith(PASS_RESULTS)


def test_report_on_a_missing_file_or_a_folder(tmp_path: Path) -> None:
    line = error_line(invoke("report", str(tmp_path / "missing.json")))
    assert "missing.json does not exist" in line and PASS_RESULTS in line
    (tmp_path / "r.json").write_text("{}")
    line = error_line(invoke("report", str(tmp_path / "r")))
    assert f"does not exist (did you mean {tmp_path / 'r.json'}?)" in line
    folder = tmp_path / "runs"
    folder.mkdir()
    line = error_line(invoke("report", str(folder)))
    assert f"{folder} is a folder, not a results JSON; {PASS_RESULTS}" in line and "such as" not in line
    (folder / "a.json").write_text("{}")
    assert f"such as {folder / 'a.json'}" in error_line(invoke("report", str(folder)))


def test_report_names_a_bad_input_before_checking_where_to_write(tmp_path: Path) -> None:
    (tmp_path / "missing.md").mkdir()  # where the report would go: a folder
    line = error_line(invoke("report", str(tmp_path / "missing.json")))
    assert "does not exist" in line and "--out" not in line


def test_report_refuses_binary_garbage(tmp_path: Path) -> None:
    bad = tmp_path / "bad.json"
    bad.write_bytes(b"\xff\xfe\x00garbage")
    result = invoke("report", str(bad))
    assert result.exit_code == 2
    assert "bad.json" in error_line(result)


# --------------------------------------------------------------------------- determinism
def test_two_cli_runs_with_the_same_seed_agree(tmp_path: Path) -> None:
    runs = []
    for name in ("a.json", "b.json"):
        assert invoke("compare", *SMALL, "--seed", "7", "--json", str(tmp_path / name)).exit_code == 0
        runs.append(json.loads((tmp_path / name).read_text()))
    for key in ("accuracy", "confusion_matrix"):
        assert [p[key] for p in runs[0]["pipelines"]] == [p[key] for p in runs[1]["pipelines"]]
    assert runs[0]["seed"] == runs[1]["seed"] == 7
