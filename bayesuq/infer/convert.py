"""From a fitted model's draws, sites and data to the groups of its ``InferenceData``.

The engines that fit a NumPyro model (NUTS, HMC, SVI, batched NUTS) end here: the posterior
draws get dims named from plates and pandas labels, observed sites go to ``observed_data``,
other data entries to ``constant_data`` (named from pandas labels, then plate sizes), and
everything is assembled by the results front door, :func:`bayesuq.infer.results.inference_data`.
"""

from __future__ import annotations

import warnings
from collections.abc import Callable, Mapping
from typing import Any

import numpy as np
from numpyro.infer.util import log_likelihood as numpyro_log_likelihood

from bayesuq.infer.data import PreparedData
from bayesuq.infer.results import inference_data
from bayesuq.infer.sites import ModelSites


def _constant_dims(key: str, value: np.ndarray, data: PreparedData, sites: ModelSites) -> list:
    """Dim names for a data entry that is not observed: pandas labels, then plate sizes."""
    plate_sizes: dict[int, set[str]] = {}
    for site, names in sites.dims.items():
        if site not in sites.shapes:  # a user dims entry for a data key, not a site
            continue
        for dim, size in zip(names, sites.shapes[site], strict=False):
            if not dim.startswith(f"{site}_dim_"):
                plate_sizes.setdefault(size, set()).add(dim)
    dims = []
    for axis, size in enumerate(value.shape):
        if axis == 0 and key in data.indexes and data.indexes[key].name:
            dims.append(data.indexes[key].name)
        elif axis == 1 and key in data.columns:
            dims.append(data.columns[key].name or f"{key}_column")
        elif len(plate_sizes.get(size, ())) == 1:
            dims.append(next(iter(plate_sizes[size])))
        else:
            dims.append(f"{key}_dim_{axis}")
    return dims


def _without_dim_clashes(
    constant: dict[str, np.ndarray], dims: dict[str, Any]
) -> tuple[dict[str, np.ndarray], dict[str, Any]]:
    """``constant`` and ``dims`` with no data entry named like a dim of another (xarray
    refuses both).

    The usual case is a plate named after its size, ``numpyro.plate("J", J)`` with ``J``
    passed as data: the scalar ``J`` is then the size of dim ``J`` and is left out. Any
    other entry named like a dim is kept as ``<name>_value``, with a warning.
    """
    sizes = {
        dim: size
        for key, names in dims.items()
        if key in constant
        for dim, size in zip(names, constant[key].shape, strict=False)
    }
    kept, dims = {}, dict(dims)
    for key, value in constant.items():
        if key not in sizes or list(dims.get(key, ())) == [key]:
            kept[key] = value
        elif value.ndim == 0 and value.item() == sizes[key]:
            continue  # the size of dim ``key``, which the data group keeps
        else:
            renamed = f"{key}_value"
            warnings.warn(
                f"data entry {key!r} has the name of a dim of other data entries; it is "
                f"stored in constant_data as {renamed!r}",
                stacklevel=3,
            )
            kept[renamed] = value
            dims[renamed] = dims.get(key, ())
    return kept, dims


def compute_log_likelihood(
    model: Callable, draws: Mapping[str, np.ndarray], data: PreparedData, observed: list[str]
) -> dict[str, np.ndarray]:
    """Pointwise log likelihood of each observed site for every ``(chain, draw)``."""
    loglik = numpyro_log_likelihood(model, dict(draws), batch_ndims=2, **data.kwargs)
    return {k: np.asarray(v) for k, v in loglik.items() if k in observed}


def fit_result(
    *,
    inference: str,
    seed: int,
    timings: Mapping[str, float],
    attrs: Mapping[str, Any],
    posterior: Mapping[str, np.ndarray],
    sites: ModelSites,
    data: PreparedData,
    **groups: Any,
) -> Any:
    """The ``InferenceData`` of one fit of a NumPyro model, through the front door.

    Parameters
    ----------
    inference, seed, timings, attrs
        As for :func:`bayesuq.infer.results.inference_data`.
    posterior
        ``site -> array (chain, draw, ...)`` on the constrained scale.
    sites
        Site roles, dims and coords from :func:`bayesuq.infer.sites.analyse_model`.
    data
        The prepared model inputs; entries not observed go to ``constant_data``.
    **groups
        Further groups (``sample_stats``, ``log_likelihood``, ``sampler_state``...).
    """
    dims = dict(sites.dims)
    constant = {}
    for key, value in data.kwargs.items():
        if value is None or key in sites.observed:
            continue
        constant[key] = np.asarray(value)
        dims.setdefault(key, _constant_dims(key, constant[key], data, sites))
    constant, dims = _without_dim_clashes(constant, dims)
    return inference_data(
        inference=inference,
        seed=seed,
        timings=timings,
        attrs=attrs,
        dims=dims,
        coords=sites.coords,
        posterior={k: np.asarray(v) for k, v in posterior.items()},
        observed_data=dict(sites.observed),
        constant_data=constant,
        **groups,
    )
