"""Example models runnable from the command line (``bayesuq run <name>``)."""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

import jax
import jax.numpy as jnp
import numpy as np
import numpyro
import numpyro.distributions as dist

from bayesuq.data.loaders import load_eight_schools


def eight_schools_centered(sigma, y=None):
    """Eight schools, centred: ``theta_j ~ N(mu, tau)``, ``y_j ~ N(theta_j, sigma_j)``.

    The centred form has a funnel between ``tau`` and ``theta`` that NUTS cannot follow:
    expect divergent transitions (Gelman et al. 2013, Bayesian Data Analysis, sec. 5.5).
    """
    mu = numpyro.sample("mu", dist.Normal(0.0, 5.0))
    tau = numpyro.sample("tau", dist.HalfCauchy(5.0))
    with numpyro.plate("school", sigma.shape[0]):
        theta = numpyro.sample("theta", dist.Normal(mu, tau))
        numpyro.sample("y", dist.Normal(theta, sigma), obs=y)


def eight_schools_noncentered(sigma, y=None):
    """Eight schools, non-centred: ``theta_j = mu + tau * eta_j`` with ``eta_j ~ N(0, 1)``."""
    mu = numpyro.sample("mu", dist.Normal(0.0, 5.0))
    tau = numpyro.sample("tau", dist.HalfCauchy(5.0))
    with numpyro.plate("school", sigma.shape[0]):
        eta = numpyro.sample("eta", dist.Normal(0.0, 1.0))
        theta = numpyro.deterministic("theta", mu + tau * eta)
        numpyro.sample("y", dist.Normal(theta, sigma), obs=y)


def arma11(y):
    """ARMA(1,1): ``y_t = mu + phi y_{t-1} + theta err_{t-1} + err_t``, ``err_t ~ N(0, sigma)``.

    Priors as in the Stan User's Guide (time-series chapter), with the residual recursion
    ``err_1 = y_1 - (mu + phi mu)``, ``err_t = y_t - (mu + phi y_{t-1} + theta err_{t-1})``
    run by ``lax.scan``. With ``phi`` near 1 and ``theta`` near -1 (see
    :func:`simulate_arma11`), starting points with ``|theta| > 1`` make the residuals grow
    geometrically and can leave a chain with a collapsed step size after warm-up.
    """
    mu = numpyro.sample("mu", dist.Normal(0.0, 10.0))
    phi = numpyro.sample("phi", dist.Normal(0.0, 2.0))
    theta = numpyro.sample("theta", dist.Normal(0.0, 2.0))
    sigma = numpyro.sample("sigma", dist.HalfCauchy(2.5))
    y = jnp.asarray(y)
    err0 = y[0] - (mu + phi * mu)

    def step(err_prev, t):
        err = y[t] - (mu + phi * y[t - 1] + theta * err_prev)
        return err, err

    _, errs = jax.lax.scan(step, err0, jnp.arange(1, y.shape[0]))
    numpyro.sample("err", dist.Normal(0.0, sigma), obs=jnp.concatenate([err0[None], errs]))


def simulate_arma11(
    *,
    seed: int = 1,
    length: int = 300,
    mu: float = 0.5,
    phi: float = 0.999,
    theta: float = -0.8,
    burn_in: int = 100,
) -> np.ndarray:
    """Simulate an ARMA(1,1) series (defaults: a near-unit-root AR coefficient)."""
    rng = np.random.default_rng(seed)
    noise = rng.normal(size=length + burn_in)
    y = np.zeros(length + burn_in)
    for t in range(1, length + burn_in):
        y[t] = mu + phi * y[t - 1] + theta * noise[t - 1] + noise[t]
    return y[burn_in:]


@dataclass(frozen=True)
class Example:
    """A bundled model with its data and recommended sampler settings."""

    model: Callable
    data: Callable[[], dict[str, Any]]
    description: str
    settings: dict[str, Any]


def _eight_schools_data() -> dict[str, Any]:
    frame = load_eight_schools()
    return {"sigma": frame["sigma"], "y": frame["y"]}


EXAMPLES: dict[str, Example] = {
    "eight_schools": Example(
        eight_schools_noncentered,
        _eight_schools_data,
        "Eight schools, non-centred hierarchical normal model (Rubin 1981)",
        {"target_accept": 0.9},
    ),
    "eight_schools_centered": Example(
        eight_schools_centered,
        _eight_schools_data,
        "Eight schools, centred: a funnel that produces divergences (a diagnostics demo)",
        {},
    ),
    "arma11": Example(
        arma11,
        lambda: {"y": simulate_arma11()},
        "ARMA(1,1) with a near-unit-root AR coefficient (phi=0.999, theta=-0.8, T=300)",
        {},
    ),
}
