"""NUTS and SVI against independent references: a Laplace approximation and exact Gaussians."""

from __future__ import annotations

import numpy as np
import numpyro
import numpyro.distributions as dist
import pandas as pd
from scipy import optimize, special

import bayesuq


def _logistic_data(n=600, seed=0):
    rng = np.random.default_rng(seed)
    x = rng.normal(size=(n, 3))
    beta = np.array([1.0, -0.5, 0.25])
    y = rng.binomial(1, special.expit(0.3 + x @ beta))
    return x, y


def logistic(x, y=None):
    alpha = numpyro.sample("alpha", dist.Normal(0.0, 2.0))
    beta = numpyro.sample("beta", dist.Normal(0.0, 2.0).expand([x.shape[1]]).to_event(1))
    with numpyro.plate("obs", x.shape[0]):
        numpyro.sample("y", dist.Bernoulli(logits=alpha + x @ beta), obs=y)


def _laplace(x, y):
    """Mode and covariance of the Laplace approximation at the scipy optimum."""
    design = np.hstack([np.ones((x.shape[0], 1)), x])

    def neg_log_post(w):
        eta = design @ w
        return -(y @ eta - np.logaddexp(0, eta).sum()) + 0.5 * w @ w / 4.0

    def grad(w):
        return -(design.T @ (y - special.expit(design @ w))) + w / 4.0

    mode = optimize.minimize(neg_log_post, np.zeros(4), jac=grad, method="BFGS").x
    p = special.expit(design @ mode)
    hessian = design.T @ (design * (p * (1 - p))[:, None]) + np.eye(4) / 4.0
    return mode, np.linalg.inv(hessian)


def test_logistic_regression_matches_laplace_reference():
    """With n=600 the posterior is close to Gaussian: means within 0.15 posterior sd of the
    Laplace mode and sds within 10% (the Laplace error is O(1/n), MCSE is ~0.02 sd)."""
    x, y = _logistic_data()
    frame = pd.DataFrame(x, columns=pd.Index(["age", "dose", "weight"], name="covariate"))
    idata = bayesuq.nuts(logistic, {"x": frame, "y": y}, seed=21, progress=False)
    assert bayesuq.diagnose(idata).ok
    assert idata.posterior["beta"].dims == ("chain", "draw", "covariate")
    assert list(idata.posterior["covariate"].values) == ["age", "dose", "weight"]
    mode, cov = _laplace(x, y)
    sd = np.sqrt(np.diag(cov))
    draws = np.column_stack(
        [idata.posterior["alpha"].values.ravel(), idata.posterior["beta"].values.reshape(-1, 3)]
    )
    np.testing.assert_array_less(np.abs(draws.mean(0) - mode) / sd, 0.15)
    np.testing.assert_array_less(np.abs(draws.std(0) / sd - 1), 0.10)


def test_svi_mvn_matches_nuts_on_gaussian_posterior():
    """Bayesian linear regression with known noise has an exact Gaussian posterior, which
    both the full-rank guide and NUTS must recover (means within 0.1 sd, sds within 10%,
    correlations within 0.1)."""
    rng = np.random.default_rng(3)
    x = rng.normal(size=(40, 2)) @ np.array([[1.0, 0.8], [0.0, 0.6]])
    y = x @ np.array([1.0, -1.0]) + rng.normal(size=40)

    def model(x, y=None):
        w = numpyro.sample("w", dist.Normal(0.0, 3.0).expand([2]).to_event(1))
        with numpyro.plate("obs", x.shape[0]):
            numpyro.sample("y", dist.Normal(x @ w, 1.0), obs=y)

    precision = x.T @ x + np.eye(2) / 9.0
    exact_cov = np.linalg.inv(precision)
    exact_mean = exact_cov @ x.T @ y
    exact_sd = np.sqrt(np.diag(exact_cov))
    exact_corr = exact_cov[0, 1] / np.prod(exact_sd)

    approx = bayesuq.svi(
        model,
        {"x": x, "y": y},
        guide="mvn",
        steps=6000,
        learning_rate=5e-3,
        draws=4000,
        seed=5,
        progress=False,
    )
    sampled = bayesuq.nuts(model, {"x": x, "y": y}, seed=6, progress=False)
    assert approx.attrs["svi_converged"] == "True"
    assert bayesuq.diagnose(approx).ok
    for idata in (approx, sampled):
        w = idata.posterior["w"].values.reshape(-1, 2)
        np.testing.assert_array_less(np.abs(w.mean(0) - exact_mean) / exact_sd, 0.1)
        np.testing.assert_array_less(np.abs(w.std(0) / exact_sd - 1), 0.1)
        assert abs(np.corrcoef(w.T)[0, 1] - exact_corr) < 0.1


def test_svi_accepts_a_user_guide():
    """A hand-written mean-field guide on a conjugate normal model recovers the exact mean
    (within 0.1 posterior sd) and reports its class-free name."""
    import jax.numpy as jnp
    from numpyro.distributions import constraints

    y = np.random.default_rng(4).normal(1.0, 1.0, size=30)

    def model(y):
        mu = numpyro.sample("mu", dist.Normal(0.0, 10.0))
        with numpyro.plate("obs", y.shape[0]):
            numpyro.sample("y", dist.Normal(mu, 1.0), obs=y)

    def guide(y):
        loc = numpyro.param("loc", jnp.array(0.0))
        scale = numpyro.param("scale", jnp.array(1.0), constraint=constraints.positive)
        numpyro.sample("mu", dist.Normal(loc, scale))

    exact_var = 1.0 / (30 + 0.01)
    exact_mean = exact_var * y.sum()
    idata = bayesuq.svi(
        model, {"y": y}, guide=guide, steps=4000, draws=4000, seed=1, progress=False
    )
    mu = idata.posterior["mu"].values.ravel()
    assert abs(mu.mean() - exact_mean) < 0.1 * np.sqrt(exact_var)
    assert abs(mu.std() / np.sqrt(exact_var) - 1) < 0.1
    assert idata.attrs["guide"] == "function"
