"""The simulation designs of Faletto & Bien (2023, ICML, section 4) and the MSE study.

Both designs draw ``X_ij ~ U(-1, 1)``, ``P(y <= k | x) = sigma(alpha_k + x' beta_k)`` and
``y`` from the true class probabilities, rejecting (redrawing ``beta`` and ``X``, at most
100 times) truths with a class probability outside [0, 1] on the sample, and redrawing
``X`` and ``y`` (at most 10 times, then ``beta``) when a class is missing from ``y``.

* sparse differences: ``beta_j1 = 0.5`` with probability ``dev_prob`` (else 0), and for
  ``k >= 2`` ``beta_jk = beta_j,k-1 +/- 0.5`` (random sign) with probability ``dev_prob``;
* dense differences: ``beta_j1 ~ U(-0.5, 0.5)`` and every difference ``~ U(-0.5, 0.5)``.

The study that compares the estimators on these designs is in
:mod:`bayesuq.models.presto.study`.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass

import numpy as np
from scipy.special import expit

from bayesuq.infer.arguments import check_int

DEFAULT_INTERCEPTS = (0.0, 3.5, 5.5)


@dataclass(frozen=True)
class SimulatedData:
    """One simulated data set: ``X`` (n, p), ``y`` (n,) in ``0..K-1``, true ``probs`` (n, K),
    and the true ``intercepts`` (K-1,) and ``coef`` (p, K-1)."""

    X: np.ndarray
    y: np.ndarray
    probs: np.ndarray
    intercepts: np.ndarray
    coef: np.ndarray


def true_probs(X: np.ndarray, intercepts: np.ndarray, coef: np.ndarray) -> np.ndarray:
    """Class probabilities ``diff([0, sigma(alpha + X beta), 1])`` (may be negative)."""
    cum = expit(intercepts[None, :] + X @ coef)
    n = X.shape[0]
    return np.diff(np.concatenate([np.zeros((n, 1)), cum, np.ones((n, 1))], axis=1), axis=1)


def _sparse_coef(rng, p, k1, dev_prob):
    """Sparse differences: ``beta_j1 = 0.5 w.p. dev_prob``, jumps ``+/- 0.5 w.p. dev_prob``."""
    coef = np.zeros((p, k1))
    coef[:, 0] = np.where(rng.random(p) < dev_prob, 0.5, 0.0)
    for k in range(1, k1):
        jump = np.where(rng.random(p) < dev_prob, rng.choice([-0.5, 0.5], size=p), 0.0)
        coef[:, k] = coef[:, k - 1] + jump
    return coef


def _dense_coef(rng, p, k1):
    """Dense differences: ``beta_j1`` and every difference ``~ U(-0.5, 0.5)``."""
    return np.cumsum(rng.uniform(-0.5, 0.5, size=(p, k1)), axis=1)


def _simulate(draw_coef: Callable, n: int, p: int, intercepts, seed: int) -> SimulatedData:
    """Draw ``beta``, ``X`` and ``y`` until the truth is valid and every class occurs."""
    intercepts = np.asarray(intercepts, dtype=np.float64)
    if (
        intercepts.ndim != 1
        or intercepts.size < 1
        or not np.all(np.isfinite(intercepts))
        or np.any(np.diff(intercepts) <= 0)
    ):
        raise ValueError(
            f"intercepts: got {intercepts.tolist()!r}; expected a finite, strictly increasing "
            f"vector of at least one threshold (K - 1 values for K classes)"
        )
    k = intercepts.size + 1
    n = check_int("n", n, minimum=k)
    p = check_int("p", p, minimum=1)
    seed = check_int("seed", seed, minimum=0)
    rng = np.random.default_rng(seed)
    for _ in range(100):
        coef = draw_coef(rng, p, k - 1)
        for _ in range(10):
            X = rng.uniform(-1.0, 1.0, size=(n, p))
            probs = true_probs(X, intercepts, coef)
            if np.any(probs < 0.0) or np.any(probs > 1.0):
                break  # redraw beta and X
            u = rng.random(n)[:, None]
            y = np.sum(u > np.cumsum(probs, axis=1)[:, :-1], axis=1)
            if np.unique(y).size == k:
                return SimulatedData(X, y, probs, intercepts, coef)
    raise RuntimeError(
        f"no valid data set after 100 draws of beta (n={n}, intercepts={intercepts.tolist()}); "
        "raise n or lower the top intercepts"
    )


def simulate_sparse_diffs(
    *,
    n: int = 2500,
    p: int = 10,
    dev_prob: float = 0.5,
    intercepts=DEFAULT_INTERCEPTS,
    seed: int = 0,
) -> SimulatedData:
    """Sparse-difference design (section 4.1): ``dev_prob`` is the chance of each jump.

    ``n`` must be at least the number of classes, ``p >= 1``; ``dev_prob`` in [0, 1].
    """
    if isinstance(dev_prob, bool) or not (
        isinstance(dev_prob, int | float | np.floating) and 0.0 <= dev_prob <= 1.0
    ):
        raise ValueError(f"dev_prob must be a probability in [0, 1], got {dev_prob!r}")
    return _simulate(
        lambda rng, p_, k1: _sparse_coef(rng, p_, k1, dev_prob), n, p, intercepts, seed
    )


def simulate_dense_diffs(
    *, n: int = 2500, p: int = 10, intercepts=DEFAULT_INTERCEPTS, seed: int = 0
) -> SimulatedData:
    """Dense-difference design (section 4.2): every difference ``~ U(-0.5, 0.5)``."""
    return _simulate(_dense_coef, n, p, intercepts, seed)
