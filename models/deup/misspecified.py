"""A misspecified 1-D regression: where does each uncertainty estimate see the model's error?

A bayesuq design after Figure 1 of Lahlou et al. (2023): the truth is

``g(x) = sin(2 pi x)`` outside ``(0.5, 1.5)`` and
``g(x) = -7.2 sin(x) cos(5x) cos(22x) sin(7x) cos(19x) sin(11x)`` inside,

observed without noise at 50 + 50 inputs drawn uniformly from ``[0, 0.5]`` and
``[1.5, 2]``. A stationary GP fitted to these data is smooth and confident in a way the
truth is not: its posterior variance ranks the gap ``(0.5, 1.5)``, where its error is
largest, *below* the extrapolation regions. DEUP wraps the same GP and also sees the
GP's errors at the five points of the paper's Figure 1, ``x in {-0.5, 0.7, 1, 1.3, 2.5}``,
never used to train the GP. On a grid over ``[-0.5, 2.5]`` each estimator's uncertainty is
compared with the true excess risk of its own mean predictor, ``(f(x) - g(x))^2``
(noiseless data: the whole squared error is epistemic), by Spearman's rank correlation.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

import numpy as np

__all__ = [
    "ERROR_POINTS",
    "misspecified_data",
    "misspecified_figure",
    "misspecified_truth",
    "spearman_study",
]

ERROR_POINTS = (-0.5, 0.7, 1.0, 1.3, 2.5)
"""Inputs of the error-only points (the paper's Figure 1)."""
GRID = (-0.5, 2.5)


def misspecified_truth(x: np.ndarray) -> np.ndarray:
    """``g(x)`` of the module docstring."""
    x = np.asarray(x, float)
    inside = (x > 0.5) & (x < 1.5)
    wiggles = (
        -7.2
        * np.sin(x)
        * np.cos(5 * x)
        * np.cos(22 * x)
        * np.sin(7 * x)
        * np.cos(19 * x)
        * np.sin(11 * x)
    )
    return np.where(inside, wiggles, np.sin(2 * np.pi * x))


def misspecified_data(seed: int = 0) -> dict[str, np.ndarray]:
    """Training data ``X (100, 1)``, ``y``; error-only ``X_error (5, 1)``, ``y_error``."""
    rng = np.random.default_rng(seed)
    x = np.concatenate([rng.uniform(0.0, 0.5, 50), rng.uniform(1.5, 2.0, 50)])
    x_error = np.asarray(ERROR_POINTS)
    return {
        "X": x[:, None],
        "y": misspecified_truth(x),
        "X_error": x_error[:, None],
        "y_error": misspecified_truth(x_error),
    }


def spearman_study(seed: int = 0, *, smoke: bool = False) -> dict[str, Any]:
    """Fit DEUP and the three baselines; Spearman correlations with the true excess risk.

    Parameters
    ----------
    seed
        Seed of the training inputs and of the networks.
    smoke
        Tiny network budgets and a coarse grid (seconds, for tests).

    Returns
    -------
    dict
        ``table`` (``pandas.DataFrame``: estimator, Spearman rho, its predictor's mean
        squared error on the grid), ``grid``, ``truth``, ``data``, and per estimator
        ``mean`` and ``uncertainty`` arrays on the grid (``curves``).
    """
    import pandas as pd
    from scipy.stats import spearmanr

    from bayesuq.models.deup.estimator import DEUP
    from bayesuq.models.deup.regressors import (
        EnsembleRegressor,
        GPRegressor,
        MCDropoutRegressor,
    )

    data = misspecified_data(seed)
    grid = np.linspace(*GRID, 121 if smoke else 601)[:, None]
    truth = misspecified_truth(grid[:, 0])
    steps = 200 if smoke else 3000
    curves: dict[str, tuple[np.ndarray, np.ndarray]] = {}

    gp = GPRegressor().fit(data["X"], data["y"])
    mean, sd = gp.predict(grid, return_std=True)
    curves["GP variance"] = (mean, sd**2)
    ensemble = EnsembleRegressor(steps=steps, seed=seed).fit(data["X"], data["y"])
    mean, sd = ensemble.predict(grid, return_std=True)
    curves["Ensemble variance"] = (mean, sd**2)
    dropout = MCDropoutRegressor(steps=steps, seed=seed).fit(data["X"], data["y"])
    mean, sd = dropout.predict(grid, return_std=True)
    curves["MC-dropout variance"] = (mean, sd**2)
    deup = DEUP(GPRegressor(), domain=GRID, seed=seed).fit(
        data["X"], data["y"], X_error=data["X_error"], y_error=data["y_error"]
    )
    curves["DEUP"] = (deup.predict(grid), deup.epistemic(grid))

    rows = []
    for name, (mean, uncertainty) in curves.items():
        excess = (mean - truth) ** 2
        rows.append(
            {
                "estimator": name,
                "spearman": float(spearmanr(uncertainty, excess)[0]),
                "predictor_mse": float(excess.mean()),
            }
        )
    return {
        "table": pd.DataFrame(rows),
        "grid": grid[:, 0],
        "truth": truth,
        "data": data,
        "curves": curves,
        "deup": deup,
    }


def misspecified_figure(study: dict[str, Any], path: str | Path, *, dpi: int = 90) -> Path:
    """The truth, the GP fit and the two-standard-deviation bands of GP variance and DEUP."""
    from matplotlib.figure import Figure

    from bayesuq.io import atomic_write

    grid, truth, data = study["grid"], study["truth"], study["data"]
    mean, gp_var = study["curves"]["GP variance"]
    _, deup_u = study["curves"]["DEUP"]
    fig = Figure(figsize=(8.0, 3.4), layout="constrained")
    ax_fit, ax_unc = fig.subplots(1, 2)
    ax_fit.plot(grid, truth, color="k", lw=1, label="truth g")
    ax_fit.plot(grid, mean, color="C0", lw=1.5, label="GP mean f")
    ax_fit.fill_between(
        grid, mean - 2 * np.sqrt(gp_var), mean + 2 * np.sqrt(gp_var), color="C0", alpha=0.25,
        label="f +- 2 sd (GP variance)",
    )  # fmt: skip
    ax_fit.fill_between(
        grid, mean - 2 * np.sqrt(deup_u), mean + 2 * np.sqrt(deup_u), color="C3", alpha=0.15,
        label="f +- 2 sd (DEUP)",
    )  # fmt: skip
    ax_fit.plot(data["X"][:, 0], data["y"], "k.", ms=3, label="training data")
    ax_fit.plot(data["X_error"][:, 0], data["y_error"], "rx", ms=6, label="error-only points")
    ax_fit.set_ylim(-4, 4)
    ax_fit.set_xlabel("x")
    ax_fit.legend(fontsize=6, loc="lower left")
    ax_unc.semilogy(grid, (mean - truth) ** 2 + 1e-12, color="k", lw=0.8, label="(f - g)^2")
    ax_unc.semilogy(grid, gp_var + 1e-12, color="C0", label="GP variance")
    ax_unc.semilogy(grid, deup_u + 1e-12, color="C3", label="DEUP epistemic")
    ax_unc.set_ylim(1e-8, 1e3)
    ax_unc.set_xlabel("x")
    ax_unc.legend(fontsize=7, loc="lower left")
    table = study["table"].set_index("estimator")["spearman"]
    ax_unc.set_title(
        f"Spearman: DEUP {table['DEUP']:.2f}, GP {table['GP variance']:.2f}", fontsize=9
    )
    return atomic_write(path, lambda partial: fig.savefig(partial, dpi=dpi))
