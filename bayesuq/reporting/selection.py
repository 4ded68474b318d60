"""Which scalars a report shows: ordering by how badly they mix, and picking a handful.

A posterior with thousands of scalars cannot be tabulated or plotted in full in a readable
(or small) file, so the report shows the rows that matter most:

* MCMC fits: rows ordered by their *badness*
  ``b = max((R-hat - 1) / (R-hat_max - 1), ESS_min / ESS_bulk, ESS_min / ESS_tail)``,
  where ``b > 1`` means the row fails one of :func:`bayesuq.diagnose`'s thresholds
  (``R-hat_max = 1.01``, ``ESS_min = 100`` per chain); the worst rows are tabulated and the
  worst few plotted.
* Independent draws (SVI, martingale posteriors, ...): no mixing to judge, so the table and
  plots keep the model's order, taking the first scalar of each variable before the rest
  (every variable is represented).
"""

from __future__ import annotations

import itertools
from dataclasses import dataclass

import numpy as np
import pandas as pd
import xarray as xr

from bayesuq.diagnostics.checks import ESS_PER_CHAIN_MIN, RHAT_MAX

SAMPLE_DIMS = ("chain", "draw")


@dataclass(frozen=True)
class Scalar:
    """Where one summary-table row lives in the posterior: variable and flat position."""

    label: str
    var: str
    index: int


def scalar_index(posterior: xr.Dataset) -> dict[str, Scalar]:
    """``label -> Scalar`` for every scalar of ``posterior``, labelled like ``az.summary``.

    ArviZ labels a scalar ``var`` and an element ``var[c1, c2]`` with the coordinate
    values of its dims, in C order; the same labels are built here so that summary rows
    can be traced back to their draws.
    """
    out: dict[str, Scalar] = {}
    for var, array in posterior.data_vars.items():
        dims = [d for d in array.dims if d not in SAMPLE_DIMS]
        if not dims:
            out[str(var)] = Scalar(str(var), str(var), 0)
            continue
        values = [array[d].values if d in array.coords else np.arange(array.sizes[d]) for d in dims]
        for flat, combo in enumerate(itertools.product(*values)):
            label = f"{var}[{', '.join(str(v) for v in combo)}]"
            out[label] = Scalar(label, str(var), flat)
    return out


def scalar_draws(posterior: xr.Dataset, scalar: Scalar) -> np.ndarray:
    """Draws of one scalar, shape ``(chain, draw)``."""
    array = posterior[scalar.var].transpose(*SAMPLE_DIMS, ...)
    values = np.asarray(array.values, dtype=float)
    return values.reshape(values.shape[0], values.shape[1], -1)[..., scalar.index]


def badness(table: pd.DataFrame, chains: int) -> pd.Series:
    """The badness ``b`` of each row (module docstring); NaN statistics count as 0."""
    ess_min = ESS_PER_CHAIN_MIN * chains
    parts = []
    if "r_hat" in table and chains > 1:
        parts.append((table["r_hat"] - 1.0) / (RHAT_MAX - 1.0))
    for column in ("ess_bulk", "ess_tail"):
        if column in table:
            parts.append(ess_min / table[column].clip(lower=1e-12))
    if not parts:
        return pd.Series(0.0, index=table.index)
    return pd.concat(parts, axis=1).fillna(0.0).max(axis=1)


def _first_of_each_variable(labels: list[str], index: dict[str, Scalar]) -> list[str]:
    """``labels`` reordered: the first label of each variable, then the others."""
    seen: set[str] = set()
    first, rest = [], []
    for label in labels:
        var = index[label].var if label in index else label
        (rest if var in seen else first).append(label)
        seen.add(var)
    return first + rest


@dataclass(frozen=True)
class Selection:
    """The rows a report tabulates and the scalars it plots.

    Attributes
    ----------
    table_rows
        Labels of the summary rows shown (all of them in model order when they fit).
    plotted
        The scalars drawn in trace/rank/pair/marginal plots.
    total, flagged
        Number of scalars in the summary and of rows with a problem.
    flagged_hidden
        Rows with a problem that did not fit in the table.
    """

    table_rows: list[str]
    plotted: list[Scalar]
    total: int
    flagged: int
    flagged_hidden: int


def select(
    table: pd.DataFrame,
    index: dict[str, Scalar],
    *,
    mcmc: bool,
    chains: int,
    max_rows: int,
    max_plotted: int,
) -> Selection:
    """Choose the table rows (at most ``max_rows``) and plotted scalars (``max_plotted``).

    A table that fits is shown whole, in the model's order. A longer one is cut to the
    first ``max_rows`` of the ranking: MCMC rows by :func:`badness` (worst first), other
    rows in model order with one row per variable first. Plots take the top of the same
    ranking.
    """
    if max_rows < 1 or max_plotted < 1:
        raise ValueError(
            f"max_rows and max_plotted must be at least 1, got {max_rows} and {max_plotted}"
        )
    labels = list(table.index)
    flagged_mask = table["problem"].astype(str) != "" if "problem" in table else None
    flagged = int(flagged_mask.sum()) if flagged_mask is not None else 0
    if mcmc:
        score = badness(table, chains)
        ranked = list(score.sort_values(ascending=False, kind="stable").index)
    else:
        ranked = _first_of_each_variable(labels, index)
    rows = labels if len(labels) <= max_rows else ranked[:max_rows]
    shown = set(rows)
    hidden = (
        int(sum(1 for label in table.index[flagged_mask] if label not in shown))
        if flagged_mask is not None
        else 0
    )
    plotted = [index[label] for label in ranked if label in index][:max_plotted]
    return Selection(
        table_rows=rows,
        plotted=plotted,
        total=len(labels),
        flagged=flagged,
        flagged_hidden=hidden,
    )
