"""Pure JAX solvers: FISTA for the PRESTO path with cross-validation, Newton for baselines.

PRESTO (Faletto & Bien 2023, ICML, PMLR 202:9547-9602) minimises, on standardised X,

    F(alpha, psi) = (1/n) NLL(alpha, psi) + lam * sum_{j,k} m_jk |psi_jk|

(``m_j0 = 0`` when the first slope is not penalised), or ``lam/2 sum m_jk psi_jk^2`` for the
ridge variant PRESTO-L2. It is solved by FISTA with backtracking (Beck & Teboulle 2009,
"A fast iterative shrinkage-thresholding algorithm", SIAM J. Imaging Sci. 2:183-202):

    z = prox_{lam m / L}(y - grad f(y) / L),  accepted when f(z) is finite and
    f(z) <= f(y) + <grad f(y), z - y> + L/2 ||z - y||^2  (else L <- 2L),

with momentum ``y = x + (t_{j-1} - 1)/t_j (x - x_prev)`` and a function-value restart
(O'Donoghue & Candes 2015, "Adaptive restart for accelerated gradient schemes", FoCM 15)
that also rejects momentum steps leaving the feasible set (non-monotone cumulative
probabilities have infinite objective). The stopping rule is the prox-gradient residual
``L ||z - y||_inf <= tol``, an upper bound on the KKT violation up to O(L ||z - y||).

A lambda path is one ``lax.scan`` with warm starts; folds are weight vectors (0 = held
out), so the path over all folds and the full data is one ``lax.map`` in one program, and a
batch of replications a ``vmap`` (or ``lax.map``) over that; everything compiles once per shape.
"""

from __future__ import annotations

from functools import partial
from typing import NamedTuple

import jax
import jax.numpy as jnp

from bayesuq.models.presto.likelihood import (
    brier,
    class_probs,
    eta_from_psi,
    repair_probs,
    weighted_nll,
)

MAX_BACKTRACK = 60


class PathResult(NamedTuple):
    """One lambda path: ``theta`` (L, d), ``iterations`` (L,), ``converged`` (L,)."""

    theta: jax.Array
    iterations: jax.Array
    converged: jax.Array


def unpack(theta: jax.Array, n_features: int, n_thresholds: int) -> tuple[jax.Array, jax.Array]:
    """Split the flat parameter vector into ``alpha`` (K-1,) and ``psi`` (p, K-1)."""
    alpha = theta[..., :n_thresholds]
    psi = theta[..., n_thresholds:].reshape(*theta.shape[:-1], n_features, n_thresholds)
    return alpha, psi


def presto_loss(theta, X, Y, w):
    """The smooth part ``f(theta) = -(sum_i w_i log P(y_i | x_i)) / sum_i w_i``.

    In the difference parametrisation ``eta_ik = alpha_k + x_i' sum_{l<=k} psi_l`` with
    ``theta = (alpha, psi.ravel())`` (Faletto & Bien 2023, Section 3); ``+inf`` when an
    observed class has non-positive probability
    (:func:`~bayesuq.models.presto.likelihood.weighted_nll`).
    """
    n_thresholds = Y.shape[1] - 1
    alpha, psi = unpack(theta, X.shape[1], n_thresholds)
    return weighted_nll(eta_from_psi(X, alpha, psi), Y, w)


def intercept_only(Y: jax.Array, w: jax.Array, n_features: int) -> jax.Array:
    """The intercept-only MLE ``alpha_k = logit(F_k)``, ``F_k = sum_i w_i 1{y_i <= k} / sum w``.

    With ``psi = 0`` the cumulative logit's likelihood is maximised at the empirical
    cumulative frequencies.

    Frequencies are clipped to ``[1/(2n), 1 - 1/(2n)]`` and the intercepts made strictly
    increasing so that the start is always feasible, even with a class absent from a fold.
    """
    n = jnp.sum(w)
    freq = jnp.cumsum(jnp.sum(w[:, None] * Y, axis=0))[:-1] / n
    freq = jnp.clip(freq, 0.5 / n, 1.0 - 0.5 / n)
    alpha = jax.scipy.special.logit(freq) + 1e-6 * jnp.arange(freq.shape[0])
    return jnp.concatenate([alpha, jnp.zeros(n_features * freq.shape[0], dtype=alpha.dtype)])


def _penalty(theta, lam, mask, penalty):
    """``lam sum m_j |theta_j|`` (``"l1"``) or ``lam/2 sum m_j theta_j^2`` (``"l2"``)."""
    if penalty == "l1":
        return lam * jnp.sum(mask * jnp.abs(theta))
    return 0.5 * lam * jnp.sum(mask * theta**2)


def _prox(v, threshold, penalty):
    """Proximal map: soft threshold ``sign(v) max(|v| - t, 0)`` (l1) or ``v / (1 + t)`` (l2)."""
    if penalty == "l1":
        return jnp.sign(v) * jnp.maximum(jnp.abs(v) - threshold, 0.0)
    return v / (1.0 + threshold)


class _FistaState(NamedTuple):
    x: jax.Array
    x_prev: jax.Array
    t: jax.Array
    step_l: jax.Array
    obj: jax.Array
    it: jax.Array
    done: jax.Array
    stalled: jax.Array


def fista(theta0, lam, X, Y, w, mask, tol, step_l0, *, penalty: str, max_iter: int):
    """Minimise ``F = f + lam * penalty`` by FISTA with backtracking and adaptive restart.

    ``f`` is :func:`presto_loss`, the penalty ``lam sum m_j |theta_j|`` (or its ridge
    form). Iteration ``j`` (Beck & Teboulle 2009, SIAM J. Imaging Sci. 2:183-202)::

        t_j = (1 + sqrt(1 + 4 t_{j-1}^2)) / 2,  y = x + (t_{j-1} - 1)/t_j (x - x_prev)
        z = prox_{lam m / L}(y - grad f(y) / L),  L <- 2L until f(z) is finite and
        f(z) <= f(y) + <grad f(y), z - y> + L/2 ||z - y||^2

    with a function-value restart (``t = 1`` when ``F(z) > F(x)`` or ``f(y)`` is infinite;
    O'Donoghue & Candes 2015, FoCM 15), stopping when ``L ||z - y||_inf <= tol``. Starts
    from the feasible ``theta0`` with ``L = step_l0``.

    Returns
    -------
    (theta, iterations, converged, L)
    """
    f = partial(presto_loss, X=X, Y=Y, w=w)
    value_and_grad = jax.value_and_grad(f)

    def objective(theta):
        return f(theta) + _penalty(theta, lam, mask, penalty)

    def step(s: _FistaState) -> _FistaState:
        t_next = 0.5 * (1.0 + jnp.sqrt(1.0 + 4.0 * s.t**2))
        y = s.x + ((s.t - 1.0) / t_next) * (s.x - s.x_prev)
        f_y, g_y = value_and_grad(y)
        # An infeasible extrapolation falls back to the current point (restart).
        bad_y = ~jnp.isfinite(f_y)
        y = jnp.where(bad_y, s.x, y)
        f_y, g_y = jax.lax.cond(bad_y, value_and_grad, lambda _: (f_y, g_y), y)

        def candidate(step_l):
            z = _prox(y - g_y / step_l, lam * mask / step_l, penalty)
            d = z - y
            f_z = f(z)
            ok = jnp.isfinite(f_z) & (
                f_z <= f_y + jnp.sum(g_y * d) + 0.5 * step_l * jnp.sum(d * d) + 1e-13 * jnp.abs(f_y)
            )
            return z, f_z, ok

        def bt_cond(c):
            return (~c[2]) & (c[3] < MAX_BACKTRACK)

        def bt_body(c):
            step_l = c[0] * 2.0
            z, f_z, ok = candidate(step_l)
            return step_l, (z, f_z), ok, c[3] + 1

        z0, f_z0, ok0 = candidate(s.step_l)
        step_l, (z, f_z), _, _ = jax.lax.while_loop(
            bt_cond, bt_body, (s.step_l, (z0, f_z0), ok0, 0)
        )
        obj_z = f_z + _penalty(z, lam, mask, penalty)
        # Without momentum the step is a plain proximal-gradient step (sufficient decrease
        # holds up to rounding): always take it, so rounding cannot stall the iteration.
        plain = bad_y | (s.t == 1.0)
        accept = jnp.isfinite(obj_z) & (plain | (obj_z <= s.obj + 1e-15 * jnp.abs(s.obj)))
        residual = step_l * jnp.max(jnp.abs(z - y))
        x_new = jnp.where(accept, z, s.x)
        return _FistaState(
            x=x_new,
            x_prev=s.x,
            t=jnp.where(accept & ~bad_y, t_next, 1.0),
            step_l=step_l * 0.9,
            obj=jnp.where(accept, obj_z, s.obj),
            it=s.it + 1,
            done=accept & (residual <= tol),
            stalled=~jnp.isfinite(obj_z),  # no feasible step at any step size
        )

    def cond(s: _FistaState):
        return (~s.done) & (~s.stalled) & (s.it < max_iter)

    init = _FistaState(
        x=theta0,
        x_prev=theta0,
        t=jnp.asarray(1.0, theta0.dtype),
        step_l=jnp.asarray(step_l0, theta0.dtype),
        obj=objective(theta0),
        it=jnp.asarray(0),
        done=jnp.asarray(False),
        stalled=jnp.asarray(False),
    )
    out = jax.lax.while_loop(cond, step, init)
    return out.x, out.it, out.done, out.step_l


def lambda_max(X, Y, w, mask):
    """Smallest lambda with all penalised ``psi = 0``: ``max_{m_j > 0} |d f / d theta_j|``.

    The subgradient condition of the lasso at ``psi = 0`` (Faletto & Bien 2023, Section 3).

    The start is the intercept-only fit; when some slopes are unpenalised (``mask = 0``) it
    is the fit with those slopes free and the others at zero (proportional odds), found by
    FISTA at a huge lambda.
    """
    theta0 = intercept_only(Y, w, X.shape[1])
    free = jnp.any((mask == 0.0) & (jnp.arange(mask.shape[0]) >= Y.shape[1] - 1))
    theta_free, _, _, _ = jax.lax.cond(
        free,
        lambda t: fista(t, 1e6, X, Y, w, mask, 1e-9, 1.0, penalty="l1", max_iter=5000),
        lambda t: (t, jnp.asarray(0), jnp.asarray(True), jnp.asarray(1.0, t.dtype)),
        theta0,
    )
    grad = jax.grad(presto_loss)(theta_free, X, Y, w)
    return jnp.max(jnp.where(mask > 0, jnp.abs(grad), 0.0))


def lambda_path(X, Y, w, theta0, lambdas, mask, tol, *, penalty: str, max_iter: int):
    """:func:`fista` along ``lambdas`` (decreasing) with warm starts, as one ``lax.scan``.

    ``theta(lam_l)`` starts from ``theta(lam_{l-1})`` and the last step size ``L``
    (pathwise coordinate strategy of Friedman, Hastie & Tibshirani 2010, J. Stat. Softw.
    33(1), applied to FISTA).
    """

    def body(carry, lam):
        theta, step_l = carry
        theta, it, ok, step_l = fista(
            theta, lam, X, Y, w, mask, tol, step_l, penalty=penalty, max_iter=max_iter
        )
        return (theta, step_l), (theta, it, ok)

    _, (theta, it, ok) = jax.lax.scan(body, (theta0, jnp.asarray(1.0, theta0.dtype)), lambdas)
    return PathResult(theta, it, ok)


class CVResult(NamedTuple):
    """Paths on every fold's training part and on all data, and out-of-fold Brier scores.

    ``path`` fields have a leading axis ``F + 1`` (folds, then the full data); ``brier`` is
    (F, L); ``invalid`` (L,) counts out-of-fold rows whose probabilities were repaired.
    """

    path: PathResult
    brier: jax.Array
    invalid: jax.Array


def cv_path(X, Y, fold_weights, lambdas, mask, tol, *, penalty: str, max_iter: int) -> CVResult:
    """Fit the path on each fold's training rows and on all rows; score held-out rows.

    Out-of-fold score of fold ``f`` at ``lam``: the multiclass Brier score
    ``sum_{i held out} sum_k (p_ik - Y_ik)^2 / n_f`` (Faletto & Bien 2023, Section 4).

    ``fold_weights`` is (F + 1, n): rows with weight 0 are held out; the last row is all ones.
    Held-out probabilities of non-monotone rows are clipped and renormalised (counted).
    """
    p = X.shape[1]

    def one(w):
        theta0 = intercept_only(Y, w, p)
        return lambda_path(X, Y, w, theta0, lambdas, mask, tol, penalty=penalty, max_iter=max_iter)

    # Sequential over folds (lax.map): a vmapped while_loop runs every lane to the slowest
    # fold's iteration count and evaluates both sides of each branch; measured ~3x slower
    # on CPU.
    path = jax.lax.map(one, fold_weights)
    n_thresholds = Y.shape[1] - 1

    def score(theta, w):
        alpha, psi = unpack(theta, p, n_thresholds)
        probs, bad = repair_probs(class_probs(eta_from_psi(X, alpha, psi)))
        held = 1.0 - w
        return brier(probs, Y, held), jnp.sum(held * bad)

    scores, invalid = jax.vmap(
        lambda thetas, w: jax.vmap(lambda t: score(t, w))(thetas), in_axes=(0, 0)
    )(path.theta[:-1], fold_weights[:-1])
    return CVResult(path, scores, jnp.sum(invalid, axis=0))


def select_lambda(scores: jax.Array, rtol: float = 1e-10) -> jax.Array:
    """``argmin_l mean_f scores[f, l]``, ties to the largest lambda (first on the path)."""
    mean = jnp.mean(scores, axis=0)
    best = jnp.min(mean)
    return jnp.argmax(mean <= best + rtol * jnp.abs(best))


def newton(fun, theta0, *, tol: float = 1e-10, max_iter: int = 100):
    """Damped Newton for a smooth convex ``fun`` with a feasible start.

    ``theta <- theta - s (H + 1e-12 I)^{-1} g`` with ``g = grad fun``, ``H = hess fun`` and
    ``s = 1, 1/2, 1/4, ...`` until ``fun`` is finite and does not increase (backtracking
    line search; Nocedal & Wright 2006, "Numerical Optimization", Section 3.1); stops when
    ``max |g| <= tol`` or no step decreases ``fun``.

    Returns
    -------
    (theta, iterations, converged)
        ``converged`` when ``max |g| <= 10 tol`` at the end.
    """
    vg = jax.value_and_grad(fun)
    hess = jax.hessian(fun)

    def cond(c):
        return (~c[3]) & (c[2] < max_iter)

    def body(c):
        theta, value, it, _ = c
        _, g = vg(theta)
        h = hess(theta)
        direction = jnp.linalg.solve(h + 1e-12 * jnp.eye(h.shape[0], dtype=h.dtype), g)

        def ls_cond(s):
            return (~(jnp.isfinite(s[1]) & (s[1] <= value))) & (s[2] < 50)

        def ls_body(s):
            step = s[0] * 0.5
            return step, fun(theta - step * direction), s[2] + 1

        step, new_value, _ = jax.lax.while_loop(
            ls_cond, ls_body, (jnp.asarray(1.0, theta.dtype), fun(theta - direction), 0)
        )
        ok = jnp.isfinite(new_value) & (new_value <= value)
        theta_new = jnp.where(ok, theta - step * direction, theta)
        _, g_new = vg(theta_new)
        done = (jnp.max(jnp.abs(g_new)) <= tol) | ~ok
        return theta_new, jnp.where(ok, new_value, value), it + 1, done

    value0 = fun(theta0)
    theta, _, it, _ = jax.lax.while_loop(cond, body, (theta0, value0, 0, jnp.asarray(False)))
    converged = jnp.max(jnp.abs(jax.grad(fun)(theta))) <= 10 * tol
    return theta, it, converged


def po_loss(theta, X, Y, w):
    """Proportional-odds NLL: ``eta_ik = alpha_k + x_i' beta`` with one ``beta`` (p,).

    ``-(sum_i w_i log P(y_i | x_i)) / sum_i w_i`` (McCullagh 1980, JRSS-B 42:109-142).
    """
    n_thresholds = Y.shape[1] - 1
    alpha, beta = theta[:n_thresholds], theta[n_thresholds:]
    return weighted_nll(alpha[None, :] + (X @ beta)[:, None], Y, w)


def cumulative_logit_loss(theta, X, Y, w):
    """Sum over thresholds of separate logistic NLLs of ``b_ik = 1{y_i <= k}`` (no coupling).

    ``-(1/sum w) sum_i w_i sum_k [b_ik log sigma(eta_ik) + (1 - b_ik) log sigma(-eta_ik)]``
    with ``eta_ik = alpha_k + x_i' beta_k``.
    """
    n_thresholds = Y.shape[1] - 1
    alpha, beta = unpack(theta, X.shape[1], n_thresholds)
    eta = alpha[None, :] + X @ beta
    below = jnp.cumsum(Y, axis=1)[:, :-1]
    ll = below * -jax.nn.softplus(-eta) + (1.0 - below) * -jax.nn.softplus(eta)
    return -jnp.sum(w[:, None] * ll) / jnp.sum(w)


def fit_po(X, Y, w, *, tol: float = 1e-10, max_iter: int = 100):
    """Proportional-odds MLE: :func:`newton` on :func:`po_loss` from the intercept-only fit."""
    start = intercept_only(Y, w, 1)[: Y.shape[1] - 1]
    theta0 = jnp.concatenate([start, jnp.zeros(X.shape[1], start.dtype)])
    return newton(partial(po_loss, X=X, Y=Y, w=w), theta0, tol=tol, max_iter=max_iter)


def fit_cumulative_logit(X, Y, w, *, tol: float = 1e-10, max_iter: int = 100):
    """Separate logistic regressions per threshold: :func:`newton` on
    :func:`cumulative_logit_loss` (block-diagonal Hessian) from the intercept-only fit."""
    theta0 = intercept_only(Y, w, X.shape[1])
    return newton(partial(cumulative_logit_loss, X=X, Y=Y, w=w), theta0, tol=tol, max_iter=max_iter)
