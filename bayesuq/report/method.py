"""What kind of fit an ``InferenceData`` holds, which decides the panels of its report."""

from __future__ import annotations

from dataclasses import dataclass

import arviz as az


@dataclass(frozen=True)
class FitKind:
    """How the draws were made.

    Attributes
    ----------
    method
        Name shown in the report: ``attrs["inference"]``, else ``attrs["method"]`` (the
        zoo's non-MCMC families), else ``"nuts"`` for MCMC statistics or ``"draws"``.
    mcmc
        Markov chains with sampler statistics (``sample_stats["diverging"]``, the same rule
        as :func:`bayesuq.diagnose`): R-hat, ESS, rank, energy and divergence panels apply.
    svi
        Variational fit with an ELBO history (``sample_stats["loss"]`` over ``svi_step``).
    chains, draws
        Sizes of the posterior.
    """

    method: str
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
            else f"independent draws made by {self.method}"
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
    """The :class:`FitKind` of ``idata`` (which must have a ``posterior`` group)."""
    stats = getattr(idata, "sample_stats", None)
    mcmc = stats is not None and "diverging" in stats
    svi = stats is not None and "loss" in stats and "svi_step" in stats["loss"].dims
    attrs = idata.attrs
    method = str(attrs.get("inference") or attrs.get("method") or ("nuts" if mcmc else "draws"))
    sizes = idata.posterior.sizes
    return FitKind(
        method=method,
        mcmc=mcmc,
        svi=svi,
        chains=int(sizes.get("chain", 1)),
        draws=int(sizes.get("draw", 0)),
    )
