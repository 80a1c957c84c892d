"""The pipelines ``compare`` and ``scaling`` can run, one module each, and their registry.

The registry drives the CLI's choices, config validation, the run order and the report's
settings. Adding a pipeline = one module with a ``PIPELINE`` (see :mod:`.base`) and its line
in ``REGISTRY`` below; importing this package loads neither torch nor scikit-learn.
"""

from __future__ import annotations

from collections.abc import Iterable

from featvslearn.pipelines import cnn, hog_svm, learned_svm, sift_fv, sift_svm
from featvslearn.pipelines.base import Pipeline, PipelineOutput, RunContext, RunSettings

REGISTRY: tuple[Pipeline, ...] = (hog_svm.PIPELINE, sift_svm.PIPELINE, sift_fv.PIPELINE, cnn.PIPELINE,
                                  learned_svm.PIPELINE)
"""Every pipeline, in the order the CLI lists them."""

PIPELINES: dict[str, Pipeline] = {pipeline.name: pipeline for pipeline in REGISTRY}
"""The pipelines by name."""

PIPELINE_NAMES: tuple[str, ...] = tuple(PIPELINES)
LEARNED_PIPELINES: tuple[str, ...] = tuple(p.name for p in REGISTRY if p.learned)
"""Pipelines whose features are learned; every other pipeline is hand-engineered."""


def run_order(names: Iterable[str]) -> list[str]:
    """``names`` in an order where each pipeline comes after the ones it ``needs`` (when they are
    asked for too), and otherwise in the order given: ``learned-svm,cnn`` runs cnn first."""
    ordered: list[str] = []
    wanted = list(dict.fromkeys(names))

    def place(name: str) -> None:
        if name in ordered:
            return
        for need in PIPELINES[name].needs:
            if need in wanted:
                place(need)
        ordered.append(name)

    for name in wanted:
        place(name)
    return ordered


__all__ = [
    "LEARNED_PIPELINES",
    "PIPELINES",
    "PIPELINE_NAMES",
    "REGISTRY",
    "Pipeline",
    "PipelineOutput",
    "RunContext",
    "RunSettings",
    "run_order",
]
