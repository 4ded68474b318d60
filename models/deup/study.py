"""The optimisation comparisons of Lahlou et al. (2023, Section 5.1), their figure and table.

* :data:`SMO_METHODS` - DEUP-EI, GP-EI, MC-dropout-EI, ensemble-EI and random search (the
  paper's multi_optima and Levi N.13 runs);
* :data:`TURBO_METHODS` - TuRBO-EI and TuRBO-DEUP-EI (its Ackley runs);
* :func:`compare` runs several methods on one function, :func:`curves_figure` draws the
  best value found against the step (mean +- standard error over seeds),
  :func:`summary_table` gives the final values, :func:`random_search_expected_best` the
  exact expected best value of random search (a check of the harness).
"""

from __future__ import annotations

from collections.abc import Mapping
from pathlib import Path
from typing import Any

import numpy as np

from bayesuq.models.deup.functions import TestFunction

__all__ = [
    "SMO_METHODS",
    "TURBO_METHODS",
    "compare",
    "curves_figure",
    "random_search_expected_best",
    "summary_table",
]

SMO_METHODS: dict[str, dict[str, Any]] = {
    "DEUP-EI": {"surrogate": "deup"},
    "GP-EI": {"surrogate": "gp"},
    "MC-dropout-EI": {"surrogate": "mc_dropout"},
    "Ensemble-EI": {"surrogate": "ensemble"},
    "Random": {"surrogate": "random"},
}
"""Methods of the paper's multi_optima / Levi N.13 comparison (arguments of ``optimize``)."""

TURBO_METHODS: dict[str, dict[str, Any]] = {
    "TuRBO-EI": {"surrogate": "gp", "trust_region": True},
    "TuRBO-DEUP-EI": {"surrogate": "deup", "trust_region": True},
}
"""Methods of the paper's Ackley comparison (TuRBO trust regions, 20 initial points)."""


def compare(
    objective: TestFunction,
    methods: Mapping[str, Mapping[str, Any]],
    *,
    progress: bool = False,
    **common: Any,
) -> dict[str, Any]:
    """Run each method (``optimize(objective, **common, **method)``) and collect the results.

    Returns
    -------
    dict
        ``method name -> xarray.Dataset`` (see :func:`~bayesuq.models.deup.optimize`).
    """
    from bayesuq.models.deup.smo import optimize

    return {
        name: optimize(objective, progress=progress, **{**common, **dict(options)})
        for name, options in methods.items()
    }


def random_search_expected_best(
    objective: TestFunction, n_init: int, steps: int, *, grid: int = 200_001
) -> np.ndarray:
    """``E[max of m uniform evaluations]`` for ``m = n_init .. n_init + steps`` (1-D and 2-D).

    ``E max = hi - int_lo^hi F(v)^m dv`` with ``F`` the distribution function of ``f(U)``,
    ``U`` uniform on the box, approximated on a regular grid of the box (``grid`` points
    in 1-D, ``sqrt(grid)``-sided in 2-D).
    """
    import jax.numpy as jnp

    d = objective.dim
    if d > 2:
        raise ValueError("random_search_expected_best supports 1-D and 2-D functions")
    side = grid if d == 1 else int(np.sqrt(grid))
    axes = [
        np.linspace(lo, hi, side) for lo, hi in zip(objective.lower, objective.upper, strict=True)
    ]
    points = np.stack(np.meshgrid(*axes, indexing="ij"), axis=-1).reshape(-1, d)
    values = np.sort(np.asarray(objective(jnp.asarray(points))))
    levels = np.linspace(values[0], values[-1], 4001)
    cdf = np.searchsorted(values, levels, side="right") / values.size
    ms = np.arange(n_init, n_init + steps + 1)
    integrand = cdf[None, :] ** ms[:, None]
    return values[-1] - np.trapezoid(integrand, levels, axis=1)


def summary_table(results: Mapping[str, Mapping[str, Any]]):
    """Final best values per function and method: mean, standard error, seeds, steps.

    Parameters
    ----------
    results
        ``function name -> {method -> Dataset}``.
    """
    import pandas as pd

    rows = []
    for function, by_method in results.items():
        for method, ds in by_method.items():
            final = ds.best.isel(step=-1).values
            rows.append(
                {
                    "function": function,
                    "method": method,
                    "final_best_mean": float(final.mean()),
                    "final_best_se": float(final.std(ddof=1) / np.sqrt(final.size))
                    if final.size > 1
                    else float("nan"),
                    "optimum": float(ds.attrs["optimum"]),
                    "seeds": int(final.size),
                    "steps": int(ds.sizes["step"] - 1),
                    "seconds": float(ds.attrs["total_seconds"]),
                }
            )
    return pd.DataFrame(rows)


def curves_figure(
    results: Mapping[str, Mapping[str, Any]],
    path: str | Path,
    *,
    reference: Mapping[str, np.ndarray] | None = None,
    dpi: int = 90,
) -> Path:
    """Best value found against the step, mean +- 1 standard error over seeds.

    One panel per function (``results``: ``function name -> {method -> Dataset}``); the
    dotted line is the optimum; ``reference`` may add the exact expected best of random
    search per function. Written with :func:`bayesuq.io.atomic_write`.
    """
    from matplotlib.figure import Figure

    from bayesuq.io import atomic_write

    panels = list(results)
    fig = Figure(figsize=(4.0 * len(panels), 3.2), layout="constrained")
    axes = np.atleast_1d(fig.subplots(1, len(panels)))
    for ax, function in zip(axes, panels, strict=True):
        for method, ds in results[function].items():
            best = ds.best.values
            mean = best.mean(axis=0)
            se = best.std(axis=0, ddof=1) / np.sqrt(best.shape[0]) if best.shape[0] > 1 else 0
            steps = ds.step.values
            (line,) = ax.plot(steps, mean, label=method, lw=1.5)
            ax.fill_between(steps, mean - se, mean + se, color=line.get_color(), alpha=0.2)
        first = next(iter(results[function].values()))
        ax.axhline(float(first.attrs["optimum"]), color="k", ls=":", lw=1, label="optimum")
        if reference is not None and function in reference:
            ax.plot(
                first.step.values, reference[function], color="grey", ls="--", lw=1,
                label="random (exact)",
            )  # fmt: skip
        ax.set_title(function)
        ax.set_xlabel("step")
        ax.set_ylabel("best value found")
    axes[0].legend(fontsize=7, loc="lower right")
    return atomic_write(path, lambda partial: fig.savefig(partial, dpi=dpi))
