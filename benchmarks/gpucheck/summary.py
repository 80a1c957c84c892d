"""``gpu_check.json``, the check's summary, and the closing table of every figure against its target.

The summary holds the run (command, options, plan), the environment, every figure with its unit,
target and pass/fail, and every step's status, seconds, one-line error, notes, details and files.
It is strict JSON (no NaN) and is rewritten, atomically, after every step.
"""

from __future__ import annotations

import argparse
import dataclasses
import json
import math
import sys
import time
from datetime import datetime, timezone
from pathlib import Path
from typing import Any

from gpucheck.log import Log
from gpucheck.plan import STEPS, Plan
from gpucheck.targets import NOT_APPLICABLE, TARGETS

SUMMARY_SCHEMA = "featvslearn-gpu-check/1"


def finite(value: Any) -> Any:
    """``value`` with every non-finite float replaced by None, for strict JSON (NumPy scalars become Python's)."""
    if type(value).__module__ == "numpy" and hasattr(value, "item"):
        value = value.item()  # a NumPy scalar
    if isinstance(value, float):
        return value if math.isfinite(value) else None
    if isinstance(value, dict):
        return {str(k): finite(v) for k, v in value.items()}
    if isinstance(value, (list, tuple)):
        return [finite(v) for v in value]
    return value


class Summary:
    """The summary as it stands: ``data`` is the JSON object, :meth:`write` updates and writes it."""

    def __init__(self, args: argparse.Namespace, plan: Plan, start: float) -> None:
        """A summary of the run ``args`` describe, sized by ``plan``, started at monotonic ``start``; no step run."""
        self.path: Path = args.out / "gpu_check.json"
        self.dry_run: bool = args.dry_run
        self.start = start
        self.figures: dict[str, dict[str, Any]] = {
            name: {"value": None, "unit": t.unit, "what": t.what, "step": t.step, "note": None, "missed": False}
            for name, t in TARGETS.items()}
        self.data: dict[str, Any] = {
            "schema": SUMMARY_SCHEMA,
            "dry_run": args.dry_run,
            "created": datetime.now(timezone.utc).isoformat(timespec="seconds"),
            "finished": False,
            "command": [Path(sys.executable).name, *sys.argv],
            "data_dir": str(args.data_dir) if args.data_dir else None,
            "max_minutes": args.max_minutes,
            "plan": dataclasses.asdict(plan),
            "total_seconds": 0.0,
            "environment": {},
            "targets": {},
            "figures": {},
            "steps": [{"name": name, "status": "pending", "seconds": None, "error": None, "notes": [],
                       "details": {}, "files": []} for name in STEPS],
        }

    def step(self, name: str) -> dict[str, Any]:
        """The record of step ``name``, which the step fills in as it runs."""
        return next(s for s in self.data["steps"] if s["name"] == name)

    def failed_steps(self) -> list[str]:
        """The steps that failed or were stopped at the time limit."""
        return [s["name"] for s in self.data["steps"] if s["status"] in ("failed", "stopped")]

    def figure(self, name: str, value: Any, step: str, unit: str = "", what: str | None = None,
               note: str | None = None, missed: bool = False) -> None:
        """Record a figure measured by ``step``. One named in TARGETS is set against its target (its unit and
        description are the target's; ``missed``: the step ran but the figure never got a value, such as an
        accuracy not reached); others are for the record, with ``unit`` and ``what``."""
        target = TARGETS.get(name)
        self.figures[name] = {"value": finite(value), "unit": target.unit if target else unit,
                              "what": target.what if target else what, "step": step, "note": note, "missed": missed}

    def figure_record(self, name: str, figure: dict[str, Any]) -> dict[str, Any]:
        """A figure as the summary holds it: value, unit, target, pass/fail (None: not judged) and why."""
        target = TARGETS.get(name)
        value = figure["value"]
        notes = [NOT_APPLICABLE] if target is not None and self.dry_run else []
        notes += [figure["note"]] if figure["note"] else []
        passed = None
        if target is not None and value is None and not figure["missed"]:
            step = self.step(figure["step"])
            notes.append(f"not measured (step {step['name']}: {step['status']})")
        elif target is not None and not self.dry_run:
            passed = False if value is None else bool(target.met(float(value)))
        return {"value": value, "unit": figure["unit"], "target": target.text() if target else None,
                "passed": passed, "what": figure["what"], "step": figure["step"],
                "note": "; ".join(notes) if notes else None}

    def write(self) -> None:
        """Bring the figures, the target counts and the total seconds up to date and write gpu_check.json."""
        from featvslearn.files import atomic_write_text

        figures = {name: self.figure_record(name, figure) for name, figure in self.figures.items()}
        with_target = [figures[name] for name in TARGETS]
        self.data["figures"] = figures
        self.data["targets"] = {
            "passed": sum(r["passed"] is True for r in with_target),
            "failed": sum(r["passed"] is False for r in with_target),
            "not_measured": 0 if self.dry_run else sum(r["passed"] is None for r in with_target),
            "not_applicable": len(with_target) if self.dry_run else 0,
        }
        self.data["total_seconds"] = time.monotonic() - self.start
        text = json.dumps(finite(self.data), indent=2, allow_nan=False, ensure_ascii=False)
        atomic_write_text(self.path, text + "\n")


def fmt_value(value: float | None, unit: str) -> str:
    """A figure for the log: thousands separated, four decimals below 1, three significant digits below 0.001."""
    if value is None:
        return "not measured"
    if isinstance(value, int):
        text = f"{value:,}"
    elif value != 0 and abs(value) < 1e-3:
        text = f"{value:.3g}"
    elif abs(value) < 1:
        text = f"{value:.4f}"
    else:
        text = f"{value:,.2f}" if abs(value) < 100 else f"{value:,.0f}"
    return f"{text} {unit}".rstrip()


def report_figures(summary: Summary, log: Log) -> None:
    """Log the written summary's figures against their targets, one line each, then the counts and step statuses."""
    log.say("")
    log.say("== figures" + (" (dry run: targets not applicable)" if summary.dry_run else ""))
    for name, record in summary.data["figures"].items():
        verdict = {True: "PASS", False: "MISS", None: "–"}[record["passed"]]
        target = f"  target {record['target']}" if record["target"] else ""
        log.say(f"   {verdict:4} {name:36} {fmt_value(record['value'], record['unit']):>22}{target}")
    counts = summary.data["targets"]
    dry = f", {counts['not_applicable']} not applicable (dry run)" if summary.dry_run else ""
    log.say(f"   targets: {counts['passed']} passed, {counts['failed']} missed, "
            f"{counts['not_measured']} not measured{dry}")
    log.say("   steps: " + ", ".join(f"{s['name']} {s['status']}" for s in summary.data["steps"]))
