"""The steps the measurements stand on: the environment, the dataset and the CUDA tests.

* environment: versions, the GPU, its driver and CUDA, and which modules cannot be imported;
* data: the dataset's split, loaded once (a dry run falls back to digits without Fashion-MNIST);
* cuda-tests: ``pytest -m cuda tests/test_cuda.py`` in a subprocess, its counts from the JUnit report.
"""

from __future__ import annotations

import importlib
import os
import platform
import subprocess
import sys
import threading
import time
import xml.etree.ElementTree as ET
from pathlib import Path

from gpucheck.check import Check, Step
from gpucheck.log import one_line
from gpucheck.plan import MODULES, NEEDED
from gpucheck.summary import finite

REPO = Path(__file__).resolve().parents[3]


def step_environment(check: Check, record: Step) -> None:
    """Versions, the GPU, its driver and CUDA into the summary's environment; which optional modules import."""
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
    check.summary.data["environment"] = finite(env)
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


def step_data(check: Check, record: Step) -> None:
    """Load the dataset once (a dry run falls back to digits without Fashion-MNIST); its sizes into the record."""
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


def step_cuda_tests(check: Check, record: Step) -> None:
    """``python -m pytest -m cuda tests/test_cuda.py -q`` in a subprocess, its output relayed to the log; its
    counts from the JUnit report (``cuda-tests.xml`` under --out) and the figure ``cuda_tests_failed``."""
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
    """Tests passed, failed, in error and skipped in the pytest JUnit report at ``path``, and a line per failure."""
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
