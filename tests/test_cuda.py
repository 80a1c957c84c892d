"""On a CUDA GPU: batched HOG, the torch SVMs, a bf16 CNN epoch, NVML readings and compare --device cpu,cuda.

Every test here is marked ``cuda`` and skipped where torch sees no CUDA device. Run them with
``python -m pytest -m cuda tests/test_cuda.py -q`` (``benchmarks/gpu_check.py`` does, first).
They need neither hypothesis nor kornia, so they run on a bare GPU machine from the source tree.
"""

from __future__ import annotations

import ast
import math
from functools import cache
from pathlib import Path

import numpy as np
import pytest
import torch
from skimage import data as skdata
from skimage.feature import hog as skimage_hog

from featvslearn.classical.hog import BLOCK_NORMS, hog
from featvslearn.classical.svm import LinearSVM, NystroemRBF

pytestmark = [
    pytest.mark.cuda,
    pytest.mark.skipif(not torch.cuda.is_available(), reason="needs a CUDA GPU (torch.cuda.is_available() is False)"),
]

CUDA = "cuda"

# ----------------------------------------------------------------------------- batched HOG

MAX_ABS, MEAN_ABS = 1e-3, 1e-5
"""The tolerance of HOG on CUDA against skimage, per descriptor matrix: the CPU tests' tolerance
(tests/test_hog_batched.py). Orientation bins must agree exactly for a difference this small."""


def _cpu_hog_settings() -> list[tuple[int, int, int, tuple[int, int], tuple[int, int]]]:
    """The parameter sets of the CPU HOG tests: ``SETTINGS`` of tests/test_hog_batched.py, read from its
    source (importing that module needs hypothesis, which a GPU machine may lack)."""
    tree = ast.parse((Path(__file__).with_name("test_hog_batched.py")).read_text(encoding="utf-8"))
    for node in tree.body:
        if isinstance(node, ast.Assign) and any(getattr(t, "id", None) == "SETTINGS" for t in node.targets):
            return ast.literal_eval(node.value)
    raise LookupError("tests/test_hog_batched.py has no SETTINGS list")


HOG_SETTINGS = _cpu_hog_settings()


@cache
def _sources(colour: bool) -> tuple[np.ndarray, ...]:
    """uint8 photographs shipped with scikit-image, each also at half and quarter scale."""
    images = ([skdata.astronaut(), skdata.chelsea(), skdata.coffee(), skdata.rocket()] if colour
              else [skdata.camera(), skdata.coins(), skdata.moon(), skdata.text()])
    return tuple(image[::k, ::k] for image in images for k in (1, 2, 4))


def patches(n: int, h: int, w: int, colour: bool, seed: int) -> np.ndarray:
    """``n`` random (h, w) crops of real photographs: (n, h, w) uint8 grey or (n, h, w, 3) colour."""
    rng = np.random.default_rng(seed)
    sources = _sources(colour)
    out = []
    for _ in range(n):
        image = sources[rng.integers(len(sources))]
        r, c = rng.integers(image.shape[0] - h + 1), rng.integers(image.shape[1] - w + 1)
        out.append(image[r : r + h, c : c + w])
    return np.stack(out)


def as_dtype(images: np.ndarray, kind: str) -> np.ndarray:
    """uint8 as is, float64 in [0, 1], or float32 on the 0..255 scale."""
    if kind == "uint8":
        return images
    return images / 255.0 if kind == "float64-unit" else images.astype(np.float32)


def skimage_loop(images: np.ndarray, **params: object) -> np.ndarray:
    """``skimage.feature.hog`` of each image, stacked: (N, D) float64."""
    colour = images.ndim == 4
    return np.stack([skimage_hog(im, channel_axis=-1 if colour else None, feature_vector=True, **params)
                     for im in images])


@pytest.mark.parametrize("block_norm", BLOCK_NORMS)
@pytest.mark.parametrize(("h", "w", "orientations", "cell", "block"), HOG_SETTINGS)
def test_hog_on_cuda_equals_skimage(h: int, w: int, orientations: int, cell: tuple[int, int],
                                    block: tuple[int, int], block_norm: str) -> None:
    seed = (h * 1000 + w * 10 + orientations + BLOCK_NORMS.index(block_norm)) % 2**16
    for colour in (False, True):
        raw = patches(24, h, w, colour, seed)
        for kind in ("uint8", "float64-unit", "float32"):
            for transform_sqrt in (False, True):
                images = as_dtype(raw, kind)
                params = {"orientations": orientations, "pixels_per_cell": cell, "cells_per_block": block,
                          "block_norm": block_norm, "transform_sqrt": transform_sqrt}
                actual = hog(images, device=CUDA, **params)
                expected = skimage_loop(images, **params)
                assert actual.dtype == np.float32 and actual.shape == expected.shape
                diff = np.abs(actual.astype(np.float64) - expected)
                where = f"colour={colour} {kind} transform_sqrt={transform_sqrt}"
                assert diff.max() <= MAX_ABS, f"{where}: max abs difference {diff.max():.3g}"
                assert diff.mean() <= MEAN_ABS, f"{where}: mean abs difference {diff.mean():.3g}"


def test_hog_on_cuda_equals_hog_on_the_cpu_for_tensors_already_on_the_device() -> None:
    images = patches(300, 28, 28, colour=False, seed=5)
    params = {"pixels_per_cell": (4, 4), "cells_per_block": (2, 2)}
    on_cpu = hog(images, device="cpu", **params)
    from_device = hog(torch.from_numpy(images).to(CUDA), device=CUDA, **params)
    np.testing.assert_allclose(from_device, on_cpu, atol=MAX_ABS)


def test_hog_features_and_their_standardisation_on_cuda_never_wait_for_the_host() -> None:
    from featvslearn import classical

    x = patches(3000, 28, 28, colour=False, seed=7)[..., None]  # (N, 28, 28, 1) uint8
    featuriser = classical.make_hog_features(classical.hog_settings_for(x.shape[1:]), device=CUDA).fit(x[:1])
    images = classical.images_on(x, CUDA)
    torch.cuda.synchronize()
    torch.cuda.set_sync_debug_mode("error")  # any host synchronisation now raises
    try:
        features = classical.featurise(featuriser, images, 1000)  # (N, D) on the GPU, three chunks
        standardised = classical.Standardiser(copy=False).fit_transform(features.clone())
    finally:
        torch.cuda.set_sync_debug_mode("default")
    assert features.device.type == "cuda" and standardised.device.type == "cuda"
    np.testing.assert_allclose(features.cpu().numpy(), featuriser.transform(x), atol=MAX_ABS)
    on_cpu = classical.make_hog_features(classical.hog_settings_for(x.shape[1:]), device="cpu").fit(x[:1])
    np.testing.assert_allclose(features.cpu().numpy(), on_cpu.transform(x), atol=MAX_ABS)


@pytest.mark.parametrize("name", ["hog-svm", "sift-svm", "sift-fv"])
def test_classical_pipelines_run_every_stage_on_cuda_and_match_the_cpu(name: str) -> None:
    if name in ("sift-svm", "sift-fv"):
        pytest.importorskip("kornia", reason=f"{name} needs kornia")
    from featvslearn.experiments.run import run_pipeline
    from featvslearn.pipelines import RunSettings

    settings = RunSettings(precision="fp32")
    on_cuda = run_pipeline(name, digits_split(), torch.device(CUDA, torch.cuda.current_device()), settings)
    on_cpu = run_pipeline(name, digits_split(), torch.device("cpu"), settings)
    assert all(stage.device.startswith("cuda") for stage in on_cuda.stages), \
        [(stage.name, stage.device) for stage in on_cuda.stages]
    assert abs(on_cuda.accuracy - on_cpu.accuracy) <= 0.01, (on_cuda.accuracy, on_cpu.accuracy)
    assert on_cuda.peak_gpu_memory_bytes is not None and on_cuda.peak_gpu_memory_bytes > 0


# ----------------------------------------------------------------------------- SVMs


def separable_problem(seed: int = 0) -> tuple[np.ndarray, np.ndarray, np.ndarray, np.ndarray]:
    """Three well-separated Gaussian classes in 16 dimensions: (x_train, y_train, x_test, y_test), float32.

    With the C values below the SVM optimum is well determined: on the CPU, perturbing the features
    by 1e-6 (relative) moves the decision values by less than 1e-3 of the largest score.
    """
    rng = np.random.default_rng(seed)
    centres = rng.normal(size=(3, 16)) * 2.0  # (3, 16): pairwise distances ~ 11, several times the spread
    y = rng.integers(0, 3, size=600)
    x = (centres[y] + rng.normal(size=(600, 16))).astype(np.float32)
    return x[:400], y[:400], x[400:], y[400:]


def assert_close_scores(on_cuda: np.ndarray, on_cpu: np.ndarray, relative: float) -> None:
    """Decision values agree to ``relative`` times the largest CPU score."""
    scale = float(np.abs(on_cpu).max())
    worst = float(np.abs(on_cuda - on_cpu).max())
    assert worst <= relative * scale, f"decision values differ by {worst:.3g} (largest score {scale:.3g})"


# bf16 feature matrices move the decision values by about 5 % of the largest score on the CPU too.
@pytest.mark.parametrize(("precision", "relative"), [("fp32", 1e-2), ("bf16", 0.15)])
def test_linear_svm_on_cuda_matches_the_cpu(precision: str, relative: float) -> None:
    x_train, y_train, x_test, y_test = separable_problem()
    on_cpu = LinearSVM(C=0.01, device="cpu").fit(x_train, y_train)
    on_cuda = LinearSVM(C=0.01, device=CUDA, precision=precision).fit(x_train, y_train)
    assert isinstance(on_cuda.coef_, np.ndarray) and on_cuda.coef_.shape == on_cpu.coef_.shape
    np.testing.assert_array_equal(on_cuda.predict(x_test), on_cpu.predict(x_test))
    assert np.mean(on_cpu.predict(x_test) == y_test) == 1.0  # the problem is separable
    assert_close_scores(on_cuda.decision_function(x_test), on_cpu.decision_function(x_test), relative)
    # features already on the device (the pipelines' fast path) give the same scores as host arrays
    tensor_scores = on_cuda.decision_function(torch.from_numpy(x_test).to(CUDA))
    np.testing.assert_allclose(tensor_scores, on_cuda.decision_function(x_test), rtol=1e-5, atol=1e-5)


def test_nystroem_rbf_on_cuda_matches_the_cpu() -> None:
    from sklearn.pipeline import make_pipeline

    x_train, y_train, x_test, y_test = separable_problem(seed=1)
    maps = {device: NystroemRBF(n_components=100, random_state=0, device=device).fit(x_train)
            for device in ("cpu", CUDA)}
    np.testing.assert_array_equal(maps[CUDA].component_indices_, maps["cpu"].component_indices_)
    assert maps[CUDA].gamma_ == pytest.approx(maps["cpu"].gamma_, rel=1e-5)
    # The maps equal the kernel map up to a rotation: compare the kernels they approximate.
    features = {device: m.transform(x_test) for device, m in maps.items()}  # (N, 100) float32 each
    gram = {device: f.astype(np.float64) @ f.T.astype(np.float64) for device, f in features.items()}
    np.testing.assert_allclose(gram[CUDA], gram["cpu"], atol=1e-3)

    models = {device: make_pipeline(NystroemRBF(n_components=100, random_state=0, device=device),
                                    LinearSVM(C=0.1, device=device)).fit(x_train, y_train)
              for device in ("cpu", CUDA)}
    predictions = {device: model.predict(x_test) for device, model in models.items()}
    np.testing.assert_array_equal(predictions[CUDA], predictions["cpu"])
    assert np.mean(predictions["cpu"] == y_test) == 1.0
    assert_close_scores(models[CUDA].decision_function(x_test), models["cpu"].decision_function(x_test), 1e-2)


# ----------------------------------------------------------------------------- CNN and NVML


@cache
def digits_split() -> object:
    from featvslearn.datasets import load_split

    return load_split("digits", download=False)


def test_one_bf16_cnn_epoch_on_cuda() -> None:
    from featvslearn.experiments.run import run_pipeline
    from featvslearn.pipelines import RunSettings

    result = run_pipeline("cnn", digits_split(), torch.device(CUDA), RunSettings(epochs=1, precision="bf16"))
    losses = result.details["loss_per_epoch"]
    assert len(losses) == 1 and all(math.isfinite(v) for v in losses), losses
    assert result.details["precision"] == "bf16"
    assert result.stages and all(stage.device.startswith("cuda") for stage in result.stages), \
        [(stage.name, stage.device) for stage in result.stages]
    assert result.device.startswith("cuda")
    assert 0.0 <= result.accuracy <= 1.0 and result.train_seconds > 0
    assert result.peak_gpu_memory_bytes is not None and result.peak_gpu_memory_bytes > 0


def test_nvml_readings_of_a_cnn_run_lie_within_0_and_100() -> None:
    from featvslearn.measure import Monitor
    from featvslearn.pipelines import PIPELINES, RunContext, RunSettings

    device = torch.device(CUDA, torch.cuda.current_device())
    split = digits_split()
    # enough epochs that training spans several NVML sampling periods (at most 1 s each)
    with Monitor(device) as monitor:
        PIPELINES["cnn"].run(RunContext(split=split, device=device, settings=RunSettings(epochs=60),
                                        monitor=monitor))
    assert monitor.gpu.available, monitor.notes
    assert monitor.gpu_readings, f"no NVML utilisation samples in {monitor.seconds:.1f} s: {monitor.notes}"
    assert all(0.0 <= r.percent <= 100.0 for r in monitor.gpu_readings)
    train = next(stage for stage in monitor.stages if stage.name == "train")
    assert train.stats is not None and train.stats.gpu_util_samples >= 1
    assert 0.0 <= train.stats.gpu_util_percent_mean <= train.stats.gpu_util_percent_max <= 100.0
    overall = monitor.overall_stats()
    assert 0.0 <= overall.gpu_util_percent_mean <= overall.gpu_util_percent_max <= 100.0
    assert all(s.gpu_util_percent is None or 0.0 <= s.gpu_util_percent <= 100.0 for s in monitor.samples)
    assert monitor.peak_gpu_memory_bytes() > 0


# ----------------------------------------------------------------------------- compare --device cpu,cuda


def test_compare_on_cpu_and_cuda_gives_speed_up_columns() -> None:
    from featvslearn.cli.tables import column_widths
    from featvslearn.experiments.compare import run_comparison
    from featvslearn.experiments.config import CompareConfig
    from featvslearn.reports import compare as compare_report

    config = CompareConfig(dataset="digits", device="cpu,cuda", train_size=300, test_size=100, epochs=2,
                           download=False).validated()
    results = run_comparison(config)
    assert results.devices[0] == "cpu" and results.devices[1].startswith("cuda")
    assert [(p.name, p.device.split(":")[0]) for p in results.pipelines] == [
        ("hog-svm", "cpu"), ("hog-svm", "cuda"), ("cnn", "cpu"), ("cnn", "cuda")]
    headers = compare_report.table_headers(results)
    assert headers[-2:] == ["train ×", "pred ×"]
    rows = compare_report.table_rows(results)
    assert [row[-2:] for row in rows][::2] == [["1.0×", "1.0×"]] * 2  # the cpu runs are the baseline
    assert all(cell[:-1].replace(",", "").replace(".", "").isdigit() and cell.endswith("×")
               for row in rows[1::2] for cell in row[-2:])  # "12.3×", "246×", "1,234×"
    # Thirteen columns (GPU, budget and speed-up columns included) fit a 140-column terminal as a table;
    # narrower terminals get one block per row instead.
    assert column_widths(compare_report.table(results), 140) is not None
    ups = compare_report.speed_ups(results)
    assert all(up is not None and up.train is not None and up.train > 0 for up in ups[1::2])
    cuda_runs = [p for p in results.pipelines if p.device.startswith("cuda")]
    assert all(p.peak_gpu_memory_bytes and p.peak_gpu_memory_bytes > 0 for p in cuda_runs)
    assert "speed-up vs cpu" in compare_report.markdown(results, {})
