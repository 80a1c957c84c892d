"""GPU check: every GPU figure README quotes, measured by one command and set against its target.

    PYTHONPATH=. python benchmarks/gpu_check.py --data-dir ../fashion-mnist --out gpu-check
    PYTHONPATH=. python benchmarks/gpu_check.py --dry-run --out /tmp/gpu-check   # the same steps, CPU, tiny sizes
    make gpu-check DATA_DIR=../fashion-mnist                                        # the first line, with the venv

It runs from the source tree (no install) on torch 2.x, prints its progress unbuffered, and
writes into --out: ``gpu_check.log`` (everything printed), ``gpu_check.json`` (strict JSON,
rewritten after every step: each figure with its target and pass/fail, each step's status and
one-line error, the environment), the JSON and Markdown report of every compare, scaling and
ablate run, and ``cuda-tests.xml`` (the CUDA tests' JUnit report).

Targets, on one H100 or H200 with the full Fashion-MNIST split (the measured figures are in
docs/benchmarks.md):

* cnn: test accuracy >= 0.93 within 5 s of training;
* hog-svm with ``--svm rbf``: accuracy >= 0.91 with train + predict <= 3 s;
* batched HOG: >= 500,000 images/s on 28x28 images, equal to ``skimage.feature.hog``;
* ``compare --dataset fashion-mnist --device cuda``: <= 60 s wall;
* NVML's kernel-active % during the CNN's training: mean >= 80 %.

The whole check is sized for 8 minutes on one H100. ``--max-minutes`` (default 8) skips the long
steps (scaling, ablate) when the time left is less than they need, and stops any step at the
limit; either way the step is recorded and the summary still written. It exits 0 when every step
ran (whether or not the figures met their targets), 1 when a step failed or was stopped, and 2
without a GPU or for a bad option. ``--dry-run`` runs every step on the CPU with a few hundred
images and 1-2 epochs (under a minute on 2 cores), and marks the targets "not applicable in a
dry run".

The steps live in the ``gpucheck`` package beside this script (benchmarks/gpucheck/), imported
through this script's folder.
"""

from __future__ import annotations

import argparse
import sys
import time
import warnings
from pathlib import Path

HERE = str(Path(__file__).resolve().parent)
if HERE not in sys.path:  # Python puts a script's folder first on sys.path, unless told not to (-P)
    sys.path.insert(0, HERE)

from gpucheck.check import Check  # noqa: E402
from gpucheck.log import Log, one_line  # noqa: E402
from gpucheck.plan import DRY_PLAN, GPU_PLAN, STEPS  # noqa: E402
from gpucheck.steps import STEP_BODIES  # noqa: E402
from gpucheck.summary import report_figures  # noqa: E402


def parse_args(argv: list[str] | None) -> argparse.Namespace:
    """The command line (``argv``; None: sys.argv), checked; a bad option exits 2 with a usage message."""
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
    """Run every step of the check on the command line ``argv``; returns the exit status (see the docstring)."""
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
        check.summary.data["finished"] = True
    finally:
        check.summary.write()
        report_figures(check.summary, log)
        log.say(f"summary: {args.out / 'gpu_check.json'}; log: {args.out / 'gpu_check.log'}; "
                f"{time.monotonic() - start:.1f} s in all")
        log.close()
    return 1 if check.summary.failed_steps() else 0


if __name__ == "__main__":
    sys.exit(main())
