"""The SVM choices of the classical side: linear, Nystroem RBF, exact RBF, and tuning on a validation split."""

from __future__ import annotations

import dataclasses
import json
from pathlib import Path

import numpy as np
import pytest
from sklearn.datasets import make_circles
from sklearn.svm import SVC
from typer.testing import CliRunner

from featvslearn import classical
from featvslearn.classical import svm_settings
from featvslearn.classical.svm import LinearSVM
from featvslearn.cli import app
from featvslearn.errors import UserError
from featvslearn.experiments.compare import run_comparison
from featvslearn.experiments.config import CompareConfig

SMALL = CompareConfig(dataset="digits", device="cpu", train_size=400, test_size=150, epochs=2, seed=2,
                      pipelines=("hog-svm",))


def circles() -> tuple[np.ndarray, np.ndarray]:
    x, y = make_circles(n_samples=600, noise=0.05, factor=0.4, random_state=0)
    return (x - x.mean(0)) / x.std(0), y


@pytest.mark.parametrize("kind", ["rbf", "rbf-exact"])
def test_rbf_kinds_separate_what_a_linear_svm_cannot(kind: str) -> None:
    x, y = circles()
    linear = classical.make_classifier(classical.svm_settings_for("linear", 600), 2)
    rbf = classical.make_classifier(dataclasses.replace(classical.svm_settings_for(kind, 600), C=10.0), 2)
    assert np.mean(classical.fit_classifier(linear, x, y).predict(x) == y) < 0.75
    assert np.mean(np.asarray(classical.fit_classifier(rbf, x, y).predict(x)) == y) > 0.95


def test_each_kind_builds_its_classifier() -> None:
    assert isinstance(classical.make_classifier(classical.svm_settings_for("linear", 100), 5), LinearSVM)
    assert isinstance(classical.make_classifier(classical.svm_settings_for("rbf-exact", 100), 5), SVC)
    rbf = classical.make_classifier(classical.svm_settings_for("rbf", 100_000), 5)
    assert rbf.named_steps["kernel"].n_components == 4000
    small = classical.make_classifier(classical.svm_settings_for("rbf", 3_000), 5)
    assert small.named_steps["kernel"].n_components == 200
    assert classical.classifier_device(classical.svm_settings_for("rbf-exact", 10), "cuda") == "cpu"
    with pytest.raises(ValueError, match="unknown SVM"):
        classical.svm_settings_for("poly", 10)


def test_tuning_searches_the_grid_on_a_validation_split_of_the_training_set() -> None:
    x, y = circles()
    start = classical.svm_settings_for("rbf", 600)
    best, scores = classical.tune_svm(start, x, y, seed=0)
    assert len(scores) == 9  # C x 3, gamma x 3
    assert {s["C"] for s in scores} == {start.C * f for f in (0.25, 1.0, 4.0)}
    assert max(s["validation_accuracy"] for s in scores) == next(
        s["validation_accuracy"] for s in scores if s["C"] == best.C and s["gamma_scale"] == best.gamma_scale)
    linear_best, linear_scores = classical.tune_svm(classical.svm_settings_for("linear", 600), x, y)
    assert len(linear_scores) == 3 and linear_best.kind == "linear"


@pytest.mark.parametrize("svm", ["linear", "rbf", "rbf-exact"])
def test_every_svm_runs_in_the_comparison(svm: str) -> None:
    results = run_comparison(dataclasses.replace(SMALL, svm=svm, pipelines=("hog-svm", "learned-svm")).validated())
    for pipeline in results.pipelines:
        assert pipeline.details["svm_settings"]["kind"] == svm
        assert pipeline.accuracy > 0.8, pipeline.name
    assert results.settings["svm"] == svm


def test_tune_records_every_candidate_and_its_own_stage() -> None:
    result = run_comparison(dataclasses.replace(SMALL, tune=True).validated()).pipelines[0]
    assert "tune (validation split)" in [s.name for s in result.stages]
    assert len(result.details["svm_tuning"]) == 3
    assert all(0 <= c["validation_accuracy"] <= 1 for c in result.details["svm_tuning"])


def test_unknown_svm_is_a_user_error() -> None:
    with pytest.raises(UserError, match="--svm"):
        CompareConfig(svm="poly").validated()


def test_exact_rbf_warns_on_large_training_sets(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(svm_settings, "EXACT_SVC_SLOW_ABOVE", 100)
    out = tmp_path / "r.json"
    result = CliRunner().invoke(app, ["compare", "--pipelines", "hog-svm", "--svm", "rbf-exact", "--train-size",
                                      "300", "--test-size", "100", "--json", str(out)])
    assert result.exit_code == 0, result.output
    assert "warning:" in result.stderr and "--svm rbf" in " ".join(result.stderr.split())
    assert json.loads(out.read_text())["pipelines"][0]["details"]["svm_settings"]["kind"] == "rbf-exact"
