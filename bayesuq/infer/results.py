"""The results front door: every engine and model family builds its ``InferenceData`` here.

One function, :func:`inference_data`, takes the groups (draws, statistics, data), their
dims and coords, a *required* ``inference`` tag (see :mod:`bayesuq.diagnostics.kinds`),
the seed and the timings, and returns an ``arviz.InferenceData`` whose ``attrs`` always
hold the same provenance keys:

``inference``, ``seed``, ``inference_library``, ``bayesuq_version``, ``jax_version``,
``numpyro_version``, ``arviz_version``, ``python_version``, ``jax_backend``,
``jax_devices``, ``x64`` and ``total_seconds`` (plus ``setup_seconds``,
``compile_seconds`` and ``sampling_seconds`` where the engine measures them).

Attribute values are kept to ``str``, ``int`` and ``float`` so that a netCDF round trip
returns them unchanged. A caller's ``attrs`` may add keys but never overwrite provenance.
"""

from __future__ import annotations

import platform
from collections.abc import Mapping, Sequence
from importlib.metadata import PackageNotFoundError, version
from typing import Any

import numpy as np

from bayesuq.diagnostics.kinds import check_inference_tag
from bayesuq.precision import x64_enabled

SAMPLE_GROUPS = (
    "posterior",
    "posterior_predictive",
    "predictions",
    "log_likelihood",
    "sample_stats",
    "prior",
    "prior_predictive",
    "sample_stats_prior",
)
"""Groups whose arrays lead with ``(chain, draw)``."""

DATA_GROUPS = ("observed_data", "constant_data", "predictions_constant_data")
"""Groups of data, without sample dims."""

STATE_GROUPS = ("sampler_state",)
"""Groups that hold an engine's state to continue a run (``xarray.Dataset`` only)."""

PROVENANCE_KEYS = (
    "inference_library",
    "bayesuq_version",
    "jax_version",
    "numpyro_version",
    "arviz_version",
    "python_version",
    "jax_backend",
    "jax_devices",
    "x64",
)
TIMING_KEYS = ("setup", "compile", "sampling", "total")


def _package_version(name: str) -> str:
    try:
        return version(name)
    except PackageNotFoundError:
        return "unknown"


def provenance() -> dict[str, str]:
    """Package versions, JAX backend and devices, the Python version and the precision."""
    import arviz as az
    import jax

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


def result_attrs(
    *,
    inference: str,
    seed: int | None,
    timings: Mapping[str, float],
    attrs: Mapping[str, Any] | None = None,
) -> dict[str, str | int | float]:
    """The ``attrs`` of a result: tag, seed, provenance, timings, then the caller's keys.

    Parameters
    ----------
    inference
        A known tag (:data:`bayesuq.diagnostics.kinds.INFERENCE_KINDS`).
    seed
        The integer seed of the run, or ``None`` for deterministic methods.
    timings
        Seconds by phase: ``total`` is required; ``setup``, ``compile`` and ``sampling``
        are written where given (keys ``<phase>_seconds``).
    attrs
        Further settings of the run. Keys that would overwrite the tag, the seed,
        provenance or timings raise ``ValueError``.
    """
    check_inference_tag(inference)
    unknown = sorted(set(timings) - set(TIMING_KEYS))
    if unknown or "total" not in timings:
        raise ValueError(
            f"timings must map phases {list(TIMING_KEYS)} to seconds, 'total' included; "
            f"got {sorted(timings)}"
        )
    base: dict[str, Any] = {
        "inference": inference,
        "seed": "none" if seed is None else int(seed),
        **provenance(),
        **{f"{k}_seconds": round(float(v), 4) for k, v in timings.items()},
    }
    clash = sorted(set(attrs or {}) & set(base))
    if clash:
        raise ValueError(
            f"attrs {clash} would overwrite the result's tag, seed, provenance or timings; "
            f"pass them through the inference=, seed= and timings= arguments"
        )
    return clean_attrs({**base, **(attrs or {})})


def split_attrs(attrs: Mapping[str, Any]) -> tuple[dict[str, Any], dict[str, float]]:
    """Split a result's ``attrs`` into its run settings and its timings.

    The inverse of :func:`result_attrs`, for code that rebuilds a result from another
    (appending draws, adding groups): returns ``(settings, timings)`` where ``settings``
    holds every key but the tag, the seed, provenance and timings, and ``timings`` maps each
    phase of :data:`TIMING_KEYS` found to its seconds.
    """
    reserved = {"inference", "seed", *PROVENANCE_KEYS, *(f"{t}_seconds" for t in TIMING_KEYS)}
    settings = {k: v for k, v in attrs.items() if k not in reserved}
    timings = {t: float(attrs[f"{t}_seconds"]) for t in TIMING_KEYS if f"{t}_seconds" in attrs}
    return settings, timings


def _as_dataset(
    group: str,
    values: Any,
    dims: Mapping[str, Sequence[str]],
    coords: Mapping[str, Any],
    sample_dims: tuple[str, ...],
):
    """One group as an ``xarray.Dataset``; arrays get ``sample_dims`` then their named dims."""
    import xarray as xr

    if isinstance(values, xr.Dataset):
        return values
    variables = {}
    for name, value in values.items():
        if isinstance(value, xr.DataArray):
            variables[name] = value
            continue
        array = np.asarray(value)
        if array.ndim < len(sample_dims):
            raise ValueError(
                f"{group}[{name!r}] has shape {array.shape}; expected leading dims {sample_dims}"
            )
        event = array.shape[len(sample_dims) :]
        names = list(dims.get(name, ()))
        if names and len(names) != len(event):
            raise ValueError(
                f"dims[{name!r}] = {names} names {len(names)} axes but {group}[{name!r}] has "
                f"{len(event)} beyond {sample_dims} (shape {array.shape})"
            )
        names = names or [f"{name}_dim_{k}" for k in range(len(event))]
        variables[name] = (sample_dims + tuple(names), array)
    dataset = xr.Dataset(variables)
    used = {
        dim: list(np.asarray(labels))
        for dim, labels in coords.items()
        if dim in dataset.dims and dim not in sample_dims
    }
    for dim, labels in used.items():
        if len(labels) != dataset.sizes[dim]:
            raise ValueError(
                f"coords[{dim!r}] has {len(labels)} labels but dim {dim!r} has size "
                f"{dataset.sizes[dim]}"
            )
    sample_coords = {d: np.arange(dataset.sizes[d]) for d in sample_dims if d in dataset.dims}
    return dataset.assign_coords({**sample_coords, **used})


def inference_data(
    *,
    inference: str,
    seed: int | None,
    timings: Mapping[str, float],
    attrs: Mapping[str, Any] | None = None,
    dims: Mapping[str, Sequence[str]] | None = None,
    coords: Mapping[str, Any] | None = None,
    **groups: Any,
) -> Any:
    """Assemble an ``arviz.InferenceData``: the one constructor of every bayesuq result.

    Parameters
    ----------
    inference
        Required tag saying how the draws were made (``"nuts"``, ``"hmc"``, ``"svi"``,
        ``"martingale"``, ``"bayesian_bootstrap"``, ``"deup"``, ``"niw_meta"``); it decides
        which diagnostics apply (:mod:`bayesuq.diagnostics.kinds`).
    seed
        The run's integer seed (``None`` for deterministic methods).
    timings
        Seconds by phase (``total`` required; ``setup``, ``compile``, ``sampling``).
    attrs
        The run's settings; may not overwrite provenance (see :func:`result_attrs`).
    dims
        ``variable -> [dim, ...]`` for the axes after ``(chain, draw)`` (sample groups) or
        all axes (data groups). Unnamed axes are called ``<variable>_dim_<k>``.
    coords
        ``dim -> labels`` for any named dim.
    **groups
        ``posterior=``, ``posterior_predictive=``, ``sample_stats=``, ``log_likelihood=``,
        ``observed_data=``, ``constant_data=`` ... (see :data:`SAMPLE_GROUPS`,
        :data:`DATA_GROUPS` and :data:`STATE_GROUPS`), each a mapping ``name -> array``
        or an ``xarray.Dataset`` (used as is, e.g. an optimiser's loss history over its own
        dim). ``None`` or empty groups are left out.

    Returns
    -------
    arviz.InferenceData
        With the same ``attrs`` on the result and on every group.

    Raises
    ------
    ValueError
        An unknown tag or group, dims that do not match the arrays, coords of the wrong
        length, or attrs that would overwrite provenance.
    """
    import arviz as az
    import xarray as xr

    known = SAMPLE_GROUPS + DATA_GROUPS + STATE_GROUPS
    unknown = sorted(set(groups) - set(known))
    if unknown:
        raise ValueError(
            f"unknown InferenceData group(s) {unknown}; expected some of {list(known)}"
        )
    result_attrs_ = result_attrs(inference=inference, seed=seed, timings=timings, attrs=attrs)
    dims = dict(dims or {})
    coords = dict(coords or {})
    datasets = {}
    for group, values in groups.items():
        if values is None or len(values) == 0:
            continue
        if group in STATE_GROUPS and not isinstance(values, xr.Dataset):
            raise ValueError(f"group {group!r} must be an xarray.Dataset")
        sample_dims = ("chain", "draw") if group in SAMPLE_GROUPS else ()
        dataset = _as_dataset(group, values, dims, coords, sample_dims)
        dataset.attrs = dict(result_attrs_)
        datasets[group] = dataset
    idata = az.InferenceData(**datasets)
    idata.attrs = dict(result_attrs_)
    return idata
