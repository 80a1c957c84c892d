"""The figures README quotes for one GPU, each with the target it is set against and the step that measures it."""

from __future__ import annotations

from dataclasses import dataclass

NOT_APPLICABLE = "not applicable in a dry run"
"""The note every target carries in a dry run, which measures nothing."""


@dataclass(frozen=True)
class Target:
    """A figure's target: ``value`` compared by ``op`` (``>=`` or ``<=``); ``step`` measures it, ``what`` says how."""

    op: str
    value: float
    unit: str
    step: str
    what: str

    def text(self) -> str:
        """The target as the report shows it, such as ``≥ 500,000 images/s``."""
        return f"{'≥' if self.op == '>=' else '≤'} {self.value:,g}{(' ' + self.unit) if self.unit else ''}"

    def met(self, value: float) -> bool:
        """Whether a measured ``value`` meets the target."""
        return value >= self.value if self.op == ">=" else value <= self.value


TARGETS: dict[str, Target] = {
    "cuda_tests_failed": Target("<=", 0, "", "cuda-tests",
                                "CUDA tests failed or in error (pytest -m cuda tests/test_cuda.py)"),
    "hog_images_per_second": Target(">=", 1_000_000, "images/s", "hog-speed",
                                    "batched HOG on the device, 28x28 images, host array in and out (median of 3)"),
    "hog_max_abs_difference": Target("<=", 1e-3, "", "hog-speed",
                                     "batched HOG on the device against skimage.feature.hog (the HOG tests' "
                                     "tolerance)"),
    "compare_cuda_wall_seconds": Target("<=", 10, "s", "compare-cuda-linear",
                                        "compare --dataset fashion-mnist --device cuda, all four pipelines, --svm "
                                        "linear: run_comparison's wall seconds, data loading to results"),
    "cnn_accuracy": Target(">=", 0.94, "", "compare-cuda-linear",
                           "cnn test accuracy in compare --device cuda (the --svm linear run)"),
    "cnn_train_seconds": Target("<=", 3, "s", "compare-cuda-linear",
                                "cnn train seconds in the same run (warm-up not counted)"),
    "cnn_seconds_to_0.93": Target("<=", 2, "s", "cnn-time-to-accuracy",
                                  "cnn: summed epoch seconds until test accuracy first reaches 0.93 (compare "
                                  "--epoch-accuracy, default epochs; evaluation not counted)"),
    "hog_svm_rbf_accuracy": Target(">=", 0.91, "", "compare-cuda-rbf",
                                   "hog-svm test accuracy in compare --device cuda --svm rbf"),
    "hog_svm_rbf_train_predict_seconds": Target("<=", 3, "s", "compare-cuda-rbf",
                                                "hog-svm train + predict seconds, --svm rbf"),
    "cnn_train_gpu_util_percent_mean": Target(">=", 80, "%", "compare-cuda-linear",
                                              "NVML kernel-active %, mean over the cnn's train stage (the --svm "
                                              "linear run)"),
    "cnn_epoch_over_airbench94": Target("<=", 1.25, "×", "airbench-peer",
                                        "featvslearn's cnn epoch over airbench94's on the same GPU and the same "
                                        "50,000 images of 32×32×3 (benchmarks/airbench_peer.py)"),
    "cnn_gpu_joules": Target(">=", 0, "J", "compare-cuda-linear",
                             "the cnn's GPU energy over training and prediction, NVML's total-energy counter "
                             "(reported: any measured value meets it)"),
}
"""Every figure with a target, by name, in the order the summary lists them."""
