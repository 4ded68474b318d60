"""Prior predictive simulation for simulation-based calibration.

Each simulation draws ``theta_i ~ p(theta)`` and then ``y_i ~ p(y | theta_i)`` by running
the model with the observed data entries set to ``None`` (NumPyro then samples those sites
instead of conditioning on them). All ``n_sims`` draws are one vectorised call.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass
from typing import Any

import jax
import numpy as np
from numpyro.infer import Predictive

from bayesuq.infer.data import prepare_data
from bayesuq.infer.sites import trace_model


@dataclass(frozen=True)
class PriorSimulations:
    """Prior draws and the data simulated from them.

    Attributes
    ----------
    latent
        ``site -> array (n_sims, ...)``: every latent sample and deterministic site.
    simulated
        ``data entry -> array (n_sims, ...)``: the simulated observations.
    latent_sites
        Names of the latent *sample* sites (parameters), in trace order.
    """

    latent: dict[str, np.ndarray]
    simulated: dict[str, np.ndarray]
    latent_sites: tuple[str, ...]


def observed_sites(observed: str | Sequence[str] | Mapping[str, str]) -> dict[str, str]:
    """``data entry -> sample site`` from the ``observed`` argument of :func:`bayesuq.sbc`."""
    if isinstance(observed, str):
        return {observed: observed}
    if isinstance(observed, Mapping):
        mapping = dict(observed)
    elif isinstance(observed, list | tuple):
        mapping = {name: name for name in observed if isinstance(name, str)}
        mapping = mapping if len(mapping) == len(observed) else {}
    else:
        mapping = {}
    if not mapping or not all(
        isinstance(k, str) and isinstance(v, str) for k, v in mapping.items()
    ):
        raise ValueError(
            f"observed must name the simulated data entries (a name, a list of names, or a "
            f"dict of data entry -> sample site name), got {observed!r}"
        )
    return mapping


def simulate_prior_predictive(
    model: Callable,
    data: Mapping[str, Any],
    observed: Mapping[str, str],
    n_sims: int,
    key: jax.Array,
) -> PriorSimulations:
    """Draw ``n_sims`` parameter sets from the prior and a dataset from each.

    Raises
    ------
    ValueError
        If an observed entry has no sample site of that name, or a simulated dataset holds
        non-finite values (the prior puts mass where the likelihood cannot simulate).
    """
    prepared = prepare_data(model, {**data, **dict.fromkeys(observed)})
    try:
        trace = trace_model(model, prepared)
    except ValueError as err:
        if "NoneType" not in str(err):
            raise
        raise ValueError(
            f"prior simulation calls the model with {sorted(observed)} set to None, and the "
            f"model failed ({str(err).split(': ', 2)[-1]}): it probably takes a size from "
            f"the observed data (e.g. y.shape[0]). Give the model the size as its own "
            f"argument (e.g. def model(n, y=None): ... numpyro.plate('obs', n)) and pass it "
            f"in data, e.g. data={{'n': 8}}"
        ) from err
    samples = [n for n, s in trace.items() if s["type"] == "sample" and not s["is_observed"]]
    missing = {entry: site for entry, site in observed.items() if site not in samples}
    if missing:
        raise ValueError(
            f"observed entries {sorted(missing)} have no sample site of the name(s) "
            f"{sorted(missing.values())} when passed as None; the model's sample sites are "
            f"{samples}. Pass observed={{data entry: site name}}"
        )
    draws = Predictive(model, num_samples=n_sims)(key, **prepared.kwargs)
    draws = {name: np.asarray(value) for name, value in draws.items()}
    simulated = {}
    for entry, site in observed.items():
        value = draws[site]
        finite = np.isfinite(value).reshape(n_sims, -1).all(axis=1)
        if not finite.all():
            raise ValueError(
                f"the prior predictive simulated non-finite {site!r} in {int((~finite).sum())} "
                f"of {n_sims} simulations (first: {int(np.flatnonzero(~finite)[0])}); the "
                f"prior reaches values where the likelihood cannot simulate"
            )
        simulated[entry] = value
    site_names = set(observed.values())
    latent = {name: value for name, value in draws.items() if name not in site_names}
    latent_sites = tuple(n for n in samples if n not in site_names)
    return PriorSimulations(latent=latent, simulated=simulated, latent_sites=latent_sites)
