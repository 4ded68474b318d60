"""The conjugate normal model, whose martingale posterior is the Bayes posterior.

Model ``y ~ N(theta, 1)`` with prior ``theta ~ N(0, 1)``; posterior mean after ``i``
observations ``theta_i = sum_{j<=i} y_j / (i + 1)`` and predictive
``P_i = N(theta_i, 1 + 1/(i + 1))``. Predictive resampling draws
``Y_{i+1} ~ P_i`` and updates ``theta_{i+1} = ((i + 1) theta_i + Y_{i+1}) / (i + 2)``; then
exactly ``theta_N ~ N(theta_n, 1/(n + 1) - 1/(N + 1))``, which tends to the Bayes posterior
``N(theta_n, 1/(n + 1))`` (Fong, Holmes & Walker 2023, Section 2.3 and Figure 1).
"""

from __future__ import annotations

from typing import Any

import arviz as az
import jax
import jax.numpy as jnp
import numpy as np

from bayesuq.infer.arguments import check_int
from bayesuq.models.martingale.engine import martingale_result, resample_with_convergence_check
from bayesuq.precision import computing_in, resolve_precision


def normal_demo_data() -> np.ndarray:
    """The paper's demo: NumPy legacy ``seed(100)``, ``y = randn(10) + 2`` (theta_n = 1.8369)."""
    return np.random.RandomState(100).randn(10) + 2.0


def normal_step(params: Any, theta: jax.Array, key: jax.Array, k: jax.Array) -> jax.Array:
    """One forward step: ``Y_k ~ N(theta_{k-1}, 1 + 1/k)``, then the posterior-mean update.

    ``theta_k = (k theta_{k-1} + Y_k) / (k + 1)``: the conjugate predictive update with
    prior ``N(0, 1)`` and unit noise (Fong, Holmes & Walker 2023, Section 2.3).
    """
    del params
    kf = k.astype(theta.dtype)
    y = theta + jnp.sqrt(1.0 + 1.0 / kf) * jax.random.normal(key, dtype=theta.dtype)
    return (kf * theta + y) / (kf + 1.0)


def normal_theta(params: Any, theta: jax.Array) -> dict[str, jax.Array]:
    """The functional: the predictive mean ``theta``."""
    del params
    return {"theta": theta}


def normal_exact(y: Any, steps: int | None = None) -> tuple[float, float]:
    """Exact mean and variance of ``theta_{n+T}`` (``steps=None``: the Bayes posterior).

    ``theta_{n+T} ~ N(theta_n, 1/(n + 1) - 1/(n + T + 1))`` with
    ``theta_n = sum_j y_j / (n + 1)`` (Fong, Holmes & Walker 2023, Section 2.3).
    """
    y = np.asarray(y, dtype=float)
    n = y.size
    var = 1.0 / (n + 1) - (0.0 if steps is None else 1.0 / (n + steps + 1))
    return float(y.sum() / (n + 1)), var


def normal_distance(params: Any, theta: jax.Array, theta_n: jax.Array) -> jax.Array:
    """``|theta_k - theta_n|`` (the convergence check's distance)."""
    del params
    return jnp.abs(theta - theta_n)


def normal_martingale_posterior(
    y: Any,
    *,
    steps: int = 1000,
    draws: int = 5000,
    seed: int = 0,
    chunk: int = 1000,
    convergence_steps: int | None = None,
    convergence_threshold: float | None = None,
    precision: str | None = None,
) -> az.InferenceData:
    """Martingale posterior of ``theta`` by predictive resampling of the conjugate predictive.

    Parameters
    ----------
    y
        Observations, shape ``(n,)``.
    steps, draws
        ``T = N - n`` forward steps and ``B`` paths (the paper: 1000 and 5000).
    seed
        Non-negative integer seed.
    convergence_steps, convergence_threshold
        The convergence check of
        :meth:`~bayesuq.models.martingale.CopulaDensity.predictive_resample` with the
        distance ``|theta_k - theta_n|``.
    precision
        ``None`` (float32), ``"float32"`` or ``"float64"``.

    Returns
    -------
    arviz.InferenceData
        ``inference="martingale"``, ``estimator="normal"``; ``posterior["theta"]`` with dims
        ``(chain=1, draw=B)``; ``attrs`` hold ``theta_n``, the exact mean and variance of
        ``theta_N`` and the convergence figures.
    """
    y = np.asarray(y, dtype=float)
    if y.ndim != 1 or y.size < 1 or not np.all(np.isfinite(y)):
        raise ValueError(f"y must be a finite 1-d array, got shape {y.shape}")
    seed = check_int("seed", seed, minimum=0)
    mean, var = normal_exact(y, steps)
    with computing_in(resolve_precision(precision, "float32")):
        out, convergence, seconds = resample_with_convergence_check(
            normal_step,
            normal_theta,
            normal_distance,
            (),
            jnp.asarray(mean),
            key=jax.random.PRNGKey(seed),
            steps=steps,
            draws=draws,
            start=y.size,
            chunk=chunk,
            convergence_steps=convergence_steps,
            convergence_threshold=convergence_threshold,
        )
        return martingale_result(
            out,
            estimator="normal",
            seed=seed,
            seconds=seconds,
            observed_data={"y": y},
            dims={"y": ["observation"]},
            attrs={
                "steps": steps,
                "draws": draws,
                "theta_n": mean,
                "exact_variance": var,
                "bayes_variance": 1.0 / (y.size + 1),
                **convergence,
            },
        )
