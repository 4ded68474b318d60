"""Quadratic surrogates of an episode's summed NLL: ``l(theta) ~ 1/2 (theta - m)^T A (theta - m)``.

NIW-Meta replaces each episode's loss by a quadratic around a point ``m_bar`` with curvature
``A_bar`` (spec section 2, step 1), both under ``stop_gradient``: gradients reach the global
parameters only through the closed-form local posterior, so memory is flat in the number of
inner steps (Kim & Hospedales, ICLR 2024, Fig. 5). Three ways to build it:

* :func:`sgld_surrogate` - the paper's (as the third-party port reads it, ``[P]``): SGLD
  iterates from the current weights, ``theta <- theta - (eta/2) grad l + sqrt(eta) eps``,
  ``eta = step_scale / N``; ``m_bar`` = mean of the iterates ``t >= burnin``, ``A_bar`` =
  1 / (their unbiased per-coordinate variance), clipped to ``[1e-4, curvature_max]``
  (``1e-4`` when fewer than two iterates are kept). Welford sums inside ``lax.scan``, so no
  iterate is stored.
* :func:`laplace_surrogate` - ours (``[D]``): ``steps`` noise-free gradient steps of the same
  size from the current weights, then the diagonal generalised Gauss-Newton matrix there.
* :func:`exact_surrogate` - ours: the Hessian, its eigenvalues clipped to
  ``[1e-4, curvature_max]``, and the Newton point ``m_bar = theta0 - A^-1 grad l(theta0)``
  (exact for a quadratic loss; small ``D`` only).

Each returns ``(m_bar, A_bar)`` with ``A_bar`` a vector ``(D,)`` (diagonal) or, for
``exact_surrogate(..., full=True)``, a matrix ``(D, D)``.
"""

from __future__ import annotations

from collections.abc import Callable

import jax
import jax.numpy as jnp

CURVATURE_MIN = 1e-4

__all__ = ["CURVATURE_MIN", "exact_surrogate", "laplace_surrogate", "sgld_surrogate"]

Loss = Callable[[jax.Array], jax.Array]


def sgld_surrogate(
    loss: Loss,
    theta0: jax.Array,
    key: jax.Array,
    *,
    steps: int,
    burnin: int,
    step_size: jax.Array | float,
    curvature_max: float,
) -> tuple[jax.Array, jax.Array]:
    """Gaussian fit to SGLD iterates on ``exp(-loss)`` (Welling & Teh 2011; spec section 2).

    .. math::

        \\theta_{t+1} = \\theta_t - \\tfrac{\\eta}{2}\\nabla\\ell(\\theta_t)
        + \\sqrt{\\eta}\\,\\varepsilon_t,\\quad \\varepsilon_t \\sim N(0, I),

    over ``t = 0, ..., steps - 1`` from ``theta0``; the iterates ``theta_{t+1}`` with
    ``t >= burnin`` are kept. ``m_bar`` is their mean and ``A_bar = 1 / s^2`` (``s^2`` the
    unbiased per-coordinate variance), clipped to ``[1e-4, curvature_max]``.

    Parameters
    ----------
    loss
        ``theta -> summed NLL`` of the episode.
    theta0
        Start (the current global mean), shape ``(D,)``; gradients do not flow through it.
    key
        PRNG key of the noise.
    steps, burnin
        Number of SGLD steps and of leading iterates discarded.
    step_size
        ``eta`` (the spec's ``alp / N``).
    curvature_max
        Upper clip of ``A_bar`` (the spec's ``ai_max``).

    Returns
    -------
    (m_bar, A_bar)
        Both ``(D,)`` and under ``stop_gradient``.
    """
    theta0 = jax.lax.stop_gradient(theta0)
    grad = jax.grad(loss)
    eta = jnp.asarray(step_size, theta0.dtype)
    zeros = jnp.zeros_like(theta0)

    def step(carry, inputs):
        theta, count, mean, m2 = carry
        t, k = inputs
        noise = jax.random.normal(k, theta.shape, theta.dtype)
        theta = theta - 0.5 * eta * grad(theta) + jnp.sqrt(eta) * noise
        keep = (t >= burnin).astype(theta.dtype)
        count = count + keep
        delta = theta - mean
        mean = mean + keep * delta / jnp.maximum(count, 1.0)
        m2 = m2 + keep * delta * (theta - mean)
        return (theta, count, mean, m2), None

    init = (theta0, jnp.zeros((), theta0.dtype), zeros, zeros)
    inputs = (jnp.arange(steps), jax.random.split(key, steps))
    (_, count, mean, m2), _ = jax.lax.scan(step, init, inputs)
    var = m2 / jnp.maximum(count - 1.0, 1.0)
    precision = jnp.clip(1.0 / jnp.maximum(var, 1e-30), CURVATURE_MIN, curvature_max)
    precision = jnp.where(count >= 2, precision, CURVATURE_MIN)
    mean = jnp.where(count >= 1, mean, theta0)
    return jax.lax.stop_gradient(mean), jax.lax.stop_gradient(precision)


def laplace_surrogate(
    loss: Loss,
    ggn_diag: Callable[[jax.Array], jax.Array],
    theta0: jax.Array,
    *,
    steps: int,
    step_size: jax.Array | float,
    curvature_max: float,
) -> tuple[jax.Array, jax.Array]:
    """Diagonal Gauss-Newton Laplace fit after ``steps`` gradient steps (ours, ``[D]``).

    ``theta_{t+1} = theta_t - (eta/2) grad l(theta_t)`` from ``theta0`` (the SGLD drift
    without noise), ``m_bar = theta_steps`` and ``A_bar = clip(diag GGN(m_bar), 1e-4,
    curvature_max)`` (MacKay 1992; Martens 2014 for the generalised Gauss-Newton matrix).
    ``m_bar`` is a few-step approximation of the minimiser, not the minimiser of a quadratic
    model: a Newton correction ``- g / A_bar`` with the diagonal Gauss-Newton matrix took
    steps of size ``|g| / (n0 gamma0)`` in flat directions and failed on the sine-line tasks.

    Parameters
    ----------
    loss
        ``theta -> summed NLL``.
    ggn_diag
        ``theta -> sum_n diag(J_n^T H_n J_n)`` for the same points.
    theta0, steps, step_size, curvature_max
        As in :func:`sgld_surrogate`.
    """
    theta0 = jax.lax.stop_gradient(theta0)
    grad = jax.grad(loss)
    eta = jnp.asarray(step_size, theta0.dtype)

    def step(theta, _):
        return theta - 0.5 * eta * grad(theta), None

    theta, _ = jax.lax.scan(step, theta0, None, length=steps)
    precision = jnp.clip(ggn_diag(theta), CURVATURE_MIN, curvature_max)
    return jax.lax.stop_gradient(theta), jax.lax.stop_gradient(precision)


def exact_surrogate(
    loss: Loss,
    theta0: jax.Array,
    *,
    curvature_max: float,
    full: bool = False,
) -> tuple[jax.Array, jax.Array]:
    """Second-order Taylor expansion with a Newton step (exact for a quadratic loss).

    ``H = hess l(theta0)`` with its eigenvalues clipped to ``[1e-4, curvature_max]``,
    ``m_bar = theta0 - H^-1 grad l(theta0)``; ``A_bar = H`` (``full=True``) or the clipped
    ``diag(hess l(theta0))`` (``full=False``). For the linear-Gaussian tasks with orthogonal
    designs this is the exact likelihood: ``A_bar = X^T X / sigma^2``, ``m_bar`` the least
    squares solution (spec section 6). Cost ``O(D^3)``: small ``D`` only.
    """
    theta0 = jax.lax.stop_gradient(theta0)
    g = jax.grad(loss)(theta0)
    hess = jax.hessian(loss)(theta0)
    hess = 0.5 * (hess + hess.T)
    eigval, eigvec = jnp.linalg.eigh(hess)
    eigval = jnp.clip(eigval, CURVATURE_MIN, curvature_max)
    step = eigvec @ ((eigvec.T @ g) / eigval)
    mean = theta0 - step
    if full:
        precision = (eigvec * eigval[None, :]) @ eigvec.T
    else:
        precision = jnp.clip(jnp.diagonal(hess), CURVATURE_MIN, curvature_max)
    return jax.lax.stop_gradient(mean), jax.lax.stop_gradient(precision)
