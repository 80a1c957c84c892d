"""The pipeline registry: names, run order, and the cheap start-up it allows."""

from __future__ import annotations

import subprocess
import sys

import pytest

from featvslearn.experiments.config import PIPELINES, parse_pipelines
from featvslearn.pipelines import LEARNED_PIPELINES, PIPELINE_NAMES, REGISTRY, run_order


def test_the_registry_names_every_pipeline_once_and_config_takes_its_names() -> None:
    assert PIPELINE_NAMES == ("hog-svm", "sift-svm", "sift-fv", "cnn", "learned-svm")
    assert PIPELINES == PIPELINE_NAMES
    assert LEARNED_PIPELINES == ("cnn", "learned-svm")
    assert parse_pipelines(" CNN,hog-svm,cnn ") == ("cnn", "hog-svm")
    assert all(p.summary and callable(p.run) for p in REGISTRY)


@pytest.mark.parametrize(
    ("asked", "order"),
    [
        (["learned-svm", "cnn"], ["cnn", "learned-svm"]),
        (["hog-svm", "learned-svm", "sift-svm", "cnn"], ["hog-svm", "cnn", "learned-svm", "sift-svm"]),
        (["cnn", "hog-svm", "learned-svm"], ["cnn", "hog-svm", "learned-svm"]),
        (["learned-svm"], ["learned-svm"]),  # without cnn it trains its own network
        (["sift-svm", "hog-svm"], ["sift-svm", "hog-svm"]),
    ],
)
def test_a_pipeline_runs_after_the_ones_it_needs_and_otherwise_in_the_order_asked(
    asked: list[str], order: list[str]
) -> None:
    assert run_order(asked) == order


@pytest.mark.parametrize("args", [["--help"], ["--version"], ["compare", "--help"]])
def test_help_and_version_import_neither_torch_nor_scikit_learn(args: list[str]) -> None:
    code = (
        "import sys\n"
        "from featvslearn.cli import app\n"
        f"try:\n    app({args!r})\nexcept SystemExit:\n    pass\n"
        "heavy = sorted(m for m in ('torch', 'sklearn', 'skimage', 'matplotlib', 'kornia') if m in sys.modules)\n"
        "print('HEAVY', heavy)\n"
    )
    done = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, timeout=60, check=True)
    assert "HEAVY []" in done.stdout, done.stdout + done.stderr
