"""ARMA(1,1) with a near-unit-root AR coefficient: no frozen chain survives unflagged.

The design (T=300, phi=0.999, theta=-0.8, mu=0.5, sigma=1) makes plain NumPyro end warm-up
with a collapsed step size (1e-8 to 1e-11) in 3 of 40 chains over seeds 0-9. The fixed
starting points below are the ones plain NumPyro drew for PRNGKey(5), 4 vectorised chains;
from them chain 2 (phi=1.065, theta=-1.121) freezes under every bayesuq seed tried.
"""

from __future__ import annotations

import warnings

import numpy as np
import pytest

import bayesuq
from bayesuq.data import arma11, simulate_arma11
from bayesuq.diagnostics import find_stuck_chains

NUMPYRO_SEED5_STARTS = {
    "mu": np.array([0.334, 0.122, -1.78, -0.337]),
    "phi": np.array([1.946, -0.491, 1.065, -0.717]),
    "sigma": np.array([2.347, 6.564, 2.155, 0.183]),
    "theta": np.array([-0.355, -0.325, -1.121, 1.124]),
}
SETTINGS = {"warmup": 300, "draws": 300, "progress": False}


@pytest.fixture(scope="module")
def series():
    return {"y": simulate_arma11(seed=1)}


def test_frozen_chain_is_flagged_without_recovery(series):
    with pytest.warns(UserWarning, match="chain 2 .*stuck"):
        idata = bayesuq.nuts(
            arma11, series, init=NUMPYRO_SEED5_STARTS, recover=False, seed=0, **SETTINGS
        )
    assert idata.sample_stats["step_size"].values[2, -1] < 1e-8
    report = bayesuq.diagnose(idata)
    assert not report.ok
    assert 2 in report.stuck_chains
    assert idata.attrs["stuck_chains"] == "2"


def test_frozen_chain_is_recovered_by_default(series):
    with pytest.warns(UserWarning, match="re-initialised it from the final state"):
        idata = bayesuq.nuts(arma11, series, init=NUMPYRO_SEED5_STARTS, seed=0, **SETTINGS)
    assert idata.attrs["recovered_chains"] == "2"
    assert idata.attrs["stuck_chains"] == ""
    steps = idata.sample_stats["step_size"].values[:, -1]
    assert steps.min() > 0.1 * steps.max()
    report = bayesuq.diagnose(idata)
    assert report.stuck_chains == {}
    assert report.table.loc["phi", "r_hat"] < 1.05
    assert any("re-initialised" in m for m in report.messages)


def _every_chain_mixes_or_is_flagged(series, seeds):
    for seed in seeds:
        with warnings.catch_warnings():
            warnings.simplefilter("ignore", UserWarning)  # recovery messages are allowed
            idata = bayesuq.nuts(arma11, series, seed=seed, **SETTINGS)
        stats = idata.sample_stats
        stuck = find_stuck_chains(stats["step_size"].values, stats["lp"].values)
        report = bayesuq.diagnose(idata)
        assert not stuck or not report.ok, f"seed {seed}: unflagged stuck chains {stuck}"
        if not stuck:
            assert report.table.loc["phi", "r_hat"] < 1.05, f"seed {seed}"


def test_arma_near_unit_root_over_seeds(series):
    _every_chain_mixes_or_is_flagged(series, seeds=range(4))


@pytest.mark.slow
def test_arma_near_unit_root_over_many_seeds(series):
    _every_chain_mixes_or_is_flagged(series, seeds=range(4, 24))
