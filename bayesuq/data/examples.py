"""Example models runnable from the command line (``bayesuq run <name>``)."""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

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
}
