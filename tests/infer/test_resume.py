"""Continuing a run (``resume=``) and the HMC driver: draws, moments, reproducibility."""

from __future__ import annotations

import numpy as np
import numpyro
import numpyro.distributions as dist
import pytest
from tolerances import assert_moment

import bayesuq
from bayesuq.infer import programs

SETTINGS = dict(chains=2, warmup=100, seed=4, progress=False, chain_method="vectorized")


def normal_mean(y):
    mu = numpyro.sample("mu", dist.Normal(0.0, 10.0))
    with numpyro.plate("obs", y.shape[0]):
        numpyro.sample("y", dist.Normal(mu, 1.0), obs=y)


DATA = {"y": np.linspace(-1.0, 3.0, 20)}


def test_resume_appends_draws_without_warmup_or_compiling(tmp_path):
    first = bayesuq.nuts(normal_mean, DATA, draws=100, **SETTINGS)
    saved = bayesuq.load(bayesuq.save(first, tmp_path / "fit.nc"))  # state survives netCDF
    compiles = programs.PROGRAMS.compiles
    more = bayesuq.nuts(normal_mean, DATA, resume=saved, draws=100, progress=False)
    assert programs.PROGRAMS.compiles == compiles
    assert more.posterior.sizes["draw"] == 200 and more.attrs["draws"] == 200
    assert more.attrs["resumed_draws"] == "100"
    np.testing.assert_array_equal(
        more.posterior["mu"].values[:, :100], first.posterior["mu"].values
    )
    # No new warm-up: the adapted step size is kept over the new draws.
    step = more.sample_stats["step_size"].values
    np.testing.assert_array_equal(step[:, 100:], step[:, 99:100].repeat(100, axis=1))
    # A continuation is the same chain: it equals one longer run with the same seed.
    longer = bayesuq.nuts(normal_mean, DATA, draws=200, **SETTINGS)
    np.testing.assert_allclose(
        more.posterior["mu"].values, longer.posterior["mu"].values, rtol=1e-5, atol=1e-6
    )
    again = bayesuq.nuts(normal_mean, DATA, resume=more, draws=50, progress=False)
    assert again.posterior.sizes["draw"] == 250 and again.attrs["resumed_draws"] == "100,50"


def test_resume_refuses_another_model_or_data():
    first = bayesuq.nuts(normal_mean, DATA, draws=50, **SETTINGS)

    def other(y):
        mu = numpyro.sample("mu", dist.Normal(0.0, 1.0))
        with numpyro.plate("obs", y.shape[0]):
            numpyro.sample("y", dist.Normal(mu, 2.0), obs=y)

    with pytest.raises(ValueError, match="the model differs"):
        bayesuq.nuts(other, DATA, resume=first, draws=10, progress=False)
    with pytest.raises(ValueError, match="the data differ"):
        bayesuq.nuts(normal_mean, {"y": DATA["y"] + 1}, resume=first, draws=10, progress=False)
    import arviz as az

    with pytest.raises(ValueError, match="kept its sampler state"):
        bayesuq.nuts(
            normal_mean, DATA, resume=az.from_dict(posterior={"mu": np.zeros((2, 5))}), draws=5
        )


def test_same_seed_and_settings_give_identical_draws():
    a = bayesuq.nuts(normal_mean, DATA, draws=50, **SETTINGS)
    b = bayesuq.nuts(normal_mean, DATA, draws=50, **SETTINGS)
    np.testing.assert_array_equal(a.posterior["mu"].values, b.posterior["mu"].values)


def test_hmc_recovers_a_conjugate_posterior():
    """mu | y ~ N(sum y / (n + 1/100), 1 / (n + 1/100)) for a N(0, 10^2) prior, unit noise."""
    idata = bayesuq.hmc(
        normal_mean,
        DATA,
        chains=4,
        draws=1000,
        warmup=500,
        seed=1,
        progress=False,
        num_steps=5,
    )
    assert idata.attrs["inference"] == "hmc" and "tree_depth" not in idata.sample_stats
    verdict = bayesuq.diagnose(idata)
    assert verdict.ok, verdict.messages
    precision = DATA["y"].size + 1 / 100
    mean, sd = DATA["y"].sum() / precision, np.sqrt(1 / precision)
    draws = idata.posterior["mu"].values
    table = verdict.table
    assert_moment(draws.mean(), mean, table.loc["mu", "mcse_mean"], name="mu mean")
    assert_moment(draws.std(), sd, table.loc["mu", "mcse_sd"], name="mu sd")
