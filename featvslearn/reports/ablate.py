"""The ablation report: CNN variants trained for the same budget, their losses and accuracies.

The terminal table's content, the Markdown report, the figures and the warnings; the reading (what the
numbers show, tested for significance) is :mod:`featvslearn.reports.ablate_reading`.
"""

from __future__ import annotations

import math
from collections.abc import Mapping

from matplotlib.figure import Figure

from featvslearn.measure.contention import machine_busy
from featvslearn.reports.ablate_reading import effects, factors, reading, seconds_curve, small_data_variants
from featvslearn.reports.plots import accuracy_bars_figure, loss_curves_figure
from featvslearn.reports.shared import (
    TableContent,
    best_accuracy_cells,
    byline,
    dataset_lines,
    dataset_warnings,
    environment_lines,
    failed_runs_warnings,
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


def warnings(results: AblateResults) -> list[str]:
    """What a reader must know before trusting the figures: the variants trained on a busy machine, a test
    set too small per class (judged by the mean per class: an ablation file has no per-class counts), image
    files of several sizes brought to one."""
    busy = [(v.name, timed_other_load(v.stages)) for v in results.variants if machine_busy(v.stages)]
    return (load_warnings(results.machine_busy, busy) + dataset_warnings(results.dataset, None, "variants")
            + failed_runs_warnings(results.settings))
