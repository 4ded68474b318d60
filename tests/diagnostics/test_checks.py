"""The verdict of bayesuq.diagnose, on synthetic draws whose problems are known."""

from __future__ import annotations

import arviz as az
import numpy as np
import pytest

import bayesuq
from bayesuq.diagnostics import find_stuck_chains
from bayesuq.infer.results import inference_data
from bayesuq.infer.svi import elbo_convergence


def _idata(posterior, **stats):
    return az.from_dict(posterior=posterior, sample_stats=stats or None)


def _healthy_stats(rng, chains=4, draws=500):
    return {
        "diverging": np.zeros((chains, draws), bool),
        "energy": rng.normal(size=(chains, draws)),
        "step_size": np.full((chains, draws), 0.3),
        "lp": rng.normal(size=(chains, draws)),
        "reached_max_treedepth": np.zeros((chains, draws), bool),
    }


def test_independent_draws_pass():
    rng = np.random.default_rng(0)
    report = bayesuq.diagnose(_idata({"x": rng.normal(size=(4, 500))}, **_healthy_stats(rng)))
    assert report.ok, report.messages
    assert report.messages[0].startswith("no problems found")


def test_disagreeing_chains_fail_on_rhat():
    rng = np.random.default_rng(1)
    x = rng.normal(size=(4, 500)) + np.array([0.0, 0.0, 0.0, 3.0])[:, None]
    report = bayesuq.diagnose(_idata({"x": x}, **_healthy_stats(rng)))
    assert not report.ok
    assert report.table.loc["x", "problem"].startswith("r_hat")
    assert any(m.startswith("R-hat up to") for m in report.messages)


def test_autocorrelated_draws_fail_on_ess():
    rng = np.random.default_rng(2)
    x = np.cumsum(rng.normal(size=(4, 500)), axis=1)  # random walks: tiny ESS
    report = bayesuq.diagnose(_idata({"x": x}, **_healthy_stats(rng)))
    assert not report.ok
    assert any("bulk ESS as low as" in m for m in report.messages)


def test_divergences_and_low_bfmi_and_treedepth():
    rng = np.random.default_rng(3)
    stats = _healthy_stats(rng)
    stats["diverging"][0, :12] = True
    stats["energy"] = np.cumsum(rng.normal(size=(4, 500)), axis=1)  # slow energy: low E-BFMI
    stats["reached_max_treedepth"][:, :100] = True
    report = bayesuq.diagnose(_idata({"x": rng.normal(size=(4, 500))}, **stats))
    assert not report.ok
    assert report.divergences == 12
    assert any(m.startswith("12 divergent transitions: ") for m in report.messages)
    assert any("E-BFMI" in m for m in report.messages)
    assert report.treedepth_saturation == pytest.approx(0.2)
    assert any("hit max_tree_depth" in m for m in report.messages)


def test_stuck_chain_in_results_is_reported():
    rng = np.random.default_rng(4)
    stats = _healthy_stats(rng)
    stats["step_size"][1] = 1e-14
    report = bayesuq.diagnose(_idata({"x": rng.normal(size=(4, 500))}, **stats))
    assert not report.ok
    assert set(report.stuck_chains) == {1}
    assert any("chain 1 ended warm-up with step size 1e-14" in m for m in report.messages)


def test_find_stuck_chains_on_arrays():
    step = np.full((3, 50), 0.2)
    lp = np.random.default_rng(5).normal(size=(3, 50))
    assert find_stuck_chains(step, lp) == {}
    step[2] = 1e-5  # 1/20000 of the others
    assert list(find_stuck_chains(step, lp)) == [2]
    lp[0] = 1.5  # frozen log density
    assert set(find_stuck_chains(step, lp)) == {0, 2}
    assert find_stuck_chains(np.full((1, 50), 1e-12), lp[:1] + 0.0) != {}


def test_independent_draws_are_summarised_without_chain_checks():
    rng = np.random.default_rng(6)
    idata = inference_data(
        inference="martingale",
        seed=0,
        timings={"total": 1.0},
        posterior={"x": rng.normal(size=(1, 300))},
    )
    report = bayesuq.diagnose(idata)
    assert report.ok
    assert "r_hat" not in report.table.columns
    assert report.method == "martingale"
    assert "R-hat" not in report.messages[0].split("Not checked")[0]
    assert "independent by construction" in report.messages[0]


def test_non_finite_draws_fail():
    x = np.random.default_rng(7).normal(size=(1, 100))
    x[0, 3] = np.nan
    report = bayesuq.diagnose(az.from_dict(posterior={"x": x}))
    assert not report.ok
    assert "non-finite draws in x" in report.messages[0]


def test_report_renders_as_text_and_html():
    rng = np.random.default_rng(8)
    report = bayesuq.diagnose(_idata({"x": rng.normal(size=(4, 500))}, **_healthy_stats(rng)))
    assert str(report).startswith("bayesuq diagnostics (unknown): OK")
    assert "<table" in report._repr_html_()


def test_elbo_convergence_verdicts():
    rng = np.random.default_rng(9)
    flat = 100 + rng.normal(size=2000)
    falling = np.linspace(200, 100, 2000) + rng.normal(size=2000)
    assert elbo_convergence(flat)[0]
    converged, message = elbo_convergence(falling)
    assert not converged and "raise steps or learning_rate" in message
    assert not elbo_convergence(flat[:10])[0]
