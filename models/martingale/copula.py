"""Bivariate Gaussian-copula predictive updates and the copula density estimator.

The recursive predictive of Fong, Holmes & Walker (2023, Section 4; after Hahn, Martin &
Walker 2018), for ``k = 1, 2, ...`` (the data, then the forward steps), with
``v_k = P_{k-1}(y_k)``::

    p_k(y) = [1 - alpha_k + alpha_k c_rho(P_{k-1}(y), v_k)] p_{k-1}(y)
    P_k(y) = (1 - alpha_k) P_{k-1}(y) + alpha_k H_rho(P_{k-1}(y), v_k)
    alpha_k = (2 - 1/k) / (k + 1)                       (alpha_1 = 1/2)

with the Gaussian copula density and its conditional distribution (``a = Phi^-1(u)``,
``b = Phi^-1(v)``)::

    log c_rho(u, v) = -1/2 log(1 - rho^2) - [rho^2 (a^2 + b^2) - 2 rho a b] / (2 (1 - rho^2))
    H_rho(u, v)     = Phi((a - rho b) / sqrt(1 - rho^2)).

Since ``int c_rho(u, v) dv = 1`` and ``int H_rho(u, v) dv = u``, ``E[P_k | P_{k-1}] = P_{k-1}``:
predictive resampling is a martingale. In ``d`` dimensions (fixed coordinate order) the
state holds the joint pdfs ``p(y_{1:j})`` and conditional cdfs ``u_j = P(y_j | y_{1:j-1})``;
with ``C_j = prod_{l<=j} c_{rho_l}(u_l, v_l)`` and ``C_0 = 1``::

    p_k(y_{1:j}) = [1 - alpha + alpha C_j] p_{k-1}(y_{1:j})
    P_k(y_j | .) = [(1 - alpha) P_{k-1}(y_j | .) + alpha C_{j-1} H_{rho_j}(u_j, v_j)]
                   / [(1 - alpha) + alpha C_{j-1}].

The pdfs are computed in logs (``softplus`` of log-odds), the cdfs as convex combinations,
with the clips of the authors' code
(``u``, ``v``, ``H`` and the initial cdf in ``[1e-6, 1 - 1e-6]``, the initial log pdf
floored at ``log 1e-6``). The estimators choose the precision (float32 by default, see
:mod:`bayesuq.models.martingale.density`); every function here runs in the precision of
its inputs.
"""

from __future__ import annotations

import functools
from typing import Any, NamedTuple

import jax
import jax.numpy as jnp
import numpy as np
from jax.scipy.special import logsumexp, ndtr, ndtri
from jax.scipy.stats import norm

from bayesuq.infer.arguments import check_int, check_open_unit

CDF_CLIP = 1e-6
LOG_PDF_FLOOR = float(np.log(1e-6))
H_BOUND = 8.0  # |h| <= 8: rho in [3.4e-4, 0.99966], 1/(1 - rho^2) stays below 1.5e3


@jax.custom_jvp
def norm_ppf(u: jax.Array) -> jax.Array:
    """The standard normal quantile ``Phi^{-1}(u)``, with a custom derivative.

    ``d Phi^{-1}(u) / du = 1 / phi(Phi^{-1}(u))`` (inverse-function rule), which is cheaper
    and more accurate in reverse mode than differentiating ``ndtri``'s rational
    approximation (as in the authors' code; Fong, Holmes & Walker 2023, Appendix E).
    """
    return ndtri(u)


@norm_ppf.defjvp
def _norm_ppf_jvp(primals, tangents):
    (u,), (du,) = primals, tangents
    x = ndtri(u)
    return x, du * jnp.exp(-norm.logpdf(x))


def rho_from_h(h: jax.Array) -> jax.Array:
    """The bandwidth ``rho = 1 / (1 + exp(h))`` in (0, 1) from the unbounded ``h``.

    The optimiser works on ``h``, bounded to ``|h| <= 8`` (``rho`` in
    ``[3.4e-4, 0.99966]``), so ``1 / (1 - rho^2)`` stays below ``1.5e3``.
    """
    return jax.nn.sigmoid(-h)


def h_from_rho(rho: Any) -> np.ndarray:
    """Inverse of :func:`rho_from_h`: ``h = log(1 - rho) - log(rho)`` (NumPy, float64)."""
    rho = np.asarray(rho, dtype=float)
    return np.log1p(-rho) - np.log(rho)


def alpha(k: jax.Array) -> jax.Array:
    """The step size ``alpha_k = (2 - 1/k) / (k + 1)`` for the 1-based index ``k``.

    ``alpha_1 = 1/2``; ``alpha_k ~ 2/k``, the rate under which the copula predictive
    converges (Fong, Holmes & Walker 2023, Section 4.1; Hahn, Martin & Walker 2018).
    Forward steps continue the sequence: ``k = n + 1, ..., n + T``.
    """
    k = jnp.asarray(k, dtype=jnp.result_type(float))
    return (2.0 - 1.0 / k) / (k + 1.0)


def clip_unit(u: jax.Array, eps: float = CDF_CLIP) -> jax.Array:
    """``u`` clipped into ``[eps, 1 - eps]`` (cdf values kept off 0 and 1 for ``Phi^{-1}``)."""
    return jnp.clip(u, eps, 1.0 - eps)


def log_c_scores(a: jax.Array, b: jax.Array, rho: jax.Array) -> jax.Array:
    """Gaussian copula log density at normal scores ``a = Phi^-1(u)``, ``b = Phi^-1(v)``.

    ``log c_rho = -1/2 log(1 - rho^2) - [rho^2 (a^2 + b^2) - 2 rho a b] / (2 (1 - rho^2))``
    (the bivariate normal density with correlation ``rho`` over the product of its
    marginals). Also the covariate kernel of the conditional method, applied to
    standardised covariates (Fong, Holmes & Walker 2023, Sections 4.1 and 4.4).
    """
    r2 = rho * rho
    return -0.5 * jnp.log1p(-r2) - (r2 * (a * a + b * b) - 2.0 * rho * a * b) / (2.0 * (1.0 - r2))


def log_copula(u: jax.Array, v: jax.Array, rho: jax.Array) -> jax.Array:
    """``log c_rho(u, v)``: :func:`log_c_scores` at ``Phi^-1`` of the clipped ``u``, ``v``.

    ``u``, ``v`` are clipped into ``[1e-6, 1 - 1e-6]``; ``int_0^1 c_rho(u, v) dv = 1``
    (Fong, Holmes & Walker 2023, Section 4.1).
    """
    return log_c_scores(norm_ppf(clip_unit(u)), norm_ppf(clip_unit(v)), rho)


def h_copula(u: jax.Array, v: jax.Array, rho: jax.Array) -> jax.Array:
    """The conditional copula distribution ``H_rho(u, v) = Phi((a - rho b) / sqrt(1 - rho^2))``.

    ``a = Phi^-1(u)``, ``b = Phi^-1(v)``; ``H_rho(u, v) = int_0^u c_rho(s, v) ds``, so
    ``int_0^1 H_rho(u, v) dv = u``. Inputs and result are clipped into
    ``[1e-6, 1 - 1e-6]`` (Fong, Holmes & Walker 2023, Section 4.1).
    """
    a, b = norm_ppf(clip_unit(u)), norm_ppf(clip_unit(v))
    return clip_unit(ndtr((a - rho * b) / jnp.sqrt(1.0 - rho * rho)))


class DensityState(NamedTuple):
    """Predictive state at evaluation points: ``log p(y_{1:j})`` and ``P(y_j | y_{1:j-1})``."""

    log_pdf: jax.Array  # (..., d)
    cdf: jax.Array  # (..., d)


def initial_state(z: jax.Array) -> DensityState:
    """The starting predictive at points ``z (..., d)``: independent standard normals.

    ``log p_0(z_{1:j}) = sum_{l<=j} max(log phi(z_l), log 1e-6)`` (cumulative joint log
    pdfs) and conditional cdfs ``P_0(z_j | .) = Phi(z_j)`` clipped into
    ``[1e-6, 1 - 1e-6]`` (Fong, Holmes & Walker 2023, Section 4.3).
    """
    log_phi = jnp.maximum(norm.logpdf(z), LOG_PDF_FLOOR)
    return DensityState(jnp.cumsum(log_phi, axis=-1), clip_unit(ndtr(z)))


def copula_step(
    state: DensityState, v: jax.Array, log_alpha: jax.Array, log1m_alpha: jax.Array, rho: jax.Array
) -> DensityState:
    """One copula update of the predictive at a single point (``(d,)`` arrays; vmap for many).

    With ``u_j = P_{k-1}(y_j | y_{1:j-1})`` at the point, the datum's conditional cdfs
    ``v_j`` and ``C_j = prod_{l<=j} c_{rho_l}(u_l, v_l)`` (``C_0 = 1``), in logs::

        p_k(y_{1:j})   = [1 - alpha + alpha C_j] p_{k-1}(y_{1:j})
        P_k(y_j | .)   = [(1 - alpha) u_j + alpha C_{j-1} H_{rho_j}(u_j, v_j)]
                         / [(1 - alpha) + alpha C_{j-1}]

    (Fong, Holmes & Walker 2023, Section 4.3; for ``d = 1`` the univariate
    update of Hahn, Martin & Walker 2018). With ``s = log alpha - log(1 - alpha)`` this is
    computed as ``log p_k = log p_{k-1} + log(1 - alpha) + softplus(s + log C_j)`` and
    ``P_k = u_j + w_j (H_j - u_j)``, ``w_j = sigmoid(s + log C_{j-1})``: the same
    equations with one ``Phi^-1``, one ``Phi`` and two exponentials per coordinate, and
    a cdf that stays between ``u_j`` and ``H_j``. ``log_alpha``, ``log1m_alpha`` are
    ``log alpha_k`` and ``log(1 - alpha_k)`` (scalars); ``rho`` has one value per
    coordinate ``(d,)``.
    """
    u = clip_unit(state.cdf)
    a, b = norm_ppf(u), norm_ppf(clip_unit(v))  # Phi^-1 once each (v is shared by all points)
    log_cum = jnp.cumsum(log_c_scores(a, b, rho))
    log_prev = jnp.concatenate([jnp.zeros(1, dtype=log_cum.dtype), log_cum[:-1]])
    logit = log_alpha - log1m_alpha
    # log[1 - alpha + alpha C_j] = log(1 - alpha) + softplus(logit alpha + log C_j)
    log_pdf = state.log_pdf + log1m_alpha + jax.nn.softplus(logit + log_cum)
    # the cdf update is the convex combination (1 - w_j) u_j + w_j H_j with
    # w_j = alpha C_{j-1} / [(1 - alpha) + alpha C_{j-1}] = sigmoid(logit alpha + log C_{j-1})
    w = jax.nn.sigmoid(logit + log_prev)
    h = clip_unit(ndtr((a - rho * b) / jnp.sqrt(1.0 - rho * rho)))
    return DensityState(log_pdf, clip_unit(u + w * (h - u)))


def update_points(state: DensityState, v: jax.Array, a: jax.Array, rho: jax.Array) -> DensityState:
    """:func:`copula_step` at every point of ``state`` (leading axis) with step ``alpha = a``.

    The same datum cdfs ``v (d,)`` update every evaluation point: ``p_k(y) = [1 - a +
    a C(y)] p_{k-1}(y)`` pointwise (Fong, Holmes & Walker 2023, Section 4.3).
    """
    step = functools.partial(
        copula_step, v=v, log_alpha=jnp.log(a), log1m_alpha=jnp.log1p(-a), rho=rho
    )
    return jax.vmap(lambda s: step(s))(state)


# --- fitting: the prequential log-likelihood, permutation-averaged -----------------------


def _rho_vector(h: jax.Array, d: int) -> jax.Array:
    """One ``rho`` per coordinate ``(d,)`` from a shared ``h (1,)`` or per-coordinate ``h (d,)``."""
    rho = rho_from_h(h)
    return jnp.broadcast_to(rho, (d,)) if rho.shape[0] == 1 else rho


def prequential_one(h: jax.Array, z: jax.Array) -> tuple[jax.Array, jax.Array]:
    """Prequential terms ``log p_{k-1}(z_k)`` and cdfs ``v_k`` of one ordering ``z (n, d)``.

    The recursion of :func:`copula_step` runs over the data in this order with
    ``alpha_k``, the state held at all ``n`` data points; term ``k`` is the joint log pdf
    ``log p_{k-1}(z_k)`` and ``v_k = P_{k-1}(z_k)`` the datum's conditional cdfs, both
    read *before* datum ``k`` updates the state (Fong, Holmes & Walker 2023, Section 4.3).
    """
    n, d = z.shape
    rho = _rho_vector(h, d)

    def body(state, k):
        row = jax.tree_util.tree_map(lambda s: s[k], state)
        state = update_points(state, row.cdf, alpha(k + 1), rho)
        return state, (row.log_pdf[-1], row.cdf)

    _, (terms, v) = jax.lax.scan(body, initial_state(z), jnp.arange(n))
    return terms, v


@jax.jit
def prequential_terms(h: jax.Array, z: jax.Array, perms: jax.Array):
    """:func:`prequential_one` per ordering in ``perms (P, n)``: terms (P, n), cdfs (P, n, d)."""
    return jax.vmap(lambda p: prequential_one(h, z[p]))(perms)


@jax.jit
def negative_prequential(h: jax.Array, z: jax.Array, perms: jax.Array) -> tuple:
    """The bandwidth objective and its gradient in ``h``.

    ``L(h) = -(1/n) (1/P) sum_perm sum_k log p_{k-1}(z_{perm(k)})``: the negative
    permutation-averaged prequential log-likelihood (Fong, Holmes & Walker 2023, Section
    4.3), minimised over ``h`` with ``rho = 1 / (1 + exp(h))``.
    """

    def loss(h):
        terms, _ = prequential_terms(h, z, perms)
        return -terms.sum(axis=1).mean() / z.shape[0]

    return value_and_gradient(loss, h)


def value_and_gradient(loss, h: jax.Array) -> tuple[jax.Array, jax.Array]:
    """``(loss(h), d loss / d h)``: forward mode for one ``h``, reverse mode for several.

    With a single bandwidth (``h`` of shape ``(1,)``) one ``jvp`` costs about two
    forward passes of the recursion and stores nothing per step; reverse mode
    (``value_and_grad``) keeps every step's residuals for the backward scan
    (``O(P n^2 d)`` memory), which is what several ``h``'s need.
    """
    if h.shape[0] == 1:
        value, slope = jax.jvp(loss, (h,), (jnp.ones_like(h),))
        return value, jnp.reshape(slope, (1,))
    return jax.value_and_grad(loss)(h)


def replay_one(h: jax.Array, v: jax.Array, z_eval: jax.Array) -> DensityState:
    """``P_n`` at ``z_eval (m, d)`` replayed from the stored cdfs ``v (n, d)`` of one ordering.

    The update of datum ``k`` needs only ``v_k`` and ``alpha_k``, so ``p_n`` at new points
    is ``n`` :func:`update_points` steps from :func:`initial_state` (no refit).
    """
    rho = _rho_vector(h, z_eval.shape[1])

    def body(state, inputs):
        k, vk = inputs
        return update_points(state, vk, alpha(k + 1), rho), None

    state, _ = jax.lax.scan(body, initial_state(z_eval), (jnp.arange(v.shape[0]), v))
    return state


@jax.jit
def averaged_state(h: jax.Array, v: jax.Array, z_eval: jax.Array) -> DensityState:
    """Permutation average of ``P_n`` at ``z_eval``: ``p_n = (1/P) sum_perm p_n^(perm)``.

    The pdfs are averaged arithmetically (log-sum-exp minus ``log P``), as are the
    conditional cdfs (exact for ``d = 1``, the authors' approximation for ``d > 1``;
    Fong, Holmes & Walker 2023, Section 4.3).
    """
    states = jax.vmap(lambda vp: replay_one(h, vp, z_eval))(v)
    count = v.shape[0]
    return DensityState(logsumexp(states.log_pdf, axis=0) - jnp.log(count), states.cdf.mean(axis=0))


def make_permutations(seed: int, n: int, count: int) -> np.ndarray:
    """``count`` random orderings of ``range(n)`` (the first one the identity)."""
    rng = np.random.default_rng(seed)
    perms = [np.arange(n)] + [rng.permutation(n) for _ in range(count - 1)]
    return np.stack(perms)


def check_rho(name: str, rho: Any, size: int) -> np.ndarray:
    """A fixed ``rho`` as a float array: one number or ``size`` numbers in (0, 1)."""
    arr = np.atleast_1d(np.asarray(rho, dtype=float))
    if arr.ndim != 1 or arr.size not in (1, size):
        raise ValueError(f"{name} must be one number or {size} numbers in (0, 1), got {rho!r}")
    for value in arr:
        check_open_unit(name, float(value))
    return arr


def as_2d(values: Any, name: str, d: int | None = None) -> np.ndarray:
    """``values`` as a finite float array ``(n, d)`` (a vector is one column); checked."""
    arr = np.asarray(values, dtype=float)
    if arr.ndim == 1:
        arr = arr[:, None]
    if arr.ndim != 2 or (d is not None and arr.shape[1] != d):
        want = "(n,) or (n, d)" if d is None else f"(m,) or (m, {d})"
        raise ValueError(f"{name} must have shape {want}, got {np.shape(values)}")
    if not np.all(np.isfinite(arr)):
        raise ValueError(f"{name} contains NaN or infinite values")
    return arr


def check_seed(seed: Any) -> int:
    """An integer seed ``>= 0``."""
    return check_int("seed", seed, minimum=0)
