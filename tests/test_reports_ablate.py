"""The ablation report: the reading, what each change did, the table, Markdown and figures."""

from __future__ import annotations

import dataclasses

from featvslearn.reports.ablate import HEADERS, factors, figures, markdown, reading, table
from tests.hand_made import ablate_results


def test_reading_names_the_best_and_worst_variant_and_the_gap() -> None:
    results = ablate_results()
    text = reading(results)
    assert "**relu-bn did best** with 90.0% test accuracy; **sigmoid-plain did worst** with 33.3%" in text
    assert "56.7 points behind" in text
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
    assert content.headers == HEADERS and content.text_columns == 2
    assert content.rows[0] == ["relu-bn", "relu", "yes", "–", "3", "0.2", "1,234", "0.9000", "2.50", "0.500"]
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
    assert "## Training loss\n\n![training loss per variant](p/loss-curves.png)" in linked
    assert "## Test accuracy\n\n![test accuracy per variant](p/accuracy.png)" in linked
    assert "| sigmoid-plain | 1.100 | – |" in text
    assert list(figures(results)) == ["loss-curves", "accuracy"]
    assert figures(dataclasses.replace(results, variants=[])) == {}
