"""benchmarks/gpu_check.py: its command line, and its dry run, where every step runs on the CPU and writes its files.

The check runs only when a GPU is at hand; this dry run keeps it from rotting in between.
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import pytest

REPO = Path(__file__).resolve().parents[1]
STEPS = ["environment", "data", "cuda-tests", "hog-speed", "compare-cuda-linear", "compare-cuda-rbf",
         "compare-cpu-cuda", "cnn-time-to-accuracy", "nvml", "airbench-peer", "scaling", "ablate"]
TARGET_FIGURES = ["cuda_tests_failed", "hog_images_per_second", "hog_max_abs_difference", "compare_cuda_wall_seconds",
                  "cnn_accuracy", "cnn_train_seconds", "cnn_seconds_to_0.93", "hog_svm_rbf_accuracy",
                  "hog_svm_rbf_train_predict_seconds", "cnn_train_gpu_util_percent_mean",
                  "cnn_epoch_over_airbench94", "cnn_gpu_joules"]


def run_check(*options: str, cwd: Path) -> subprocess.CompletedProcess[str]:
    """benchmarks/gpu_check.py run with ``options`` from folder ``cwd``, the source tree on PYTHONPATH."""
    env = {**os.environ, "PYTHONPATH": str(REPO)}
    return subprocess.run([sys.executable, str(REPO / "benchmarks" / "gpu_check.py"), *options], cwd=cwd, env=env,
                          capture_output=True, text=True, timeout=120)


def test_help_runs_from_any_folder(tmp_path: Path) -> None:
    done = run_check("--help", cwd=tmp_path)
    assert done.returncode == 0, done.stderr[-3000:]
    assert all(option in done.stdout for option in ("--data-dir", "--out", "--dry-run", "--max-minutes"))
    assert "GPU check" in done.stdout


def test_a_bad_option_exits_2_before_writing_anything(tmp_path: Path) -> None:
    out = tmp_path / "gpu-check"
    done = run_check("--max-minutes", "0", "--out", str(out), cwd=tmp_path)
    assert done.returncode == 2 and "--max-minutes must be positive" in done.stderr
    missing = tmp_path / "no-such-folder"
    done = run_check("--data-dir", str(missing), "--out", str(out), cwd=tmp_path)
    assert done.returncode == 2 and f"--data-dir {missing} is not a folder" in done.stderr
    assert not out.exists()


def test_without_a_gpu_it_exits_2_and_says_so_in_the_log(tmp_path: Path) -> None:
    torch = pytest.importorskip("torch")
    if torch.cuda.is_available():
        pytest.skip("a CUDA GPU is at hand")
    out = tmp_path / "gpu-check"
    done = run_check("--out", str(out), cwd=tmp_path)
    assert done.returncode == 2, done.stdout[-3000:] + done.stderr[-3000:]
    assert "sees no CUDA GPU" in done.stdout and "--dry-run" in done.stdout
    assert (out / "gpu_check.log").read_text(encoding="utf-8") == done.stdout
    assert not (out / "gpu_check.json").exists()


def strict_json(text: str) -> object:
    """``text`` parsed as JSON that holds no NaN or Infinity."""
    def refuse(constant: str) -> None:
        raise ValueError(f"not strict JSON: {constant}")

    return json.loads(text, parse_constant=refuse)


@pytest.mark.slow
def test_dry_run_writes_every_step_the_log_and_the_reports(tmp_path: Path) -> None:
    out = tmp_path / "gpu-check"
    env = {**os.environ, "PYTHONPATH": str(REPO)}
    done = subprocess.run([sys.executable, "benchmarks/gpu_check.py", "--dry-run", "--out", str(out)], cwd=REPO,
                          env=env, capture_output=True, text=True, timeout=300)
    assert done.returncode == 0, done.stdout[-3000:] + done.stderr[-3000:]

    summary = strict_json((out / "gpu_check.json").read_text(encoding="utf-8"))
    assert summary["dry_run"] is True and summary["finished"] is True
    steps = {step["name"]: step for step in summary["steps"]}
    assert list(steps) == STEPS
    assert all(step["status"] == "ok" and step["error"] is None for step in steps.values()), \
        {name: (step["status"], step["error"], step["notes"]) for name, step in steps.items()}
    assert steps["cuda-tests"]["details"]["failed"] == 0 and steps["cuda-tests"]["details"]["errors"] == 0

    figures = summary["figures"]
    for name in TARGET_FIGURES:
        assert figures[name]["target"] and figures[name]["passed"] is None
        assert figures[name]["note"].startswith("not applicable in a dry run"), (name, figures[name])
    assert figures["hog_max_abs_difference"]["value"] <= 1e-3
    assert 0.0 <= figures["cnn_accuracy"]["value"] <= 1.0
    assert summary["targets"]["not_applicable"] == len(TARGET_FIGURES) and summary["targets"]["passed"] == 0
    assert {"gpu", "gpu_driver", "torch", "modules"} <= set(summary["environment"])

    log = (out / "gpu_check.log").read_text(encoding="utf-8")
    assert all(f"== {name}" in log for name in STEPS)
    assert "summary:" in log and log == done.stdout  # the log holds everything printed

    from featvslearn.results import read_json

    for stem in ("compare-cuda-linear", "compare-cuda-rbf", "compare-cpu-cuda", "cnn-epoch-accuracy", "scaling",
                 "ablate"):
        assert (out / f"{stem}.md").is_file()
        assert read_json(out / f"{stem}.json").kind in ("compare", "scaling", "ablate")
    speed_up = read_json(out / "compare-cpu-cuda.json")
    assert len(speed_up.devices) == 2 and "speed-up vs" in (out / "compare-cpu-cuda.md").read_text(encoding="utf-8")
