"""Improper flat priors (Stan parameters without a prior statement) and dependent bounds.

References are analytic: a flat-prior linear regression (kidiq ``kidscore_interaction``
style) has a multivariate-t marginal posterior for the coefficients centred on least
squares; a flat density on ``0 < a, 0 < b < 1 - a`` (``garch11`` style bounds) is uniform on
a triangle.
"""

from __future__ import annotations

import numpy as np
import numpyro
import numpyro.distributions as dist
import pytest
from numpyro.distributions import constraints
from tolerances import assert_moment

import bayesuq


def flat_regression(x, y):
    """``y ~ N(x beta, sigma)`` with ``beta`` flat on R^p and ``sigma`` flat on (0, inf)."""
    beta = numpyro.sample(
        "beta", dist.ImproperUniform(constraints.real_vector, (), event_shape=(x.shape[1],))
    )
    sigma = numpyro.sample("sigma", dist.ImproperUniform(constraints.positive, (), ()))
    with numpyro.plate("obs", x.shape[0]):
        numpyro.sample("y", dist.Normal(x @ beta, sigma), obs=y)


def test_flat_prior_regression_matches_the_analytic_posterior():
    """p(beta | y) ∝ RSS(beta)^{-(n-1)/2}: a t with n - p - 1 dof around least squares."""
    rng = np.random.default_rng(7)
    n, p = 40, 4
    mom_hs, mom_iq = rng.integers(0, 2, n), rng.normal(0, 1, n)
    x = np.column_stack([np.ones(n), mom_hs, mom_iq, mom_hs * mom_iq])
    y = x @ np.array([1.0, 0.5, -0.3, 0.2]) + rng.normal(0, 0.8, n)
    idata = bayesuq.nuts(
        flat_regression,
        {"x": x, "y": y},
        chains=4,
        draws=1000,
        warmup=500,
        seed=2,
        progress=False,
        chain_method="vectorized",
    )
    assert bayesuq.diagnose(idata).ok
    beta_hat, rss = np.linalg.lstsq(x, y, rcond=None)[:2]
    nu = n - p - 1
    sd = np.sqrt(nu / (nu - 2) * rss[0] / nu * np.diag(np.linalg.inv(x.T @ x)))
    draws = idata.posterior["beta"].values.reshape(-1, p)
    summary = bayesuq.diagnose(idata).table
    for j in range(p):
        mcse = summary.loc[f"beta[{j}]", "mcse_mean"]
        assert_moment(draws[:, j].mean(), beta_hat[j], mcse, name=f"beta[{j}] mean")
        # sd within 10% (MC error of an sd with ESS > 1000 is about 3%).
        assert abs(draws[:, j].std() / sd[j] - 1) < 0.1


def triangle(n=0):
    """Flat on 0 < a < 1, 0 < b < 1 - a: the upper bound of b depends on a."""
    a = numpyro.sample("a", dist.ImproperUniform(constraints.interval(0.0, 1.0), (), ()))
    numpyro.sample("b", dist.ImproperUniform(constraints.interval(0.0, 1.0 - a), (), ()))


@pytest.mark.parametrize("engine", [bayesuq.nuts, bayesuq.hmc])
def test_a_bound_that_depends_on_another_parameter_is_transformed_correctly(engine):
    """Uniform on the triangle: E a = E b = 1/3, var 1/18, cov(a, b) = -1/36; b < 1 - a."""
    idata = engine(
        triangle,
        {},
        chains=4,
        draws=1000,
        warmup=500,
        seed=5,
        progress=False,
        chain_method="vectorized",
    )
    a = idata.posterior["a"].values.ravel()
    b = idata.posterior["b"].values.ravel()
    assert np.all((a > 0) & (b > 0) & (a + b < 1))
    table = bayesuq.diagnose(idata).table
    for name, draws in (("a", a), ("b", b)):
        assert_moment(draws.mean(), 1 / 3, table.loc[name, "mcse_mean"], name=f"{name} mean")
        assert abs(draws.var() - 1 / 18) < 0.1 / 18
    assert abs(np.cov(a, b)[0, 1] + 1 / 36) < 0.15 / 36


def ordered_means_by_factor(y1, y2):
    """Two means, an ordered vector with a flat prior; one likelihood a factor (the
    posteriordb ``low_dim_gauss_mix`` pattern), one an observed value the model computes
    from its data (which the engine evaluates with the abstract trace's own program)."""
    mu = numpyro.sample(
        "mu", dist.ImproperUniform(constraints.ordered_vector, (), event_shape=(2,))
    )
    numpyro.factor("y1", dist.Normal(mu[0], 1.0).log_prob(y1).sum())
    with numpyro.plate("second", y2.shape[0]):  # an observed value computed in the model
        numpyro.sample("y2", dist.Normal(mu[1], 1.0), obs=1.0 * y2)


def test_an_improper_ordered_prior_with_factor_likelihoods_samples():
    """It used to fail before sampling (a concrete trace tried to sample the improper
    prior). Far-apart means: the ordering is inactive, so mu_k | y ~ N(mean(y_k), 1/n)."""
    rng = np.random.default_rng(11)
    y1, y2 = rng.normal(-3.0, 1.0, 25), rng.normal(3.0, 1.0, 25)
    idata = bayesuq.nuts(
        ordered_means_by_factor,
        {"y1": y1, "y2": y2},
        chains=2,
        draws=1000,
        warmup=500,
        seed=4,
        progress=False,
    )
    np.testing.assert_allclose(idata.observed_data["y2"].values, y2)  # computed in the model
    mu = idata.posterior["mu"].values.reshape(-1, 2)
    for k, y in enumerate((y1, y2)):
        sd = 1.0 / np.sqrt(len(y))
        assert_moment(mu[:, k].mean(), y.mean(), sd / np.sqrt(500.0), name=f"mu[{k}] mean")
        assert abs(mu[:, k].std() / sd - 1.0) < 0.15, (k, mu[:, k].std(), sd)
