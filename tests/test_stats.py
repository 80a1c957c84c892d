"""Statistics: Wilson and t intervals, exact McNemar tests, verdict sentences, per-class counts.

Expected values come from hand computation or from a route the module does not take
(the quadratic the Wilson bounds solve, ``scipy.stats.binomtest``, ``scipy.stats.t``).
"""

from __future__ import annotations

import math
from fractions import Fraction

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st
from scipy import stats as scipy_stats

from featvslearn.stats import (
    McNemarResult,
    format_p_value,
    mcnemar_exact,
    mean_interval,
    pairwise_tests,
    smallest_class_count,
    verdict,
    wilson_interval,
)

# ---------------------------------------------------------------------------------------------
# Wilson interval
# ---------------------------------------------------------------------------------------------


def wilson_by_quadratic(correct: int, total: int, z: float) -> tuple[float, float]:
    """The Wilson bounds as the roots of (p̂ - π)² = z² π (1 - π) / n, solved for π."""
    p = correct / total
    a = 1 + z * z / total
    b = -(2 * p + z * z / total)
    c = p * p
    root = math.sqrt(b * b - 4 * a * c)
    return (-b - root) / (2 * a), (-b + root) / (2 * a)


@pytest.mark.parametrize(
    ("correct", "total", "expected"),
    [
        (8, 10, (0.4902, 0.9433)),
        (50, 100, (0.4038, 0.5962)),
        (0, 10, (0.0, 0.2775)),
        (10, 10, (0.7225, 1.0)),
    ],
)
def test_wilson_matches_hand_computed_bounds(correct: int, total: int, expected: tuple[float, float]) -> None:
    lower, upper = wilson_interval(correct, total)
    assert round(lower, 4) == expected[0]
    assert round(upper, 4) == expected[1]


def test_wilson_edges_are_exact_and_inside_unit_interval() -> None:
    assert wilson_interval(0, 7)[0] == 0.0
    assert wilson_interval(7, 7)[1] == 1.0
    assert wilson_interval(0, 1) == (0.0, pytest.approx(0.7935, abs=1e-4))
    for total in (1, 2, 3, 10, 10_000):
        for correct in (0, total // 2, total):
            lower, upper = wilson_interval(correct, total, confidence=0.999)
            assert 0.0 <= lower <= correct / total <= upper <= 1.0


def test_wilson_at_99_percent_is_wider_and_matches_the_quadratic() -> None:
    z99 = 2.5758293035489004  # two-sided 99 % normal quantile
    assert wilson_interval(8, 10, confidence=0.99) == pytest.approx(wilson_by_quadratic(8, 10, z99), abs=1e-12)
    assert wilson_interval(8, 10, confidence=0.99)[0] < wilson_interval(8, 10)[0]


@given(total=st.integers(1, 100_000), data=st.data())
def test_wilson_solves_the_score_quadratic(total: int, data: st.DataObject) -> None:
    correct = data.draw(st.integers(0, total))
    lower, upper = wilson_interval(correct, total)
    assert (lower, upper) == pytest.approx(wilson_by_quadratic(correct, total, 1.959963984540054), abs=1e-9)


def test_wilson_rejects_bad_counts() -> None:
    with pytest.raises(ValueError, match="at least one test image"):
        wilson_interval(0, 0)
    with pytest.raises(ValueError, match="correct must lie"):
        wilson_interval(11, 10)
    with pytest.raises(ValueError, match="correct must lie"):
        wilson_interval(-1, 10)
    with pytest.raises(ValueError, match="confidence"):
        wilson_interval(5, 10, confidence=1.0)
    with pytest.raises(TypeError):
        wilson_interval(5.0, 10)  # type: ignore[arg-type]


def test_wilson_accepts_numpy_counts() -> None:
    assert wilson_interval(np.int64(8), np.int64(10)) == wilson_interval(8, 10)


# ---------------------------------------------------------------------------------------------
# Mean interval across seeds
# ---------------------------------------------------------------------------------------------


def test_mean_interval_matches_hand_computation() -> None:
    # mean 2, s = 1, t(0.975, 2) = 4.302653 -> half width 4.302653 / √3 = 2.484138
    lower, upper = mean_interval([1.0, 2.0, 3.0])
    assert lower == pytest.approx(-0.484138, abs=1e-6)
    assert upper == pytest.approx(4.484138, abs=1e-6)


@pytest.mark.parametrize("confidence", [0.9, 0.95, 0.99])
def test_mean_interval_matches_scipy_t(confidence: float) -> None:
    values = [0.912, 0.905, 0.921, 0.899, 0.915]
    expected = scipy_stats.t.interval(confidence, len(values) - 1, loc=np.mean(values), scale=scipy_stats.sem(values))
    assert mean_interval(values, confidence) == pytest.approx(expected, abs=1e-12)


def test_mean_interval_single_value_has_no_interval_and_equal_values_have_zero_width() -> None:
    assert mean_interval([0.9]) is None
    assert mean_interval([0.9, 0.9, 0.9]) == (pytest.approx(0.9), pytest.approx(0.9))


def test_mean_interval_rejects_empty_and_non_finite() -> None:
    with pytest.raises(ValueError, match="at least one value"):
        mean_interval([])
    with pytest.raises(ValueError, match="finite"):
        mean_interval([0.9, math.nan])


# ---------------------------------------------------------------------------------------------
# Exact McNemar test
# ---------------------------------------------------------------------------------------------


def vectors(both: int, a_only: int, b_only: int, neither: int) -> tuple[np.ndarray, np.ndarray]:
    """Correctness vectors with the given cell counts, shuffled the same way."""
    a = np.array([True] * both + [True] * a_only + [False] * b_only + [False] * neither)
    b = np.array([True] * both + [False] * a_only + [True] * b_only + [False] * neither)
    order = np.random.default_rng(0).permutation(a.size)
    return a[order], b[order]


@pytest.mark.parametrize(
    ("a_only", "b_only", "expected"),
    [
        (0, 5, Fraction(2, 2**5)),  # 2 · P[X = 0], X ~ Bin(5, 1/2)
        (1, 9, Fraction(2 * (1 + 10), 2**10)),  # 2 · P[X <= 1], X ~ Bin(10, 1/2)
        (9, 1, Fraction(2 * (1 + 10), 2**10)),
        (2, 10, Fraction(2 * (1 + 12 + 66), 2**12)),
        (3, 3, Fraction(1)),  # 2 · P[X <= 3] > 1, capped
        (0, 1, Fraction(1)),
    ],
)
def test_mcnemar_matches_hand_computed_p(a_only: int, b_only: int, expected: Fraction) -> None:
    a, b = vectors(40, a_only, b_only, 7)
    result = mcnemar_exact(a, b)
    assert result == McNemarResult(b=a_only, c=b_only, n=47 + a_only + b_only, p_value=pytest.approx(float(expected)))


def test_mcnemar_without_discordant_pairs_is_one() -> None:
    a, b = vectors(30, 0, 0, 5)
    assert mcnemar_exact(a, b) == McNemarResult(b=0, c=0, n=35, p_value=1.0)
    assert mcnemar_exact(np.array([], dtype=bool), np.array([], dtype=bool)) == McNemarResult(0, 0, 0, 1.0)


def exact_two_sided_p(k: int, m: int) -> Fraction:
    """min(1, 2 · P[X <= k]) for X ~ Binomial(m, 1/2), in exact rational arithmetic."""
    term, total = 1, 1
    for i in range(k):
        term = term * (m - i) // (i + 1)  # C(m, i + 1)
        total += term
    return min(Fraction(1), Fraction(2 * total, 2**m))


@settings(max_examples=200, deadline=None)
@given(
    a_only=st.integers(0, 3000),
    b_only=st.integers(0, 3000),
    both=st.integers(0, 50),
)
def test_mcnemar_matches_scipy_binomtest(a_only: int, b_only: int, both: int) -> None:
    a, b = vectors(both, a_only, b_only, 3)
    result = mcnemar_exact(a, b)
    assert (result.b, result.c, result.n) == (a_only, b_only, both + a_only + b_only + 3)
    if a_only + b_only == 0:
        assert result.p_value == 1.0
    else:
        discordant = a_only + b_only
        exact = exact_two_sided_p(min(a_only, b_only), discordant)
        assert result.p_value == pytest.approx(float(exact), rel=1e-9, abs=1e-250)  # near-underflow p-values read as 0
        # scipy's binomtest loses the far tail below ~1e-250; compare above that
        expected = scipy_stats.binomtest(a_only, discordant, 0.5).pvalue
        assert result.p_value == pytest.approx(expected, rel=1e-9, abs=1e-250)
    assert mcnemar_exact(b, a).p_value == result.p_value


def test_mcnemar_rejects_mismatched_or_non_boolean_inputs() -> None:
    with pytest.raises(ValueError, match="same test set"):
        mcnemar_exact(np.ones(10, dtype=bool), np.ones(11, dtype=bool))
    with pytest.raises(ValueError, match="boolean"):
        mcnemar_exact(np.array([0, 1, 2]), np.array([0, 1, 1]))
    with pytest.raises(ValueError, match="1-D"):
        mcnemar_exact(np.ones((2, 3), dtype=bool), np.ones((2, 3), dtype=bool))


def test_mcnemar_result_is_frozen() -> None:
    result = mcnemar_exact(*vectors(5, 1, 2, 0))
    with pytest.raises(AttributeError):
        result.p_value = 0.0  # type: ignore[misc]


def test_pairwise_tests_cover_every_pair_in_mapping_order() -> None:
    truth_a, truth_b = vectors(40, 0, 5, 7)
    truth_c = truth_b.copy()
    truth_c[:3] = ~truth_c[:3]
    correct = {"cnn": truth_a, "hog-svm": truth_b, "sift-svm": truth_c}
    tests = pairwise_tests(correct)
    assert [t["pipelines"] for t in tests] == [["cnn", "hog-svm"], ["cnn", "sift-svm"], ["hog-svm", "sift-svm"]]
    from featvslearn.stats import holm

    first = dict(tests[0])
    assert first.pop("p_value_holm") == pytest.approx(holm([t["p_value"] for t in tests])[0])
    assert first == {
        "pipelines": ["cnn", "hog-svm"],
        "test": "mcnemar-exact",
        "p_value": pytest.approx(2 / 32),
        "a_only": 0,
        "b_only": 5,
        "n": 52,
    }
    for test in tests:
        expected = mcnemar_exact(correct[test["pipelines"][0]], correct[test["pipelines"][1]])
        assert (test["a_only"], test["b_only"], test["n"], test["p_value"]) == (
            expected.b,
            expected.c,
            expected.n,
            expected.p_value,
        )
    assert pairwise_tests({"cnn": truth_a}) == []


def test_pairwise_tests_reject_different_test_sets() -> None:
    with pytest.raises(ValueError, match="same test set"):
        pairwise_tests({"cnn": np.ones(10, dtype=bool), "hog-svm": np.ones(9, dtype=bool)})


# ---------------------------------------------------------------------------------------------
# Verdicts
# ---------------------------------------------------------------------------------------------


def test_verdict_first_pipeline_wins() -> None:
    assert (
        verdict("cnn", 0.912, "hog-svm", 0.890, 0.003, 10_000)
        == "cnn beat hog-svm: 91.2 % against 89.0 % on 10,000 test images (McNemar p = 0.003)."
    )


def test_verdict_names_the_better_pipeline_even_when_it_comes_second() -> None:
    assert (
        verdict("hog-svm", 0.890, "cnn", 0.912, 0.0004, 10_000)
        == "cnn beat hog-svm: 91.2 % against 89.0 % on 10,000 test images (McNemar p < 0.001)."
    )


def test_verdict_not_significant() -> None:
    assert verdict("cnn", 0.912, "hog-svm", 0.910, 0.41, 10_000) == (
        "No significant difference between cnn and hog-svm on 10,000 test images "
        "(91.2 % against 91.0 %, McNemar p = 0.41)."
    )


def test_verdict_tie() -> None:
    assert verdict("cnn", 0.9, "hog-svm", 0.9, 1.0, 1797) == (
        "No significant difference between cnn and hog-svm on 1,797 test images "
        "(90.0 % against 90.0 %, McNemar p = 1.00)."
    )


def test_verdict_at_alpha_is_not_a_win() -> None:
    assert verdict("cnn", 0.95, "hog-svm", 0.90, 0.05, 200) == (
        "No significant difference between cnn and hog-svm on 200 test images "
        "(95.0 % against 90.0 %, McNemar p = 0.05)."
    )


def test_verdict_shows_p_on_its_true_side_of_alpha() -> None:
    assert verdict("cnn", 0.95, "hog-svm", 0.90, 0.0496, 200) == (
        "cnn beat hog-svm: 95.0 % against 90.0 % on 200 test images (McNemar p = 0.0496)."
    )


def test_verdict_shows_enough_decimals_to_see_the_difference() -> None:
    assert verdict("cnn", 0.91234, "hog-svm", 0.91231, 0.03, 100_000) == (
        "cnn beat hog-svm: 91.234 % against 91.231 % on 100,000 test images (McNemar p = 0.03)."
    )


def test_verdict_singular_image_and_custom_alpha() -> None:
    assert verdict("a", 1.0, "b", 0.0, 1.0, 1) == (
        "No significant difference between a and b on 1 test image (100.0 % against 0.0 %, McNemar p = 1.00)."
    )
    assert verdict("a", 0.9, "b", 0.8, 0.02, 500, alpha=0.01) == (
        "No significant difference between a and b on 500 test images (90.0 % against 80.0 %, McNemar p = 0.02)."
    )


def test_verdict_rejects_inconsistent_or_out_of_range_inputs() -> None:
    with pytest.raises(ValueError, match="cannot be paired"):
        verdict("a", 0.9, "b", 0.9, 0.01, 100)
    with pytest.raises(ValueError, match="acc_a"):
        verdict("a", 91.2, "b", 0.9, 0.5, 100)
    with pytest.raises(ValueError, match="p_value"):
        verdict("a", 0.9, "b", 0.8, math.nan, 100)
    with pytest.raises(ValueError, match="alpha"):
        verdict("a", 0.9, "b", 0.8, 0.5, 100, alpha=0.0)


@pytest.mark.parametrize(
    ("p_value", "text"),
    [(0.41, "p = 0.41"), (0.003, "p = 0.003"), (0.0009, "p < 0.001"), (0.0, "p < 0.001"), (1.0, "p = 1.00")],
)
def test_format_p_value(p_value: float, text: str) -> None:
    assert format_p_value(p_value) == text


@given(data=st.data(), n=st.integers(1, 10**7), p_value=st.floats(0.0, 1.0))
def test_verdict_never_claims_a_win_without_significance(data: st.DataObject, n: int, p_value: float) -> None:
    acc_a = data.draw(st.integers(0, n)) / n
    acc_b = data.draw(st.integers(0, n)) / n
    if p_value < 0.05 and acc_a == acc_b:
        return  # inconsistent inputs, rejected (tested above)
    sentence = verdict("alpha-net", acc_a, "beta-svm", acc_b, p_value, n)
    if p_value >= 0.05:
        assert "beat" not in sentence
        assert sentence.startswith("No significant difference between alpha-net and beta-svm")
        assert "p < 0.001" not in sentence
        assert float(sentence.split("McNemar p = ")[1].rstrip(").")) >= 0.05
    else:
        winner, loser = ("alpha-net", "beta-svm") if acc_a > acc_b else ("beta-svm", "alpha-net")
        assert sentence.startswith(f"{winner} beat {loser}: ")
        if "p < 0.001" not in sentence:
            assert float(sentence.split("McNemar p = ")[1].rstrip(").")) < 0.05
        first, second = (float(part.split(" %")[0]) for part in sentence.split(": ")[1].split(" against "))
        assert first > second  # the shown figures agree with the claim
    assert f"{n:,} test image" in sentence


@given(acc_a=st.floats(0.0, 1.0), acc_b=st.floats(0.0, 1.0), p_value=st.floats(0.0, 1.0))
def test_verdict_never_says_beat_at_or_above_alpha(acc_a: float, acc_b: float, p_value: float) -> None:
    if p_value < 0.05:
        return
    assert "beat" not in verdict("alpha-net", acc_a, "beta-svm", acc_b, p_value, 1000)


@settings(max_examples=100)
@given(data=st.lists(st.tuples(st.booleans(), st.booleans()), min_size=1, max_size=400))
def test_verdict_from_real_correctness_names_the_more_accurate_pipeline(data: list[tuple[bool, bool]]) -> None:
    a = np.array([x for x, _ in data])
    b = np.array([y for _, y in data])
    result = mcnemar_exact(a, b)
    sentence = verdict("cnn", a.mean(), "hog-svm", b.mean(), result.p_value, result.n)
    if result.p_value >= 0.05:
        assert "beat" not in sentence
    elif a.mean() > b.mean():
        assert sentence.startswith("cnn beat hog-svm")
    else:
        assert sentence.startswith("hog-svm beat cnn")


# ---------------------------------------------------------------------------------------------
# Images per class
# ---------------------------------------------------------------------------------------------


def test_smallest_class_count_and_warning() -> None:
    labels = np.array([0] * 12 + [1] * 9 + [2] * 30, dtype=np.int64)
    assert smallest_class_count(labels, 3) == 9
    assert smallest_class_count(labels, 4) == 0  # class 3 has no test image
    assert smallest_class_count(np.repeat(np.arange(10), 10), 10) == 10


def test_smallest_class_count_rejects_bad_labels() -> None:
    with pytest.raises(ValueError, match=r"lie in \[0, 3\)"):
        smallest_class_count(np.array([0, 1, 3]), 3)
    with pytest.raises(ValueError, match=r"lie in \[0, 3\)"):
        smallest_class_count(np.array([0, -1]), 3)
    with pytest.raises(ValueError, match="integer"):
        smallest_class_count(np.array([0.0, 1.0]), 3)
    with pytest.raises(ValueError, match="num_classes"):
        smallest_class_count(np.array([0]), 0)


def _wilson_by_hand(correct: int, total: int, confidence: float) -> tuple[float, float]:
    """The Wilson score interval written out, as featvslearn computed it before it used SciPy's."""
    from statistics import NormalDist

    z = NormalDist().inv_cdf(0.5 + confidence / 2)
    p = correct / total
    z2_n = z * z / total
    centre = (p + z2_n / 2) / (1 + z2_n)
    half_width = z / (1 + z2_n) * math.sqrt(p * (1 - p) / total + z2_n / (4 * total))
    lower = 0.0 if correct == 0 else max(0.0, centre - half_width)
    upper = 1.0 if correct == total else min(1.0, centre + half_width)
    return lower, upper


def _mcnemar_by_hand(a_only: int, b_only: int) -> float:
    """Two-sided exact McNemar p-value written out: min(1, 2 P[X <= min(b, c)]), X ~ Binomial(b + c, 1/2)."""
    n = a_only + b_only
    tail = math.fsum(math.comb(n, k) for k in range(min(a_only, b_only) + 1)) / 2**n
    return min(1.0, 2 * tail) if n else 1.0


@pytest.mark.parametrize("confidence", [0.9, 0.95, 0.99])
def test_wilson_interval_equals_the_formula_to_1e12(confidence: float) -> None:
    for total in [*range(1, 40), 450, 10_000]:
        for correct in range(0, total + 1, max(1, total // 40)):
            lower, upper = wilson_interval(correct, total, confidence)
            expected = _wilson_by_hand(correct, total, confidence)
            assert abs(lower - expected[0]) <= 1e-12 and abs(upper - expected[1]) <= 1e-12, (correct, total)


def test_mcnemar_equals_the_exact_binomial_formula_to_1e12() -> None:
    for discordant in range(1, 120):
        for a_only in range(discordant + 1):
            b_only = discordant - a_only
            correct_a = np.array([True] * a_only + [False] * b_only + [True, False])
            correct_b = np.array([False] * a_only + [True] * b_only + [True, False])
            result = mcnemar_exact(correct_a, correct_b)
            assert (result.b, result.c, result.n) == (a_only, b_only, discordant + 2)
            assert abs(result.p_value - _mcnemar_by_hand(a_only, b_only)) <= 1e-12, (a_only, b_only)


def test_holm_adjusts_as_the_step_down_procedure_does() -> None:
    from featvslearn.stats import holm

    assert holm([]) == [] and holm([0.03]) == [0.03]
    # sorted 0.01, 0.02, 0.04 times 3, 2, 1 -> 0.03, 0.04, 0.04 (kept no smaller than the one before)
    assert holm([0.04, 0.01, 0.02]) == pytest.approx([0.04, 0.03, 0.04])
    assert holm([0.5, 0.6]) == [1.0, 1.0]
    assert holm([0.001, 0.001]) == pytest.approx([0.002, 0.002])
    with pytest.raises(ValueError, match=r"\[0, 1\]"):
        holm([1.5])


def test_holm_equals_scipy_free_reference_on_random_families() -> None:
    from featvslearn.stats import holm

    rng = np.random.default_rng(0)
    for m in range(1, 9):
        p = rng.uniform(0, 0.2, m)
        order = np.argsort(p)
        expected = np.empty(m)
        expected[order] = np.minimum(1, np.maximum.accumulate(p[order] * (m - np.arange(m))))
        assert holm(p.tolist()) == pytest.approx(expected.tolist(), abs=1e-15)
