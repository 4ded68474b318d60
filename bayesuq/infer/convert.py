"""Assembly of ``arviz.InferenceData`` from draws, statistics, data and provenance.

Every engine ends here, so every result has the same shape: posterior draws with dims
``(chain, draw, ...)`` named from plates and pandas labels, ``sample_stats``,
``observed_data``, ``constant_data``, optional ``log_likelihood``, and ``attrs`` holding
the seed, configuration, package versions, device and timings. Attribute values are kept
to ``str``, ``int`` and ``float`` so that they survive a netCDF round trip unchanged.
"""

from __future__ import annotations

import platform
from collections.abc import Callable, Mapping
from importlib.metadata import PackageNotFoundError, version
from typing import Any

import arviz as az
import jax
import numpy as np
from numpyro.infer.util import log_likelihood as numpyro_log_likelihood

from bayesuq.infer.data import PreparedData
from bayesuq.infer.sites import ModelSites
from bayesuq.precision import x64_enabled


def _package_version(name: str) -> str:
    try:
        return version(name)
    except PackageNotFoundError:
        return "unknown"


def provenance() -> dict[str, str]:
    """Package versions, JAX backend and devices, and the Python version."""
    return {
        "inference_library": "bayesuq",
        "bayesuq_version": _package_version("bayesuq"),
        "jax_version": jax.__version__,
        "numpyro_version": _package_version("numpyro"),
        "arviz_version": az.__version__,
        "python_version": platform.python_version(),
        "jax_backend": jax.default_backend(),
        "jax_devices": ", ".join(str(d) for d in jax.devices()),
        "x64": str(x64_enabled()),
    }


def clean_attrs(attrs: Mapping[str, Any]) -> dict[str, str | int | float]:
    """Coerce attribute values to netCDF-safe scalars (bool and None become strings)."""
    out: dict[str, str | int | float] = {}
    for key, value in attrs.items():
        if isinstance(value, bool) or value is None:
            out[key] = str(value)
        elif isinstance(value, int | float | str):
            out[key] = value
        elif isinstance(value, np.integer | np.floating):
            out[key] = value.item()
        else:
            out[key] = str(value)
    return out


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


def compute_log_likelihood(
    model: Callable, draws: Mapping[str, np.ndarray], data: PreparedData, observed: list[str]
) -> dict[str, np.ndarray]:
    """Pointwise log likelihood of each observed site for every ``(chain, draw)``."""
    loglik = numpyro_log_likelihood(model, dict(draws), batch_ndims=2, **data.kwargs)
    return {k: np.asarray(v) for k, v in loglik.items() if k in observed}


def build_inference_data(
    *,
    posterior: Mapping[str, np.ndarray],
    sites: ModelSites,
    data: PreparedData,
    attrs: Mapping[str, Any],
    sample_stats: Mapping[str, np.ndarray] | None = None,
    log_likelihood: Mapping[str, np.ndarray] | None = None,
) -> az.InferenceData:
    """Assemble the ``InferenceData`` of one fit.

    Parameters
    ----------
    posterior
        ``site -> array (chain, draw, ...)`` on the constrained scale.
    sites
        Site roles, dims and coords from :func:`bayesuq.infer.sites.inspect_model`.
    data
        The prepared model inputs; entries not observed go to ``constant_data``.
    attrs
        Run configuration and timings; provenance is added here.
    sample_stats, log_likelihood
        Optional groups, ``name -> array (chain, draw, ...)``.
    """
    dims = {k: v for k, v in sites.dims.items()}
    constant = {}
    for key, value in data.kwargs.items():
        if value is None or key in sites.observed:
            continue
        constant[key] = np.asarray(value)
        dims.setdefault(key, _constant_dims(key, constant[key], data, sites))
    coords = {k: list(v) for k, v in sites.coords.items()}
    idata = az.from_dict(
        posterior={k: np.asarray(v) for k, v in posterior.items()},
        sample_stats=None if sample_stats is None else dict(sample_stats),
        log_likelihood=None if log_likelihood is None else dict(log_likelihood),
        observed_data=dict(sites.observed) or None,
        constant_data=constant or None,
        coords=coords,
        dims=dims,
        attrs=clean_attrs({**provenance(), **attrs}),
    )
    return idata
