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
from bayesuq.models.martingale.engine import Timer, martingale_result, predictive_resample
from bayesuq.precision import computing_in, resolve_precision

Statistic = Callable[[jax.Array, jax.Array], Any]


def weighted_mean(data: jax.Array, weights: jax.Array) -> jax.Array:
    """The weighted mean ``sum_j w_j y_j`` over the first axis (the default statistic).

    Under ``w ~ Dirichlet(1_n)`` it has mean ``ybar`` and variance ``s^2 / (n + 1)``
    (Rubin 1981; Fong, Holmes & Walker 2023, Section 3.1).
    """
    return jnp.tensordot(weights, data, axes=1)


def dirichlet_weights(key: jax.Array, n: int, draws: int) -> jax.Array:
    """``draws x n`` Dirichlet(1, ..., 1) weights: ``w_j = e_j / sum_l e_l``, ``e_j ~ Exp(1)``.

    The ``T -> infinity`` limit of the Polya-urn weights (Rubin 1981, "The Bayesian
    bootstrap", Ann. Statist. 9; Fong, Holmes & Walker 2023, Section 3.1).
    """
    e = jax.random.exponential(key, (draws, n))
    return e / e.sum(axis=1, keepdims=True)


def urn_step(params: Any, counts: jax.Array, key: jax.Array, k: jax.Array) -> jax.Array:
    """One Polya-urn step: copy datum ``j`` with probability ``counts_j / sum(counts)``.

    Predictive resampling under the empirical predictive ``P_i = (1/i) sum_j delta_{y_j}``
    (Fong, Holmes & Walker 2023, Section 3.1); ``counts`` start at ``1_n``.
    """
    del params, k
    j = jax.random.categorical(key, jnp.log(counts))
    return counts.at[j].add(1.0)


def urn_weights(params: Any, counts: jax.Array) -> dict[str, jax.Array]:
    """The functional of the urn: the weights ``(1 + c_j) / (n + T)`` (normalised counts)."""
    del params
    return {"weights": counts / counts.sum()}


def polya_urn_weights(key: jax.Array, n: int, draws: int, steps: int, chunk: int = 256):
    """Weights ``(1 + c_j) / (n + T)`` after ``T = steps`` urn steps, by predictive resampling.

    ``c ~ DirichletMultinomial(T, 1_n)`` (Fong, Holmes & Walker 2023, Section 3.1); as
    ``T -> infinity`` the weights tend to :func:`dirichlet_weights`.
    """
    counts0 = jnp.ones(n)
    out = predictive_resample(
        urn_step, urn_weights, (), counts0, key=key, steps=steps, draws=draws, start=n, chunk=chunk
    )
    return jnp.asarray(out["weights"])


def _dims_for(name: str, value: np.ndarray, dims: Sequence[str] | None) -> list[str]:
    """Dim names of a statistic's axes: the user's, or ``<name>_axis<i>``."""
    extra = value.ndim - 1
    if dims is not None:
        if len(dims) != extra:
            raise ValueError(
                f"dims for {name!r} must name {extra} axes (the statistic's shape "
                f"{value.shape[1:]}), got {list(dims)}"
            )
        return list(dims)
    return [f"{name}_axis{i}" for i in range(extra)]


SIGNATURE_HELP = (
    "statistic must be a JAX function statistic(data, weights) of the data (n, ...) and "
    "weights (n,) summing to one, e.g. lambda data, w: w @ data for the mean, or "
    "bayesuq.models.martingale.weighted_mean"
)


def _check_statistic(statistic: Any, data: jax.Array, weights: jax.Array) -> None:
    """Trace ``statistic(data, weights)`` once; refuse plain statistics with the signature.

    A plain statistic of the data (``np.mean``, ``np.median``) cannot see the weights: it
    fails under tracing or would return the same value for every draw.
    """
    if not callable(statistic):
        raise TypeError(f"{SIGNATURE_HELP}; got {statistic!r}")
    try:
        jax.eval_shape(lambda d, w: statistic(d, w), data, weights[0])
    except (jax.errors.JAXTypeError, TypeError, ValueError, IndexError) as err:
        name = getattr(statistic, "__name__", repr(statistic))
        raise TypeError(
            f"{SIGNATURE_HELP}; calling {name}(data, weights) on traced arrays failed "
            f"({type(err).__name__}: {str(err).splitlines()[0][:200]}). A plain statistic of "
            f"the data such as np.mean is not accepted: write its weighted form."
        ) from err


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
    precision: str | None = None,
) -> az.InferenceData:
    """Martingale posterior of a weighted statistic under the empirical predictive.

    Draw ``w^(b)`` (Dirichlet(1_n), or Polya-urn weights after ``steps`` steps) and record
    ``statistic(data, w^(b))`` for ``b = 1..B`` (Rubin 1981; Fong, Holmes & Walker 2023,
    Section 3.1).

    Parameters
    ----------
    data
        Array ``(n, ...)``; the first axis indexes observations.
    statistic
        JAX-traceable ``statistic(data, weights) -> array`` (or ``dict`` of arrays), with
        ``weights`` of shape ``(n,)`` summing to one; e.g. :func:`weighted_mean`, a weighted
        quantile or a weighted least-squares fit. A plain statistic of the data alone
        (``np.mean``) cannot use the weights and is refused with a ``TypeError``.
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
    precision
        ``None`` (float32), ``"float32"`` or ``"float64"``.

    Returns
    -------
    arviz.InferenceData
        ``attrs["inference"] = "bayesian_bootstrap"`` and ``attrs["estimator"]``
        ``"bayesian_bootstrap_dirichlet"`` or ``"..._urn"``; ``posterior[name]`` with dims
        ``(chain=1, draw=B, ...)``; the data in ``observed_data["y"]``.
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
    with computing_in(resolve_precision(precision, "float32")):
        key = jax.random.PRNGKey(seed)
        data_j = jnp.asarray(values)
        _check_statistic(statistic, data_j, jnp.full((1, n), 1.0 / n))
        with Timer() as timer:
            if method == "dirichlet":
                weights = dirichlet_weights(key, n, draws)
            else:
                steps = check_int("steps", steps, minimum=1)
                weights = polya_urn_weights(key, n, draws, steps, chunk)
            stats = jax.jit(jax.vmap(statistic, in_axes=(None, 0)))(data_j, weights)
            stats = jax.tree_util.tree_map(np.asarray, stats)
        out = stats if isinstance(stats, Mapping) else {name: stats}
        all_dims: dict[str, list[str]] = {}
        for key_name, value in out.items():
            given = dims.get(key_name) if isinstance(dims, Mapping) else dims
            if not np.all(np.isfinite(value)):
                raise ValueError(f"statistic returned non-finite values for {key_name!r}")
            all_dims[key_name] = _dims_for(key_name, value, given)
        all_dims["y"] = ["observation"] + [f"y_axis{i}" for i in range(values.ndim - 1)]
        return martingale_result(
            out,
            inference="bayesian_bootstrap",
            estimator=f"bayesian_bootstrap_{method}",
            seed=seed,
            seconds=timer.seconds,
            dims=all_dims,
            observed_data={"y": values},
            attrs={"draws": draws, "steps": steps if method == "urn" else "infinity"},
        )
