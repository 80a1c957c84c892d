"""Energy per stage and per pipeline: RAPL's package counters and NVML's energy counter, both simulated."""

from __future__ import annotations

import dataclasses
import time
from pathlib import Path

import pytest
import torch

from featvslearn.measure import monitor as monitor_module
from featvslearn.measure.energy import COUNTER_RESOLUTION_SECONDS, EnergyMeter, EnergyReading, RaplPackages
from featvslearn.measure.monitor import Monitor
from featvslearn.reports.energy import energy_lines, energy_sentence


def _zone(root: Path, name: str, label: str, energy_uj: int, limit: int = 2**32) -> Path:
    zone = root / name
    zone.mkdir(parents=True)
    (zone / "name").write_text(label + "\n")
    (zone / "energy_uj").write_text(f"{energy_uj}\n")
    (zone / "max_energy_range_uj").write_text(f"{limit}\n")
    return zone


def test_rapl_reads_every_package_and_unwraps_a_counter_past_its_range(tmp_path: Path) -> None:
    package0 = _zone(tmp_path, "intel-rapl:0", "package-0", 1_000_000, limit=10_000_000)
    package1 = _zone(tmp_path, "intel-rapl:1", "package-1", 9_500_000, limit=10_000_000)
    _zone(tmp_path, "intel-rapl:0:0", "core", 123)  # a sub-zone: inside package 0, not counted twice
    _zone(tmp_path, "intel-rapl:2", "psys", 5)  # the platform, not a CPU package
    rapl = RaplPackages(tmp_path)
    assert rapl.available and rapl.error is None
    start = rapl.read()
    (package0 / "energy_uj").write_text("3500000\n")  # +2.5 J
    (package1 / "energy_uj").write_text("500000\n")  # wrapped: +1.0 J
    assert rapl.joules(start, rapl.read()) == pytest.approx(3.5)


def test_rapl_says_why_when_it_cannot_measure(tmp_path: Path) -> None:
    missing = RaplPackages(tmp_path / "absent")
    assert not missing.available and missing.read() is None
    assert missing.error == f"CPU energy not measured: no RAPL counters here ({tmp_path / 'absent'} does not exist)"
    _zone(tmp_path, "intel-rapl:0", "psys", 5)
    assert RaplPackages(tmp_path).error == f"CPU energy not measured: no RAPL package zone under {tmp_path}"
    broken = _zone(tmp_path, "intel-rapl:1", "package-1", 5)
    (broken / "energy_uj").write_text("not a number\n")
    assert RaplPackages(tmp_path).error.startswith(f"CPU energy not measured: {broken} cannot be read")


class FakeNvml:
    """NVML's energy counter: ``watts`` times the seconds since it was created, in millijoules."""

    def __init__(self, watts: float = 200.0, supported: bool = True) -> None:
        self.watts, self.supported, self.start = watts, supported, time.perf_counter()

    def nvmlDeviceGetTotalEnergyConsumption(self, handle: object) -> int:
        if not self.supported:
            raise RuntimeError("Not Supported")
        return int(self.watts * (time.perf_counter() - self.start) * 1000)


def test_the_gpu_counter_difference_is_a_stage_s_joules_and_short_stages_are_flagged(tmp_path: Path) -> None:
    meter = EnergyMeter((FakeNvml(), "handle"), RaplPackages(tmp_path / "absent"))
    start = EnergyReading(0.0, 1_000, None)
    energy = meter.between(start, EnergyReading(2.0, 31_000, None))
    assert energy.gpu_joules == 30.0 and energy.cpu_joules is None and not energy.below_resolution
    assert meter.between(start, EnergyReading(COUNTER_RESOLUTION_SECONDS / 2, 1_000, None)).below_resolution
    unsupported = EnergyMeter((FakeNvml(supported=False), "handle"), RaplPackages(tmp_path / "absent"))
    assert unsupported.read().gpu_millijoules is None
    assert unsupported.gpu_error == "GPU energy not measured: NVML's energy counter is unavailable (Not Supported)"


def test_the_monitor_gives_every_stage_its_joules(tmp_path: Path) -> None:
    meter = EnergyMeter((FakeNvml(watts=100.0), "handle"), RaplPackages(tmp_path / "absent"))
    with Monitor(torch.device("cpu"), energy=meter) as monitor:
        with monitor.stage("fit", "cpu", role="train"):
            time.sleep(0.3)
        with monitor.stage("blink", "cpu", role="predict"):
            pass
    fit, blink = monitor.stages
    assert fit.gpu_joules == pytest.approx(30.0, rel=0.3) and not fit.energy_below_resolution
    assert blink.energy_below_resolution and fit.cpu_joules is None
    assert monitor.energy_notes == [f"CPU energy not measured: no RAPL counters here ({tmp_path / 'absent'} "
                                    "does not exist)"]


class FiftyWattPackages(RaplPackages):
    """One CPU package drawing 50 W: its counter grows with the wall clock."""

    def __init__(self) -> None:
        self.error, self._zones = None, [(Path("energy_uj"), 2**40)]

    def read(self) -> tuple[int, ...]:
        return (int(50e6 * time.perf_counter()),)


def test_a_comparison_reports_each_pipeline_s_joules_and_their_ratio(monkeypatch) -> None:
    from featvslearn.experiments.compare import run_comparison
    from featvslearn.experiments.config import CompareConfig
    from featvslearn.reports.compare import markdown, reading

    real = monitor_module.EnergyMeter
    monkeypatch.setattr(monitor_module, "EnergyMeter", lambda gpu, gpu_missing="": real(gpu, FiftyWattPackages()))
    config = CompareConfig(dataset="digits", device="cpu", train_size=600, test_size=200, epochs=3, seed=1)
    results = run_comparison(config.validated())
    hog, cnn = results.pipelines
    for p in (hog, cnn):
        timed = sum(s.seconds for s in p.stages if s.role != "untimed")
        assert p.cpu_joules == pytest.approx(50 * timed, rel=0.05) and p.gpu_joules is None
        assert p.energy_notes == []
    report = markdown(results)
    assert "## Energy" in report and "| run | GPU J | CPU packages J | total J | accuracy per kJ |" in report
    more, less = (cnn, hog) if cnn.cpu_joules > hog.cpu_joules else (hog, cnn)
    sentence = f"{more.name} spent {more.cpu_joules / less.cpu_joules:.1f}× the energy of {less.name}"
    results.machine_busy, results.slowdown = False, None  # read as if quiet: the sentence is there
    assert sentence in reading(results)
    results.slowdown = 3.0  # slower than when quiet: like the times, the energies are not compared
    assert sentence not in reading(results)


def _pipeline(**changes: object):
    from featvslearn.results import PipelineResult

    base = PipelineResult(name="cnn", accuracy=0.9, train_seconds=1.0, predict_seconds=1.0, images_per_second=1.0,
                          device="cuda", gpu_util_percent_mean=None, gpu_util_percent_max=None, gpu_util_samples=0,
                          peak_gpu_memory_bytes=None, cpu_util_percent_mean=None, peak_rss_bytes=None, stages=[])
    return dataclasses.replace(base, **changes)


def test_the_energy_sentence_compares_only_like_with_like() -> None:
    cnn = _pipeline(gpu_joules=300.0, cpu_joules=None)
    hog = _pipeline(name="hog-svm", gpu_joules=100.0, cpu_joules=None)
    assert energy_sentence(cnn, hog) == ("cnn spent 3.0× the energy of hog-svm (300 J against 100 J on the GPU, "
                                         "training and prediction).")
    assert energy_sentence(cnn, _pipeline(name="hog-svm", gpu_joules=None, cpu_joules=50.0)) == ""
    assert energy_sentence(cnn, _pipeline(name="hog-svm")) == ""


def test_the_energy_section_says_why_nothing_was_measured() -> None:
    note = "CPU energy not measured: no RAPL counters here (/sys/class/powercap does not exist)"
    lines = energy_lines(["hog-svm", "cnn"], [_pipeline(name="hog-svm", energy_notes=[note]),
                                             _pipeline(energy_notes=[note])])
    assert lines == ["## Energy", "", f"Not measured in this run: {note}.", ""]
    measured = energy_lines(["cnn"], [_pipeline(gpu_joules=2000.0, cpu_joules=500.0)])
    assert "| cnn | 2,000 J | 500 J | 2,500 J | 0.360 |" in measured
