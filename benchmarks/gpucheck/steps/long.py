"""The long steps, scaling and ablate, each run only when the time it is expected to take is left.

The time is worked out from the ``--svm linear`` compare that ran before them (see
:func:`long_step_estimate`); without it, the plan's fixed minutes stand in.
"""

from __future__ import annotations

import time

from gpucheck.check import Check, Step, result_of, train_stage
from gpucheck.log import one_line


def fixed_estimate(check: Check, name: str, why: str | None = None) -> tuple[float, str]:
    """The plan's fixed seconds for long step ``name``, and that as the how (with ``why`` the estimate fell back)."""
    minutes = check.plan.fallback_minutes[name]
    return 60.0 * minutes, f"{minutes:g} min (fixed{f'; {why}' if why else ''})"


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

    results = check.compares.get("compare-cuda-linear")
    if results is None:
        return fixed_estimate(check, name)
    cnn, hog_svm = result_of(results, "cnn"), result_of(results, "hog-svm")
    stage = train_stage(cnn)
    if stage is None:
        raise LookupError("no train stage in the cnn's result")
    cnn_other = sum(s.seconds for s in cnn.stages) - stage.seconds
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
    how = f"{ratio:.2f}x the cnn's training in that run, plus {other:.0f} s for the rest"
    return ratio * stage.seconds + other, how


def fits_in_time_left(check: Check, record: Step, name: str) -> bool:
    """Whether long step ``name`` fits in the time left; if not, the step is marked skipped with a note."""
    try:
        needed, how = long_step_estimate(check, name)
    except Exception as exc:  # an estimate that cannot be made falls back to the fixed one
        needed, how = fixed_estimate(check, name, one_line(exc))
    left = check.seconds_left()
    record["details"]["estimated_seconds"] = needed
    check.log.say(f"   expected to take about {needed:.0f} s ({how}); {left:.0f} s left of --max-minutes")
    if needed <= left:
        return True
    record["status"] = "skipped"
    check.note(record, f"skipped: about {needed:.0f} s needed, {max(left, 0):.0f} s left of --max-minutes "
                       f"{check.args.max_minutes:g}")
    return False


def step_scaling(check: Check, record: Step) -> None:
    """A one-seed scaling run (the plan's sizes): accuracy and train seconds per size, crossovers, wall seconds."""
    from featvslearn.experiments.config import ScalingConfig
    from featvslearn.experiments.scaling import run_scaling

    if not fits_in_time_left(check, record, "scaling"):
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


def step_ablate(check: Check, record: Step) -> None:
    """An ablate run (the plan's variants and sizes): each variant's accuracy and train seconds, wall seconds."""
    from featvslearn.experiments.ablation import run_ablation
    from featvslearn.experiments.config import AblateConfig

    if not fits_in_time_left(check, record, "ablate"):
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
