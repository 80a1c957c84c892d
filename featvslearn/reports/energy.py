"""The energy each pipeline spent for its accuracy: the report's Energy section and the reading's sentence.

Joules come from the runs' results (:mod:`featvslearn.measure.energy` measures them): the GPU's from
NVML's energy counter, the CPU packages' from RAPL, each over the training and prediction stages.
A pipeline's energy is the sum of what was measured for it; the ratio between two pipelines is stated
only when both were measured on the same counters.
"""

from __future__ import annotations

from collections.abc import Sequence

from featvslearn.results import PipelineResult


def _joules(p: PipelineResult) -> float | None:
    """A pipeline's measured joules, GPU and CPU packages together; None when neither was measured."""
    parts = [j for j in (p.gpu_joules, p.cpu_joules) if j is not None]
    return sum(parts) if parts else None


def _counters(p: PipelineResult) -> tuple[bool, bool]:
    return p.gpu_joules is not None, p.cpu_joules is not None


def _fmt(joules: float) -> str:
    return f"{joules:,.0f} J" if joules >= 10 else f"{joules:.2f} J"


def energy_lines(labels: Sequence[str], pipelines: Sequence[PipelineResult]) -> list[str]:
    """The report's Energy section: per run the GPU's and the CPU packages' joules, and test accuracy per
    kJ; or one line saying why energy was not measured (with a blank line after either)."""
    if not pipelines:
        return []
    measured = [(label, p) for label, p in zip(labels, pipelines, strict=True) if _joules(p) is not None]
    if not measured:
        notes = sorted({note for p in pipelines for note in p.energy_notes})
        if not notes:
            return []
        return ["## Energy", "", f"Not measured in this run: {'; '.join(notes)}.", ""]
    lines = ["## Energy", "", "| run | GPU J | CPU packages J | total J | accuracy per kJ |",
             "|---|---:|---:|---:|---:|"]
    for label, p in zip(labels, pipelines, strict=True):
        total = _joules(p)
        per_kj = f"{p.accuracy / (total / 1000):.3f}" if total else "–"
        lines.append(f"| {label} | {_fmt(p.gpu_joules) if p.gpu_joules is not None else '–'} | "
                     f"{_fmt(p.cpu_joules) if p.cpu_joules is not None else '–'} | "
                     f"{_fmt(total) if total is not None else '–'} | {per_kj} |")
    short = sorted({label for label, p in zip(labels, pipelines, strict=True)
                    for s in p.stages if s.energy_below_resolution and s.role != "untimed"})
    notes = sorted({note for p in pipelines for note in p.energy_notes})
    lines += ["", "Joules over the training and prediction stages (the untimed warm-up left out): the GPU's from "
              "NVML's total-energy counter, the CPU packages' from RAPL, each read before and after a stage once "
              "the device's work had finished. Accuracy per kJ is test accuracy divided by the total in kJ. "
              "RAPL measures the whole CPU packages, other processes' work included."
              + (f" Stages of {', '.join(short)} were shorter than the counters resolve (0.1 s): their joules "
                 "are rough." if short else "")
              + (f" Not measured: {'; '.join(notes)}." if notes else ""), ""]
    return lines


def energy_sentence(best: PipelineResult, runner: PipelineResult) -> str:
    """The reading's sentence on energy: how many times the joules of one of the two most accurate
    pipelines the other spent, when both were measured on the same counters; else ""."""
    a, b = _joules(best), _joules(runner)
    if a is None or b is None or _counters(best) != _counters(runner) or min(a, b) <= 0:
        return ""
    which = "the GPU and the CPU packages" if all(_counters(best)) else (
        "the GPU" if _counters(best)[0] else "the CPU packages")
    more, less = (best, runner) if a >= b else (runner, best)
    ratio = max(a, b) / min(a, b)
    return (f"{more.name} spent {ratio:.1f}× the energy of {less.name} ({_fmt(max(a, b))} against "
            f"{_fmt(min(a, b))} on {which}, training and prediction).")
