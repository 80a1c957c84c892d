"""The ablation's reading, computed from its numbers: which variant did best, what each change did to
test accuracy, and what the variants show about activations, batch norm and dropout.

Every accuracy difference between two variants is called a difference only when an exact McNemar test
on the shared test images finds one (p-values Holm-adjusted over the reading's comparisons); otherwise
it is "within noise". The table, Markdown and figures are in :mod:`featvslearn.reports.ablate`.
"""

from __future__ import annotations

import math
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

import numpy as np

from featvslearn.reports.shared import fmt_names
from featvslearn.results import AblateResults, VariantResult, decode_correct
from featvslearn.stats import SIGNIFICANCE, format_p_value, holm, mcnemar_exact

# (variant without the factor, variant with it, what the factor is), read in this order
FACTORS = [
    ("relu-plain", "relu-bn", "Batch norm"),
    ("relu-bn", "relu-bn-dropout", "Dropout"),
    ("relu-bn-small", "relu-bn-dropout-small", "Dropout with few training images"),
    ("sigmoid-plain", "relu-plain", "ReLU instead of sigmoid"),
    ("tanh-plain", "relu-plain", "ReLU instead of tanh"),
    ("lenet5", "tanh-plain", "Max instead of average pooling (tanh)"),
    ("relu-plain", "relu-deep-plain", "Four times the convolutions without normalisation (ReLU)"),
    ("sigmoid-plain", "sigmoid-deep-plain", "Four times the convolutions without normalisation (sigmoid)"),
    ("sigmoid-deep-plain", "relu-deep-bn", "ReLU and batch norm in the deep network"),
    ("sigmoid-deep-plain", "sigmoid-deep-bn", "Batch norm in the deep sigmoid network"),
]



# --------------------------------------------------------------------------- significance
@dataclass(frozen=True)
class PairTest:
    """An exact McNemar test of two variants on the test images they share.

    ``variants``: the two, A and B; ``a_only`` / ``b_only``: images only A / only B labelled
    right; ``n``: test images; ``p_value``: the test's two-sided p-value; ``p_value_holm``: it
    Holm-adjusted over every pair the reading tests (:func:`pair_tests`), the one read against
    :data:`~featvslearn.stats.SIGNIFICANCE`.
    """

    variants: tuple[str, str]
    a_only: int
    b_only: int
    n: int
    p_value: float
    p_value_holm: float

    @property
    def significant(self) -> bool:
        """Whether the adjusted p-value is below the significance level: a difference, not noise."""
        return self.p_value_holm < SIGNIFICANCE

    def as_setting(self) -> dict[str, Any]:
        """The test as the results' ``settings["tests"]`` holds it (plain JSON values)."""
        return {"variants": list(self.variants), "test": "mcnemar-exact", "p_value": self.p_value,
                "p_value_holm": self.p_value_holm, "a_only": self.a_only, "b_only": self.b_only, "n": self.n}


Tests = Mapping[frozenset[str], PairTest]
"""The tests of a reading, by the (unordered) pair of variant names."""

SHALLOW = (("sigmoid-plain", "sigmoid"), ("tanh-plain", "tanh"), ("relu-plain", "ReLU"))
"""The shallow networks that differ only in activation, and how the reading names each."""

WELL_ABOVE_CHANCE = 0.20
"""An accuracy this far (20 points) or more above chance is called well above it."""

NEAR_CHANCE = 0.05
"""An accuracy less than this far (5 points) above chance is called near it."""


def compared_pairs(results: AblateResults) -> list[tuple[str, str]]:
    """Every pair of variants the reading, its lessons and the effect of each change compare, once each,
    in the order they first appear."""
    variants = results.variants
    by_name = {v.name: v for v in variants}
    pairs: list[tuple[str, str]] = []
    if len(variants) >= 2:
        best = max(variants, key=lambda v: v.accuracy)
        worst = min(variants, key=lambda v: v.accuracy)
        if best.accuracy != worst.accuracy:
            pairs.append((best.name, worst.name))
    shallow = [by_name[name] for name, _ in SHALLOW if name in by_name]
    if len(shallow) >= 2:
        top = max(shallow, key=lambda v: v.accuracy)
        pairs += [(top.name, v.name) for v in shallow if v is not top]
    for a, b in (("lenet5", "relu-bn"), ("sigmoid-deep-plain", "relu-deep-bn"),
                 ("relu-bn-small", "relu-bn-dropout-small")):
        if a in by_name and b in by_name:
            pairs.append((a, b))
    pairs += [(without, with_) for without, with_, _ in FACTORS if without in by_name and with_ in by_name]
    seen: set[frozenset[str]] = set()
    unique = []
    for pair in pairs:
        if frozenset(pair) not in seen:
            seen.add(frozenset(pair))
            unique.append(pair)
    return unique


def _correct(v: VariantResult, test_size: int) -> np.ndarray | None:
    """The variant's per-test-image correctness, or None where the file has none (or none that fits)."""
    if v.correct is None or v.correct.length != test_size:
        return None
    return decode_correct(v.correct)


def pair_tests(results: AblateResults) -> dict[frozenset[str], PairTest]:
    """An exact McNemar test of each pair :func:`compared_pairs` names whose variants both hold per-image
    results, the p-values Holm-adjusted over all of them; pairs without are left out (not tested)."""
    by_name = {v.name: v for v in results.variants}
    raw = []
    for a, b in compared_pairs(results):
        correct_a, correct_b = (_correct(by_name[a], results.dataset.test_size),
                                _correct(by_name[b], results.dataset.test_size))
        if correct_a is not None and correct_b is not None:
            raw.append(((a, b), mcnemar_exact(correct_a, correct_b)))
    adjusted = holm([test.p_value for _, test in raw])
    return {frozenset(pair): PairTest(variants=pair, a_only=test.b, b_only=test.c, n=test.n, p_value=test.p_value,
                                      p_value_holm=p)
            for (pair, test), p in zip(raw, adjusted, strict=True)}


def significance_setting(results: AblateResults) -> list[dict[str, Any]]:
    """The tests of :func:`pair_tests` as plain JSON values, for the results' ``settings["tests"]``: each
    ``{"variants": [A, B], "test": "mcnemar-exact", "p_value", "p_value_holm", "a_only", "b_only", "n"}``."""
    return [test.as_setting() for test in pair_tests(results).values()]


def _points(a: float, b: float) -> str:
    """How far apart two accuracies are, in points, with a second decimal where one would show 0.0."""
    points = abs(a - b) * 100
    return f"{points:.1f} points" if points >= 0.05 or points == 0 else f"{points:.2f} points"


def _change(tests: Tests, before: VariantResult, after: VariantResult) -> str:
    """How test accuracy moved from ``before`` to ``after``: "+10.0 points (McNemar p < 0.001)", "within noise
    (+0.2 points, McNemar p = 1.00)", or "+0.2 points (not tested)" (no per-image results)."""
    points = (after.accuracy - before.accuracy) * 100
    shown = f"{points:+.1f} points" if abs(points) >= 0.05 or points == 0 else f"{points:+.2f} points"
    test = tests.get(frozenset((before.name, after.name)))
    if test is None:
        return f"{shown} (not tested)"
    p_text = f"McNemar {format_p_value(test.p_value_holm)}"
    return f"{shown} ({p_text})" if test.significant else f"within noise ({shown}, {p_text})"


def _versus(tests: Tests, reference: VariantResult, other: VariantResult) -> str:
    """Where ``other`` stands against ``reference``: "39.7 points behind (McNemar p < 0.001)", "within noise
    of it (0.4 points behind, McNemar p = 0.62)", or "2.0 points behind (not tested)"."""
    gap = other.accuracy - reference.accuracy
    where = "level with it" if gap == 0 else f"{_points(other.accuracy, reference.accuracy)} " + (
        "behind" if gap < 0 else "ahead")
    test = tests.get(frozenset((reference.name, other.name)))
    if test is None:
        return f"{where} (not tested)"
    p_text = f"McNemar {format_p_value(test.p_value_holm)}"
    if test.significant:
        return f"{where} ({p_text})"
    return f"within noise of it ({where}, {p_text})" if gap else f"{where} ({p_text})"


def _chance_words(v: VariantResult, chance: float) -> str:
    """"well above chance", "above chance", or "near chance" (within :data:`NEAR_CHANCE` of it)."""
    if v.accuracy >= chance + WELL_ABOVE_CHANCE:
        return "well above chance"
    return "near chance" if v.accuracy < chance + NEAR_CHANCE else "above chance"


def _test_note(results: AblateResults, tests: Tests) -> str:
    """How the reading's differences were judged: the test, the adjustment, the variants without per-image results."""
    pairs = compared_pairs(results)
    if not pairs:
        return ""
    if not tests:
        return "No significance test (this results file has no per-image results)."
    n = next(iter(tests.values())).n
    note = (f"Differences are judged by exact McNemar tests on the {n:,} test images every variant shares, "
            f"p-values Holm-adjusted over the {len(tests)} comparisons of this reading (its lessons and the "
            f"effect of each change included); below {SIGNIFICANCE:g} counts as a difference, otherwise it is "
            "within noise." if len(tests) > 1 else
            f"The difference is judged by an exact McNemar test on the {n:,} test images both variants share "
            f"(one comparison, so no adjustment); below {SIGNIFICANCE:g} counts as a difference, otherwise it "
            "is within noise.")
    untested = [v.name for v in results.variants
                if any(v.name in pair for pair in pairs) and _correct(v, results.dataset.test_size) is None]
    if untested:
        note += (f" {fmt_names(untested)} {'has' if len(untested) == 1 else 'have'} no per-image results in this "
                 "file, so comparisons with "
                 f"{'it' if len(untested) == 1 else 'them'} carry no significance test.")
    return note


# --------------------------------------------------------------------------- reading
def reading(results: AblateResults) -> str:
    """A short plain-language reading: the best and worst variant and whether the gap is beyond noise, which
    barely learned or diverged, and how the differences were tested."""
    variants = results.variants
    if not variants:
        return "No variant was trained."
    chance = 1 / max(results.dataset.num_classes, 1)
    best = max(variants, key=lambda v: v.accuracy)
    worst = min(variants, key=lambda v: v.accuracy)
    small = small_data_variants(results)
    budget = (f"{results.dataset.train_size:,} training images, {results.settings.get('epochs')} epochs"
              + "".join(f" ({v.train_images:,} images and {len(v.loss_per_epoch)} epochs for the small-data "
                        "variants)" for v in small[:1])
              + ", the same schedule and seed")
    if len(variants) == 1:
        return f"{best.name} reached {best.accuracy:.1%} test accuracy with {budget}."
    tests = pair_tests(results)
    if best.accuracy == worst.accuracy:
        lines = [f"Every variant reached the same test accuracy, {best.accuracy:.1%}, with the same budget ({budget})."]
    else:
        tops = [v.name for v in variants if v.accuracy == best.accuracy]
        bottoms = [v.name for v in variants if v.accuracy == worst.accuracy]
        gap = _gap(best, worst, results.dataset.test_size)
        test = tests.get(frozenset((best.name, worst.name)))
        if test is not None and not test.significant:
            lines = [f"{fmt_names(tops)} had the highest test accuracy, {best.accuracy:.1%}, and {fmt_names(bottoms)} "
                     f"the lowest, {worst.accuracy:.1%}: {gap} apart, within noise (McNemar "
                     f"{format_p_value(test.p_value_holm)}) — with the same budget for every variant ({budget})."]
        else:
            tested = (f" (McNemar {format_p_value(test.p_value_holm)})" if test is not None
                      else " (no significance test)")
            lines = [f"**{fmt_names(tops)} did best** with {best.accuracy:.1%} test accuracy; **{fmt_names(bottoms)} "
                     f"did worst** with {worst.accuracy:.1%}, {gap} behind{tested} — with the same budget for every "
                     f"variant ({budget})."]
    near_chance = [v.name for v in variants if v.accuracy < chance + NEAR_CHANCE]
    if near_chance:
        lines.append(f"{', '.join(near_chance)} stayed within 5 points of chance ({chance:.0%}): "
                     f"{'it' if len(near_chance) == 1 else 'they'} barely learned in this budget.")
    diverged = [v.name for v in variants if v.diverged]
    if diverged:
        lines.append(f"{', '.join(diverged)} diverged (the training loss stopped being a number).")
    lines.append(_test_note(results, tests))
    return " ".join(line for line in lines if line)


def small_data_variants(results: AblateResults) -> list[VariantResult]:
    """The variants trained on fewer images than the run's (the small-data variants), in run order."""
    return [v for v in results.variants if v.train_images is not None and v.train_images < results.dataset.train_size]


def _gap(best: VariantResult, worst: VariantResult, test_images: int) -> str:
    """How far apart two accuracies are, in points and in test images: "64.7 points (291 test images)"."""
    points = (best.accuracy - worst.accuracy) * 100
    images = round((best.accuracy - worst.accuracy) * test_images)
    shown = f"{points:.1f} points" if points >= 0.1 else f"{points:.2f} points"
    return f"{shown} ({images:,} test image{'s' if images != 1 else ''})" if test_images > 0 else shown


def factors(results: AblateResults) -> list[str]:
    """What each change did to test accuracy, one line per pair of variants that differ in it, with its
    McNemar test (Holm-adjusted over the reading's comparisons): a difference, or within noise."""
    by_name = {v.name: v for v in results.variants}
    tests = pair_tests(results)
    lines = []
    for without, with_, factor in FACTORS:
        if without in by_name and with_ in by_name:
            before, after = by_name[without], by_name[with_]
            lines.append(f"{factor}: {without} {before.accuracy:.1%} → {with_} {after.accuracy:.1%}, "
                         f"{_change(tests, before, after)}")
    return lines


def effects(results: AblateResults) -> list[str]:
    """The lessons of the ablation, each one plain sentence with its numbers, for the variants present, each
    saying what the numbers show (the expected lesson, or that this run did not show it).

    The shallow networks' activations against chance and each other; LeNet-5 against its modern
    form; a deep sigmoid network against a deep ReLU + batch-norm one; whether batch norm reached
    the plain network's final training loss sooner; dropout with few training images.
    """
    by_name = {v.name: v for v in results.variants}
    tests = pair_tests(results)
    chance = 1 / max(results.dataset.num_classes, 1)
    lines = []
    shallow = [(label, by_name[name]) for name, label in SHALLOW if name in by_name]
    if len(shallow) >= 2:
        lines.append(_activation_sentence(shallow, tests, chance))
    if "lenet5" in by_name:
        lenet = by_name["lenet5"]
        modern = by_name.get("relu-bn")
        line = f"LeNet-5 as published in 1998 (tanh, average pooling) reached {lenet.accuracy:.1%}"
        if modern is not None:
            line += (f"; the same shape with ReLU, max pooling and batch norm (relu-bn) {modern.accuracy:.1%}, "
                     f"{_change(tests, lenet, modern)}")
        lines.append(line + ".")
    deep_sigmoid, deep_modern = by_name.get("sigmoid-deep-plain"), by_name.get("relu-deep-bn")
    if deep_sigmoid is not None and deep_modern is not None:
        lines.append(_deep_sentence(deep_sigmoid, deep_modern, tests, chance, results.dataset.num_classes))
    speed = _batch_norm_speed(by_name.get("relu-plain"), by_name.get("relu-bn"), results.settings)
    if speed:
        lines.append(speed)
    small, dropout = by_name.get("relu-bn-small"), by_name.get("relu-bn-dropout-small")
    if small is not None and dropout is not None:
        lines.append(_dropout_sentence(small, dropout, tests, results.dataset.train_size))
    return lines


def _activation_sentence(shallow: list[tuple[str, VariantResult]], tests: Tests, chance: float) -> str:
    """Each shallow network's accuracy, whether it is well above chance or near it, and how the others
    stand against the most accurate."""
    groups: dict[str, list[str]] = {}
    for label, v in shallow:
        groups.setdefault(_chance_words(v, chance), []).append(label)
    if len(groups) == 1:
        words = next(iter(groups))
        every = "both" if len(shallow) == 2 else f"all {len(shallow)}" if len(shallow) != 3 else "all three"
        verdict = f"{every} {words} ({chance:.0%})"
    else:
        parts = []
        for words in ("well above chance", "above chance", "near chance"):
            if words in groups:
                shown = (words if not parts else words.replace("chance", "it")) + (
                    f" ({chance:.0%})" if not parts else "")
                if words == "above chance":
                    shown += f" by less than {WELL_ABOVE_CHANCE * 100:.0f} points"
                parts.append(f"{fmt_names(groups[words])} {shown}")
        verdict = ", ".join(parts)
    label_of = {v.name: label for label, v in shallow}
    top = max((v for _, v in shallow), key=lambda v: v.accuracy)
    others = "; ".join(f"{label_of[v.name]} {_versus(tests, top, v)}" for _, v in shallow if v is not top)
    depth = shallow[0][1].depth
    return (f"Shallow networks ({depth} weight layers), each with the initialisation and learning rate chosen for "
            f"its activation: " + ", ".join(f"{label} {v.accuracy:.1%}" for label, v in shallow)
            + f" test accuracy; {verdict}. Against {label_of[top.name]}, the most accurate: {others}.")


def _deep_sentence(sigmoid: VariantResult, modern: VariantResult, tests: Tests, chance: float,
                   num_classes: int) -> str:
    """The deep sigmoid network against the deep ReLU + batch-norm one: the difference, whether the sigmoid
    one stayed near chance, and the fading-gradient explanation only where the numbers fit it."""
    test = tests.get(frozenset((sigmoid.name, modern.name)))
    head = (f"At {sigmoid.depth} weight layers, sigmoid without batch norm reached {sigmoid.accuracy:.1%} against "
            f"{modern.accuracy:.1%} for ReLU with batch norm, {_change(tests, sigmoid, modern)}")
    loss = _last_loss(sigmoid)
    guess = math.log(num_classes) if num_classes > 1 else 0.0
    loss_text = f", its training loss ending at {loss:.2f} where guessing gives {guess:.2f}" if loss is not None else ""
    if sigmoid.accuracy < chance + NEAR_CHANCE:
        text = f"{head}: the sigmoid network stayed near chance ({chance:.0%}){loss_text}"
        if test is not None and test.significant and modern.accuracy > sigmoid.accuracy:
            text += (", while ReLU with batch norm trained — the pattern of gradients fading through stacked "
                     "sigmoids")
        return text + "."
    learned = f"the sigmoid network learned ({_points(sigmoid.accuracy, chance)} above chance, {chance:.0%})"
    if test is None:
        return f"{head}: {learned}."
    if not test.significant:
        return (f"{head}: here the sigmoid network learned as well as ReLU with batch norm, within noise "
                f"({_points(sigmoid.accuracy, chance)} above chance, {chance:.0%}).")
    better = "ReLU with batch norm" if modern.accuracy > sigmoid.accuracy else "sigmoid without batch norm"
    return f"{head}: {better} did better here, and {learned}."


def _dropout_sentence(small: VariantResult, dropout: VariantResult, tests: Tests, train_size: int) -> str:
    """What dropout did with few training images: raised or lowered test accuracy beyond noise, or not."""
    images = small.train_images or train_size
    test = tests.get(frozenset((small.name, dropout.name)))
    start = f"With {images:,} training images, dropout (rate {dropout.dropout:g})"
    change = _change(tests, small, dropout)
    if test is not None and test.significant:
        verb = "raised" if dropout.accuracy > small.accuracy else "lowered"
        line = f"{start} {verb} test accuracy from {small.accuracy:.1%} to {dropout.accuracy:.1%}, {change}"
    elif test is not None:
        points = (dropout.accuracy - small.accuracy) * 100
        line = (f"{start} did not change test accuracy beyond noise: {small.accuracy:.1%} without, "
                f"{dropout.accuracy:.1%} with it ({points:+.1f} points, McNemar {format_p_value(test.p_value_holm)})")
    else:
        line = f"{start} moved test accuracy from {small.accuracy:.1%} to {dropout.accuracy:.1%}, {change}"
    if _last_loss(small) is not None and _last_loss(dropout) is not None:
        line += (f"; the training loss ended at {_last_loss(small):.3f} without and {_last_loss(dropout):.3f} "
                 "with it")
    return line + "."


def _last_loss(v: VariantResult) -> float | None:
    """The mean training loss of the last epoch, or None (diverged, or none recorded)."""
    return v.loss_per_epoch[-1] if v.loss_per_epoch and not v.diverged else None


def reached(v: VariantResult, target: float) -> tuple[float, float] | None:
    """When ``v``'s training loss first got to ``target`` or below: (epochs, seconds) at the end of the first
    window of its loss curve whose mean is that low (from its per-epoch losses where it has no curve), or
    None if it never did."""
    epochs = v.loss_curve.get("epoch", [])
    losses = v.loss_curve.get("loss", [])
    if epochs and len(epochs) == len(losses):
        seconds = seconds_curve(v)["seconds"]
        for epoch, loss, second in zip(epochs, losses, seconds, strict=False):
            if loss is not None and loss <= target:
                return float(epoch), float(second)
        return None
    ends = np.cumsum(v.seconds_per_epoch) if v.seconds_per_epoch else None
    for i, loss in enumerate(v.loss_per_epoch):
        if loss is not None and loss <= target:
            return float(i + 1), float(ends[i]) if ends is not None and i < len(ends) else math.nan
    return None


def _when(epochs: float, seconds: float, steps_per_epoch: float | None) -> str:
    steps = f"{round(epochs * steps_per_epoch):,} steps, " if steps_per_epoch else ""
    return f"{epochs:.1f} epochs ({steps}{seconds:.1f} s)"


def _batch_norm_speed(plain: VariantResult | None, normed: VariantResult | None,
                      settings: Mapping[str, Any] | None = None) -> str:
    """Whether batch norm reached the training loss the plain network ended with sooner, in epochs (and steps)
    and in seconds, from both loss curves; or that it did not."""
    if plain is None or normed is None:
        return ""
    target, normed_last = _last_loss(plain), _last_loss(normed)
    if target is None or normed_last is None:
        return ""
    settings = settings or {}
    steps, epochs_setting = settings.get("steps"), settings.get("epochs")
    steps_per_epoch = (steps / epochs_setting if isinstance(steps, int) and isinstance(epochs_setting, int)
                       and epochs_setting > 0 and plain.train_images == normed.train_images else None)
    epochs = len(plain.loss_per_epoch)
    plain_at = reached(plain, target) or (float(epochs), math.fsum(plain.seconds_per_epoch))
    plain_text = (f"{plain.name} first reached its final training loss, {target:.3f}, after "
                  f"{_when(*plain_at, steps_per_epoch)} of its {epochs} epochs")
    normed_at = reached(normed, target)
    if normed_at is None:
        return (f"Here batch norm did not reach the plain network's final training loss at all: {plain_text}; "
                f"{normed.name}'s ended at {normed_last:.3f}.")
    normed_text = f"{normed.name} got there after {_when(*normed_at, steps_per_epoch)}"
    fewer_epochs, sooner = normed_at[0] < plain_at[0], normed_at[1] < plain_at[1]
    if fewer_epochs and sooner:
        return f"Batch norm reached the plain network's final training loss sooner: {plain_text}; {normed_text}."
    if fewer_epochs:
        return (f"Batch norm reached the plain network's final training loss in fewer epochs but not sooner in "
                f"seconds, its epochs costing more: {plain_text}; {normed_text}.")
    if sooner:
        return (f"Batch norm reached the plain network's final training loss sooner in seconds but not in fewer "
                f"epochs: {plain_text}; {normed_text}.")
    return (f"Here batch norm did not reach the plain network's final training loss sooner: {plain_text}; "
            f"{normed_text}.")


def seconds_curve(v: VariantResult) -> dict[str, list[Any]]:
    """A variant's loss curve against training seconds: each point's fractional epoch turned into the
    seconds training had taken by then (whole epochs' seconds, and that part of the next one's)."""
    ends = np.cumsum([0.0, *v.seconds_per_epoch])  # (epochs + 1,) seconds at the start of each epoch
    epochs = np.asarray(v.loss_curve.get("epoch", []), dtype=np.float64)
    if len(ends) < 2 or epochs.size == 0:
        return {"seconds": [], "loss": []}
    seconds = np.interp(epochs, np.arange(len(ends), dtype=np.float64), ends)
    return {"seconds": [round(float(t), 4) for t in seconds], "loss": list(v.loss_curve["loss"])}
