"""The ablation report: CNN variants trained for the same budget, their losses and accuracies."""

from __future__ import annotations

import math
from collections.abc import Mapping
from typing import Any

import numpy as np
from matplotlib.figure import Figure

from featvslearn.measure.contention import machine_busy
from featvslearn.reports.plots import accuracy_bars_figure, loss_curves_figure
from featvslearn.reports.shared import (
    TableContent,
    best_accuracy_cells,
    byline,
    dataset_lines,
    dataset_warnings,
    environment_lines,
    failed_runs_warnings,
    fmt_names,
    fmt_seconds,
    image,
    load_warnings,
    md_table,
    report_opening,
    stages_table,
    timed_other_load,
)
from featvslearn.results import AblateResults, VariantResult

HEADERS = ["variant", "lr", "parameters", "accuracy", "train s", "final loss"]
"""The terminal table's headers, narrow enough for 80 columns: a variant's name already says its
activation, normalisation, dropout and depth (``sigmoid-deep-plain``)."""
REPORT_HEADERS = ["variant", "activation", "batch norm", "dropout", "depth", *HEADERS[1:]]
"""The report's table states each variant's make-up in columns of its own as well."""
ACCURACY_COLUMN = HEADERS.index("accuracy")

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


# --------------------------------------------------------------------------- table
def _final_loss(v: VariantResult) -> str:
    losses = v.loss_per_epoch
    if v.diverged or not losses or losses[-1] is None:
        return "diverged"
    return f"{losses[-1]:.3f}"


def _columns(v: VariantResult) -> list[str]:
    """One variant's cells under :data:`HEADERS`."""
    return [v.name, f"{v.lr:.3g}", f"{v.parameters:,}", f"{v.accuracy:.4f}", fmt_seconds(v.train_seconds),
            _final_loss(v)]


def _report_columns(v: VariantResult) -> list[str]:
    """One variant's cells under :data:`REPORT_HEADERS`."""
    name, *measured = _columns(v)
    return [name, v.activation, "yes" if v.batch_norm else "no", f"{v.dropout:g}" if v.dropout > 0 else "–",
            str(v.depth), *measured]


def _title(results: AblateResults) -> str:
    d = results.dataset
    return (f"CNN ablation on {d.name}: {d.train_size:,} train / {d.test_size:,} test images, "
            f"{results.settings.get('epochs')} epochs each, device {results.device}")


def table(results: AblateResults) -> TableContent:
    """The variants side by side, one row each, under :data:`HEADERS`; with several variants, the best
    accuracy is marked."""
    return TableContent(
        title=_title(results),
        headers=list(HEADERS),
        rows=[_columns(v) for v in results.variants],
        text_columns=1,
        best=best_accuracy_cells([v.accuracy for v in results.variants], ACCURACY_COLUMN),
    )


def _report_table(results: AblateResults) -> TableContent:
    """The report's table: :func:`table` with each variant's activation, batch norm, dropout and depth."""
    return TableContent(
        title=_title(results),
        headers=list(REPORT_HEADERS),
        rows=[_report_columns(v) for v in results.variants],
        text_columns=2,
        best=best_accuracy_cells([v.accuracy for v in results.variants], REPORT_HEADERS.index("accuracy")),
    )


# --------------------------------------------------------------------------- reading
def reading(results: AblateResults) -> str:
    """A short plain-language reading: the best and worst variant and the gap, which barely learned or diverged."""
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
    if best.accuracy == worst.accuracy:
        lines = [f"Every variant reached the same test accuracy, {best.accuracy:.1%}, with the same budget ({budget})."]
    else:
        tops = [v.name for v in variants if v.accuracy == best.accuracy]
        bottoms = [v.name for v in variants if v.accuracy == worst.accuracy]
        lines = [
            f"**{fmt_names(tops)} did best** with {best.accuracy:.1%} test accuracy; **{fmt_names(bottoms)} did "
            f"worst** with {worst.accuracy:.1%}, {_gap(best, worst, results.dataset.test_size)} behind — with the "
            f"same budget for every variant ({budget})."
        ]
        if _overlap(best, worst):
            lines.append("Their 95 % intervals overlap, so this gap may be chance.")
    near_chance = [v.name for v in variants if v.accuracy < chance + 0.05]
    if near_chance:
        lines.append(f"{', '.join(near_chance)} stayed within 5 points of chance ({chance:.0%}): "
                     f"{'it' if len(near_chance) == 1 else 'they'} barely learned in this budget.")
    diverged = [v.name for v in variants if v.diverged]
    if diverged:
        lines.append(f"{', '.join(diverged)} diverged (the training loss stopped being a number).")
    return " ".join(lines)


def small_data_variants(results: AblateResults) -> list[VariantResult]:
    """The variants trained on fewer images than the run's (the small-data variants), in run order."""
    return [v for v in results.variants if v.train_images is not None and v.train_images < results.dataset.train_size]


def _gap(best: VariantResult, worst: VariantResult, test_images: int) -> str:
    """How far apart two accuracies are, in points and in test images: "64.7 points (291 test images)"."""
    points = (best.accuracy - worst.accuracy) * 100
    images = round((best.accuracy - worst.accuracy) * test_images)
    shown = f"{points:.1f} points" if points >= 0.1 else f"{points:.2f} points"
    return f"{shown} ({images:,} test image{'s' if images != 1 else ''})" if test_images > 0 else shown


def _overlap(a: VariantResult, b: VariantResult) -> bool:
    """Whether the 95 % intervals of two accuracies overlap (False where either is unknown)."""
    if a.accuracy_interval is None or b.accuracy_interval is None:
        return False
    return a.accuracy_interval[0] <= b.accuracy_interval[1] and b.accuracy_interval[0] <= a.accuracy_interval[1]


def factors(results: AblateResults) -> list[str]:
    """What each change did to test accuracy, one line per pair of variants that differ in it."""
    by_name = {v.name: v for v in results.variants}
    lines = []
    for without, with_, factor in FACTORS:
        if without in by_name and with_ in by_name:
            before, after = by_name[without].accuracy, by_name[with_].accuracy
            lines.append(f"{factor}: {(after - before) * 100:+.1f} points ({without} {before:.1%} → "
                         f"{with_} {after:.1%})")
    return lines


def effects(results: AblateResults) -> list[str]:
    """The lessons of the ablation, each one plain sentence with its numbers, for the variants present.

    Shallow networks with every activation; LeNet-5 against its modern form; a deep sigmoid
    network against a deep ReLU + batch-norm one; how much sooner batch norm reaches a training
    loss; dropout with few training images.
    """
    by_name = {v.name: v for v in results.variants}
    chance = 1 / max(results.dataset.num_classes, 1)
    lines = []
    shallow = [(label, by_name[name]) for name, label in
               (("sigmoid-plain", "sigmoid"), ("tanh-plain", "tanh"), ("relu-plain", "ReLU")) if name in by_name]
    if len(shallow) >= 2:
        verdict = ("every one well above chance" if all(v.accuracy >= chance + 0.2 for _, v in shallow) else
                   "not every one well above chance")
        depth = shallow[0][1].depth
        lines.append(f"Shallow networks ({depth} weight layers) learn with every activation once the initialisation "
                     f"and learning rate suit it: " + ", ".join(f"{label} {v.accuracy:.1%}" for label, v in shallow)
                     + f" test accuracy ({verdict}, {chance:.0%}).")
    if "lenet5" in by_name:
        lenet = by_name["lenet5"]
        modern = by_name.get("relu-bn")
        line = f"LeNet-5 as published in 1998 (tanh, average pooling) reached {lenet.accuracy:.1%}"
        if modern is not None:
            line += (f"; the same shape with ReLU, max pooling and batch norm (relu-bn) {modern.accuracy:.1%}, "
                     f"{(modern.accuracy - lenet.accuracy) * 100:+.1f} points")
        lines.append(line + ".")
    deep_sigmoid, deep_modern = by_name.get("sigmoid-deep-plain"), by_name.get("relu-deep-bn")
    if deep_sigmoid is not None and deep_modern is not None:
        loss = _last_loss(deep_sigmoid)
        stalled = (f"; its training loss ended at {loss:.2f}, where guessing gives "
                   f"{math.log(results.dataset.num_classes):.2f}" if loss is not None else "")
        lines.append(f"At {deep_sigmoid.depth} weight layers, sigmoid without batch norm reached "
                     f"{deep_sigmoid.accuracy:.1%} against {deep_modern.accuracy:.1%} for ReLU with batch norm"
                     f"{stalled}: gradients fade through stacked sigmoids, and ReLU with batch norm keeps them alive.")
    speed = _batch_norm_speed(by_name.get("relu-plain"), by_name.get("relu-bn"))
    if speed:
        lines.append(speed)
    small, dropout = by_name.get("relu-bn-small"), by_name.get("relu-bn-dropout-small")
    if small is not None and dropout is not None:
        images = small.train_images or results.dataset.train_size
        change = (dropout.accuracy - small.accuracy) * 100
        verb = "raised" if change > 0 else "lowered" if change < 0 else "left"
        lines.append(f"With {images:,} training images, dropout (rate {dropout.dropout:g}) {verb} test accuracy "
                     f"from {small.accuracy:.1%} to {dropout.accuracy:.1%} ({change:+.1f} points)"
                     + (f"; the training loss ended at {_last_loss(small):.3f} without and "
                        f"{_last_loss(dropout):.3f} with it" if _last_loss(small) is not None
                        and _last_loss(dropout) is not None else "") + ".")
    return lines


def _last_loss(v: VariantResult) -> float | None:
    """The mean training loss of the last epoch, or None (diverged, or none recorded)."""
    return v.loss_per_epoch[-1] if v.loss_per_epoch and not v.diverged else None


def _batch_norm_speed(plain: VariantResult | None, normed: VariantResult | None) -> str:
    """How many epochs and seconds batch norm needed to reach the training loss the plain network ended with."""
    if plain is None or normed is None or _last_loss(plain) is None or _last_loss(normed) is None:
        return ""
    target = _last_loss(plain)
    reached = next((i for i, loss in enumerate(normed.loss_per_epoch) if loss is not None and loss <= target), None)
    epochs = len(plain.loss_per_epoch)
    plain_text = (f"{plain.name} ended its {epochs} epochs ({math.fsum(plain.seconds_per_epoch):.1f} s) at a training "
                  f"loss of {target:.3f}")
    if reached is None:
        return f"Batch norm did not speed training here: {plain_text}, and {normed.name} never got that low."
    seconds = math.fsum(normed.seconds_per_epoch[: reached + 1])
    return (f"Batch norm speeds training: {plain_text}; {normed.name} got there after {reached + 1} "
            f"epoch{'s' if reached else ''} ({seconds:.1f} s).")


# --------------------------------------------------------------------------- Markdown
def markdown(results: AblateResults, links: Mapping[str, str] | None = None) -> str:
    """The ablation report: reading, table, loss curves, the shared budget, stages, dataset, environment.

    ``links`` maps figure names (``loss-curves``, ``accuracy``) to PNG paths relative to the report.
    """
    links = links or {}
    d, s = results.dataset, results.settings
    lines = report_opening(f"CNN ablation on {d.name}: activations, batch norm, dropout, depth",
                           byline(results, f"seed {results.seed}"), warnings(results), reading(results))
    lessons = effects(results)
    if lessons:
        lines += ["What the ablation shows:", "", *[f"- {line}" for line in lessons], ""]
    changes = factors(results)
    if changes:
        lines += ["What each change did to test accuracy:", "", *[f"- {line}" for line in changes], ""]
    variants = _report_table(results)
    lines += [
        "## Variants",
        "",
        *md_table(variants.headers, variants.rows, variants.text_columns),
        "",
        "Depth counts weight layers (every convolution, any hidden fully connected layer, and the classifier); "
        "dropout applies before the classifier; \"plain\" means no normalisation. Train seconds cover moving the "
        "data to the device and the training loop; the final loss is the mean training loss of the last epoch.",
        "",
    ]
    if "loss-curves" in links:
        lines += ["## Training loss", "", image("training loss per variant, by epoch", links["loss-curves"]), ""]
    if "loss-seconds" in links:
        lines += ["The same curves against training seconds: a variant whose epochs cost more moves right.", "",
                  image("training loss per variant, by training second", links["loss-seconds"]), ""]
    if "accuracy" in links:
        lines += ["## Test accuracy", "", image("test accuracy per variant", links["accuracy"]), ""]
    if s.get("lr_factors"):  # chosen in the run, on a validation split
        lr_note = f"the trainer's learning rate is {s['lr']:.3g}; {s['lr_rule']} (the lr column; see below)"
    else:  # files written before: fixed factors
        lr_note = f"the trainer's learning rate is {s['lr']:.3g}, scaled per variant (the lr column): {s['lr_rule']}"
        if s.get("lr_source"):
            lr_note += f"; the factors were fixed by {s['lr_source']}, not measured on the {d.name} data of this run"
    small = small_data_variants(results)
    small_note = "".join(
        f"; {v.name}: {v.train_images:,} of them, {len(v.loss_per_epoch)} epochs" for v in small)
    lines += [
        "## The same budget for every variant",
        "",
        *([f"- {s['network']}"] if s.get("network") else []),
        f"- {d.train_size:,} training images (the same ones, in the same order), {s['epochs']} epochs, batch "
        f"{s['batch_size']}, {s['steps']:,} optimiser steps{small_note}",
        f"- {s['optimizer']}; {lr_note}",
        f"- weight decay {s['weight_decay']:g} on weights only, label smoothing {s['label_smoothing']:g}, "
        + (f"random translation by up to {s['translate_pixels']} pixel{'s' if s['translate_pixels'] != 1 else ''}, "
           if s["translate_pixels"] else
           "no random translation, ")
        + ("random horizontal flips" if s["hflip"] else "no flips"),
        f"- initialisation: {s['initialisation']}; seed {results.seed}",
        f"- precision {s['precision']}; no patch-whitening first layer and no test-time augmentation "
        "(compare's CNN uses both)",
        "",
        "## Loss per epoch",
        "",
        *loss_lines(results, "loss-curves" in links),
    ]
    lines += lr_lines(results)
    lines += ["", "## Stages", ""]
    lines += stages_table("variant", [(v.name, v.stages) for v in results.variants])
    lines += dataset_lines(d, s)
    lines += ["", *environment_lines(results.environment)]
    return "\n".join(lines)


def lr_lines(results: AblateResults) -> list[str]:
    """Each variant's learning-rate trials: validation accuracy per rate, the rate chosen, the seconds taken."""
    tried = [v for v in results.variants if v.lr_candidates]
    if not tried:
        return []
    rates = sorted({c["lr"] for v in tried for c in v.lr_candidates}, reverse=True)
    rows = []
    for v in tried:
        scores = {c["lr"]: c["validation_accuracy"] for c in v.lr_candidates}
        rows.append([v.name, *[f"{scores[r]:.4f}" if r in scores else "–" for r in rates], f"{v.lr:.3g}",
                     fmt_seconds(v.lr_selection_seconds or 0.0)])
    return ["", "## Learning rates tried", "",
            *md_table(["variant", *[f"lr {r:.3g}" for r in rates], "chosen", "seconds"], rows), "",
            "Validation accuracy of each rate, on the held-out fifth of the variant's training images; the seconds "
            "are the trials', counted apart from the train seconds above."]


EPOCH_TABLE_UP_TO = 10
"""Up to this many epochs the report shows every epoch's loss; beyond, a summary per variant."""


def _lowest(losses: list[float | None]) -> str:
    numbers = [(i, x) for i, x in enumerate(losses) if x is not None and math.isfinite(x)]
    if not numbers:
        return "–"
    epoch, low = min(numbers, key=lambda item: item[1])
    return f"{low:.3f} (epoch {epoch + 1})"


def loss_lines(results: AblateResults, plotted: bool) -> list[str]:
    """The training loss of every variant: each epoch's up to :data:`EPOCH_TABLE_UP_TO` epochs, otherwise
    the first, last and lowest epoch's and the seconds in all (``plotted``: the loss curves show every epoch)."""
    variants = results.variants
    epochs = max((len(v.loss_per_epoch) for v in variants), default=0)
    if epochs <= EPOCH_TABLE_UP_TO:
        rows = [[v.name] + ["–" if x is None else f"{x:.3f}" for x in v.loss_per_epoch] for v in variants]
        return md_table(["variant"] + [str(i + 1) for i in range(epochs)], rows)
    rows = [[v.name, str(len(v.loss_per_epoch)),
             "–" if not v.loss_per_epoch or v.loss_per_epoch[0] is None else f"{v.loss_per_epoch[0]:.3f}",
             _final_loss(v), _lowest(v.loss_per_epoch), fmt_seconds(math.fsum(v.seconds_per_epoch))]
            for v in variants]
    return [*md_table(["variant", "epochs", "first epoch", "last epoch", "lowest", "seconds"], rows),
            "", "The mean training loss of the first and the last epoch, the lowest and when, and the seconds of all "
            "epochs" + ("; the training loss plot above shows every epoch." if plotted else ".")]


# --------------------------------------------------------------------------- figures
def figures(results: AblateResults) -> dict[str, Figure]:
    """The training-loss curves and the accuracy bars of an ablation, by file name (without .png)."""
    if not results.variants:
        return {}
    d = results.dataset
    title = f"{d.name}: {d.train_size:,} training images, {results.settings.get('epochs')} epochs per variant"
    return {
        "loss-curves": loss_curves_figure({v.name: v.loss_curve for v in results.variants},
                                          chance_loss=math.log(d.num_classes), title=title),
        "loss-seconds": loss_curves_figure({v.name: seconds_curve(v) for v in results.variants},
                                           chance_loss=math.log(d.num_classes), title=title, x="seconds"),
        "accuracy": accuracy_bars_figure({v.name: v.accuracy for v in results.variants},
                                         chance=1 / d.num_classes, title=title),
    }


def seconds_curve(v: VariantResult) -> dict[str, list[Any]]:
    """A variant's loss curve against training seconds: each point's fractional epoch turned into the
    seconds training had taken by then (whole epochs' seconds, and that part of the next one's)."""
    ends = np.cumsum([0.0, *v.seconds_per_epoch])  # (epochs + 1,) seconds at the start of each epoch
    epochs = np.asarray(v.loss_curve.get("epoch", []), dtype=np.float64)
    if len(ends) < 2 or epochs.size == 0:
        return {"seconds": [], "loss": []}
    seconds = np.interp(epochs, np.arange(len(ends), dtype=np.float64), ends)
    return {"seconds": [round(float(t), 4) for t in seconds], "loss": list(v.loss_curve["loss"])}


def warnings(results: AblateResults) -> list[str]:
    """What a reader must know before trusting the figures: the variants trained on a busy machine, a test
    set too small per class (judged by the mean per class: an ablation file has no per-class counts), image
    files of several sizes brought to one."""
    busy = [(v.name, timed_other_load(v.stages)) for v in results.variants if machine_busy(v.stages)]
    return (load_warnings(results.machine_busy, busy) + dataset_warnings(results.dataset, None, "variants")
            + failed_runs_warnings(results.settings))
