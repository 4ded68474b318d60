"""scikit-learn shells: ``Presto`` (penalised), ``ProportionalOdds`` and ``CumulativeLogit``.

All three model ``P(y <= k | x) = sigma(alpha_k + x' beta_k)`` for ordered classes
``classes_[0] < ... < classes_[K-1]`` (the last one is the rare event) and report
``coef_`` of shape (p, K-1) (column k = ``beta_k``; identical columns for proportional
odds) and ``intercept_`` (K-1,) on the original scale of X. Note the sign convention:
``polr``/statsmodels ``OrderedModel`` write ``alpha_k - x' beta``.

Fitting happens on standardised X (mean 0, sd 1), in float64, by pure JAX solvers
(:mod:`bayesuq.models.presto.solver`) compiled once per problem shape; coefficients are
mapped back by ``beta_j = beta~_j / s_j`` and ``alpha_k = alpha~_k - sum_j beta~_jk m_j / s_j``.
"""

from __future__ import annotations

import warnings
from typing import Any

import jax
import jax.numpy as jnp
import numpy as np
import pandas as pd
from scipy.special import expit
from sklearn.base import BaseEstimator, ClassifierMixin
from sklearn.exceptions import ConvergenceWarning
from sklearn.utils.validation import check_is_fitted, validate_data

from bayesuq.models.presto import solver
from bayesuq.models.presto.likelihood import class_probs

ON_INVALID = ("raise", "clip")

_cv_path = jax.jit(solver.cv_path, static_argnames=("penalty", "max_iter"))
_lambda_max = jax.jit(solver.lambda_max)
_fit_po = jax.jit(solver.fit_po, static_argnames=("max_iter",))
_fit_cumulative_logit = jax.jit(solver.fit_cumulative_logit, static_argnames=("max_iter",))


def encode_ordinal(y: Any) -> tuple[np.ndarray, np.ndarray]:
    """Integer codes ``0..K-1`` and the ordered labels of an ordinal response.

    An ordered pandas ``Categorical`` keeps its category order (every category must occur);
    anything else is ordered by ``numpy.unique``.
    """
    if isinstance(y, pd.Series | pd.Categorical) and isinstance(y.dtype, pd.CategoricalDtype):
        cat = pd.Categorical(y)
        if not cat.ordered:
            raise ValueError(
                "y: got an unordered pandas Categorical; expected an ordered one "
                "(pd.Categorical(..., ordered=True)) or plain labels sorted by numpy"
            )
        if np.any(cat.codes < 0):
            raise ValueError("y: contains missing values; expected a label for every row")
        classes = np.asarray(cat.categories)
        codes = np.asarray(cat.codes, dtype=np.int64)
    else:
        arr = np.asarray(y)
        if arr.ndim != 1:
            raise ValueError(f"y: expected a 1-d array of labels, got shape {arr.shape}")
        classes, codes = np.unique(arr, return_inverse=True)
    counts = np.bincount(codes, minlength=len(classes))
    if len(classes) < 2:
        raise ValueError(f"y: needs at least 2 ordered classes, got {len(classes)}")
    if np.any(counts == 0):
        missing = [str(c) for c, n in zip(classes, counts, strict=True) if n == 0]
        raise ValueError(f"y: classes {missing} have no observations; every class must occur")
    return codes, classes


def finalize_probs(probs: np.ndarray, on_invalid: str) -> np.ndarray:
    """Check class probabilities for negative entries (non-monotone cumulative probabilities).

    ``on_invalid="raise"`` raises a ``ValueError`` naming the rows; ``"clip"`` clips at 0,
    renormalises each row and warns with the count.
    """
    bad = np.flatnonzero(np.any(probs < 0.0, axis=1))
    if bad.size == 0:
        return probs
    if on_invalid == "raise":
        raise ValueError(
            f"{bad.size} of {probs.shape[0]} rows have non-monotone cumulative probabilities "
            f"(a negative class probability), rows {bad[:10].tolist()}"
            f"{' ...' if bad.size > 10 else ''}; pass on_invalid='clip' to clip at 0 and "
            "renormalise"
        )
    warnings.warn(
        f"{bad.size} of {probs.shape[0]} rows had non-monotone cumulative probabilities; "
        "their class probabilities were clipped at 0 and renormalised",
        UserWarning,
        stacklevel=3,
    )
    clipped = np.clip(probs, 0.0, None)
    return clipped / clipped.sum(axis=1, keepdims=True)


def standardise(X: np.ndarray) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """``(X - m) / s`` with column means ``m`` and sds ``s`` (constant columns keep s = 1)."""
    mean = X.mean(axis=0)
    sd = X.std(axis=0)
    sd = np.where(sd > 0, sd, 1.0)
    return (X - mean) / sd, mean, sd


def to_original_scale(
    alpha: np.ndarray, beta: np.ndarray, mean: np.ndarray, sd: np.ndarray
) -> tuple[np.ndarray, np.ndarray]:
    """Map ``(alpha~, beta~)`` fitted on standardised X back to the original scale."""
    coef = beta / sd[:, None]
    return alpha - (mean / sd) @ beta, coef


class OrdinalBase(ClassifierMixin, BaseEstimator):
    """Shared ``predict_proba``/``predict``/validation of the cumulative-logit estimators."""

    def _check_common(self) -> None:
        if self.on_invalid not in ON_INVALID:
            raise ValueError(f"on_invalid: got {self.on_invalid!r}; expected one of {ON_INVALID}")
        if not (isinstance(self.max_iter, int | np.integer) and self.max_iter >= 1):
            raise ValueError(f"max_iter: got {self.max_iter!r}; expected a positive integer")
        if not (np.isscalar(self.tol) and float(self.tol) > 0):
            raise ValueError(f"tol: got {self.tol!r}; expected a positive number")

    def _prepare(self, X, y):
        self._check_common()
        codes, classes = encode_ordinal(y)
        X = validate_data(self, X, dtype=np.float64, ensure_min_samples=2)
        if X.shape[0] != codes.shape[0]:
            raise ValueError(f"X has {X.shape[0]} rows but y has {codes.shape[0]} labels")
        self.classes_ = classes
        Xs, self.x_mean_, self.x_scale_ = standardise(X)
        Y = np.eye(len(classes))[codes]
        return Xs, Y

    def decision_function(self, X) -> np.ndarray:
        """Linear predictors ``eta_k = alpha_k + x' beta_k``, shape (n, K-1)."""
        check_is_fitted(self)
        X = validate_data(self, X, dtype=np.float64, reset=False)
        return self.intercept_[None, :] + X @ self.coef_

    def predict_proba(self, X) -> np.ndarray:
        """Class probabilities (n, K), columns ordered as ``classes_``; see ``on_invalid``."""
        with jax.enable_x64(True):
            probs = np.asarray(class_probs(jnp.asarray(self.decision_function(X))))
        return finalize_probs(probs, self.on_invalid)

    def predict_rare_proba(self, X) -> np.ndarray:
        """``P(y = classes_[-1] | x) = sigma(-eta_{K-2})``: always valid, shape (n,)."""
        eta = self.decision_function(X)[:, -1]
        return expit(-eta)

    def predict(self, X) -> np.ndarray:
        """The most probable class label."""
        return self.classes_[np.argmax(self.predict_proba(X), axis=1)]

    def coef_frame(self) -> pd.DataFrame:
        """``coef_`` as a DataFrame: features (pandas column names) by thresholds."""
        check_is_fitted(self)
        names = getattr(self, "feature_names_in_", None)
        index = list(names) if names is not None else [f"x{j}" for j in range(self.coef_.shape[0])]
        return pd.DataFrame(self.coef_, index=index, columns=threshold_labels(self.classes_))

    def __sklearn_tags__(self):
        tags = super().__sklearn_tags__()
        tags.classifier_tags.multi_class = True
        return tags


def threshold_labels(classes: np.ndarray) -> list[str]:
    """Names of the K-1 thresholds: ``"<= c_k"``."""
    return [f"<={c}" for c in classes[:-1]]


class _NewtonBaseline(OrdinalBase):
    """Shared configuration of the baselines fitted by damped Newton in JAX."""

    def __init__(self, *, on_invalid: str = "raise", tol: float = 1e-10, max_iter: int = 100):
        self.on_invalid = on_invalid
        self.tol = tol
        self.max_iter = max_iter


class ProportionalOdds(_NewtonBaseline):
    """Proportional-odds (cumulative logit with one slope) MLE by damped Newton.

    ``P(y <= k | x) = sigma(alpha_k + x' beta)`` (McCullagh 1980, "Regression models for
    ordinal data", JRSS-B 42:109-142). ``coef_`` repeats ``beta`` in K-1 columns.

    Parameters
    ----------
    on_invalid
        Unused here (proportional odds is always monotone); kept for a common interface.
    tol, max_iter
        Newton stops when ``max |gradient| <= tol`` or after ``max_iter`` steps.
    """

    def fit(self, X, y):
        """Fit the MLE on standardised X; report on the original scale."""
        Xs, Y = self._prepare(X, y)
        k1 = Y.shape[1] - 1
        with jax.enable_x64(True):
            w = jnp.ones(Xs.shape[0])
            theta, it, ok = _fit_po(
                jnp.asarray(Xs), jnp.asarray(Y), w, tol=float(self.tol), max_iter=int(self.max_iter)
            )
            theta = np.asarray(theta)
        beta = np.repeat(theta[k1:, None], k1, axis=1)
        self.intercept_, self.coef_ = to_original_scale(
            theta[:k1], beta, self.x_mean_, self.x_scale_
        )
        self.n_iter_, self.converged_ = int(it), bool(ok)
        if not self.converged_:
            warnings.warn(
                f"ProportionalOdds did not converge in {self.max_iter} Newton steps",
                ConvergenceWarning,
                stacklevel=2,
            )
        return self


class CumulativeLogit(_NewtonBaseline):
    """Separate logistic regressions of ``1{y <= k}``, one per threshold ("Logit" baseline).

    Each threshold is fitted on its own (no coupling), so the cumulative probabilities can
    cross: ``predict_proba`` then follows ``on_invalid``. The rare class uses the last fit.

    Parameters
    ----------
    on_invalid
        ``"raise"`` (default) or ``"clip"`` for non-monotone cumulative probabilities.
    tol, max_iter
        Newton stops when ``max |gradient| <= tol`` or after ``max_iter`` steps.
    """

    def fit(self, X, y):
        """Fit the K-1 logistic regressions on standardised X."""
        Xs, Y = self._prepare(X, y)
        k1, p = Y.shape[1] - 1, Xs.shape[1]
        with jax.enable_x64(True):
            theta, it, ok = _fit_cumulative_logit(
                jnp.asarray(Xs),
                jnp.asarray(Y),
                jnp.ones(Xs.shape[0]),
                tol=float(self.tol),
                max_iter=int(self.max_iter),
            )
            theta = np.asarray(theta)
        alpha, beta = theta[:k1], theta[k1:].reshape(p, k1)
        self.intercept_, self.coef_ = to_original_scale(alpha, beta, self.x_mean_, self.x_scale_)
        self.n_iter_, self.converged_ = int(it), bool(ok)
        if not self.converged_:
            warnings.warn(
                f"CumulativeLogit did not converge in {self.max_iter} Newton steps (separation?)",
                ConvergenceWarning,
                stacklevel=2,
            )
        return self
