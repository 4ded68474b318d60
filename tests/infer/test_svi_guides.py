"""SVI refuses a user guide that leaves latent sites at their prior (issue 11)."""

from __future__ import annotations

import numpy as np
import numpyro
import numpyro.distributions as dist
import pytest
from numpyro.distributions import constraints

import bayesuq


def model(y=None):
    mu = numpyro.sample("mu", dist.Normal(0.0, 5.0))
    sigma = numpyro.sample("sigma", dist.HalfNormal(2.0))
    with numpyro.plate("obs", 5):
        numpyro.sample("y", dist.Normal(mu, sigma), obs=y)


def guide_missing_sigma(y=None):
    loc = numpyro.param("loc", 0.0)
    numpyro.sample("mu", dist.Normal(loc, 1.0))


def guide_empty(y=None):
    numpyro.param("unused", 0.0)


def full_guide(y=None):
    loc = numpyro.param("loc", 0.0)
    scale = numpyro.param("scale", 1.0, constraint=constraints.positive)
    numpyro.sample("mu", dist.Normal(loc, scale))
    s_loc = numpyro.param("s_loc", 0.0)
    numpyro.sample("sigma", dist.LogNormal(s_loc, 0.3))


@pytest.mark.parametrize(
    ("guide", "missing"),
    [(guide_missing_sigma, r"\['sigma'\]"), (guide_empty, r"\['mu', 'sigma'\]")],
)
def test_a_guide_that_misses_latent_sites_is_refused(guide, missing):
    with pytest.raises(ValueError, match=f"latent site\\(s\\) {missing}; SVI would leave them"):
        bayesuq.svi(model, {"y": np.ones(5)}, guide=guide, steps=300, progress=False)


def test_a_guide_that_covers_the_model_fits():
    idata = bayesuq.svi(model, {"y": np.ones(5)}, guide=full_guide, steps=300, progress=False)
    assert set(idata.posterior.data_vars) == {"mu", "sigma"}
