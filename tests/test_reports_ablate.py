"""The ablation report: the reading, what each change did, the table, Markdown and figures."""

from __future__ import annotations

import dataclasses

from featvslearn.reports import ablate
from featvslearn.reports.ablate import HEADERS, REPORT_HEADERS, figures, markdown, table
from featvslearn.reports.ablate_reading import effects, factors, reading, significance_setting
from featvslearn.results import AblateResults, VariantResult, encode_correct
from tests.hand_made import _variant as hand_made_variant
from tests.hand_made import ablate_results


def _variant(name: str, right: int, losses: tuple[float, ...] = (1.0, 0.5), seconds: tuple[float, ...] = (1.0, 1.0),
             **changes: object) -> VariantResult:
    """A variant that labelled the first ``right`` of the 30 test images right (so of two variants, the less
    accurate one got a subset of the other's right), with these per-epoch losses and seconds."""
    return dataclasses.replace(hand_made_variant(name, right / 30, list(losses)),
                               correct=encode_correct([i < right for i in range(30)]),
                               accuracy_interval=None, seconds_per_epoch=list(seconds), **changes)


def _results(*variants: VariantResult) -> AblateResults:
    results = ablate_results()
    return dataclasses.replace(results, variants=list(variants),
                               settings={**results.settings, "steps": 8, "epochs": 2})


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
    assert factors(ablate_results()) == [  # a file without per-image results: no test
        "Batch norm: relu-plain 80.0% → relu-bn 90.0%, +10.0 points (not tested)",
        "ReLU instead of sigmoid: sigmoid-plain 33.3% → relu-plain 80.0%, +46.7 points (not tested)",
    ]


def test_factors_say_a_difference_only_where_the_mcnemar_test_finds_one() -> None:
    results = _results(_variant("sigmoid-plain", 10), _variant("relu-plain", 29), _variant("relu-bn", 28))
    assert factors(results) == [
        "Batch norm: relu-plain 96.7% → relu-bn 93.3%, within noise (-3.3 points, McNemar p = 1.00)",
        "ReLU instead of sigmoid: sigmoid-plain 33.3% → relu-plain 96.7%, +63.3 points (McNemar p < 0.001)",
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


def test_reading_of_a_gap_within_noise_says_so() -> None:
    results = _results(_variant("relu-bn", 27), _variant("relu-plain", 26))
    assert reading(results) == (
        "relu-bn had the highest test accuracy, 90.0%, and relu-plain the lowest, 86.7%: 3.3 points (1 test image) "
        "apart, within noise (McNemar p = 1.00) — with the same budget for every variant (90 training images, 2 "
        "epochs, the same schedule and seed). The difference is judged by an exact McNemar test on the 30 test "
        "images both variants share (one comparison, so no adjustment); below 0.05 counts as a difference, "
        "otherwise it is within noise.")


def test_reading_of_a_gap_beyond_noise_names_the_best_and_worst_and_the_holm_adjustment() -> None:
    results = _results(_variant("relu-bn", 29), _variant("relu-plain", 28), _variant("sigmoid-plain", 10))
    text = reading(results)
    assert text.startswith("**relu-bn did best** with 96.7% test accuracy; **sigmoid-plain did worst** with 33.3%, "
                           "63.3 points (19 test images) behind (McNemar p < 0.001) — with the same budget")
    # best against worst, the activations' pair, and batch norm's
    assert text.endswith("Differences are judged by exact McNemar tests on the 30 test images every variant shares, "
                         "p-values Holm-adjusted over the 3 comparisons of this reading (its lessons and the effect "
                         "of each change included); below 0.05 counts as a difference, otherwise it is within noise.")
    tests = significance_setting(results)
    assert [(t["variants"], round(t["p_value"], 6), round(t["p_value_holm"], 6)) for t in tests] == [
        (["relu-bn", "sigmoid-plain"], round(2 * 0.5 ** 19, 6), round(3 * 2 * 0.5 ** 19, 6)),
        (["relu-plain", "sigmoid-plain"], round(2 * 0.5 ** 18, 6), round(2 * 2 * 0.5 ** 18, 6)),
        (["relu-plain", "relu-bn"], 1.0, 1.0),
    ]
    assert tests[0] | {"p_value": 0, "p_value_holm": 0} == {
        "variants": ["relu-bn", "sigmoid-plain"], "test": "mcnemar-exact", "p_value": 0, "p_value_holm": 0,
        "a_only": 19, "b_only": 0, "n": 30}


def test_reading_of_a_file_without_per_image_results_says_there_is_no_test() -> None:
    text = reading(ablate_results())
    assert "33.3%, 56.7 points (17 test images) behind (no significance test) — with" in text
    assert text.endswith("No significance test (this results file has no per-image results).")
    mixed = _results(_variant("relu-bn", 29), _variant("relu-plain", 28), _variant("sigmoid-plain", 10))
    mixed.variants[1].correct = None
    assert reading(mixed).endswith("relu-plain has no per-image results in this file, so comparisons with it carry "
                                   "no significance test.")


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


# --------------------------------------------------------------------------- lessons, each shown and not shown
def test_activations_all_well_above_chance_and_a_difference_within_noise() -> None:
    results = _results(_variant("sigmoid-plain", 25), _variant("tanh-plain", 28), _variant("relu-plain", 29))
    assert effects(results)[0] == (
        "Shallow networks (3 weight layers), each with the initialisation and learning rate chosen for its "
        "activation: sigmoid 83.3%, tanh 93.3%, ReLU 96.7% test accuracy; all three well above chance (33%). "
        "Against ReLU, the most accurate: sigmoid within noise of it (13.3 points behind, McNemar p = 0.25); tanh "
        "within noise of it (3.3 points behind, McNemar p = 1.00).")


def test_activations_one_near_chance_is_named_and_not_counted_as_learning() -> None:
    results = _results(_variant("sigmoid-plain", 10), _variant("tanh-plain", 14), _variant("relu-plain", 29))
    assert effects(results)[0] == (
        "Shallow networks (3 weight layers), each with the initialisation and learning rate chosen for its "
        "activation: sigmoid 33.3%, tanh 46.7%, ReLU 96.7% test accuracy; ReLU well above chance (33%), tanh above "
        "it by less than 20 points, sigmoid near it. Against ReLU, the most accurate: sigmoid 63.3 points behind "
        "(McNemar p < 0.001); tanh 50.0 points behind (McNemar p < 0.001).")


def test_lenet5_against_its_modern_form_beyond_and_within_noise() -> None:
    beyond = _results(_variant("lenet5", 10), _variant("relu-bn", 28))
    assert effects(beyond) == ["LeNet-5 as published in 1998 (tanh, average pooling) reached 33.3%; the same shape "
                               "with ReLU, max pooling and batch norm (relu-bn) 93.3%, +60.0 points (McNemar p < "
                               "0.001)."]
    within = _results(_variant("lenet5", 27), _variant("relu-bn", 28))
    assert effects(within) == ["LeNet-5 as published in 1998 (tanh, average pooling) reached 90.0%; the same shape "
                               "with ReLU, max pooling and batch norm (relu-bn) 93.3%, within noise (+3.3 points, "
                               "McNemar p = 1.00)."]


def test_deep_sigmoid_stalls_or_learns_as_the_numbers_say() -> None:
    stalled = _results(_variant("sigmoid-deep-plain", 10, losses=(1.1, 1.09)), _variant("relu-deep-bn", 29))
    assert effects(stalled) == [
        "At 3 weight layers, sigmoid without batch norm reached 33.3% against 96.7% for ReLU with batch norm, +63.3 "
        "points (McNemar p < 0.001): the sigmoid network stayed near chance (33%), its training loss ending at 1.09 "
        "where guessing gives 1.10, while ReLU with batch norm trained — the pattern of gradients fading through "
        "stacked sigmoids."]
    learned = _results(_variant("sigmoid-deep-plain", 28), _variant("relu-deep-bn", 29))
    assert effects(learned) == [
        "At 3 weight layers, sigmoid without batch norm reached 93.3% against 96.7% for ReLU with batch norm, within "
        "noise (+3.3 points, McNemar p = 1.00): here the sigmoid network learned as well as ReLU with batch norm, "
        "within noise (60.0 points above chance, 33%)."]


def test_batch_norm_reaches_the_plain_final_loss_sooner_or_not() -> None:
    def speed(losses: tuple[float, ...], seconds: tuple[float, ...] = (1.0, 1.0)) -> list[str]:
        # relu-plain ends at 0.7, first reached in the window ending at 1.5 epochs (6 of 8 steps, 1.5 s)
        return effects(_results(_variant("relu-plain", 28, losses=(1.0, 0.7)),
                                _variant("relu-bn", 28, losses=losses, seconds=seconds)))

    plain = ("relu-plain first reached its final training loss, 0.700, after 1.5 epochs (6 steps, 1.5 s) of its 2 "
             "epochs")
    assert speed((0.6, 0.5)) == [f"Batch norm reached the plain network's final training loss sooner: {plain}; "
                                 "relu-bn got there after 0.5 epochs (2 steps, 0.5 s)."]
    assert speed((0.9, 0.7)) == [f"Here batch norm did not reach the plain network's final training loss sooner: "
                                 f"{plain}; relu-bn got there after 1.5 epochs (6 steps, 1.5 s)."]
    assert speed((0.9, 0.8)) == [f"Here batch norm did not reach the plain network's final training loss at all: "
                                 f"{plain}; relu-bn's ended at 0.800."]
    assert speed((0.6, 0.5), seconds=(4.0, 4.0)) == [
        f"Batch norm reached the plain network's final training loss in fewer epochs but not sooner in seconds, its "
        f"epochs costing more: {plain}; relu-bn got there after 0.5 epochs (2 steps, 2.0 s)."]


def test_dropout_with_few_images_raises_accuracy_or_stays_within_noise() -> None:
    def dropout(right: int, correct: bool = True) -> list[str]:
        results = _results(_variant("relu-bn-small", 10, train_images=60),
                           _variant("relu-bn-dropout-small", right, train_images=60, dropout=0.5, losses=(1.0, 0.6)))
        if not correct:
            for v in results.variants:
                v.correct = None
        return effects(results)

    assert dropout(28) == ["With 60 training images, dropout (rate 0.5) raised test accuracy from 33.3% to 93.3%, "
                           "+60.0 points (McNemar p < 0.001); the training loss ended at 0.500 without and 0.600 "
                           "with it."]
    assert dropout(11) == ["With 60 training images, dropout (rate 0.5) did not change test accuracy beyond noise: "
                           "33.3% without, 36.7% with it (+3.3 points, McNemar p = 1.00); the training loss ended at "
                           "0.500 without and 0.600 with it."]
    assert dropout(11, correct=False) == [
        "With 60 training images, dropout (rate 0.5) moved test accuracy from 33.3% to 36.7%, +3.3 points (not "
        "tested); the training loss ended at 0.500 without and 0.600 with it."]
