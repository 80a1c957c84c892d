"""compare --seeds N: every pipeline trained with N seeds on the same split, summarised and tested per seed."""

from __future__ import annotations

import dataclasses
import json
from pathlib import Path

import numpy as np
import pytest
from typer.testing import CliRunner

from featvslearn.cli import app
from featvslearn.errors import UserError
from featvslearn.reports import compare, compare_seeds, more_tables
from featvslearn.results import CompareResults, PairedTest, SeedRun, encode_correct, read_json, write_json
from featvslearn.stats import pairwise_tests_over_seeds
from tests.hand_made import compare_results, shapes_dataset

N = 200


def _right(count: int, offset: int = 0) -> np.ndarray:
    """(N,) bool: ``count`` test images right, starting at ``offset`` (wrapping round)."""
    right = np.zeros(N, dtype=bool)
    right[(np.arange(count) + offset) % N] = True
    return right


def seeded_results(correct: dict[int, dict[str, np.ndarray]],
                   seconds: dict[str, float] | None = None) -> CompareResults:
    """hand-made results of hog-svm and cnn on one CPU over the seeds of ``correct``, with their tests."""
    seconds = seconds or {"hog-svm": 1.0, "cnn": 10.0}
    base = compare_results(("cpu",))
    first = min(correct)
    pipelines = [dataclasses.replace(p, accuracy=float(correct[first][p.name].mean()),
                                     correct=encode_correct(correct[first][p.name]), accuracy_interval=None)
                 for p in base.pipelines]
    runs = [SeedRun(pipeline=name, device="cpu", seed=seed, accuracy=float(right.mean()),
                    train_seconds=seconds[name] + seed, predict_seconds=0.5, correct=encode_correct(right))
            for seed, by_name in correct.items() for name, right in by_name.items()]
    return dataclasses.replace(base, dataset=shapes_dataset(test_size=N), seed=first, pipelines=pipelines,
                               seed_runs=runs, tests=[PairedTest(**t) for t in pairwise_tests_over_seeds(correct)])


def test_a_verdict_when_the_test_on_every_seed_finds_the_difference() -> None:
    results = seeded_results({s: {"hog-svm": _right(120), "cnn": _right(180 + s)} for s in range(3)})
    assert compare.reading(results).startswith(
        "**cnn beat** hog-svm on every one of the 3 seeds: 90.5 ± 0.5 % against 60.0 ± 0.0 % on 200 test images, "
        "mean ± sd (an exact McNemar test on each seed, Holm-adjusted over the 1 pair × 3 seeds; largest p < 0.001). "
        "hog-svm trained 5.5× faster (2.00 s against 11.0 s), so cnn's higher accuracy cost training time.")
    assert compare.reading(results).endswith("Times are medians over the 3 seeds.")


def test_no_verdict_when_a_seed_does_not_show_it() -> None:
    # seeds 0 and 1: cnn right on 40 more images; seed 2: the same images right as hog-svm
    results = seeded_results({0: {"hog-svm": _right(120), "cnn": _right(160)},
                              1: {"hog-svm": _right(120), "cnn": _right(160)},
                              2: {"hog-svm": _right(120), "cnn": _right(122)}})
    assert compare.reading(results).startswith(
        "No consistent difference between cnn and hog-svm over 3 seeds: 73.7 ± 11.0 % against 60.0 ± 0.0 % on 200 "
        "test images, mean ± sd; cnn was significantly more accurate on 2 of the 3 seeds (an exact McNemar test "
        "on each seed, Holm-adjusted over the 1 pair × 3 seeds; a verdict needs every seed). hog-svm trained "
        "5.5× faster (2.00 s against 11.0 s), with no consistent difference in accuracy.")


def test_no_verdict_when_no_seed_shows_a_difference() -> None:
    results = seeded_results({s: {"hog-svm": _right(120), "cnn": _right(121, offset=s)} for s in range(2)})
    assert "the difference was significant on none of them" in compare.reading(results)
    assert "beat" not in compare.reading(results)


def test_equal_on_every_seed_reads_equally_accurate() -> None:
    results = seeded_results({s: {"hog-svm": _right(150), "cnn": _right(150)} for s in range(2)})
    assert compare.reading(results).startswith(
        "hog-svm and cnn are equally accurate on every one of the 2 seeds: 75.0 ± 0.0 % against 75.0 ± 0.0 %")


def test_the_seeds_table_and_report_show_every_seed() -> None:
    results = seeded_results({s: {"hog-svm": _right(120 + s), "cnn": _right(180 - 2 * s)} for s in range(3)})
    (table,) = more_tables(results)
    assert table.title == "over 3 training seeds (0–2), the same split"
    assert table.rows == [["hog-svm", "cpu", "0.6050 ± 0.0050", "0.6000 – 0.6100", "2.00", "1.00 – 3.00"],
                          ["cnn", "cpu", "0.8900 ± 0.0100", "0.8800 – 0.9000", "11.0", "10.0 – 12.0"]]
    report = compare.markdown(results)
    assert "· seeds 0–2 ·" in report
    assert "| cnn | cpu | 0.8900 ± 0.0100 | 0.8800 – 0.9000 | 11.0 | 10.0 – 12.0 | 0.9000 | 0.8900 | 0.8800 |" in report
    assert "hog-svm vs cnn seed 2: p < 0.001" in report


def test_one_seed_shows_no_seeds_table() -> None:
    assert more_tables(compare_results(("cpu",))) == []
    assert "## Over" not in compare.markdown(compare_results(("cpu",)))


def test_the_seed_runs_round_trip_and_are_checked(tmp_path: Path) -> None:
    results = seeded_results({s: {"hog-svm": _right(120), "cnn": _right(180)} for s in range(2)})
    write_json(results, tmp_path / "r.json")
    assert read_json(tmp_path / "r.json").seed_runs == results.seed_runs
    data = json.loads((tmp_path / "r.json").read_text())
    del data["seed_runs"][0]
    (tmp_path / "bad.json").write_text(json.dumps(data))
    with pytest.raises(UserError, match="one run per seed"):
        read_json(tmp_path / "bad.json")


def test_seeds_out_of_range_is_a_one_line_error() -> None:
    done = CliRunner().invoke(app, ["compare", "--seeds", "0"])
    assert done.exit_code == 2
    assert "--seeds must be between 1 and 100, got 0" in done.output


def test_compare_with_two_seeds_keeps_the_first_seeds_results(tmp_path: Path) -> None:
    args = ["compare", "--dataset", "digits", "--device", "cpu", "--pipelines", "hog-svm,cnn", "--epochs", "2",
            "--train-size", "400", "--test-size", "200"]
    one, two = tmp_path / "one.json", tmp_path / "two.json"
    assert CliRunner().invoke(app, [*args, "--json", str(one)]).exit_code == 0
    done = CliRunner().invoke(app, [*args, "--seeds", "2", "--json", str(two), "--report", str(tmp_path / "r.md")])
    assert done.exit_code == 0, done.output
    single, seeded = read_json(one), read_json(two)
    assert [p.accuracy for p in seeded.pipelines] == [p.accuracy for p in single.pipelines]
    assert [p.confusion_matrix for p in seeded.pipelines] == [p.confusion_matrix for p in single.pipelines]
    assert seeded.seeds == [0, 1] and seeded.settings["seeds"] == 2
    assert sorted((r.pipeline, r.seed) for r in seeded.seed_runs) == [("cnn", 0), ("cnn", 1),
                                                                       ("hog-svm", 0), ("hog-svm", 1)]
    assert [t.seed for t in seeded.tests] == [0, 1]
    assert "over 2 training seeds (0–1)" in done.output
    assert "## Over 2 seeds" in (tmp_path / "r.md").read_text()
    assert compare_seeds.seeded(seeded)
