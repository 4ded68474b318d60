"""Acquisition functions and their multistart maximisation inside JAX.

* :func:`expected_improvement` - the closed form of Jones, Schonlau & Welch (1998);
* :func:`upper_confidence_bound` - Srinivas et al. (2010);
* :func:`maximize_acquisition` - raw samples, a Boltzmann choice of restarts (as BoTorch's
  ``optimize_acqf`` initialisation), then projected Adam ascent from each restart; fixed
  shapes and iteration counts, so it runs inside one compiled optimisation loop.
"""

from __future__ import annotations

from collections.abc import Callable

import jax
import jax.numpy as jnp
import optax
from jax.scipy.special import ndtr

__all__ = ["expected_improvement", "maximize_acquisition", "upper_confidence_bound"]

_INV_SQRT_2PI = 0.3989422804014327


def expected_improvement(mean: jax.Array, std: jax.Array, best: jax.Array) -> jax.Array:
    """Expected improvement of a Gaussian predictive over ``best`` (maximisation).

    ``EI = E[max(Y - y*, 0)] = s phi(z) + (mu - y*) Phi(z)``, ``z = (mu - y*) / s`` for
    ``Y ~ N(mu, s^2)`` (Jones, Schonlau & Welch 1998, "Efficient global optimization of
    expensive black-box functions", J. Global Optim. 13:455-492, eq. 15). At ``s = 0`` it is
    ``max(mu - y*, 0)``, the limit as ``s -> 0``.

    Parameters
    ----------
    mean, std
        Predictive mean ``mu`` and standard deviation ``s >= 0`` (broadcast explicitly).
    best
        The incumbent ``y*`` (the best value observed so far).
    """
    improvement = mean - best
    positive = std > 0
    safe_std = jnp.where(positive, std, 1.0)
    z = improvement / safe_std
    pdf = _INV_SQRT_2PI * jnp.exp(-0.5 * z**2)
    ei = safe_std * pdf + improvement * ndtr(z)
    return jnp.where(positive, ei, jnp.maximum(improvement, 0.0))


def upper_confidence_bound(mean: jax.Array, std: jax.Array, beta: float) -> jax.Array:
    """Upper confidence bound ``mu + sqrt(beta) s`` (Srinivas et al. 2010, ICML, eq. 6)."""
    return mean + jnp.sqrt(beta) * std


def maximize_acquisition(
    acquisition: Callable[[jax.Array], jax.Array],
    key: jax.Array,
    lower: jax.Array,
    upper: jax.Array,
    *,
    raw_samples: int,
    restarts: int,
    iterations: int,
    learning_rate: float = 0.02,
    eta: float = 1.0,
) -> tuple[jax.Array, jax.Array]:
    """Maximise ``acquisition`` over the box ``[lower, upper]`` from several starts.

    1. ``raw_samples`` uniform points in the box are scored;
    2. ``restarts`` starting points: the best raw point, and ``restarts - 1`` drawn without
       replacement with probabilities ``~ exp(eta z)``, ``z`` the standardised scores
       (BoTorch's Boltzmann initialisation heuristic, drawn by Gumbel top-k);
    3. ``iterations`` steps of Adam ascent on the box-scaled coordinates in ``[0, 1]^d``,
       projected back into the box after each step;
    4. the best point visited (the starts included) is returned.

    Parameters
    ----------
    acquisition
        Pure function of one point ``x`` of shape ``(d,)`` returning a scalar.
    key
        PRNG key.
    lower, upper
        ``(d,)`` box bounds (traced: a trust region may move them).
    raw_samples, restarts, iterations
        Static sizes.
    learning_rate
        Adam step size in box-scaled coordinates.
    eta
        Temperature of the Boltzmann choice of restarts.

    Returns
    -------
    (x, value)
        The maximiser found, shape ``(d,)``, and its acquisition value.
    """
    d = lower.shape[0]
    k_raw, k_pick = jax.random.split(key)
    width = upper - lower

    def to_x(u: jax.Array) -> jax.Array:
        return lower + width * jnp.clip(u, 0.0, 1.0)

    def score(u: jax.Array) -> jax.Array:
        value = acquisition(to_x(u))
        return jnp.where(jnp.isfinite(value), value, -jnp.inf)

    u_raw = jax.random.uniform(k_raw, (raw_samples, d), dtype=lower.dtype)
    a_raw = jax.vmap(score)(u_raw)
    finite = jnp.isfinite(a_raw)
    n_finite = jnp.maximum(jnp.sum(finite), 1)
    centred = jnp.where(finite, a_raw, 0.0)
    mean = jnp.sum(centred) / n_finite
    std = jnp.sqrt(jnp.sum(jnp.where(finite, (a_raw - mean) ** 2, 0.0)) / n_finite)
    z = jnp.where(finite, (a_raw - mean) / jnp.where(std > 0, std, 1.0), -jnp.inf)
    best_raw = jnp.argmax(a_raw)
    gumbel = jax.random.gumbel(k_pick, (raw_samples,), dtype=lower.dtype)
    logits = jnp.where(jnp.arange(raw_samples) == best_raw, jnp.inf, eta * z + gumbel)
    _, starts = jax.lax.top_k(logits, restarts)
    u0 = u_raw[starts]

    optimizer = optax.adam(learning_rate)
    value_and_grad = jax.vmap(jax.value_and_grad(score))

    def ascend(carry, _):
        u, state, best_u, best_a = carry
        values, grads = value_and_grad(u)
        better = values > best_a
        best_u = jnp.where(better[:, None], u, best_u)
        best_a = jnp.where(better, values, best_a)
        grads = jnp.where(jnp.isfinite(grads), -grads, 0.0)
        updates, state = optimizer.update(grads, state, u)
        return (jnp.clip(optax.apply_updates(u, updates), 0.0, 1.0), state, best_u, best_a), None

    # The last iterate is not scored (one evaluation fewer in the compiled program): each
    # start keeps the best point it visited.
    start = (u0, optimizer.init(u0), u0, a_raw[starts])
    (_, _, u_best, a_best), _ = jax.lax.scan(ascend, start, None, length=iterations)
    best = jnp.argmax(a_best)
    return to_x(u_best[best]), a_best[best]
