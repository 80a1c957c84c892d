"""The report figures: built from plain values, without pyplot."""

from __future__ import annotations

import ast
import dataclasses
from pathlib import Path

import matplotlib
import numpy as np
from matplotlib.axes import Axes
from matplotlib.backends.backend_agg import FigureCanvasAgg
from matplotlib.colors import to_rgba
from matplotlib.container import BarContainer, ErrorbarContainer
from matplotlib.figure import Figure
from matplotlib.legend import Legend
from matplotlib.patches import Polygon, Rectangle
from matplotlib.transforms import Bbox

from featvslearn.learned.variants import ABLATION_VARIANTS
from featvslearn.pipelines import PIPELINE_NAMES
from featvslearn.reports import ablate, compare, plots, scaling, style
from featvslearn.reports.shared import png_bytes
from featvslearn.results import ScalingResults, Timeline
from tests.hand_made import CLASSES, ablate_results, compare_results, scaling_results


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


# --------------------------------------------------------------------------- one look in every report
def _drawn(figure: Figure) -> Figure:
    FigureCanvasAgg(figure).draw()  # lays out the figure and makes its tick labels, as saving does
    return figure


def _bar_colours(ax: Axes) -> dict[str, tuple[float, ...]]:
    """Each labelled bar group's face colour (every bar of a group has the same one)."""
    out = {}
    for container in ax.containers:
        if isinstance(container, BarContainer):
            colours = {tuple(patch.get_facecolor()) for patch in container.patches}
            assert len(colours) == 1
            out[str(container.get_label())] = colours.pop()
    return out


def _pipeline_colours_in_scaling(results: ScalingResults) -> dict[str, set[tuple[float, ...]]]:
    """Pipeline name -> the colours its lines have in the two scaling figures."""
    drawn = scaling.figures(results)
    found: dict[str, set[tuple[float, ...]]] = {}
    for line in drawn["accuracy-vs-size"].axes[0].get_lines():
        if line.get_label() in results.pipelines:
            found.setdefault(str(line.get_label()), set()).add(to_rgba(line.get_color()))
    for container in drawn["train-seconds-vs-size"].axes[0].containers:
        if isinstance(container, ErrorbarContainer):
            found.setdefault(str(container.get_label()), set()).add(to_rgba(container.lines[0].get_color()))
    return found


def test_every_pipeline_has_one_colour_of_its_own() -> None:
    colours = [to_rgba(style.pipeline_colour(name)) for name in PIPELINE_NAMES]
    assert len(set(colours)) == len(PIPELINE_NAMES)  # every registered pipeline has its own
    assert style.pipeline_colour("not-a-pipeline") == style.pipeline_colour("not-a-pipeline")  # stable


def test_each_pipeline_has_the_same_colour_in_the_compare_and_scaling_figures() -> None:
    results = compare_results()  # hog-svm and cnn, each on cpu and cuda:0
    drawn = compare.figures(results)
    want = {name: to_rgba(style.pipeline_colour(name)) for name in ("hog-svm", "cnn")}
    assert want["hog-svm"] != want["cnn"]
    bars = _bar_colours(drawn["per-class-accuracy"].axes[0])
    for label, p in zip(compare.run_labels(results), results.pipelines, strict=True):
        assert bars[label] == want[p.name]
    # the runs of one pipeline on its later devices keep its colour and are hatched instead
    hatches = [c.patches[0].get_hatch() for c in drawn["per-class-accuracy"].axes[0].containers]
    assert [bool(h) for h in hatches] == [False, True, False, True]
    edges = [to_rgba(ax.spines["left"].get_edgecolor()) for ax in drawn["timeline"].axes]
    assert edges == [want[p.name] for p in results.pipelines]
    scaled = scaling_results()
    assert _pipeline_colours_in_scaling(scaled) == {name: {colour} for name, colour in want.items()}
    # a colour belongs to the name, not to the position: the other order draws the same colours
    reordered = dataclasses.replace(scaled, pipelines=dict(reversed(list(scaled.pipelines.items()))))
    assert _pipeline_colours_in_scaling(reordered) == {name: {colour} for name, colour in want.items()}


def _all_variant_curves() -> dict[str, dict[str, list[float | None]]]:
    return {name: {"epoch": [0.1 * i for i in range(1, 61)], "loss": [2.3] * 60} for name in ABLATION_VARIANTS}


def test_each_variant_has_its_own_colour_and_the_same_look_in_both_ablate_figures() -> None:
    curves = _all_variant_curves()  # every variant flat at chance: the curves lie on each other
    lines = {line.get_label(): line for line in plots.loss_curves_figure(curves, chance_loss=2.3).axes[0].get_lines()}
    bars = plots.accuracy_bars_figure({name: 0.5 for name in ABLATION_VARIANTS}, chance=0.1).axes[0]
    bar_colours = dict(zip([t.get_text() for t in bars.get_yticklabels()][::-1],
                           [tuple(p.get_facecolor()) for p in bars.patches][::-1], strict=True))
    looks = set()
    for name, variant in ABLATION_VARIANTS.items():
        line, want = lines[name], style.variant_style(name)
        assert to_rgba(line.get_color()) == to_rgba(want.colour) == bar_colours[name]
        assert (line.get_linestyle() == "--") is variant.deep  # deep variants dashed, the others solid
        assert line.get_linestyle() in ("-", "--")
        assert line.get_marker() == {"plain": "s", "bn": "o", "dropout": "^"}[
            "plain" if not variant.batch_norm else "dropout" if variant.dropout else "bn"]
        looks.add((to_rgba(line.get_color()), line.get_linestyle(), line.get_marker()))
    assert len({colour for colour, _, _ in looks}) == len(ABLATION_VARIANTS)  # no two variants share a colour
    plain, deep = lines["sigmoid-plain"], lines["sigmoid-deep-plain"]
    assert plain.get_color() != deep.get_color() and plain.get_linestyle() != deep.get_linestyle()
    assert plain.get_markevery() != deep.get_markevery()  # their markers fall on different epochs
    # the report builds its figures with the same look
    report = ablate.figures(ablate_results())
    report_lines = {line.get_label(): line for line in report["loss-curves"].axes[0].get_lines()}
    for name in ("relu-bn", "relu-plain", "sigmoid-plain"):
        assert to_rgba(report_lines[name].get_color()) == to_rgba(style.variant_style(name).colour)
    assert [tuple(p.get_facecolor()) for p in report["accuracy"].axes[0].patches] == [
        to_rgba(style.variant_style(name).colour) for name in ("relu-bn", "relu-plain", "sigmoid-plain")]


def test_an_unknown_variant_is_styled_from_its_name() -> None:
    look = style.variant_style("gelu-deep-bn")
    assert look.linestyle == style.DEEP_LINESTYLE and look.marker == "o"
    assert look == style.variant_style("gelu-deep-bn")


def test_the_timeline_panels_share_one_time_axis() -> None:
    figure = _drawn(compare.figures(compare_results())["timeline"])
    first, *others = figure.axes
    assert others and all(first.get_shared_x_axes().joined(first, ax) for ax in others)
    assert {ax.get_xlim() for ax in figure.axes} == {(0.0, 127.0)}  # the longest run: 123 s + 4 s
    ends = [ax.get_title(loc="right") for ax in figure.axes]
    assert ends == ["127 s in all", "10.1 s in all", "127 s in all", "10.1 s in all"]
    assert "100" in [t.get_text() for t in figure.axes[-1].get_xticklabels() if t.get_visible()]
    assert not any(t.get_visible() for ax in figure.axes[:-1] for t in ax.get_xticklabels())  # one time scale, below


def _legends(figure: Figure) -> list[Legend]:
    return [legend for legend in [*(ax.get_legend() for ax in figure.axes), *figure.legends] if legend is not None]


def test_no_legend_covers_a_data_area() -> None:
    drawn = {**{f"compare {k}": f for k, f in compare.figures(compare_results()).items()},
             **{f"scaling {k}": f for k, f in scaling.figures(scaling_results()).items()},
             **{f"ablate {k}": f for k, f in ablate.figures(ablate_results()).items()},
             "every variant": plots.loss_curves_figure(_all_variant_curves(), chance_loss=2.3)}
    checked = 0
    for name, figure in drawn.items():
        renderer = _drawn(figure).canvas.get_renderer()
        for legend in _legends(figure):
            box = legend.get_window_extent(renderer)
            for ax in figure.axes:
                overlap = Bbox.intersection(box, ax.bbox)
                assert overlap is None or overlap.width * overlap.height < 1.0, f"{name}: legend over the data"
            checked += 1
    assert checked >= 6  # timeline, per-class bars, both scaling figures, both ablate figures


def test_log_axes_have_plain_tick_labels() -> None:
    assert [style.plain_number(v) for v in (1000, 10_000, 100, 10, 1, 0.5, 0.01, 2.5, 1e6)] == [
        "1,000", "10,000", "100", "10", "1", "0.5", "0.01", "2.5", "1,000,000"]
    figure = _drawn(scaling.figures(scaling_results())["train-seconds-vs-size"])
    ax = figure.axes[0]
    assert ax.get_yscale() == "log" and ax.get_xscale() == "log"
    labels = [t.get_text() for t in [*ax.get_yticklabels(), *ax.get_xticklabels()] if t.get_text()]
    assert len(labels) >= 5
    for label in labels:
        assert not any(mark in label for mark in ("$", "^", "10^", "e+", "e-", "×", "mathdefault")), label
        float(label.replace(",", ""))
    # over several decades too: plain numbers, thousands separated
    wide = Figure()
    axes = wide.add_subplot()
    axes.plot([1, 2], [0.01, 20_000])
    style.plain_log_axis(axes.yaxis)
    _drawn(wide)
    shown = [t.get_text() for t in axes.get_yticklabels() if t.get_text()]
    assert "1,000" in shown and "0.01" in shown and not any("$" in t for t in shown)


def test_figures_use_projector_sized_fonts_without_changing_matplotlibs_settings() -> None:
    before = dict(matplotlib.rcParams)
    figures = [*compare.figures(compare_results()).values(), *scaling.figures(scaling_results()).values(),
               *ablate.figures(ablate_results()).values()]
    assert dict(matplotlib.rcParams) == before
    for figure in figures:
        png_bytes(figure)  # saved outside the style: the sizes stay
        for ax in figure.axes:
            for label in [*ax.get_xticklabels(), *ax.get_yticklabels()]:
                if label.get_text():
                    assert label.get_fontsize() >= style.FONT_SIZE


# --------------------------------------------------------------------------- stage colours
PACKAGE = Path(plots.__file__).resolve().parents[1]


def _module_strings(tree: ast.Module) -> dict[str, str]:
    """The module-level ``NAME = "text"`` constants of a module."""
    return {target.id: node.value.value for node in tree.body if isinstance(node, ast.Assign)
            and isinstance(node.value, ast.Constant) and isinstance(node.value.value, str)
            for target in node.targets if isinstance(target, ast.Name)}


def _argument(call: ast.Call, function: ast.FunctionDef, parameter: str) -> ast.expr | None:
    """What ``call`` passes for ``parameter`` of ``function``, or None when it passes nothing."""
    for keyword in call.keywords:
        if keyword.arg == parameter:
            return keyword.value
    names = [a.arg for a in function.args.args]
    index = names.index(parameter)
    return call.args[index] if index < len(call.args) else None


def _values(node: ast.expr | None, constants: dict[str, str], scope: ast.FunctionDef | None,
            trees: dict[Path, ast.Module]) -> set[str]:
    """Every text ``node`` can hold: a literal, a module constant, ``a + b``, ``a if c else b``, or a
    parameter of its function, through every call of that function in the package (None: nothing)."""
    if node is None or (isinstance(node, ast.Constant) and node.value is None):
        return set()
    if isinstance(node, ast.Constant) and isinstance(node.value, str):
        return {node.value}
    if isinstance(node, ast.BinOp) and isinstance(node.op, ast.Add):
        return {a + b for a in _values(node.left, constants, scope, trees)
                for b in _values(node.right, constants, scope, trees)}
    if isinstance(node, ast.IfExp):
        return _values(node.body, constants, scope, trees) | _values(node.orelse, constants, scope, trees)
    if isinstance(node, ast.Name) and node.id in constants:
        return {constants[node.id]}
    if isinstance(node, ast.Name) and scope is not None and node.id in [a.arg for a in scope.args.args]:
        found: set[str] = set()
        for tree in trees.values():
            for call in ast.walk(tree):
                if (isinstance(call, ast.Call) and isinstance(call.func, ast.Name)
                        and call.func.id == scope.name):
                    found |= _values(_argument(call, scope, node.id), _module_strings(tree), None, trees)
        return found
    raise AssertionError(f"a stage name the test cannot follow: {ast.unparse(node)}")


def stage_names_in_the_code() -> set[str]:
    """Every name a ``.stage(name, ...)`` call in the package can give a stage."""
    trees = {path: ast.parse(path.read_text(encoding="utf-8")) for path in sorted(PACKAGE.rglob("*.py"))}
    names: set[str] = set()
    for tree in trees.values():
        constants = _module_strings(tree)
        for function in [node for node in ast.walk(tree) if isinstance(node, ast.FunctionDef)]:
            for call in ast.walk(function):
                if (isinstance(call, ast.Call) and isinstance(call.func, ast.Attribute) and call.func.attr == "stage"
                        and (call.args or call.keywords)):
                    name = call.args[0] if call.args else next(k.value for k in call.keywords if k.arg == "name")
                    names |= _values(name, constants, function, trees)
    return names


def test_every_stage_the_code_can_run_has_a_colour_of_its_own() -> None:
    names = stage_names_in_the_code()
    assert {"warm-up (small slice)", "codebook (k-means)", "warm-up and compile", "choose lr (validation split)",
            "choose svm (budget probe)", "choose epochs (budget probe)", "svm fit", "train"} <= names
    colours = {name: style.stage_colour(name) for name in names}
    assert len(set(colours.values())) == len(names), colours
    assert set(names) <= set(style.KNOWN_STAGES)


def test_each_stage_has_one_colour_whatever_the_other_stages() -> None:
    from featvslearn.reports.style import KNOWN_STAGES, stage_colour

    assert len({stage_colour(name) for name in KNOWN_STAGES}) == len(KNOWN_STAGES)
    assert stage_colour("train") == stage_colour("train")
    assert stage_colour("a stage of a new pipeline") == stage_colour("a stage of a new pipeline")
    assert stage_colour("a stage of a new pipeline") not in {stage_colour(name) for name in KNOWN_STAGES}


def test_the_timeline_shades_every_stage_in_its_own_colour_and_names_it_in_the_legend() -> None:
    names = sorted(stage_names_in_the_code())
    half = len(names) // 2
    runs = []
    for label, chosen in (("first", names[:half]), ("second", names[half:] + names[:2])):
        t = [float(i) for i in range(len(chosen) + 1)]
        stages = [{"name": n, "device": "cpu", "start_seconds": float(i), "end_seconds": i + 1.0}
                  for i, n in enumerate(chosen)]
        runs.append((label, Timeline(t_seconds=t, gpu_util_percent=None, cpu_util_percent=[150.0] * len(t),
                                     rss_bytes=[1] * len(t), stages=stages)))
    figure = plots.timeline_figure(runs)
    shaded: dict[str, set[tuple[float, ...]]] = {}
    for ax, (_, timeline) in zip(figure.axes, runs, strict=False):
        bands = [p for p in ax.patches if isinstance(p, Polygon | Rectangle)]
        assert len(bands) == len(timeline.stages)
        for band, stage in zip(bands, timeline.stages, strict=True):
            shaded.setdefault(stage["name"], set()).add(tuple(band.get_facecolor()))
        cpu = next(line for line in ax.get_lines() if line.get_color() == style.CPU_COLOUR)
        assert max(cpu.get_ydata()) <= 100  # a share of the whole machine
    assert all(len(colours) == 1 for colours in shaded.values())  # the same colour in every panel
    assert len({next(iter(c)) for c in shaded.values()}) == len(names)  # and no two stages alike
    legend = figure.legends[0]
    entries = {text.get_text(): tuple(handle.get_facecolor()) for text, handle in
               zip(legend.get_texts(), legend.legend_handles, strict=True) if text.get_text() in names}
    assert set(entries) == set(names) and len(set(entries.values())) == len(names)
    assert all(entries[name] in shaded[name] for name in names)
