"""The report figures: built from plain values, without pyplot."""

from __future__ import annotations

import numpy as np

from featvslearn.reports import plots
from tests.hand_made import CLASSES, compare_results


def test_figure_functions_take_plain_values() -> None:
    matrix = [[5, 1], [2, 7]]
    figure = plots.confusion_matrix_figure(matrix, ["a", "b"], "title")
    assert [t.get_text() for t in figure.axes[0].texts] == ["5", "1", "2", "7"]  # counts, ≤ 15 classes
    many = plots.confusion_matrix_figure(np.eye(20, dtype=int).tolist(), [str(i) for i in range(20)], "t")
    assert len(many.axes[0].texts) == 0  # too many classes for numbers
    bars = plots.per_class_accuracy_figure([("x", [0.9, 0.8]), ("y", [0.95, 0.7])], ["a", "b"])
    assert len(bars.axes[0].patches) == 4
    grid = plots.misclassified_figure(compare_results().pipelines[0].misclassified, CLASSES, "wrong")
    assert [ax.get_xlabel() for ax in grid.axes if ax.axison] == ["disc\n→ bars", "cross\n→ disc"]


def test_ablation_figures_draw_a_line_per_variant_and_a_bar_per_variant() -> None:
    curves = {"a": {"epoch": [1.0, 2.0], "loss": [1.0, 0.5]}, "b": {"epoch": [1.0, 2.0], "loss": [1.0, None]}}
    figure = plots.loss_curves_figure(curves, chance_loss=1.1, title="t")
    assert [line.get_label() for line in figure.axes[0].get_lines()] == ["a", "b", "chance (1.10)"]
    assert figure.axes[0].get_ylim() == (0, 1.1 * 1.3)
    bars = plots.accuracy_bars_figure({"a": 0.9, "b": 0.5}, chance=0.1)
    assert len(bars.axes[0].patches) == 2
    heights = {t.get_text(): t.get_position()[1] for t in bars.axes[0].get_yticklabels()}
    assert heights["a"] > heights["b"]  # the first at the top
