"""Small seeded fits of each kind shared by the report tests (built once per session).

Sizes are kept tiny (2 chains x 200 draws, 600 SVI steps) so that fitting costs a few
seconds; the real PRESTO and aggregate fits, which take about 30 s each to compile, are
in the ``slow`` tests.
"""

from __future__ import annotations

import arviz as az
import jax
import numpy as np
import pytest
import xarray as xr
from numpyro.infer import Predictive

import bayesuq
from bayesuq.data import eight_schools_centered, eight_schools_noncentered, load_eight_schools
from bayesuq.models.martingale import (
    bayesian_bootstrap,
    normal_martingale_posterior,
    weighted_mean,
)


@pytest.fixture(scope="session")
def schools_data():
    frame = load_eight_schools()
    return {"sigma": frame["sigma"], "y": frame["y"]}


@pytest.fixture(scope="session")
def centred_fit(schools_data):
    """Centred eight schools: divergences, high R-hat and low ESS at this size.

    ``chain_method`` is fixed: with two devices ``"auto"`` runs the chains in parallel,
    whose floating-point path (and so, for a chaotic sampler, whose draws) differs.
    """
    return bayesuq.nuts(
        eight_schools_centered,
        schools_data,
        chains=2,
        draws=200,
        warmup=200,
        seed=1,
        chain_method="vectorized",
        progress=False,
    )


@pytest.fixture(scope="session")
def centred_fit_with_ppc(centred_fit, schools_data):
    """The centred fit plus replicated ``y`` in ``posterior_predictive`` (dims as observed)."""
    post = centred_fit.posterior
    samples = {k: post[k].values.reshape(-1, *post[k].shape[2:]) for k in ("mu", "tau", "theta")}
    y_rep = Predictive(eight_schools_centered, posterior_samples=samples)(
        jax.random.PRNGKey(0), sigma=np.asarray(schools_data["sigma"])
    )["y"]
    idata = centred_fit.copy()
    idata.add_groups(
        posterior_predictive=xr.Dataset(
            {"y": (("chain", "draw", "school"), np.asarray(y_rep).reshape(2, 200, 8))},
            coords={"school": post["school"].values},
        )
    )
    return idata


@pytest.fixture(scope="session")
def svi_fit(schools_data):
    return bayesuq.svi(
        eight_schools_noncentered,
        schools_data,
        guide="normal",
        steps=600,
        learning_rate=0.05,
        draws=300,
        seed=1,
        progress=False,
    )


@pytest.fixture(scope="session")
def martingale_normal_fit():
    y = np.random.default_rng(0).normal(size=20)
    return normal_martingale_posterior(y, steps=100, draws=500, seed=0)


@pytest.fixture(scope="session")
def bootstrap_fit():
    data = np.random.default_rng(1).normal(size=(50, 2))
    return bayesian_bootstrap(data, weighted_mean, draws=400, seed=0, dims=["coordinate"])


@pytest.fixture(scope="session")
def presto_shaped_fit():
    """An ``InferenceData`` shaped like ``BayesianPresto.idata_`` (dims, groups, attrs).

    The real fit compiles for ~30 s (see the slow test); this one has its multi-dim
    labelled variables, MCMC statistics and a ``posterior_predictive["p_rare"]`` that has
    no observed counterpart.
    """
    rng = np.random.default_rng(5)
    chains, draws, features, n = 2, 200, 3, 40
    thresholds, names = ["<=low", "<=mid"], ["a", "b", "c"]

    def normal(*shape):
        return rng.normal(size=(chains, draws, *shape))

    posterior = {
        "alpha_first": normal(),
        "alpha_gaps": np.abs(normal(1)),
        "psi_first": normal(features),
        "psi_rest": 0.1 * normal(features, 1),
        "alpha": normal(2),
        "beta_std": normal(features, 2),
        "beta": normal(features, 2),
        "intercept": normal(2),
    }
    stats = {
        "diverging": np.zeros((chains, draws), bool),
        "energy": rng.normal(size=(chains, draws)),
        "lp": rng.normal(size=(chains, draws)),
        "step_size": np.full((chains, draws), 0.3),
        "tree_depth": np.full((chains, draws), 3),
    }
    return az.from_dict(
        posterior=posterior,
        sample_stats=stats,
        posterior_predictive={"p_rare": rng.uniform(size=(chains, draws, n))},
        observed_data={"y": rng.integers(0, 3, size=n)},
        dims={
            "alpha_gaps": ["gap"],
            "psi_first": ["feature"],
            "psi_rest": ["feature", "difference"],
            "alpha": ["threshold"],
            "beta_std": ["feature", "threshold"],
            "beta": ["feature", "threshold"],
            "intercept": ["threshold"],
            "p_rare": ["obs"],
            "y": ["obs"],
        },
        coords={
            "feature": names,
            "threshold": thresholds,
            "difference": thresholds[1:],
            "gap": thresholds[1:],
        },
        attrs={"inference": "nuts", "seed": 3, "chains": chains, "draws": draws},
    )
