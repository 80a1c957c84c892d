"""The steps that run ``compare`` through the library, and the NVML readings of their GPU runs.

* compare-cuda-linear and compare-cuda-rbf: every pipeline on the device, ``--svm linear`` and ``rbf``;
* compare-cpu-cuda: the default pipelines on the CPU and the device, and their speed-ups;
* cnn-time-to-accuracy: the CNN's test accuracy after every epoch, and its seconds to 0.93 and 0.94;
* nvml: GPU utilisation and peak GPU memory of every GPU run above.
"""

from __future__ import annotations

from typing import Any

from gpucheck.check import Check, Step, pipeline_summary, result_of, train_stage

GPU_KEYS = ("device", "gpu_util_percent_mean", "gpu_util_percent_max", "gpu_util_samples",
            "train_stage_gpu_util_percent_mean", "peak_gpu_memory_bytes", "gpu_notes")
"""The figures of a pipeline result (as :func:`pipeline_summary` names them) that the nvml step lists."""


def every_pipeline(check: Check, record: Step, svm: str) -> dict[str, Any]:
    """compare's options for every pipeline kornia allows, on the plan's device and sizes, with ``--svm svm``."""
    plan = check.plan
    return {"device": plan.device, "pipelines": check.pipelines(record), "svm": svm, "train_size": plan.compare_train,
            "test_size": plan.compare_test, "epochs": plan.compare_epochs}


def step_compare_linear(check: Check, record: Step) -> None:
    """compare with every pipeline, ``--svm linear``: its wall seconds, the cnn's accuracy, train seconds and GPU
    utilisation, and hog-svm's accuracy."""
    results, wall = check.compare("compare-cuda-linear", record, **every_pipeline(check, record, "linear"))
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
    train = train_stage(cnn)
    check.figure("cnn_train_gpu_util_percent_mean", train.gpu_util_percent_mean if train else None,
                 "compare-cuda-linear", note=None if train and train.gpu_util_percent_mean is not None else
                 "no NVML reading of the train stage" + (f": {'; '.join(cnn.gpu_notes)}" if cnn.gpu_notes else ""))
    hog_svm = result_of(results, "hog-svm")
    check.figure("hog_svm_linear_accuracy", hog_svm.accuracy, "compare-cuda-linear", what="hog-svm, --svm linear")
    for p in results.pipelines:  # the energy each side spent: NVML's counter (GPU), RAPL (CPU packages)
        missing = "; ".join(p.energy_notes) or None
        check.figure(f"{p.name.replace('-', '_')}_gpu_joules", p.gpu_joules, "compare-cuda-linear", "J",
                     note=missing if p.gpu_joules is None else None)
        check.figure(f"{p.name.replace('-', '_')}_cpu_joules", p.cpu_joules, "compare-cuda-linear", "J",
                     note=missing if p.cpu_joules is None else None)


def step_compare_rbf(check: Check, record: Step) -> None:
    """compare with every pipeline, ``--svm rbf``: hog-svm's accuracy and train + predict seconds."""
    results, _ = check.compare("compare-cuda-rbf", record, **every_pipeline(check, record, "rbf"))
    hog_svm = result_of(results, "hog-svm")
    check.figure("hog_svm_rbf_accuracy", hog_svm.accuracy, "compare-cuda-rbf")
    check.figure("hog_svm_rbf_train_predict_seconds", hog_svm.train_seconds + hog_svm.predict_seconds,
                 "compare-cuda-rbf")


def step_compare_cpu_cuda(check: Check, record: Step) -> None:
    """compare of the default pipelines on the CPU and the device: each one's train and predict speed-up."""
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


def step_time_to_accuracy(check: Check, record: Step) -> None:
    """compare of the cnn alone with ``--epoch-accuracy``: the summed epoch seconds and the epochs until its test
    accuracy first reaches 0.93 and 0.94."""
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
    for i, (a, c) in enumerate(zip(accuracy, cumulative, strict=True)):
        check.log.say(f"   epoch {i + 1:3d}: {a:.4f} at {c:7.2f} s")
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


def step_nvml(check: Check, record: Step) -> None:
    """Mean and max GPU utilisation and peak GPU memory of every GPU run in the compares above; fails when a reading
    lies outside 0-100 % or no GPU run got a single utilisation sample."""
    rows = []
    for stem, results in check.compares.items():
        for p in results.pipelines:
            if p.device.startswith("cuda"):
                summary = pipeline_summary(p)
                rows.append({"compare": stem, "pipeline": p.name, **{key: summary[key] for key in GPU_KEYS}})
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
