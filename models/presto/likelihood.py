"""Cumulative-logit likelihood with one slope vector per threshold (pure JAX).

Model (Faletto & Bien 2023, "Predicting Rare Events by Shrinking Towards Proportional Odds",
ICML, PMLR 202:9547-9602): classes ``0 < 1 < ... < K-1`` (the rare event is the top class)
and, for thresholds ``k = 0..K-2``,

    P(y <= k | x) = sigma(eta_k),    eta_k = alpha_k + x' beta_k,

so ``P(y = k) = sigma(eta_k) - sigma(eta_{k-1})`` and ``P(y = K-1) = sigma(-eta_{K-2})``.
A middle class is computed on the log scale as

    log(sigma(b) - sigma(a)) = b + log(-expm1(a - b)) - softplus(a) - softplus(b),  b > a,

and is ``-inf`` when ``b <= a`` (non-monotone cumulative probabilities: infeasible).
"""

from __future__ import annotations

import jax
import jax.numpy as jnp


def class_log_probs(eta: jax.Array) -> jax.Array:
    """``log P(y = k | x)`` of shape ``(n, K)`` from ``eta`` of shape ``(n, K-1)``.

    Entries of infeasible rows (``eta_k <= eta_{k-1}``) are ``-inf``; gradients stay finite.
    """
    first = -jax.nn.softplus(-eta[:, :1])
    last = -jax.nn.softplus(eta[:, -1:])
    lower, upper = eta[:, :-1], eta[:, 1:]
    feasible = upper > lower
    gap = jnp.where(feasible, lower - upper, -1.0)  # double-where: no NaN gradients
    middle = upper + jnp.log(-jnp.expm1(gap)) - jax.nn.softplus(lower) - jax.nn.softplus(upper)
    middle = jnp.where(feasible, middle, -jnp.inf)
    return jnp.concatenate([first, middle, last], axis=1)


def class_probs(eta: jax.Array) -> jax.Array:
    """``P(y = k | x)`` of shape ``(n, K)``: differences of the cumulative probabilities.

    Non-monotone rows give negative entries; callers decide what to do with them.
    """
    cum = jax.nn.sigmoid(eta)
    zeros = jnp.zeros_like(cum[:, :1])
    ones = jnp.ones_like(cum[:, :1])
    return jnp.diff(jnp.concatenate([zeros, cum, ones], axis=1), axis=1)


def eta_from_psi(X: jax.Array, alpha: jax.Array, psi: jax.Array) -> jax.Array:
    """``eta = alpha + X @ cumsum(psi, axis=1)``: the difference parametrisation.

    ``psi[:, 0] = beta_0`` and ``psi[:, k] = beta_k - beta_{k-1}``.
    """
    return alpha[None, :] + X @ jnp.cumsum(psi, axis=1)


def weighted_nll(eta: jax.Array, Y: jax.Array, w: jax.Array) -> jax.Array:
    """``-(sum_i w_i log P(y_i | x_i)) / sum_i w_i`` with one-hot ``Y`` (n, K).

    ``+inf`` when the observed class of a row with positive weight has a non-positive
    probability, so the fit keeps every training likelihood positive (the solvers reject
    such steps). Probabilities of *unobserved* classes are not constrained: requiring them
    too puts the optimum on the boundary of the feasible set whenever a rare class is
    nearly separable, where first-order methods stall. Rows with weight 0 never matter.
    """
    logp = class_log_probs(eta)
    picked = jnp.sum(jnp.where(Y > 0, logp, 0.0), axis=1)
    picked = jnp.where(w > 0, picked, 0.0)  # no 0 * (-inf) from held-out rows
    return -jnp.sum(w * picked) / jnp.sum(w)


def brier(probs: jax.Array, Y: jax.Array, w: jax.Array) -> jax.Array:
    """Weighted multiclass Brier score ``sum_i w_i sum_k (p_ik - Y_ik)^2 / sum_i w_i``."""
    return jnp.sum(w * jnp.sum((probs - Y) ** 2, axis=1)) / jnp.sum(w)


def repair_probs(probs: jax.Array) -> tuple[jax.Array, jax.Array]:
    """Clip negative class probabilities at 0 and renormalise each row.

    Returns the repaired probabilities and a boolean mask of the rows that needed it.
    """
    bad = jnp.any(probs < 0.0, axis=1)
    clipped = jnp.clip(probs, 0.0, None)
    return clipped / jnp.sum(clipped, axis=1, keepdims=True), bad
