"""Stationarising features ``phi_D(x)`` of DEUP's error predictor.

Lahlou et al. (2023, Section 3.2) regress the main predictor's out-of-sample errors on
features that *describe the data set* ``D`` the predictor was trained on, so that errors
logged under an earlier ``D`` remain valid training targets after ``D`` grows. The
features, by name:

``"x"``
    the raw input (``d`` columns);
``"seen"``
    1 if ``x`` is within ``1e-5`` of a training input, else 0;
``"density"``
    ``log(alpha KDE_h(x) + (1 - alpha) N(x; m, S))``, a Gaussian KDE (bandwidth ``h = 0.1``)
    smoothed by one Gaussian fitted to ``D`` (``alpha = 0.3``), MinMax-scaled over the
    domain sample and ``D``;
``"variance"``
    ``log V(x; D)``, the log latent variance of an exact GP fitted to ``D``, MinMax-scaled
    over a fixed domain sample;
``"raw_variance"``
    ``V(x; D)`` itself, MinMax-scaled over the domain sample (the paper's SMO runs used
    ``("x", "raw_variance")``: the authors' variance feature is not logged there; their
    TuRBO runs used the unscaled log variance);
``"distance"``
    the Euclidean distance to the nearest training input.

A :class:`FeatureModel` holds what the features need (a pytree of arrays, built by
:func:`feature_model` once per data set); :func:`features` evaluates them at one point.
Both are pure JAX and fixed-shape (masked rows).
"""

from __future__ import annotations

import math
from typing import NamedTuple

import jax
import jax.numpy as jnp
import numpy as np

from bayesuq.models.deup.gp import GPPosterior

__all__ = [
    "FEATURES",
    "FeatureModel",
    "check_features",
    "domain_sample",
    "feature_model",
    "feature_width",
    "features",
]

FEATURES = ("x", "seen", "density", "variance", "raw_variance", "distance")
"""The feature names (see the module docstring)."""

SEEN_TOLERANCE = 1e-5
KDE_BANDWIDTH = 0.1
KDE_WEIGHT = 0.3
_VARIANCE_FLOOR = 1e-12


def check_features(names) -> tuple[str, ...]:
    """``names`` as a tuple of known, distinct feature names (raises ``ValueError``)."""
    if isinstance(names, str):
        names = (names,)
    names = tuple(names)
    unknown = [n for n in names if n not in FEATURES]
    if not names or unknown or len(set(names)) != len(names):
        raise ValueError(
            f"features must be a non-empty sequence of distinct names from {list(FEATURES)}, "
            f"got {names!r}"
        )
    return names


def feature_width(names: tuple[str, ...], d: int) -> int:
    """Number of feature columns: ``d`` for ``"x"``, 1 for each other feature."""
    return sum(d if n == "x" else 1 for n in names)


def needs_gp(names: tuple[str, ...]) -> bool:
    """Whether the features use the GP's variance."""
    return "variance" in names or "raw_variance" in names


def domain_sample(lower, upper, *, points: int = 1000, seed: int = 0) -> np.ndarray:
    """The fixed domain sample the MinMax scalings are fitted on.

    1-D: the grid ``lower, lower + (upper - lower) / 300, ..., upper`` (301 points; for
    ``[-1, 2]`` the authors' ``-1:0.01:2``); ``d >= 2``: ``points`` uniform points from a
    fixed seed (as the authors' 1000 uniform points).
    """
    lower = np.asarray(lower, float)
    upper = np.asarray(upper, float)
    if lower.ndim != 1 or lower.shape != upper.shape or not np.all(upper > lower):
        raise ValueError(
            f"domain bounds must be (d,) arrays with upper > lower, got {lower}, {upper}"
        )
    if lower.shape[0] == 1:
        return np.linspace(lower[0], upper[0], 301)[:, None]
    rng = np.random.default_rng(seed)
    return lower + (upper - lower) * rng.uniform(size=(points, lower.shape[0]))


class FeatureModel(NamedTuple):
    """What the features of one data set ``D`` need (a pytree; unused parts are empty)."""

    X: jax.Array  # (N, d) inputs of D (masked rows ignored)
    mask: jax.Array  # (N,)
    gp: GPPosterior | None  # GP on D, for the variance features
    variance_range: jax.Array  # (2,) min and max of V over the domain sample
    log_variance_range: jax.Array  # (2,) min and max of log V over the domain sample
    density_range: jax.Array  # (2,) min and max of log density over domain and D
    gauss_mean: jax.Array  # (d,)
    gauss_chol: jax.Array  # (d, d)


def _log_density(fm: FeatureModel, x: jax.Array) -> jax.Array:
    """``log(alpha KDE_h(x) + (1 - alpha) N(x; m, S))`` over the valid rows of ``D``."""
    d = x.shape[-1]
    h = KDE_BANDWIDTH
    sq = jnp.sum((fm.X - x[None, :]) ** 2, axis=-1)
    log_kernel = -0.5 * sq / h**2 - d * math.log(h) - 0.5 * d * math.log(2 * math.pi)
    n = jnp.maximum(jnp.sum(fm.mask), 1)
    log_kde = jax.nn.logsumexp(jnp.where(fm.mask, log_kernel, -jnp.inf)) - jnp.log(n)
    z = jax.scipy.linalg.solve_triangular(fm.gauss_chol, x - fm.gauss_mean, lower=True)
    log_det = jnp.sum(jnp.log(jnp.diag(fm.gauss_chol)))
    log_gauss = -0.5 * jnp.sum(z**2) - log_det - 0.5 * d * math.log(2 * math.pi)
    return jnp.logaddexp(math.log(KDE_WEIGHT) + log_kde, math.log(1 - KDE_WEIGHT) + log_gauss)


def _scale(value: jax.Array, bounds: jax.Array) -> jax.Array:
    lo, hi = bounds[0], bounds[1]
    return (value - lo) / jnp.where(hi > lo, hi - lo, 1.0)


def _variance(fm: FeatureModel, x: jax.Array) -> jax.Array:
    return jnp.maximum(fm.gp.predict_one(x)[1], _VARIANCE_FLOOR)


def feature_model(
    names: tuple[str, ...],
    X: jax.Array,
    mask: jax.Array,
    gp: GPPosterior | None,
    domain: jax.Array,
) -> FeatureModel:
    """Build the :class:`FeatureModel` of data set ``(X, mask)``.

    Parameters
    ----------
    names
        Feature names (static).
    X, mask
        Inputs of ``D`` (``(N, d)``) and which rows are valid.
    gp
        The GP fitted on ``D`` (for ``"variance"``/``"raw_variance"``), else ``None``.
    domain
        ``(M, d)`` fixed domain sample for the MinMax scalings.
    """
    d = X.shape[1]
    weights = mask.astype(X.dtype)
    n = jnp.maximum(jnp.sum(weights), 1.0)
    mean = jnp.sum(weights[:, None] * X, axis=0) / n
    centred = (X - mean[None, :]) * weights[:, None]
    cov = centred.T @ centred / n + 1e-6 * jnp.eye(d, dtype=X.dtype)
    fm = FeatureModel(
        X=X,
        mask=mask,
        gp=gp,
        variance_range=jnp.zeros(2, X.dtype),
        log_variance_range=jnp.zeros(2, X.dtype),
        density_range=jnp.zeros(2, X.dtype),
        gauss_mean=mean,
        gauss_chol=jnp.linalg.cholesky(cov),
    )
    if needs_gp(names):
        if gp is None:
            raise ValueError("the variance features need a GP")
        _, var = gp.predict(domain)
        var = jnp.maximum(var, _VARIANCE_FLOOR)
        fm = fm._replace(
            variance_range=jnp.stack([jnp.min(var), jnp.max(var)]),
            log_variance_range=jnp.log(jnp.stack([jnp.min(var), jnp.max(var)])),
        )
    if "density" in names:
        on_domain = jax.vmap(lambda x: _log_density(fm, x))(domain)
        on_data = jnp.where(mask, jax.vmap(lambda x: _log_density(fm, x))(X), jnp.nan)
        lo = jnp.minimum(jnp.min(on_domain), jnp.nanmin(on_data))
        hi = jnp.maximum(jnp.max(on_domain), jnp.nanmax(on_data))
        fm = fm._replace(density_range=jnp.stack([lo, hi]))
    return fm


def features(names: tuple[str, ...], fm: FeatureModel, x: jax.Array) -> jax.Array:
    """The feature vector ``phi_D(x)`` at one point ``x`` (``(d,)``), columns in ``names`` order."""
    columns = []
    distance_sq = None
    for name in names:
        if name == "x":
            columns.append(x)
            continue
        if name in ("seen", "distance") and distance_sq is None:
            sq = jnp.sum((fm.X - x[None, :]) ** 2, axis=-1)
            distance_sq = jnp.min(jnp.where(fm.mask, sq, jnp.inf))
        if name == "seen":
            value = (distance_sq < SEEN_TOLERANCE**2).astype(x.dtype)
        elif name == "distance":
            safe = jnp.where(distance_sq > 0, distance_sq, 1.0)
            value = jnp.where(distance_sq > 0, jnp.sqrt(safe), 0.0)
        elif name == "density":
            value = _scale(_log_density(fm, x), fm.density_range)
        elif name == "variance":
            value = _scale(jnp.log(_variance(fm, x)), fm.log_variance_range)
        else:  # raw_variance
            value = _scale(_variance(fm, x), fm.variance_range)
        columns.append(value[None])
    return jnp.concatenate(columns)
