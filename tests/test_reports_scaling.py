"""The scaling report: who leads at each size, the crossover, the table, Markdown and figures."""

from __future__ import annotations

import dataclasses

from matplotlib.figure import Figure

from featvslearn.reports import scaling
from featvslearn.reports.scaling import figures, markdown, reading, table
from featvslearn.results import Crossover, ImageSizing, ScalingResults
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
    text = reading(scaling_results())  # each seed's runs 1 point either side of the mean, in both pipelines
    assert text.startswith("At 30 training images (10 per class) **hog-svm leads**: 80.0% ± 1.4% against "
                           "70.0% ± 1.4% for cnn, 10.0 points ahead, beyond the spread across seeds.")
    assert "At 90 training images (30 per class, the whole training set) **cnn leads**" in text
    assert ("**The CNN overtakes hog-svm from 60 training images on**, beyond the spread across seeds at every size "
            "from there; the curves cross near 56 images, between 30 and 60 (interpolated in log size).") in text
    assert "means ± sample standard deviation over 2 seeds" in text and "same 30 images" in text
    assert ("a lead counts as beyond the spread across seeds where the 95 % intervals of the two means do not "
            "overlap or a paired t-test over the seeds finds it (p < 0.05)") in text


def test_reading_of_one_seed_claims_no_lead_and_no_crossover() -> None:
    text = reading(scaling_results(seeds=(0,)))
    assert text.startswith("At 30 training images (10 per class) hog-svm scored higher: 80.0% against 70.0% for "
                           "cnn, 10.0 points apart, from one seed, so no spread across seeds is known. ")
    assert ("The CNN's accuracy is above hog-svm's from 60 training images on; the curves cross near 56 images, "
            "between 30 and 60 (interpolated in log size); but with one seed no spread across seeds is known, so "
            "the crossover is not established.") in text
    assert "leads" not in text and "overtakes" not in text and "from one seed (0)" in text


def _set_seeds(results: ScalingResults, name: str, size_index: int, accuracies: list[float]) -> None:
    """Give ``name``'s runs at ``results.sizes[size_index]`` these accuracies, one per seed in order."""
    size = results.sizes[size_index]
    runs = sorted((r for r in results.pipelines[name] if r.train_size == size), key=lambda r: r.seed)
    for run, accuracy in zip(runs, accuracies, strict=True):
        run.accuracy = accuracy


def test_reading_of_a_lead_within_the_spread_across_seeds() -> None:
    results = scaling_results()
    _set_seeds(results, "cnn", 0, [0.80, 0.70])  # against hog-svm's 0.79 and 0.81: the seeds disagree
    assert reading(results).startswith(
        "At 30 training images (10 per class) hog-svm's mean is higher: 80.0% ± 1.4% against 75.0% ± 7.1% for cnn, "
        "5.0 points apart, within the spread across seeds. ")


def test_reading_of_a_crossover_within_the_spread_is_not_established() -> None:
    results = scaling_results()
    _set_seeds(results, "cnn", 1, [0.90, 0.82])  # mean 0.86 against 0.85, but the second seed is behind
    text = reading(results)
    assert ("The CNN's mean is above hog-svm's from 60 training images on; the curves cross near 56 images, between "
            "30 and 60 (interpolated in log size); but at 60 images the two are within the spread across seeds, so "
            "the crossover is not established.") in text
    assert "overtakes" not in text


def test_reading_when_the_cnn_is_ahead_everywhere_or_absent() -> None:
    results = scaling_results()
    _set_seeds(results, "cnn", 0, [0.89, 0.91])  # ahead of hog-svm by 10 points in each seed
    ahead = dataclasses.replace(results, crossover={"hog-svm": Crossover(None, None, None,
                                                                         "the CNN is ahead at every size")})
    assert ("Against hog-svm there is no crossover in this range: the CNN is ahead at every size, beyond the spread "
            "across seeds, already at 30 images; smaller sizes would be needed to find it.") in reading(ahead)
    _set_seeds(results, "cnn", 0, [0.90, 0.90])  # ahead by 11 and by 9 points: within the spread with 2 seeds
    assert ("Against hog-svm there is no crossover in this range: the CNN's mean is above at every size, but at 30 "
            "images the two are within the spread across seeds.") in reading(ahead)
    alone = dataclasses.replace(results, pipelines={"hog-svm": results.pipelines["hog-svm"]}, crossover={})
    assert "At 30 training images (10 per class) hog-svm reached 80.0%." in reading(alone)
    assert "The CNN was not run" in reading(alone)
    assert "No crossover to find" in markdown(alone)


def test_reading_when_the_cnn_never_overtakes() -> None:
    results = scaling_results()
    for index in range(3):
        _set_seeds(results, "cnn", index, [0.60, 0.62])
    never = dataclasses.replace(results, crossover={"hog-svm": Crossover(None, None, None,
                                                                         "the CNN never overtakes in this range")})
    assert ("Against hog-svm there is no crossover between 30 and 90 training images: the CNN never overtakes in "
            "this range.") in reading(never)
    _set_seeds(results, "cnn", 2, [0.80, 0.90])  # mean 0.85 against 0.87: behind, within the spread
    assert ("Against hog-svm there is no crossover between 30 and 90 training images: the CNN never overtakes in "
            "this range; at 90 images the two are within the spread across seeds.") in reading(never)


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


def _set(results: ScalingResults, name: str, size_index: int, accuracy: float | None = None,
         seconds: float | None = None) -> None:
    """Give every seed's run of ``name`` at ``results.sizes[size_index]`` this accuracy and these seconds."""
    size = results.sizes[size_index]
    for run in results.pipelines[name]:
        if run.train_size == size:
            run.accuracy = run.accuracy if accuracy is None else accuracy
            run.train_seconds = run.train_seconds if seconds is None else seconds


def test_reading_of_a_tie_says_level_and_of_a_tiny_gap_says_how_tiny() -> None:
    results = scaling_results(seeds=(0,))
    _set(results, "hog-svm", 0, accuracy=0.8)
    _set(results, "cnn", 0, accuracy=0.8)
    text = reading(results)
    assert text.startswith("At 30 training images (10 per class) hog-svm and cnn are level at 80.0%. ")
    assert "leads" not in text.split("At 90")[0]
    _set(results, "cnn", 0, accuracy=0.801)
    assert reading(results).startswith("At 30 training images (10 per class) cnn and hog-svm are level: 80.1% and "
                                       "80.0%, less than 0.2 points apart. ")
    seeds = scaling_results()
    _set(seeds, "cnn", 0, accuracy=0.8)
    _set(seeds, "hog-svm", 0, accuracy=0.8)
    assert reading(seeds).startswith("At 30 training images (10 per class) hog-svm and cnn are level at 80.0% "
                                     "(± 0.0% and ± 0.0% over the seeds). ")


def test_reading_compares_training_times_honestly() -> None:
    results = scaling_results(seeds=(0,))
    assert "At 90 images cnn took 8.0× as long to train as hog-svm (12.0 s against 1.50 s)." in reading(results)
    _set(results, "hog-svm", -1, seconds=11.5)
    text = reading(results)
    assert "At 90 images hog-svm and cnn trained in about the same time (hog-svm 11.5 s, cnn 12.0 s)." in text
    assert "1.0×" not in text
    _set(results, "hog-svm", -1, seconds=12.0)  # exactly equal: not "cnn took 1.0× as long as cnn"
    assert "trained in about the same time (hog-svm 12.0 s, cnn 12.0 s)" in reading(results)
    _set(results, "hog-svm", -1, seconds=0.0)
    assert "At 90 images the training times were hog-svm 0.00 s, cnn 12.0 s." in reading(results)


def test_warnings_of_a_small_test_set_and_mixed_image_sizes() -> None:
    results = scaling_results()
    results.machine_busy = False
    assert scaling.warnings(results) == []
    results.dataset.test_size = 12  # 3 classes: 4 per class on average
    assert scaling.warnings(results) == [
        "only about 4.0 test images per class (12 in all, 3 classes): accuracies move in steps of 8.3 points (one "
        "test image), per-class accuracies in steps of about 25 points; differences between pipelines are not "
        "reliable; use at least 10 test images per class"
    ]
    results.dataset.sizing = ImageSizing(height=8, width=8, method="crop", images=120, resized=20, fitted=20,
                                         distinct_sizes=2, min_height=8, max_height=16, min_width=8, max_width=8)
    assert scaling.warnings(results)[1].startswith("mixed image sizes: the 120 images came in 2 sizes")
    text = markdown(results)
    assert "> **Warning:** mixed image sizes" in text and "- image sizes: the 120 images came in 2 sizes" in text
