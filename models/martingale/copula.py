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

Everything is computed in logs (``logaddexp``) and needs float64.
"""

from __future__ import annotations

import functools
from typing import Any, NamedTuple

import jax
import jax.numpy as jnp
import numpy as np
import scipy.optimize
from jax.scipy.special import logsumexp, ndtr, ndtri
from jax.scipy.stats import norm

from bayesuq.infer.arguments import check_choice, check_int, check_open_unit
from bayesuq.precision import x64_enabled

CDF_CLIP = 1e-6
LOG_PDF_FLOOR = float(np.log(1e-6))
H_BOUND = 8.0  # |h| <= 8: rho in [3.4e-4, 0.99966], 1/(1 - rho^2) stays below 1.5e3


def require_x64(who: str) -> None:
    """Raise unless JAX computes in float64 (the copula updates lose accuracy in float32)."""
    if not x64_enabled():
        raise RuntimeError(
            f"{who} needs float64, but jax_enable_x64 is off: call bayesuq.enable_x64() "
            f"before creating arrays, or run inside `with jax.enable_x64(True):`"
        )


@jax.custom_jvp
def norm_ppf(u: jax.Array) -> jax.Array:
    """``Phi^{-1}(u)`` with the derivative ``1 / phi(Phi^{-1}(u))``."""
    return ndtri(u)


@norm_ppf.defjvp
def _norm_ppf_jvp(primals, tangents):
    (u,), (du,) = primals, tangents
    x = ndtri(u)
    return x, du * jnp.exp(-norm.logpdf(x))


def rho_from_h(h: jax.Array) -> jax.Array:
    """``rho = 1 / (1 + exp(h))`` in (0, 1)."""
    return jax.nn.sigmoid(-h)


def h_from_rho(rho: Any) -> np.ndarray:
    """Inverse of :func:`rho_from_h`."""
    rho = np.asarray(rho, dtype=float)
    return np.log1p(-rho) - np.log(rho)


def alpha(k: jax.Array) -> jax.Array:
    """``alpha_k = (2 - 1/k) / (k + 1)`` for the 1-based step index ``k``."""
    k = jnp.asarray(k, dtype=jnp.result_type(float))
    return (2.0 - 1.0 / k) / (k + 1.0)


def clip_unit(u: jax.Array, eps: float = CDF_CLIP) -> jax.Array:
    return jnp.clip(u, eps, 1.0 - eps)


def log_c_scores(a: jax.Array, b: jax.Array, rho: jax.Array) -> jax.Array:
    """Gaussian copula log density at normal scores ``a``, ``b`` (also the x-kernel)."""
    r2 = rho * rho
    return -0.5 * jnp.log1p(-r2) - (r2 * (a * a + b * b) - 2.0 * rho * a * b) / (2.0 * (1.0 - r2))


def log_copula(u: jax.Array, v: jax.Array, rho: jax.Array) -> jax.Array:
    """``log c_rho(u, v)`` with ``u``, ``v`` clipped into ``[1e-6, 1 - 1e-6]``."""
    return log_c_scores(norm_ppf(clip_unit(u)), norm_ppf(clip_unit(v)), rho)


def h_copula(u: jax.Array, v: jax.Array, rho: jax.Array) -> jax.Array:
    """``H_rho(u, v) = Phi((a - rho b) / sqrt(1 - rho^2))``, clipped into ``[1e-6, 1 - 1e-6]``."""
    a, b = norm_ppf(clip_unit(u)), norm_ppf(clip_unit(v))
    return clip_unit(ndtr((a - rho * b) / jnp.sqrt(1.0 - rho * rho)))


class DensityState(NamedTuple):
    """Predictive state at evaluation points: ``log p(y_{1:j})`` and ``P(y_j | y_{1:j-1})``."""

    log_pdf: jax.Array  # (..., d)
    cdf: jax.Array  # (..., d)


def initial_state(z: jax.Array) -> DensityState:
    """``p_0 = prod_j phi(z_j)`` (each log floored at log 1e-6) and ``P_0 = Phi`` (clipped)."""
    log_phi = jnp.maximum(norm.logpdf(z), LOG_PDF_FLOOR)
    return DensityState(jnp.cumsum(log_phi, axis=-1), clip_unit(ndtr(z)))


def copula_step(
    state: DensityState, v: jax.Array, log_alpha: jax.Array, log1m_alpha: jax.Array, rho: jax.Array
) -> DensityState:
    """One copula update of the state at a single point (``(d,)`` arrays; vmap for many).

    ``log_alpha``, ``log1m_alpha`` are ``log alpha`` and ``log(1 - alpha)`` (scalars);
    ``v`` the datum's conditional cdfs ``(d,)``; ``rho`` one value per coordinate ``(d,)``.
    """
    u = clip_unit(state.cdf)
    log_c = log_copula(u, v, rho)
    log_cum = jnp.cumsum(log_c)
    log_prev = jnp.concatenate([jnp.zeros(1, dtype=log_cum.dtype), log_cum[:-1]])
    log_pdf = state.log_pdf + jnp.logaddexp(log1m_alpha, log_alpha + log_cum)
    log_num = jnp.logaddexp(
        log1m_alpha + jnp.log(u), log_alpha + log_prev + jnp.log(h_copula(u, v, rho))
    )
    log_den = jnp.logaddexp(log1m_alpha, log_alpha + log_prev)
    return DensityState(log_pdf, clip_unit(jnp.exp(log_num - log_den)))


def update_points(state: DensityState, v: jax.Array, a: jax.Array, rho: jax.Array) -> DensityState:
    """:func:`copula_step` at every point of ``state`` (leading axis) with weight ``a``."""
    step = functools.partial(
        copula_step, v=v, log_alpha=jnp.log(a), log1m_alpha=jnp.log1p(-a), rho=rho
    )
    return jax.vmap(lambda s: step(s))(state)


# --- fitting: the prequential log-likelihood, permutation-averaged -----------------------


def _rho_vector(h: jax.Array, d: int) -> jax.Array:
    rho = rho_from_h(h)
    return jnp.broadcast_to(rho, (d,)) if rho.shape[0] == 1 else rho


def prequential_one(h: jax.Array, z: jax.Array) -> tuple[jax.Array, jax.Array]:
    """Prequential terms ``log p_{k-1}(z_k)`` and cdfs ``v_k`` of one ordering ``z (n, d)``.

    Each term is taken *before* datum ``k`` updates the state (held at all data points).
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
    """``(P, n)`` prequential terms and ``(P, n, d)`` cdfs ``v`` over ``P`` orderings."""
    return jax.vmap(lambda p: prequential_one(h, z[p]))(perms)


@jax.jit
def negative_prequential(h: jax.Array, z: jax.Array, perms: jax.Array) -> tuple:
    """``-(1/n) mean_perm sum_k log p_{k-1}(z_k)`` and its gradient in ``h``."""

    def loss(h):
        terms, _ = prequential_terms(h, z, perms)
        return -terms.sum(axis=1).mean() / z.shape[0]

    return jax.value_and_grad(loss)(h)


def replay_one(h: jax.Array, v: jax.Array, z_eval: jax.Array) -> DensityState:
    """``P_n`` at ``z_eval (m, d)`` from the stored cdfs ``v (n, d)`` of one ordering."""
    rho = _rho_vector(h, z_eval.shape[1])

    def body(state, inputs):
        k, vk = inputs
        return update_points(state, vk, alpha(k + 1), rho), None

    state, _ = jax.lax.scan(body, initial_state(z_eval), (jnp.arange(v.shape[0]), v))
    return state


@jax.jit
def averaged_state(h: jax.Array, v: jax.Array, z_eval: jax.Array) -> DensityState:
    """Permutation average of ``P_n``: pdfs by log-sum-exp, conditional cdfs arithmetically."""
    states = jax.vmap(lambda vp: replay_one(h, vp, z_eval))(v)
    count = v.shape[0]
    return DensityState(logsumexp(states.log_pdf, axis=0) - jnp.log(count), states.cdf.mean(axis=0))


def make_permutations(seed: int, n: int, count: int) -> np.ndarray:
    """``count`` random orderings of ``range(n)`` (the first one the identity)."""
    rng = np.random.default_rng(seed)
    perms = [np.arange(n)] + [rng.permutation(n) for _ in range(count - 1)]
    return np.stack(perms)


def fit_h(objective, h0: np.ndarray, args: tuple, *, optimizer: str, maxiter: int) -> tuple:
    """Minimise ``objective(h, *args) -> (value, grad)`` over ``|h| <= 8`` on the host."""
    optimizer = check_choice("optimizer", optimizer, ("L-BFGS-B", "SLSQP"))

    def fun(h):
        value, grad = objective(jnp.asarray(h), *args)
        return float(value), np.asarray(grad, dtype=float)

    options = {"maxiter": maxiter} | ({"ftol": 1e-4} if optimizer == "SLSQP" else {})
    result = scipy.optimize.minimize(
        fun, h0, jac=True, method=optimizer, bounds=[(-H_BOUND, H_BOUND)] * h0.size, options=options
    )
    if not np.all(np.isfinite(result.x)) or not np.isfinite(result.fun):
        raise RuntimeError(f"fitting rho failed: {result.message}")
    return np.asarray(result.x), float(result.fun), int(result.nit)


def check_rho(name: str, rho: Any, size: int) -> np.ndarray:
    """A fixed rho: a number or ``size`` numbers in (0, 1)."""
    arr = np.atleast_1d(np.asarray(rho, dtype=float))
    if arr.ndim != 1 or arr.size not in (1, size):
        raise ValueError(f"{name} must be one number or {size} numbers in (0, 1), got {rho!r}")
    for value in arr:
        check_open_unit(name, float(value))
    return arr


def standardise(values: np.ndarray, name: str) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """``(values - mean) / sd`` with the population sd, checked for NaN and constant columns."""
    if not np.all(np.isfinite(values)):
        raise ValueError(f"{name} contains NaN or infinite values")
    mean, sd = values.mean(axis=0), values.std(axis=0)
    if np.any(sd <= 0):
        raise ValueError(f"{name} has a constant column (sd 0); cannot standardise it")
    return (values - mean) / sd, mean, sd


def as_2d(values: Any, name: str, d: int | None = None) -> np.ndarray:
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
    return check_int("seed", seed, minimum=0)
