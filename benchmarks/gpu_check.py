"""GPU check: every GPU figure README quotes, measured by one command and set against its target.

    PYTHONPATH=. python benchmarks/gpu_check.py --data-dir ../fashion-mnist --out gpu-check
    PYTHONPATH=. python benchmarks/gpu_check.py --dry-run --out /tmp/gpu-check   # the same steps, CPU, tiny sizes
    make gpu-check DATA_DIR=../fashion-mnist                                        # the first line, with the venv

It runs from the source tree (no install) on torch 2.x, prints its progress unbuffered, and
writes into --out: ``gpu_check.log`` (everything printed), ``gpu_check.json`` (strict JSON,
rewritten after every step: each figure with its target and pass/fail, each step's status and
one-line error, the environment), the JSON and Markdown report of every compare, scaling and
ablate run, and ``cuda-tests.xml`` (the CUDA tests' JUnit report).

Targets, on one H100 or H200 with the full Fashion-MNIST split (not yet measured):

* cnn: test accuracy >= 0.93 within 5 s of training;
* hog-svm with ``--svm rbf``: accuracy >= 0.91 with train + predict <= 3 s;
* batched HOG: >= 500,000 images/s on 28x28 images, equal to ``skimage.feature.hog``;
* ``compare --dataset fashion-mnist --device cuda``: <= 60 s wall;
* NVML's kernel-active % during the CNN's training: mean >= 80 %.

The whole check is sized for 8 minutes on one H100. ``--max-minutes`` (default 8) skips the long
steps (scaling, ablate) when the time left is less than they need, and stops any step at the
limit; either way the step is recorded and the summary still written. It exits 0 when every step
ran (whether or not the figures met their targets), 1 when a step failed or was stopped, and 2
without a GPU or for a bad option. ``--dry-run`` runs every
step on the CPU with a few hundred images and 1-2 epochs (about 40 s on 2 cores), and marks
the targets "not applicable in a dry run".
"""

from __future__ import annotations

import argparse
import dataclasses
import importlib
import json
import math
import os
import platform
import subprocess
import sys
import threading
import time
import traceback
import warnings
import xml.etree.ElementTree as ET
from collections.abc import Callable
from dataclasses import dataclass
from datetime import datetime, timezone
from pathlib import Path
from typing import Any

REPO = Path(__file__).resolve().parents[1]
SUMMARY_SCHEMA = "featvslearn-gpu-check/1"
NOT_APPLICABLE = "not applicable in a dry run"

HOG_PARAMS = {"orientations": 9, "pixels_per_cell": (4, 4), "cells_per_block": (2, 2), "block_norm": "L2-Hys"}
"""The HOG setting of benchmarks/hog_speed.py (hog-svm's fine scale at 28x28)."""

ALL_PIPELINES = ("hog-svm", "sift-svm", "cnn", "learned-svm")
MODULES = ("torch", "torchvision", "numpy", "sklearn", "skimage", "PIL", "joblib", "pydantic", "typer", "rich",
           "psutil", "pynvml", "matplotlib", "kornia", "pytest", "hypothesis")
"""Modules whose versions go into the summary (kornia: sift-svm; hypothesis: the CPU test suite only)."""
NEEDED = ("torch", "torchvision", "numpy", "sklearn", "skimage", "PIL", "joblib", "pydantic", "psutil", "pynvml",
          "matplotlib", "pytest")
"""Modules the check's steps cannot do without (pydantic: every results file; pynvml: the GPU readings)."""

STEPS = ("environment", "data", "cuda-tests", "hog-speed", "compare-cuda-linear", "compare-cuda-rbf",
         "compare-cpu-cuda", "cnn-time-to-accuracy", "nvml", "scaling", "ablate")
LONG_STEPS = ("scaling", "ablate")


@dataclass(frozen=True)
class Target:
    """A figure's target: ``value`` compared by ``op`` (``>=`` or ``<=``); ``step`` measures it, ``what`` says how."""

    op: str
    value: float
    unit: str
    step: str
    what: str

    def text(self) -> str:
        return f"{'≥' if self.op == '>=' else '≤'} {self.value:,g}{(' ' + self.unit) if self.unit else ''}"

    def met(self, value: float) -> bool:
        return value >= self.value if self.op == ">=" else value <= self.value


TARGETS: dict[str, Target] = {
    "cuda_tests_failed": Target("<=", 0, "", "cuda-tests",
                                "CUDA tests failed or in error (pytest -m cuda tests/test_cuda.py)"),
    "hog_images_per_second": Target(">=", 500_000, "images/s", "hog-speed",
                                    "batched HOG on the device, 28x28 images, host array in and out (median of 3)"),
    "hog_max_abs_difference": Target("<=", 1e-3, "", "hog-speed",
                                     "batched HOG on the device against skimage.feature.hog (the HOG tests' "
                                     "tolerance)"),
    "compare_cuda_wall_seconds": Target("<=", 60, "s", "compare-cuda-linear",
                                        "compare --dataset fashion-mnist --device cuda, all four pipelines, --svm "
                                        "linear: run_comparison's wall seconds, data loading to results"),
    "cnn_accuracy": Target(">=", 0.93, "", "compare-cuda-linear",
                           "cnn test accuracy in compare --device cuda (the --svm linear run)"),
    "cnn_train_seconds": Target("<=", 5, "s", "compare-cuda-linear",
                                "cnn train seconds in the same run (warm-up not counted)"),
    "cnn_seconds_to_0.93": Target("<=", 5, "s", "cnn-time-to-accuracy",
                                  "cnn: summed epoch seconds until test accuracy first reaches 0.93 (compare "
                                  "--epoch-accuracy, default epochs; evaluation not counted)"),
    "hog_svm_rbf_accuracy": Target(">=", 0.91, "", "compare-cuda-rbf",
                                   "hog-svm test accuracy in compare --device cuda --svm rbf"),
    "hog_svm_rbf_train_predict_seconds": Target("<=", 3, "s", "compare-cuda-rbf",
                                                "hog-svm train + predict seconds, --svm rbf"),
    "cnn_train_gpu_util_percent_mean": Target(">=", 80, "%", "compare-cuda-linear",
                                              "NVML kernel-active %, mean over the cnn's train stage (the --svm "
                                              "linear run)"),
}


@dataclass(frozen=True)
class Plan:
    """The sizes of every step: the check on the GPU, or its dry run on the CPU.

    ``None`` sizes mean the whole split and epochs ``None`` the defaults, as on the command line.
    """

    device: str
    speedup_devices: str
    compare_train: int | None
    compare_test: int | None
    compare_epochs: int | None
    speedup_train: int
    speedup_test: int
    speedup_epochs: int
    accuracy_epochs: int | None
    scaling_sizes: tuple[int, ...] | None
    scaling_test: int | None
    scaling_epochs: int | None
    ablate_variants: tuple[str, ...] | None
    ablate_train: int | None
    ablate_test: int | None
    ablate_epochs: int | None
    hog_images: int | None
    hog_loop_images: int
    tests_timeout_s: float
    fallback_minutes: dict[str, float]


GPU_PLAN = Plan(device="cuda", speedup_devices="cpu,cuda", compare_train=None, compare_test=None, compare_epochs=None,
                speedup_train=5000, speedup_test=2000, speedup_epochs=3, accuracy_epochs=None, scaling_sizes=None,
                scaling_test=None, scaling_epochs=None, ablate_variants=None, ablate_train=None, ablate_test=None,
                ablate_epochs=None, hog_images=None, hog_loop_images=1000, tests_timeout_s=300.0,
                fallback_minutes={"scaling": 3.0, "ablate": 2.0})
DRY_PLAN = Plan(device="cpu", speedup_devices="cpu,cpu", compare_train=300, compare_test=200, compare_epochs=1,
                speedup_train=200, speedup_test=100, speedup_epochs=1, accuracy_epochs=2, scaling_sizes=(50, 100),
                scaling_test=100, scaling_epochs=1, ablate_variants=("relu-bn", "sigmoid-plain"), ablate_train=200,
                ablate_test=100, ablate_epochs=1, hog_images=2000, hog_loop_images=200, tests_timeout_s=120.0,
                fallback_minutes={"scaling": 0.5, "ablate": 0.3})


class OutOfTime(Exception):
    """The --max-minutes limit passed while a step ran."""


def one_line(exc: BaseException) -> str:
    """An exception as one line: its type and its message with whitespace collapsed."""
    return f"{type(exc).__name__}: {' '.join(str(exc).split())}"[:600]


def finite(value: Any) -> Any:
    """``value`` with every non-finite float replaced by None, for strict JSON."""
    if type(value).__module__ == "numpy" and hasattr(value, "item"):
        value = value.item()  # a NumPy scalar
    if isinstance(value, float):
        return value if math.isfinite(value) else None
    if isinstance(value, dict):
        return {str(k): finite(v) for k, v in value.items()}
    if isinstance(value, (list, tuple)):
        return [finite(v) for v in value]
    return value


# ============================================================================ log and progress


class Log:
    """Prints each line at once (flushed) and appends it to the log file, stamped with the seconds since start."""

    def __init__(self, path: Path, start: float) -> None:
        self.file = path.open("w", encoding="utf-8")
        self.start = start

    def say(self, text: str = "") -> None:
        for line in text.splitlines() or [""]:
            stamped = f"[{time.monotonic() - self.start:6.1f}s] {line}"
            print(stamped, flush=True)
            self.file.write(stamped + "\n")
        self.file.flush()

    def close(self) -> None:
        self.file.close()


class ProgressLines:
    """The library's progress callbacks as log lines, and the --max-minutes guard.

    A task gets a line when it starts, when its text changes (at most one a second) and when it
    completes, and every 15 s otherwise. Past ``deadline`` (monotonic seconds) the next callback
    raises :class:`OutOfTime`, which ends the running step.
    """

    def __init__(self, log: Log, deadline: float) -> None:
        self.log = log
        self.deadline = deadline
        self.last: dict[str, tuple[float, str, bool]] = {}

    def __call__(self, key: str, description: str, completed: float, total: float | None) -> None:
        now = time.monotonic()
        if now > self.deadline:
            raise OutOfTime("the --max-minutes limit was reached")
        done = total is not None and total > 0 and completed >= total
        previous = self.last.get(key)
        if previous is not None:
            when, text, was_done = previous
            changed = text != description and now - when >= 1.0
            if not (changed or (done and not was_done) or now - when >= 15.0):
                return
        count = f" ({completed:,.0f}/{total:,.0f})" if total else ""
        self.log.say(f"    {description}{count}")
        self.last[key] = (now, description, done)


# ============================================================================ the check


class Check:
    """The steps, the figures they measure and the summary file, rewritten after every step."""

    def __init__(self, args: argparse.Namespace, plan: Plan, log: Log, start: float) -> None:
        self.args, self.plan, self.log, self.start = args, plan, log, start
        self.deadline = start + 60.0 * args.max_minutes
        self.progress = ProgressLines(log, self.deadline)
        self.out: Path = args.out
        self.dataset = "fashion-mnist"
        self.split: Any = None
        self.compares: dict[str, Any] = {}
        self.figures: dict[str, dict[str, Any]] = {
            name: {"value": None, "unit": t.unit, "what": t.what, "step": t.step, "note": None, "missed": False}
            for name, t in TARGETS.items()}
        self.summary: dict[str, Any] = {
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

    # ------------------------------------------------------------------ summary
    def figure(self, name: str, value: Any, step: str, unit: str = "", what: str | None = None,
               note: str | None = None, missed: bool = False) -> None:
        """Record a figure. One named in TARGETS is set against its target (``missed``: the step ran but
        the figure never got a value, such as an accuracy not reached); others are for the record."""
        target = TARGETS.get(name)
        self.figures[name] = {"value": finite(value), "unit": target.unit if target else unit,
                              "what": target.what if target else what, "step": step, "note": note, "missed": missed}

    def step_record(self, name: str) -> dict:
        return next(s for s in self.summary["steps"] if s["name"] == name)

    def figure_record(self, name: str, figure: dict[str, Any]) -> dict[str, Any]:
        """A figure as the summary holds it: value, unit, target, pass/fail (None: not judged) and why."""
        target = TARGETS.get(name)
        value = figure["value"]
        notes = [NOT_APPLICABLE] if target is not None and self.args.dry_run else []
        notes += [figure["note"]] if figure["note"] else []
        passed = None
        if target is not None and value is None and not figure["missed"]:
            step = self.step_record(figure["step"])
            notes.append(f"not measured (step {step['name']}: {step['status']})")
        elif target is not None and not self.args.dry_run:
            passed = False if value is None else bool(target.met(float(value)))
        return {"value": value, "unit": figure["unit"], "target": target.text() if target else None,
                "passed": passed, "what": figure["what"], "step": figure["step"],
                "note": "; ".join(notes) if notes else None}

    def write_summary(self) -> None:
        """Write gpu_check.json (strict JSON, atomically) as it stands now."""
        from featvslearn.files import atomic_write_text

        figures = {name: self.figure_record(name, figure) for name, figure in self.figures.items()}
        with_target = [figures[name] for name in TARGETS]
        self.summary["figures"] = figures
        self.summary["targets"] = {
            "passed": sum(r["passed"] is True for r in with_target),
            "failed": sum(r["passed"] is False for r in with_target),
            "not_measured": 0 if self.args.dry_run else sum(r["passed"] is None for r in with_target),
            "not_applicable": len(with_target) if self.args.dry_run else 0,
        }
        self.summary["total_seconds"] = time.monotonic() - self.start
        text = json.dumps(finite(self.summary), indent=2, allow_nan=False, ensure_ascii=False)
        atomic_write_text(self.out / "gpu_check.json", text + "\n")

    # ------------------------------------------------------------------ running steps
    def seconds_left(self) -> float:
        return self.deadline - time.monotonic()

    def run_step(self, name: str, body: Callable[[dict], None]) -> None:
        """Run one step; a failure is recorded with its one-line error, and the summary is written either way."""
        record = self.step_record(name)
        self.log.say("")
        self.log.say(f"== {name}")
        if self.seconds_left() <= 0 and name != "nvml":
            record["status"] = "skipped"
            record["notes"].append(f"skipped: the --max-minutes limit ({self.args.max_minutes:g}) was reached")
            self.log.say(f"   {record['notes'][-1]}")
            self.write_summary()
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
            self.write_summary()

    def note(self, record: dict, text: str) -> None:
        record["notes"].append(text)
        self.log.say(f"   note: {text}")

    def check_time(self) -> None:
        if time.monotonic() > self.deadline:
            raise OutOfTime("the --max-minutes limit was reached")

    # ------------------------------------------------------------------ shared helpers
    def data_options(self) -> dict[str, Any]:
        return {"dataset": self.dataset, "data_dir": self.args.data_dir, "download": False}

    def load(self) -> Any:
        """The dataset's whole train/test split, loaded once."""
        if self.split is None:
            from featvslearn.datasets import load_split

            self.split = load_split(self.dataset, data_dir=self.args.data_dir, download=False)
        return self.split

    def write_results(self, results: Any, stem: str, record: dict) -> None:
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
        from featvslearn.reports import table

        content = table(results)
        rows = [content.headers, *content.rows]
        widths = [max(len(row[i]) for row in rows) for i in range(len(content.headers))]
        self.log.say(f"   {content.title}")
        for row in rows:
            cells = [cell.ljust(w) if i < content.text_columns else cell.rjust(w)
                     for i, (cell, w) in enumerate(zip(row, widths, strict=True))]
            self.log.say("   " + "  ".join(cells))

    def compare(self, stem: str, record: dict, **options: Any) -> tuple[Any, float]:
        """Run one compare through the library, write its JSON and report, show its table; returns
        the results and the wall seconds of ``run_comparison``."""
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

    def pipelines(self, record: dict) -> tuple[str, ...]:
        """Every pipeline, without sift-svm (and with a note) when kornia cannot be imported."""
        try:
            importlib.import_module("kornia.feature")
        except Exception as exc:  # sift-svm needs kornia; the other pipelines do not
            self.note(record, f"sift-svm skipped: kornia cannot be imported ({one_line(exc)})")
            return tuple(p for p in ALL_PIPELINES if p != "sift-svm")
        return ALL_PIPELINES


def command_line(config: Any, data_dir: Path | None) -> str:
    """The ``featvslearn compare`` command equivalent to ``config``."""
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


def pipeline_summary(p: Any) -> dict[str, Any]:
    """The figures of one pipeline result that the summary keeps."""
    train = next((s for s in p.stages if s.name == "train"), None)
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


# ============================================================================ steps


def step_environment(check: Check, record: dict) -> None:
    """Versions, the GPU, its driver and CUDA; which optional modules import."""
    started = time.perf_counter()
    import torch

    from featvslearn.measure import environment

    modules: dict[str, str | None] = {}
    for name in MODULES:
        try:
            module = importlib.import_module(name)
            modules[name] = str(getattr(module, "__version__", "present"))
        except Exception as exc:  # a missing or broken optional module is a finding, not a failure
            modules[name] = None
            record["details"].setdefault("import_errors", {})[name] = one_line(exc)
    device = torch.device(check.plan.device)
    env = environment(device)
    env.update({
        "modules": modules,
        "python_executable": sys.executable,
        "import_seconds": time.perf_counter() - started,
        "cuda_device_count": torch.cuda.device_count() if torch.cuda.is_available() else 0,
        "float32_matmul_precision": torch.get_float32_matmul_precision(),
    })
    check.summary["environment"] = finite(env)
    check.log.say(f"   GPU {env.get('gpu')}, driver {env.get('gpu_driver')}, CUDA {env.get('cuda_version')}; "
                  f"torch {torch.__version__}, Python {platform.python_version()}; CPU {env.get('cpu')}, "
                  f"{env.get('cpu_cores_logical')} logical cores")
    missing = [name for name, version in modules.items() if version is None]
    needed = [name for name in missing if name in NEEDED]
    record["details"]["missing_needed"] = needed
    if needed:
        check.note(record, f"NEEDED BUT MISSING: {', '.join(needed)}; the steps that use them will fail")
    if missing:
        check.note(record, f"not importable: {', '.join(missing)}")


def step_data(check: Check, record: dict) -> None:
    """Load the dataset once (a dry run falls back to digits without Fashion-MNIST)."""
    from featvslearn.errors import UserError

    started = time.perf_counter()
    try:
        split = check.load()
    except UserError as exc:
        if not check.args.dry_run:
            raise
        check.note(record, f"Fashion-MNIST not found ({one_line(exc)}); the dry run uses digits")
        check.dataset = "digits"
        split = check.load()
    record["details"] = {"dataset": check.dataset, "source": split.train.source, "train_size": len(split.train),
                         "test_size": len(split.test), "image_shape": list(split.train.image_shape),
                         "load_seconds": time.perf_counter() - started}
    check.log.say(f"   {check.dataset}: {len(split.train):,} train, {len(split.test):,} test images of "
                  f"{split.train.image_shape}, from {split.train.source}")


def step_cuda_tests(check: Check, record: dict) -> None:
    """``python -m pytest -m cuda tests/test_cuda.py -q`` in a subprocess; its counts from the JUnit report."""
    report = check.out / "cuda-tests.xml"
    report.unlink(missing_ok=True)
    command = [sys.executable, "-m", "pytest", "-m", "cuda", "tests/test_cuda.py", "-q", "-p", "no:cacheprovider",
               f"--junitxml={report}"]
    env = {**os.environ, "PYTHONPATH": os.pathsep.join(filter(None, [str(REPO), os.environ.get("PYTHONPATH")])),
           "PYTHONUNBUFFERED": "1"}
    timeout = max(5.0, min(check.plan.tests_timeout_s, check.seconds_left()))
    record["details"]["command"] = " ".join(command[1:])
    check.log.say(f"   python {record['details']['command']}  (timeout {timeout:.0f} s)")
    process = subprocess.Popen(command, cwd=REPO, env=env, stdout=subprocess.PIPE, stderr=subprocess.STDOUT,
                               text=True, errors="replace")

    def relay() -> None:
        for line in process.stdout:
            check.log.say(f"    | {line.rstrip()}")

    pump = threading.Thread(target=relay, daemon=True)
    pump.start()
    try:
        code = process.wait(timeout=timeout)
    except subprocess.TimeoutExpired:
        process.kill()
        process.wait()
        pump.join(timeout=5)
        raise TimeoutError(f"the CUDA tests ran past {timeout:.0f} s and were stopped") from None
    pump.join(timeout=5)
    counts, failures = junit_counts(report)
    record["details"].update({"exit_code": code, **counts, "failures": failures})
    record["files"].append(report.name)
    if code not in (0, 5) and not counts["failed"] + counts["errors"]:
        raise RuntimeError(f"pytest exited with code {code} and no failing test (a collection or usage error)")
    failed = counts["failed"] + counts["errors"]
    if not check.args.dry_run and counts["passed"] == 0:
        check.figure("cuda_tests_failed", None, "cuda-tests", missed=True,
                     note=f"no CUDA test passed ({failed} failed, {counts['skipped']} skipped)")
    else:
        check.figure("cuda_tests_failed", failed, "cuda-tests")


def junit_counts(path: Path) -> tuple[dict[str, int], list[str]]:
    """Tests passed, failed, in error and skipped in a pytest JUnit report, and a line per failure."""
    root = ET.parse(path).getroot()
    suites = [root] if root.tag == "testsuite" else list(root.iter("testsuite"))
    total = {key: sum(int(s.get(key, 0)) for s in suites) for key in ("tests", "failures", "errors", "skipped")}
    failures = []
    for case in root.iter("testcase"):
        for child in case:
            if child.tag in ("failure", "error"):
                message = " ".join((child.get("message") or child.text or "").split())[:300]
                failures.append(f"{case.get('name')}: {child.tag}: {message}")
    counts = {"passed": total["tests"] - total["failures"] - total["errors"] - total["skipped"],
              "failed": total["failures"], "errors": total["errors"], "skipped": total["skipped"]}
    return counts, failures


def step_hog_speed(check: Check, record: dict) -> None:
    """Batched HOG images/s on the device against a skimage loop on a sample (extrapolated), and their difference."""
    import numpy as np
    from skimage.feature import hog as skimage_hog

    from featvslearn.classical.hog import hog

    split = check.load()
    images = np.concatenate([split.train.images, split.test.images])[..., 0]  # (N, H, W) uint8 grey
    if check.plan.hog_images is not None:
        images = images[: check.plan.hog_images]
    device = check.plan.device
    hog(images[:256], device=device, **HOG_PARAMS)  # warm-up: CUDA context, kernels, allocator
    seconds = []
    for _ in range(3):
        check.check_time()
        started = time.perf_counter()
        features = hog(images, device=device, **HOG_PARAMS)  # (N, D) float32 on the host: every transfer counted
        seconds.append(time.perf_counter() - started)
    batched_s = sorted(seconds)[1]
    resident_s = hog_on_device_seconds(images, device)
    sample = images[: check.plan.hog_loop_images]
    started = time.perf_counter()
    reference = np.stack([skimage_hog(image, feature_vector=True, **HOG_PARAMS) for image in sample])  # (n, D)
    loop_s = time.perf_counter() - started
    per_image_s = loop_s / len(sample)
    diff = np.abs(features[: len(sample)].astype(np.float64) - reference)
    rate = len(images) / batched_s
    record["details"] = {
        "images": len(images), "image_shape": list(images.shape[1:]), "params": HOG_PARAMS, "device": device,
        "batched_seconds": seconds, "batched_images_per_second": rate,
        "on_device_seconds": resident_s, "on_device_images_per_second": len(images) / resident_s,
        "skimage_loop_sample": len(sample), "skimage_loop_sample_seconds": loop_s,
        "skimage_loop_images_per_second": 1.0 / per_image_s,
        "skimage_loop_seconds_extrapolated": per_image_s * len(images),
        "speed_up": per_image_s * len(images) / batched_s,
        "max_abs_difference": float(diff.max()), "mean_abs_difference": float(diff.mean()),
        "features_per_image": int(reference.shape[1]),
    }
    check.log.say(f"   batched HOG on {device}: {rate:,.0f} images/s ({len(images):,} images, median of 3: "
                  f"{batched_s:.3f} s); skimage loop {1.0 / per_image_s:,.0f} images/s (on {len(sample)}, "
                  f"extrapolated {per_image_s * len(images):.1f} s): {record['details']['speed_up']:.1f}x; "
                  f"max abs difference {diff.max():.3g}")
    check.log.say(f"   with the images already on {device} and the features left there (as the pipelines run it): "
                  f"{len(images) / resident_s:,.0f} images/s (median of 3: {resident_s:.3f} s)")
    check.figure("hog_images_per_second", rate, "hog-speed")
    check.figure("hog_images_per_second_on_device", len(images) / resident_s, "hog-speed", "images/s",
                 "batched HOG with uint8 images already on the device and the features left there (median of 3)")
    check.figure("hog_max_abs_difference", float(diff.max()), "hog-speed")
    check.figure("hog_speed_up_over_skimage", record["details"]["speed_up"], "hog-speed", "x",
                 "batched HOG on the device against the skimage loop on the CPU (extrapolated)")


def hog_on_device_seconds(images: Any, device: str) -> float:
    """Median of 3 timings of batched HOG on images already on ``device``, features left there, synchronised."""
    import torch

    from featvslearn.classical.hog import hog_tensor
    from featvslearn.device import synchronize

    on_device = torch.from_numpy(images).to(device)  # (N, H, W) uint8
    hog_tensor(on_device[:256], device=device, **HOG_PARAMS)  # warm-up
    seconds = []
    for _ in range(3):
        synchronize(device)
        started = time.perf_counter()
        hog_tensor(on_device, device=device, **HOG_PARAMS)  # (N, D) float32 on the device
        synchronize(device)
        seconds.append(time.perf_counter() - started)
    return sorted(seconds)[1]


def step_compare_linear(check: Check, record: dict) -> None:
    plan = check.plan
    results, wall = check.compare("compare-cuda-linear", record, device=plan.device, pipelines=check.pipelines(record),
                                  svm="linear", train_size=plan.compare_train, test_size=plan.compare_test,
                                  epochs=plan.compare_epochs)
    default_share = results.dataset.load_seconds + sum(
        s.seconds for p in results.pipelines if p.name in ("hog-svm", "cnn") for s in p.stages)
    record["details"]["default_pipelines_seconds"] = default_share
    # what each pipeline chose within compare's default budget on this device, and why
    record["details"]["budget_choices"] = {p.name: p.details.get("budget") for p in results.pipelines}
    check.figure("compare_cuda_wall_seconds", wall, "compare-cuda-linear",
                 note=f"all four pipelines; the default pipelines (hog-svm, cnn) and loading took "
                      f"{default_share:.1f} s of it; interpreter start-up and imports come on top "
                      "(environment.import_seconds)")
    cnn = result_of(results, "cnn")
    check.figure("cnn_accuracy", cnn.accuracy, "compare-cuda-linear")
    check.figure("cnn_train_seconds", cnn.train_seconds, "compare-cuda-linear")
    train = next((s for s in cnn.stages if s.name == "train"), None)
    check.figure("cnn_train_gpu_util_percent_mean", train.gpu_util_percent_mean if train else None,
                 "compare-cuda-linear", note=None if train and train.gpu_util_percent_mean is not None else
                 "no NVML reading of the train stage" + (f": {'; '.join(cnn.gpu_notes)}" if cnn.gpu_notes else ""))
    hog_svm = result_of(results, "hog-svm")
    check.figure("hog_svm_linear_accuracy", hog_svm.accuracy, "compare-cuda-linear", what="hog-svm, --svm linear")


def step_compare_rbf(check: Check, record: dict) -> None:
    plan = check.plan
    results, _ = check.compare("compare-cuda-rbf", record, device=plan.device, pipelines=check.pipelines(record),
                               svm="rbf", train_size=plan.compare_train, test_size=plan.compare_test,
                               epochs=plan.compare_epochs)
    hog_svm = result_of(results, "hog-svm")
    check.figure("hog_svm_rbf_accuracy", hog_svm.accuracy, "compare-cuda-rbf")
    check.figure("hog_svm_rbf_train_predict_seconds", hog_svm.train_seconds + hog_svm.predict_seconds,
                 "compare-cuda-rbf")


def step_compare_cpu_cuda(check: Check, record: dict) -> None:
    from featvslearn.reports.compare import speed_ups

    plan = check.plan
    results, _ = check.compare("compare-cpu-cuda", record, device=plan.speedup_devices,
                               train_size=min(plan.speedup_train, len(check.load().train)),
                               test_size=min(plan.speedup_test, len(check.load().test)), epochs=plan.speedup_epochs)
    first = results.devices[0]
    cpu_seconds = sum(s.seconds for p in results.pipelines if p.device == first for s in p.stages)
    record["details"]["first_device_seconds"] = cpu_seconds
    check.log.say(f"   the {first} side took {cpu_seconds:.1f} s")
    for p, up in zip(results.pipelines, speed_ups(results), strict=True):
        if up is None:
            continue
        key = p.name.replace("-", "_")
        check.figure(f"speed_up_{key}_train", up.train, "compare-cpu-cuda", "x",
                     f"{p.name}: train seconds on {up.baseline_device} over those on {p.device}")
        check.figure(f"speed_up_{key}_predict", up.predict, "compare-cpu-cuda", "x",
                     f"{p.name}: predict seconds on {up.baseline_device} over those on {p.device}")


def step_time_to_accuracy(check: Check, record: dict) -> None:
    plan = check.plan
    results, _ = check.compare("cnn-epoch-accuracy", record, device=plan.device, pipelines=("cnn",),
                               epoch_accuracy=True, train_size=plan.compare_train, test_size=plan.compare_test,
                               epochs=plan.accuracy_epochs)
    details = result_of(results, "cnn").details
    accuracy = list(details["test_accuracy_per_epoch"])
    epoch_seconds = list(details["seconds_per_epoch"])
    cumulative = [sum(epoch_seconds[: i + 1]) for i in range(len(epoch_seconds))]
    record["details"].update({"test_accuracy_per_epoch": accuracy, "seconds_per_epoch": epoch_seconds,
                              "cumulative_seconds": cumulative})
    for line in (f"epoch {i + 1:3d}: {a:.4f} at {c:7.2f} s" for i, (a, c) in enumerate(zip(accuracy, cumulative,
                                                                                                 strict=True))):
        check.log.say(f"   {line}")
    for threshold in (0.93, 0.94):
        reached = next((i for i, a in enumerate(accuracy) if a >= threshold), None)
        note = None if reached is not None else (
            f"not reached in {len(accuracy)} epochs (best {max(accuracy, default=float('nan')):.4f})")
        check.figure(f"cnn_seconds_to_{threshold}", cumulative[reached] if reached is not None else None,
                     "cnn-time-to-accuracy", "s",
                     f"cnn: summed epoch seconds until test accuracy first reaches {threshold}", note,
                     missed=reached is None)
        if reached is not None:
            check.figure(f"cnn_epochs_to_{threshold}", reached + 1, "cnn-time-to-accuracy", "epochs",
                         f"cnn: epochs until test accuracy first reaches {threshold}")


def step_nvml(check: Check, record: dict) -> None:
    """Mean and max GPU utilisation and peak GPU memory of every GPU run in the compares above."""
    rows = []
    for stem, results in check.compares.items():
        for p in results.pipelines:
            if not p.device.startswith("cuda"):
                continue
            train = next((s for s in p.stages if s.name == "train"), None)
            rows.append({"compare": stem, "pipeline": p.name, "device": p.device,
                         "gpu_util_percent_mean": p.gpu_util_percent_mean,
                         "gpu_util_percent_max": p.gpu_util_percent_max, "gpu_util_samples": p.gpu_util_samples,
                         "train_stage_gpu_util_percent_mean": train.gpu_util_percent_mean if train else None,
                         "peak_gpu_memory_bytes": p.peak_gpu_memory_bytes, "gpu_notes": list(p.gpu_notes or [])})
    record["details"]["runs"] = rows
    if not rows:
        check.note(record, "no run on a GPU" + (" in a dry run" if check.args.dry_run else "") +
                   ": no NVML figures")
        return

    def fmt(value: float | None, spec: str) -> str:
        return "–" if value is None else format(value, spec)

    out_of_range = []
    for row in rows:
        for key in ("gpu_util_percent_mean", "gpu_util_percent_max", "train_stage_gpu_util_percent_mean"):
            value = row[key]
            if value is not None and not 0.0 <= value <= 100.0:
                out_of_range.append(f"{row['compare']} {row['pipeline']} {key} = {value}")
        memory = row["peak_gpu_memory_bytes"]
        notes = f"; {'; '.join(row['gpu_notes'])}" if row["gpu_notes"] else ""
        check.log.say(f"   {row['compare']:20} {row['pipeline']:12} GPU util mean "
                      f"{fmt(row['gpu_util_percent_mean'], '5.1f')} % max {fmt(row['gpu_util_percent_max'], '5.1f')} "
                      f"% ({row['gpu_util_samples']} samples), peak memory "
                      f"{fmt(memory / 2**30 if memory else None, '.2f')} GiB{notes}")
    if out_of_range:
        raise ValueError("NVML figures outside 0-100 %: " + "; ".join(out_of_range))
    if all(row["gpu_util_samples"] == 0 for row in rows):
        raise RuntimeError("no NVML utilisation sample in any GPU run: " +
                           "; ".join(sorted({n for row in rows for n in row["gpu_notes"]})))


def long_step_estimate(check: Check, name: str) -> tuple[float, str]:
    """Seconds ``name`` (scaling or ablate) is expected to need, and how that was worked out.

    From the --svm linear compare: the cnn's train-stage seconds scaled by the step's CNN training
    over that run's (counted in image passes and in optimiser steps, whichever is more: small
    batches on a GPU cost about as much per step as big ones), plus each run's other cnn seconds
    (warm-up, to device, evaluation) and, for scaling, hog-svm's seconds per size. Without that
    compare, fixed minutes.
    """
    from featvslearn.experiments.ablation import LR_FACTORS, ablation_epochs, selection_epochs
    from featvslearn.experiments.scaling import default_sizes
    from featvslearn.learned import train
    from featvslearn.learned.variants import ABLATION_TRAIN_SIZE, ABLATION_VARIANTS, DEFAULT_ABLATION_VARIANTS

    fallback = 60.0 * check.plan.fallback_minutes[name], f"{check.plan.fallback_minutes[name]:g} min (fixed)"
    results = check.compares.get("compare-cuda-linear")
    if results is None:
        return fallback
    cnn, hog_svm = result_of(results, "cnn"), result_of(results, "hog-svm")
    train_stage = next(s.seconds for s in cnn.stages if s.name == "train")
    cnn_other = sum(s.seconds for s in cnn.stages) - train_stage
    device_type = check.plan.device.split(":")[0]
    side = min(results.dataset.image_shape[:2])

    def work(n: int, epochs: int | None, weight: int = 1) -> tuple[int, int]:
        """(image passes, optimiser steps) of training ``weight`` CNNs on ``n`` images."""
        settings = train.train_settings_for(n, side, device_type, True, 0, epochs=epochs)
        return weight * n * settings.epochs, weight * max(1, n // settings.batch_size) * settings.epochs

    full = work(results.dataset.train_size, check.plan.compare_epochs)
    n_train = len(check.load().train)
    if name == "scaling":
        sizes = check.plan.scaling_sizes or default_sizes(n_train, check.load().train.num_classes)
        runs = [work(size, check.plan.scaling_epochs) for size in sizes]
        other = len(sizes) * (cnn_other + sum(s.seconds for s in hog_svm.stages))
    else:
        variants = [ABLATION_VARIANTS[v] for v in check.plan.ablate_variants or DEFAULT_ABLATION_VARIANTS]
        size = check.plan.ablate_train or min(n_train, ABLATION_TRAIN_SIZE)
        runs = []
        for variant in variants:  # its training, and its learning-rate trials on four fifths of its images
            n = min(size, variant.train_size or size)
            epochs = check.plan.ablate_epochs or ablation_epochs(n)
            weight = 4 if variant.deep else 1  # four times the convolutions (each network far smaller than cnn's)
            runs += [work(n, epochs, weight)] + [work(n * 4 // 5, selection_epochs(epochs), weight)] * len(LR_FACTORS)
        other = len(variants) * cnn_other
    ratio = max(sum(r[0] for r in runs) / full[0], sum(r[1] for r in runs) / full[1])
    return ratio * train_stage + other, f"{ratio:.2f}x the cnn's training in that run, plus {other:.0f} s for the rest"


def guard_long_step(check: Check, record: dict, name: str) -> bool:
    """Whether ``name`` fits in the time left; if not, the step is marked skipped with a note."""
    try:
        needed, how = long_step_estimate(check, name)
    except Exception as exc:  # an estimate that cannot be made falls back to the fixed one
        needed = 60.0 * check.plan.fallback_minutes[name]
        how = f"{check.plan.fallback_minutes[name]:g} min (fixed; {one_line(exc)})"
    left = check.seconds_left()
    record["details"]["estimated_seconds"] = needed
    check.log.say(f"   expected to take about {needed:.0f} s ({how}); {left:.0f} s left of --max-minutes")
    if needed <= left:
        return True
    record["status"] = "skipped"
    check.note(record, f"skipped: about {needed:.0f} s needed, {max(left, 0):.0f} s left of --max-minutes "
                       f"{check.args.max_minutes:g}")
    return False


def step_scaling(check: Check, record: dict) -> None:
    from featvslearn.experiments.config import ScalingConfig
    from featvslearn.experiments.scaling import run_scaling

    if not guard_long_step(check, record, "scaling"):
        return
    plan = check.plan
    config = ScalingConfig(**check.data_options(), device=plan.device, seeds=1, sizes=plan.scaling_sizes,
                           test_size=plan.scaling_test, epochs=plan.scaling_epochs).validated()
    started = time.perf_counter()
    results = run_scaling(config, check.progress, on_plan=lambda p: check.log.say(f"   {p.describe()}"))
    wall = time.perf_counter() - started
    check.write_results(results, "scaling", record)
    record["details"].update({
        "wall_seconds": wall, "sizes": results.sizes,
        "accuracy": {name: {str(r.train_size): r.accuracy for r in runs} for name, runs in results.pipelines.items()},
        "train_seconds": {name: {str(r.train_size): r.train_seconds for r in runs}
                          for name, runs in results.pipelines.items()},
        "crossover": {name: c.reason for name, c in results.crossover.items()},
    })
    for name, runs in results.pipelines.items():
        check.log.say(f"   {name:12} " + "  ".join(f"{r.train_size:,}: {r.accuracy:.4f} ({r.train_seconds:.1f} s)"
                                                    for r in runs))
    check.figure("scaling_seconds", wall, "scaling", "s", "scaling --seeds 1 (default sizes), wall")


def step_ablate(check: Check, record: dict) -> None:
    from featvslearn.experiments.ablation import run_ablation
    from featvslearn.experiments.config import AblateConfig

    if not guard_long_step(check, record, "ablate"):
        return
    plan = check.plan
    variants = {"variants": plan.ablate_variants} if plan.ablate_variants else {}
    config = AblateConfig(**check.data_options(), device=plan.device, train_size=plan.ablate_train,
                          test_size=plan.ablate_test, epochs=plan.ablate_epochs, **variants).validated()
    started = time.perf_counter()
    results = run_ablation(config, check.progress)
    wall = time.perf_counter() - started
    check.write_results(results, "ablate", record)
    record["details"].update({
        "wall_seconds": wall,
        "variants": [{"name": v.name, "accuracy": v.accuracy, "train_seconds": v.train_seconds,
                      "gpu_util_percent_mean": v.gpu_util_percent_mean} for v in results.variants],
    })
    for v in results.variants:
        check.log.say(f"   {v.name:20} {v.accuracy:.4f} in {v.train_seconds:.1f} s")
    check.figure("ablate_seconds", wall, "ablate", "s", "ablate (default variants and budget), wall")


STEP_BODIES: dict[str, Callable[[Check, dict], None]] = {
    "environment": step_environment, "data": step_data, "cuda-tests": step_cuda_tests, "hog-speed": step_hog_speed,
    "compare-cuda-linear": step_compare_linear, "compare-cuda-rbf": step_compare_rbf,
    "compare-cpu-cuda": step_compare_cpu_cuda, "cnn-time-to-accuracy": step_time_to_accuracy, "nvml": step_nvml,
    "scaling": step_scaling, "ablate": step_ablate,
}


# ============================================================================ main


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


def report_figures(check: Check) -> None:
    """The figures against their targets, one line each."""
    check.log.say("")
    check.log.say("== figures" + (" (dry run: targets not applicable)" if check.args.dry_run else ""))
    for name, record in check.summary["figures"].items():
        verdict = {True: "PASS", False: "MISS", None: "–"}[record["passed"]]
        target = f"  target {record['target']}" if record["target"] else ""
        check.log.say(f"   {verdict:4} {name:36} {fmt_value(record['value'], record['unit']):>22}{target}")
    counts = check.summary["targets"]
    dry = f", {counts['not_applicable']} not applicable (dry run)" if check.args.dry_run else ""
    check.log.say(f"   targets: {counts['passed']} passed, {counts['failed']} missed, "
                  f"{counts['not_measured']} not measured{dry}")
    steps = check.summary["steps"]
    check.log.say("   steps: " + ", ".join(f"{s['name']} {s['status']}" for s in steps))


def parse_args(argv: list[str] | None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--data-dir", type=Path, default=None,
                        help="folder holding the Fashion-MNIST idx files (default: the usual places)")
    parser.add_argument("--out", type=Path, required=True, help="folder for the log, the summary and the reports")
    parser.add_argument("--dry-run", action="store_true",
                        help="every step on the CPU with tiny sizes: checks the check, measures nothing")
    parser.add_argument("--max-minutes", type=float, default=8.0,
                        help="time budget: long steps are skipped, and any step stopped, past it (default 8)")
    args = parser.parse_args(argv)
    if args.data_dir is not None and not args.data_dir.is_dir():
        parser.error(f"--data-dir {args.data_dir} is not a folder")
    if args.max_minutes <= 0:
        parser.error("--max-minutes must be positive")
    return args


def main(argv: list[str] | None = None) -> int:
    start = time.monotonic()
    args = parse_args(argv)
    args.out.mkdir(parents=True, exist_ok=True)
    log = Log(args.out / "gpu_check.log", start)

    def show_warning(message: Warning | str, category: type[Warning], *where: object, **kwargs: object) -> None:
        log.say(f"   warning: {category.__name__}: {message}")

    warnings.showwarning = show_warning
    try:
        import torch

        import featvslearn  # noqa: F401  (the source tree must be importable: PYTHONPATH=.)
    except ImportError as exc:
        log.say(f"error: {one_line(exc)}; run from the repository root with PYTHONPATH=.")
        return 2
    if not args.dry_run and not torch.cuda.is_available():
        log.say(f"error: torch {torch.__version__} sees no CUDA GPU here; --dry-run rehearses the check on the CPU")
        return 2
    if args.dry_run:
        # A dry run measures nothing: one thread keeps it quick and light where other work shares the
        # cores (two spinning threads on one free core made small SVM fits 5x slower).
        torch.set_num_threads(1)
    check = Check(args, DRY_PLAN if args.dry_run else GPU_PLAN, log, start)
    log.say(f"featvslearn GPU check{' (dry run on the CPU)' if args.dry_run else ''}: writing {args.out}/, "
            f"--max-minutes {args.max_minutes:g}")
    try:
        for name in STEPS:
            check.run_step(name, lambda record, name=name: STEP_BODIES[name](check, record))
        check.summary["finished"] = True
    finally:
        check.write_summary()
        report_figures(check)
        log.say(f"summary: {args.out / 'gpu_check.json'}; log: {args.out / 'gpu_check.log'}; "
                f"{time.monotonic() - start:.1f} s in all")
        log.close()
    failed = [s["name"] for s in check.summary["steps"] if s["status"] in ("failed", "stopped")]
    return 1 if failed else 0


if __name__ == "__main__":
    sys.exit(main())
