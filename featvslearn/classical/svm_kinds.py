"""The SVMs ``--svm`` names, as plain values: no torch or scikit-learn import.

``linear``, ``rbf`` (the Nystroem RBF SVM with its default number of landmarks), ``rbf-N`` (the same
with N landmarks, as a budget reports its choice: ``rbf-6000``) and ``rbf-exact`` (scikit-learn's SVC).
"""

from __future__ import annotations

SVM_KINDS: tuple[str, ...] = ("linear", "rbf", "rbf-N", "rbf-exact")
"""The names ``--svm`` accepts; ``rbf-N`` stands for ``rbf-`` and a number of landmarks."""
MAX_LANDMARKS = 100_000
"""The most landmarks ``rbf-N`` may ask for: the kernel map factors an N x N matrix."""


def rbf_landmarks(name: str) -> int | None:
    """The landmarks of an ``rbf-N`` name (``"rbf-4000"`` -> 4000); None for any other name."""
    prefix, _, count = name.partition("-")
    return int(count) if prefix == "rbf" and count.isdigit() else None


def known_svm(name: str) -> bool:
    """Whether ``name`` is an SVM ``--svm`` accepts (an ``rbf-N`` of any whole N counts; see ``MAX_LANDMARKS``)."""
    return (name in SVM_KINDS and name != "rbf-N") or rbf_landmarks(name) is not None
