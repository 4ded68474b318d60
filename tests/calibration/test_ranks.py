"""The rank statistic and the ECDF uniformity test, against exact samplers (no MCMC)."""

from __future__ import annotations

import numpy as np
import pytest
from scipy import stats

from bayesuq.calibration.ranks import rank_statistics, uniformity_reference


def test_ranks_count_draws_below_the_truth_and_break_ties_within_range():
    rng = np.random.default_rng(0)
    truth = np.array([[0.5, 2.0]])
    draws = np.array([[[0.1, 2.0], [0.7, 2.0], [0.4, 1.0], [0.9, 3.0]]])
    ranks = rank_statistics(truth, draws, rng)
    assert ranks[0, 0] == 2  # 0.1 and 0.4 are below 0.5
    assert 1 <= ranks[0, 1] <= 3  # one draw below, two tied


def test_p_values_are_uniform_under_the_null():
    rng = np.random.default_rng(1)
    reference = uniformity_reference(50, 99, rng)
    p = np.array([reference.p_values(rng.integers(0, 100, size=(50, 1)))[0] for _ in range(300)])
    # Declared tolerance: a KS test of the 300 p-values against U(0, 1) at level 0.001.
    assert stats.kstest(p, "uniform").pvalue > 1e-3
    assert 0.02 <= np.mean(p < 0.05) <= 0.09


def test_simultaneous_band_has_its_nominal_coverage():
    rng = np.random.default_rng(2)
    reference = uniformity_reference(100, 199, rng)
    lower, upper = reference.band(0.95)
    inside = []
    for _ in range(1000):
        diff = reference.ecdf_difference(rng.integers(0, 200, size=(100, 1)))[0]
        inside.append(np.all((diff >= lower - 1e-12) & (diff <= upper + 1e-12)))
    # Discrete binomial quantiles make the band slightly conservative; 1000 sets: sd 0.007.
    assert 0.93 <= np.mean(inside) <= 0.985, np.mean(inside)


@pytest.mark.parametrize(("posterior_sd_factor", "calibrated"), [(1.0, True), (0.5, False)])
def test_exact_conjugate_posteriors_pass_and_overconfident_ones_fail(
    posterior_sd_factor, calibrated
):
    """mu ~ N(0, 1), y_1..n ~ N(mu, 1): ranks of mu among exact posterior draws."""
    rng = np.random.default_rng(3)
    n_sims, n_obs, n_draws = 200, 5, 99
    mu = rng.normal(size=n_sims)
    y = rng.normal(mu[:, None], 1.0, size=(n_sims, n_obs))
    mean, sd = y.sum(axis=1) / (n_obs + 1), (1.0 / (n_obs + 1)) ** 0.5
    draws = rng.normal(mean[:, None], posterior_sd_factor * sd, size=(n_sims, n_draws))
    ranks = rank_statistics(mu[:, None], draws[:, :, None], rng)
    p = uniformity_reference(n_sims, n_draws, rng).p_values(ranks)[0]
    assert (p > 0.01) if calibrated else (p < 0.001), p
