"""The figure panels of a report, chosen by the kind of fit.

MCMC fits get trace, rank, pair (divergences marked) and energy panels; SVI fits the ELBO
curve; independent draws (SVI, martingale posteriors) marginal histograms and a pair plot.
Every fit with a ``posterior_predictive`` group gets predictive panels, which are checks
against the data when ``observed_data`` has a variable of the same name and size.
"""

from __future__ import annotations

import arviz as az
import numpy as np
import xarray as xr

from bayesuq.diagnostics import Diagnostics
from bayesuq.reporting import figures
from bayesuq.reporting.method import FitKind
from bayesuq.reporting.sections import Section, figure_section, note_section
from bayesuq.reporting.selection import Selection, scalar_draws

MAX_PAIR = 4
MAX_PREDICTIVE_VARIABLES = 3
MAX_PREDICTIVE_SAMPLES = 4000


def _divergent(idata: az.InferenceData) -> np.ndarray | None:
    stats = getattr(idata, "sample_stats", None)
    if stats is None or "diverging" not in stats:
        return None
    return np.asarray(stats["diverging"].transpose("chain", "draw").values, dtype=bool)


def _rank_chains_note(draws: dict[str, np.ndarray]) -> str:
    chains = next(iter(draws.values())).shape[0] if draws else 0
    if chains <= figures.MAX_RANK_CHAINS:
        return ""
    return f" Only the first {figures.MAX_RANK_CHAINS} of {chains} chains are drawn."


def _mcmc_panels(
    idata: az.InferenceData,
    diagnostics: Diagnostics,
    draws: dict[str, np.ndarray],
    encoder: figures.FigureEncoder,
) -> list[Section]:
    divergent = _divergent(idata)
    names = ", ".join(draws)
    sections = [
        figure_section(
            "trace",
            "Trace plots",
            encoder.tag(figures.trace_figure(draws, divergent), kind="trace", alt=names),
            "Per chain: histogram and trace of the worst-mixing scalars. Good chains overlap "
            "and look like stationary noise; trends, plateaus or chains at different levels "
            "mean they have not converged. Red ticks mark divergent transitions.",
        ),
        figure_section(
            "rank",
            "Rank plots",
            encoder.tag(figures.rank_figure(draws), kind="rank", alt=names),
            "Histograms of each chain's ranks among the draws of all chains. Flat histograms "
            "near the dashed line mean the chains mix; slopes or humps mean a chain sits "
            "above, below or in the middle of the others." + _rank_chains_note(draws),
        ),
    ]
    sections.append(_pair_panel(draws, divergent, encoder, mcmc=True))
    stats = getattr(idata, "sample_stats", None)
    if stats is not None and "energy" in stats:
        energy = np.asarray(stats["energy"].transpose("chain", "draw").values, dtype=float)
        sections.append(
            figure_section(
                "energy",
                "Energy",
                encoder.tag(
                    figures.energy_figure(energy, diagnostics.bfmi),
                    kind="energy",
                    alt="energy plot",
                ),
                "Distribution of the Hamiltonian energy and of its change between draws. When "
                "the transitions (orange) are much narrower than the marginal (blue), the "
                "sampler explores the tails slowly (low E-BFMI, below 0.3 is a problem).",
            )
        )
    else:
        sections.append(
            note_section("energy", "Energy", "No energy statistic in sample_stats: no plot.")
        )
    return sections


def _pair_panel(
    draws: dict[str, np.ndarray],
    divergent: np.ndarray | None,
    encoder: figures.FigureEncoder,
    *,
    mcmc: bool,
) -> Section:
    chosen = dict(list(draws.items())[:MAX_PAIR])
    if len(chosen) < 2:
        return note_section("pair", "Pair plot", "Only one scalar is plotted: no pair plot.")
    caption = (
        "Joint draws of the worst-mixing scalars; divergent transitions in red. Divergences "
        "that cluster (often at the narrow end of a funnel) show where the sampler fails."
        if mcmc
        else "Joint draws of the plotted scalars: correlations and shapes of the posterior."
    )
    return figure_section(
        "pair",
        "Pair plot",
        encoder.tag(figures.pair_figure(chosen, divergent), kind="pair", alt=", ".join(chosen)),
        caption,
    )


def _elbo_panel(idata: az.InferenceData, encoder: figures.FigureEncoder) -> Section:
    loss = np.asarray(idata.sample_stats["loss"].values, dtype=float)
    verdict = str(idata.attrs.get("svi_convergence", ""))
    caption = (
        "The loss (negative ELBO) should fall and then level off into noise; a slope in the "
        "last half means more steps are needed."
    ) + (f" Verdict: {verdict}" if verdict else "")
    return figure_section(
        "elbo",
        "ELBO",
        encoder.tag(figures.elbo_figure(loss), kind="elbo", alt="SVI loss by step"),
        caption,
    )


def _observed_match(idata: az.InferenceData, name: str, predicted: xr.DataArray):
    """The observed array matching predictive variable ``name`` (same name and size)."""
    if "observed_data" not in idata.groups() or name not in idata.observed_data:
        return None
    observed = idata.observed_data[name]
    event = [d for d in predicted.dims if d not in ("chain", "draw")]
    if set(observed.dims) == set(event):
        return observed.transpose(*event)
    size = int(np.prod([predicted.sizes[d] for d in event]))
    return observed if observed.size == size else None


def predictive_panels(idata: az.InferenceData, encoder: figures.FigureEncoder) -> list[Section]:
    """Posterior predictive panels (checks against the data where the data exist)."""
    if "posterior_predictive" not in idata.groups():
        return []
    group = idata.posterior_predictive
    names = [str(n) for n in group.data_vars]
    sections = []
    for position, name in enumerate(names[:MAX_PREDICTIVE_VARIABLES]):
        predicted = group[name]
        anchor = f"predictive-{position}"
        if not {"chain", "draw"} <= set(predicted.dims):
            sections.append(
                note_section(anchor, f"Posterior predictive: {name}", "No chain/draw dims.")
            )
            continue
        observed = _observed_match(idata, name, predicted)
        event = [d for d in predicted.dims if d not in ("chain", "draw")]
        replicates = np.asarray(predicted.transpose("chain", "draw", *event).values, float)
        replicates = replicates.reshape(-1, int(np.prod(replicates.shape[2:], dtype=int)))
        step = max(1, int(np.ceil(replicates.shape[0] / MAX_PREDICTIVE_SAMPLES)))
        replicates = replicates[::step]
        ticks = None
        if len(event) == 1 and event[0] in predicted.coords:
            ticks = list(predicted[event[0]].values)
        values = None if observed is None else np.asarray(observed.values, float).ravel()
        kind = "ppc" if observed is not None else "predictive"
        fig = figures.predictive_figure(replicates, values, name=name, ticks=ticks)
        if observed is not None:
            title = f"Posterior predictive check: {name}"
            caption = (
                "Posterior predictive intervals (or replicated data sets) against the "
                "observed data (black). Data far outside the predictions point to a model "
                "that does not describe them."
            )
        else:
            title = f"Posterior predictive: {name}"
            caption = (
                f"Predictive draws of {name}; observed_data has no variable of that name "
                "and size, so there is nothing to compare them with."
            )
        sections.append(
            figure_section(anchor, title, encoder.tag(fig, kind=kind, alt=name), caption)
        )
    if len(names) > MAX_PREDICTIVE_VARIABLES:
        rest = ", ".join(names[MAX_PREDICTIVE_VARIABLES:])
        sections.append(
            note_section(
                "predictive-more",
                "More predictive variables",
                f"Not plotted (only the first {MAX_PREDICTIVE_VARIABLES} are): {rest}.",
            )
        )
    return sections


def figure_panels(
    idata: az.InferenceData,
    diagnostics: Diagnostics,
    kind: FitKind,
    selection: Selection,
    encoder: figures.FigureEncoder,
) -> list[Section]:
    """All figure panels of the report, in page order."""
    posterior = idata.posterior
    draws = {s.label: scalar_draws(posterior, s) for s in selection.plotted}
    sections: list[Section] = []
    if kind.svi:
        sections.append(_elbo_panel(idata, encoder))
    if not draws:
        sections.append(
            note_section("plots", "Plots", "No scalar of the summary could be traced to draws.")
        )
    elif kind.mcmc:
        sections += _mcmc_panels(idata, diagnostics, draws, encoder)
    else:
        sections.append(
            figure_section(
                "marginals",
                "Marginal distributions",
                encoder.tag(
                    figures.marginals_figure(draws), kind="marginals", alt=", ".join(draws)
                ),
                "Histograms of the draws of the plotted scalars.",
            )
        )
        sections.append(_pair_panel(draws, None, encoder, mcmc=False))
    sections += predictive_panels(idata, encoder)
    return sections
