"""Which checks apply to a result: one rule, read from its ``inference`` tag.

Every result built by :func:`bayesuq.infer.results.inference_data` carries a required
``attrs["inference"]`` tag naming how its draws were made. The tag alone decides which
diagnostics apply, for :func:`bayesuq.diagnose` and for the HTML report alike:

* ``MCMC`` (``nuts``, ``hmc``): Markov chains; R-hat, ESS, MCSE, divergences, E-BFMI,
  tree depth and stuck chains apply.
* ``VARIATIONAL`` (``svi``): independent draws from a fitted approximation; the ELBO's
  convergence is judged, chain checks do not apply.
* ``INDEPENDENT`` (martingale posteriors, the Bayesian bootstrap, DEUP predictive draws,
  NIW-Meta draws): independent by construction; chain checks do not apply, the method's
  own checks (e.g. predictive-resampling convergence) do.
* ``UNKNOWN``: anything else (for example ``arviz.from_dict`` output). Such draws may be
  Markov chains, so they are checked for agreement between chains where there are several.
"""

from __future__ import annotations

import enum
from typing import Any


class DrawKind(enum.Enum):
    """How the draws of a result relate to each other (see the module docstring)."""

    MCMC = "mcmc"
    VARIATIONAL = "variational"
    INDEPENDENT = "independent"
    UNKNOWN = "unknown"


INFERENCE_KINDS: dict[str, DrawKind] = {
    "nuts": DrawKind.MCMC,
    "hmc": DrawKind.MCMC,
    "svi": DrawKind.VARIATIONAL,
    "martingale": DrawKind.INDEPENDENT,
    "bayesian_bootstrap": DrawKind.INDEPENDENT,
    "deup": DrawKind.INDEPENDENT,
    "niw_meta": DrawKind.INDEPENDENT,
}
"""The known ``inference`` tags and their kind of draws."""

# Results written before the tag was required named non-MCMC families in attrs["method"].
_LEGACY_METHOD_PREFIXES = {"martingale": "martingale", "bayesian_bootstrap": "bayesian_bootstrap"}


def check_inference_tag(tag: Any) -> str:
    """Return ``tag`` if it is a known ``inference`` tag, else raise naming the known ones."""
    if not isinstance(tag, str) or tag not in INFERENCE_KINDS:
        raise ValueError(
            f"inference must be one of {sorted(INFERENCE_KINDS)} (the kind of draws decides "
            f"which diagnostics apply), got {tag!r}"
        )
    return tag


def inference_tag(idata: Any) -> str | None:
    """The ``inference`` tag of a result (``attrs``), or ``None`` when it carries none.

    Files written by earlier versions without a tag but with ``attrs["method"]`` naming a
    martingale or bootstrap estimator are read as that family's tag.
    """
    attrs = getattr(idata, "attrs", None) or {}
    tag = attrs.get("inference")
    if tag:
        return str(tag)
    method = str(attrs.get("method", ""))
    for prefix, legacy in _LEGACY_METHOD_PREFIXES.items():
        if method.startswith(prefix):
            return legacy
    return None


def draw_kind(idata: Any) -> DrawKind:
    """The :class:`DrawKind` of a result, from its ``inference`` tag alone."""
    return INFERENCE_KINDS.get(inference_tag(idata) or "", DrawKind.UNKNOWN)


def is_mcmc(idata: Any) -> bool:
    """Whether the result holds Markov chains tagged as such (``nuts``, ``hmc``)."""
    return draw_kind(idata) is DrawKind.MCMC
