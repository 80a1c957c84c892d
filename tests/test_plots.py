"""Report plots and multi-device runs: figures, links, re-rendering, old files, speed-ups, timelines."""

from __future__ import annotations

import dataclasses
import json
import os
import re
from pathlib import Path
from typing import Any
from urllib.parse import unquote

import numpy as np
import pytest
import torch
from matplotlib.figure import Figure
from typer.testing import CliRunner

from featvslearn import plots, report
from featvslearn.cli import app
from featvslearn.config import CompareConfig
from featvslearn.errors import UserError
from featvslearn.experiment import choose_misclassified, load_data, misclassified_examples, monitor_timeline
from featvslearn.measure import Monitor, Sample, downsample
from featvslearn.report import (
    compare_figures,
    fmt_speed_up_cell,
    markdown,
    reading,
    run_keys,
    run_labels,
    speed_ups,
    table_headers,
    table_rows,
    write_markdown,
)
from featvslearn.results import (
    CompareResults,
    DatasetInfo,
    MisclassifiedExample,
    PipelineResult,
    StageResult,
    Timeline,
    decode_image,
    dumps,
    encode_image,
    read_json,
    write_json,
)

runner = CliRunner()
PNG_SIGNATURE = b"\x89PNG\r\n\x1a\n"
CLASSES = ["disc", "bars", "cross"]
TINY = ["--train-size", "150", "--test-size", "60", "--epochs", "1"]


def invoke(*args: str) -> Any:
    return runner.invoke(app, list(args))


# --------------------------------------------------------------------------- hand-made results
def _timeline(seconds: float, stages: list[tuple[str, float, float]], gpu: list[float] | None) -> Timeline:
    t = list(np.linspace(0.0, seconds, 20).round(3))
    return Timeline(
        t_seconds=t,
        gpu_util_percent=gpu,
        cpu_util_percent=[50.0 + (i % 3) * 10 for i in range(len(t))],
        rss_bytes=[1_000_000 + i for i in range(len(t))],
        stages=[{"name": n, "device": "x", "start_seconds": a, "end_seconds": b} for n, a, b in stages],
    )


def _pipeline(name: str, device: str, train_s: float, predict_s: float, accuracy: float,
              gpu: list[float] | None) -> PipelineResult:
    rng = np.random.default_rng(len(name) + len(device))
    image = rng.integers(0, 256, (8, 8, 1), dtype=np.uint8)
    stages = ([("features (train)", 0.0, 0.3 * train_s), ("svm fit", 0.3 * train_s, train_s),
               ("predict", train_s, train_s + predict_s)] if name == "hog-svm"
              else [("warm-up", 0.0, 0.1), ("train", 0.1, train_s), ("evaluate", train_s, train_s + predict_s)])
    return PipelineResult(
        name=name, accuracy=accuracy, train_seconds=train_s, predict_seconds=predict_s,
        images_per_second=30 / predict_s, device=device,
        gpu_util_percent_mean=None if gpu is None else float(np.mean(gpu)),
        gpu_util_percent_max=None if gpu is None else float(np.max(gpu)),
        gpu_util_samples=0 if gpu is None else len(gpu),
        peak_gpu_memory_bytes=None if gpu is None else 123_456_789,
        cpu_util_percent_mean=60.0, peak_rss_bytes=900_000_000,
        stages=[StageResult(n, device, b - a) for n, a, b in stages],
        per_class_accuracy=[accuracy, 1.0, accuracy - 0.1],
        confusion_matrix=[[9, 1, 0], [0, 10, 0], [1, 1, 8]],
        details={"note": "hand-made"},
        misclassified=[MisclassifiedExample(index=3, label=0, prediction=1, image=encode_image(image)),
                       MisclassifiedExample(index=7, label=2, prediction=0, image=encode_image(image[::-1]))],
        timeline=_timeline(train_s + predict_s, stages, gpu),
    )


def hand_made(devices: tuple[str, ...] = ("cpu", "cuda:0")) -> CompareResults:
    """hog-svm and cnn on each device; the cuda runs have GPU readings, the CNN's busier than the SVM's."""
    times = {"cpu": (123.0, 4.0), "cuda:0": (10.0, 0.1)}
    busy = {"hog-svm": 15.0, "cnn": 95.0}
    pipelines = [
        _pipeline(name, device, *times[device], 0.9 if name == "hog-svm" else 0.95,
                  [busy[name]] * 20 if device.startswith("cuda") else None)
        for name in ("hog-svm", "cnn") for device in devices
    ]
    return CompareResults(
        dataset=DatasetInfo(name="shapes", train_size=90, test_size=30, image_shape=[8, 8, 1], num_classes=3,
                            source="hand-made", class_names=CLASSES, load_seconds=0.1),
        device=",".join(devices), seed=0, environment={"featvslearn": "test"}, pipelines=pipelines,
        settings={"skipped_files": []}, created="2026-01-01T00:00:00+00:00", total_seconds=140.0,
    )


def image_links(markdown_text: str) -> list[str]:
    return [unquote(link) for link in re.findall(r"!\[[^\]]*\]\(([^)]+)\)", markdown_text)]


# --------------------------------------------------------------------------- figures
def test_every_figure_builds_from_hand_made_results() -> None:
    results = hand_made()
    figures = compare_figures(results)
    keys = run_keys(results)
    assert keys == ["hog-svm-on-cpu", "hog-svm-on-cuda-0", "cnn-on-cpu", "cnn-on-cuda-0"]
    assert set(figures) == {"timeline", "per-class-accuracy"} | {f"confusion-{k}" for k in keys} | {
        f"misclassified-{k}" for k in keys}
    for figure in figures.values():
        assert isinstance(figure, Figure)
    assert plots.png_bytes(figures["timeline"]).startswith(PNG_SIGNATURE)
    # no GPU readings: the panel says so instead of drawing an empty line
    titles = [ax.get_title(loc="left") for ax in figures["timeline"].axes]
    assert titles == ["hog-svm on cpu — no GPU readings: CPU only", "hog-svm on cuda:0",
                      "cnn on cpu — no GPU readings: CPU only", "cnn on cuda:0"]
    assert [len(ax.get_lines()) for ax in figures["timeline"].axes] == [1, 2, 1, 2]


def test_figure_functions_take_plain_values() -> None:
    matrix = [[5, 1], [2, 7]]
    figure = plots.confusion_matrix_figure(matrix, ["a", "b"], "title")
    assert [t.get_text() for t in figure.axes[0].texts] == ["5", "1", "2", "7"]  # counts, ≤ 15 classes
    many = plots.confusion_matrix_figure(np.eye(20, dtype=int).tolist(), [str(i) for i in range(20)], "t")
    assert len(many.axes[0].texts) == 0  # too many classes for numbers
    bars = plots.per_class_accuracy_figure([("x", [0.9, 0.8]), ("y", [0.95, 0.7])], ["a", "b"])
    assert len(bars.axes[0].patches) == 4
    grid = plots.misclassified_figure(hand_made().pipelines[0].misclassified, CLASSES, "wrong")
    assert [ax.get_xlabel() for ax in grid.axes if ax.axison] == ["disc\n→ bars", "cross\n→ disc"]


def test_same_figure_gives_the_same_png_bytes() -> None:
    results = hand_made()
    first = plots.png_bytes(compare_figures(results)["confusion-cnn-on-cpu"])
    again = plots.png_bytes(compare_figures(results)["confusion-cnn-on-cpu"])
    assert first == again


def test_images_round_trip_through_png_strings() -> None:
    rng = np.random.default_rng(0)
    for shape in ((8, 8, 1), (5, 7, 3)):
        image = rng.integers(0, 256, shape, dtype=np.uint8)
        assert np.array_equal(decode_image(encode_image(image)), image)
    with pytest.raises(UserError, match="not a base64 PNG"):
        decode_image("not an image")


# --------------------------------------------------------------------------- speed-ups
def test_speed_up_arithmetic_and_column() -> None:
    results = hand_made()
    ups = speed_ups(results)
    assert ups[0] is None and ups[2] is None  # the first device is the baseline
    assert ups[1].train == pytest.approx(12.3) and ups[1].predict == pytest.approx(40.0)
    assert ups[1].baseline_device == "cpu"
    assert fmt_speed_up_cell(ups[1]) == "12.3× train / 40.0× predict"
    assert table_headers(results)[-1] == "speed-up vs cpu"
    assert [row[-1] for row in table_rows(results)] == ["baseline", "12.3× train / 40.0× predict"] * 2
    single = hand_made(("cpu",))
    assert speed_ups(single) == [None, None]
    assert table_headers(single) == report.HEADERS
    assert all(len(row) == len(report.HEADERS) for row in table_rows(single))
    text = markdown(results)
    assert "| speed-up vs cpu |" in text and "| hog-svm | cuda:0 |" in text


def test_speed_ups_of_very_large_and_zero_times() -> None:
    results = hand_made()
    results.pipelines[1].train_seconds = 0.5
    results.pipelines[1].predict_seconds = 0.0
    assert fmt_speed_up_cell(speed_ups(results)[1]) == "246× train / – predict"


def test_reading_names_the_biggest_speed_up_and_gpu_use() -> None:
    text = reading(hand_made())
    assert text.startswith("On cpu: **cnn won**")
    assert "The biggest speed-up over cpu: inference of hog-svm on cuda:0, 40.0× (300 against 8 images/s)." in text
    assert "Mean GPU utilisation: hog-svm on cuda:0 15%, cnn on cuda:0 95%." in text
    slower = hand_made()
    for p in slower.pipelines[1::2]:
        p.train_seconds, p.predict_seconds = 500.0, 8.0
    assert "No run was faster than on cpu" in reading(slower)


def test_labels_tell_repeated_devices_apart() -> None:
    results = hand_made(("cpu", "cpu"))
    results.pipelines = [dataclasses.replace(p, device="cpu") for p in results.pipelines]
    assert run_labels(results) == ["hog-svm on cpu", "hog-svm on cpu #2", "cnn on cpu", "cnn on cpu #2"]
    assert run_keys(results)[1] == "hog-svm-on-cpu-2"
    assert len(set(compare_figures(results))) == 10


# --------------------------------------------------------------------------- Markdown and files
def test_markdown_links_resolve_and_report_rerenders_the_same_bytes(tmp_path: Path) -> None:
    path = tmp_path / "two devices.json"  # a space and a second device
    write_json(hand_made(), path)
    first, again = tmp_path / "a" / "my report.md", tmp_path / "b" / "my report.md"
    for out in (first, again):
        out.parent.mkdir()
        result = invoke("report", str(path), "--out", str(out))
        assert result.exit_code == 0, result.output
        assert "speed-up vs cpu" in result.stdout
    text = first.read_text()
    assert text == again.read_text()
    links = image_links(text)
    assert len(links) == 10 and all(link.startswith("my report-plots/") for link in links)
    for link in links:
        assert (first.parent / link).is_file() and (again.parent / link).is_file()
        assert (first.parent / link).read_bytes() == (again.parent / link).read_bytes()
    assert sorted(p.name for p in (first.parent / "my report-plots").iterdir()) == sorted(
        Path(link).name for link in links)
    for heading in ("### Utilisation over time", "## Per-class accuracy", "## Confusion matrices",
                    "## Misclassified test images"):
        assert heading in text


def test_old_results_without_the_new_fields_still_render(tmp_path: Path) -> None:
    data = hand_made(("cpu",)).to_dict()
    for p in data["pipelines"]:
        del p["misclassified"], p["timeline"]
    old = tmp_path / "old.json"
    old.write_text(json.dumps(data, indent=2))
    loaded = read_json(old)
    assert loaded.pipelines[0].misclassified == [] and loaded.pipelines[0].timeline is None
    assert set(compare_figures(loaded)) == {"per-class-accuracy", "confusion-hog-svm", "confusion-cnn"}
    assert invoke("report", str(old), "--out", str(tmp_path / "old.md")).exit_code == 0
    text = (tmp_path / "old.md").read_text()
    assert "Misclassified" not in text and "Utilisation over time" not in text
    assert all((tmp_path / link).is_file() for link in image_links(text))
    # older still: no per-class figures either, so no plots folder at all
    for p in data["pipelines"]:
        del p["per_class_accuracy"], p["confusion_matrix"]
    old.write_text(json.dumps(data))
    assert invoke("report", str(old), "--out", str(tmp_path / "older.md")).exit_code == 0
    assert "![" not in (tmp_path / "older.md").read_text()
    assert not (tmp_path / "older-plots").exists()


def test_json_keeps_lists_of_values_on_one_line(tmp_path: Path) -> None:
    results = hand_made()
    path = tmp_path / "r.json"
    write_json(results, path)
    text = path.read_text()
    assert json.loads(text) == json.loads(json.dumps(results.to_dict()))
    assert '"confusion_matrix": [\n' in text and "        [9, 1, 0],\n" in text
    assert re.search(r'"t_seconds": \[0\.0, [^\n]*\],\n', text)
    assert len(text.splitlines()) < 400
    assert dumps({"a": [], "b": {}, "c": [[]]}) == '{\n  "a": [],\n  "b": {},\n  "c": [\n    []\n  ]\n}'


def test_a_plots_folder_that_is_a_file_is_refused_before_any_work(tmp_path: Path) -> None:
    (tmp_path / "out-plots").write_text("not a folder")
    result = invoke("compare", "--report", str(tmp_path / "out.md"))
    assert result.exit_code == 2 and "out-plots is a file" in result.stderr
    results = tmp_path / "r.json"
    write_json(hand_made(), results)
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


def test_an_interrupted_report_leaves_no_plots_folder(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    def interrupted(*args: object) -> None:
        raise KeyboardInterrupt

    monkeypatch.setattr(report, "atomic_write_text", interrupted)
    with pytest.raises(KeyboardInterrupt):
        write_markdown(hand_made(("cpu",)), tmp_path / "r.md")
    assert list(tmp_path.iterdir()) == []
    monkeypatch.setattr(plots, "png_bytes", interrupted)
    with pytest.raises(KeyboardInterrupt):
        write_markdown(hand_made(("cpu",)), tmp_path / "r.md")
    assert list(tmp_path.iterdir()) == []


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
    """NVML as seen through NvmlGpu: a busy GPU whose readings climb by 1 % per sample."""

    available = True

    def __init__(self) -> None:
        self.reading = 0.0

    def utilisation_percent(self) -> float:
        self.reading += 1.0
        return self.reading


def test_timeline_keeps_simulated_gpu_readings_and_stage_windows() -> None:
    monitor = Monitor(torch.device("cpu"), interval_s=0.01)
    monitor.gpu = FakeGpu()  # type: ignore[assignment]
    with monitor:
        with monitor.stage("train", "cpu"):
            sum(i * i for i in range(300_000))
        with monitor.stage("predict", "cpu"):
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
    assert len(links) == 10 and all((two_runs / link).is_file() for link in links)
    assert "| speed-up vs cpu |" in text and "hog-svm on cpu #2" in text
    loaded = read_json(two_runs / "out.json")
    assert all(up is None or (up.train and up.train > 0) for up in speed_ups(loaded))


def test_report_reproduces_the_real_runs_markdown_and_plots(two_runs: Path, tmp_path: Path) -> None:
    again = tmp_path / "out.md"
    result = invoke("report", str(two_runs / "out.json"), "--out", str(again))
    assert result.exit_code == 0, result.output
    assert again.read_text() == (two_runs / "out.md").read_text()
    for png in (two_runs / "out-plots").iterdir():
        assert (tmp_path / "out-plots" / png.name).read_bytes() == png.read_bytes()


def test_misclassified_examples_are_real_mistakes(two_runs: Path) -> None:
    results = read_json(two_runs / "out.json")
    config = CompareConfig(dataset="digits", device="cpu", train_size=150, test_size=60).validated()
    split, _ = load_data(config)
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
