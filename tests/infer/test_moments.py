"""NUTS recovers known posterior moments, with tolerances derived from the MCSE."""

from __future__ import annotations

import arviz as az
import numpy as np
import numpyro
import numpyro.distributions as dist
from tolerances import assert_moment

import bayesuq


def _check_scalar(idata, name, mean, sd, index=None):
    draws = idata.posterior[name].values
    if index is not None:
        draws = draws[..., index]
    est_mean = float(draws.mean())
    est_sd = float(draws.std())
    mcse_mean = float(az.mcse(draws, method="mean"))
    mcse_sd = float(az.mcse(draws, method="sd"))
    assert_moment(est_mean, mean, mcse_mean, name=f"{name}[{index}] mean")
    assert_moment(est_sd, sd, mcse_sd, name=f"{name}[{index}] sd")


def test_normal_prior_only():
    def model():
        numpyro.sample("x", dist.Normal(1.5, 2.0))

    idata = bayesuq.nuts(model, seed=11, progress=False)
    assert bayesuq.diagnose(idata).ok
    _check_scalar(idata, "x", 1.5, 2.0)


def test_correlated_mvn_dense_mass():
    mean = np.array([1.0, -2.0, 0.5])
    sd = np.array([1.0, 3.0, 0.5])
    corr = np.array([[1.0, 0.9, -0.5], [0.9, 1.0, -0.3], [-0.5, -0.3, 1.0]])
    cov = corr * np.outer(sd, sd)

    def model():
        numpyro.sample("x", dist.MultivariateNormal(mean, covariance_matrix=cov))

    idata = bayesuq.nuts(model, seed=12, dense_mass=True, progress=False)
    assert bayesuq.diagnose(idata).ok
    for i in range(3):
        _check_scalar(idata, "x", mean[i], sd[i], index=i)
    draws = idata.posterior["x"].values.reshape(-1, 3)
    ess = float(np.min(az.ess(idata.posterior["x"].values[..., 0])))
    rho = np.corrcoef(draws[:, 0], draws[:, 1])[0, 1]
    # sd of a correlation estimate is about (1 - rho^2) / sqrt(n): allow 5 of them.
    assert abs(rho - 0.9) < 5 * (1 - 0.9**2) / np.sqrt(ess)
    assert idata.attrs["dense_mass"] == "True"


def test_conjugate_normal_normal_hierarchy():
    """theta_j ~ N(mu, tau) (tau known), mu ~ N(0, s0), y_j ~ N(theta_j, sigma_j).

    The joint posterior of (mu, theta) is Gaussian; its exact moments come from Gaussian
    conditioning of the joint prior on y.
    """
    sigma = np.array([15.0, 10, 16, 11, 9, 11, 10, 18])
    y = np.array([28.0, 8, -3, 7, -1, 1, 18, 12])
    tau, s0 = 5.0, 10.0
    j = sigma.size

    def model(sigma, y=None):
        mu = numpyro.sample("mu", dist.Normal(0.0, s0))
        with numpyro.plate("school", sigma.shape[0]):
            theta = numpyro.sample("theta", dist.Normal(mu, tau))
            numpyro.sample("y", dist.Normal(theta, sigma), obs=y)

    # Prior of z = (mu, theta) and y = A z + noise.
    prior_cov = np.zeros((j + 1, j + 1))
    prior_cov[0, 0] = s0**2
    prior_cov[0, 1:] = prior_cov[1:, 0] = s0**2
    prior_cov[1:, 1:] = s0**2 + tau**2 * np.eye(j)
    a = np.hstack([np.zeros((j, 1)), np.eye(j)])
    s_yy = a @ prior_cov @ a.T + np.diag(sigma**2)
    gain = prior_cov @ a.T @ np.linalg.inv(s_yy)
    post_mean = gain @ y
    post_sd = np.sqrt(np.diag(prior_cov - gain @ a @ prior_cov))

    idata = bayesuq.nuts(model, {"sigma": sigma, "y": y}, seed=13, progress=False)
    assert bayesuq.diagnose(idata).ok
    _check_scalar(idata, "mu", post_mean[0], post_sd[0])
    for i in range(j):
        _check_scalar(idata, "theta", post_mean[i + 1], post_sd[i + 1], index=i)


def test_beta_binomial():
    """p ~ Beta(2, 3), k ~ Binomial(20, p) with k = 7 gives p | k ~ Beta(9, 16)."""

    def model(n, k=None):
        p = numpyro.sample("p", dist.Beta(2.0, 3.0))
        numpyro.sample("k", dist.Binomial(n, p), obs=k)

    idata = bayesuq.nuts(model, {"n": 20, "k": np.array(7)}, seed=14, progress=False)
    assert bayesuq.diagnose(idata).ok
    a, b = 9.0, 16.0
    _check_scalar(idata, "p", a / (a + b), np.sqrt(a * b / ((a + b) ** 2 * (a + b + 1))))
