"""Simulation-based calibration of NUTS with the "fisher" adaptation, on two models.

``bayesuq.sbc`` fits every simulated dataset with :func:`bayesuq.infer.many.nuts_many`,
which builds its kernel as ``NutsKernel(target_accept=..., max_tree_depth=...,
dense_mass=...)``; until ``nuts_many``/``sbc`` take an ``adaptation`` argument, the test
substitutes a ``NutsKernel`` whose adaptation is ``"fisher"`` there, so that the real
SBC pipeline (simulation, batched fits, ranks, uniformity test) runs on the new path.
"""

from __future__ import annotations

import numpy as np
import numpyro
import numpyro.distributions as dist
import pytest

import bayesuq
from bayesuq.infer import many
from bayesuq.infer.kernels import NutsKernel

pytestmark = pytest.mark.slow

SETTINGS = {"n_sims": 100, "draws": 250, "warmup": 250, "chains": 2, "progress": False}
X = np.linspace(-1.0, 1.0, 10)
SIGMA = np.array([15.0, 10.0, 16.0, 11.0, 9.0, 11.0, 10.0, 18.0])


def regression(x, y=None):
    mu = numpyro.sample("mu", dist.Normal(0.0, 1.0))
    sigma = numpyro.sample("sigma", dist.HalfNormal(1.0))
    with numpyro.plate("obs", x.shape[0]):
        numpyro.sample("y", dist.Normal(mu + x, sigma), obs=y)


def hierarchical(sigma, y=None):
    """Non-centred eight schools with a half-normal prior on tau (a hierarchical funnel)."""
    mu = numpyro.sample("mu", dist.Normal(0.0, 5.0))
    tau = numpyro.sample("tau", dist.HalfNormal(5.0))
    with numpyro.plate("school", sigma.shape[0]):
        eta = numpyro.sample("eta", dist.Normal(0.0, 1.0))
        numpyro.sample("y", dist.Normal(mu + tau * eta, sigma), obs=y)


@pytest.fixture
def fisher_kernels(monkeypatch) -> list[NutsKernel]:
    """Make ``nuts_many`` build fisher kernels; the list records the kernels it built."""
    built: list[NutsKernel] = []

    def kernel(**options):
        built.append(NutsKernel(adaptation="fisher", **options))
        return built[-1]

    monkeypatch.setattr(many, "NutsKernel", kernel)
    return built


@pytest.mark.parametrize(
    ("model", "data", "params"),
    [(regression, {"x": X}, ["mu", "sigma"]), (hierarchical, {"sigma": SIGMA}, ["mu", "tau"])],
    ids=["regression", "hierarchical"],
)
def test_fisher_adaptation_is_calibrated(fisher_kernels, model, data, params):
    result = bayesuq.sbc(model, data, observed="y", params=params, seed=5, **SETTINGS)
    assert [k.adaptation for k in fisher_kernels] == ["fisher"]
    assert result.ok, str(result)
    summary = result.summary()
    # Uniform scaled ranks have mean 1/2 (sd 0.029 over 100 simulations).
    assert np.all(np.abs(summary["mean_scaled_rank"] - 0.5) < 0.1), summary
