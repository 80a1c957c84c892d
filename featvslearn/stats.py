"""How sure a comparison is: intervals for accuracies and means, McNemar tests, plain-words verdicts.

Everything here is pure: NumPy arrays and numbers in, numbers and strings out. Accuracies are
fractions in ``[0, 1]``; the sentences show them as percentages. The intervals and the exact test
are SciPy's (``scipy.stats.binomtest``: its Wilson interval and its two-sided exact binomial test;
the Student t quantile), imported when first needed so that importing this module stays cheap.
"""

from __future__ import annotations

import math
import operator
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from itertools import combinations
from typing import Any

import numpy as np

SIGNIFICANCE = 0.05
"""The level below which a paired test's p-value counts as a real difference."""

# ---------------------------------------------------------------------------------------------
# Intervals
# ---------------------------------------------------------------------------------------------


def _check_confidence(confidence: float) -> float:
    confidence = float(confidence)
    if not 0.0 < confidence < 1.0:
        raise ValueError(f"confidence must lie strictly between 0 and 1, got {confidence!r}")
    return confidence


def wilson_interval(correct: int, total: int, confidence: float = 0.95) -> tuple[float, float]:
    """The Wilson score interval of an accuracy of ``correct`` out of ``total`` test images.

    In: counts (Python or NumPy integers) with ``0 <= correct <= total`` and ``total >= 1``;
    ``confidence`` strictly between 0 and 1 (two-sided).
    Out: ``(lower, upper)`` as fractions, always within ``[0, 1]``; ``0/n`` gives a lower bound
    of exactly 0 and ``n/n`` an upper bound of exactly 1.
    Raises ``ValueError`` for ``total == 0`` (no test images, no accuracy) or counts out of range.
    """
    correct, total = operator.index(correct), operator.index(total)
    confidence = _check_confidence(confidence)
    if total < 1:
        raise ValueError(f"an accuracy needs at least one test image, got total={total}")
    if not 0 <= correct <= total:
        raise ValueError(f"correct must lie in [0, total={total}], got {correct}")
    from scipy.stats import binomtest

    interval = binomtest(correct, total).proportion_ci(confidence_level=confidence, method="wilson")
    return float(interval.low), float(interval.high)


def mean_interval(values: Sequence[float], confidence: float = 0.95) -> tuple[float, float] | None:
    """The Student t interval of the mean of ``values`` (for example one accuracy per seed).

    In: finite numbers, at least one; ``confidence`` strictly between 0 and 1 (two-sided).
    Out: ``(lower, upper)`` around the mean, ``mean ± t(confidence, n - 1) · s / √n`` with the
    sample standard deviation ``s`` (``n - 1`` in the denominator); it is not clipped, so for
    accuracies near 0 or 1 it can reach past them. ``None`` for a single value: one seed
    says nothing about the spread, so there is no interval to give. Equal values give
    ``(mean, mean)``.
    Raises ``ValueError`` for no values or a value that is not finite.
    """
    confidence = _check_confidence(confidence)
    data = [float(v) for v in values]
    if not data:
        raise ValueError("a mean needs at least one value")
    if not all(math.isfinite(v) for v in data):
        raise ValueError(f"values must be finite numbers, got {data!r}")
    if len(data) < 2:
        return None
    from scipy.stats import t

    n = len(data)
    mean = math.fsum(data) / n
    std = math.sqrt(math.fsum((v - mean) ** 2 for v in data) / (n - 1))
    half_width = float(t.ppf(0.5 + confidence / 2, n - 1)) * std / math.sqrt(n)
    return mean - half_width, mean + half_width


# ---------------------------------------------------------------------------------------------
# Paired tests on one test set
# ---------------------------------------------------------------------------------------------


@dataclass(frozen=True)
class McNemarResult:
    """Two pipelines scored on the same test images, and the exact McNemar test on them.

    ``b``: images A got right and B got wrong; ``c``: images A got wrong and B got right;
    ``n``: test images; ``p_value``: two-sided exact binomial test on the ``b + c`` discordant
    images, ``min(1, 2 · P[X <= min(b, c)])`` with ``X ~ Binomial(b + c, 1/2)``, 1.0 when
    ``b + c == 0``. A p-value below about 1e-308 is stored as 0.0.
    """

    b: int
    c: int
    n: int
    p_value: float


def _correctness(values: np.ndarray, name: str) -> np.ndarray:
    array = np.asarray(values)
    if array.ndim != 1:
        raise ValueError(f"{name} must be a 1-D vector of per-image correctness, got shape {array.shape}")
    if array.dtype != np.bool_:
        raise ValueError(
            f"{name} must be boolean (True where the prediction was right), got dtype {array.dtype}; "
            "pass predictions == labels, not the predictions themselves"
        )
    return array


def mcnemar_exact(correct_a: np.ndarray, correct_b: np.ndarray) -> McNemarResult:
    """Exact McNemar test of two pipelines' per-image correctness on the same test set.

    In: two boolean ``(N,)`` vectors, entry ``i`` True where that pipeline classified test
    image ``i`` correctly; the same images in the same order.
    Out: a :class:`McNemarResult` with the discordant counts ``b`` (A only) and ``c`` (B only).
    Raises ``ValueError`` when the vectors differ in length or are not 1-D booleans.
    """
    a = _correctness(correct_a, "correct_a")
    b_vec = _correctness(correct_b, "correct_b")
    if a.shape != b_vec.shape:
        raise ValueError(
            f"both pipelines must be scored on the same test set, got {a.shape[0]} and {b_vec.shape[0]} images"
        )
    a_only = int(np.count_nonzero(a & ~b_vec))
    b_only = int(np.count_nonzero(~a & b_vec))
    discordant = a_only + b_only
    if discordant == 0:
        p_value = 1.0
    else:
        from scipy.stats import binomtest

        p_value = float(binomtest(a_only, discordant, 0.5).pvalue)
    return McNemarResult(b=a_only, c=b_only, n=int(a.shape[0]), p_value=p_value)


def pairwise_tests(correct: Mapping[str, np.ndarray]) -> list[dict[str, Any]]:
    """Exact McNemar tests between every pair of named pipelines run on the same test set.

    In: pipeline name -> boolean ``(N,)`` correctness vector, all over the same ``N`` images.
    Out: one dict per pair ``(A, B)``, A before B in the mapping's order and pairs in that order
    too: ``{"pipelines": [A, B], "test": "mcnemar-exact", "p_value": float, "a_only": int,
    "b_only": int, "n": int, "p_value_holm": float}``, the last Holm-adjusted over all the pairs
    (:func:`holm`). Fewer than two pipelines give an empty list.
    Raises ``ValueError`` as :func:`mcnemar_exact` does.
    """
    return _adjusted(_raw_tests(correct))


def pairwise_tests_over_seeds(correct: Mapping[int, Mapping[str, np.ndarray]]) -> list[dict[str, Any]]:
    """:func:`pairwise_tests` for the runs of each training seed, every pair on every seed, with
    ``"seed"`` in each dict; the Holm adjustment is over all of them together (pairs × seeds).

    In: seed -> (pipeline name -> boolean ``(N,)`` correctness vector), all over the same ``N`` images.
    Out: seeds in the mapping's order, within a seed the pairs as in :func:`pairwise_tests`.
    """
    return _adjusted([{**test, "seed": seed} for seed, runs in correct.items() for test in _raw_tests(runs)])


def _raw_tests(correct: Mapping[str, np.ndarray]) -> list[dict[str, Any]]:
    tests = []
    for name_a, name_b in combinations(correct, 2):
        result = mcnemar_exact(correct[name_a], correct[name_b])
        tests.append({"pipelines": [name_a, name_b], "test": "mcnemar-exact", "p_value": result.p_value,
                      "a_only": result.b, "b_only": result.c, "n": result.n})
    return tests


def _adjusted(tests: list[dict[str, Any]]) -> list[dict[str, Any]]:
    for test, adjusted in zip(tests, holm([test["p_value"] for test in tests]), strict=True):
        test["p_value_holm"] = adjusted
    return tests


def holm(p_values: Sequence[float]) -> list[float]:
    """Holm's step-down adjustment of ``p_values`` for testing them together (family-wise error rate).

    In: raw p-values in ``[0, 1]``, in any order. Out: the adjusted p-values in the same order: the
    ``k``-th smallest is multiplied by ``m - k + 1`` (``m`` tests, ``k`` from 1), made no smaller
    than the one before it, and capped at 1. One test is left as it is; none gives ``[]``. Reading
    each adjusted p-value against the significance level keeps the chance of any false finding
    among the ``m`` at most that level.
    """
    values = [float(p) for p in p_values]
    for value in values:
        if not 0.0 <= value <= 1.0:
            raise ValueError(f"p-values must lie in [0, 1], got {value!r}")
    m = len(values)
    adjusted = [0.0] * m
    running = 0.0
    for rank, index in enumerate(sorted(range(m), key=values.__getitem__)):
        running = max(running, min(1.0, (m - rank) * values[index]))
        adjusted[index] = running
    return adjusted


# ---------------------------------------------------------------------------------------------
# Verdicts in words
# ---------------------------------------------------------------------------------------------


def format_p_value(p_value: float, alpha: float = SIGNIFICANCE) -> str:
    """``p_value`` as shown in a verdict: ``"p < 0.001"``, ``"p = 0.003"`` or ``"p = 0.41"``.

    In: a p-value in ``[0, 1]`` and the significance level it is read against.
    Out: two decimals from 0.01 up, three below that, ``"p < 0.001"`` below 0.001 when that is
    also below ``alpha``. When rounding would put the shown figure on the other side of
    ``alpha`` than the true one (0.0496 as "0.05"), more decimals are shown ("0.0496").
    """
    if p_value < 0.001 and p_value < alpha:
        return "p < 0.001"
    significant = p_value < alpha
    for decimals in range(2 if p_value >= 0.01 else 3, 18):
        text = f"{p_value:.{decimals}f}"
        if (float(text) < alpha) == significant:
            return f"p = {text}"
    return f"p = {p_value!r}"


def _format_percentages(acc_a: float, acc_b: float) -> tuple[str, str]:
    """Both accuracies as ``"91.2 %"``, with more decimals when one decimal would hide a difference."""
    decimals = 1
    while decimals < 6 and acc_a != acc_b and f"{100 * acc_a:.{decimals}f}" == f"{100 * acc_b:.{decimals}f}":
        decimals += 1
    return f"{100 * acc_a:.{decimals}f} %", f"{100 * acc_b:.{decimals}f} %"


def verdict(name_a: str, acc_a: float, name_b: str, acc_b: float, p_value: float, n: int,
            alpha: float = SIGNIFICANCE) -> str:
    """One plain sentence on how two pipelines compare on the same ``n`` test images.

    In: each pipeline's name and accuracy (fraction in ``[0, 1]``), the McNemar p-value between
    them, the number of test images, and the significance level.
    Out, when ``p_value < alpha``, naming the more accurate pipeline first whatever the argument
    order: ``"A beat B: 91.2 % against 89.0 % on 10,000 test images (McNemar p = 0.003)."``;
    otherwise ``"No significant difference between A and B on 10,000 test images (91.2 % against
    91.0 %, McNemar p = 0.41)."`` with the pipelines in argument order. Counts carry thousands
    separators; percentages get more than one decimal only when one would hide a difference.
    Raises ``ValueError`` for numbers out of range, or a significant p-value with equal
    accuracies (no single McNemar test gives that, so the inputs do not belong together).
    """
    n = operator.index(n)
    for label, value in (("acc_a", acc_a), ("acc_b", acc_b), ("p_value", p_value)):
        if not 0.0 <= value <= 1.0:
            raise ValueError(f"{label} must lie in [0, 1], got {value!r}")
    if not 0.0 < alpha < 1.0:
        raise ValueError(f"alpha must lie strictly between 0 and 1, got {alpha!r}")
    if n < 0:
        raise ValueError(f"n must not be negative, got {n}")
    images = f"{n:,} test image{'' if n == 1 else 's'}"
    p_text = format_p_value(p_value, alpha)
    if p_value >= alpha:
        shown_a, shown_b = _format_percentages(acc_a, acc_b)
        return (
            f"No significant difference between {name_a} and {name_b} on {images} "
            f"({shown_a} against {shown_b}, McNemar {p_text})."
        )
    if acc_a == acc_b:
        raise ValueError(f"p_value={p_value} is significant but both accuracies are {acc_a}; they cannot be paired")
    if acc_b > acc_a:
        name_a, acc_a, name_b, acc_b = name_b, acc_b, name_a, acc_a
    shown_a, shown_b = _format_percentages(acc_a, acc_b)
    return f"{name_a} beat {name_b}: {shown_a} against {shown_b} on {images} (McNemar {p_text})."


# ---------------------------------------------------------------------------------------------
# Test-set size
# ---------------------------------------------------------------------------------------------


def smallest_class_count(labels: np.ndarray, num_classes: int) -> int:
    """The number of test images in the least represented class.

    In: integer labels ``(N,)`` in ``[0, num_classes)`` and ``num_classes >= 1``.
    Out: the smallest per-class count; 0 when some class has no test image at all.
    Raises ``ValueError`` for non-integer labels, labels out of range, or ``num_classes < 1``.
    """
    num_classes = operator.index(num_classes)
    if num_classes < 1:
        raise ValueError(f"num_classes must be at least 1, got {num_classes}")
    array = np.asarray(labels)
    if array.ndim != 1 or not (np.issubdtype(array.dtype, np.integer) or array.size == 0):
        raise ValueError(f"labels must be a 1-D integer vector, got shape {array.shape} and dtype {array.dtype}")
    if array.size and (array.min() < 0 or array.max() >= num_classes):
        raise ValueError(f"labels must lie in [0, {num_classes}), got values from {array.min()} to {array.max()}")
    return int(np.bincount(array.astype(np.int64), minlength=num_classes).min())
