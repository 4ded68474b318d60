"""Pure JAX solvers: proximal Newton for the PRESTO path with cross-validation, FISTA as a
first-order reference, Newton for the baselines.

PRESTO (Faletto & Bien 2023, ICML, PMLR 202:9547-9602) minimises, on standardised X,

    F(alpha, psi) = (1/n) NLL(alpha, psi) + lam * sum_{j,k} m_jk |psi_jk|

(``m_j0 = 0`` when the first slope is not penalised), or ``lam/2 sum m_jk psi_jk^2`` for the
ridge variant PRESTO-L2. The path solver is a proximal Newton method (Lee, Sun & Saunders
2014, SIAM J. Optim. 24:1420-1443; the same scheme as ordinalNet's MIRLS + coordinate
descent, Wurm, Hanlon & Rathouz 2021, J. Stat. Softw. 99(6)):

    d = argmin_d g'd + d'Hd/2 + lam ||m (theta + d)||_1,   theta <- theta + s d,

with the exact Hessian ``H`` (cheap: ``d = (p + 1)(K - 1)`` parameters), the local model
solved by coordinate descent, and a backtracking line search that also rejects steps
leaving the feasible set (non-monotone cumulative probabilities have infinite objective).
It stops when the KKT violation (distance of 0 from the subdifferential) is ``<= tol``.

:func:`fista` (Beck & Teboulle 2009, SIAM J. Imaging Sci. 2:183-202, with backtracking and
the adaptive restart of O'Donoghue & Candes 2015, FoCM 15) solves the same problem with
first-order steps only; it is kept as an independent reference for the tests.

A lambda path is one ``lax.scan`` with warm starts; folds are weight vectors (0 = held
out), so the path over all folds and the full data is one ``lax.map`` in one program, and a
batch of replications a ``lax.map`` (CPU) or ``vmap`` (accelerators) over that; everything
compiles once per shape.
"""

from __future__ import annotations

from functools import partial
from typing import NamedTuple

import jax
import jax.numpy as jnp

from bayesuq.models.presto.likelihood import (
    brier,
    class_log_probs,
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


def presto_derivatives(theta, X, Y, w):
    """Value, gradient and exact Hessian of :func:`presto_loss` in closed form.

    Row ``i`` with observed class ``y`` has ``P_i = F(u) - F(l)``, ``F = sigma``, with the
    upper threshold ``u = eta_iy`` (``F(u) = 1`` for the top class) and the lower one
    ``l = eta_i,y-1`` (``F(l) = 0`` for the bottom class). With ``s1 = sigma(1 - sigma)``
    and ``s2 = s1 (1 - 2 sigma)``, the row loss ``-log P_i`` has

        d/du = -s1(u)/P,   d/dl = s1(l)/P,
        d2/du2 = -s2(u)/P + (s1(u)/P)^2,   d2/dl2 = s2(l)/P + (s1(l)/P)^2,
        d2/du dl = -s1(u) s1(l) / P^2.

    With the per-row gradient ``r_i`` and Hessian ``h_i`` in ``eta`` and ``C[k, l] =
    1{l <= k}`` (``eta = alpha + X psi C'``): ``g_alpha = sum_i r_i``, ``g_psi = X' (r C)``,
    ``H_aa = sum_i h_i``, ``H_a,psi_jl = sum_i x_ij (h_i C)[:, l]``, ``H_psi_jl,psi_mq =
    sum_i x_ij x_im (C' h_i C)[l, q]``: O(n p^2 (K-1)^2) work and a small program.
    Rows with weight 0 (held out, possibly infeasible) contribute nothing.
    """
    n_thresholds = Y.shape[1] - 1
    n, p = X.shape
    alpha, psi = unpack(theta, p, n_thresholds)
    eta = eta_from_psi(X, alpha, psi)
    used = w > 0
    scale = jnp.where(used, w, 0.0) / jnp.sum(w)
    logp = jnp.sum(jnp.where(Y > 0, class_log_probs(eta), 0.0), axis=1)
    logp = jnp.where(used, logp, 0.0)
    value = -jnp.sum(scale * logp)
    prob = jnp.exp(logp)  # > 0 on training rows of a feasible theta; 1 on held-out rows
    upper = Y[:, :-1]  # upper[i, k] = 1{y_i = k}: eta_k is the row's upper threshold
    lower = Y[:, 1:]  # lower[i, k] = 1{y_i = k + 1}: eta_k is the row's lower threshold
    sig = jax.nn.sigmoid(eta)
    s1 = sig * jax.nn.sigmoid(-eta)
    s2 = s1 * (1.0 - 2.0 * sig)
    q1 = s1 / prob[:, None]
    r = (lower - upper) * q1 * scale[:, None]
    diag = ((lower - upper) * s2 / prob[:, None] + (upper + lower) * q1**2) * scale[:, None]
    a_up = jnp.sum(upper * q1, axis=1)
    a_low = jnp.sum(lower * q1, axis=1)
    cross = -(a_up * a_low * scale)[:, None, None] * (
        upper[:, :, None] * lower[:, None, :] + lower[:, :, None] * upper[:, None, :]
    )
    h = cross + diag[:, :, None] * jnp.eye(n_thresholds, dtype=eta.dtype)[None]
    c = jnp.tril(jnp.ones((n_thresholds, n_thresholds), theta.dtype))
    grad = jnp.concatenate([jnp.sum(r, axis=0), (X.T @ (r @ c)).ravel()])
    hc = h @ c
    g = jnp.swapaxes(c, 0, 1)[None] @ hc
    h_aa = jnp.sum(h, axis=0)
    h_ap = (X.T @ hc.reshape(n, -1)).reshape(p, n_thresholds, n_thresholds)
    h_ap = jnp.transpose(h_ap, (1, 0, 2)).reshape(n_thresholds, p * n_thresholds)
    xg = (X[:, :, None] * g.reshape(n, 1, -1)).reshape(n, -1)
    h_pp = (X.T @ xg).reshape(p, p, n_thresholds, n_thresholds)
    h_pp = jnp.transpose(h_pp, (0, 2, 1, 3)).reshape(p * n_thresholds, p * n_thresholds)
    top = jnp.concatenate([h_aa, h_ap], axis=1)
    bottom = jnp.concatenate([h_ap.T, h_pp], axis=1)
    return value, grad, jnp.concatenate([top, bottom], axis=0)


def kkt_violation(theta, grad, lam, mask, penalty: str):
    """Distance of ``0`` from the subdifferential of ``F = f + lam * penalty`` at ``theta``.

    For the lasso: ``|g_j|`` where ``m_j = 0``, ``|g_j + lam m_j sign(theta_j)|`` where
    ``theta_j != 0`` and ``max(|g_j| - lam m_j, 0)`` where ``theta_j = 0``; for the ridge
    form ``|g_j + lam m_j theta_j|``. Returns the maximum over ``j`` (the KKT conditions of
    Faletto & Bien 2023, Section 3, hold exactly when it is 0).
    """
    if penalty == "l2":
        return jnp.max(jnp.abs(grad + lam * mask * theta))
    weight = lam * mask
    at_zero = jnp.maximum(jnp.abs(grad) - weight, 0.0)
    off_zero = jnp.abs(grad + weight * jnp.sign(theta))
    return jnp.max(jnp.where(theta == 0.0, at_zero, off_zero))


def _newton_direction_l1(theta, grad, hess, lam, mask, inner_tol, max_sweeps):
    """Minimise the local model ``g'd + d'Hd/2 + lam sum m_j |theta_j + d_j|`` over ``d``.

    Cyclic coordinate descent on ``u = theta + d`` (Friedman, Hastie & Tibshirani 2010,
    J. Stat. Softw. 33(1)): ``u_j <- S(u_j - r_j / H_jj, lam m_j / H_jj)`` with the model's
    gradient ``r = g + H (u - theta)`` kept up to date, until a sweep changes no ``r_j`` by
    more than ``inner_tol``.
    """
    d = theta.shape[0]
    diag = jnp.maximum(jnp.diagonal(hess), 1e-12)
    threshold = lam * mask / diag

    def coordinate(j, c):
        u, r, change = c
        old = u[j]
        new = _prox(old - r[j] / diag[j], threshold[j], "l1")
        delta = new - old
        return (
            u.at[j].set(new),
            r + hess[:, j] * delta,
            jnp.maximum(change, jnp.abs(delta) * diag[j]),
        )

    def sweep(c):
        u, r, _, k = c
        u, r, change = jax.lax.fori_loop(0, d, coordinate, (u, r, jnp.zeros((), u.dtype)))
        return u, r, change, k + 1

    def more(c):
        return (c[2] > inner_tol) & (c[3] < max_sweeps)

    init = (theta, grad, jnp.asarray(jnp.inf, theta.dtype), 0)
    u, _, _, _ = jax.lax.while_loop(more, sweep, init)
    return u - theta


class _NewtonState(NamedTuple):
    x: jax.Array
    it: jax.Array
    kkt: jax.Array
    stalled: jax.Array


def prox_newton(theta0, lam, X, Y, w, mask, tol, *, penalty: str, max_iter: int):
    """Minimise ``F = f + lam * penalty`` by a proximal Newton method with line search.

    Lee, Sun & Saunders (2014), "Proximal Newton-type methods for minimizing composite
    functions", SIAM J. Optim. 24:1420-1443. With ``g``, ``H`` the gradient and exact
    Hessian (:func:`presto_derivatives`) of ``f`` at ``theta``::

        d = argmin_d  g'd + d'Hd/2 + lam sum m_j |theta_j + d_j|      (l1; coordinate descent)
        d = -(H + lam diag m)^{-1} (g + lam m * theta)                   (l2)
        Delta = g'd + lam (||m (theta + d)||_1 - ||m theta||_1)
        theta <- theta + s d,  s = 1, 1/2, ... until F(theta + s d) is finite and
                 F(theta + s d) <= F(theta) + 1e-4 s Delta

    The feasible set (every observed class with positive probability) is an intersection
    of half-spaces, so halving from a feasible ``theta`` finds a feasible step. Stops when
    the KKT violation :func:`kkt_violation` at the current point is ``<= tol``; the local
    model is solved to ``1e-2`` times the current violation, so convergence is locally fast.
    One loop body evaluates the derivatives once and ``F`` once per trial step (a small
    program: the derivatives and the objective each appear once).

    Returns
    -------
    (theta, iterations, converged)
        ``iterations`` counts Newton steps taken.
    """

    def objective(theta):
        return presto_loss(theta, X, Y, w) + _penalty(theta, lam, mask, penalty)

    def step(s: _NewtonState) -> _NewtonState:
        value, grad, hess = presto_derivatives(s.x, X, Y, w)
        obj = value + _penalty(s.x, lam, mask, penalty)
        kkt = kkt_violation(s.x, grad, lam, mask, penalty)
        converged = kkt <= tol
        if penalty == "l1":
            inner_tol = jnp.where(converged, jnp.inf, jnp.maximum(1e-2 * kkt, 1e-3 * tol))
            d = _newton_direction_l1(s.x, grad, hess, lam, mask, inner_tol, 1000)
            decrease = (
                jnp.sum(grad * d)
                + _penalty(s.x + d, lam, mask, penalty)
                - _penalty(s.x, lam, mask, penalty)
            )
        else:
            reg = hess + jnp.diag(lam * mask + 1e-12)
            d = -jnp.linalg.solve(reg, grad + lam * mask * s.x)
            decrease = jnp.sum((grad + lam * mask * s.x) * d)
        decrease = jnp.minimum(decrease, 0.0)
        slack = 1e-14 * jnp.abs(obj)

        def ls_cond(c):
            return (~c[1]) & (c[2] < MAX_BACKTRACK) & ~converged

        def ls_body(c):
            size = c[0] * 0.5
            trial = objective(s.x + size * d)
            ok = jnp.isfinite(trial) & (trial <= obj + 1e-4 * size * decrease + slack)
            return size, ok, c[2] + 1

        init = (jnp.asarray(2.0, s.x.dtype), jnp.asarray(False), 0)
        size, ok, _ = jax.lax.while_loop(ls_cond, ls_body, init)
        move = ok & ~converged
        return _NewtonState(
            x=jnp.where(move, s.x + size * d, s.x),
            it=s.it + move.astype(s.it.dtype),
            kkt=kkt,
            stalled=~converged & ~ok,
        )

    def cond(s: _NewtonState):
        return (s.kkt > tol) & (~s.stalled) & (s.it < max_iter)

    init = _NewtonState(
        x=theta0,
        it=jnp.asarray(0),
        kkt=jnp.asarray(jnp.inf, theta0.dtype),
        stalled=jnp.asarray(False),
    )
    out = jax.lax.while_loop(cond, step, init)
    return out.x, out.it, out.kkt <= tol


def lambda_max(X, Y, w, mask, *, free_slopes: bool | None = None):
    """Smallest lambda with all penalised ``psi = 0``: ``max_{m_j > 0} |d f / d theta_j|``.

    The subgradient condition of the lasso at ``psi = 0`` (Faletto & Bien 2023, Section 3).

    The start is the intercept-only fit; when some slopes are unpenalised (``mask = 0``) it
    is the fit with those slopes free and the others at zero (proportional odds), found by
    :func:`prox_newton` at a huge lambda. ``free_slopes`` (static) says whether some slopes
    are unpenalised; ``None`` decides from ``mask`` at run time (both branches compiled).
    """
    theta0 = intercept_only(Y, w, X.shape[1])
    if free_slopes is False:
        theta_free = theta0
    elif free_slopes:
        theta_free = prox_newton(theta0, 1e6, X, Y, w, mask, 1e-10, penalty="l1", max_iter=200)[0]
    else:
        free = jnp.any((mask == 0.0) & (jnp.arange(mask.shape[0]) >= Y.shape[1] - 1))
        theta_free, _, _ = jax.lax.cond(
            free,
            lambda t: prox_newton(t, 1e6, X, Y, w, mask, 1e-10, penalty="l1", max_iter=200),
            lambda t: (t, jnp.asarray(0), jnp.asarray(True)),
            theta0,
        )
    grad = jax.grad(presto_loss)(theta_free, X, Y, w)
    return jnp.max(jnp.where(mask > 0, jnp.abs(grad), 0.0))


def lambda_path(X, Y, w, theta0, lambdas, mask, tol, *, penalty: str, max_iter: int):
    """:func:`prox_newton` along ``lambdas`` (decreasing) with warm starts, as one ``lax.scan``.

    ``theta(lam_l)`` starts from ``theta(lam_{l-1})`` (pathwise strategy of Friedman, Hastie
    & Tibshirani 2010, J. Stat. Softw. 33(1)), so each lambda needs a few Newton steps.
    """

    def body(theta, lam):
        theta, it, ok = prox_newton(
            theta, lam, X, Y, w, mask, tol, penalty=penalty, max_iter=max_iter
        )
        return theta, (theta, it, ok)

    _, (theta, it, ok) = jax.lax.scan(body, theta0, lambdas)
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
