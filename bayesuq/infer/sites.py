"""What a model declares, read off ONE abstract trace: sites, dims, shapes and a fingerprint.

:func:`analyse_model` runs the model once, under ``jax.make_jaxpr`` (nothing is computed or
compiled), with every continuous latent site set to a uniform(-2, 2) point on its
unconstrained scale (NumPyro's ``init_to_uniform``, which never calls ``.sample``, so flat
improper priors such as ``ImproperUniform`` work). From that single trace it reads

* the sites: latent, observed (and the data entries they are), deterministic; their shapes
  and plates; plate names become dimension names, axes outside any plate are named from
  DataFrame columns of matching length, and only as a last resort ``"<site>_dim_<k>"``;
* the unconstrained template ``z`` of one chain (shapes and dtypes);
* a content fingerprint of the model: the jaxpr (and constants) of the potential energy
  ``U(z) = -log p(y, T(z)) - log|det J_T(z)|`` and of every site value. Programs are cached by
  it, in process and on disk, never by the identity of the Python function.

The same trace checks what would otherwise fail later or silently: observed values whose
shape differs from their distribution's, discrete latent sites, ``param`` sites, and dims
or coords that do not fit the model.
"""

from __future__ import annotations

import warnings
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from typing import Any

import jax
import jax.numpy as jnp
import numpy as np
from jax.extend.core import jaxpr_as_fun
from numpyro import handlers
from numpyro.distributions import Unit
from numpyro.distributions.transforms import biject_to
from numpyro.distributions.util import sum_rightmost
from numpyro.infer.initialization import init_to_uniform

from bayesuq.infer.compilation import fingerprint
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


@dataclass(frozen=True)
class ModelAnalysis:
    """What one abstract trace of a model tells the engines.

    Attributes
    ----------
    sites
        Roles, shapes, dims and coords of the sites.
    z_template
        ``site -> jax.ShapeDtypeStruct`` of one chain's unconstrained position.
    fingerprint
        Hex digest of what the model computes (see the module docstring).
    """

    sites: ModelSites
    z_template: dict[str, jax.ShapeDtypeStruct]
    fingerprint: str


def model_call_error(model: Callable, data: PreparedData, err: Exception) -> ValueError:
    """An error that says which model failed, on data of which shapes, and why."""
    given = {k: (None if v is None else tuple(v.shape)) for k, v in data.arrays.items()}
    reason = str(err).split("\n")[0]
    return ValueError(
        f"model {getattr(model, '__name__', model)!r} failed when called with data of "
        f"shapes {given | data.static}: {type(err).__name__}: {reason}"
    )


def trace_model(model: Callable, data: PreparedData) -> dict:
    """Run ``model(**data)`` once, concretely, under a seeded trace (readable errors).

    Used where concrete values are needed: user starting values, prior simulation and
    explaining an initialisation failure.
    """
    seeded = handlers.seed(model, rng_seed=0)
    try:
        return handlers.trace(seeded).get_trace(**data.kwargs)
    except Exception as err:  # re-raised with the data shapes, which is what users need
        raise model_call_error(model, data, err) from err


def _site_log_prob(site: dict) -> jax.Array:
    """``scale * log p(value)`` summed, as NumPyro's ``log_density`` computes it per site."""
    if site["intermediates"]:
        log_prob = site["fn"].log_prob(site["value"], site["intermediates"])
    else:
        log_prob = site["fn"].log_prob(site["value"])
    if site["scale"] is not None:
        log_prob = site["scale"] * log_prob
    return jnp.sum(log_prob)


def _unconstrained(site: dict) -> tuple[jax.Array, jax.Array]:
    """``(z, log|det J_T(z)|)`` of a continuous latent site, ``T = biject_to(support)``."""
    transform = biject_to(site["fn"].support)
    value = site["value"]
    z = transform.inv(value)
    log_det = transform.log_abs_det_jacobian(z, value)
    log_det = sum_rightmost(
        log_det, jnp.ndim(log_det) - jnp.ndim(value) + len(site["fn"].event_shape)
    )
    return z, jnp.sum(log_det)


def _check_site(name: str, site: dict) -> None:
    """Refuse what NUTS/HMC cannot sample, and observed values of the wrong shape."""
    if site["type"] == "param":
        raise ValueError(
            f"site {name!r} is a numpyro.param; MCMC samples only random variables: give it "
            f"a prior with numpyro.sample"
        )
    if site["type"] != "sample":
        return
    fn = site["fn"]
    if not site["is_observed"] and fn.support.is_discrete:
        raise ValueError(
            f"latent site {name!r} is discrete ({type(fn).__name__}); NUTS and HMC sample "
            f"continuous parameters only: marginalise it out of the model"
        )
    if site["is_observed"] and not isinstance(fn, Unit):
        # A distribution may broadcast up to the data (i.i.d. observations without a plate);
        # data that would broadcast up (y of shape (8, 1) against a batch of (8,)) would make
        # a likelihood with more terms than observations: refuse it.
        value_shape, fn_shape = tuple(jnp.shape(site["value"])), tuple(fn.shape())
        try:
            joint = tuple(np.broadcast_shapes(value_shape, fn_shape))
        except ValueError:
            joint = None
        if joint != value_shape:
            outcome = (
                f"they would broadcast to a likelihood of shape {joint}, not one term per "
                f"observation"
                if joint
                else "they do not broadcast"
            )
            raise ValueError(
                f"observed site {name!r} has a value of shape {value_shape} but its "
                f"distribution has shape {fn_shape} (batch {tuple(fn.batch_shape)} + event "
                f"{tuple(fn.event_shape)}): {outcome}. Reshape the data (e.g. y.ravel()) or "
                f"the model's plate so that the shapes agree"
            )


def _probe(model: Callable, data: PreparedData, found: dict) -> Callable:
    """The traced function of :func:`analyse_model`; records the trace into ``found``."""

    def probe(arrays):
        seeded = handlers.substitute(handlers.seed(model, 0), substitute_fn=init_to_uniform)
        with warnings.catch_warnings():  # init_to_uniform warns on user-substituted sites
            warnings.simplefilter("ignore", UserWarning)
            trace = handlers.trace(seeded).get_trace(**data.call_kwargs(arrays))
        found["trace"] = trace
        for name, site in trace.items():
            try:
                _check_site(name, site)
            except ValueError as err:  # raised outside the trace, without JAX's notes
                found["problem"] = err
                return 0.0, {}, {}
            # Map each observed site to the data entry it *is*, when passed unchanged.
            if site["type"] == "sample" and site["is_observed"]:
                for key, value in arrays.items():
                    if site["value"] is value:
                        found["sources"][name] = key
        log_joint, z = 0.0, {}
        for name, site in trace.items():
            if site["type"] != "sample":
                continue
            log_joint = log_joint + _site_log_prob(site)
            if not site["is_observed"]:
                z[name], log_det = _unconstrained(site)
                log_joint = log_joint + log_det
                found["supports"][name] = (
                    type(site["fn"]).__name__,
                    type(biject_to(site["fn"].support)).__name__,
                )
        values = {
            n: s["value"] for n, s in trace.items() if s["type"] in ("sample", "deterministic")
        }
        return -log_joint, z, values

    return probe


def _traced_values(
    closed: Any, out_shapes: Any, data: PreparedData, names: list[str]
) -> dict[str, np.ndarray]:
    """The values of sites ``names`` in the abstract trace, computed by one compiled call.

    Observed values the model computes itself (``obs=jnp.log(y)``, residuals of a
    recursion) are read from the trace's own program, evaluated on the data, instead of
    running the model eagerly (one small XLA program per operation: 0.4-0.6 s for an
    ARMA(1,1) in a new process). Latent sites take the trace's uniform(-2, 2) starting
    values there, so an observed value that depends on parameters is one such arbitrary
    value, as any single concrete run would give.
    """
    out_tree = jax.tree.structure(out_shapes)

    def site_values(*leaves: Any) -> dict[str, jax.Array]:
        outputs = jax.tree.unflatten(out_tree, jaxpr_as_fun(closed)(*leaves))
        return {name: outputs[2][name] for name in names}

    values = jax.jit(site_values)(*jax.tree.leaves(data.arrays))
    return {name: np.asarray(value) for name, value in values.items()}


def analyse_model(
    model: Callable,
    data: PreparedData,
    *,
    dims: Mapping[str, list[str]] | None = None,
    coords: Mapping[str, list] | None = None,
) -> ModelAnalysis:
    """Trace ``model`` once (abstractly) and return its sites, ``z`` template and fingerprint.

    Parameters
    ----------
    model, data
        The model and its prepared inputs.
    dims, coords
        User overrides: ``site or data entry -> [dim, ...]`` and ``dim -> labels``; they win
        over anything inferred. Checked here, before anything is compiled.

    Raises
    ------
    ValueError
        The model fails on this data, a site cannot be sampled, an observed value has the
        wrong shape, or dims/coords do not fit (the message names the culprit).
    """
    found: dict[str, Any] = {"sources": {}, "supports": {}}
    try:
        closed, out_shapes = jax.make_jaxpr(_probe(model, data, found), return_shape=True)(
            data.arrays
        )
    except Exception as err:
        raise model_call_error(model, data, err) from err
    if "problem" in found:
        raise found["problem"]
    _, z_shapes, value_shapes = out_shapes
    trace, sources = found["trace"], found["sources"]
    digest = fingerprint(str(closed.jaxpr), *closed.consts, sorted(found["supports"].items()))
    observed, derived = {}, []
    for name, site in trace.items():
        if site["type"] == "sample" and site["is_observed"]:
            if name in sources:
                observed[name] = np.asarray(data.arrays[sources[name]])
            elif isinstance(site["fn"], Unit):  # a numpyro.factor: its value is always empty
                shape = value_shapes[name]
                observed[name] = np.zeros(shape.shape, shape.dtype)
            else:  # computed inside the model
                derived.append(name)
    if derived:
        observed.update(_traced_values(closed, out_shapes, data, derived))
    sites = _name_sites(trace, value_shapes, observed, data, dims=dims, coords=coords)
    z_template = {name: jax.ShapeDtypeStruct(s.shape, s.dtype) for name, s in z_shapes.items()}
    return ModelAnalysis(sites=sites, z_template=z_template, fingerprint=digest)


def _plate_axes(site: dict, shape: tuple[int, ...]) -> dict[int, str]:
    """Map axis position (from the left of the full value shape) to plate name."""
    event_dim = site["fn"].event_dim if site["type"] == "sample" else 0
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


def _name_sites(
    trace: dict,
    value_shapes: dict[str, Any],
    observed: dict[str, np.ndarray],
    data: PreparedData,
    *,
    dims: Mapping[str, list[str]] | None,
    coords: Mapping[str, list] | None,
) -> ModelSites:
    """Roles, shapes and dim names of every site, with the user's ``dims``/``coords`` checked."""
    latent, deterministic = [], []
    site_dims: dict[str, list[str]] = {}
    all_coords: dict[str, list] = {}
    shapes: dict[str, tuple[int, ...]] = {}
    for name, site in trace.items():
        if site["type"] == "sample":
            if not site["is_observed"]:
                latent.append(name)
        elif site["type"] == "deterministic":
            deterministic.append(name)
        else:
            continue
        shape = tuple(observed[name].shape) if name in observed else value_shapes[name].shape
        shapes[name] = tuple(shape)
        plate_axes = _plate_axes(site, shape)
        names = []
        for axis, size in enumerate(shape):
            if axis in plate_axes:
                dim = plate_axes[axis]
                labels = _index_coords(dim, size, data)
            elif (column := _column_dim(size, data)) is not None:
                dim, labels = column
            else:
                dim, labels = f"{name}_dim_{axis}", None
            names.append(dim)
            if labels is not None:
                all_coords.setdefault(dim, labels)
        site_dims[name] = names
    _check_dims(dims or {}, shapes, data)
    site_dims.update({k: list(v) for k, v in (dims or {}).items()})
    _check_coords(coords or {}, site_dims, shapes, data)
    all_coords.update({k: list(v) for k, v in (coords or {}).items()})
    return ModelSites(
        latent=tuple(latent),
        observed=observed,
        deterministic=tuple(deterministic),
        dims=site_dims,
        coords=all_coords,
        shapes=shapes,
    )


def _entry_shapes(shapes: dict[str, tuple[int, ...]], data: PreparedData) -> dict[str, tuple]:
    """Shapes of every site and data entry (data entries that are not sites too)."""
    entries = {k: tuple(np.shape(v)) for k, v in data.arrays.items() if v is not None}
    return {**entries, **shapes}


def _check_dims(dims: Mapping[str, Any], shapes: dict, data: PreparedData) -> None:
    known = _entry_shapes(shapes, data)
    for name, names in dims.items():
        if name not in known:
            raise ValueError(
                f"dims has key {name!r}, which is neither a site of the model nor a data "
                f"entry; expected some of {sorted(known)}"
            )
        if isinstance(names, str) or not all(isinstance(n, str) for n in names):
            raise ValueError(f"dims[{name!r}] must be a list of dim names, got {names!r}")
        if len(names) != len(known[name]):
            raise ValueError(
                f"dims[{name!r}] = {list(names)} names {len(names)} axes but {name!r} has "
                f"shape {known[name]} ({len(known[name])} axes)"
            )


def _check_coords(
    coords: Mapping[str, Any], site_dims: dict, shapes: dict, data: PreparedData
) -> None:
    """Every coords entry must name a dim that exists and have one label per element."""
    sizes: dict[str, int] = {}
    known = _entry_shapes(shapes, data)
    for name, names in site_dims.items():
        for dim, size in zip(names, known.get(name, ()), strict=False):
            sizes.setdefault(dim, size)
    for dim, labels in coords.items():
        if dim not in sizes:
            raise ValueError(
                f"coords has dim {dim!r}, which no site or data entry has; known dims are "
                f"{sorted(sizes)}"
            )
        if len(labels) != sizes[dim]:
            raise ValueError(
                f"coords[{dim!r}] has {len(labels)} labels but dim {dim!r} has size {sizes[dim]}"
            )
