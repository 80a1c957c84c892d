"""The scaling report: who leads at each size, the crossover, the table, Markdown and figures."""

from __future__ import annotations

import dataclasses

from matplotlib.figure import Figure

from featvslearn.reports.scaling import figures, markdown, reading, table
from featvslearn.results import Crossover
from tests.hand_made import scaling_results


def test_markdown_reads_the_smallest_and_largest_size() -> None:
    results = scaling_results()
    text = markdown(results, {})
    assert text.startswith("# Scaling: hog-svm vs cnn on shapes, 30 to 90 training images\n")
    for section in ("## Result", "## Accuracy by training-set size", "## Crossover", "## Training time",
                    "## Every run", "## Dataset", "## Settings", "## Environment"):
        assert section in text
    assert "| 60 | 20 | 0.8500 ± 0.0141 | 0.8600 ± 0.0141 |" in text
    assert "![" not in text  # no figures linked when none were written


def test_reading_names_the_leaders_the_crossover_and_the_spread() -> None:
    text = reading(scaling_results())
    assert text.startswith("At 30 training images (10 per class) **hog-svm leads**: 80.0% ± 1.4% against "
                           "70.0% ± 1.4% for cnn, 10.0 points ahead.")
    assert "At 90 training images (30 per class, the whole training set) **cnn leads**" in text
    assert "**The CNN overtakes hog-svm from 60 training images on**; the curves cross near 56 images" in text
    assert "means ± sample standard deviation over 2 seeds" in text and "same 30 images" in text
    one_seed = reading(scaling_results(seeds=(0,)))
    assert "80.0% against 70.0%" in one_seed and "from one seed (0)" in one_seed


def test_reading_when_the_cnn_is_ahead_everywhere_or_absent() -> None:
    results = scaling_results()
    ahead = dataclasses.replace(results, crossover={"hog-svm": Crossover(None, None, None,
                                                                         "the CNN is ahead at every size")})
    assert "the CNN is ahead at every size, already at 30 images" in reading(ahead)
    alone = dataclasses.replace(results, pipelines={"hog-svm": results.pipelines["hog-svm"]}, crossover={})
    assert "At 30 training images (10 per class) hog-svm reached 80.0%." in reading(alone)
    assert "The CNN was not run" in reading(alone)
    assert "No crossover to find" in markdown(alone)


def test_table_marks_the_best_accuracy_of_each_size() -> None:
    content = table(scaling_results())
    assert content.headers == ["train images", "per class", "hog-svm accuracy", "hog-svm train s", "cnn accuracy",
                               "cnn train s"]
    assert content.rows[0] == ["30", "10", "0.8000 ± 0.0141", "0.50", "0.7000 ± 0.0141", "4.00"]
    assert content.best == {(0, 2), (1, 4), (2, 4)} and content.text_columns == 0
    assert content.caption.startswith("hog-svm: the CNN is ahead from 60 training images on")
    assert "(mean ± std over 2 seeds)" in content.title
    assert "(mean over 1 seed)" in table(scaling_results(seeds=(0,))).title


def test_figures_are_the_accuracy_and_the_time_against_size() -> None:
    drawn = figures(scaling_results())
    assert list(drawn) == ["accuracy-vs-size", "train-seconds-vs-size"]
    assert all(isinstance(figure, Figure) for figure in drawn.values())
    legend = [t.get_text() for t in drawn["accuracy-vs-size"].axes[0].get_legend().get_texts()]
    assert legend == ["hog-svm", "cnn", "cnn overtakes hog-svm: ≈ 56 images"]


def test_markdown_gives_the_interval_of_each_mean_across_seeds() -> None:
    text = markdown(scaling_results())
    # hog-svm at 30 images: runs 0.79 and 0.81, mean 0.80, standard error 0.01, t(0.975, 1 df) = 12.706;
    # cnn at 90 images: mean 0.95 + 0.127 passes 1 and is clipped
    assert "| 30 | 0.6729 – 0.9271 | 0.5729 – 0.8271 |" in text
    assert "| 90 | 0.7429 – 0.9971 | 0.8229 – 1.0000 |" in text
    assert "interval of the mean" not in markdown(scaling_results(seeds=(0,)))
