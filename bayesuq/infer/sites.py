"""What a model declares: its latent, observed and deterministic sites and their named dims.

One seeded trace of the model gives every site's shape and the plates it sits in. Plate
names become dimension names; axes outside any plate are named from DataFrame columns of
matching length, and only as a last resort ``"<site>_dim_<k>"``.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass

import jax
import numpy as np
from numpyro import handlers

from bayesuq.infer.data import PreparedData


@dataclass(frozen=True)
class ModelSites:
    """Sites of a traced model.

    Attributes
    ----------
    latent
        Names of unobserved sample sites, in trace order.
    observed
        Observed site name -> observed value (numpy).
    deterministic
        Names of deterministic sites.
    dims
        Site name -> dimension names of one draw (without ``chain``/``draw``).
    coords
        Dimension name -> coordinate labels, where pandas inputs provide them.
    shapes
        Site name -> shape of one draw.
    """

    latent: tuple[str, ...]
    observed: dict[str, np.ndarray]
    deterministic: tuple[str, ...]
    dims: dict[str, list[str]]
    coords: dict[str, list]
    shapes: dict[str, tuple[int, ...]]


def trace_model(model: Callable, data: PreparedData, *, abstract: bool = False) -> dict:
    """Run ``model(**data)`` once under a seeded trace, with a readable error on failure.

    With ``abstract=True`` the model runs under ``jax.eval_shape``: nothing is computed or
    compiled, and site values are ``ShapeDtypeStruct`` (observed values are then filled
    in from the data entries they are identical to, see :func:`inspect_model`).
    """

    def run(arrays):
        tr = handlers.trace(handlers.seed(model, rng_seed=0)).get_trace(**data.call_kwargs(arrays))
        found.update(tr)
        # Map each observed site to the data entry it *is*, when it is passed unchanged.
        for name, site in tr.items():
            for key, value in arrays.items():
                if site["type"] == "sample" and site["is_observed"] and site["value"] is value:
                    sources[name] = key
        return {n: s["value"] for n, s in tr.items() if s["type"] in ("sample", "deterministic")}

    found: dict = {}
    sources: dict[str, str] = {}
    try:
        if not abstract:
            run(data.arrays)
            return found
        shapes = jax.eval_shape(run, data.arrays)
    except Exception as err:  # re-raised with the data shapes, which is what users need
        raise model_call_error(model, data, err) from err
    for name, site in found.items():
        if name in shapes:
            site["value"] = shapes[name]
        if name in sources:
            site["value"] = np.asarray(data.arrays[sources[name]])
    return found


def model_call_error(model: Callable, data: PreparedData, err: Exception) -> ValueError:
    """An error that says which model failed, on data of which shapes, and why."""
    given = {k: (None if v is None else tuple(v.shape)) for k, v in data.arrays.items()}
    reason = str(err).split("\n")[0]
    return ValueError(
        f"model {getattr(model, '__name__', model)!r} failed when called with data of "
        f"shapes {given | data.static}: {type(err).__name__}: {reason}"
    )


def _observed_value(model: Callable, data: PreparedData, name: str) -> np.ndarray:
    """Concrete value of an observed site that the model derives from its data."""
    return np.asarray(trace_model(model, data)[name]["value"])


def _plate_axes(site: dict) -> dict[int, str]:
    """Map axis position (from the left of the full value shape) to plate name."""
    shape = np.shape(site["value"])
    if site["type"] == "sample":
        event_dim = site["fn"].event_dim
    else:
        event_dim = 0
    batch_ndim = len(shape) - event_dim
    axes = {}
    for frame in site["cond_indep_stack"]:
        if frame.dim is None:
            continue
        axis = batch_ndim + frame.dim
        if 0 <= axis < len(shape) and shape[axis] == frame.size:
            axes[axis] = frame.name
    return axes


def _column_dim(size: int, data: PreparedData) -> tuple[str, list] | None:
    """A dim name and labels for an axis of ``size``, if one DataFrame has that many columns."""
    matches = [(k, c) for k, c in data.columns.items() if len(c) == size]
    if len(matches) != 1:
        return None
    key, cols = matches[0]
    return (cols.name or f"{key}_column"), [str(c) for c in cols]


def _index_coords(name: str, size: int, data: PreparedData) -> list | None:
    """Coordinate labels for plate ``name`` from pandas indexes of the data."""
    named = [ix for ix in data.indexes.values() if ix.name == name and len(ix) == size]
    if named:
        return list(named[0])
    labelled = {
        tuple(ix) for ix in data.indexes.values() if len(ix) == size and not _is_default_range(ix)
    }
    if len(labelled) == 1:
        return list(next(iter(labelled)))
    return None


def _is_default_range(index) -> bool:
    return (
        index.name is None
        and index.dtype.kind == "i"
        and np.array_equal(np.asarray(index), np.arange(len(index)))
    )


def inspect_model(
    model: Callable,
    data: PreparedData,
    *,
    dims: dict[str, list[str]] | None = None,
    coords: dict[str, list] | None = None,
) -> ModelSites:
    """Trace ``model`` once and name the dimensions of every site.

    Parameters
    ----------
    model, data
        The model and its prepared inputs.
    dims, coords
        User overrides: ``site -> [dim, ...]`` and ``dim -> labels``; they win over
        anything inferred.
    """
    trace = trace_model(model, data, abstract=True)
    latent, deterministic, observed = [], [], {}
    site_dims: dict[str, list[str]] = {}
    all_coords: dict[str, list] = {}
    shapes: dict[str, tuple[int, ...]] = {}
    for name, site in trace.items():
        if site["type"] == "sample":
            if site["is_observed"]:
                if isinstance(site["value"], jax.ShapeDtypeStruct):
                    site["value"] = _observed_value(model, data, name)
                observed[name] = np.asarray(site["value"])
            else:
                latent.append(name)
        elif site["type"] == "deterministic":
            deterministic.append(name)
        else:
            continue
        shape = np.shape(site["value"])
        shapes[name] = tuple(shape)
        plate_axes = _plate_axes(site)
        names = []
        for axis, size in enumerate(shape):
            if axis in plate_axes:
                dim = plate_axes[axis]
                labels = _index_coords(dim, size, data)
            elif (found := _column_dim(size, data)) is not None:
                dim, labels = found
            else:
                dim, labels = f"{name}_dim_{axis}", None
            names.append(dim)
            if labels is not None:
                all_coords.setdefault(dim, labels)
        site_dims[name] = names
    unknown = sorted(set(dims or {}) - set(site_dims) - set(data.kwargs))
    if unknown:
        raise ValueError(
            f"dims has key(s) {unknown} that are neither sites of the model nor data "
            f"entries; expected some of {sorted(set(site_dims) | set(data.kwargs))}"
        )
    site_dims.update(dims or {})
    all_coords.update(coords or {})
    return ModelSites(
        latent=tuple(latent),
        observed=observed,
        deterministic=tuple(deterministic),
        dims=site_dims,
        coords=all_coords,
        shapes=shapes,
    )
