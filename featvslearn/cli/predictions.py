"""The table ``predict`` prints: each image, each saved pipeline's class and score, within 80 columns."""

from __future__ import annotations

import textwrap
from typing import TYPE_CHECKING

from rich.console import Group
from rich.table import Table
from rich.text import Text

if TYPE_CHECKING:
    from featvslearn.experiments.predict import Predictions

TABLE_WIDTH = 80
"""The widest the table and the lines under it grow: long file names and class names fold onto more lines."""


def predictions_table(predictions: Predictions) -> Group:
    """One section per image, one row per pipeline: the predicted class and its score; lines under
    the table say what each pipeline's score is."""
    table = Table()
    table.add_column("image", overflow="fold", max_width=28)
    table.add_column("pipeline", no_wrap=True)
    table.add_column("class", overflow="fold", max_width=16)
    table.add_column("score", justify="right", no_wrap=True)
    by_image: dict[str, list[tuple[str, str, str]]] = {}
    for p in predictions.predictions:
        by_image.setdefault(p.image, []).append((p.pipeline, p.class_name, f"{p.score:.3f}"))
    for image, rows in by_image.items():
        for index, (pipeline, name, score) in enumerate(rows):
            table.add_row(image if index == 0 else "", pipeline, name, score, end_section=index == len(rows) - 1)
    kinds: dict[str, list[str]] = {}
    for pipeline, kind in predictions.scores.items():
        kinds.setdefault(kind, []).append(pipeline)
    notes = [textwrap.fill(f"{', '.join(names)} score: {kind}", TABLE_WIDTH, subsequent_indent="  ")
             for kind, names in kinds.items()]
    return Group(table, *(Text(note) for note in notes))
