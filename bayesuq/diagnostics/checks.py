"""Convergence checks of a fit and a verdict in plain language.

MCMC results are judged by the rank-normalised split R-hat, bulk and tail effective sample
size and Monte Carlo standard errors of Vehtari, Gelman, Simpson, Carpenter & Bürkner
(2021, "Rank-normalization, folding, and localization: an improved R-hat", Bayesian
Analysis 16(2)), by divergent transitions, by the energy Bayesian fraction of missing
information E-BFMI = sum_t (E_t - E_{t-1})^2 / sum_t (E_t - mean E)^2 (Betancourt 2016,
arXiv:1604.00695), by tree-depth saturation and by stuck-chain detection. SVI results are
judged by the convergence of their ELBO; draws from non-MCMC methods are summarised only.
"""

from __future__ import annotations

import warnings
from dataclasses import dataclass, field

import arviz as az
import numpy as np
import pandas as pd

from bayesuq.diagnostics.chains import find_stuck_chains

RHAT_MAX = 1.01
ESS_PER_CHAIN_MIN = 100
BFMI_MIN = 0.3
TREEDEPTH_WARN_FRACTION = 0.01


@dataclass
class Diagnostics:
    """The verdict on one fit.

    Attributes
    ----------
    ok
        ``True`` when nothing threatens the validity of the results.
    messages
        Problems found, each with what to do about it; efficiency notes too.
    table
        One row per scalar parameter: mean, sd, HDI, MCSE, bulk/tail ESS, R-hat and a
        ``problem`` column naming what is wrong with that row.
    divergences, bfmi, treedepth_saturation, stuck_chains
        The raw figures behind the verdict (MCMC only).
    """

    ok: bool
    messages: list[str]
    table: pd.DataFrame
    method: str
    divergences: int = 0
    bfmi: np.ndarray | None = None
    treedepth_saturation: float = 0.0
    stuck_chains: dict[int, str] = field(default_factory=dict)

    def __str__(self) -> str:
        verdict = "OK" if self.ok else "PROBLEMS FOUND"
        lines = [f"bayesuq diagnostics ({self.method}): {verdict}"]
        lines += [f"  - {m}" for m in self.messages]
        with pd.option_context("display.width", 120, "display.max_rows", 60):
            lines.append(self.table.to_string(float_format=lambda x: f"{x:.4g}"))
        return "\n".join(lines)

    def _repr_html_(self) -> str:  # notebooks
        items = "".join(f"<li>{m}</li>" for m in self.messages)
        verdict = "OK" if self.ok else "problems found"
        return f"<p><b>Diagnostics: {verdict}</b></p><ul>{items}</ul>" + self.table.to_html()


def _summary(idata: az.InferenceData, var_names: list[str] | None, mcmc: bool) -> pd.DataFrame:
    with warnings.catch_warnings():
        # arviz warns that R-hat needs 2 chains; single-chain R-hat is reported as NaN.
        warnings.simplefilter("ignore")
        table = az.summary(idata, var_names=var_names, kind="all" if mcmc else "stats")
    table["problem"] = ""
    return table


def _flag(table: pd.DataFrame, mask: pd.Series, label: str) -> list[str]:
    table.loc[mask, "problem"] = (table.loc[mask, "problem"] + " " + label).str.strip()
    return list(table.index[mask])


def _names(rows: list[str], limit: int = 5) -> str:
    shown = ", ".join(rows[:limit])
    return shown + (f" and {len(rows) - limit} more" if len(rows) > limit else "")


def _mcmc_messages(idata: az.InferenceData, table: pd.DataFrame, chains: int) -> tuple:
    """Problems (invalidating) and notes (efficiency) from the MCMC statistics."""
    problems, notes = [], []
    stats = idata.sample_stats
    if chains > 1:
        high = _flag(table, table["r_hat"] > RHAT_MAX, "r_hat")
        if high:
            problems.append(
                f"R-hat up to {table['r_hat'].max():.3f} (> {RHAT_MAX}) for {_names(high)}: "
                f"the chains disagree; run longer (more warmup and draws), check for "
                f"multimodality, or reparameterise"
            )
    threshold = ESS_PER_CHAIN_MIN * chains
    for column, what in (("ess_bulk", "bulk"), ("ess_tail", "tail")):
        low = _flag(table, table[column] < threshold, column)
        if low:
            problems.append(
                f"{what} ESS as low as {table[column].min():.0f} (< {threshold}) for "
                f"{_names(low)}: too few effective draws for reliable "
                f"{'means' if what == 'bulk' else 'interval ends'}; run more draws or "
                f"reparameterise"
            )
    divergences = int(stats["diverging"].sum()) if "diverging" in stats else 0
    if divergences:
        target = idata.attrs.get("target_accept", "its current value")
        problems.append(
            f"{divergences} divergent transitions: the sampler cannot follow the posterior's "
            f"geometry; reparameterise (e.g. non-centred) or raise target_accept "
            f"(now {target})"
        )
    bfmi = None
    if "energy" in stats:
        bfmi = np.asarray(az.bfmi(idata))
        low = np.flatnonzero(bfmi < BFMI_MIN)
        if low.size:
            problems.append(
                f"E-BFMI {', '.join(f'{b:.2f}' for b in bfmi[low])} below {BFMI_MIN} in chain(s) "
                f"{low.tolist()}: momentum resampling explores the energy poorly (heavy "
                f"tails or a funnel); reparameterise"
            )
    saturation = (
        float(stats["reached_max_treedepth"].mean()) if "reached_max_treedepth" in stats else 0.0
    )
    if saturation > TREEDEPTH_WARN_FRACTION:
        depth = idata.attrs.get("max_tree_depth", "its limit")
        notes.append(
            f"{saturation:.1%} of transitions hit max_tree_depth={depth}: valid but slow; "
            f"raise max_tree_depth or reparameterise"
        )
    stuck = {}
    if "step_size" in stats and "lp" in stats:
        stuck = find_stuck_chains(stats["step_size"].values, stats["lp"].values)
        problems += [
            f"{r}: drop it, or re-run with recover=True or another seed" for r in stuck.values()
        ]
    recovered = str(idata.attrs.get("recovered_chains", ""))
    if recovered:
        notes.append(
            f"chain(s) {recovered} got stuck in warm-up and were re-initialised and re-run: "
            f"{idata.attrs.get('recovery_messages', '')}"
        )
    return problems, notes, divergences, bfmi, saturation, stuck


def diagnose(idata: az.InferenceData, *, var_names: list[str] | None = None) -> Diagnostics:
    """Check a fit and say, in plain language, whether to trust it and what to do if not.

    Parameters
    ----------
    idata
        Result of :func:`bayesuq.nuts`, :func:`bayesuq.svi` or any engine of the zoo.
    var_names
        Restrict the table to these variables.

    Returns
    -------
    Diagnostics
        ``ok``, ``messages`` and the summary ``table``.

    Notes
    -----
    Thresholds: R-hat <= 1.01, bulk and tail ESS >= 100 per chain, no divergences,
    E-BFMI >= 0.3 per chain, no stuck chain. Tree-depth saturation above 1% is reported
    as an efficiency note and does not fail the verdict.
    """
    if not hasattr(idata, "posterior"):
        raise ValueError("idata has no posterior group: nothing to diagnose")
    stats = getattr(idata, "sample_stats", None)
    mcmc = stats is not None and "diverging" in stats
    method = str(idata.attrs.get("inference", "nuts" if mcmc else "draws"))
    table = _summary(idata, var_names, mcmc)
    problems: list[str] = []
    notes: list[str] = []
    extra = {}
    nonfinite = [v for v in idata.posterior.data_vars if not np.isfinite(idata.posterior[v]).all()]
    if nonfinite:
        problems.append(f"non-finite draws in {_names(nonfinite)}: the results are not usable")
    if mcmc:
        chains = idata.posterior.sizes["chain"]
        problems_, notes_, divergences, bfmi, saturation, stuck = _mcmc_messages(
            idata, table, chains
        )
        problems += problems_
        notes += notes_
        extra = dict(
            divergences=divergences, bfmi=bfmi, treedepth_saturation=saturation, stuck_chains=stuck
        )
    if method == "svi" and str(idata.attrs.get("svi_converged")) == "False":
        problems.append(str(idata.attrs.get("svi_convergence", "the ELBO did not converge")))
    ok = not problems
    if ok:
        notes.insert(0, _all_clear(method, mcmc))
    return Diagnostics(ok=ok, messages=problems + notes, table=table, method=method, **extra)


def _all_clear(method: str, mcmc: bool) -> str:
    if mcmc:
        return (
            f"no problems found: R-hat <= {RHAT_MAX}, bulk and tail ESS >= "
            f"{ESS_PER_CHAIN_MIN} per chain, no divergences, E-BFMI >= {BFMI_MIN}, no stuck chain"
        )
    if method == "svi":
        return "the ELBO converged; SVI posteriors are approximations (check against NUTS)"
    return "draws are finite; MCMC convergence checks do not apply to this method"
