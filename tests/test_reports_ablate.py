"""The ablation report: the reading, what each change did, the table, Markdown and figures."""

from __future__ import annotations

import dataclasses

from featvslearn.reports import ablate
from featvslearn.reports.ablate import HEADERS, REPORT_HEADERS, factors, figures, markdown, reading, table
from tests.hand_made import ablate_results


def test_reading_names_the_best_and_worst_variant_and_the_gap() -> None:
    results = ablate_results()
    text = reading(results)
    assert "**relu-bn did best** with 90.0% test accuracy; **sigmoid-plain did worst** with 33.3%" in text
    assert "56.7 points (17 test images) behind" in text
    assert "sigmoid-plain stayed within 5 points of chance (33%): it barely learned" in text
    assert "sigmoid-plain diverged" in text
    one = dataclasses.replace(results, variants=results.variants[:1])
    assert reading(one) == ("relu-bn reached 90.0% test accuracy with 90 training images, 2 epochs, the same "
                            "schedule and seed.")
    assert reading(dataclasses.replace(results, variants=[])) == "No variant was trained."


def test_factors_compare_only_the_pairs_that_were_trained() -> None:
    assert factors(ablate_results()) == [
        "Batch norm: +10.0 points (relu-plain 80.0% → relu-bn 90.0%)",
        "ReLU instead of sigmoid: +46.7 points (sigmoid-plain 33.3% → relu-plain 80.0%)",
    ]


def test_table_shows_each_variant_and_marks_the_best() -> None:
    content = table(ablate_results())
    assert content.headers == HEADERS and content.text_columns == 1
    assert HEADERS == ["variant", "lr", "parameters", "accuracy", "train s", "final loss"]  # fits 80 columns
    assert content.rows[0] == ["relu-bn", "0.2", "1,234", "0.9000", "2.50", "0.500"]
    assert content.rows[2][-1] == "diverged"
    assert content.best == {(0, HEADERS.index("accuracy"))}
    assert content.title == "CNN ablation on shapes: 90 train / 30 test images, 2 epochs each, device cpu"


def test_budget_says_where_the_learning_rate_factors_were_fixed() -> None:
    results = ablate_results()  # a file written before lr_source was recorded: the rule alone
    assert "(the lr column): the trainer's rate for every variant but relu-plain\n" in markdown(results)
    sourced = dataclasses.replace(results, settings={**results.settings, "lr_source": "a validation split"})
    assert ("(the lr column): the trainer's rate for every variant but relu-plain; the factors were fixed by a "
            "validation split, not measured on the shapes data of this run\n") in markdown(sourced)


def test_markdown_sections_and_figures() -> None:
    results = ablate_results()
    text = markdown(results)
    for section in ("## Result", "What each change did", "## Variants", "## The same budget for every variant",
                    "## Loss per epoch", "## Stages", "## Dataset", "## Environment"):
        assert section in text
    assert "## Training loss" not in text and "![" not in text
    linked = markdown(results, {"loss-curves": "p/loss-curves.png", "accuracy": "p/accuracy.png"})
    assert "## Training loss\n\n![training loss per variant, by epoch](p/loss-curves.png)" in linked
    assert "## Test accuracy\n\n![test accuracy per variant](p/accuracy.png)" in linked
    assert "| sigmoid-plain | 1.100 | – |" in text
    # the report's table states each variant's make-up, which the terminal's leaves to the name
    assert "| " + " | ".join(REPORT_HEADERS) + " |" in text
    assert "| relu-bn | relu | yes | – | 3 | 0.2 | 1,234 | 0.9000 | 2.50 | 0.500 |" in text
    assert list(figures(results)) == ["loss-curves", "loss-seconds", "accuracy"]
    assert figures(dataclasses.replace(results, variants=[])) == {}


def test_reading_of_equal_and_tied_variants() -> None:
    results = ablate_results()
    for v in results.variants:
        v.accuracy = 0.9
    assert reading(results).startswith("Every variant reached the same test accuracy, 90.0%, with the same budget "
                                       "(90 training images, 2 epochs, the same schedule and seed).")
    assert "did best" not in reading(results) and "behind" not in reading(results)
    results.variants[2].accuracy = 0.5
    assert reading(results).startswith("**relu-bn and relu-plain did best** with 90.0% test accuracy; "
                                       "**sigmoid-plain did worst** with 50.0%, 40.0 points (12 test images) behind")


def test_reading_of_a_small_gap_says_it_may_be_chance() -> None:
    results = dataclasses.replace(ablate_results(), variants=ablate_results().variants[:2])
    results.variants[1].accuracy = 0.9 - 1 / 30
    results.variants[0].accuracy_interval, results.variants[1].accuracy_interval = (0.74, 0.97), (0.70, 0.95)
    text = reading(results)
    assert "**relu-plain did worst** with 86.7%, 3.3 points (1 test image) behind" in text
    assert text.endswith("Their 95 % intervals overlap, so this gap may be chance.")
    results.variants[1].accuracy_interval = (0.40, 0.60)
    assert "may be chance" not in reading(results)


def test_long_training_is_summarised_and_short_training_shown_per_epoch() -> None:
    results = ablate_results()
    assert "| variant | 1 | 2 |" in markdown(results)  # two epochs: every one shown
    losses = [1.0 - 0.02 * i for i in range(40)]
    results.variants = [dataclasses.replace(v, loss_per_epoch=losses if v.name != "sigmoid-plain" else
                                            [1.1] * 5 + [None] * 35, seconds_per_epoch=[0.5] * 40)
                        for v in results.variants]
    text = markdown(results)
    section = text.split("## Loss per epoch")[1].split("## Stages")[0]
    assert "| variant | epochs | first epoch | last epoch | lowest | seconds |" in section
    assert "| relu-bn | 40 | 1.000 | 0.220 | 0.220 (epoch 40) | 20.0 |" in section
    assert "| sigmoid-plain | 40 | 1.100 | diverged | 1.100 (epoch 1) | 20.0 |" in section
    assert len(section.strip().splitlines()) == 7 and "plot above" not in section
    assert "the training loss plot above shows every epoch" in markdown(results, {"loss-curves": "p/l.png"})


def test_warnings_of_a_small_test_set_name_the_variants() -> None:
    results = ablate_results()
    results.machine_busy = False
    assert ablate.warnings(results) == []
    results.dataset.test_size = 15
    assert ablate.warnings(results) == [
        "only about 5.0 test images per class (15 in all, 3 classes): accuracies move in steps of 6.7 points (one "
        "test image), per-class accuracies in steps of about 20 points; differences between variants are not "
        "reliable; use at least 10 test images per class"
    ]
    assert "> **Warning:** only about 5.0 test images per class" in markdown(results)
