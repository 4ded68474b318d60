"""The Bayesian bootstrap: the martingale posterior of the empirical predictive.

With the empirical predictive ``P_i = (1/i) sum_{j<=i} delta_{y_j}``, predictive resampling
is a Polya urn: each forward step copies a uniformly chosen existing value. After ``T``
steps datum ``j`` carries weight ``(1 + c_j) / (n + T)`` with
``c ~ DirichletMultinomial(T, 1_n)``; as ``T -> infinity`` the weights are
``Dirichlet(1, ..., 1)``, Rubin's (1981) Bayesian bootstrap (Fong, Holmes & Walker 2023,
Section 3.1). For the weighted mean, ``E = ybar`` and
``Var = s^2 T / ((n + 1)(n + T))`` with ``s^2 = (1/n) sum_j (y_j - ybar)^2``
(``Var -> s^2 / (n + 1)`` for the Dirichlet weights).
"""

from __future__ import annotations

from collections.abc import Callable, Mapping, Sequence
from typing import Any

import arviz as az
import jax
import jax.numpy as jnp
import numpy as np

from bayesuq.infer.arguments import check_choice, check_int
from bayesuq.models.martingale.engine import Timer, predictive_resample, to_inference_data

Statistic = Callable[[jax.Array, jax.Array], Any]


def weighted_mean(data: jax.Array, weights: jax.Array) -> jax.Array:
    """``sum_j w_j y_j`` over the first axis (the default statistic)."""
    return jnp.tensordot(weights, data, axes=1)


def dirichlet_weights(key: jax.Array, n: int, draws: int) -> jax.Array:
    """``draws x n`` Dirichlet(1, ..., 1) weights, as normalised standard exponentials."""
    e = jax.random.exponential(key, (draws, n))
    return e / e.sum(axis=1, keepdims=True)


def urn_step(params: Any, counts: jax.Array, key: jax.Array, k: jax.Array) -> jax.Array:
    """One Polya-urn step: copy datum ``j`` with probability ``counts_j / sum(counts)``."""
    del params, k
    j = jax.random.categorical(key, jnp.log(counts))
    return counts.at[j].add(1.0)


def urn_weights(params: Any, counts: jax.Array) -> dict[str, jax.Array]:
    """The functional of the urn: the normalised counts."""
    del params
    return {"weights": counts / counts.sum()}


def polya_urn_weights(key: jax.Array, n: int, draws: int, steps: int, chunk: int = 256):
    """Weights ``(1 + c_j) / (n + T)`` after ``steps`` urn steps, by predictive resampling."""
    counts0 = jnp.ones(n)
    out = predictive_resample(
        urn_step, urn_weights, (), counts0, key=key, steps=steps, draws=draws, start=n, chunk=chunk
    )
    return jnp.asarray(out["weights"])


def _dims_for(name: str, value: np.ndarray, dims: Sequence[str] | None) -> list[str]:
    extra = value.ndim - 1
    if dims is not None:
        if len(dims) != extra:
            raise ValueError(
                f"dims for {name!r} must name {extra} axes (the statistic's shape "
                f"{value.shape[1:]}), got {list(dims)}"
            )
        return list(dims)
    return [f"{name}_axis{i}" for i in range(extra)]


def bayesian_bootstrap(
    data: Any,
    statistic: Statistic = weighted_mean,
    *,
    draws: int = 1000,
    seed: int = 0,
    method: str = "dirichlet",
    steps: int = 1000,
    name: str = "statistic",
    dims: Sequence[str] | Mapping[str, Sequence[str]] | None = None,
    chunk: int = 256,
) -> az.InferenceData:
    """Martingale posterior of a weighted statistic under the empirical predictive.

    Parameters
    ----------
    data
        Array ``(n, ...)``; the first axis indexes observations.
    statistic
        JAX-traceable ``statistic(data, weights) -> array`` (or ``dict`` of arrays), with
        ``weights`` of shape ``(n,)`` summing to one; e.g. :func:`weighted_mean`, a weighted
        quantile or a weighted least-squares fit.
    draws
        ``B``, the number of posterior draws.
    seed
        Non-negative integer seed.
    method
        ``"dirichlet"``: Dirichlet(1, ..., 1) weights (the ``T -> infinity`` limit);
        ``"urn"``: ``steps`` Polya-urn predictive-resampling steps (``T = steps``).
    name, dims
        Posterior variable name and the dims of the statistic's axes (a mapping per key if
        the statistic returns a dict).

    Returns
    -------
    arviz.InferenceData
        ``posterior[name]`` with dims ``(chain=1, draw=B, ...)``; the data in
        ``observed_data["y"]``.
    """
    values = np.asarray(data, dtype=float)
    if values.ndim < 1 or values.shape[0] < 2:
        raise ValueError(
            f"data must have at least 2 observations on axis 0, got shape {values.shape}"
        )
    if not np.all(np.isfinite(values)):
        raise ValueError("data contains NaN or infinite values")
    method = check_choice("method", method, ("dirichlet", "urn"))
    draws = check_int("draws", draws, minimum=1)
    seed = check_int("seed", seed, minimum=0)
    n = values.shape[0]
    key = jax.random.PRNGKey(seed)
    with Timer() as timer:
        if method == "dirichlet":
            weights = dirichlet_weights(key, n, draws)
        else:
            weights = polya_urn_weights(key, n, draws, check_int("steps", steps, minimum=1), chunk)
        stats = jax.jit(jax.vmap(statistic, in_axes=(None, 0)))(jnp.asarray(values), weights)
        stats = jax.tree_util.tree_map(np.asarray, stats)
    out = stats if isinstance(stats, Mapping) else {name: stats}
    all_dims: dict[str, list[str]] = {}
    for key_name, value in out.items():
        given = dims.get(key_name) if isinstance(dims, Mapping) else dims
        if not np.all(np.isfinite(value)):
            raise ValueError(f"statistic returned non-finite values for {key_name!r}")
        all_dims[key_name] = _dims_for(key_name, value, given)
    all_dims["y"] = ["observation"] + [f"y_axis{i}" for i in range(values.ndim - 1)]
    return to_inference_data(
        out,
        dims=all_dims,
        observed_data={"y": values},
        attrs={
            "method": f"bayesian_bootstrap_{method}",
            "seed": seed,
            "draws": draws,
            "steps": steps if method == "urn" else "infinity",
            "sampling_seconds": timer.seconds,
        },
    )
