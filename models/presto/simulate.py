"""The simulation designs of Faletto & Bien (2023, ICML, section 4) and the MSE study.

Both designs draw ``X_ij ~ U(-1, 1)``, ``P(y <= k | x) = sigma(alpha_k + x' beta_k)`` and
``y`` from the true class probabilities, rejecting (redrawing ``beta`` and ``X``, at most
100 times) truths with a class probability outside [0, 1] on the sample, and redrawing
``X`` and ``y`` (at most 10 times, then ``beta``) when a class is missing from ``y``.

* sparse differences: ``beta_j1 = 0.5`` with probability ``dev_prob`` (else 0), and for
  ``k >= 2`` ``beta_jk = beta_j,k-1 +/- 0.5`` (random sign) with probability ``dev_prob``;
* dense differences: ``beta_j1 ~ U(-0.5, 0.5)`` and every difference ``~ U(-0.5, 0.5)``.

The metric is the in-sample rare-class MSE ``(1/n) sum_i (p^(y=K|x_i) - p(y=K|x_i))^2``.
"""

from __future__ import annotations

import time
from collections.abc import Callable
from dataclasses import dataclass

import numpy as np
import pandas as pd
from scipy.special import expit

from bayesuq.models.presto.estimators import CumulativeLogit, ProportionalOdds

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
    coef = np.zeros((p, k1))
    coef[:, 0] = np.where(rng.random(p) < dev_prob, 0.5, 0.0)
    for k in range(1, k1):
        jump = np.where(rng.random(p) < dev_prob, rng.choice([-0.5, 0.5], size=p), 0.0)
        coef[:, k] = coef[:, k - 1] + jump
    return coef


def _dense_coef(rng, p, k1):
    return np.cumsum(rng.uniform(-0.5, 0.5, size=(p, k1)), axis=1)


def _simulate(draw_coef: Callable, n: int, p: int, intercepts, seed: int) -> SimulatedData:
    intercepts = np.asarray(intercepts, dtype=np.float64)
    if intercepts.ndim != 1 or np.any(np.diff(intercepts) <= 0):
        raise ValueError(f"intercepts: got {intercepts!r}; expected a strictly increasing vector")
    if n < 2 or p < 1:
        raise ValueError(f"n, p: got n={n}, p={p}; expected n >= 2 and p >= 1")
    k = intercepts.size + 1
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
    """Sparse-difference design (section 4.1): ``dev_prob`` is the chance of each jump."""
    if not 0.0 <= dev_prob <= 1.0:
        raise ValueError(f"dev_prob: got {dev_prob!r}; expected a probability in [0, 1]")
    return _simulate(
        lambda rng, p_, k1: _sparse_coef(rng, p_, k1, dev_prob), n, p, intercepts, seed
    )


def simulate_dense_diffs(
    *, n: int = 2500, p: int = 10, intercepts=DEFAULT_INTERCEPTS, seed: int = 0
) -> SimulatedData:
    """Dense-difference design (section 4.2): every difference ``~ U(-0.5, 0.5)``."""
    return _simulate(_dense_coef, n, p, intercepts, seed)


def rare_mse(estimate: np.ndarray, data: SimulatedData) -> float:
    """In-sample rare-class MSE against the true probabilities."""
    return float(np.mean((estimate - data.probs[:, -1]) ** 2))


def simulation_study(
    *,
    design: str = "sparse",
    n_reps: int = 20,
    n: int = 2500,
    p: int = 10,
    dev_prob: float = 0.5,
    intercepts=DEFAULT_INTERCEPTS,
    seed: int = 0,
    presto_kwargs: dict | None = None,
) -> pd.DataFrame:
    """Rare-class MSE of PRESTO, Logit and PO over ``n_reps`` replications.

    Returns a long table with columns ``replication``, ``method``, ``mse``, ``n_rare``,
    ``seconds``; replication ``r`` uses data seed ``seed + r``.
    """
    from bayesuq.models.presto.penalised import Presto

    if design not in ("sparse", "dense"):
        raise ValueError(f"design: got {design!r}; expected 'sparse' or 'dense'")
    rows = []
    for r in range(n_reps):
        if design == "sparse":
            data = simulate_sparse_diffs(
                n=n, p=p, dev_prob=dev_prob, intercepts=intercepts, seed=seed + r
            )
        else:
            data = simulate_dense_diffs(n=n, p=p, intercepts=intercepts, seed=seed + r)
        methods = {
            "PRESTO": Presto(random_state=seed + r, **(presto_kwargs or {})),
            "Logit": CumulativeLogit(),
            "PO": ProportionalOdds(),
        }
        for name, est in methods.items():
            start = time.perf_counter()
            est.fit(data.X, data.y)
            seconds = time.perf_counter() - start
            rows.append(
                {
                    "replication": r,
                    "method": name,
                    "mse": rare_mse(est.predict_rare_proba(data.X), data),
                    "n_rare": int(np.sum(data.y == data.probs.shape[1] - 1)),
                    "seconds": seconds,
                }
            )
    return pd.DataFrame(rows)


def summarise_study(table: pd.DataFrame) -> pd.DataFrame:
    """Per method: median and mean (SE) MSE, and the share of replications PRESTO wins, with a
    one-sided paired t-test p-value of ``PRESTO < method``."""
    from scipy import stats

    wide = table.pivot(index="replication", columns="method", values="mse")
    rows = {}
    for method in wide.columns:
        col = wide[method]
        row = {
            "median_mse": col.median(),
            "mean_mse": col.mean(),
            "se_mse": col.std(ddof=1) / np.sqrt(col.size) if col.size > 1 else np.nan,
        }
        if method != "PRESTO" and "PRESTO" in wide:
            diff = wide["PRESTO"] - col
            row["presto_wins"] = float(np.mean(diff < 0))
            row["p_paired_t"] = (
                float(stats.ttest_1samp(diff, 0.0, alternative="less").pvalue)
                if diff.size > 1 and diff.std() > 0
                else np.nan
            )
        rows[method] = row
    return pd.DataFrame(rows).T
