"""scikit-learn's estimator checks on the SVMs, the kernel map and the HOG, colour and SIFT transformers.

LinearSVM and NystroemRBF pass every check (two skip themselves here: the array-API check needs
SCIPY_ARRAY_API set, and the pandas one needs pandas). The image transformers refuse the 2-D
tables (n_samples, n_features) that the generic checks fit on, so those checks are skipped,
listed below with the reason; a test confirms that each fails for that reason only, and the
same properties are then checked on image-shaped data.
"""

from __future__ import annotations

import pickle
import warnings
from collections.abc import Callable, Iterator
from functools import partial

import numpy as np
import pytest
import scipy.sparse as sp
import torch
from sklearn.base import clone
from sklearn.exceptions import NotFittedError
from sklearn.utils.estimator_checks import estimator_checks_generator
from sklearn.utils.validation import check_is_fitted

from featvslearn.classical.colour import ColourHistogram
from featvslearn.classical.fisher import FisherVectorEncoder
from featvslearn.classical.hog import HOGTransformer, ThumbnailTransformer
from featvslearn.classical.sift import DenseSIFT, SpatialPyramidCodebook
from featvslearn.classical.svm import CHOLESKY_TRIES, LinearSVM, NystroemRBF


@pytest.fixture(autouse=True, scope="module")
def one_thread() -> Iterator[None]:
    """Tiny data: one torch thread, so that no thread waits on another on a busy machine."""
    threads = torch.get_num_threads()
    torch.set_num_threads(1)
    yield
    torch.set_num_threads(threads)


# Small parameters, so that the whole file runs in seconds.
SVMS = [LinearSVM(max_iter=100), NystroemRBF(n_components=20)]
IMAGE_TRANSFORMERS = [
    HOGTransformer(pixels_per_cell=(4, 4), cells_per_block=(2, 2), n_jobs=1),
    ThumbnailTransformer(size=4),
    ColourHistogram(),
    DenseSIFT(),
    SpatialPyramidCodebook(n_words=4, pyramid_levels=(1, 2)),
    FisherVectorEncoder(n_components=2, pca_dimensions=8, pyramid_levels=(1, 2)),
]

NEEDS_A_TABLE = (
    "check_dict_unchanged",
    "check_dont_overwrite_parameters",
    "check_dtype_object",
    "check_estimators_dtypes",
    "check_estimators_fit_returns_self",
    "check_estimators_nan_inf",
    "check_estimators_overwrite_params",
    "check_estimators_pickle",
    "check_f_contiguous_array_estimator",
    "check_fit2d_1feature",
    "check_fit2d_1sample",
    "check_fit2d_predict1d",
    "check_fit_check_is_fitted",
    "check_fit_idempotent",
    "check_fit_score_takes_y",
    "check_methods_sample_order_invariance",
    "check_methods_subset_invariance",
    "check_n_features_in",
    "check_n_features_in_after_fitting",
    "check_pipeline_consistency",
    "check_positive_only_tag_during_fit",
    "check_readonly_memmap_input",
    "check_transformer_data_not_an_array",
    "check_transformer_general",
    "check_transformer_preserve_dtypes",
)
"""Checks that fit on a 2-D table (n_samples, n_features), which an image transformer refuses."""


def skipped_checks(estimator: object) -> dict[str, str]:
    """The checks skipped for ``estimator``, each with its reason."""
    if isinstance(estimator, (SpatialPyramidCodebook, FisherVectorEncoder)):
        return dict.fromkeys(NEEDS_A_TABLE, "fits on a 2-D table; the encoders take grids (N, rows, cols, D)")
    if isinstance(estimator, (HOGTransformer, ThumbnailTransformer, ColourHistogram, DenseSIFT)):
        return dict.fromkeys(NEEDS_A_TABLE, "fits on a 2-D table; images are (N, H, W) or (N, H, W, C)")
    return {}


def check_name(check: Callable[..., object]) -> str:
    """The name of a check function, through its partials."""
    while isinstance(check, partial):
        check = check.func
    return check.__name__


def check_id(estimator: object, check: Callable[..., object]) -> str:
    """``Estimator-check_name(keyword=value)``, as scikit-learn names its check variants."""
    keywords: dict[str, object] = {}
    while isinstance(check, partial):
        keywords = {**check.keywords, **keywords}
        check = check.func
    variant = ",".join(f"{key}={value}" for key, value in keywords.items())
    return f"{type(estimator).__name__}-{check.__name__}" + (f"({variant})" if variant else "")


def every_check() -> Iterator[object]:
    """scikit-learn's checks of every estimator here, the skipped ones marked with their reason."""
    for estimator in SVMS + IMAGE_TRANSFORMERS:
        skipped = skipped_checks(estimator)
        for instance, check in estimator_checks_generator(estimator, legacy=True):
            reason = skipped.get(check_name(check))
            yield pytest.param(instance, check, id=check_id(estimator, check),
                               marks=[pytest.mark.skip(reason=reason)] if reason else [])


@pytest.mark.parametrize(("estimator", "check"), list(every_check()))
def test_scikit_learn_estimator_checks(estimator: object, check: Callable[[object], None]) -> None:
    check(estimator)


@pytest.mark.parametrize("estimator", IMAGE_TRANSFORMERS, ids=lambda e: type(e).__name__)
def test_the_skipped_checks_fail_only_because_the_input_is_a_table(estimator: object) -> None:
    """Each skipped check fails, and with the transformer's refusal of 2-D input, nothing else."""
    seen = set()
    for instance, check in estimator_checks_generator(estimator, legacy=True):
        if check_name(check) not in NEEDS_A_TABLE:
            continue
        seen.add(check_name(check))
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")
            with pytest.raises((ValueError, AssertionError)) as info:
                check(instance)
        error = info.value if isinstance(info.value, ValueError) else info.value.__cause__
        assert isinstance(error, ValueError), f"{check_name(check)}: {info.value}"
        assert str(error).startswith(("expected images shaped", "expected descriptor grids")), check_name(check)
    unused = set(NEEDS_A_TABLE) - seen
    assert unused <= {"check_transformer_preserve_dtypes"}  # not run where no dtype is preserved (DenseSIFT)


# ---------------------------------------------------------------------------- image-shaped versions


def images(n: int = 6, side: int = 16, channels: int = 1, dtype: type = np.uint8, seed: int = 0) -> np.ndarray:
    """Random images (n, side, side, channels): 0..255 as uint8, else 0..1 floats."""
    rng = np.random.default_rng(seed)
    if dtype == np.uint8:
        return rng.integers(0, 256, (n, side, side, channels), dtype=np.uint8)
    return rng.random((n, side, side, channels)).astype(dtype)


def grids(n: int = 6, seed: int = 0) -> np.ndarray:
    """Descriptor grids (n, rows, cols, 128) float32 of random images."""
    return DenseSIFT().fit(images(1)).transform(images(n, seed=seed))


def cases() -> list[tuple[object, np.ndarray]]:
    """(unfitted image transformer, input it takes): the HOG paths, the thumbnail, the colour histogram, dense
    SIFT (grey and opponent colour), the codebook."""
    return [
        (HOGTransformer(pixels_per_cell=(4, 4), cells_per_block=(2, 2), n_jobs=1), images()),
        (HOGTransformer(pixels_per_cell=(4, 4), cells_per_block=(2, 2), device="cpu"), images(channels=3)),
        (ThumbnailTransformer(size=4), images(channels=3)),
        (ColourHistogram(), images(channels=3)),
        (ColourHistogram(space="lab", bins=(1, 8, 8)), images(channels=1)),
        (DenseSIFT(), images()),
        (DenseSIFT(colour="opponent"), images(channels=3)),
        (SpatialPyramidCodebook(n_words=4, pyramid_levels=(1, 2)), grids()),
        (FisherVectorEncoder(n_components=2, pca_dimensions=8, pyramid_levels=(1, 2)), grids()),
    ]


def as_array(features: object) -> np.ndarray:
    return features.cpu().numpy() if isinstance(features, torch.Tensor) else np.asarray(features)


CASES = pytest.mark.parametrize(("estimator", "x"), cases(), ids=lambda v: type(v).__name__)


@CASES
def test_image_transformers_fit_and_transform_as_scikit_learn_expects(estimator: object, x: np.ndarray) -> None:
    with pytest.raises(NotFittedError):
        estimator.transform(x)
    before = repr(estimator)
    assert estimator.fit(x) is estimator
    assert repr(estimator) == before  # fit leaves the parameters alone
    check_is_fitted(estimator)
    grid_input = isinstance(estimator, (SpatialPyramidCodebook, FisherVectorEncoder))
    n_values = x.shape[-1] if grid_input else int(np.prod(x.shape[1:]))
    assert estimator.n_features_in_ == n_values
    state = dict(vars(estimator))
    out = as_array(estimator.transform(x))
    assert vars(estimator) == state  # transform changes nothing
    assert len(out) == len(x) and out.dtype == np.float32
    np.testing.assert_allclose(as_array(estimator.fit(x).transform(x)), out)  # fitting again: the same
    halves = np.concatenate([as_array(estimator.transform(x[:3])), as_array(estimator.transform(x[3:]))])
    np.testing.assert_allclose(halves, out, atol=1e-6)  # rows do not depend on their batch
    reordered = as_array(estimator.transform(x[::-1]))
    np.testing.assert_allclose(reordered, out[::-1], atol=1e-6)


@CASES
def test_image_transformers_pickle_to_numpy_and_back(estimator: object, x: np.ndarray) -> None:
    estimator.fit(x)
    out = as_array(estimator.transform(x))
    data = pickle.dumps(estimator)
    assert b"torch" not in data  # plain Python and NumPy: unpickles without the fitting device
    np.testing.assert_array_equal(as_array(pickle.loads(data).transform(x)), out)
    assert clone(estimator).get_params() == estimator.get_params()


@CASES
def test_image_transformers_take_read_only_fortran_and_other_dtypes(estimator: object, x: np.ndarray) -> None:
    out = as_array(clone(estimator).fit(x).transform(x))
    frozen = x.copy()
    frozen.setflags(write=False)
    np.testing.assert_array_equal(as_array(clone(estimator).fit(frozen).transform(frozen)), out)
    np.testing.assert_array_equal(as_array(clone(estimator).fit(x).transform(np.asfortranarray(x))), out)
    floats = x.astype(np.float64)
    assert as_array(clone(estimator).fit(floats).transform(floats)).shape == out.shape


@CASES
@pytest.mark.parametrize(("bad", "message"), [(np.nan, "NaN"), (np.inf, "infinity")])
def test_image_transformers_refuse_nan_and_infinity(estimator: object, x: np.ndarray, bad: float,
                                                     message: str) -> None:
    spoiled = x.astype(np.float32)
    spoiled[0, 0, 0, 0] = bad
    with pytest.raises(ValueError, match=message):
        clone(estimator).fit(spoiled)
    fitted = clone(estimator).fit(x)
    with pytest.raises(ValueError, match=message):
        fitted.transform(spoiled)


@CASES
def test_image_transformers_refuse_empty_complex_sparse_and_flat_input(estimator: object, x: np.ndarray) -> None:
    with pytest.raises(ValueError, match="0 sample"):
        clone(estimator).fit(x[:0])
    with pytest.raises(ValueError, match="Complex data not supported"):
        clone(estimator).fit(x.astype(np.complex64))
    with pytest.raises(TypeError, match="Sparse data was passed"):
        clone(estimator).fit(sp.csr_matrix(x.reshape(len(x), -1)))
    with pytest.raises(ValueError, match=r"expected (images|descriptor grids)"):
        clone(estimator).fit(x.reshape(len(x), -1))


def test_image_transformers_refuse_images_of_another_shape_at_transform() -> None:
    for estimator, x, other in [
        (HOGTransformer(pixels_per_cell=(4, 4), cells_per_block=(2, 2)), images(side=16), images(side=20)),
        (ThumbnailTransformer(size=4), images(channels=3), images(channels=1)),
        (ColourHistogram(), images(channels=3), images(channels=1)),
        (DenseSIFT(), images(side=16), images(side=20)),
    ]:
        with pytest.raises(ValueError, match="was fitted on images of shape"):
            estimator.fit(x).transform(other)
    codebook = SpatialPyramidCodebook(n_words=4).fit(grids())
    with pytest.raises(ValueError, match="X has descriptors of 64 values, but SpatialPyramidCodebook is expecting"):
        codebook.transform(grids()[..., :64])


def test_the_codebook_takes_grids_on_the_device_and_keeps_its_words_in_numpy() -> None:
    x = grids()
    from_tensor = SpatialPyramidCodebook(n_words=4).fit(torch.from_numpy(x))
    from_array = SpatialPyramidCodebook(n_words=4).fit(x)
    assert isinstance(from_tensor.words_, np.ndarray) and from_tensor.words_.shape == (4, 128)
    np.testing.assert_array_equal(from_tensor.words_, from_array.words_)
    np.testing.assert_array_equal(from_tensor.transform(torch.from_numpy(x)), from_array.transform(x))
    spoiled = torch.from_numpy(x.copy())
    spoiled[0, 0, 0, 0] = float("nan")
    with pytest.raises(ValueError, match="NaN"):
        SpatialPyramidCodebook(n_words=4).fit(spoiled)


def test_empty_stacks_transform_to_empty_features() -> None:
    x = images()
    assert HOGTransformer(pixels_per_cell=(4, 4), cells_per_block=(2, 2)).fit(x).transform(x[:0]).shape[0] == 0
    assert ThumbnailTransformer(size=4).fit(x).transform(x[:0]).shape == (0, 16)
    assert ColourHistogram().fit(x).transform(x[:0]).shape == (0, 72 * 5)
    opponent = DenseSIFT(colour="opponent").fit(x)
    assert tuple(opponent.transform(x[:0]).shape) == (0, *opponent.grid_shape_, 384)
    sift = DenseSIFT().fit(x)
    assert tuple(sift.transform(x[:0]).shape) == (0, *sift.grid_shape_, 128)
    codebook = SpatialPyramidCodebook(n_words=4, pyramid_levels=(1,)).fit(grids())
    assert codebook.transform(grids()[:0]).shape == (0, 4)
    fisher = FisherVectorEncoder(n_components=2, pca_dimensions=8).fit(grids())
    assert fisher.transform(grids()[:0]).shape == (0, 2 * 2 * 8)


# ---------------------------------------------------------------------------- the SVMs on tensors


def classes(n: int = 120, d: int = 6, k: int = 3, seed: int = 0) -> tuple[np.ndarray, np.ndarray]:
    """Features (n, d) float32 of k separable classes, and their labels."""
    rng = np.random.default_rng(seed)
    y = np.arange(n) % k
    return (rng.normal(0, 4, (k, d))[y] + rng.normal(size=(n, d))).astype(np.float32), y


def test_tensors_and_arrays_give_the_same_model_and_numpy_attributes() -> None:
    x, y = classes()
    from_array = LinearSVM().fit(x, y)
    from_tensor = LinearSVM().fit(torch.from_numpy(x), y)
    for name in ("classes_", "coef_", "intercept_"):
        assert isinstance(getattr(from_tensor, name), np.ndarray)
        np.testing.assert_array_equal(getattr(from_tensor, name), getattr(from_array, name))
    assert from_tensor.n_features_in_ == 6 and from_tensor.coef_.shape == (3, 6)
    np.testing.assert_array_equal(from_tensor.predict(torch.from_numpy(x)), from_array.predict(x))
    assert isinstance(from_tensor.decision_function(torch.from_numpy(x)), np.ndarray)

    kernel = NystroemRBF(n_components=30, gamma=0.1).fit(torch.from_numpy(x))
    for name in ("components_", "component_indices_", "normalization_"):
        assert isinstance(getattr(kernel, name), np.ndarray)
    assert kernel.components_.shape == (30, 6) and kernel.n_features_in_ == 6
    on_device = kernel.transform(torch.from_numpy(x))
    assert isinstance(on_device, torch.Tensor)  # tensors in, tensors out: the pipelines stay on the device
    assert isinstance(kernel.transform(x), np.ndarray)  # arrays in, arrays out
    np.testing.assert_array_equal(kernel.transform(x), on_device.numpy())


@pytest.mark.parametrize("estimator", [LinearSVM(max_iter=20), NystroemRBF(n_components=10)],
                         ids=lambda e: type(e).__name__)
def test_bad_tensors_are_refused_with_scikit_learn_messages(estimator: object) -> None:
    x, y = classes()
    fit = (lambda data: clone(estimator).fit(data, y)) if isinstance(estimator, LinearSVM) else clone(estimator).fit
    for bad, message in [(float("nan"), "Input X contains NaN"), (float("inf"), "Input X contains infinity")]:
        spoiled = torch.from_numpy(x.copy())
        spoiled[3, 2] = bad
        with pytest.raises(ValueError, match=message):
            fit(spoiled)
    with pytest.raises(ValueError, match="Complex data not supported"):
        fit(torch.from_numpy(x).to(torch.complex64))
    with pytest.raises(TypeError, match="Sparse data was passed"):
        fit(torch.from_numpy(x).to_sparse())
    with pytest.raises(ValueError, match="Expected 2D input"):
        fit(torch.from_numpy(x[:, 0]))
    with pytest.raises(ValueError, match=r"Found array with 0 sample\(s\)"):
        fit(torch.from_numpy(x[:0]))
    fitted = fit(torch.from_numpy(x))
    method = fitted.predict if isinstance(fitted, LinearSVM) else fitted.transform
    name = type(estimator).__name__
    with pytest.raises(ValueError, match=f"X has 5 features, but {name} is expecting 6 features as input"):
        method(torch.from_numpy(x[:, :5]))
    spoiled = torch.from_numpy(x.copy())
    spoiled[0, 0] = float("nan")
    with pytest.raises(ValueError, match="NaN"):
        method(spoiled)


def test_labels_and_lengths_are_checked_on_the_tensor_path_too() -> None:
    x, y = classes()
    with pytest.raises(ValueError, match="Unknown label type"):
        LinearSVM().fit(torch.from_numpy(x), y + 0.5)
    with pytest.raises(ValueError, match="inconsistent numbers of samples"):
        LinearSVM().fit(torch.from_numpy(x), y[:-1])
    with pytest.raises(ValueError, match="requires y to be passed"):
        LinearSVM().fit(torch.from_numpy(x), None)


@pytest.mark.parametrize("precision", ["fp32", "bf16"])
def test_fitted_svms_pickle_without_tensors_and_predict_the_same(precision: str) -> None:
    x, y = classes()
    model = LinearSVM(precision=precision).fit(x, y)
    kernel = NystroemRBF(n_components=40, gamma=0.1, precision=precision).fit(x)
    for estimator in (model, kernel):
        data = pickle.dumps(estimator)
        assert b"torch" not in data  # unpickles on a machine without the fitting device
        again = pickle.loads(data)
        if estimator is model:
            np.testing.assert_array_equal(again.predict(x), model.predict(x))
            np.testing.assert_array_equal(again.decision_function(x), model.decision_function(x))
        else:
            np.testing.assert_array_equal(again.transform(x), kernel.transform(x))


def test_replacing_coef_changes_the_predictions() -> None:
    x, y = classes()
    model = LinearSVM().fit(x, y)
    before = model.predict(x)
    model.coef_, model.intercept_ = -model.coef_, -model.intercept_  # the device copy follows the attributes
    after = model.predict(x)
    np.testing.assert_array_equal(after, model.classes_[np.argmax(x @ model.coef_.T + model.intercept_, axis=1)])
    assert np.mean(after == before) < 0.5


def test_two_classes_score_one_column_whose_sign_is_the_prediction() -> None:
    x, y = classes(k=2)
    model = LinearSVM().fit(x, np.where(y == 1, "yes", "no"))
    scores = model.decision_function(x)
    assert scores.shape == (len(x),) and model.coef_.shape == (2, 6)
    np.testing.assert_array_equal(model.predict(x), np.where(scores > 0, "yes", "no"))


def test_the_cholesky_ridge_search_gives_up_after_a_few_tries(monkeypatch: pytest.MonkeyPatch) -> None:
    calls: list[float] = []
    factor = torch.linalg.cholesky_ex

    def never_positive_definite(matrix: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
        calls.append(float(matrix[0, 0]))
        return factor(matrix)[0], torch.tensor(1)

    monkeypatch.setattr(torch.linalg, "cholesky_ex", never_positive_definite)
    x, _ = classes()
    with pytest.raises(ValueError, match="not positive definite even with a ridge of 1 "):
        NystroemRBF(n_components=10, gamma=0.1).fit(x)
    assert len(calls) == CHOLESKY_TRIES


def test_nan_is_refused_before_the_kernel_is_factored() -> None:
    x, _ = classes()
    x[5, 1] = np.nan
    with pytest.raises(ValueError, match="Input X contains NaN"):
        NystroemRBF(n_components=10).fit(x)


@pytest.mark.parametrize(("estimator", "message"), [
    (LinearSVM(C=0), "C must be positive"),
    (LinearSVM(max_iter=0), "max_iter must be at least 1"),
    (NystroemRBF(gamma=-1.0), "gamma must be positive"),
    (NystroemRBF(gamma=float("nan")), "gamma must be positive"),
    (NystroemRBF(n_components=0), "n_components must be at least 1"),
], ids=str)
def test_bad_parameters_are_refused_at_fit(estimator: object, message: str) -> None:
    x, y = classes()
    with pytest.raises(ValueError, match=message):
        estimator.fit(x, y)
