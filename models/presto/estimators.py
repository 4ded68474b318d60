"""scikit-learn shells: ``Presto`` (penalised), ``ProportionalOdds`` and ``CumulativeLogit``.

All three model ``P(y <= k | x) = sigma(alpha_k + x' beta_k)`` for ordered classes
``classes_[0] < ... < classes_[K-1]`` (the last one is the rare event) and report
``coef_`` of shape (p, K-1) (column k = ``beta_k``; identical columns for proportional
odds) and ``intercept_`` (K-1,) on the original scale of X. Note the sign convention:
``polr``/statsmodels ``OrderedModel`` write ``alpha_k - x' beta``.

Fitting happens on standardised X (mean 0, population sd 1; constant columns kept with
``s = 1``, :func:`bayesuq.data.scaling.standardise`), by pure JAX solvers
(:mod:`bayesuq.models.presto.solver`) compiled once per problem shape; coefficients are
mapped back by ``beta_j = beta~_j / s_j`` and ``alpha_k = alpha~_k - sum_j beta~_jk m_j / s_j``.

Precision: the solvers run in float64 by family choice (the line searches' decrease tests
and the KKT residual ``<= tol = 1e-8`` sit below float32's resolution of the objective),
inside :func:`bayesuq.precision.computing_in` whatever JAX's global flag; ``precision=``
overrides it.
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

from bayesuq.data.scaling import standardise
from bayesuq.infer.arguments import check_choice, check_int, check_positive
from bayesuq.models.presto import solver
from bayesuq.models.presto.likelihood import class_probs
from bayesuq.precision import computing_in, resolve_precision

ON_INVALID = ("raise", "clip")
DEFAULT_PRECISION = "float64"
"""The precision of PRESTO's solvers (see the module docstring)."""

_cv_path = jax.jit(solver.cv_path, static_argnames=("penalty", "max_iter"))
_lambda_max = jax.jit(solver.lambda_max, static_argnames=("free_slopes",))
_fit_po = jax.jit(solver.fit_po, static_argnames=("max_iter",))
_fit_cumulative_logit = jax.jit(solver.fit_cumulative_logit, static_argnames=("max_iter",))


def _label_values(y: Any) -> np.ndarray:
    """The labels of ``y`` as a 1-d array (a pandas Categorical's values, not its codes)."""
    if isinstance(y, pd.Series | pd.Categorical) and isinstance(y.dtype, pd.CategoricalDtype):
        values = np.asarray(pd.Categorical(y).astype(object))
    else:
        values = np.asarray(y)
    if values.ndim != 1:
        raise ValueError(f"y: expected a 1-d array of labels, got shape {values.shape}")
    return values


def _missing_rows(values: np.ndarray) -> np.ndarray:
    """Rows whose label is missing (NaN, None, pandas NA) or infinite."""
    if values.dtype.kind in "fc":
        return np.flatnonzero(~np.isfinite(values))
    if values.dtype.kind == "O":
        return np.flatnonzero(pd.isna(values))
    return np.array([], dtype=int)


def _as_numeric(values: np.ndarray) -> np.ndarray | None:
    """``values`` as numbers when every label is a number (bool, int, float), else None."""
    if values.dtype.kind in "biuf":
        return values
    if values.dtype.kind == "O" and all(
        isinstance(v, bool | int | float | np.bool_ | np.integer | np.floating) for v in values
    ):
        return values.astype(np.float64)
    return None


def encode_ordinal(y: Any, classes: Any = None) -> tuple[np.ndarray, np.ndarray]:
    """Integer codes ``0..K-1`` and the ordered labels of an ordinal response.

    The order of the classes, lowest first (the last one is the rare event), comes from

    * ``classes`` when given (every label must be one of them, every class must occur);
    * else an ordered pandas ``Categorical`` (its category order);
    * else numeric labels (bool, int, float), sorted by value.

    Other labels (strings, unordered categoricals) have no order that can be guessed:
    alphabetical order would make ``"medium"`` the rare class of ``low < medium < high``.
    They are refused with a message asking for ``classes=`` or an ordered Categorical.
    Missing labels (NaN, None) are an error naming the rows.
    """
    values = _label_values(y)
    missing = _missing_rows(values)
    if missing.size:
        raise ValueError(
            f"y: {missing.size} missing or non-finite label(s) (NaN, None or inf), rows "
            f"{missing[:10].tolist()}{' ...' if missing.size > 10 else ''}; expected a label "
            f"for every row (drop those rows or impute them first)"
        )
    if classes is not None:
        order = np.asarray(list(classes), dtype=object)
        if order.ndim != 1 or len(order) < 2 or len(set(order.tolist())) != len(order):
            raise ValueError(
                f"classes: got {list(order)}; expected at least 2 distinct labels, lowest first"
            )
        codes = _codes_in(order, values, "classes")
        classes_out = np.asarray(order.tolist())
    elif isinstance(y, pd.Series | pd.Categorical) and isinstance(y.dtype, pd.CategoricalDtype):
        cat = pd.Categorical(y)
        if not cat.ordered:
            raise ValueError(
                "y: got an unordered pandas Categorical; expected an ordered one "
                "(pd.Categorical(..., ordered=True)) or the order in classes=[...]"
            )
        classes_out = np.asarray(cat.categories)
        codes = np.asarray(cat.codes, dtype=np.int64)
    else:
        numeric = _as_numeric(values)
        if numeric is None:
            shown = sorted({str(v) for v in values.tolist()})[:10]
            raise ValueError(
                f"y: non-numeric labels {shown} have no order bayesuq can guess (sorting them "
                f"alphabetically would pick the wrong rare class); pass classes=[...] with "
                f"the labels lowest first (the rare event last), or an ordered "
                f"pd.Categorical(y, categories=[...], ordered=True)"
            )
        classes_out, codes = np.unique(numeric, return_inverse=True)
    counts = np.bincount(codes, minlength=len(classes_out))
    if len(classes_out) < 2:
        raise ValueError(f"y: needs at least 2 ordered classes, got {len(classes_out)}")
    if np.any(counts == 0):
        missing_classes = [str(c) for c, n in zip(classes_out, counts, strict=True) if n == 0]
        raise ValueError(
            f"y: classes {missing_classes} have no observations; every class must occur"
        )
    return codes, classes_out


def _codes_in(order: np.ndarray, values: np.ndarray, name: str) -> np.ndarray:
    """Positions of ``values`` in the ordered labels ``order``; unknown labels raise."""
    lookup = {label: code for code, label in enumerate(order.tolist())}
    unknown = sorted({str(v) for v in values.tolist() if v not in lookup})
    if unknown:
        raise ValueError(
            f"y: labels {unknown[:10]} are not in {name}={list(order)}; list every label, "
            f"lowest first"
        )
    return np.array([lookup[v] for v in values.tolist()], dtype=np.int64)


def encode_with(classes: np.ndarray, y: Any) -> np.ndarray:
    """Codes of the labels ``y`` in a fitted ``classes_`` order (missing or unknown raise)."""
    values = _label_values(y)
    missing = _missing_rows(values)
    if missing.size:
        raise ValueError(f"y: missing label(s) at rows {missing[:10].tolist()}")
    return _codes_in(np.asarray(classes), values, "classes_")


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


def to_original_scale(
    alpha: np.ndarray, beta: np.ndarray, mean: np.ndarray, sd: np.ndarray
) -> tuple[np.ndarray, np.ndarray]:
    """Map ``(alpha~, beta~)`` fitted on standardised X back to the original scale.

    With ``x~_j = (x_j - m_j) / s_j``: ``beta_jk = beta~_jk / s_j`` and
    ``alpha_k = alpha~_k - sum_j beta~_jk m_j / s_j``.
    """
    coef = beta / sd[:, None]
    return alpha - (mean / sd) @ beta, coef


class OrdinalBase(ClassifierMixin, BaseEstimator):
    """Shared ``predict_proba``/``predict``/validation of the cumulative-logit estimators."""

    def _check_common(self) -> None:
        check_choice("on_invalid", self.on_invalid, ON_INVALID)
        check_int("max_iter", self.max_iter, minimum=1)
        check_positive("tol", self.tol)
        self.precision_ = resolve_precision(self.precision, DEFAULT_PRECISION)

    def _prepare(self, X, y):
        self._check_common()
        codes, classes = encode_ordinal(y, self.classes)
        X = validate_data(self, X, dtype=np.float64, ensure_min_samples=2)
        if X.shape[0] != codes.shape[0]:
            raise ValueError(f"X has {X.shape[0]} rows but y has {codes.shape[0]} labels")
        self.classes_ = classes
        Xs, self.x_mean_, self.x_scale_ = standardise(X, name="X", constant="keep")
        Y = np.eye(len(classes))[codes]
        return Xs, Y

    def decision_function(self, X) -> np.ndarray:
        """Linear predictors ``eta_k = alpha_k + x' beta_k``, shape (n, K-1)."""
        check_is_fitted(self)
        X = validate_data(self, X, dtype=np.float64, reset=False)
        return self.intercept_[None, :] + X @ self.coef_

    def predict_proba(self, X) -> np.ndarray:
        """Class probabilities (n, K), columns ordered as ``classes_``; see ``on_invalid``."""
        eta = self.decision_function(X)
        with computing_in(getattr(self, "precision_", DEFAULT_PRECISION)):
            probs = np.asarray(class_probs(jnp.asarray(eta)))
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
    """The baselines fitted by damped Newton in JAX: one fit sequence for both.

    Subclasses name the jitted solver (``_solver(X, Y, w, tol=, max_iter=) -> (theta,
    iterations, converged)``), map ``theta`` to ``(alpha, beta)`` on the standardised scale
    (``_unpack``) and say what non-convergence suggests (``_hint``).
    """

    _solver: Any = None
    _hint = ""

    def __init__(
        self,
        *,
        on_invalid: str = "raise",
        tol: float = 1e-10,
        max_iter: int = 100,
        classes: Any = None,
        precision: str | None = None,
    ):
        self.on_invalid = on_invalid
        self.tol = tol
        self.max_iter = max_iter
        self.classes = classes
        self.precision = precision

    def _unpack(self, theta: np.ndarray, p: int, k1: int) -> tuple[np.ndarray, np.ndarray]:
        raise NotImplementedError

    def fit(self, X, y):
        """Fit on standardised X by damped Newton; report on the original scale of X."""
        Xs, Y = self._prepare(X, y)
        k1, p = Y.shape[1] - 1, Xs.shape[1]
        with computing_in(self.precision_):
            theta, it, ok = type(self)._solver(
                jnp.asarray(Xs),
                jnp.asarray(Y),
                jnp.ones(Xs.shape[0]),
                tol=float(self.tol),
                max_iter=int(self.max_iter),
            )
            theta = np.asarray(theta)
        alpha, beta = self._unpack(theta, p, k1)
        self.intercept_, self.coef_ = to_original_scale(alpha, beta, self.x_mean_, self.x_scale_)
        self.n_iter_, self.converged_ = int(it), bool(ok)
        if not self.converged_:
            warnings.warn(
                f"{type(self).__name__} did not converge in {self.max_iter} Newton steps"
                f"{self._hint}",
                ConvergenceWarning,
                stacklevel=2,
            )
        return self


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
    classes
        The class labels in order, lowest first; needed for non-numeric labels that are
        not an ordered pandas Categorical.
    precision
        ``None`` (float64, the family's default), ``"float32"`` or ``"float64"``.
    """

    _solver = staticmethod(_fit_po)

    def _unpack(self, theta, p, k1):
        return theta[:k1], np.repeat(theta[k1:, None], k1, axis=1)


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
    classes, precision
        As in :class:`ProportionalOdds`.
    """

    _solver = staticmethod(_fit_cumulative_logit)
    _hint = " (separation?)"

    def _unpack(self, theta, p, k1):
        return theta[:k1], theta[k1:].reshape(p, k1)
