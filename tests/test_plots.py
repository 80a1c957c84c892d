"""Report files and multi-device runs: images in results, plots folders, misclassified examples, timelines,
and a real run on two devices re-rendered from its JSON."""

from __future__ import annotations

import json
import os
import re
import time
from pathlib import Path
from typing import Any
from urllib.parse import unquote

import numpy as np
import pytest
import torch
from typer.testing import CliRunner

from featvslearn.cli import app
from featvslearn.errors import UserError
from featvslearn.experiments.config import CompareConfig
from featvslearn.experiments.run import choose_misclassified, load_data, misclassified_examples, monitor_timeline
from featvslearn.measure import Monitor, Sample, downsample
from featvslearn.reports.compare import speed_ups
from featvslearn.results import decode_image, dumps, encode_image, read_json, write_json
from tests.hand_made import compare_results, without_pictures

runner = CliRunner()
TINY = ["--train-size", "150", "--test-size", "60", "--epochs", "1"]


def invoke(*args: str) -> Any:
    return runner.invoke(app, list(args))


def image_links(markdown_text: str) -> list[str]:
    return [unquote(link) for link in re.findall(r"!\[[^\]]*\]\(([^)]+)\)", markdown_text)]


# --------------------------------------------------------------------------- images and JSON
def test_images_round_trip_through_png_strings() -> None:
    rng = np.random.default_rng(0)
    for shape in ((8, 8, 1), (5, 7, 3)):
        image = rng.integers(0, 256, shape, dtype=np.uint8)
        assert np.array_equal(decode_image(encode_image(image)), image)
    with pytest.raises(UserError, match="not a base64 PNG"):
        decode_image("not an image")


def test_json_keeps_lists_of_values_on_one_line(tmp_path: Path) -> None:
    results = compare_results()
    path = tmp_path / "r.json"
    write_json(results, path)
    text = path.read_text()
    assert json.loads(text) == json.loads(json.dumps(results.to_dict()))
    assert '"confusion_matrix": [\n' in text and "        [9, 1, 0],\n" in text
    assert re.search(r'"t_seconds": \[0\.0, [^\n]*\],\n', text)
    assert len(text.splitlines()) < 600  # lists of numbers stay on one line each
    assert dumps({"a": [], "b": {}, "c": [[]]}) == '{\n  "a": [],\n  "b": {},\n  "c": [\n    []\n  ]\n}'


# --------------------------------------------------------------------------- plots folders
def test_a_plots_folder_that_is_a_file_is_refused_before_any_work(tmp_path: Path) -> None:
    (tmp_path / "out-plots").write_text("not a folder")
    result = invoke("compare", "--report", str(tmp_path / "out.md"))
    assert result.exit_code == 2 and "out-plots is a file" in result.stderr
    results = tmp_path / "r.json"
    write_json(compare_results(), results)
    result = invoke("report", str(results), "--out", str(tmp_path / "out.md"))
    assert result.exit_code == 2 and "out-plots is a file" in result.stderr
    assert not (tmp_path / "out.md").exists()


def test_a_read_only_plots_folder_is_refused(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    (tmp_path / "out-plots").mkdir()
    real_access = os.access  # root may write anywhere: make only the plots folder read-only, as seen by the check
    monkeypatch.setattr("featvslearn.files.os.access",
                        lambda path, mode: Path(path).name != "out-plots" and real_access(path, mode))
    with pytest.raises(UserError, match=r"plots folder .*out-plots is not writable"):
        CompareConfig(report_path=tmp_path / "out.md").validated()


# --------------------------------------------------------------------------- misclassified examples
def test_misclassified_choice_spreads_over_classes_and_is_seeded() -> None:
    labels = np.repeat(np.arange(4), 30)
    predictions = labels.copy()
    predictions[:25] = 1  # 25 mistakes in class 0
    predictions[30:32] = 0  # 2 in class 1
    predictions[95:] = 0  # 25 in class 3
    chosen = choose_misclassified(labels, predictions, limit=16, seed=0)
    assert len(chosen) == 16 and len(set(chosen)) == 16
    assert all(labels[i] != predictions[i] for i in chosen)
    assert [int(labels[i]) for i in chosen] == [0] * 7 + [1] * 2 + [3] * 7  # turns: 2 in class 1, the rest shared
    assert choose_misclassified(labels, predictions, limit=16, seed=0) == chosen
    assert choose_misclassified(labels, predictions, limit=16, seed=1) != chosen
    assert choose_misclassified(labels, labels, limit=16) == []
    examples = misclassified_examples(np.zeros((120, 4, 4, 1), np.uint8), labels, predictions, limit=3)
    assert [(e.label, e.prediction) for e in examples] == [(0, 1), (1, 0), (3, 0)]


# --------------------------------------------------------------------------- timelines
def test_downsampling_bounds_the_count_and_keeps_time_order() -> None:
    rng = np.random.default_rng(0)
    times = rng.uniform(0, 100, 5003)  # out of order, as two threads may append
    samples = [Sample(float(t), None if i % 7 == 0 else 50.0, 20.0 + i % 5, i) for i, t in enumerate(times)]
    out = downsample(samples, 600)
    assert len(out) == 600
    t = [s.t_seconds for s in out]
    assert t == sorted(t) and min(times) <= t[0] and t[-1] <= max(times)
    assert all(s.gpu_util_percent == 50.0 for s in out)  # missing readings are left out of the mean
    assert max(s.rss_bytes for s in out) == 5002  # peaks survive
    assert np.mean([s.cpu_util_percent for s in out]) == pytest.approx(22.0, abs=0.1)
    few = downsample(samples[:10], 600)
    assert [s.t_seconds for s in few] == sorted(times[:10].tolist())
    assert downsample([], 600) == []


class FakeGpu:
    """NVML as seen through NvmlGpu: a busy GPU that publishes a sample every 10 ms, each 1 % above
    the one before (from 1 %), and no per-process figures."""

    available = True
    samples_error = process_error = None
    PERIOD_US = 10_000

    def __init__(self) -> None:
        self.last_us: int | None = None
        self.reading = 0.0

    def utilisation_samples(self, since_us: int) -> list[tuple[int, float]]:
        now_us = round(time.time() * 1e6)
        if self.last_us is None:
            self.last_us = now_us - 1_000_000  # a second of history before the first call
        samples = []
        while self.last_us + self.PERIOD_US <= now_us:
            self.last_us += self.PERIOD_US
            self.reading += 1.0
            samples.append((self.last_us, self.reading))
        return [(stamp, value) for stamp, value in samples if stamp > since_us]

    def process_samples(self, since_us: int) -> list[tuple[int, float]]:
        return []


def test_timeline_keeps_simulated_gpu_readings_and_stage_windows() -> None:
    monitor = Monitor(torch.device("cpu"), interval_s=0.01)
    monitor.gpu = FakeGpu()  # type: ignore[assignment]
    with monitor:
        with monitor.stage("train", "cpu", role="train"):
            sum(i * i for i in range(300_000))
        with monitor.stage("predict", "cpu", role="predict"):
            pass
    monitor.samples += [Sample(s.t_seconds + 1e-6 * i, s.gpu_util_percent, s.cpu_util_percent, s.rss_bytes)
                        for i, s in enumerate(monitor.samples * 200)]  # a long run's worth of samples
    timeline = monitor_timeline(monitor, max_points=50)
    assert len(timeline.t_seconds) == 50 and timeline.t_seconds == sorted(timeline.t_seconds)
    assert timeline.gpu_util_percent is not None and all(v is not None and v > 0 for v in timeline.gpu_util_percent)
    assert len(timeline.cpu_util_percent) == len(timeline.rss_bytes) == 50
    assert [s["name"] for s in timeline.stages] == ["train", "predict"]
    train, predict = timeline.stages
    assert 0 <= train["start_seconds"] < train["end_seconds"] <= predict["start_seconds"] <= predict["end_seconds"]
    without = Monitor(torch.device("cpu"))
    with without:
        pass
    assert monitor_timeline(without).gpu_util_percent is None


# --------------------------------------------------------------------------- a real run on two devices
@pytest.fixture(scope="module")
def two_runs(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """A real compare on digits, run twice on the CPU (--device cpu,cpu), with report and JSON."""
    folder = tmp_path_factory.mktemp("two-runs")
    result = invoke("compare", *TINY, "--device", "cpu,cpu", "--report", str(folder / "out.md"),
                    "--json", str(folder / "out.json"))
    assert result.exit_code == 0, result.output
    assert "speed-up vs cpu" in result.stdout
    return folder


def test_a_real_run_on_two_devices_writes_every_figure(two_runs: Path) -> None:
    data = json.loads((two_runs / "out.json").read_text())
    assert data["device"] == "cpu,cpu" and data["settings"]["device_option"] == "cpu,cpu"
    assert [(p["name"], p["device"]) for p in data["pipelines"]] == [
        ("hog-svm", "cpu"), ("hog-svm", "cpu"), ("cnn", "cpu"), ("cnn", "cpu")]
    first, second = data["pipelines"][0], data["pipelines"][1]
    assert first["confusion_matrix"] == second["confusion_matrix"]  # same seed, same device
    for p in data["pipelines"]:
        timeline = p["timeline"]
        assert timeline["gpu_util_percent"] is None and 1 <= len(timeline["t_seconds"]) <= 600
        assert [s["name"] for s in timeline["stages"]] == [s["name"] for s in p["stages"]]
    text = (two_runs / "out.md").read_text()
    links = image_links(text)
    assert len(links) == 14 and all((two_runs / link).is_file() for link in links)  # 4 of "What each side sees"
    assert "| train × | pred × |" in text and "hog-svm on cpu #2" in text
    loaded = read_json(two_runs / "out.json")
    assert all(up is None or (up.train and up.train > 0) for up in speed_ups(loaded))


def test_report_reproduces_the_real_runs_markdown_and_plots(two_runs: Path, tmp_path: Path) -> None:
    again = tmp_path / "out.md"
    result = invoke("report", str(two_runs / "out.json"), "--out", str(again))
    assert result.exit_code == 0, result.output
    # all but "What each side sees", whose pictures only the run can draw (from its images and network)
    assert without_pictures(again.read_text()) == without_pictures((two_runs / "out.md").read_text())
    for png in (two_runs / "out-plots").iterdir():
        if not png.name.startswith("sees-"):
            assert (tmp_path / "out-plots" / png.name).read_bytes() == png.read_bytes()


def test_misclassified_examples_are_real_mistakes(two_runs: Path) -> None:
    results = read_json(two_runs / "out.json")
    config = CompareConfig(dataset="digits", device="cpu", train_size=150, test_size=60).validated()
    split, _ = load_data(config, train_size=config.train_size)
    for p in results.pipelines:
        wrong = sum(map(sum, p.confusion_matrix)) - sum(np.diag(p.confusion_matrix))
        assert len(p.misclassified) == min(16, wrong)
        assert [e.index for e in p.misclassified] == sorted({e.index for e in p.misclassified},
                                                            key=lambda i: (split.test.labels[i], i))
        for example in p.misclassified:
            assert example.label != example.prediction
            assert example.label == split.test.labels[example.index]
            assert p.confusion_matrix[example.label][example.prediction] > 0
            assert np.array_equal(decode_image(example.image), split.test.images[example.index])


@pytest.mark.skipif(torch.cuda.is_available(), reason="this machine has CUDA")
@pytest.mark.parametrize(("device", "fragment"), [
    ("cpu,cuda", "CUDA is not available"),
    ("cpu,,cuda", "empty item"),
    (",", "--device is empty"),
    ("cpu,tpu", "'tpu' is not a device"),
])
def test_bad_device_lists_get_one_line(device: str, fragment: str) -> None:
    result = invoke("compare", "--device", device)
    assert result.exit_code == 2 and "Traceback" not in result.output
    errors = [line for line in result.stderr.splitlines() if line.startswith("error:")]
    assert len(errors) == 1 and fragment in errors[0]
