"""``Presto``: the L1 fusion-penalised cumulative logit of Faletto & Bien (2023).

Faletto, G. and Bien, J. (2023), "Predicting Rare Events by Shrinking Towards Proportional
Odds", ICML, PMLR 202:9547-9602 (arXiv:2305.18700). Minimises, on standardised X,

    (1/n) NLL(alpha, beta) + lam * [ sum_j |beta_j1| + sum_{k>=2} sum_j |beta_jk - beta_j,k-1| ]

via the differences ``psi_1 = beta_1``, ``psi_k = beta_k - beta_{k-1}`` (a plain lasso in
``psi``), over 20 log-spaced lambdas from ``lambda_max`` to ``0.01 lambda_max``, choosing the
largest lambda with the minimum mean out-of-fold multiclass Brier score over random folds,
then refitting on all the data (the full-data path is fitted alongside the folds).
"""

from __future__ import annotations

import numbers
import warnings
from functools import partial

import jax
import jax.numpy as jnp
import numpy as np
from sklearn.exceptions import ConvergenceWarning

from bayesuq.data.scaling import standardise
from bayesuq.infer.arguments import check_choice, check_int, check_open_unit
from bayesuq.models.presto import solver
from bayesuq.models.presto.estimators import (
    DEFAULT_PRECISION,
    OrdinalBase,
    _cv_path,
    _lambda_max,
    encode_with,
    to_original_scale,
)
from bayesuq.precision import computing_in, resolve_precision

PENALTIES = ("l1", "l2")


def penalty_mask(n_features: int, n_thresholds: int, penalize_first: bool) -> np.ndarray:
    """Weights 0/1 over ``theta = (alpha, psi.ravel())``: intercepts are never penalised."""
    psi = np.ones((n_features, n_thresholds))
    if not penalize_first:
        psi[:, 0] = 0.0
    return np.concatenate([np.zeros(n_thresholds), psi.ravel()])


def fold_weights(n: int, folds: int, rng: np.random.Generator) -> np.ndarray:
    """(folds + 1, n) training weights of random, nearly equal folds; last row all ones."""
    assign = rng.permutation(np.arange(n) % folds)
    w = (assign[None, :] != np.arange(folds)[:, None]).astype(np.float64)
    return np.concatenate([w, np.ones((1, n))], axis=0)


def lambda_grid(lam_max: float, n_lambdas: int, ratio: float) -> np.ndarray:
    """``n_lambdas`` log-spaced values from ``lam_max`` down to ``ratio * lam_max``."""
    return np.geomspace(lam_max, lam_max * ratio, n_lambdas)


class Presto(OrdinalBase):
    """PRESTO: cumulative logit with the slopes' adjacent differences shrunk to zero.

    ``lam = None`` tunes lambda by ``cv``-fold cross-validation on the Brier score; a number
    fixes it (the path then runs from ``lambda_max`` down to ``lam`` for warm starts).
    Infinite lambda with ``penalize_first=False`` is proportional odds; ``lam = 0`` is the
    unconstrained (coupled) cumulative logit MLE, which is *not* the set of separate
    logistic regressions.

    Parameters
    ----------
    lam
        Fixed penalty (>= 0), or ``None`` to choose it by cross-validation.
    n_lambdas, lambda_min_ratio
        The path: ``n_lambdas`` log-spaced values from ``lambda_max`` to
        ``lambda_min_ratio * lambda_max``, where ``lambda_max = max |d (NLL/n) / d psi|`` at
        the intercept-only fit (at the proportional-odds fit when ``penalize_first=False``).
    cv
        Number of random folds (>= 2).
    penalty
        ``"l1"`` (PRESTO) or ``"l2"`` (PRESTO-L2, ``lam/2 ||psi||^2``).
    penalize_first
        Penalise ``psi_1 = beta_1`` too (the authors' current code) or leave it free.
    on_invalid
        ``"raise"`` or ``"clip"`` for rows with non-monotone cumulative probabilities at
        predict time. During CV such held-out rows are always clipped and renormalised, and
        counted in ``cv_invalid_``.
    tol, max_iter
        The proximal Newton solver stops when the KKT violation (the distance of 0 from
        the subdifferential of the objective, standardised scale) is ``<= tol``, or after
        ``max_iter`` Newton steps per lambda.
    random_state
        Seed of the fold assignment.
    classes
        The class labels in order, lowest first (the rare event last); needed for
        non-numeric labels that are not an ordered pandas Categorical.
    precision
        ``None`` (float64, the family's default for its solvers), ``"float32"`` or ``"float64"``.

    Attributes
    ----------
    coef_ : ndarray, shape (p, K-1)
        Slopes ``beta_k`` on the original scale.
    intercept_ : ndarray, shape (K-1,)
        Intercepts on the original scale.
    lambda_ : float
        The chosen penalty.
    lambdas_ : ndarray
        The penalty path.
    cv_scores_ : ndarray, shape (cv, n_lambdas), or None
        Brier scores of the folds (None when ``lam`` was given).
    psi_ : ndarray, shape (p, K-1)
        Differences on the standardised scale.
    n_iter_, converged_ : ndarray
        Newton steps and convergence flag, per lambda (full-data path).
    """

    def __init__(
        self,
        *,
        lam: float | None = None,
        n_lambdas: int = 20,
        lambda_min_ratio: float = 0.01,
        cv: int = 5,
        penalty: str = "l1",
        penalize_first: bool = True,
        on_invalid: str = "raise",
        tol: float = 1e-8,
        max_iter: int = 200,
        random_state: int = 0,
        classes=None,
        precision: str | None = None,
    ):
        self.lam = lam
        self.n_lambdas = n_lambdas
        self.lambda_min_ratio = lambda_min_ratio
        self.cv = cv
        self.penalty = penalty
        self.penalize_first = penalize_first
        self.on_invalid = on_invalid
        self.tol = tol
        self.max_iter = max_iter
        self.random_state = random_state
        self.classes = classes
        self.precision = precision

    def _check_params(self) -> None:
        check_choice("penalty", self.penalty, PENALTIES)
        lam = self.lam
        if lam is not None and (
            isinstance(lam, bool) or not isinstance(lam, numbers.Real) or not 0 <= lam < np.inf
        ):
            raise ValueError(f"lam must be None or a finite number >= 0, got {lam!r}")
        check_int("n_lambdas", self.n_lambdas, minimum=2)
        check_open_unit("lambda_min_ratio", self.lambda_min_ratio)
        check_int("cv", self.cv, minimum=2)
        check_int("random_state", self.random_state, minimum=0)

    def fit(self, X, y):
        """Fit the path (and CV folds), choose lambda and keep the fit at it."""
        self._check_params()
        Xs, Y = self._prepare(X, y)
        n, p = Xs.shape
        k1 = Y.shape[1] - 1
        mask = penalty_mask(p, k1, bool(self.penalize_first))
        tuned = self.lam is None
        rng = np.random.default_rng(self.random_state)
        if tuned and self.cv > n:
            raise ValueError(f"cv: got {self.cv} folds for only {n} rows")
        weights = fold_weights(n, int(self.cv), rng) if tuned else np.ones((1, n))
        with computing_in(self.precision_):
            Xj, Yj = jnp.asarray(Xs), jnp.asarray(Y)
            lam_max = float(
                _lambda_max(
                    Xj,
                    Yj,
                    jnp.ones(n),
                    jnp.asarray(mask),
                    free_slopes=not self.penalize_first,
                )
            )
            lambdas = lambda_grid(
                max(lam_max, 1e-12), int(self.n_lambdas), float(self.lambda_min_ratio)
            )
            if not tuned:
                lambdas = np.maximum(lambdas, float(self.lam))
                lambdas[-1] = float(self.lam)
            out = _cv_path(
                Xj,
                Yj,
                jnp.asarray(weights),
                jnp.asarray(lambdas),
                jnp.asarray(mask),
                float(self.tol),
                penalty=self.penalty,
                max_iter=int(self.max_iter),
            )
            theta = np.asarray(out.path.theta[-1])
            iterations = np.asarray(out.path.iterations[-1])
            converged = np.asarray(out.path.converged[-1])
            scores = np.asarray(out.brier)
            invalid = np.asarray(out.invalid)
            index = int(solver.select_lambda(out.brier)) if tuned else len(lambdas) - 1
        self.lambda_max_ = lam_max
        self.lambdas_ = lambdas
        self.lambda_ = float(lambdas[index])
        self.lambda_index_ = index
        self.cv_scores_ = scores if tuned else None
        self.cv_invalid_ = invalid if tuned else None
        self.n_iter_ = iterations
        self.converged_ = converged
        alpha, psi = theta[index, :k1], theta[index, k1:].reshape(p, k1)
        self.psi_ = psi
        self.path_coef_std_ = np.cumsum(theta[:, k1:].reshape(-1, p, k1), axis=2)
        self.intercept_, self.coef_ = to_original_scale(
            alpha, np.cumsum(psi, axis=1), self.x_mean_, self.x_scale_
        )
        if not converged[index]:
            warnings.warn(
                f"Presto: the solver did not reach tol={self.tol} in max_iter={self.max_iter} "
                f"iterations at lambda={self.lambda_:.3g}",
                ConvergenceWarning,
                stacklevel=2,
            )
        return self

    def objective(self, X, y, lam: float | None = None) -> float:
        """The penalised objective (standardised scale) at the fitted coefficients."""
        check = self.lambda_ if lam is None else lam
        codes = encode_with(self.classes_, y)
        Xs = (np.asarray(X, dtype=np.float64) - self.x_mean_) / self.x_scale_
        Y = np.eye(len(self.classes_))[codes]
        k1 = Y.shape[1] - 1
        alpha_std = self.intercept_ + self.x_mean_ @ self.coef_
        theta = np.concatenate([alpha_std, self.psi_.ravel()])
        mask = penalty_mask(Xs.shape[1], k1, bool(self.penalize_first))
        with computing_in(self.precision_):
            f = float(
                solver.presto_loss(
                    jnp.asarray(theta), jnp.asarray(Xs), jnp.asarray(Y), jnp.ones(len(Xs))
                )
            )
        if self.penalty == "l1":
            return f + check * float(np.sum(mask * np.abs(theta)))
        return f + 0.5 * check * float(np.sum(mask * theta**2))


BATCH_METHODS = ("auto", "map", "vmap")


def _batch_method(method: str) -> str:
    """``"auto"`` means ``lax.map`` on the CPU backend and ``vmap`` on accelerators."""
    if method != "auto":
        return method
    return "map" if jax.default_backend() == "cpu" else "vmap"


@partial(jax.jit, static_argnames=("penalty", "max_iter", "free_slopes", "method"))
def _batch_program(Xs, Y, weights, ratios, mask, tol, *, penalty, max_iter, free_slopes, method):
    """PRESTO with CV per replication: rare-class probabilities and lambdas.

    ``method="vmap"`` batches every operation over replications (one wide program, suited
    to accelerators); ``"map"`` runs them one after another inside the same program
    (``lax.map``), so no replication waits for the slowest and no branch is evaluated on
    both sides, which is faster on CPU.
    """
    n = Xs.shape[1]

    def one(args):
        X1, Y1, W1 = args
        lam_max = solver.lambda_max(X1, Y1, jnp.ones(n), mask, free_slopes=free_slopes)
        lambdas = jnp.maximum(lam_max, 1e-12) * ratios
        out = solver.cv_path(X1, Y1, W1, lambdas, mask, tol, penalty=penalty, max_iter=max_iter)
        index = solver.select_lambda(out.brier)
        theta = out.path.theta[-1, index]
        alpha, psi = solver.unpack(theta, X1.shape[1], Y1.shape[1] - 1)
        eta_top = alpha[-1] + X1 @ jnp.sum(psi, axis=1)
        return jax.nn.sigmoid(-eta_top), lambdas[index]

    if method == "vmap":
        return jax.vmap(lambda a, b, c: one((a, b, c)))(Xs, Y, weights)
    return jax.lax.map(one, (Xs, Y, weights))


def presto_batch_rare_probs(
    X: np.ndarray,
    y: np.ndarray,
    *,
    n_classes: int,
    n_lambdas: int = 20,
    lambda_min_ratio: float = 0.01,
    cv: int = 5,
    penalize_first: bool = True,
    tol: float = 1e-8,
    max_iter: int = 200,
    seed: int = 0,
    precision: str | None = None,
    method: str = "auto",
) -> tuple[np.ndarray, np.ndarray]:
    """PRESTO with CV on a batch of replications in one compiled program.

    ``X`` (R, n, p) and integer ``y`` (R, n) in ``0..n_classes-1``; each replication is
    standardised, gets its own lambda path and random folds (from ``seed``), and is refitted
    at its CV choice, exactly as :class:`Presto` does one at a time. Returns the in-sample
    rare-class probabilities (R, n) and the chosen lambdas (R,). ``precision`` as in
    :class:`Presto`. ``method``: ``"map"`` (replications one after another inside the
    program; fastest on CPU), ``"vmap"`` (batched; for accelerators) or ``"auto"`` (``map``
    on the CPU backend, ``vmap`` otherwise).
    """
    X = np.asarray(X, dtype=np.float64)
    y = np.asarray(y)
    if X.ndim != 3 or y.shape != X.shape[:2]:
        raise ValueError(f"X, y: got shapes {X.shape} and {y.shape}; expected (R, n, p), (R, n)")
    n_classes = check_int("n_classes", n_classes, minimum=2)
    if y.dtype.kind not in "iu" or y.min() < 0 or y.max() >= n_classes:
        raise ValueError(f"y must hold integer codes 0..{n_classes - 1}, got dtype {y.dtype}")
    check_int("cv", cv, minimum=2)
    check_choice("method", method, BATCH_METHODS)
    Xs, _, _ = standardise(X, name="X", axis=1, constant="keep")
    Y = np.eye(n_classes)[y]
    rng = np.random.default_rng(seed)
    weights = np.stack([fold_weights(X.shape[1], cv, rng) for _ in range(X.shape[0])])
    ratios = lambda_grid(1.0, n_lambdas, lambda_min_ratio)
    mask = penalty_mask(X.shape[2], n_classes - 1, penalize_first)
    with computing_in(resolve_precision(precision, DEFAULT_PRECISION)):
        probs, lams = _batch_program(
            jnp.asarray(Xs),
            jnp.asarray(Y),
            jnp.asarray(weights),
            jnp.asarray(ratios),
            jnp.asarray(mask),
            float(tol),
            penalty="l1",
            max_iter=int(max_iter),
            free_slopes=not penalize_first,
            method=_batch_method(method),
        )
        return np.asarray(probs), np.asarray(lams)
