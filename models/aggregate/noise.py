"""Simulation-noise studies of the approximate log-likelihood (Weber et al. 2018, sec. 4.1).

With ``R`` independent sets of ``xi`` the spread of ``l~`` at fixed parameters measures the
simulation noise. Study A (:func:`noise_band`) plots the 10/50/90 % quantiles of ``l~``
along a parameter grid over the exact log-likelihood; study B (:func:`noise_study`) shows
that the width ``w = q90 - q10`` of the 80 % interval shrinks like ``J_tilde^(-1/2)``:

    log10 w = a + b log10 J_tilde,   b ~ -1/2.

Different ``J_tilde`` share one compiled program: ``xi`` is padded to the largest
``J_tilde`` and the extra rows are masked out (masked moments, see
:func:`~bayesuq.models.aggregate.simulated_mvn_logpdf`).
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from dataclasses import dataclass

import jax
import jax.numpy as jnp
import numpy as np

from bayesuq.infer.arguments import check_int

LogLik = Callable[[jax.Array, jax.Array], jax.Array]
"""``loglik(xi, mask) -> scalar``: the approximate log-likelihood at fixed parameters."""


@dataclass(frozen=True)
class NoiseStudy:
    """Result of :func:`noise_study`.

    Attributes
    ----------
    J_tildes
        Numbers of simulated patients.
    quantiles
        ``(len(J_tildes), 3)`` 10/50/90 % quantiles of ``l~`` over the replicates.
    width
        ``q90 - q10`` per ``J_tilde``.
    slope, intercept
        Free least-squares fit ``log10 width = intercept + slope log10 J_tilde``.
    intercept_fixed
        Intercept of the fit with the slope fixed at -1/2 (as in the paper).
    """

    J_tildes: np.ndarray
    quantiles: np.ndarray
    width: np.ndarray
    slope: float
    intercept: float
    intercept_fixed: float


def _replicate_values(loglik: Callable, *, batch_size: int) -> Callable:
    """A jitted ``(xi, mask) -> l~ per replicate``; ``xi`` is ``(R, n_max, n_effects)``."""

    @jax.jit
    def values(xi, mask):
        return jax.lax.map(lambda x: loglik(x, mask), xi, batch_size=batch_size)

    return values


def noise_study(
    loglik: LogLik,
    *,
    n_effects: int,
    J_tildes: Sequence[int],
    replicates: int = 1000,
    seed: int = 0,
    batch_size: int = 50,
) -> NoiseStudy:
    """Width of the 80 % interval of ``l~`` over ``replicates`` ``xi`` sets, per ``J_tilde``.

    Parameters
    ----------
    loglik
        Pure JAX ``(xi, mask) -> scalar`` with ``xi`` of shape ``(max(J_tildes), n_effects)``
        and ``mask`` of shape ``(max(J_tildes),)``, e.g. a closure over
        :func:`~bayesuq.models.aggregate.mvn_average_loglik` at fixed parameters.
    n_effects
        Random effects per simulated patient.
    J_tildes
        Increasing numbers of simulated patients (each greater than the number of times).
    replicates
        Independent ``xi`` sets per ``J_tilde``.
    seed
        Integer seed; level ``i`` uses ``fold_in(key(seed), i)``.
    batch_size
        Replicates evaluated together (memory ~ batch_size x max(J_tildes) x T').

    Returns
    -------
    NoiseStudy
    """
    levels = np.asarray(J_tildes)
    if levels.ndim != 1 or levels.size < 2 or levels.dtype.kind not in "iu" or np.any(levels < 2):
        raise ValueError(f"J_tildes={J_tildes!r}; expected at least two integers >= 2")
    replicates = check_int("replicates", replicates, minimum=2)
    n_effects = check_int("n_effects", n_effects, minimum=1)
    batch_size = check_int("batch_size", batch_size, minimum=1)
    n_max = int(levels.max())
    base = jax.random.key(seed)
    dtype = jnp.result_type(float)
    values = _replicate_values(loglik, batch_size=batch_size)
    quantiles = []
    for i, level in enumerate(levels):
        xi = jax.random.normal(
            jax.random.fold_in(base, i), (replicates, n_max, n_effects), dtype=dtype
        )
        mask = (jnp.arange(n_max) < level).astype(dtype)
        out = np.asarray(values(xi, mask))
        if not np.all(np.isfinite(out)):
            raise RuntimeError(
                f"non-finite approximate log-likelihood at J_tilde={level} in "
                f"{int(np.sum(~np.isfinite(out)))} of {replicates} replicates"
            )
        quantiles.append(np.quantile(out, [0.1, 0.5, 0.9]))
    quantiles = np.asarray(quantiles)
    width = quantiles[:, 2] - quantiles[:, 0]
    lx, ly = np.log10(levels), np.log10(width)
    slope, intercept = np.polyfit(lx, ly, 1)
    return NoiseStudy(
        J_tildes=levels,
        quantiles=quantiles,
        width=width,
        slope=float(slope),
        intercept=float(intercept),
        intercept_fixed=float(np.mean(ly + 0.5 * lx)),
    )


def noise_band(
    loglik: Callable[[jax.Array, jax.Array, jax.Array], jax.Array],
    grid: jax.Array,
    *,
    n_simulated: int,
    n_effects: int,
    replicates: int = 1000,
    seed: int = 0,
    batch_size: int = 50,
) -> np.ndarray:
    """10/50/90 % quantiles of ``l~(theta)`` over ``replicates`` ``xi`` sets along a grid.

    ``loglik(theta, xi, mask)`` is evaluated for every ``theta`` in ``grid`` (leading axis)
    and every replicate; returns an array ``(len(grid), 3)``. Runs in the caller's
    precision (the aggregate study wraps it in the family's float64).
    """
    n_simulated = check_int("n_simulated", n_simulated, minimum=2)
    replicates = check_int("replicates", replicates, minimum=2)
    xi = jax.random.normal(
        jax.random.key(seed), (replicates, n_simulated, n_effects), dtype=jnp.result_type(float)
    )
    mask = jnp.ones((n_simulated,), dtype=xi.dtype)
    grid = jnp.asarray(grid)

    @jax.jit
    def values(grid, xi):
        over_grid = jax.vmap(lambda theta, x: loglik(theta, x, mask), in_axes=(0, None))
        return jax.lax.map(lambda x: over_grid(grid, x), xi, batch_size=batch_size)

    out = np.asarray(values(grid, xi))  # (replicates, grid)
    return np.quantile(out, [0.1, 0.5, 0.9], axis=0).T
