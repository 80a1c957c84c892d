"""The batched torch HOG equals a loop of skimage.feature.hog on real images, and fails where it fails."""

from __future__ import annotations

import importlib
import platform
import subprocess
import sys
import textwrap
from functools import cache
from pathlib import Path

import numpy as np
import pytest
import torch
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from skimage import data as skdata
from skimage.feature import hog as skimage_hog
from sklearn.base import clone

from featvslearn.classical import HOGTransformer
from featvslearn.classical.hog import BLOCK_NORMS, hog
from tests.conftest import needs_fashion

MAX_ABS, MEAN_ABS = 1e-3, 1e-5


@cache
def _sources() -> tuple[list[np.ndarray], list[np.ndarray]]:
    """Grey and colour uint8 photographs shipped with scikit-image, each also at half and quarter scale."""
    grey = [skdata.camera(), skdata.coins(), skdata.moon(), skdata.text()]
    colour = [skdata.astronaut(), skdata.chelsea(), skdata.coffee(), skdata.rocket()]
    scaled = lambda images: [im[::k, ::k] for im in images for k in (1, 2, 4)]  # noqa: E731
    return scaled(grey), scaled(colour)


def patches(n: int, h: int, w: int, colour: bool, seed: int = 0) -> np.ndarray:
    """``n`` random (h, w) uint8 crops of real photographs: (n, h, w) grey or (n, h, w, 3) colour."""
    rng = np.random.default_rng(seed)
    sources = _sources()[1 if colour else 0]
    out = []
    for _ in range(n):
        image = sources[rng.integers(len(sources))]
        r = rng.integers(image.shape[0] - h + 1)
        c = rng.integers(image.shape[1] - w + 1)
        out.append(image[r : r + h, c : c + w])
    return np.stack(out)


def as_dtype(images: np.ndarray, kind: str) -> np.ndarray:
    """uint8 as is, float64 in [0, 1], or float32 on the 0..255 scale."""
    if kind == "uint8":
        return images
    if kind == "float64-unit":
        return images / 255.0
    return images.astype(np.float32)


def skimage_loop(images: np.ndarray, **params: object) -> np.ndarray:
    colour = images.ndim == 4 and images.shape[-1] == 3
    if images.ndim == 4 and not colour:
        images = images[..., 0]
    return np.stack([
        skimage_hog(im, channel_axis=-1 if colour else None, feature_vector=True, **params) for im in images
    ])


def assert_matches(actual: np.ndarray, expected: np.ndarray) -> None:
    assert actual.dtype == np.float32 and actual.shape == expected.shape
    diff = np.abs(actual.astype(np.float64) - expected)
    assert diff.max() <= MAX_ABS, f"max abs difference {diff.max():.3g}"
    assert diff.mean() <= MEAN_ABS, f"mean abs difference {diff.mean():.3g}"


# (h, w, orientations, pixels_per_cell, cells_per_block): square and odd sizes, pixels left over past
# the last cell, non-square cells and blocks, orientations whose bin edges real gradients hit exactly.
SETTINGS = [
    (28, 28, 9, (4, 4), (2, 2)),
    (28, 28, 9, (7, 7), (2, 2)),
    (32, 32, 9, (8, 8), (3, 3)),
    (32, 32, 12, (4, 4), (3, 3)),
    (31, 45, 7, (5, 3), (2, 3)),
    (17, 23, 4, (3, 4), (1, 2)),
    (16, 16, 8, (2, 2), (2, 2)),
    (29, 19, 6, (6, 2), (4, 1)),
    (9, 9, 1, (1, 1), (1, 1)),
]


@pytest.mark.parametrize("block_norm", BLOCK_NORMS)
@pytest.mark.parametrize(("h", "w", "orientations", "cell", "block"), SETTINGS)
def test_equals_skimage_on_real_patches(
    h: int, w: int, orientations: int, cell: tuple[int, int], block: tuple[int, int], block_norm: str
) -> None:
    seed = hash((h, w, orientations, block_norm)) % 2**16
    for colour in (False, True):
        raw = patches(24, h, w, colour, seed=seed)
        for kind in ("uint8", "float64-unit", "float32"):
            for transform_sqrt in (False, True):
                images = as_dtype(raw, kind)
                params = {"orientations": orientations, "pixels_per_cell": cell, "cells_per_block": block,
                          "block_norm": block_norm, "transform_sqrt": transform_sqrt}
                assert_matches(hog(images, **params), skimage_loop(images, **params))


@settings(max_examples=40, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(
    h=st.integers(8, 40),
    w=st.integers(8, 40),
    orientations=st.integers(1, 13),
    cell=st.tuples(st.integers(1, 8), st.integers(1, 8)),
    block=st.tuples(st.integers(1, 4), st.integers(1, 4)),
    block_norm=st.sampled_from(BLOCK_NORMS),
    transform_sqrt=st.booleans(),
    colour=st.booleans(),
    kind=st.sampled_from(["uint8", "float64-unit", "float32"]),
    seed=st.integers(0, 2**16),
)
def test_equals_skimage_for_any_valid_parameters(
    h: int, w: int, orientations: int, cell: tuple[int, int], block: tuple[int, int], block_norm: str,
    transform_sqrt: bool, colour: bool, kind: str, seed: int,
) -> None:
    images = as_dtype(patches(6, h, w, colour, seed=seed), kind)
    params = {"orientations": orientations, "pixels_per_cell": cell, "cells_per_block": block,
              "block_norm": block_norm, "transform_sqrt": transform_sqrt}
    try:
        expected = skimage_loop(images, **params)
    except ValueError:
        with pytest.raises(ValueError):
            hog(images, **params)
        return
    assert_matches(hog(images, **params), expected)


def test_accepts_grey_with_a_channel_axis_tensors_and_empty_stacks() -> None:
    grey = patches(10, 28, 28, colour=False)
    params = {"pixels_per_cell": (4, 4), "cells_per_block": (2, 2)}
    expected = skimage_loop(grey, **params)
    assert_matches(hog(grey[..., None], **params), expected)
    assert_matches(hog(torch.from_numpy(grey), **params), expected)
    assert_matches(hog(torch.from_numpy(grey).double() / 255, **params), skimage_loop(grey / 255, **params))
    assert hog(grey[:0], **params).shape == (0, expected.shape[1])


def test_chunks_do_not_change_the_result(monkeypatch: pytest.MonkeyPatch) -> None:
    # The package attribute ``featvslearn.classical.hog`` is the function; the module is in sys.modules.
    hog_module = importlib.import_module("featvslearn.classical.hog")
    images = patches(50, 32, 32, colour=True, seed=3)
    whole = hog(images, pixels_per_cell=(4, 4), cells_per_block=(2, 2))
    monkeypatch.setattr(hog_module, "_CHUNK_BYTES", 1)  # one image per chunk
    np.testing.assert_array_equal(hog(images, pixels_per_cell=(4, 4), cells_per_block=(2, 2)), whole)


def _off_by_ulps(fn: object, ulps: int, up_on_even: bool) -> object:
    """``fn`` with each result moved ``ulps`` ulps, up or down by the parity of its bits (up on even bits, or
    on odd): a GPU's libm at its error bound, still a function of its inputs (equal inputs, equal results)."""
    def wrong(*args: torch.Tensor) -> torch.Tensor:
        out = fn(*args)
        bits = out.view(torch.int64 if out.dtype == torch.float64 else torch.int32)
        up = (bits % 2 == 0) == up_on_even
        towards = torch.where(up, float("inf"), -float("inf")).to(out.dtype)
        for _ in range(ulps):
            out = torch.nextafter(out, towards)
        return out
    return wrong


@pytest.mark.parametrize("up_on_even", [True, False])
@pytest.mark.parametrize(("h", "w", "orientations", "cell", "block"), SETTINGS[:6])
def test_the_accelerator_path_equals_skimage_when_the_device_libm_is_off_by_ulps(
    monkeypatch: pytest.MonkeyPatch, h: int, w: int, orientations: int, cell: tuple[int, int],
    block: tuple[int, int], up_on_even: bool,
) -> None:
    """With NumPy unavailable, as on a GPU, and sqrt, arctan2 and hypot 2 ulps off, every bin and channel is
    skimage's (a sqrt off by one ulp under ``transform_sqrt`` moves gradients off skimage's ties and bin edges)."""
    bins_module = importlib.import_module("featvslearn.classical.hog_bins")
    monkeypatch.setattr(bins_module, "_on_host", lambda *tensors: False)
    monkeypatch.setattr(torch, "atan2", _off_by_ulps(torch.atan2, 2, up_on_even))
    monkeypatch.setattr(torch, "hypot", _off_by_ulps(torch.hypot, 2, up_on_even))
    monkeypatch.setattr(torch, "sqrt", _off_by_ulps(torch.sqrt, 2, up_on_even))
    for colour in (False, True):
        raw = patches(24, h, w, colour, seed=h * w + orientations)
        for kind in ("uint8", "float64-unit", "float32"):
            for transform_sqrt in (False, True):
                images = as_dtype(raw, kind)
                params = {"orientations": orientations, "pixels_per_cell": cell, "cells_per_block": block,
                          "block_norm": "L1", "transform_sqrt": transform_sqrt}
                assert_matches(hog(images, **params), skimage_loop(images, **params))


@pytest.mark.parametrize("offset", [-1e-6, -4e-7, 1e-7, 1e-6])
def test_orientations_next_to_a_bin_edge_fall_in_skimage_bin(offset: float) -> None:
    """Angles within single-precision rounding of the edge 180/7 land in the same bin as in skimage."""
    angle = np.deg2rad(180.0 / 7 + offset)
    image = np.zeros((3, 3))
    image[2, 1], image[1, 2] = np.sin(angle), np.cos(angle)  # centre pixel: g_row = sin, g_col = cos
    params = {"orientations": 7, "pixels_per_cell": (3, 3), "cells_per_block": (1, 1), "block_norm": "L1"}
    expected = skimage_hog(image, **params)
    np.testing.assert_allclose(hog(image[None], **params)[0], expected, atol=1e-6)


def _centre_gradient_images(g_row: np.ndarray, g_col: np.ndarray, dtype: type) -> np.ndarray:
    """3x3 images of an 8-bit ``dtype`` whose centre pixel has the given integer gradients in [-255, 255]."""
    low = np.iinfo(dtype).min
    images = np.full((len(g_row), 3, 3), low, dtype=np.int64)
    images[:, 2, 1] = low + np.maximum(g_row, 0)
    images[:, 0, 1] = low + np.maximum(-g_row, 0)
    images[:, 1, 2] = low + np.maximum(g_col, 0)
    images[:, 1, 0] = low + np.maximum(-g_col, 0)
    return images.astype(dtype)


@pytest.mark.parametrize("dtype", [np.uint8, np.int8])
@pytest.mark.parametrize("orientations", [4, 8, 9])
def test_every_kind_of_8bit_gradient_falls_in_skimage_bin(dtype: type, orientations: int) -> None:
    """Integer gradients across their whole range, and exactly on the bin edges at 45, 90 and 135 degrees."""
    steps = np.arange(-255, 256, 15)
    grid_row, grid_col = (a.ravel() for a in np.meshgrid(steps, steps, indexing="ij"))
    k = np.arange(1, 256, 7)
    edge_row = np.concatenate([k, k, -k, k, np.zeros_like(k), -k])
    edge_col = np.concatenate([k, -k, k, np.zeros_like(k), k, -k])
    images = _centre_gradient_images(np.concatenate([grid_row, edge_row]), np.concatenate([grid_col, edge_col]),
                                     dtype)
    params = {"orientations": orientations, "pixels_per_cell": (1, 1), "cells_per_block": (1, 1),
              "block_norm": "L1"}
    expected = skimage_loop(images, **params)  # (n, 9 * O): the centre cell's O values are the 5th block
    np.testing.assert_allclose(hog(images, **params), expected, atol=1e-6)


def test_flat_images_give_zero_features() -> None:
    images = np.full((3, 16, 16, 3), 7, dtype=np.uint8)
    for block_norm in BLOCK_NORMS:
        params = {"pixels_per_cell": (4, 4), "cells_per_block": (2, 2), "block_norm": block_norm}
        assert_matches(hog(images, **params), skimage_loop(images, **params))


@needs_fashion
def test_equals_skimage_on_fashion_mnist() -> None:
    from featvslearn.datasets import load_split

    images = load_split("fashion-mnist", download=False).test.images[:1500]  # (N, 28, 28, 1) uint8
    for cell, block, block_norm in [(4, 2, "L2-Hys"), (7, 2, "L1"), (4, 3, "L2"), (5, 2, "L1-sqrt")]:
        params = {"pixels_per_cell": (cell, cell), "cells_per_block": (block, block), "block_norm": block_norm}
        assert_matches(hog(images, **params), skimage_loop(images, **params))


INVALID = [
    {"block_norm": "L3"},
    {"orientations": 0},
    {"orientations": -2},
    {"pixels_per_cell": (0, 4)},
    {"cells_per_block": (2, -1)},
    {"pixels_per_cell": (16, 16), "cells_per_block": (3, 3)},  # fewer cells than one block
    {"pixels_per_cell": (4, 4, 4)},
]


@pytest.mark.parametrize("bad", INVALID)
def test_invalid_parameters_raise_the_same_error_as_the_transformer(bad: dict) -> None:
    images = patches(2, 28, 28, colour=False)
    params = {"pixels_per_cell": (4, 4), "cells_per_block": (2, 2), **bad}
    with pytest.raises(ValueError) as from_hog:
        hog(images, **params)
    with pytest.raises(ValueError) as from_transformer:
        HOGTransformer(**params).fit(images)
    assert str(from_hog.value) == str(from_transformer.value) != ""


def test_rejects_bad_shapes_and_negative_images_under_sqrt() -> None:
    with pytest.raises(ValueError, match="expected images"):
        hog(np.zeros((2, 16, 16, 2)), pixels_per_cell=(4, 4), cells_per_block=(2, 2))
    with pytest.raises(ValueError, match="expected images"):
        hog(torch.zeros(16, 16), pixels_per_cell=(4, 4), cells_per_block=(2, 2))
    with pytest.raises(ValueError, match="non-negative"):
        hog(-np.ones((2, 16, 16)), pixels_per_cell=(4, 4), cells_per_block=(2, 2), transform_sqrt=True)


@pytest.mark.parametrize("colour", [False, True])
def test_transformer_on_a_device_equals_the_skimage_path(colour: bool) -> None:
    images = patches(300, 28, 28, colour=colour, seed=7)
    params = {"orientations": 9, "pixels_per_cell": (4, 4), "cells_per_block": (2, 2), "block_norm": "L2-Hys"}
    reference = HOGTransformer(**params, n_jobs=1).fit_transform(images)
    batched = HOGTransformer(**params, device="cpu")
    assert batched.get_params()["device"] == "cpu" and clone(batched).get_params() == batched.get_params()
    assert_matches(batched.fit_transform(images), reference.astype(np.float64))
    assert batched.n_features_out_ == reference.shape[1]


def _in_a_fresh_process(code: str) -> str:
    """stdout of ``code`` run by a new Python interpreter (fresh torch, warnings and allocator state)."""
    done = subprocess.run([sys.executable, "-c", textwrap.dedent(code)], capture_output=True, text=True, timeout=300,
                          cwd=Path(__file__).resolve().parents[1])
    assert done.returncode == 0, done.stderr
    return done.stdout


def test_read_only_images_are_used_without_a_warning_or_a_change() -> None:
    """Images straight from a file's bytes (np.frombuffer, read-only) give no warning and the usual features."""
    out = _in_a_fresh_process("""
        import warnings
        import numpy as np
        from featvslearn.classical.hog import hog
        warnings.simplefilter("error")
        raw = np.random.default_rng(0).integers(0, 256, 20 * 28 * 28, dtype=np.uint8).tobytes()
        for dtype in (np.uint8, np.float32):
            images = np.frombuffer(raw, np.uint8).reshape(20, 28, 28).astype(dtype)
            images.flags.writeable = False
            params = {"pixels_per_cell": (4, 4), "cells_per_block": (2, 2)}
            assert np.array_equal(hog(images, **params), hog(images.copy(), **params))
        print("ok")
    """)
    assert out.strip() == "ok"


@pytest.mark.skipif(platform.libc_ver()[0] != "glibc", reason="the page reuse checked is glibc malloc's")
def test_repeated_calls_in_a_fresh_process_reuse_their_memory() -> None:
    """Calls after the first page in (almost) no new memory, as in a process that has loaded a dataset."""
    out = _in_a_fresh_process("""
        import resource
        import numpy as np
        from featvslearn.classical.hog import hog
        images = np.random.default_rng(0).integers(0, 256, (10_000, 28, 28), dtype=np.uint8)
        hog(images)
        before = resource.getrusage(resource.RUSAGE_SELF).ru_minflt
        for _ in range(3):
            hog(images)
        print((resource.getrusage(resource.RUSAGE_SELF).ru_minflt - before) // 3)
    """)
    assert int(out) < 200, f"{out.strip()} pages faulted in a call (a call's 9 MB are about 2,300 pages)"
