"""Measurement helpers: stage timing, sampling, environment, atomic files, device choice."""

from __future__ import annotations

import math
import multiprocessing
import os
import time
from pathlib import Path
from types import SimpleNamespace

import psutil
import pytest
import torch

from featvslearn.device import (
    autocast_dtype,
    cpu_flags,
    cpu_has_fast_bf16,
    cpu_info,
    cpu_model_name,
    resolve_device,
    svm_precision,
)
from featvslearn.errors import UserError
from featvslearn.files import atomic_write_text, check_output_path
from featvslearn.measure import (
    GpuReading,
    Monitor,
    NvmlGpu,
    Sample,
    StageMeasurement,
    Stopwatch,
    attribute,
    cpu_model,
    downsample,
    environment,
    nvml_readings,
    summarise,
)
from featvslearn.measure.contention import BUSY_MACHINE_THRESHOLD_PERCENT, machine_busy, other_load_percent_mean


def test_monitor_times_stages_and_samples_at_twenty_hertz() -> None:
    with Monitor(torch.device("cpu"), interval_s=0.05) as monitor:
        with monitor.stage("sleep", "cpu", role="train") as record:
            time.sleep(0.5)
        with monitor.stage("work", "cpu", role="train"):
            sum(i * i for i in range(200_000))
    assert [s.name for s in monitor.stages] == ["sleep", "work"]
    assert record.device == "cpu"
    assert 0.5 <= record.seconds < 1.0
    assert len(monitor.samples) >= 8  # ≥ 10 Hz over at least half a second
    stats = record.stats
    assert stats is not None and stats.gpu_util_percent_mean is None and stats.gpu_util_samples == 0
    assert stats.gpu_process_util_percent_mean is None
    assert stats.cpu_util_percent_mean is not None and stats.peak_rss_bytes > 0
    assert monitor.peak_gpu_memory_bytes() is None and monitor.notes == []
    sample = monitor.samples[-1]
    assert sample.interval_seconds is not None and sample.other_load_percent is not None
    assert 0 <= sample.cpu_util_percent <= 100


def test_a_very_short_stage_still_has_figures() -> None:
    with Monitor(torch.device("cpu")) as monitor, monitor.stage("instant", "cpu", role="train"):
        pass
    stage = monitor.stages[0]
    assert stage.stats.peak_rss_bytes > 0 and stage.stats.cpu_util_percent_mean is not None
    assert stage.other_load_percent is None  # too short for the machine's 10 ms counters
    assert not machine_busy(monitor.stages)


def test_summarise_averages_gpu_and_cpu() -> None:
    samples = [Sample(0.0, 10.0, 50.0, 100), Sample(0.1, 30.0, 70.0, 300), Sample(0.2, None, 60.0, 200)]
    stats = summarise(samples)
    assert stats.gpu_util_percent_mean == 20.0 and stats.gpu_util_percent_max == 30.0
    assert stats.gpu_util_samples == 2
    assert stats.cpu_util_percent_mean == 60.0 and stats.peak_rss_bytes == 300


def test_gpu_utilisation_is_unavailable_without_a_gpu() -> None:
    gpu = NvmlGpu(torch.device("cpu"))
    assert not gpu.available and gpu.utilisation_samples(0) == [] and gpu.process_samples(0) == []


# --------------------------------------------------------------------------- process and machine CPU
def _spin(cpu_seconds: float) -> None:
    """Keep this thread busy until it has used ``cpu_seconds`` of CPU (its own clock, not psutil's)."""
    end = time.thread_time() + cpu_seconds
    while time.thread_time() < end:
        pass


def _spin_until(deadline: float) -> None:
    """Keep one core busy until ``deadline`` (time.monotonic(), the same clock in every process)."""
    while time.monotonic() < deadline:
        pass


def test_cpu_seconds_follow_work_not_wall_time() -> None:
    with Monitor(torch.device("cpu")) as monitor:
        with monitor.stage("spin", "cpu", role="train") as spin:
            _spin(0.3)
        with monitor.stage("sleep", "cpu", role="train") as sleep:
            time.sleep(0.3)
    assert 0.28 <= spin.cpu_seconds <= 0.4  # the spinning thread's 0.3 s, and a little of the sampler's
    # One busy thread costs its wall time in CPU, unless other programs filled the machine and took turns on its core
    cores = psutil.cpu_count()
    saturated = spin.stats.cpu_util_percent_mean + spin.other_load_percent >= 90
    assert spin.cpu_seconds >= 0.8 * spin.seconds or saturated
    assert spin.cpu_seconds <= 1.2 * spin.seconds + 0.05
    assert sleep.cpu_seconds < 0.05 and sleep.seconds >= 0.3
    assert spin.stats.cpu_util_percent_mean == pytest.approx(100 * spin.cpu_seconds / (spin.seconds * cores))
    assert monitor.cpu_seconds >= spin.cpu_seconds + sleep.cpu_seconds


def test_other_processes_spinning_every_core_make_the_machine_busy() -> None:
    context = multiprocessing.get_context("fork")  # no re-import of torch in the helpers
    deadline = time.monotonic() + 1.0
    helpers = [context.Process(target=_spin_until, args=(deadline,)) for _ in range(os.cpu_count() or 1)]
    for helper in helpers:
        helper.start()
    try:
        time.sleep(0.1)  # let every helper start spinning
        with Monitor(torch.device("cpu")) as monitor:
            with monitor.stage("warm-up", "cpu", role="untimed"):
                time.sleep(0.15)
            with monitor.stage("wait", "cpu", role="train") as stage:
                time.sleep(0.4)
    finally:
        for helper in helpers:
            helper.join()
    assert stage.cpu_seconds < 0.1  # this process only waited: the load is the others'
    assert stage.other_load_percent is not None and stage.other_load_percent > BUSY_MACHINE_THRESHOLD_PERCENT
    assert machine_busy(monitor.stages)
    assert monitor.other_load_percent_mean == pytest.approx(stage.other_load_percent)  # warm-up left out
    assert max(s.other_load_percent for s in monitor.samples) > BUSY_MACHINE_THRESHOLD_PERCENT


def test_a_quiet_machine_is_not_busy() -> None:
    psutil.cpu_percent(interval=None)  # an independent reading of the premise, from here …
    with Monitor(torch.device("cpu")) as monitor, monitor.stage("sleep", "cpu", role="train") as stage:
        time.sleep(0.4)
    machine_percent = psutil.cpu_percent(interval=None)  # … to here
    if machine_percent > 0.8 * BUSY_MACHINE_THRESHOLD_PERCENT:
        pytest.skip(f"other programs used {machine_percent:.0f} % of this machine during the test")
    assert stage.other_load_percent is not None and stage.other_load_percent < BUSY_MACHINE_THRESHOLD_PERCENT
    assert not machine_busy(monitor.stages)


def test_machine_busy_counts_only_timed_stages_with_a_figure() -> None:
    stages = [StageMeasurement("warm-up and compile", "cpu", "untimed", seconds=1.0, other_load_percent=90.0),
              StageMeasurement("to device", "cpu", "train", seconds=0.01, other_load_percent=None),
              StageMeasurement("train", "cpu", "train", seconds=3.0, other_load_percent=10.0),
              StageMeasurement("predict", "cpu", "predict", seconds=1.0, other_load_percent=30.0)]
    assert machine_busy(stages) and not machine_busy(stages[:3])
    assert not machine_busy(stages, threshold_percent=50.0)
    assert other_load_percent_mean(stages) == pytest.approx((10.0 * 3 + 30.0 * 1) / 4)
    assert other_load_percent_mean(stages[:2]) is None


def test_downsample_carries_the_other_load() -> None:
    samples = [Sample(i * 0.05, None, 10.0, 100, other_load_percent=float(i), interval_seconds=0.05)
               for i in range(10)]
    out = downsample(samples, 2)
    assert [s.other_load_percent for s in out] == [2.0, 7.0]
    assert [s.interval_seconds for s in out] == [pytest.approx(0.25), pytest.approx(0.25)]
    assert summarise(samples).other_load_percent_mean == 4.5


# --------------------------------------------------------------------------- NVML samples
class FakeNvml:
    """A stand-in for the pynvml module: serves known timestamped samples as NVML does.

    ``device_samples``: (timestamp µs since the epoch, percent); ``process_samples``: (pid,
    timestamp, smUtil). Calls return the samples stamped after ``since_us``, or raise NVML's
    not-found error when there is none. ``lagged_percent`` is the single lagged reading.
    """

    NVML_GPU_UTILIZATION_SAMPLES = 1
    NVML_ERROR_NOT_SUPPORTED = 3
    NVML_ERROR_NOT_FOUND = 6

    class NVMLError(Exception):
        def __init__(self, value: int) -> None:
            super().__init__(f"NVML error {value}")
            self.value = value

    def __init__(self, lagged_percent: float = 0.0, supported: bool = True) -> None:
        self.device_samples: list[tuple[int, int]] = []
        self.process_samples: list[tuple[int, int, int]] = []
        self.lagged_percent = lagged_percent
        self.supported = supported

    def nvmlDeviceGetUtilizationRates(self, handle: object) -> SimpleNamespace:
        return SimpleNamespace(gpu=self.lagged_percent)

    def nvmlDeviceGetSamples(self, handle: object, kind: int, since_us: int) -> tuple[int, list]:
        assert kind == self.NVML_GPU_UTILIZATION_SAMPLES
        if not self.supported:
            raise self.NVMLError(self.NVML_ERROR_NOT_SUPPORTED)
        new = [SimpleNamespace(timeStamp=t, sampleValue=SimpleNamespace(uiVal=v))
               for t, v in self.device_samples if t > since_us]
        if not new:
            raise self.NVMLError(self.NVML_ERROR_NOT_FOUND)
        return 1, new  # NVML_VALUE_TYPE_UNSIGNED_INT: the value is in sampleValue.uiVal

    def nvmlDeviceGetProcessUtilization(self, handle: object, since_us: int) -> list:
        if not self.supported:
            raise self.NVMLError(self.NVML_ERROR_NOT_SUPPORTED)
        new = [SimpleNamespace(pid=pid, timeStamp=t, smUtil=v, memUtil=0, encUtil=0, decUtil=0)
               for pid, t, v in self.process_samples if t > since_us]
        if not new:
            raise self.NVMLError(self.NVML_ERROR_NOT_FOUND)
        return new


def test_nvml_samples_are_attributed_by_their_timestamps() -> None:
    # Samples every 100 ms from epoch second 1000.1; the monitor started at epoch second 1000
    readings = nvml_readings([(1_000_100_000, 80), (1_000_200_000, 20), (1_000_300_000, 50), (1_001_300_000, 10)],
                             1000.0)
    assert [r.end_seconds for r in readings] == pytest.approx([0.1, 0.2, 0.3, 1.3])
    # the first, and the one after a long gap, cover one usual spacing
    assert [r.period_seconds for r in readings] == pytest.approx([0.1, 0.1, 0.1, 0.1])
    assert attribute(readings, 0.0, 0.2) == (pytest.approx(50.0), 80.0, 2)
    assert attribute(readings, 0.15, 0.25) == (pytest.approx(35.0), 50.0, 2)  # half of 20's period, half of 50's
    assert attribute(readings, 0.3, 1.1) == (None, None, 0)  # no sample covers it: no figure, not the last one
    assert attribute([GpuReading(0.1, 0.1, 80.0)], 0.1, 0.2) == (None, None, 0)  # touching is not overlapping


def test_a_short_stage_gets_its_own_gpu_figure_not_the_previous_stages() -> None:
    fake = FakeNvml(lagged_percent=90)  # NVML's single lagged reading still shows training's 90 %
    me, other = os.getpid(), os.getpid() + 1
    with Monitor(torch.device("cpu"), gpu=NvmlGpu.from_nvml(fake, handle="gpu0")) as monitor:
        for name, seconds in (("train", 0.3), ("short", 0.03), ("predict", 0.15)):
            with monitor.stage(name, "cpu", role="train"):
                time.sleep(seconds)
        # What the GPU did, on NVML's clock, a sample every 10 ms and one at each stage's end:
        # training 90 % busy (this process 70 %), the short stage idle, prediction 40 % (another process)
        device, per_process = [], []
        for stage, (busy, mine, theirs) in zip(monitor.stages, ((90, 70, 20), (0, 0, 0), (40, 0, 40)), strict=True):
            start_us = round((monitor.epoch_start_seconds + stage.start_seconds) * 1e6)
            end_us = round((monitor.epoch_start_seconds + stage.start_seconds + stage.seconds) * 1e6)
            for stamp in [*range(start_us + 10_000, end_us - 1_000, 10_000), end_us]:
                device.append((stamp, busy))
                per_process += [(pid, stamp, value) for pid, value in ((me, mine), (other, theirs)) if value]
        device.append((round(time.time() * 1e6) + 10_000, 0))  # the sample that covers the run's end
        fake.device_samples, fake.process_samples = device, per_process
    train, short, predict = (s.stats for s in monitor.stages)
    assert (train.gpu_util_percent_mean, train.gpu_util_percent_max) == (pytest.approx(90.0), 90.0)
    assert (short.gpu_util_percent_mean, short.gpu_util_percent_max) == (pytest.approx(0.0), 0.0)
    assert short.gpu_util_samples >= 2
    assert predict.gpu_util_percent_mean == pytest.approx(40.0)
    assert train.gpu_process_util_percent_mean == pytest.approx(70.0)
    assert short.gpu_process_util_percent_mean == 0.0 and predict.gpu_process_util_percent_mean == 0.0
    assert monitor.notes == []
    assert any(s.gpu_util_percent == pytest.approx(90.0) for s in monitor.samples)  # the timeline has them too
    assert monitor.overall_stats().gpu_util_percent_max == 90.0


def test_gpu_figures_are_none_with_a_reason_where_nvml_gives_no_samples() -> None:
    fake = FakeNvml(lagged_percent=50, supported=False)
    with (Monitor(torch.device("cpu"), gpu=NvmlGpu.from_nvml(fake, "gpu0")) as monitor,
          monitor.stage("train", "cpu", role="train")):
        time.sleep(0.1)
    stats = monitor.stages[0].stats
    assert (stats.gpu_util_percent_mean, stats.gpu_util_samples, stats.gpu_process_util_percent_mean) == (None, 0, None)
    assert len(monitor.notes) == 2
    assert "utilisation samples unavailable: NVML error 3" in monitor.notes[0]
    assert "per-process utilisation unavailable" in monitor.notes[1]


def test_own_gpu_share_is_unknown_when_nvml_never_names_this_process() -> None:
    fake = FakeNvml()
    with Monitor(torch.device("cpu"), gpu=NvmlGpu.from_nvml(fake, "gpu0")) as monitor:
        with monitor.stage("train", "cpu", role="train") as stage:
            time.sleep(0.05)
        now_us = round(time.time() * 1e6)
        fake.device_samples = [(now_us - 40_000, 60), (now_us - 20_000, 60), (now_us, 60), (now_us + 20_000, 0)]
        fake.process_samples = [(os.getpid() + 1, now_us - 20_000, 60)]
    assert stage.stats.gpu_util_percent_mean == pytest.approx(60.0)
    assert stage.stats.gpu_process_util_percent_mean is None
    assert any("never named this process" in note for note in monitor.notes)


# --------------------------------------------------------------------------- /proc/cpuinfo
def test_one_reader_of_cpuinfo_serves_model_name_and_flags(tmp_path: Path) -> None:
    path = tmp_path / "cpuinfo"
    path.write_text("processor\t: 0\nmodel name\t: Example CPU 9000\nflags\t\t: fpu sse2 avx512_bf16\n\n"
                    "processor\t: 1\nmodel name\t: Other CPU\n")
    assert cpu_info(str(path))["model name"] == cpu_model_name(str(path)) == "Example CPU 9000"
    assert cpu_flags(str(path)) == {"fpu", "sse2", "avx512_bf16"}
    assert cpu_info(str(tmp_path / "missing")) == {} and cpu_flags(str(tmp_path / "missing")) == frozenset()
    assert cpu_model() == cpu_model_name() != ""
    assert cpu_has_fast_bf16() == bool({"amx_bf16", "avx512_bf16"} & cpu_flags())


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


def test_the_matrix_product_rate_is_measured_and_training_flops_count_forward_and_backward() -> None:
    from featvslearn.measure.peak import matmul_gflops, training_gflops

    rate = matmul_gflops("cpu", torch.float32, size=256, seconds=0.05)
    assert math.isfinite(rate) and rate > 0.01  # any CPU does more than 10 MFLOP/s
    assert training_gflops(1_000_000, 3_000, 2.0) == pytest.approx(4.5)  # 3 x 1 MFLOP x 3,000 images in 2 s
    assert training_gflops(1_000_000, 3_000, 0.0) is None


def test_the_cnn_reports_its_training_rate_in_gflops() -> None:
    from featvslearn.datasets import load_split
    from featvslearn.experiments.run import run_pipeline
    from featvslearn.pipelines import RunSettings

    result = run_pipeline("cnn", load_split("digits", download=False), torch.device("cpu"), RunSettings(epochs=1))
    details = result.details
    train = next(stage for stage in result.stages if stage.name == "train")
    images = details["train_images_per_second"] * train.seconds
    assert details["train_gflops_per_second"] == pytest.approx(3 * details["flops_per_image"] * images / train.seconds
                                                               / 1e9, rel=1e-6)


def test_seconds_count_by_the_role_a_stage_was_opened_with_never_by_its_name() -> None:
    from featvslearn.experiments.run import stage_result
    from featvslearn.measure.contention import PREDICT, TRAIN, UNTIMED, is_timed, seconds_in

    with Monitor(torch.device("cpu")) as monitor:
        with monitor.stage("predict", "cpu", role=TRAIN):  # named like a prediction stage, declared training
            time.sleep(0.02)
        with monitor.stage("warm-up, renamed", "cpu", role=PREDICT):
            time.sleep(0.02)
        with monitor.stage("compile", "cpu", role=UNTIMED):
            time.sleep(0.02)
    stages = [stage_result(stage) for stage in monitor.stages]
    assert [s.role for s in stages] == [TRAIN, PREDICT, UNTIMED]
    assert seconds_in(stages, TRAIN) == stages[0].seconds and seconds_in(stages, PREDICT) == stages[1].seconds
    assert [is_timed(s) for s in stages] == [True, True, False]
    with pytest.raises(ValueError, match="role"), Monitor(torch.device("cpu")) as other, \
            other.stage("train", "cpu", role="training"):
        pass


def test_stages_of_files_written_before_roles_take_the_role_their_name_implied() -> None:
    from featvslearn.measure.contention import PREDICT, TRAIN, UNTIMED, role_of
    from featvslearn.results import StageResult

    legacy = [StageResult(name=name, device="cpu", seconds=1.0) for name in
              ("warm-up (small slice)", "warm-up and compile", "features (test)", "evaluate", "predict", "svm fit")]
    assert [role_of(s) for s in legacy] == [UNTIMED, UNTIMED, PREDICT, PREDICT, PREDICT, TRAIN]


def test_the_slowdown_is_measured_against_this_machine_s_quickest_calibration(tmp_path) -> None:
    from featvslearn.measure.calibration import kernel_seconds, slowdown

    path = tmp_path / "calibration.json"
    assert slowdown(0.02, path) is None  # no reference yet: unknown, never a guess
    assert slowdown(0.08, path) == pytest.approx(4.0)
    assert slowdown(0.01, path) == pytest.approx(0.5)  # quicker than ever: the new reference
    assert slowdown(0.03, path) == pytest.approx(3.0)
    path.write_text("not json")
    assert slowdown(0.02, path) is None and slowdown(0.02, path) == pytest.approx(1.0)
    assert 0 < kernel_seconds(repeats=2) < 5
