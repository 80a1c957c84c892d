"""Input checks and device caches shared by the torch-backed scikit-learn estimators.

NumPy and other array-likes are checked by scikit-learn's ``check_array`` / ``validate_data``,
so errors read as scikit-learn's do. Torch tensors (the fast path: features already on a
device) get the same checks as a few torch ops, without a copy to the host.

Fitted attributes are NumPy arrays; :class:`DeviceCacheMixin` keeps their device copies in one
private dict that is built once per fit, rebuilt when an attribute or ``device`` changes, and
never pickled, so a fitted estimator unpickles on a machine without the fitting device.

torch is imported inside the functions, so that importing HOG does not import torch.
"""

from __future__ import annotations

import warnings
from typing import TYPE_CHECKING, Any

import numpy as np
from sklearn.utils.validation import check_array, validate_data

if TYPE_CHECKING:
    import torch


# ---------------------------------------------------------------------------- tensors


def _found(what: str, shape: tuple[int, ...], minimum: int, estimator: object) -> str:
    """scikit-learn's message for too few samples or features."""
    return (f"Found array with {shape[0] if what == 'sample' else shape[-1]} {what}(s) (shape={shape}) "
            f"while a minimum of {minimum} is required by {type(estimator).__name__}.")


def _all_finite(x: torch.Tensor) -> bool:
    """Whether every value of float tensor ``x`` is finite: one sum, then one full pass only if that overflows.

    NaN or infinity anywhere makes the sum NaN or infinite; so may finite values too large to sum.
    """
    import torch

    return bool(torch.isfinite(x.sum())) or bool(torch.isfinite(x).all())


def check_tensor(x: torch.Tensor, estimator: object, *, ndim: int = 2, min_samples: int = 1,
                 device: torch.device | str | None = None, dtype: torch.dtype | None = None) -> torch.Tensor:
    """``x`` checked as scikit-learn checks arrays, then moved to ``device`` and ``dtype``.

    Refuses sparse and complex tensors, a number of dimensions other than ``ndim``, fewer than
    ``min_samples`` rows, an empty last axis, and NaN or infinite values (looked for after the
    conversion, on the target device: one pass, no copy to the host). Returns the detached tensor.
    """
    import torch

    if x.layout != torch.strided:
        raise TypeError("Sparse data was passed for X, but dense data is required. Use '.to_dense()' to convert "
                        "to a dense tensor.")
    if x.is_complex():
        raise ValueError("Complex data not supported")
    shape = tuple(x.shape)
    if x.ndim != ndim:
        raise ValueError(f"Expected {ndim}D input, got a {x.ndim}D tensor of shape {shape} instead.")
    if shape[0] < min_samples:
        raise ValueError(_found("sample", shape, min_samples, estimator))
    if shape[-1] < 1:
        raise ValueError(_found("feature", shape, 1, estimator))
    x = x.detach().to(device=x.device if device is None else device, dtype=dtype)
    if x.is_floating_point() and not _all_finite(x):
        if bool(torch.isnan(x).any()):
            raise ValueError(f"Input X contains NaN. {type(estimator).__name__} does not accept missing values.")
        raise ValueError(f"Input X contains infinity or a value too large for {x.dtype}.")
    return x


def to_tensor(array: np.ndarray, device: torch.device | str, dtype: torch.dtype) -> torch.Tensor:
    """A checked NumPy array as a tensor of ``dtype`` on ``device`` (no copy on the CPU where types agree)."""
    import torch

    if any(stride < 0 for stride in array.strides):  # a reversed view: torch takes only positive strides
        array = np.ascontiguousarray(array)
    with warnings.catch_warnings():  # a read-only array is only ever read
        warnings.filterwarnings("ignore", message="The given NumPy array is not writable")
        return torch.as_tensor(array, device=device).to(dtype)


def validate_features(estimator: Any, X: Any, *, reset: bool, device: torch.device | str, dtype: torch.dtype,
                      min_samples: int = 1) -> torch.Tensor:
    """Features ``X`` (N, D), array-like or tensor, checked -> a tensor of ``dtype`` on ``device``.

    Arrays go through scikit-learn's ``validate_data`` (as float32); tensors through
    :func:`check_tensor`. Sets ``n_features_in_`` when ``reset``, otherwise refuses another
    number of features with scikit-learn's message.
    """
    import torch

    if isinstance(X, torch.Tensor):
        validate_data(estimator, X, skip_check_array=True, reset=reset)
        return check_tensor(X, estimator, min_samples=min_samples, device=device, dtype=dtype)
    array = validate_data(estimator, X, reset=reset, dtype=np.float32, ensure_min_samples=min_samples)
    return to_tensor(array, device, dtype)


# ---------------------------------------------------------------------------- images


def check_images(X: Any, estimator: object, *, min_samples: int = 1) -> Any:
    """Images ``(N, H, W)`` grey or ``(N, H, W, C)`` with ``C`` in {1, 3}, checked -> ``(N, H, W, C)``.

    An array-like goes through scikit-learn's ``check_array``, which refuses sparse, complex, NaN
    or infinite input and fewer than ``min_samples`` images, with its messages, and comes back as
    an array. A torch tensor gets the same checks as torch ops and comes back as a tensor on its
    own device (a view: no copy, and for integer images no pass over the values, so a stack of
    uint8 images on a GPU is checked without waiting for it). Integer and float types are kept.
    """
    if is_tensor(X):
        return _check_image_tensor(X, estimator, min_samples)
    images = check_array(X, ensure_2d=False, allow_nd=True, dtype="numeric", ensure_min_samples=min_samples,
                         estimator=estimator, input_name="X")
    if images.ndim == 3:
        images = images[..., None]
    if images.ndim != 4 or images.shape[-1] not in (1, 3):
        raise ValueError(f"expected images shaped (N, H, W) or (N, H, W, C) with C in 1 or 3, got {images.shape}")
    return images


def is_tensor(X: Any) -> bool:
    """Whether ``X`` is a torch tensor, without importing torch for NumPy input."""
    return type(X).__module__.startswith("torch") and hasattr(X, "device")


def _check_image_tensor(X: torch.Tensor, estimator: object, min_samples: int) -> torch.Tensor:
    """:func:`check_images` for a tensor: (N, H, W[, C]) -> a (N, H, W, C) view on its device.

    The shape is checked here; sparse and complex tensors, too few images and NaN or infinite
    values are refused by :func:`check_tensor`, with scikit-learn's messages.
    """
    import torch

    if X.dtype == torch.bool:
        raise ValueError(f"images must be integer or real-valued, not {X.dtype}")
    images = X.unsqueeze(-1) if X.ndim == 3 else X
    if images.ndim != 4 or images.shape[-1] not in (1, 3):
        raise ValueError(f"expected images shaped (N, H, W) or (N, H, W, C) with C in 1 or 3, got {tuple(X.shape)}")
    return check_tensor(images, estimator, ndim=4, min_samples=min_samples)


def check_image_shape(images: np.ndarray, estimator: Any) -> None:
    """Refuse ``images`` (N, H, W, C) of another shape than ``estimator.image_shape_``."""
    if tuple(images.shape[1:]) != tuple(estimator.image_shape_):
        raise ValueError(f"X holds images of shape {tuple(images.shape[1:])}, but {type(estimator).__name__} was "
                         f"fitted on images of shape {tuple(estimator.image_shape_)}")


# ---------------------------------------------------------------------------- device caches


class DeviceCacheMixin:
    """Device copies of fitted NumPy attributes, in ``_device_cache``, left out of pickles.

    ``fit`` stores the tensors it already has with :meth:`_keep_on_device`; later calls of
    :meth:`_on_device` return them, or convert the attribute once more after unpickling,
    a change of ``device``, or when the attribute has been replaced.
    """

    device: Any

    def _keep_on_device(self, name: str, tensor: torch.Tensor) -> None:
        """Cache ``tensor`` as the device copy of attribute ``name`` (set the attribute first)."""
        cache = self.__dict__.setdefault("_device_cache", {})
        cache[name, tensor.dtype] = (getattr(self, name), str(self.device), tensor)

    def _on_device(self, name: str, dtype: torch.dtype) -> torch.Tensor:
        """Attribute ``name`` as a ``dtype`` tensor on ``device``, converted at most once per fit."""
        import torch

        array = getattr(self, name)
        cache = self.__dict__.setdefault("_device_cache", {})
        hit = cache.get((name, dtype))
        if hit is not None and hit[0] is array and hit[1] == str(self.device):
            return hit[2]
        tensor = torch.as_tensor(array, device=torch.device(self.device)).to(dtype)
        cache[name, dtype] = (array, str(self.device), tensor)
        return tensor

    def __getstate__(self) -> dict[str, Any]:
        state = super().__getstate__()  # type: ignore[misc]
        state.pop("_device_cache", None)
        return state
