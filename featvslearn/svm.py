"""Linear SVMs in torch, fitted full-batch on the chosen device, and an RBF kernel map.

:class:`LinearSVM` is a multi-class one-vs-rest linear SVM with the squared hinge loss and
an L2 penalty (the objective of scikit-learn's ``LinearSVC``), minimised by L-BFGS over the
whole training set at once. On a GPU this keeps the classical pipeline on the same device as
the CNN; on a CPU it is faster than liblinear for tens of thousands of dense features.
:class:`NystroemRBF` maps features so that a linear SVM approximates an RBF-kernel SVM.
"""

from __future__ import annotations

from collections.abc import Callable

import numpy as np
import torch
from sklearn.base import BaseEstimator, ClassifierMixin, TransformerMixin
from sklearn.utils.validation import check_is_fitted

ProgressFn = Callable[[int, int], None]
"""Called with (iterations done, iteration budget) while a solver runs."""


def _as_tensor(X: np.ndarray | torch.Tensor, device: torch.device | str) -> torch.Tensor:
    """``X`` as a float32 tensor on ``device``."""
    if isinstance(X, torch.Tensor):
        return X.to(device=device, dtype=torch.float32)
    return torch.as_tensor(np.asarray(X, dtype=np.float32), device=device)


class LinearSVM(ClassifierMixin, BaseEstimator):
    """One-vs-rest linear SVM (squared hinge, L2) fitted full-batch by L-BFGS in torch.

    Minimises ``0.5 * ||W||^2 + C * sum_i sum_k max(0, 1 - y_ik (x_i . w_k + b_k))^2``,
    as scikit-learn's ``LinearSVC(loss="squared_hinge")`` does, with an unpenalised bias.

    Parameters: ``C`` (inverse regularisation), ``max_iter`` (L-BFGS iterations), ``tol``
    (gradient tolerance), ``device`` (torch device the fit and predictions run on).
    Fitted attributes: ``classes_``, ``coef_`` (K, D), ``intercept_`` (K,), ``n_iter_``.
    """

    def __init__(self, C: float = 1.0, max_iter: int = 300, tol: float = 1e-5, device: str = "cpu") -> None:
        self.C = C
        self.max_iter = max_iter
        self.tol = tol
        self.device = device

    def fit(self, X: np.ndarray | torch.Tensor, y: np.ndarray, progress: ProgressFn | None = None) -> LinearSVM:
        """Fit on features ``X`` (N, D) and integer labels ``y`` (N,); returns self."""
        device = torch.device(self.device)
        self.classes_, y_index = np.unique(np.asarray(y), return_inverse=True)
        x = _as_tensor(X, device)  # (N, D)
        n, d = x.shape
        k = len(self.classes_)
        targets = -torch.ones(n, k, device=device)
        targets[torch.arange(n, device=device), torch.as_tensor(y_index, device=device)] = 1.0  # (N, K) in ±1
        weight = torch.zeros(d, k, device=device)
        bias = torch.zeros(k, device=device)
        reg = 0.5 / (self.C * n)  # the objective divided by C * N, for a well-scaled L-BFGS

        optimizer = torch.optim.LBFGS(
            [weight, bias], lr=1.0, max_iter=25, history_size=20,
            tolerance_grad=self.tol, tolerance_change=1e-10, line_search_fn="strong_wolfe",
        )

        @torch.no_grad()
        def closure() -> torch.Tensor:
            # Gradients by hand: autograd would form x.T @ g, several times slower than (g.T @ x).T.
            margins = (x @ weight + bias) * targets  # (N, K)
            hinge = torch.clamp(1.0 - margins, min=0.0)  # (N, K)
            loss = hinge.square().sum() / n + reg * weight.square().sum()
            grad_scores = (-2.0 / n) * hinge * targets  # (N, K): d loss / d scores
            weight.grad = (grad_scores.T @ x).T.contiguous() + 2.0 * reg * weight  # (D, K)
            bias.grad = grad_scores.sum(0)  # (K,)
            return loss

        done = 0
        while done < self.max_iter:
            optimizer.step(closure)
            state = optimizer.state[optimizer._params[0]]
            iterations = int(state.get("n_iter", done + 25))
            converged = iterations - done < 25  # L-BFGS stopped early: tolerance reached
            done = iterations
            if progress is not None:
                progress(min(done, self.max_iter), self.max_iter)
            if converged:
                break
        self.n_iter_ = done
        self.coef_ = weight.T.contiguous()  # (K, D)
        self.intercept_ = bias  # (K,)
        return self

    def decision_function(self, X: np.ndarray | torch.Tensor) -> torch.Tensor:
        """Scores (N, K) on the fitted device, one column per class."""
        check_is_fitted(self, "coef_")
        x = _as_tensor(X, self.coef_.device)
        return x @ self.coef_.T + self.intercept_

    def predict(self, X: np.ndarray | torch.Tensor) -> np.ndarray:
        """Predicted labels (N,) for features ``X`` (N, D)."""
        scores = self.decision_function(X)
        return self.classes_[scores.argmax(dim=1).cpu().numpy()]


class NystroemRBF(TransformerMixin, BaseEstimator):
    """Nystroem approximation of the RBF kernel ``exp(-gamma ||x - y||^2)``, in torch.

    ``fit`` picks ``n_components`` training rows at random as landmarks; ``transform`` maps
    (N, D) features to (N, n_components) so that dot products approximate the kernel.
    ``gamma=None`` uses 1 / (D * variance of X), scikit-learn's ``"scale"``.
    Fitted attributes: ``landmarks_`` (M, D), ``normalization_`` (M, M), ``gamma_``.
    """

    def __init__(self, n_components: int = 2000, gamma: float | None = None, random_state: int = 0,
                 device: str = "cpu") -> None:
        self.n_components = n_components
        self.gamma = gamma
        self.random_state = random_state
        self.device = device

    def fit(self, X: np.ndarray | torch.Tensor, y: object = None) -> NystroemRBF:
        """Choose landmarks among the rows of ``X`` (N, D) and factor their kernel."""
        device = torch.device(self.device)
        x = _as_tensor(X, device)
        n = x.shape[0]
        m = min(self.n_components, n)
        rng = np.random.default_rng(self.random_state)
        index = torch.as_tensor(np.sort(rng.choice(n, size=m, replace=False)), device=device)
        self.gamma_ = float(self.gamma) if self.gamma is not None else 1.0 / (x.shape[1] * float(x.var()) + 1e-12)
        self.landmarks_ = x[index].double()  # (M, D)
        kernel = self._kernel(self.landmarks_, self.landmarks_)  # (M, M)
        eigenvalues, eigenvectors = torch.linalg.eigh(kernel)
        eigenvalues = eigenvalues.clamp(min=1e-12)
        self.normalization_ = (eigenvectors / eigenvalues.sqrt()) @ eigenvectors.T  # K^{-1/2}, (M, M)
        self.landmarks_ = self.landmarks_.float()
        self.normalization_ = self.normalization_.float()
        return self

    def _kernel(self, a: torch.Tensor, b: torch.Tensor) -> torch.Tensor:
        """RBF kernel between rows of ``a`` (N, D) and ``b`` (M, D): (N, M)."""
        sq = a.square().sum(1, keepdim=True) - 2 * a @ b.T + b.square().sum(1)
        return torch.exp(-self.gamma_ * sq.clamp(min=0))

    def transform(self, X: np.ndarray | torch.Tensor, batch_size: int = 8192) -> torch.Tensor:
        """Kernel features (N, M) on the fitted device, computed in batches of rows."""
        check_is_fitted(self, "landmarks_")
        x = _as_tensor(X, self.landmarks_.device)
        parts = [self._kernel(x[i : i + batch_size], self.landmarks_) @ self.normalization_
                 for i in range(0, x.shape[0], batch_size)]
        return torch.cat(parts) if parts else x.new_zeros(0, self.landmarks_.shape[0])
