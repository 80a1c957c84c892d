"""featvslearn scaling: sizes, the crossover, the JSON, the report and the command line, on small data."""

from __future__ import annotations

import dataclasses
import hashlib
import json
import math
import re
from pathlib import Path
from typing import Any

import numpy as np
import pytest
from typer.testing import CliRunner

from featvslearn.cli import app
from featvslearn.datasets import load_split
from featvslearn.errors import UserError
from featvslearn.experiments.config import ScalingConfig
from featvslearn.experiments.scaling import default_sizes, find_crossover, run_scaling
from featvslearn.measure import Monitor
from featvslearn.pipelines import PIPELINES, RunContext
from featvslearn.results import read_json

runner = CliRunner()

SIZES = [50, 150, 400]
SEEDS = [0, 1]
SMALL = ["--sizes", "400,50,150,150", "--seeds", "2", "--epochs", "8", "--device", "cpu"]
TOP_LEVEL = {"schema_version", "kind", "dataset", "device", "seed", "seeds", "sizes", "environment", "settings",
             "pipelines", "crossover", "created", "total_seconds", "machine_busy", "null_reasons"}
RUN_KEYS = {"train_size", "seed", "accuracy", "train_seconds", "other_load_percent_mean", "machine_busy"}


def invoke(*args: str):
    return runner.invoke(app, list(args))


def _digest(array: np.ndarray) -> str:
    return hashlib.sha256(np.ascontiguousarray(array).tobytes()).hexdigest()


@pytest.fixture(scope="module")
def scaling_run(tmp_path_factory: pytest.TempPathFactory) -> dict[str, Any]:
    """One CLI run on digits (3 sizes × 2 seeds × hog-svm, cnn), recording what each pipeline was given."""
    folder = tmp_path_factory.mktemp("scaling")
    seen: list[dict[str, Any]] = []

    def spy(name: str) -> Any:
        function = PIPELINES[name].run

        def wrapper(context: RunContext) -> Any:
            split = context.split
            if isinstance(context.monitor, Monitor):  # the measured run, not its warm-up on a small slice
                seen.append({"pipeline": name, "seed": context.settings.seed, "train_size": len(split.train),
                             "train": _digest(split.train.images),
                             "classes": np.bincount(split.train.labels).tolist(),
                             "test": _digest(split.test.images) + _digest(split.test.labels)})
            return function(context)
        return dataclasses.replace(PIPELINES[name], run=wrapper)

    with pytest.MonkeyPatch.context() as patch:
        patch.setitem(PIPELINES, "hog-svm", spy("hog-svm"))
        patch.setitem(PIPELINES, "cnn", spy("cnn"))
        result = invoke("scaling", *SMALL, "--json", str(folder / "scaling.json"), "--report",
                        str(folder / "scaling.md"))
    assert result.exit_code == 0, result.output
    return {"folder": folder, "result": result, "seen": seen,
            "data": json.loads((folder / "scaling.json").read_text())}


# ------------------------------------------------------------------------ the JSON


def test_json_has_exactly_the_specified_structure(scaling_run: dict[str, Any]) -> None:
    data = scaling_run["data"]
    assert set(data) == TOP_LEVEL
    assert data["schema_version"] == 2 and data["kind"] == "scaling"
    assert isinstance(data["machine_busy"], bool)
    assert data["sizes"] == SIZES and data["seeds"] == SEEDS and data["seed"] == 0
    assert data["device"] == "cpu"
    assert data["dataset"]["name"] == "digits" and data["dataset"]["train_size"] == 1347
    assert data["dataset"]["test_size"] == 450 and data["dataset"]["num_classes"] == 10
    assert list(data["pipelines"]) == ["hog-svm", "cnn"]
    for runs in data["pipelines"].values():
        for run in runs:
            assert set(run) == RUN_KEYS
            assert isinstance(run["train_size"], int) and isinstance(run["seed"], int)
            assert 0.0 <= run["accuracy"] <= 1.0 and run["train_seconds"] > 0
    assert set(data["crossover"]) == {"hog-svm"}
    assert set(data["crossover"]["hog-svm"]) == {"size", "estimate", "between", "reason"}
    assert data["settings"]["cnn_epochs_per_size"] == {"50": 8, "150": 8, "400": 8}
    assert {"python", "torch", "cpu"} <= set(data["environment"])


def test_every_size_and_seed_is_present_once_per_pipeline(scaling_run: dict[str, Any]) -> None:
    for runs in scaling_run["data"]["pipelines"].values():
        pairs = [(run["train_size"], run["seed"]) for run in runs]
        assert sorted(pairs) == [(size, seed) for size in SIZES for seed in SEEDS]


def test_each_run_trains_on_its_own_stratified_subsample_and_tests_on_the_same_set(
        scaling_run: dict[str, Any]) -> None:
    seen = scaling_run["seen"]
    assert len(seen) == len(SIZES) * len(SEEDS) * 2
    assert len({record["test"] for record in seen}) == 1  # one test set, images and labels, for every run
    fractions = np.bincount(load_split("digits", seed=0).train.labels) / 1347
    for record in seen:
        assert record["train_size"] in SIZES
        # stratified: each class keeps its share of the training set, to within one image
        assert np.all(np.abs(np.array(record["classes"]) - record["train_size"] * fractions) < 1)
    for size in SIZES:
        subsets = {(r["seed"], r["train"]) for r in seen if r["train_size"] == size}
        assert len({train for _, train in subsets}) == len(SEEDS)  # a seed of its own, a subset of its own
        for pipeline in ("hog-svm", "cnn"):  # both pipelines get the same subset for a (size, seed)
            assert {(r["seed"], r["train"]) for r in seen if r["train_size"] == size and r["pipeline"] == pipeline} \
                == subsets


def test_terminal_shows_the_plan_and_accuracy_with_spread(scaling_run: dict[str, Any]) -> None:
    result = scaling_run["result"]
    assert "12 runs: 3 sizes" in result.stderr
    assert "cnn accuracy" in result.stdout and "±" in result.stdout
    for size in SIZES:
        assert str(size) in result.stdout


def test_same_seed_gives_identical_accuracies_whatever_the_other_sizes(scaling_run: dict[str, Any],
                                                                       tmp_path: Path) -> None:
    again = tmp_path / "again.json"
    result = invoke("scaling", "--sizes", "150", "--seeds", "2", "--epochs", "8", "--device", "cpu",
                    "--json", str(again))
    assert result.exit_code == 0, result.output
    repeated = json.loads(again.read_text())["pipelines"]
    for name, runs in scaling_run["data"]["pipelines"].items():
        first = [(r["seed"], r["accuracy"]) for r in runs if r["train_size"] == 150]
        assert first == [(r["seed"], r["accuracy"]) for r in repeated[name]]


# ------------------------------------------------------------------ report and plots

LINK = re.compile(r"!\[[^\]]*\]\(([^)]+)\)")


def test_report_rerenders_identical_markdown_whose_images_exist(scaling_run: dict[str, Any], tmp_path: Path) -> None:
    folder = scaling_run["folder"]
    first = (folder / "scaling.md").read_text()
    links = LINK.findall(first)
    assert links == ["scaling-plots/accuracy-vs-size.png", "scaling-plots/train-seconds-vs-size.png"]
    target = tmp_path / "scaling.md"  # the same name elsewhere: links are relative, so the text is the same
    result = invoke("report", str(folder / "scaling.json"), "--out", str(target))
    assert result.exit_code == 0, result.output
    assert target.read_text() == first
    for report in (folder / "scaling.md", target):
        for link in links:
            image = report.parent / link
            assert image.is_file() and image.read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"
    assert "cnn accuracy" in result.stdout


@pytest.mark.parametrize(
    ("mutate", "fragment"),
    [
        (lambda d: {**d, "pipelines": {"cnn": d["pipelines"]["cnn"][1:]}}, "exactly one run per size and seed"),
        (lambda d: {**d, "pipelines": {"cnn": [{**r, "extra": 1} for r in d["pipelines"]["cnn"]]}},
         "unknown field 'extra'"),
        (lambda d: {**d, "pipelines": {"cnn": [{**r, "accuracy": 1.5} for r in d["pipelines"]["cnn"]]}}, "[0, 1]"),
        (lambda d: {**d, "sizes": [True, 150, 400]}, "should be of type int"),
        (lambda d: {k: v for k, v in d.items() if k != "crossover"}, "missing 'crossover'"),
        (lambda d: {**d, "crossover": {"hog-svm": {"size": 3}}}, "missing 'estimate'"),
        (lambda d: {**d, "schema_version": 3}, "schema version"),
    ],
    ids=["missing-run", "extra-key", "accuracy", "bool-size", "no-crossover", "bad-crossover", "schema"],
)
def test_malformed_scaling_results_are_a_user_error(scaling_run: dict[str, Any], mutate: Any, fragment: str,
                                                    tmp_path: Path) -> None:
    bad = tmp_path / "bad.json"
    bad.write_text(json.dumps(mutate(scaling_run["data"])))
    with pytest.raises(UserError, match=re.escape(fragment)):
        read_json(bad)


# ------------------------------------------------------------------------- mistakes


@pytest.mark.parametrize(
    ("args", "fragment"),
    [
        (["--sizes", "5,100"], "from 10 (one image per class) to 1347"),
        (["--sizes", "100,5000"], "--sizes 5000 is out of range"),
        (["--sizes", "100,abc"], "'abc' is not a whole number"),
        (["--sizes", "0,100"], "not a positive number"),
        (["--sizes", ","], "--sizes is empty"),
        (["--seeds", "0"], "--seeds must be between 1"),
        (["--seed", str(2**32 - 2), "--seeds", "3"], "--seeds 3"),
        (["--pipelines", "hog-svm,resnet"], "unknown pipeline"),
    ],
    ids=["below-classes", "above-train-set", "not-a-number", "zero", "empty", "seeds-0", "seed-overflow",
         "pipeline"],
)
def test_bad_options_end_with_one_line_and_exit_code_2(args: list[str], fragment: str, tmp_path: Path) -> None:
    result = invoke("scaling", *args, "--device", "cpu", "--json", str(tmp_path / "r.json"))
    assert result.exit_code == 2, result.output
    assert "Traceback" not in result.output
    lines = [line for line in result.stderr.splitlines() if line.strip()]
    assert lines[-1].startswith("error:") and sum(line.startswith("error:") for line in lines) == 1, result.stderr
    assert fragment in lines[-1]
    assert list(tmp_path.iterdir()) == []


def test_ctrl_c_stops_cleanly_and_writes_nothing(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    def interrupted(*args: object, **kwargs: object) -> None:
        raise KeyboardInterrupt

    monkeypatch.setitem(PIPELINES, "cnn", dataclasses.replace(PIPELINES["cnn"], run=interrupted))
    result = invoke("scaling", *SMALL, "--json", str(tmp_path / "r.json"), "--report", str(tmp_path / "r.md"))
    assert result.exit_code == 130
    assert "Traceback" not in result.output
    assert list(tmp_path.iterdir()) == []


# ------------------------------------------------------------------------ library


def test_learned_svm_reuses_the_cnn_of_the_same_size_and_seed(monkeypatch: pytest.MonkeyPatch) -> None:
    trained, given = [], []
    run_cnn, run_learned_svm = PIPELINES["cnn"].run, PIPELINES["learned-svm"].run

    def cnn(context: RunContext) -> Any:
        output = run_cnn(context)
        if isinstance(context.monitor, Monitor):
            trained.append(context.products["cnn"])
        return output

    def probe(context: RunContext) -> Any:
        if isinstance(context.monitor, Monitor):
            given.append(context.products.get("cnn"))
        return run_learned_svm(context)

    monkeypatch.setitem(PIPELINES, "cnn", dataclasses.replace(PIPELINES["cnn"], run=cnn))
    monkeypatch.setitem(PIPELINES, "learned-svm", dataclasses.replace(PIPELINES["learned-svm"], run=probe))
    progress: dict[str, tuple[float, float | None]] = {}
    config = ScalingConfig(device="cpu", pipelines=("learned-svm", "cnn"), epochs=2, sizes=(60,),
                           seeds=2).validated()
    results = run_scaling(config, progress=lambda key, text, done, total: progress.__setitem__(key, (done, total)))
    assert len(trained) == 2 and [g is t for g, t in zip(given, trained, strict=True)] == [True, True]
    assert list(results.pipelines) == ["learned-svm", "cnn"]  # the user's order
    assert results.crossover == {}  # no hand-engineered pipeline to overtake
    assert progress["scaling"] == (4, 4)


# ------------------------------------------------------------------ default sizes


@pytest.mark.parametrize(
    ("n_train", "classes", "sizes"),
    [
        (60_000, 10, [100, 300, 1000, 3000, 10_000, 30_000, 60_000]),  # Fashion-MNIST, MNIST
        (50_000, 10, [100, 300, 1000, 3000, 10_000, 30_000, 50_000]),  # CIFAR-10
        (1347, 10, [100, 300, 1000, 1347]),  # digits
        (12_000, 10, [100, 300, 1000, 3000, 12_000]),  # 10,000 is within 25 % of the whole set: left out
        (48, 3, [30, 48]),
        (20, 3, [20]),
        (5000, 43, [300, 1000, 3000, 5000]),  # 430 is nearer 300 than 1000 on a log scale
    ],
)
def test_default_sizes_span_ten_per_class_to_the_whole_set(n_train: int, classes: int, sizes: list[int]) -> None:
    assert default_sizes(n_train, classes) == sizes


# ---------------------------------------------------------------------- crossover


def test_crossover_when_the_cnn_is_ahead_everywhere() -> None:
    crossover = find_crossover([100, 300, 1000], [0.8, 0.9, 0.95], [0.7, 0.85, 0.9])
    assert (crossover.size, crossover.estimate, crossover.between) == (None, None, None)
    assert crossover.reason == "the CNN is ahead at every size"


def test_crossover_when_the_cnn_never_overtakes() -> None:
    crossover = find_crossover([100, 300, 1000], [0.6, 0.7, 0.8], [0.7, 0.8, 0.8])  # level at the end is not ahead
    assert (crossover.size, crossover.estimate, crossover.between) == (None, None, None)
    assert crossover.reason == "the CNN never overtakes in this range"


def test_crossover_crossing_once_is_interpolated_in_log_size() -> None:
    crossover = find_crossover([100, 1000, 10_000], [0.60, 0.83, 0.95], [0.70, 0.80, 0.90])
    assert crossover.size == 1000 and crossover.between == [100, 1000]
    # the difference goes from -0.10 to +0.03: it crosses 10/13 of the way from log 100 to log 1000
    assert crossover.estimate == pytest.approx(10 ** (2 + 10 / 13))
    assert "from 1,000 training images on" in crossover.reason


def test_crossover_that_dips_back_counts_from_where_the_cnn_stays_ahead() -> None:
    sizes = [100, 300, 1000, 3000, 10_000]
    cnn = [0.50, 0.75, 0.78, 0.86, 0.92]
    other = [0.60, 0.70, 0.80, 0.84, 0.88]  # the CNN leads at 300, falls behind at 1000, leads from 3000
    crossover = find_crossover(sizes, cnn, other)
    assert crossover.size == 3000 and crossover.between == [1000, 3000]
    assert 1000 < crossover.estimate < 3000
    assert math.log(crossover.estimate / 1000) / math.log(3) == pytest.approx(0.5)  # -0.02 then +0.02


def test_crossover_when_the_cnn_falls_behind_at_the_largest_size() -> None:
    crossover = find_crossover([100, 300, 1000], [0.8, 0.9, 0.9], [0.7, 0.85, 0.95])
    assert crossover.size is None and crossover.reason == "the CNN does not stay ahead up to the largest size"


def test_crossover_at_a_level_size_starts_from_it() -> None:
    crossover = find_crossover([100, 300], [0.7, 0.9], [0.7, 0.8])  # level at 100, ahead at 300
    assert crossover.size == 300 and crossover.estimate == pytest.approx(100)


def test_crossover_refuses_inconsistent_curves() -> None:
    with pytest.raises(ValueError):
        find_crossover([100, 300], [0.5], [0.5, 0.6])
    with pytest.raises(ValueError):
        find_crossover([300, 100], [0.5, 0.6], [0.5, 0.6])
    with pytest.raises(ValueError):
        find_crossover([], [], [])


def test_crossover_reason_says_whether_the_lead_is_beyond_the_spread_across_seeds() -> None:
    sizes, cnn, other = [100, 300, 1000], [0.6, 0.85, 0.95], [0.7, 0.8, 0.9]
    beyond = find_crossover(sizes, cnn, other, ["beyond", "beyond", "beyond"])
    assert beyond.size == 300
    assert beyond.reason.startswith("the CNN is ahead from 300 training images on, beyond the spread across seeds; "
                                    "the curves cross near")
    within = find_crossover(sizes, cnn, other, ["beyond", "within", "beyond"])
    assert within.size == 300  # the size is the means'; the reason says the lead is not beyond the spread there
    assert within.reason.startswith("the CNN is ahead from 300 training images on, but within the spread across "
                                    "seeds at 300 images; the curves cross near")
    one_seed = find_crossover(sizes, cnn, other, ["unknown"] * 3)
    assert one_seed.reason.startswith("the CNN is ahead from 300 training images on (one seed: no spread across "
                                      "seeds is known); the curves cross near")


def test_crossover_reason_without_a_crossover_qualifies_the_lead_or_the_last_size() -> None:
    ahead = find_crossover([100, 300], [0.8, 0.9], [0.7, 0.8], ["within", "beyond"])
    assert ahead.reason == "the CNN is ahead at every size, but within the spread across seeds at 100 images"
    assert find_crossover([100, 300], [0.8, 0.9], [0.7, 0.8], ["beyond", "beyond"]).reason == (
        "the CNN is ahead at every size, beyond the spread across seeds")
    never = find_crossover([100, 300], [0.6, 0.7], [0.7, 0.8], ["beyond", "within"])
    assert never.reason == ("the CNN never overtakes in this range; at 300 images the two are within the spread "
                            "across seeds")
    with pytest.raises(ValueError, match="one verdict per size"):
        find_crossover([100, 300], [0.6, 0.7], [0.7, 0.8], ["beyond"])
