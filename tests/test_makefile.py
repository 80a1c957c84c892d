"""The Makefile a workshop drives: `make help` lists every target, and `make report` fails loudly."""

from __future__ import annotations

import re
import shutil
import subprocess
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[1]
MAKE = shutil.which("make")
pytestmark = pytest.mark.skipif(MAKE is None, reason="make is not installed")


def make(*arguments: str) -> subprocess.CompletedProcess[str]:
    """Run make in the repository root; output as text."""
    return subprocess.run([MAKE or "make", "--no-print-directory", *arguments], cwd=ROOT, capture_output=True,
                          text=True, timeout=300, check=False)


def documented_targets() -> list[str]:
    """The targets that carry a ``##`` comment in the Makefile."""
    text = (ROOT / "Makefile").read_text()
    return re.findall(r"^([a-z0-9-]+):.*## ", text, flags=re.MULTILINE)


def test_plain_make_prints_help_listing_every_documented_target() -> None:
    result = make()
    assert result.returncode == 0, result.stderr
    targets = documented_targets()
    assert {"help", "compare", "test", "demo", "fashion", "scaling", "ablate", "report"} <= set(targets)
    for target in targets:
        assert re.search(rf"^\s+make {re.escape(target)}\s+\S", result.stdout, flags=re.MULTILINE), target
    assert "DEVICE=" in result.stdout


def test_help_fits_an_80_column_terminal() -> None:
    lines = make("help").stdout.splitlines()
    assert lines
    assert max(len(line) for line in lines) <= 80


@pytest.mark.skipif(not (ROOT / ".venv" / ".installed").exists(), reason="needs the installed .venv (make install)")
def test_make_report_fails_when_any_results_file_fails(tmp_path: Path) -> None:
    (tmp_path / "broken.json").write_text('{"not": "results"}')
    result = make("report", f"RESULTS={tmp_path}")
    assert result.returncode != 0
    assert "1 file(s)" in result.stdout + result.stderr


@pytest.mark.skipif(not (ROOT / ".venv" / ".installed").exists(), reason="needs the installed .venv (make install)")
def test_make_report_without_results_names_the_first_lesson(tmp_path: Path) -> None:
    result = make("report", f"RESULTS={tmp_path}")
    assert result.returncode == 2
    assert "make demo" in result.stdout + result.stderr


DATA_TARGETS = ["datasets", "fashion", "budget", "classical", "mnist", "cifar10", "compute", "scaling",
                "scaling-short", "ablate"]


@pytest.mark.parametrize("target", DATA_TARGETS)
def test_data_dir_reaches_featvslearn_only_when_set(target: str) -> None:
    given = make("-n", target, "DATA_DIR=/x")
    assert given.returncode == 0, given.stderr
    assert "--data-dir /x" in given.stdout
    plain = make("-n", target)
    assert plain.returncode == 0, plain.stderr
    assert "featvslearn" in plain.stdout and "--data-dir" not in plain.stdout.replace("--data-dir=DATA_DIR", "")


def test_gpu_check_keeps_its_own_data_dir_unless_given() -> None:
    assert "--data-dir ../fashion-mnist" in make("-n", "gpu-check").stdout
    assert "--data-dir /x" in make("-n", "gpu-check", "DATA_DIR=/x").stdout


def test_help_names_data_dir() -> None:
    assert "DATA_DIR=DIR" in make("help").stdout


@pytest.mark.skipif(not (ROOT / ".venv" / ".installed").exists(), reason="needs the installed .venv (make install)")
def test_make_datasets_with_a_missing_data_dir_names_the_make_variable(tmp_path: Path) -> None:
    result = make("datasets", f"DATA_DIR={tmp_path / 'missing'}")
    assert result.returncode != 0
    assert f"DATA_DIR={tmp_path / 'missing'}" in result.stderr and "--data-dir" not in result.stderr


def test_own_passes_the_folder_and_size_options_only_when_set() -> None:
    given = make("-n", "own", "FOLDER=/photos", "SIZE=48", "FIT=crop")
    assert given.returncode == 0, given.stderr
    assert "compare --dataset /photos" in given.stdout and "--image-size 48 --fit crop" in given.stdout
    plain = make("-n", "own", "FOLDER=/photos")
    assert "--image-size " not in plain.stdout and "--fit " not in plain.stdout


def test_own_without_a_folder_says_how_to_name_one() -> None:
    result = make("own")
    assert result.returncode != 0
    assert "make own FOLDER=DIR" in result.stdout + result.stderr
