"""Rank statistics of simulation-based calibration and their test of uniformity.

If ``theta ~ p(theta)``, ``y ~ p(y | theta)`` and ``theta_1..theta_L`` are independent
draws from ``p(theta | y)``, the rank ``r = #{l : theta_l < theta}`` is uniform on
``{0, ..., L}`` (Talts, Betancourt, Simpson, Vehtari & Gelman 2018, "Validating Bayesian
inference algorithms with simulation-based calibration", arXiv:1804.06788).

Uniformity is judged on the empirical CDF of the ``N`` ranks at the thresholds
``t_1 < ... < t_{K-1}``: under uniformity the count ``c_k = #{r_i < t_k}`` is
``Binomial(N, p_k)`` with ``p_k = t_k / (L + 1)``. The statistic is the smallest
two-sided pointwise tail probability,

.. math:: s = \\min_k 2 \\min\\{F(c_k; N, p_k),\\ 1 - F(c_k - 1; N, p_k)\\},

whose null distribution is simulated (multinomial rank counts). Its ``alpha`` quantile
``gamma`` turns the pointwise binomial intervals at level ``gamma`` into *simultaneous*
bands of level ``1 - alpha`` for the ECDF difference ``ECDF(p_k) - p_k`` (Säilynoja,
Bürkner & Vehtari 2022, "Graphical test for discrete uniformity and its applications in
goodness-of-fit evaluation and multiple sample comparison", Statistics and Computing 32:32).
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
from scipy import stats

NULL_SIMULATIONS = 5000


def rank_statistics(truth: np.ndarray, draws: np.ndarray, rng: np.random.Generator) -> np.ndarray:
    """Ranks of the true values among posterior draws, ties broken at random.

    Parameters
    ----------
    truth
        Shape ``(n_sims, k)``: the prior draw of each of ``k`` scalar quantities.
    draws
        Shape ``(n_sims, L, k)``: ``L`` posterior draws per simulation.
    rng
        Generator for tie-breaking (ties only occur for discrete or clipped quantities).

    Returns
    -------
    numpy.ndarray
        Integer ranks in ``{0, ..., L}``, shape ``(n_sims, k)``.
    """
    truth = np.asarray(truth)[:, None, :]
    below = np.sum(draws < truth, axis=1)
    ties = np.sum(draws == truth, axis=1)
    return below + rng.integers(0, ties + 1)


@dataclass(frozen=True)
class UniformityReference:
    """Null distribution of the ECDF statistic for ``n_sims`` ranks on ``{0..max_rank}``.

    Attributes
    ----------
    n_sims, max_rank
        Number of ranks and their largest value ``L``.
    thresholds
        Rank thresholds ``t_k``: the ECDF is evaluated as ``#{r < t_k} / N``.
    probs
        ``p_k = t_k / (L + 1)``, the expected ECDF values.
    null
        Simulated statistics ``s`` under uniformity (sorted).
    """

    n_sims: int
    max_rank: int
    thresholds: np.ndarray
    probs: np.ndarray
    null: np.ndarray

    def statistic(self, ranks: np.ndarray) -> np.ndarray:
        """The statistic ``s`` for each column of ``ranks`` (shape ``(n_sims, k)``)."""
        counts = np.sum(np.asarray(ranks)[:, None, :] < self.thresholds[None, :, None], axis=0)
        return _min_tail_probability(counts.T, self.n_sims, self.probs)

    def p_values(self, ranks: np.ndarray) -> np.ndarray:
        """Simulated p-values ``(1 + #{s_null <= s}) / (1 + n_null)``, one per column."""
        observed = self.statistic(ranks)
        below = np.searchsorted(self.null, observed, side="right")
        return (1.0 + below) / (1.0 + self.null.size)

    def band(self, level: float = 0.95) -> tuple[np.ndarray, np.ndarray]:
        """Simultaneous ``level`` band for ``ECDF(p_k) - p_k``: ``(lower, upper)``."""
        gamma = float(np.quantile(self.null, 1.0 - level))
        lower = stats.binom.ppf(gamma / 2, self.n_sims, self.probs) / self.n_sims
        upper = stats.binom.ppf(1 - gamma / 2, self.n_sims, self.probs) / self.n_sims
        return lower - self.probs, upper - self.probs

    def ecdf_difference(self, ranks: np.ndarray) -> np.ndarray:
        """``ECDF(p_k) - p_k`` for each column of ``ranks``, shape ``(k, K - 1)``."""
        counts = np.sum(np.asarray(ranks)[:, None, :] < self.thresholds[None, :, None], axis=0)
        return counts.T / self.n_sims - self.probs


def _min_tail_probability(counts: np.ndarray, n: int, probs: np.ndarray) -> np.ndarray:
    """``min_k 2 min(F(c_k), 1 - F(c_k - 1))`` along the last axis, capped at 1."""
    lower = stats.binom.cdf(counts, n, probs)
    upper = stats.binom.sf(counts - 1, n, probs)
    return np.minimum(1.0, 2.0 * np.minimum(lower, upper)).min(axis=-1)


def uniformity_reference(
    n_sims: int, max_rank: int, rng: np.random.Generator, *, n_null: int = NULL_SIMULATIONS
) -> UniformityReference:
    """Thresholds and the simulated null distribution for ``n_sims`` ranks on ``{0..L}``.

    ``K = min(L + 1, n_sims)`` evaluation bins: with fewer ranks than possible values
    the ECDF is evaluated on ``n_sims`` equally spaced thresholds.
    """
    if n_sims < 2 or max_rank < 1:
        raise ValueError(
            f"uniformity needs at least 2 ranks on at least 2 values; got n_sims={n_sims}, "
            f"max_rank={max_rank}"
        )
    bins = min(max_rank + 1, n_sims)
    thresholds = np.unique(np.ceil(np.arange(1, bins) * (max_rank + 1) / bins).astype(int))
    probs = thresholds / (max_rank + 1)
    cell = np.full(max_rank + 1, 1.0 / (max_rank + 1))
    per_value = rng.multinomial(n_sims, cell, size=n_null)
    below = np.cumsum(per_value, axis=1)[:, thresholds - 1]  # #{r <= t - 1} = #{r < t}
    null = np.sort(_min_tail_probability(below, n_sims, probs))
    return UniformityReference(n_sims, max_rank, thresholds, probs, null)
