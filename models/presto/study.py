"""The simulation study of Faletto & Bien (2023, ICML, section 4): rare-class MSE.

Each replication simulates a data set (:mod:`bayesuq.models.presto.simulate`), fits
PRESTO, separate logistic regressions (Logit) and proportional odds (PO), and records the
in-sample rare-class MSE ``(1/n) sum_i (p^(y=K|x_i) - p(y=K|x_i))^2``;
:func:`summarise_study` tabulates it and :func:`plot_study` draws the box plots (matplotlib
object API). ``bayesuq presto`` runs it (``--smoke`` for a seconds-long run).
"""

from __future__ import annotations

import time
from pathlib import Path

import numpy as np
import pandas as pd

from bayesuq.infer.arguments import check_choice, check_int
from bayesuq.io import atomic_write
from bayesuq.models.presto.estimators import CumulativeLogit, ProportionalOdds
from bayesuq.models.presto.simulate import (
    DEFAULT_INTERCEPTS,
    SimulatedData,
    simulate_dense_diffs,
    simulate_sparse_diffs,
)

METHODS = ("PRESTO", "Logit", "PO")


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

    check_choice("design", design, ("sparse", "dense"))
    n_reps = check_int("n_reps", n_reps, minimum=1)
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


def plot_study(tables: dict[str, pd.DataFrame], path: Path | str) -> None:
    """Box plots of the rare-class MSE per method, one panel per design (``name -> table``)."""
    from matplotlib.figure import Figure

    fig = Figure(figsize=(4.5 * len(tables), 3.5), layout="tight")
    axes = np.atleast_1d(fig.subplots(1, len(tables), sharey=True))
    for ax, (title, table) in zip(axes, tables.items(), strict=True):
        ax.boxplot([table.loc[table.method == m, "mse"] for m in METHODS], tick_labels=METHODS)
        ax.set_yscale("log")
        ax.set_title(title)
    axes[0].set_ylabel("rare-class MSE (in-sample)")
    atomic_write(path, lambda partial: fig.savefig(partial, dpi=120))
