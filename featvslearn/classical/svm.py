"""Linear SVMs in torch, fitted full-batch on the chosen device, and an RBF kernel map.

:class:`LinearSVM` is a multi-class one-vs-rest linear SVM with the squared hinge loss and
an L2 penalty (the objective of scikit-learn's ``LinearSVC``), minimised by L-BFGS over the
whole training set at once. On a GPU this keeps the classical pipeline on the same device as
the CNN; on a CPU it is faster than liblinear for tens of thousands of dense features.
:class:`NystroemRBF` maps features so that a linear SVM approximates an RBF-kernel SVM.

Both are scikit-learn estimators: they take NumPy arrays (checked by scikit-learn) or torch
tensors (checked with torch ops, and kept on their device: the fast path of the pipelines),
and their fitted attributes are NumPy arrays, so a fitted model pickles and unpickles on any
machine. Their device copies are private caches, made once per fit.

Both take ``precision``: ``"fp32"``, or ``"bf16"`` to hold the (N, D) feature matrix in
bfloat16, half the bytes. The SVM's exact steps read that matrix a chunk of rows at a time, take
each chunk to fp32 and form the scores and the gradient from it there, so only the stored
features are rounded: weights, scores, gradients, losses and the L-BFGS state are fp32. On a
large bf16 matrix (``FAST_STEPS_FROM`` values or more) the first nine tenths of the iteration
budget use whole-matrix bf16 products instead, about twice as fast; the last tenth, and the
test of convergence, are always exact, so a fit that bf16 rounding stalls goes on as an fp32 fit
would (``benchmarks/svm_precision.py`` compares the two). The Nystroem map multiplies in bf16
(its output is the bf16 feature matrix the SVM then holds; squared norms stay fp32).
"""

from __future__ import annotations

from collections.abc import Callable, Iterator
from typing import Any

import numpy as np
import torch
import torch.nn.functional as F
from sklearn.base import BaseEstimator, ClassifierMixin, TransformerMixin
from sklearn.utils import Tags
from sklearn.utils.multiclass import check_classification_targets
from sklearn.utils.validation import check_consistent_length, check_is_fitted, validate_data

from featvslearn.classical.array_checks import DeviceCacheMixin, to_tensor, validate_features

ProgressFn = Callable[[int, int], None]
"""Called with (iterations done, iteration budget) while a solver runs."""


PRECISIONS: dict[str, torch.dtype] = {"fp32": torch.float32, "bf16": torch.bfloat16}
"""The storage precisions of feature matrices the SVMs accept."""

FAST_STEPS_FROM = 2**24
"""Feature-matrix size (N x D values) from which a bf16 linear SVM takes whole-matrix bf16 steps first.

Below it the exact fp32 steps take well under a second, and bf16 rounding noise, relatively larger
on a small sum, would slow convergence; above it the noise averages out over many rows (full
Fashion-MNIST: the same objective to 1e-4) and the bf16 steps halve the fit time."""

CHOLESKY_TRIES = 7
"""Ridges tried on the landmarks' kernel matrix: 1e-6, then ten times more each time, up to 1."""


def _dtype(precision: str) -> torch.dtype:
    """The torch dtype of ``precision`` (fp32 or bf16)."""
    if precision not in PRECISIONS:
        raise ValueError(f"precision must be one of {', '.join(PRECISIONS)}, not {precision!r}")
    return PRECISIONS[precision]


def _times(x: torch.Tensor, weight: torch.Tensor) -> torch.Tensor:
    """``x @ weight.T`` in x's dtype, returned in fp32: x (N, D), weight (K, D) -> (N, K)."""
    return F.linear(x, weight.to(x.dtype)).float()


class RowChunks:
    """``x`` (N, D) a chunk of rows at a time, each in fp32: how the SVM's solver passes read features.

    On the CPU 512 rows a chunk (about 5 MB in fp32 at 2,400 features), copied into one buffer
    that is reused, so a bf16 matrix is taken to fp32 in cache and both the scores and the
    gradient are formed from the chunk there: one pass over ``x`` per solver step instead of two,
    and no fresh allocation per chunk. On an accelerator 65,536 rows a chunk: few, large kernels.
    """

    def __init__(self, x: torch.Tensor) -> None:
        self.x = x
        self.rows = 512 if x.device.type == "cpu" else 65_536
        # fp32 rows are read in place; other types are copied into this buffer, one chunk at a time
        self.buffer = None if x.dtype == torch.float32 else \
            torch.empty(min(self.rows, len(x)), x.shape[1], dtype=torch.float32, device=x.device)

    def __iter__(self) -> Iterator[tuple[slice, torch.Tensor]]:
        """(row slice, rows (B, D) fp32) for each chunk; the rows are valid until the next chunk."""
        for start in range(0, len(self.x), self.rows):
            part = slice(start, min(start + self.rows, len(self.x)))
            if self.buffer is None:
                yield part, self.x[part]  # already fp32: no copy
            else:
                yield part, self.buffer[: part.stop - part.start].copy_(self.x[part])


def _lbfgs(closure: Callable[[], torch.Tensor], params: list[torch.Tensor], budget: int, tol: float, done: int,
           max_iter: int, progress: ProgressFn | None) -> int:
    """Up to ``budget`` L-BFGS iterations on ``params`` from a fresh history, 25 at a time, stopping
    early where L-BFGS does (its gradient or change tolerance reached).

    Returns the iterations done in all (``done`` of them before). ``progress`` gets (iterations
    done, ``max_iter``).
    """
    if budget < 1:
        return done
    optimizer = torch.optim.LBFGS(params, lr=1.0, max_iter=25, history_size=20, tolerance_grad=tol,
                                  tolerance_change=1e-10, line_search_fn="strong_wolfe")
    start = done
    while done - start < budget:
        block = min(25, budget - (done - start))
        optimizer.param_groups[0]["max_iter"] = block
        optimizer.step(closure)
        iterations = start + int(optimizer.state[params[0]].get("n_iter", done - start + block))
        converged = iterations - done < block  # L-BFGS stopped early: a tolerance reached
        done = iterations
        if progress is not None:
            progress(min(done, max_iter), max_iter)
        if converged:
            break
    return done


# ---------------------------------------------------------------------------- linear SVM


class LinearSVM(DeviceCacheMixin, ClassifierMixin, BaseEstimator):
    """One-vs-rest linear SVM (squared hinge, L2) fitted full-batch by L-BFGS in torch.

    Minimises ``0.5 * ||W||^2 + C * sum_i sum_k max(0, 1 - y_ik (x_i . w_k + b_k))^2``,
    as scikit-learn's ``LinearSVC(loss="squared_hinge")`` does, with an unpenalised bias.

    Parameters: ``C`` (inverse regularisation), ``max_iter`` (L-BFGS iterations), ``tol``
    (gradient tolerance), ``device`` (torch device the fit and predictions run on),
    ``precision`` (fp32 or bf16: how the feature matrix is held and multiplied).

    ``X`` is an array-like (N, D) or a torch tensor (N, D) on any device (moved to ``device``).
    Fitted attributes (NumPy): ``classes_`` (K,), ``coef_`` (K, D) float32 and ``intercept_``
    (K,) float32 with one row per class (two rows for two classes: one-vs-rest),
    ``n_features_in_``, ``n_iter_``.
    """

    def __init__(self, C: float = 1.0, max_iter: int = 300, tol: float = 1e-5, device: str = "cpu",
                 precision: str = "fp32") -> None:
        self.C = C
        self.max_iter = max_iter
        self.tol = tol
        self.device = device
        self.precision = precision

    def _check_params(self) -> None:
        if not self.C > 0:
            raise ValueError(f"C must be positive, got {self.C}")
        if int(self.max_iter) < 1:
            raise ValueError(f"max_iter must be at least 1, got {self.max_iter}")
        if not self.tol >= 0:
            raise ValueError(f"tol must be non-negative, got {self.tol}")

    def fit(self, X: Any, y: Any, progress: ProgressFn | None = None) -> LinearSVM:
        """Fit on features ``X`` (N, D) and labels ``y`` (N,); returns self.

        Raises ValueError for NaN or infinite features, no samples or features, complex data,
        continuous or missing labels, and ``X`` and ``y`` of different lengths; TypeError for
        sparse input.
        """
        self._check_params()
        device = torch.device(self.device)
        dtype = _dtype(self.precision)
        if isinstance(X, torch.Tensor):
            x = validate_features(self, X, reset=True, device=device, dtype=dtype)  # (N, D)
            y = validate_data(self, y=y)
            check_consistent_length(x, y)
        else:
            array, y = validate_data(self, X, y, dtype=np.float32)
            x = to_tensor(array, device, dtype)  # (N, D)
        check_classification_targets(y)
        self.classes_, y_index = np.unique(y, return_inverse=True)
        n, d = x.shape
        k = len(self.classes_)
        targets = -torch.ones(n, k, device=device)
        targets[torch.arange(n, device=device), torch.as_tensor(y_index, device=device)] = 1.0  # (N, K) in ±1
        weight = torch.zeros(k, d, device=device)
        bias = torch.zeros(k, device=device)
        reg = 0.5 / (self.C * n)  # the objective divided by C * N, for a well-scaled L-BFGS

        chunks = RowChunks(x)

        @torch.no_grad()
        def exact() -> torch.Tensor:
            # Gradients by hand: autograd would form x.T @ g, several times slower than g.T @ x. Each chunk
            # of rows is taken to fp32 once and both products are formed from it in fp32, so bf16 storage
            # rounds the features only: scores, gradient and loss are accumulated in fp32, as with fp32 storage.
            loss = torch.zeros((), device=device)
            grad_weight = torch.zeros_like(weight)  # (K, D)
            grad_bias = torch.zeros_like(bias)  # (K,)
            for part, rows in chunks:  # rows (B, D) fp32
                signs = targets[part]  # (B, K) in ±1
                margins = (F.linear(rows, weight) + bias) * signs  # (B, K)
                hinge = torch.clamp(1.0 - margins, min=0.0)  # (B, K)
                loss += hinge.square().sum()
                grad_scores = (-2.0 / n) * hinge * signs  # (B, K): d loss / d scores
                grad_weight.addmm_(grad_scores.T, rows)  # (K, D)
                grad_bias += grad_scores.sum(0)  # (K,)
            weight.grad = grad_weight.add_(weight, alpha=2.0 * reg)
            bias.grad = grad_bias
            return loss / n + reg * weight.square().sum()

        @torch.no_grad()
        def fast() -> torch.Tensor:
            # Whole-matrix bf16 products (bf16 matrix units; fp32 accumulation inside, bf16 results): about
            # twice as fast as exact(), but scores and gradient are rounded to bf16's 8 bits.
            margins = (_times(x, weight) + bias) * targets  # (N, K)
            hinge = torch.clamp(1.0 - margins, min=0.0)  # (N, K)
            grad_scores = (-2.0 / n) * hinge * targets  # (N, K)
            weight.grad = (grad_scores.T.to(x.dtype) @ x).float() + 2.0 * reg * weight  # (K, D)
            bias.grad = grad_scores.sum(0)  # (K,)
            return hinge.square().sum() / n + reg * weight.square().sum()

        max_iter = int(self.max_iter)
        done = 0
        if x.dtype != torch.float32 and x.numel() >= FAST_STEPS_FROM:
            # bf16 steps while they make progress, with a tenth of the budget kept back for exact ones
            done = _lbfgs(fast, [weight, bias], max_iter - max(1, max_iter // 10), self.tol, 0, max_iter, progress)
        # The last steps, and the test of convergence, always in exact fp32 arithmetic: a bf16 run that
        # stalls on rounding goes on from where it stopped, as far as an fp32 run would go.
        self.n_iter_ = _lbfgs(exact, [weight, bias], max_iter - done, self.tol, done, max_iter, progress)
        weight.grad = bias.grad = None
        self.coef_ = weight.cpu().numpy()  # (K, D): one copy to the host per fit
        self.intercept_ = bias.cpu().numpy()  # (K,)
        self._keep_on_device("coef_", weight)
        self._keep_on_device("intercept_", bias)
        return self

    def _scores(self, X: Any) -> torch.Tensor:
        """Scores (N, K) fp32 on the fitted device, one column per class."""
        check_is_fitted(self)
        device = torch.device(self.device)
        x = validate_features(self, X, reset=False, device=device, dtype=_dtype(self.precision), min_samples=0)
        weight = self._on_device("coef_", torch.float32)  # (K, D)
        bias = self._on_device("intercept_", torch.float32)  # (K,)
        scores = torch.empty(len(x), weight.shape[0], device=device)  # (N, K) fp32
        for part, rows in RowChunks(x):
            torch.addmm(bias, rows, weight.T, out=scores[part])
        return scores

    def objective(self, X: Any, y: Any) -> float:
        """The primal objective the fit minimises, ``0.5 ||W||² + C Σ squared hinge``, at the fitted
        weights on features ``X`` (N, D) (array, or tensor on any device) and labels ``y`` (N,), in float64
        on the CPU.

        Compares fits: two fits of the same problem (fp32 and bf16 features, say) that reach the
        same objective found the same optimum, whatever their iterations.
        """
        check_is_fitted(self)
        x = torch.as_tensor(X)
        weight, bias = torch.from_numpy(self.coef_).double(), torch.from_numpy(self.intercept_).double()
        signs = torch.where(torch.as_tensor(np.asarray(y))[:, None] == torch.from_numpy(self.classes_)[None],
                            1.0, -1.0).double()  # (N, K) in ±1
        hinge_squares = 0.0
        for start in range(0, len(x), 8192):  # in row chunks: a float64 copy of the whole matrix is not needed
            scores = x[start : start + 8192].to("cpu", torch.float64) @ weight.T + bias  # (B, K)
            hinge_squares += float((1 - scores * signs[start : start + 8192]).clamp(min=0).square().sum())
        return float(0.5 * weight.square().sum()) + self.C * hinge_squares

    def decision_function(self, X: Any) -> np.ndarray:
        """Scores as a float32 array: (N, K) one column per class, or (N,) for two classes.

        For two classes the score is the second class's minus the first's, positive where
        the second class is predicted, as scikit-learn's binary classifiers give.
        """
        scores = self._scores(X)  # (N, K)
        if scores.shape[1] == 2:
            scores = scores[:, 1] - scores[:, 0]  # (N,)
        return scores.cpu().numpy()

    def predict(self, X: Any) -> np.ndarray:
        """Predicted labels (N,) for features ``X`` (N, D), array-like or tensor."""
        index = self._scores(X).argmax(dim=1).cpu().numpy()  # (N,)
        return self.classes_[index]


# ---------------------------------------------------------------------------- Nystroem RBF map


class NystroemRBF(DeviceCacheMixin, TransformerMixin, BaseEstimator):
    """Nystroem approximation of the RBF kernel ``exp(-gamma ||x - y||^2)``, in torch.

    ``fit`` picks ``n_components`` training rows at random as landmarks and factors their
    kernel matrix K = L L^T (Cholesky, with a 1e-6 ridge, raised tenfold up to six times if
    rounding or repeated landmarks need it); ``transform`` maps (N, D) features to
    k(x, landmarks) L^-T, (N, n_components), whose dot products approximate the kernel. (That
    is scikit-learn's K^-1/2 map up to a rotation, to which an L2-penalised linear model is
    blind; a Cholesky factor costs a fraction of an eigendecomposition.)
    ``gamma=None`` uses 1 / (D * variance of X), scikit-learn's ``"scale"``. ``precision``
    bf16 multiplies in bf16 (squared norms stay fp32).

    ``transform`` returns a NumPy float32 array for array-like input, and a tensor on
    ``device`` (bf16 under ``precision="bf16"``) for tensor input, to keep a pipeline there.
    Fitted attributes (NumPy): ``components_`` (M, D) float32, the landmarks;
    ``component_indices_`` (M,), their rows in the training data; ``normalization_`` (M, M)
    float64 = L^-T; ``gamma_``; ``n_features_in_``.
    """

    def __init__(self, n_components: int = 2000, gamma: float | None = None, random_state: int = 0,
                 device: str = "cpu", precision: str = "fp32") -> None:
        self.n_components = n_components
        self.gamma = gamma
        self.random_state = random_state
        self.device = device
        self.precision = precision

    def _check_params(self) -> None:
        if int(self.n_components) < 1:
            raise ValueError(f"n_components must be at least 1, got {self.n_components}")
        if self.gamma is not None and not 0 < float(self.gamma) < float("inf"):
            raise ValueError(f"gamma must be positive and finite, or None, got {self.gamma}")

    def fit(self, X: Any, y: object = None) -> NystroemRBF:
        """Choose landmarks among the rows of ``X`` (N, D) and factor their kernel; returns self.

        Raises ValueError for NaN or infinite features, no samples or features, complex data,
        and a kernel matrix that no ridge up to 1 makes positive definite.
        """
        self._check_params()
        device = torch.device(self.device)
        dtype = _dtype(self.precision)
        x = validate_features(self, X, reset=True, device=device, dtype=torch.float32)  # (N, D)
        n = x.shape[0]
        m = min(int(self.n_components), n)
        rng = np.random.default_rng(self.random_state)
        self.component_indices_ = np.sort(rng.choice(n, size=m, replace=False))  # (M,)
        index = torch.as_tensor(self.component_indices_, device=device)
        self.gamma_ = float(self.gamma) if self.gamma is not None else 1.0 / (x.shape[1] * float(x.var()) + 1e-12)
        landmarks = x[index].double()  # (M, D)
        kernel = torch.exp(-self.gamma_ * torch.cdist(landmarks, landmarks).square())  # (M, M)
        identity = torch.eye(m, dtype=torch.float64, device=device)
        ridge = 1e-6
        for _ in range(CHOLESKY_TRIES):  # repeated landmarks, or rounding: a little more ridge each time
            factor, info = torch.linalg.cholesky_ex(kernel + ridge * identity)
            if int(info) == 0:
                break
            ridge *= 10
        else:
            raise ValueError(f"the kernel matrix of the {m} landmarks is not positive definite even with a ridge of "
                             f"{ridge / 10:g} (gamma_={self.gamma_:g}); check the features for extreme values")
        normalization = torch.linalg.solve_triangular(factor, identity, upper=False).T.contiguous()  # (M, M) fp64
        self.normalization_ = normalization.cpu().numpy()
        self.components_ = landmarks.float().cpu().numpy()
        self._keep_on_device("normalization_", normalization.to(dtype))
        self._keep_on_device("components_", landmarks.float())
        return self

    def transform(self, X: Any, batch_size: int = 8192) -> np.ndarray | torch.Tensor:
        """Kernel features (N, M), computed on ``device`` in batches of rows.

        A float32 array for array-like ``X``; a tensor on ``device`` in the precision's dtype for
        a tensor ``X``.
        """
        check_is_fitted(self)
        dtype = _dtype(self.precision)
        device = torch.device(self.device)
        x = validate_features(self, X, reset=False, device=device, dtype=torch.float32, min_samples=0)  # (N, D)
        components = self._on_device("components_", torch.float32)  # (M, D) fp32
        landmarks = self._on_device("components_", dtype)  # (M, D), converted once for every batch
        normalization = self._on_device("normalization_", dtype)  # (M, M)
        landmark_norms = components.square().sum(1)  # (M,)
        parts = []
        for start in range(0, x.shape[0], batch_size):
            rows = x[start : start + batch_size]  # (B, D)
            cross = _times(rows.to(dtype), landmarks)  # (B, M)
            squared = rows.square().sum(1, keepdim=True) - 2 * cross + landmark_norms  # (B, M)
            kernel = torch.exp(-self.gamma_ * squared.clamp(min=0)).to(dtype)  # (B, M)
            parts.append(kernel @ normalization)  # (B, M)
        features = torch.cat(parts) if parts else x.new_zeros(0, components.shape[0], dtype=dtype)
        if isinstance(X, torch.Tensor):
            return features
        return features.float().cpu().numpy()

    def __sklearn_tags__(self) -> Tags:
        tags = super().__sklearn_tags__()
        tags.transformer_tags.preserves_dtype = ["float32"]
        return tags
