"""Convergence checks of a fit and a verdict in plain language that names what was checked.

Which checks apply is decided by the result's ``inference`` tag alone
(:mod:`bayesuq.diagnostics.kinds`):

* Markov chains (``nuts``, ``hmc``) and draws of unknown origin are judged by the
  rank-normalised split R-hat, bulk and tail effective sample size and Monte Carlo standard
  errors of Vehtari, Gelman, Simpson, Carpenter & Bürkner (2021, "Rank-normalization,
  folding, and localization: an improved R-hat", Bayesian Analysis 16(2)). With one chain
  the between-chain comparison cannot run: R-hat is then computed within the chain, from its
  two halves (the split R-hat, defined for one chain of at least 4 draws), and the verdict
  says so. Where sampler statistics exist, divergent transitions, the energy Bayesian
  fraction of missing information E-BFMI = sum_t (E_t - E_{t-1})^2 / sum_t (E_t - mean E)^2
  (Betancourt 2016, arXiv:1604.00695), tree-depth saturation and stuck chains are checked.
* Variational fits (``svi``) are judged by the convergence of their ELBO.
* Independent draws by construction (martingale posteriors, the Bayesian bootstrap, DEUP,
  NIW-Meta) get the method's own checks (predictive-resampling convergence for martingale
  posteriors) and no chain checks.

The verdict lists the checks that ran and those that could not; it never quotes a
threshold that was not checked.
"""

from __future__ import annotations

import warnings
from dataclasses import dataclass, field
from typing import Any

import numpy as np
import pandas as pd

from bayesuq.diagnostics.chains import find_stuck_chains
from bayesuq.diagnostics.kinds import DrawKind, draw_kind, inference_tag

RHAT_MAX = 1.01
ESS_PER_CHAIN_MIN = 100
BFMI_MIN = 0.3
TREEDEPTH_WARN_FRACTION = 0.01
MIN_DRAWS_FOR_SPLIT_RHAT = 4
MARTINGALE_CONVERGENCE_DEFAULT = 0.1


@dataclass
class Diagnostics:
    """The verdict on one fit.

    Attributes
    ----------
    ok
        ``True`` when no check that ran found a problem threatening the results.
    messages
        Problems found, each with what to do about it; then efficiency notes and a summary
        of what was checked.
    table
        One row per scalar parameter: mean, sd, HDI, and (where chain checks ran) MCSE,
        bulk/tail ESS and R-hat; a ``problem`` column names what is wrong with that row.
    method
        The result's ``inference`` tag (``"unknown"`` when it has none).
    checked, not_checked
        The checks that ran, and those that could not (with the reason).
    divergences, bfmi, treedepth_saturation, stuck_chains
        The raw figures behind the verdict (where sampler statistics exist).
    """

    ok: bool
    messages: list[str]
    table: pd.DataFrame
    method: str
    checked: list[str] = field(default_factory=list)
    not_checked: list[str] = field(default_factory=list)
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


@dataclass
class _Findings:
    """What the checks collect while they run."""

    problems: list[str] = field(default_factory=list)
    notes: list[str] = field(default_factory=list)
    checked: list[str] = field(default_factory=list)
    not_checked: list[str] = field(default_factory=list)
    extra: dict[str, Any] = field(default_factory=dict)


def _check_input(idata: Any) -> None:
    import arviz as az

    if not isinstance(idata, az.InferenceData):
        raise TypeError(
            f"diagnose expects an arviz.InferenceData (the result of bayesuq.nuts, svi, a "
            f"model family, or bayesuq.load), got {type(idata).__name__}"
        )
    if "posterior" not in idata.groups():
        raise ValueError(
            f"this InferenceData has no posterior group (it has {idata.groups()}): there "
            f"are no draws to diagnose"
        )


def _flag(table: pd.DataFrame, mask: pd.Series, label: str) -> list[str]:
    table.loc[mask, "problem"] = (table.loc[mask, "problem"] + " " + label).str.strip()
    return list(table.index[mask])


def _names(rows: list[str], limit: int = 5) -> str:
    shown = ", ".join(rows[:limit])
    return shown + (f" and {len(rows) - limit} more" if len(rows) > limit else "")


def _halves(idata: Any, var_names: list[str] | None) -> Any:
    """The posterior of a one-chain fit as two chains, its first and second half."""
    import arviz as az
    import xarray as xr

    posterior = idata.posterior if var_names is None else idata.posterior[var_names]
    half = posterior.sizes["draw"] // 2
    first = posterior.isel(draw=slice(0, half))
    second = posterior.isel(draw=slice(half, 2 * half)).assign_coords(draw=first.draw)
    return az.InferenceData(
        posterior=xr.concat([first, second], dim="chain").assign_coords(chain=[0, 1])
    )


def _summary(idata: Any, var_names: list[str] | None, chain_checks: bool) -> pd.DataFrame:
    import arviz as az

    with warnings.catch_warnings():
        # arviz warns that R-hat needs 2 chains; one chain gets the split R-hat below.
        warnings.simplefilter("ignore")
        table = az.summary(idata, var_names=var_names, kind="all" if chain_checks else "stats")
        if chain_checks and idata.posterior.sizes["chain"] == 1:
            split = az.summary(_halves(idata, var_names), kind="diagnostics")
            table["r_hat"] = split["r_hat"].reindex(table.index)
    table["problem"] = ""
    return table


def _chain_checks(table: pd.DataFrame, chains: int, draws: int, found: _Findings) -> None:
    """R-hat and ESS (between chains, or within the chain when there is one)."""
    if chains == 1 and draws < MIN_DRAWS_FOR_SPLIT_RHAT:
        found.not_checked.append(
            f"R-hat and ESS: only {draws} draws in one chain (at least "
            f"{MIN_DRAWS_FOR_SPLIT_RHAT} needed)"
        )
        return
    what = "R-hat" if chains > 1 else "split R-hat (within the one chain)"
    high = _flag(table, table["r_hat"] > RHAT_MAX, "r_hat")
    if high:
        found.problems.append(
            f"{what} up to {table['r_hat'].max():.3f} (> {RHAT_MAX}) for {_names(high)}: "
            + (
                "the chains disagree; run longer (more warmup and draws), check for "
                "multimodality, or reparameterise"
                if chains > 1
                else "the two halves of the chain disagree: it has not converged; run longer "
                "and with several chains"
            )
        )
    found.checked.append(f"{what} <= {RHAT_MAX}")
    if chains == 1:
        found.not_checked.append(
            "agreement between chains: there is one chain; run several chains (chains=4) to "
            "detect chains stuck in different modes"
        )
    threshold = ESS_PER_CHAIN_MIN * chains
    for column, what in (("ess_bulk", "bulk"), ("ess_tail", "tail")):
        low = _flag(table, table[column] < threshold, column)
        if low:
            found.problems.append(
                f"{what} ESS as low as {table[column].min():.0f} (< {threshold}) for "
                f"{_names(low)}: too few effective draws for reliable "
                f"{'means' if what == 'bulk' else 'interval ends'}; draw more (for NUTS/HMC "
                f"results: bayesuq.nuts(model, data, resume=idata, draws=...) continues the "
                f"chains without a new warm-up) or reparameterise"
            )
    found.checked.append(f"bulk and tail ESS >= {threshold}")


def _sampler_checks(idata: Any, table: pd.DataFrame, found: _Findings) -> None:
    """Divergences, E-BFMI, tree depth and stuck chains, where the statistics exist."""
    import arviz as az

    stats = getattr(idata, "sample_stats", None)
    present = set(stats.data_vars) if stats is not None else set()
    if "diverging" in present:
        divergences = int(stats["diverging"].sum())
        found.extra["divergences"] = divergences
        if divergences:
            target = idata.attrs.get("target_accept", "its current value")
            found.problems.append(
                f"{divergences} divergent transitions: the sampler cannot follow the "
                f"posterior's geometry; reparameterise (e.g. non-centred) or raise "
                f"target_accept (now {target})"
            )
        found.checked.append("no divergent transitions")
    if "energy" in present:
        bfmi = np.asarray(az.bfmi(idata))
        found.extra["bfmi"] = bfmi
        low = np.flatnonzero(bfmi < BFMI_MIN)
        if low.size:
            found.problems.append(
                f"E-BFMI {', '.join(f'{b:.2f}' for b in bfmi[low])} below {BFMI_MIN} in "
                f"chain(s) {low.tolist()}: momentum resampling explores the energy poorly "
                f"(heavy tails or a funnel); reparameterise"
            )
        found.checked.append(f"E-BFMI >= {BFMI_MIN}")
    if "reached_max_treedepth" in present:
        saturation = float(stats["reached_max_treedepth"].mean())
        found.extra["treedepth_saturation"] = saturation
        if saturation > TREEDEPTH_WARN_FRACTION:
            depth = idata.attrs.get("max_tree_depth", "its limit")
            found.notes.append(
                f"{saturation:.1%} of transitions hit max_tree_depth={depth}: valid but slow; "
                f"raise max_tree_depth or reparameterise"
            )
    if {"step_size", "lp"} <= present:
        stuck = find_stuck_chains(stats["step_size"].values, stats["lp"].values)
        found.extra["stuck_chains"] = stuck
        found.problems += [
            f"{r}: drop it, or re-run with recover=True or another seed" for r in stuck.values()
        ]
        found.checked.append("no stuck chain")
    missing = [
        what
        for what, names in (
            ("divergences", {"diverging"}),
            ("E-BFMI", {"energy"}),
            ("stuck chains", {"step_size", "lp"}),
        )
        if not names <= present
    ]
    if missing:
        found.not_checked.append(
            f"{', '.join(missing)}: the result carries no such sampler statistics"
        )
    recovered = str(idata.attrs.get("recovered_chains", ""))
    if recovered:
        found.notes.append(
            f"chain(s) {recovered} got stuck in warm-up and were re-initialised and re-run: "
            f"{idata.attrs.get('recovery_messages', '')}"
        )


def _variational_checks(idata: Any, found: _Findings) -> None:
    verdict = str(idata.attrs.get("svi_convergence", ""))
    if str(idata.attrs.get("svi_converged")) == "True":
        found.checked.append("ELBO convergence (" + verdict + ")")
    elif verdict:
        found.problems.append(verdict)
        found.checked.append("ELBO convergence")
    else:
        found.not_checked.append("ELBO convergence: the result carries no verdict on it")
    found.not_checked.append(
        "chain checks (R-hat, ESS): the draws are independent draws from the fitted "
        "approximation, which is only an approximation of the posterior (compare with NUTS "
        "where you can)"
    )


def _independent_checks(idata: Any, tag: str, found: _Findings) -> None:
    attrs = idata.attrs
    if tag == "martingale":
        change = attrs.get("convergence_relative_change")
        if change is None:
            found.not_checked.append(
                "predictive-resampling convergence: not computed for this result (pass "
                "convergence_steps)"
            )
        else:
            threshold = float(attrs.get("convergence_threshold", MARTINGALE_CONVERGENCE_DEFAULT))
            change = float(change)
            if not change <= threshold:
                found.problems.append(
                    f"predictive resampling has not converged: the distance of the "
                    f"predictive from its start still changed by {change:.3g} (relative) over "
                    f"the second half of the forward steps (threshold {threshold}); raise "
                    f"steps (the forward horizon T) until it levels off"
                )
            found.checked.append(
                f"predictive-resampling convergence (relative change {change:.3g} <= {threshold})"
            )
    found.not_checked.append(
        f"chain checks (R-hat, ESS, divergences): {tag} draws are independent by "
        f"construction, not a Markov chain"
    )


def diagnose(idata: Any, *, var_names: list[str] | None = None) -> Diagnostics:
    """Check a fit and say, in plain language, whether to trust it and what to do if not.

    Parameters
    ----------
    idata
        Result of :func:`bayesuq.nuts`, :func:`bayesuq.hmc`, :func:`bayesuq.svi`, any
        engine of the zoo, or any ``arviz.InferenceData`` with a ``posterior``.
    var_names
        Restrict the table to these variables.

    Returns
    -------
    Diagnostics
        ``ok``, ``messages``, the summary ``table`` and the lists of checks that ran and
        that could not.

    Raises
    ------
    TypeError, ValueError
        ``idata`` is not an ``InferenceData`` or has no posterior (the message says what
        was passed).

    Notes
    -----
    Thresholds: R-hat <= 1.01, bulk and tail ESS >= 100 per chain, no divergences,
    E-BFMI >= 0.3 per chain, no stuck chain. Tree-depth saturation above 1% is an
    efficiency note and does not fail the verdict. Which checks apply depends on the
    ``inference`` tag (see the module docstring).
    """
    _check_input(idata)
    tag = inference_tag(idata) or "unknown"
    kind = draw_kind(idata)
    chains, draws = idata.posterior.sizes["chain"], idata.posterior.sizes["draw"]
    chain_checks = kind in (DrawKind.MCMC, DrawKind.UNKNOWN)
    table = _summary(idata, var_names, chain_checks)
    found = _Findings()
    nonfinite = [v for v in idata.posterior.data_vars if not np.isfinite(idata.posterior[v]).all()]
    if nonfinite:
        found.problems.append(
            f"non-finite draws in {_names(nonfinite)}: the results are not usable"
        )
    found.checked.append("finite draws")
    if kind is DrawKind.UNKNOWN:
        found.notes.append(
            "this result carries no known inference tag, so its draws were checked as if "
            "they were Markov chains"
        )
    if chain_checks:
        _chain_checks(table, chains, draws, found)
        _sampler_checks(idata, table, found)
    elif kind is DrawKind.VARIATIONAL:
        _variational_checks(idata, found)
    else:
        _independent_checks(idata, tag, found)
    ok = not found.problems
    summary = ("no problems found: " if ok else "checked: ") + "; ".join(found.checked)
    if found.not_checked:
        summary += ". Not checked: " + "; ".join(found.not_checked)
    messages = found.problems + found.notes + [summary]
    if ok:
        messages = [summary, *found.notes]
    return Diagnostics(
        ok=ok,
        messages=messages,
        table=table,
        method=tag,
        checked=found.checked,
        not_checked=found.not_checked,
        **found.extra,
    )
