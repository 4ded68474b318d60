"""Simulated multivariate-normal likelihood of published averages (Weber et al. 2018).

Weber, Gelman, Lee, Betancourt, Vehtari and Racine-Poon, "Bayesian aggregation of average
data: an application in drug development", Annals of Applied Statistics 12(3):1583-1604,
2018 (arXiv:1602.02055), section 3.

Only the means ``ybar'_k`` (k <= T') over ``J'`` patients of an external trial are known. By
the central limit theorem

    ybar' ~ MVN(m(phi'), [C(phi') + sigma_y^2 I] / J'),

where ``m`` and ``C`` are the across-patient mean and covariance of the noise-free curve.
They are simulated from ``J_tilde`` standardised random effects ``xi_j`` drawn once before
inference (fixed data):

    Y~[j, k] = f(x'_k; phi', xi_j),   M~ = sum_j m_j Y~_j / sum_j m_j,
    S~ = sum_j m_j (Y~_j - M~)(Y~_j - M~)^T / (sum_j m_j - 1),   S~ <- (S~ + S~^T) / 2,
    l~ = log MVN(ybar'; M~, (S~ + sigma_y^2 I) / J').

The weights ``m_j`` in {0, 1} (a mask) let ``J_tilde`` and ``2 J_tilde`` share one compiled
shape. With ``xi`` fixed, ``l~`` is a smooth deterministic function of the parameters.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

import jax
import jax.numpy as jnp
import numpy as np
from jax.scipy.linalg import solve_triangular

Trajectory = Callable[[Any, jax.Array], jax.Array]
"""``trajectory(params, xi_j) -> (T',)``: one patient's noise-free curve."""


def _concrete(value: Any) -> np.ndarray | None:
    """``value`` as a NumPy array when it is concrete, ``None`` when it is traced."""
    if isinstance(value, jax.core.Tracer):
        return None
    return np.asarray(value)


def check_averages(ybar: Any, *, name: str = "ybar") -> None:
    """Raise if concrete averages are not a finite vector (no-op under tracing)."""
    if np.ndim(ybar) != 1:
        raise ValueError(
            f"{name} has shape {np.shape(ybar)}; expected a vector of T' averages (T',)"
        )
    values = _concrete(ybar)
    if values is not None and not np.all(np.isfinite(values)):
        bad = np.flatnonzero(~np.isfinite(values))
        raise ValueError(
            f"{name} has {bad.size} non-finite average(s) (NaN or inf), first at index "
            f"{int(bad[0])}; expected finite published means"
        )


def check_simulation_size(n_simulated: int, n_times: int, *, name: str = "J_tilde") -> None:
    """Raise unless the number of simulated patients exceeds the number of time points.

    ``S~`` has rank at most ``J_tilde - 1``; below ``T'`` it carries no information about
    some directions and the approximation is meaningless (Weber et al. use 500 for 13).
    """
    if n_simulated <= n_times:
        raise ValueError(
            f"{name}={n_simulated} simulated patients for T'={n_times} time points; expected "
            f"{name} > T' (and in practice {name} >> T', e.g. 500 for 13)"
        )


def simulate_trajectories(trajectory: Trajectory, params: Any, xi: jax.Array) -> jax.Array:
    """Noise-free curves of the simulated patients, ``Y~`` of shape ``(J_tilde, T')``.

    ``trajectory`` is vmapped over the leading axis of ``xi`` (one row per patient).
    """
    return jax.vmap(lambda xi_j: trajectory(params, xi_j))(xi)


def simulated_mvn_logpdf(
    ybar: jax.Array,
    ysim: jax.Array,
    sigma_y: jax.Array | float,
    J_prime: jax.Array | float,
    *,
    mask: jax.Array | None = None,
    jitter: float = 1e-10,
) -> jax.Array:
    """``log MVN(ybar; M~, (S~ + sigma_y^2 I) / J')`` from simulated curves (Weber et al. eq. 6).

    Parameters
    ----------
    ybar
        Observed averages, shape ``(T',)``.
    ysim
        Noise-free simulated curves, shape ``(J_tilde, T')``.
    sigma_y
        Residual standard deviation (added analytically, never simulated).
    J_prime
        Number of patients behind each published mean (the covariance is divided by it).
    mask
        Optional weights ``m_j`` in {0, 1} of shape ``(J_tilde,)``: the masked moments let
        ``J_tilde`` and ``2 J_tilde`` share one compiled shape.
    jitter
        Added to the diagonal as ``jitter * mean(diag)``, always (not on failure). The
        ``sigma_y^2 I`` term already makes the matrix positive definite; the jitter only
        guards the float32 round-off of nearly collinear curves.

    Returns
    -------
    jax.Array
        Scalar log-likelihood; ``-inf`` (a rejected proposal, never NaN) when the Cholesky
        factorisation fails numerically.
    """
    check_averages(ybar)
    if np.ndim(ysim) != 2 or np.shape(ysim)[1] != np.shape(ybar)[0]:
        raise ValueError(
            f"ysim has shape {np.shape(ysim)}; expected (J_tilde, T') with T'="
            f"{np.shape(ybar)[0]} (the length of ybar)"
        )
    n_sim, n_times = np.shape(ysim)
    if mask is None:
        check_simulation_size(n_sim, n_times)
        weights = jnp.ones((n_sim,), dtype=ysim.dtype)
    else:
        if np.shape(mask) != (n_sim,):
            raise ValueError(
                f"mask has shape {np.shape(mask)}; expected ({n_sim},), one weight per "
                f"simulated patient"
            )
        concrete = _concrete(mask)
        if concrete is not None:
            check_simulation_size(int(np.sum(concrete > 0)), n_times, name="sum(mask)")
        weights = jnp.asarray(mask, dtype=ysim.dtype)
    count = jnp.sum(weights)
    mean = weights @ ysim / count
    centred = (ysim - mean[None, :]) * jnp.sqrt(weights)[:, None]
    cov = centred.T @ centred / (count - 1.0)
    cov = 0.5 * (cov + cov.T)
    cov = (cov + sigma_y**2 * jnp.eye(n_times, dtype=ysim.dtype)) / J_prime
    cov = cov + jitter * jnp.mean(jnp.diag(cov)) * jnp.eye(n_times, dtype=ysim.dtype)
    return _mvn_logpdf(ybar, mean, cov)


def _mvn_logpdf(y: jax.Array, mean: jax.Array, cov: jax.Array) -> jax.Array:
    """Gaussian log density through a Cholesky factor; ``-inf`` if the factor fails."""
    chol = jnp.linalg.cholesky(cov)
    resid = solve_triangular(chol, y - mean, lower=True)
    logdet = 2.0 * jnp.sum(jnp.log(jnp.diag(chol)))
    value = -0.5 * (y.shape[0] * jnp.log(2.0 * jnp.pi) + logdet + resid @ resid)
    return jnp.where(jnp.isfinite(value), value, -jnp.inf)


def mvn_average_loglik(
    ybar: jax.Array,
    trajectory: Trajectory,
    params: Any,
    xi: jax.Array,
    *,
    sigma_y: jax.Array | float,
    J_prime: jax.Array | float,
    mask: jax.Array | None = None,
    jitter: float = 1e-10,
) -> jax.Array:
    """Simulated MVN log-likelihood of published averages for any trajectory function.

    ``l~ = log MVN(ybar'; M~, (S~ + sigma_y^2 I) / J')`` with ``M~, S~`` the (masked) mean
    and covariance of ``trajectory(params, xi_j)`` over the rows ``xi_j`` of ``xi``
    (Weber et al. 2018, section 3.2).

    Parameters
    ----------
    ybar
        Published averages, shape ``(T',)``.
    trajectory
        Pure JAX function ``(params, xi_j) -> (T',)``: the noise-free curve of a patient
        with standardised random effects ``xi_j`` under population parameters ``params``
        (any pytree; include the external design, e.g. visit times, in it or close over it).
    params
        Population parameters of the external trial (already shifted by ``delta``).
    xi
        Fixed standardised random effects, shape ``(J_tilde, ...)``; drawn once before
        inference and never resampled (resampling makes the target noisy and breaks HMC).
    sigma_y, J_prime, mask, jitter
        See :func:`simulated_mvn_logpdf`.

    Returns
    -------
    jax.Array
        The scalar approximate log-likelihood, differentiable in ``params`` and ``sigma_y``.
    """
    check_averages(ybar)
    ysim = simulate_trajectories(trajectory, params, xi)
    if ysim.ndim != 2 or ysim.shape[1] != ybar.shape[0]:
        raise ValueError(
            f"trajectory returned curves of shape {ysim.shape[1:]} per patient; expected "
            f"({ybar.shape[0]},), one value per published average"
        )
    return simulated_mvn_logpdf(ybar, ysim, sigma_y, J_prime, mask=mask, jitter=jitter)


def draw_xi(key: jax.Array, n_simulated: int, n_effects: int, *, dtype: Any = None) -> jax.Array:
    """Standard normal ``xi`` of shape ``(n_simulated, n_effects)`` from an explicit key."""
    return jax.random.normal(key, (n_simulated, n_effects), dtype=dtype or jnp.result_type(float))
