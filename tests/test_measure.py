"""Measurement helpers: stage timing, sampling, environment, atomic files, device choice."""

from __future__ import annotations

import time
from pathlib import Path

import pytest
import torch

from featvslearn.device import autocast_dtype, resolve_device, svm_precision
from featvslearn.errors import UserError
from featvslearn.files import atomic_write_text, check_output_path
from featvslearn.measure import Monitor, NvmlGpu, Sample, Stopwatch, environment, summarise


def test_monitor_times_stages_and_samples_at_twenty_hertz() -> None:
    with Monitor(torch.device("cpu"), interval_s=0.05) as monitor:
        with monitor.stage("sleep", "cpu") as record:
            time.sleep(0.5)
        with monitor.stage("work", "cpu"):
            sum(i * i for i in range(200_000))
    assert [s.name for s in monitor.stages] == ["sleep", "work"]
    assert record.device == "cpu"
    assert 0.5 <= record.seconds < 1.0
    assert len(monitor.samples) >= 8  # ≥ 10 Hz over at least half a second
    stats = record.stats
    assert stats is not None and stats.gpu_util_percent_mean is None and stats.gpu_util_samples == 0
    assert stats.cpu_util_percent_mean is not None and stats.peak_rss_bytes > 0
    assert monitor.peak_gpu_memory_bytes() is None


def test_a_very_short_stage_still_has_figures() -> None:
    with Monitor(torch.device("cpu")) as monitor, monitor.stage("instant", "cpu"):
        pass
    assert monitor.stages[0].stats.peak_rss_bytes > 0


def test_summarise_averages_gpu_and_cpu() -> None:
    samples = [Sample(0.0, 10.0, 50.0, 100), Sample(0.1, 30.0, 70.0, 300), Sample(0.2, None, 60.0, 200)]
    stats = summarise(samples)
    assert stats.gpu_util_percent_mean == 20.0 and stats.gpu_util_percent_max == 30.0
    assert stats.gpu_util_samples == 2
    assert stats.cpu_util_percent_mean == 60.0 and stats.peak_rss_bytes == 300


def test_gpu_utilisation_is_unavailable_without_a_gpu() -> None:
    gpu = NvmlGpu(torch.device("cpu"))
    assert not gpu.available and gpu.utilisation_percent() is None


def test_stopwatch_measures_wall_time() -> None:
    with Stopwatch("cpu") as watch:
        time.sleep(0.1)
    assert 0.1 <= watch.seconds < 0.5


def test_environment_names_versions_and_hardware() -> None:
    env = environment(torch.device("cpu"))
    for key in ("python", "torch", "scikit-learn", "scikit-image", "cpu", "cpu_cores_logical", "gpu", "gpu_driver"):
        assert key in env
    assert env["cpu_cores_logical"] >= 1 and env["torch"] == torch.__version__


def test_atomic_write_leaves_old_file_on_failure(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    target = tmp_path / "r.json"
    atomic_write_text(target, "old")

    def full_disk(*args: object) -> None:
        raise OSError(28, "No space left on device")

    monkeypatch.setattr("os.fsync", full_disk)
    with pytest.raises(UserError, match="No space left on device"):
        atomic_write_text(target, "new")
    assert target.read_text() == "old"
    assert [p.name for p in tmp_path.iterdir()] == ["r.json"]


def test_output_path_checks(tmp_path: Path) -> None:
    assert check_output_path(tmp_path / "a.md", (".md",), "--report") == (tmp_path / "a.md").resolve()
    with pytest.raises(UserError, match=r"must end in \.md"):
        check_output_path(tmp_path / "a.txt", (".md",), "--report")
    with pytest.raises(UserError, match="does not exist"):
        check_output_path(tmp_path / "missing" / "a.md", (".md",), "--report")
    (tmp_path / "dir.md").mkdir()
    with pytest.raises(UserError, match="is a folder"):
        check_output_path(tmp_path / "dir.md", (".md",), "--report")


def test_device_choice() -> None:
    assert resolve_device("cpu") == torch.device("cpu")
    assert resolve_device("auto").type == ("cuda" if torch.cuda.is_available() else "cpu")
    with pytest.raises(UserError, match="not a device"):
        resolve_device("gpu")
    assert autocast_dtype(torch.device("cpu"), "fp32") is None
    assert autocast_dtype(torch.device("cpu"), "bf16") is torch.bfloat16
    with pytest.raises(UserError):
        autocast_dtype(torch.device("cpu"), "int4")


def test_svm_matrices_follow_the_precision_choice(monkeypatch: pytest.MonkeyPatch) -> None:
    cpu = torch.device("cpu")
    assert [svm_precision(cpu, p) for p in ("fp32", "bf16", "fp16")] == ["fp32", "bf16", "fp32"]
    monkeypatch.setattr("featvslearn.device.cpu_has_fast_bf16", lambda: True)
    assert svm_precision(cpu) == "bf16"
    monkeypatch.setattr("featvslearn.device.cpu_has_fast_bf16", lambda: False)
    assert svm_precision(cpu) == "fp32"
