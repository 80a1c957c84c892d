"""A pipeline's recorded details and settings as a reader sees them: only the settings that apply.

A results file records every field of a settings record, used or not: a linear SVM's gamma scale and
landmark count, a network's image size when it has no fully connected layers, a budget's empty
estimates. Shown as they are, they read as settings that were in force ("gamma scale 1; n components
0", "image size 0, 0"). Here each is kept only where it means something: an SVM's settings by its
kind, a network's by its shape, test-time augmentation in words, and a zero or empty value that stands
for "not used" is left out. Nothing is lost: the results file keeps every field.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from typing import Any

from featvslearn.pipelines.budget import seconds_text
from featvslearn.reports.shared import fmt_key, fmt_value

PLOTTED_DETAILS = frozenset({"loss_per_epoch", "seconds_per_epoch"})
"""Details shown as a summary line (the training progress), not as a list of numbers."""

SVM_FIELDS: Mapping[str, tuple[str, ...]] = {
    "linear": ("kind", "C", "max_iter"),
    "rbf": ("kind", "C", "gamma_scale", "n_components", "max_iter"),
    "rbf-exact": ("kind", "C", "gamma_scale"),
}
"""The SVM settings each kind of SVM uses: a linear SVM has no kernel (no gamma, no landmarks); the
exact RBF SVM (scikit-learn's SVC) has no landmarks and its own stopping rule."""

NAMES: Mapping[str, str] = {
    "n_components": "landmarks",
    "max_iter": "max iterations",
    "ema_decay": "weight average decay",
    "hflip": "horizontal flips",
    "whiten": "patch-whitened first layer",
    "init": "initialisation",
    "kmeans_iterations": "k-means iterations",
    "tta": "test-time augmentation",
    "test_time_augmentation": "test-time augmentation",
}
"""Field names that read better as other words than their own (``n_components`` → ``landmarks``)."""

UNUSED_WHEN_ZERO = frozenset({"dropout", "translate_pixels", "probe_seconds", "whitened_first_layer_filters",
                              "n_components"})
"""Fields whose zero means the thing is not used at all (no dropout, no translation): left out at zero."""


def field_name(key: str) -> str:
    """A field's name as words, with :data:`NAMES` for the fields it renames."""
    return NAMES.get(key, fmt_key(key))


def _unused(key: str, value: Any) -> bool:
    """Whether ``value`` of field ``key`` says only that nothing is set: None, empty, or a zero of
    :data:`UNUSED_WHEN_ZERO`."""
    if value is None:
        return True
    if isinstance(value, (list, tuple, dict, str)) and not value:
        return True
    return (key in UNUSED_WHEN_ZERO and isinstance(value, (int, float)) and not isinstance(value, bool)
            and value == 0)


def tta_words(tta: Any, hflip: bool | None) -> str | None:
    """Test-time augmentation level ``tta`` in words, or None when it adds no view to the image itself.

    Level 1 averages the prediction over each image and its mirror image, only where flips keep the class
    (``hflip``): without flips it adds nothing. Level 2 adds two one-pixel shifts. ``hflip`` None: not
    recorded (the mirror is then named as possible).
    """
    if isinstance(tta, bool) or not isinstance(tta, int) or tta < 1:
        return None
    mirror = hflip is not False
    if tta == 1:
        return "the image and its mirror image, predictions averaged" if mirror else None
    views = "its mirror image and two one-pixel shifts" if mirror else "two one-pixel shifts"
    return f"the image, {views}, predictions averaged"


def svm_settings(settings: Mapping[str, Any]) -> dict[str, Any]:
    """The fields of an SVM's settings its kind uses (:data:`SVM_FIELDS`); for an unknown kind, every field
    that is set."""
    fields = SVM_FIELDS.get(str(settings.get("kind")))
    kept = {k: v for k, v in settings.items() if (fields is None or k in fields) and not _unused(k, v)}
    if "n_components" in kept and settings.get("kind") != "rbf":
        del kept["n_components"]
    return kept


def architecture_settings(architecture: Mapping[str, Any]) -> dict[str, Any]:
    """A network's shape without what it does not use: no hidden layers, no dropout, and the image size
    only for a network with fully connected layers (the only one that needs it)."""
    hidden = bool(architecture.get("hidden"))
    size = architecture.get("image_size")
    kept: dict[str, Any] = {}
    for key, value in architecture.items():
        if _unused(key, value):
            continue
        if key == "image_size":
            if not hidden or not isinstance(size, (list, tuple)) or min(size, default=0) < 1:
                continue
            value = "×".join(f"{side:,}" for side in size)
        kept[key] = value
    return kept


def training_settings(training: Mapping[str, Any], shown: Mapping[str, Any]) -> dict[str, Any]:
    """A training run's settings without those not used (no translation, no weight average) and without
    those already shown with the same value in ``shown`` (the pipeline's own precision and preset, the
    run's seed); test-time augmentation in words, or left out when there is none."""
    kept: dict[str, Any] = {}
    for key, value in training.items():
        if _unused(key, value) or (key in shown and shown[key] == value):
            continue
        if key == "tta":
            if "test_time_augmentation" in shown:
                continue
            value = tta_words(value, training.get("hflip"))
            if value is None:
                continue
        kept[key] = value
    return kept


def budget_text(choice: Mapping[str, Any]) -> str:
    """What a budget allowed and what the pipeline chose (``details["budget"]``), without estimates or
    probe seconds when the choice needed none."""
    parts = []
    if isinstance(choice.get("budget_seconds"), (int, float)):
        source = f" ({choice['budget_source']})" if choice.get("budget_source") else ""
        parts.append(f"{seconds_text(choice['budget_seconds'])} s{source}")
    if choice.get("chosen"):
        parts.append(f"chose {choice['chosen']}")
    estimates = choice.get("estimates")
    if isinstance(estimates, Mapping) and estimates:
        parts.append("estimated: " + ", ".join(
            f"{name} {seconds_text(seconds)} s" if isinstance(seconds, (int, float)) else f"{name} {seconds}"
            for name, seconds in estimates.items()))
    probe = choice.get("probe_seconds")
    if isinstance(probe, (int, float)) and probe > 0:
        parts.append(f"probes took {seconds_text(probe)} s")
    return "; ".join(parts)


def tuning_text(candidates: list[Any]) -> str:
    """An SVM's tuning trials: each candidate's C (and gamma scale, for a kernel SVM) and its validation
    accuracy."""
    shown = []
    for candidate in candidates:
        if not isinstance(candidate, Mapping):
            continue
        settings = {k: v for k, v in svm_settings(candidate).items() if k in ("C", "gamma_scale")}
        accuracy = candidate.get("validation_accuracy")
        trial = ", ".join(f"{field_name(k)} {fmt_value(v, k)}" for k, v in settings.items())
        shown.append(f"{trial}: {accuracy:.4f}" if isinstance(accuracy, float) else trial)
    return "; ".join(shown)


def settings_text(settings: Mapping[str, Any]) -> str:
    """Settings as ``name value`` pairs joined by ``; ``, each named by :func:`field_name`, unset ones left out."""
    return "; ".join(f"{field_name(str(k))} {fmt_value(v, str(k))}" for k, v in settings.items()
                     if not _unused(str(k), v))


def detail_value(key: str, value: Any, details: Mapping[str, Any], seed: int | None = None) -> str | None:
    """Detail ``key`` of a pipeline, whose details are ``details``, as text; None when it is unused or says
    only that nothing is set. ``seed``: the run's seed, shown in the report's byline (not repeated)."""
    if key in PLOTTED_DETAILS or _unused(key, value):
        return None
    if key == "svm_settings" and isinstance(value, Mapping):
        return settings_text(svm_settings(value)) or None
    if key == "svm_tuning" and isinstance(value, list):
        return tuning_text(value) or None
    if key == "architecture" and isinstance(value, Mapping):
        return settings_text(architecture_settings(value)) or None
    if key == "training" and isinstance(value, Mapping):
        shown = {k: details[k] for k in ("precision", "preset", "test_time_augmentation") if k in details}
        if seed is not None:
            shown["seed"] = seed
        return settings_text(training_settings(value, shown)) or None
    if key == "budget" and isinstance(value, Mapping):
        return budget_text(value) or None
    if key == "test_time_augmentation":
        training = details.get("training")
        hflip = training.get("hflip") if isinstance(training, Mapping) else None
        return tta_words(value, hflip)
    if isinstance(value, Mapping):
        return settings_text(value) or None
    return fmt_value(value, key)


def detail_lines(details: Mapping[str, Any], seed: int | None = None) -> list[str]:
    """A pipeline's details as Markdown list items, ``- name: value``, without the unused ones
    (:func:`detail_value`)."""
    lines = []
    for key, value in details.items():
        text = detail_value(key, value, details, seed)
        if text is not None:
            lines.append(f"- {field_name(key)}: {text}")
    return lines


def input_lines(pipelines: Sequence[Any]) -> list[str]:
    """A Markdown table of what each pipeline saw (``details["input"]``: grey or colour) and which
    features it used, one row per pipeline name, and a sentence when they saw different inputs; empty
    when no pipeline recorded its input (results files of earlier versions)."""
    seen: dict[str, tuple[str, str]] = {}
    for p in pipelines:
        if isinstance(p.details.get("input"), str):
            seen.setdefault(p.name, (p.details["input"], str(p.details.get("features", ""))))
    if not seen:
        return []
    lines = ["", "### What each pipeline saw", "", "| pipeline | input | features |", "|---|---|---|"]
    lines += [f"| {name} | {what} | {features} |" for name, (what, features) in seen.items()]
    inputs = {what for what, _ in seen.values()}
    lines += ["", f"Every pipeline saw the same input: {next(iter(inputs))}." if len(inputs) == 1 else
              "The pipelines saw different inputs: " + "; ".join(f"{name} {what}" for name, (what, _) in seen.items())
              + "."]
    return lines
