"""What kind of fit an ``InferenceData`` holds, which decides the panels of its report."""

from __future__ import annotations

from dataclasses import dataclass

import arviz as az

from bayesuq.diagnostics.kinds import DrawKind, draw_kind, inference_tag


@dataclass(frozen=True)
class FitKind:
    """How the draws were made.

    Attributes
    ----------
    method
        The result's ``inference`` tag (``"unknown"`` when it has none).
    label
        The tag with the family's estimator, e.g. ``"martingale (copula_density)"``.
    mcmc
        Markov chains, or draws of unknown origin (the same rule as
        :func:`bayesuq.diagnose`): R-hat, ESS, trace, rank (and, where the sampler
        statistics exist, energy and divergence) panels apply.
    svi
        Variational fit with an ELBO history (``sample_stats["loss"]`` over ``svi_step``).
    chains, draws
        Sizes of the posterior.
    """

    method: str
    label: str
    mcmc: bool
    svi: bool
    chains: int
    draws: int

    @property
    def why_no_mcmc_panels(self) -> str:
        """Plain-language reason the MCMC-only panels are left out ("" for MCMC fits)."""
        if self.mcmc:
            return ""
        what = (
            "draws from the fitted variational approximation"
            if self.svi
            else f"independent draws made by {self.label}"
        )
        text = (
            f"These are {what}, not a Markov chain, so the MCMC checks (R-hat, effective "
            f"sample size, rank plots, the energy plot and divergences) do not apply and "
            f"are not shown. The table summarises the draws (mean, sd, HDI)."
        )
        if self.svi:
            text += (
                " Judge the fit by the ELBO curve, and remember that a variational posterior "
                "is an approximation: compare it with NUTS where you can afford to."
            )
        return text


def classify(idata: az.InferenceData) -> FitKind:
    """The :class:`FitKind` of ``idata`` (which must have a ``posterior`` group).

    The same rule as :func:`bayesuq.diagnose` (:mod:`bayesuq.diagnostics.kinds`): chain
    panels for Markov chains and for draws of unknown origin, the ELBO for variational fits.
    """
    kind = draw_kind(idata)
    stats = getattr(idata, "sample_stats", None)
    mcmc = kind in (DrawKind.MCMC, DrawKind.UNKNOWN)
    svi = (
        kind is DrawKind.VARIATIONAL
        and stats is not None
        and "loss" in stats
        and "svi_step" in stats["loss"].dims
    )
    method = inference_tag(idata) or "unknown"
    estimator = idata.attrs.get("estimator") or idata.attrs.get("method")
    label = f"{method} ({estimator})" if estimator and estimator != method else method
    sizes = idata.posterior.sizes
    return FitKind(
        method=method,
        label=label,
        mcmc=mcmc,
        svi=svi,
        chains=int(sizes.get("chain", 1)),
        draws=int(sizes.get("draw", 0)),
    )
