"""The paper's comparison of likelihood modes and its noise study, as reusable steps.

Weber et al. (2018), sections 4.1-4.2: fit every likelihood mode of a simulated design
(:func:`compare_modes`), tabulate the posteriors against the truth (:func:`summary_table`),
run the noise studies of the simulated likelihood (:func:`linear_noise_studies`) and draw
both (:func:`plot_modes`, :func:`plot_noise`; matplotlib's object API, no global state).
Everything computes in the family's float64 (``precision=`` overrides it).
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

import arviz as az
import jax
import numpy as np
import pandas as pd

from bayesuq.infer.arguments import check_choice
from bayesuq.io import atomic_write
from bayesuq.models.aggregate.fitting import DEFAULT_PRECISION, fit
from bayesuq.models.aggregate.likelihood import draw_xi
from bayesuq.models.aggregate.linear import linear_average_logliks, linear_model, simulate_linear
from bayesuq.models.aggregate.noise import NoiseStudy, noise_band, noise_study
from bayesuq.models.aggregate.turnover import simulate_turnover, turnover_model
from bayesuq.precision import computing_in, resolve_precision

MODELS = {
    "linear": (linear_model, simulate_linear, ("local", "full", "exact", "approx")),
    "turnover": (turnover_model, simulate_turnover, ("local", "full", "approx")),
}


def compare_modes(
    name: str,
    *,
    J_tilde: int = 500,
    seed: int = 1,
    modes: Sequence[str] | None = None,
    simulation: Any = None,
    precision: str | None = None,
    **nuts_options: Any,
) -> tuple[Any, dict[str, az.InferenceData]]:
    """Simulate the paper's design for model ``name`` and fit every likelihood mode.

    ``approx`` uses ``xi`` of shape ``(J_tilde, 2)`` drawn from ``key(seed)``, shared by
    all chains (for the per-chain check see
    :func:`~bayesuq.models.aggregate.fit_with_simulation_noise_check`).
    Returns the simulation and ``mode -> InferenceData``.
    """
    check_choice("model", name, tuple(MODELS))
    build, simulate, all_modes = MODELS[name]
    sim = simulation if simulation is not None else simulate()
    precision = resolve_precision(precision, DEFAULT_PRECISION)
    with computing_in(precision):
        xi = draw_xi(jax.random.key(seed), J_tilde, 2)
    fits = {}
    for mode in modes or all_modes:
        data = sim.model_data(mode, xi=xi)
        fits[mode] = fit(build(mode), data, seed=seed, precision=precision, **nuts_options)
    return sim, fits


def summary_table(
    fits: dict[str, az.InferenceData], truth: dict[str, Any], var_names: Sequence[str]
) -> pd.DataFrame:
    """Posterior mean, sd and central 95 % interval of each scalar per mode, with the truth."""
    rows = []
    for mode, idata in fits.items():
        for var in var_names:
            draws = idata.posterior[var]
            extra = [d for d in draws.dims if d not in ("chain", "draw")]
            flat = draws.stack(sample=("chain", "draw")).transpose(*extra, "sample").values
            flat = flat.reshape(-1, flat.shape[-1])
            labels = [f"{var}[{c}]" for c in draws[extra[0]].values] if extra else [var]
            true = np.ravel(truth[var])
            for label, row, t in zip(labels, flat, true, strict=True):
                lo, hi = np.quantile(row, [0.025, 0.975])
                rows.append(
                    {
                        "mode": mode,
                        "parameter": label,
                        "mean": row.mean(),
                        "sd": row.std(),
                        "q2.5": lo,
                        "q97.5": hi,
                        "truth": float(t),
                        "covers": bool(lo <= t <= hi),
                    }
                )
    return pd.DataFrame(rows)


def linear_noise_studies(
    *,
    replicates: int = 1000,
    J_tildes: Sequence[int] | None = None,
    grid_points: int = 51,
    seed: int = 0,
    precision: str | None = None,
) -> tuple[np.ndarray, np.ndarray, np.ndarray, NoiseStudy]:
    """Noise studies A and B of the linear example (Weber et al. 2018, figure 2).

    Returns the grid of ``delta_2``, the 10/50/90 % band of ``l~`` (J_tilde = 100), the
    exact log-likelihood on the grid, and study B over ``J_tildes`` (default 21 values
    from 50 to 5000, log-spaced) at ``delta = (0.1, 0)``.
    """
    sim = simulate_linear()
    grid = np.linspace(0.0, 0.22, grid_points)
    deltas = np.stack([np.full(grid.size, 0.1), grid], axis=-1)
    if J_tildes is None:
        J_tildes = np.round(10 ** np.linspace(np.log10(50), np.log10(5000), 21)).astype(int)
    with computing_in(resolve_precision(precision, DEFAULT_PRECISION)):
        approx, exact = linear_average_logliks(sim)
        band = noise_band(
            approx, deltas, n_simulated=100, n_effects=2, replicates=replicates, seed=seed
        )
        exact_values = np.asarray(jax.vmap(exact)(jax.numpy.asarray(deltas)))
        delta0 = jax.numpy.asarray([0.1, 0.0])
        study = noise_study(
            lambda xi, mask: approx(delta0, xi, mask),
            n_effects=2,
            J_tildes=J_tildes,
            replicates=replicates,
            seed=seed + 1,
        )
    return grid, band, exact_values, study


def plot_noise(grid, band, exact_values, study: NoiseStudy, path) -> None:
    """Figure: study A (band over the exact curve) and study B (log-log width)."""
    from matplotlib.figure import Figure

    fig = Figure(figsize=(10, 4), layout="tight")
    left, right = fig.subplots(1, 2)
    left.fill_between(grid, band[:, 0], band[:, 2], alpha=0.3, label="80% band of approx")
    left.plot(grid, band[:, 1], label="median approx")
    left.plot(grid, exact_values, "k--", label="exact")
    left.set(xlabel="delta_2", ylabel="log-likelihood of ybar'", title="J_tilde = 100")
    left.legend()
    right.loglog(study.J_tildes, study.width, "o", label="q90 - q10")
    right.loglog(
        study.J_tildes, 10**study.intercept_fixed * study.J_tildes**-0.5, "k--", label="slope -1/2"
    )
    right.set(xlabel="J_tilde", ylabel="80% interval width", title=f"free slope {study.slope:.3f}")
    right.legend()
    atomic_write(path, fig.savefig)


def plot_modes(table: pd.DataFrame, parameters: Sequence[str], path, *, clip: float = 10.0) -> None:
    """Figure: posterior mean and 95 % interval of ``parameters`` per mode, with the truth.

    An interval more than ``clip`` times wider than the narrowest one (``local``'s prior
    for delta) would hide the others: the axis then spans the narrow ones and the wide
    interval is drawn to the edge, with its numbers written beside it.
    """
    from matplotlib.figure import Figure

    fig = Figure(figsize=(4 * len(parameters), 3.5), layout="tight")
    axes = fig.subplots(1, len(parameters))
    for ax, parameter in zip(np.atleast_1d(axes), parameters, strict=True):
        rows = table[table.parameter == parameter].reset_index(drop=True)
        width = rows["q97.5"] - rows["q2.5"]
        wide = width > clip * width.min()
        narrow = rows[~wide]
        truth = rows["truth"].iloc[0]
        lo = min(narrow["q2.5"].min(), truth)
        hi = max(narrow["q97.5"].max(), truth)
        pad = 0.15 * (hi - lo)
        limits = (lo - pad, hi + pad)
        ax.errorbar(
            narrow["mean"],
            narrow.index,
            xerr=[narrow["mean"] - narrow["q2.5"], narrow["q97.5"] - narrow["mean"]],
            fmt="o",
        )
        for index, row in rows[wide].iterrows():
            ax.annotate(
                "",
                xy=(limits[1], index),
                xytext=(limits[0], index),
                arrowprops={"arrowstyle": "<->", "color": "C1"},
            )
            ax.text(
                np.mean(limits),
                index + 0.15,
                f"95% [{row['q2.5']:.2f}, {row['q97.5']:.2f}] (off scale)",
                ha="center",
                color="C1",
                fontsize=8,
            )
        ax.set_xlim(*limits)
        ax.set_ylim(-0.5, len(rows) - 0.5)
        ax.axvline(truth, color="k", ls="--")
        ax.set_yticks(rows.index, rows["mode"])
        ax.set_title(parameter)
    atomic_write(path, fig.savefig)
