"""The state the GPU check's steps share, the running of one step, and the compare runs most steps make.

A :class:`Check` holds the options, the plan, the log, the deadline, the dataset (loaded once),
every compare's results so far and the summary. :meth:`Check.run_step` runs one step so that its
failure, or the time limit, is recorded without stopping the steps after it.
"""

from __future__ import annotations

import argparse
import importlib
import time
import traceback
from collections.abc import Callable
from pathlib import Path
from typing import Any

from gpucheck.log import Log, OutOfTime, ProgressLines, one_line, stop_if_past
from gpucheck.plan import ALL_PIPELINES, Plan
from gpucheck.summary import Summary

Step = dict[str, Any]
"""A step's record in the summary: name, status, seconds, error, notes, details and files."""


class Check:
    """The steps' shared state and the summary, rewritten after every step."""

    def __init__(self, args: argparse.Namespace, plan: Plan, log: Log, start: float) -> None:
        """A check with the command line's ``args`` sized by ``plan``, logging to ``log``, started at ``start``
        (monotonic seconds; the deadline is --max-minutes after it)."""
        self.args, self.plan, self.log = args, plan, log
        self.deadline = start + 60.0 * args.max_minutes
        self.progress = ProgressLines(log, self.deadline)
        self.out: Path = args.out
        self.dataset = "fashion-mnist"
        self.split: Any = None
        self.compares: dict[str, Any] = {}
        self.summary = Summary(args, plan, start)

    # ------------------------------------------------------------------ running steps
    def seconds_left(self) -> float:
        """Seconds left before the --max-minutes deadline (negative past it)."""
        return self.deadline - time.monotonic()

    def check_time(self) -> None:
        """Raise :class:`OutOfTime` past the deadline; for steps' own loops between library calls."""
        stop_if_past(self.deadline)

    def run_step(self, name: str, body: Callable[[Step], None]) -> None:
        """Run one step's ``body`` on its record; a failure is recorded with its one-line error, a step past the
        deadline is stopped (one not yet started is skipped, but for nvml, which only reads earlier runs), and the
        summary is written either way."""
        record = self.summary.step(name)
        self.log.say("")
        self.log.say(f"== {name}")
        if self.seconds_left() <= 0 and name != "nvml":
            record["status"] = "skipped"
            record["notes"].append(f"skipped: the --max-minutes limit ({self.args.max_minutes:g}) was reached")
            self.log.say(f"   {record['notes'][-1]}")
            self.summary.write()
            return
        record["status"] = "running"
        self.progress = ProgressLines(self.log, self.deadline)
        started = time.monotonic()
        try:
            body(record)
            if record["status"] == "running":
                record["status"] = "ok"
        except OutOfTime as exc:
            record["status"] = "stopped"
            record["error"] = f"stopped: {exc} ({self.args.max_minutes:g} min) while it ran"
        except Exception as exc:  # one step's failure must not stop the others
            record["status"] = "failed"
            record["error"] = one_line(exc)
            self.log.say(traceback.format_exc().rstrip())
        finally:
            record["seconds"] = time.monotonic() - started
            if record["error"]:
                self.log.say(f"   {record['status']}: {record['error']}")
            self.log.say(f"   {name}: {record['status']} in {record['seconds']:.1f} s")
            self.summary.write()

    def note(self, record: Step, text: str) -> None:
        """Add a note to a step's record and log it."""
        record["notes"].append(text)
        self.log.say(f"   note: {text}")

    def figure(self, name: str, value: Any, step: str, unit: str = "", what: str | None = None,
               note: str | None = None, missed: bool = False) -> None:
        """Record a figure in the summary (see :meth:`Summary.figure`)."""
        self.summary.figure(name, value, step, unit, what, note, missed)

    # ------------------------------------------------------------------ data and results
    def data_options(self) -> dict[str, Any]:
        """The dataset options every experiment config of the check takes (no download)."""
        return {"dataset": self.dataset, "data_dir": self.args.data_dir, "download": False}

    def load(self) -> Any:
        """The dataset's whole train/test split, loaded once."""
        if self.split is None:
            from featvslearn.datasets import load_split

            self.split = load_split(self.dataset, data_dir=self.args.data_dir, download=False)
        return self.split

    def write_results(self, results: Any, stem: str, record: Step) -> None:
        """Write ``results`` as ``<stem>.json`` and ``<stem>.md`` (plots in ``<stem>-plots/``) under --out.

        A file that cannot be written fails the step, but only once its figures are recorded: the
        error is kept and the step goes on.
        """
        from featvslearn.reports import write_markdown
        from featvslearn.results import write_json

        for name, write in ((f"{stem}.json", write_json), (f"{stem}.md", write_markdown)):
            try:
                write(results, self.out / name)
                record["files"].append(name)
            except Exception as exc:  # the measurements are worth more than the file
                self.log.say(traceback.format_exc().rstrip())
                record["status"] = "failed"
                record["error"] = f"writing {name}: {one_line(exc)}"

    def show_table(self, results: Any) -> None:
        """Log the report's table of ``results``, text columns left-aligned and figures right-aligned."""
        from featvslearn.reports import table

        content = table(results)
        rows = [content.headers, *content.rows]
        widths = [max(len(row[i]) for row in rows) for i in range(len(content.headers))]
        self.log.say(f"   {content.title}")
        for row in rows:
            cells = [cell.ljust(w) if i < content.text_columns else cell.rjust(w)
                     for i, (cell, w) in enumerate(zip(row, widths, strict=True))]
            self.log.say("   " + "  ".join(cells))

    def compare(self, stem: str, record: Step, **options: Any) -> tuple[Any, float]:
        """Run one compare (``options``: CompareConfig's) through the library, write its JSON and report, show its
        table; returns the results and the wall seconds of ``run_comparison``."""
        from featvslearn.experiments.compare import run_comparison
        from featvslearn.experiments.config import CompareConfig

        config = CompareConfig(**self.data_options(), **options).validated()
        record["details"]["command"] = command_line(config, self.args.data_dir)
        self.log.say(f"   {record['details']['command']}")
        started = time.perf_counter()
        results = run_comparison(config, self.progress)
        wall = time.perf_counter() - started
        self.compares[stem] = results
        self.show_table(results)
        self.write_results(results, stem, record)
        record["details"]["wall_seconds"] = wall
        record["details"]["pipelines"] = [pipeline_summary(p) for p in results.pipelines]
        return results, wall

    def pipelines(self, record: Step) -> tuple[str, ...]:
        """Every pipeline, without sift-svm and sift-fv (and with a note) when kornia cannot be imported."""
        try:
            importlib.import_module("kornia.feature")
        except Exception as exc:  # the dense SIFT pipelines need kornia; the other pipelines do not
            self.note(record, f"sift-svm and sift-fv skipped: kornia cannot be imported ({one_line(exc)})")
            return tuple(p for p in ALL_PIPELINES if p not in ("sift-svm", "sift-fv"))
        return ALL_PIPELINES


def command_line(config: Any, data_dir: Path | None) -> str:
    """The ``featvslearn compare`` command equivalent to the CompareConfig ``config``."""
    parts = ["featvslearn compare", f"--dataset {config.dataset}", f"--device {config.device}",
             f"--pipelines {','.join(config.pipelines)}", f"--svm {config.svm}"]
    if config.train_size is not None:
        parts.append(f"--train-size {config.train_size}")
    if config.test_size is not None:
        parts.append(f"--test-size {config.test_size}")
    if config.epochs is not None:
        parts.append(f"--epochs {config.epochs}")
    if config.epoch_accuracy:
        parts.append("--epoch-accuracy")
    if data_dir is not None:
        parts.append(f"--data-dir {data_dir}")
    return " ".join([*parts, "--no-download"])


def train_stage(p: Any) -> Any:
    """The train stage of pipeline result ``p``, or None when it has none."""
    return next((s for s in p.stages if s.name == "train"), None)


def pipeline_summary(p: Any) -> dict[str, Any]:
    """The figures of one pipeline result ``p`` that the summary keeps."""
    train = train_stage(p)
    return {
        "name": p.name, "device": p.device, "accuracy": p.accuracy, "train_seconds": p.train_seconds,
        "predict_seconds": p.predict_seconds, "images_per_second": p.images_per_second,
        "warmup_seconds": p.warmup_seconds, "gpu_util_percent_mean": p.gpu_util_percent_mean,
        "gpu_util_percent_max": p.gpu_util_percent_max, "gpu_util_samples": p.gpu_util_samples,
        "train_stage_gpu_util_percent_mean": train.gpu_util_percent_mean if train else None,
        "peak_gpu_memory_bytes": p.peak_gpu_memory_bytes, "cpu_util_percent_mean": p.cpu_util_percent_mean,
        "peak_rss_bytes": p.peak_rss_bytes, "gpu_notes": list(p.gpu_notes or []),
    }


def result_of(results: Any, name: str, device_type: str | None = None) -> Any:
    """The result of pipeline ``name`` (on a device of ``device_type``, if given) in compare ``results``."""
    for p in results.pipelines:
        if p.name == name and (device_type is None or p.device.split(":")[0] == device_type):
            return p
    raise LookupError(f"no {name} result{f' on {device_type}' if device_type else ''}")
