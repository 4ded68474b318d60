"""Fits with fixed simulated random effects, and the simulation-noise check across chains.

Weber et al. (2018), section 3.3: each chain gets its own ``xi``; chains 1 and 3 use
``J_tilde`` simulated patients, chains 2 and 4 use ``2 J_tilde``. With ``xi`` fixed, each
chain targets a slightly different posterior; if ``J_tilde`` is too small the chains
disagree, and the ordinary between-chain diagnostics (R-hat, rank plots) expose it.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping
from typing import Any

import arviz as az
import jax
import jax.numpy as jnp
import numpy as np
import xarray as xr

import bayesuq
from bayesuq.infer.convert import clean_attrs
from bayesuq.models.aggregate.likelihood import check_simulation_size, draw_xi

DIMS = {
    "y": ["patient", "time"],
    "y_ext": ["patient_ext", "time_ext"],
    "x": ["time"],
    "x_ext": ["time_ext"],
    "ybar_ext": ["time_ext"],
    "drug": ["patient"],
    "xi": ["simulated_patient", "effect"],
    "mask": ["simulated_patient"],
}
"""Dim names of the aggregate models' observed sites and constant data."""


def fit(
    model: Callable,
    data: Mapping[str, Any],
    *,
    seed: int = 0,
    dims: Mapping[str, list[str]] | None = None,
    coords: Mapping[str, list] | None = None,
    **nuts_options: Any,
) -> az.InferenceData:
    """``bayesuq.nuts(model, data, ...)`` with the aggregate models' dim names.

    Observed sites (``y``, ``y_ext``) and constant data (``x``, ``xi``, ``mask``...) present
    in ``data`` are named from :data:`DIMS` (``patient``, ``time``, ``simulated_patient``,
    ``effect``...); ``dims`` (any site or data entry, passed to ``bayesuq.nuts``) and
    ``coords`` add to or override them.
    """
    dims = {**{k: v for k, v in DIMS.items() if k in data}, **(dims or {})}
    coords = {**getattr(model, "coords", {}), **(coords or {})}
    return bayesuq.nuts(model, dict(data), seed=seed, dims=dims, coords=coords, **nuts_options)


def chain_designs(
    *, J_tilde: int, n_effects: int, chains: int, seed: int, dtype: Any = None
) -> list[tuple[jax.Array, jax.Array]]:
    """Per-chain ``(xi, mask)``: independent ``xi`` of shape ``(2 J_tilde, n_effects)``;
    the mask keeps the first ``J_tilde`` rows in even-numbered chains (0, 2, ...) and all
    ``2 J_tilde`` rows in odd-numbered ones, so every chain shares one compiled shape."""
    base = jax.random.key(seed)
    designs = []
    for chain in range(chains):
        xi = draw_xi(jax.random.fold_in(base, chain), 2 * J_tilde, n_effects, dtype=dtype)
        keep = J_tilde if chain % 2 == 0 else 2 * J_tilde
        mask = (jnp.arange(2 * J_tilde) < keep).astype(xi.dtype)
        designs.append((xi, mask))
    return designs


def fit_with_simulation_noise_check(
    model: Callable,
    data: Mapping[str, Any],
    *,
    J_tilde: int,
    n_effects: int = 2,
    chains: int = 4,
    seed: int = 0,
    **fit_options: Any,
) -> az.InferenceData:
    """Fit an ``approx`` model once per chain with its own ``xi`` and combine the chains.

    Chain ``c`` (0-based) gets ``xi`` drawn from ``fold_in(key(seed), c)`` and uses
    ``J_tilde`` simulated patients when ``c`` is even and ``2 J_tilde`` when odd
    (Weber et al. 2018, section 3.3). Each chain is one ``bayesuq.nuts(chains=1)`` run
    with seed ``seed + c``; all share one compiled program (same shapes). The chains are
    concatenated along ``chain`` with their ``sample_stats``, so ``bayesuq.diagnose``
    reports disagreement caused by simulation noise as high R-hat.

    Parameters
    ----------
    model
        A model built with ``likelihood="approx"`` (it must take ``xi`` and ``mask``).
    data
        Its other inputs (without ``xi`` and ``mask``).
    J_tilde
        Simulated patients of the odd chains (the even ones use twice as many).
    n_effects
        Number of random effects per patient (columns of ``xi``).
    chains, seed
        Number of chains (at least 2) and the integer seed.
    fit_options
        Passed to :func:`fit` (``draws``, ``warmup``, ``target_accept``...).

    Returns
    -------
    arviz.InferenceData
        Posterior and sample_stats over all chains; ``constant_data`` ``xi`` and ``mask``
        with a leading ``chain`` dim; attrs ``J_tilde_per_chain`` and ``seeds``.
    """
    if not isinstance(chains, int) or chains < 2:
        raise ValueError(f"chains={chains!r}; expected an integer >= 2 to compare chains")
    if "xi" in data or "mask" in data:
        raise ValueError("data must not contain 'xi' or 'mask': they are drawn per chain here")
    if "ybar_ext" in data:
        check_simulation_size(J_tilde, int(np.shape(data["ybar_ext"])[0]))
    fits = []
    dtype = jnp.result_type(float)
    for chain, (xi, mask) in enumerate(
        chain_designs(J_tilde=J_tilde, n_effects=n_effects, chains=chains, seed=seed, dtype=dtype)
    ):
        fits.append(
            fit(model, {**data, "xi": xi, "mask": mask}, seed=seed + chain, chains=1, **fit_options)
        )
    return _combine_chains(fits, J_tilde=J_tilde)


def _combine_chains(fits: list[az.InferenceData], *, J_tilde: int) -> az.InferenceData:
    """Concatenate one-chain fits along ``chain``; per-chain constant data gain a chain dim."""
    groups = {}
    for group in ("posterior", "sample_stats"):
        parts = [getattr(f, group) for f in fits]
        groups[group] = xr.concat(parts, dim="chain").assign_coords(chain=np.arange(len(fits)))
    per_chain = {"xi", "mask"}
    first = fits[0].constant_data
    constant = first.drop_vars([v for v in per_chain if v in first])
    for name in per_chain & set(first.data_vars):
        constant[name] = xr.concat([f.constant_data[name] for f in fits], dim="chain")
    constant = constant.assign_coords(chain=np.arange(len(fits)))
    groups["constant_data"] = constant
    if "observed_data" in fits[0].groups():
        groups["observed_data"] = fits[0].observed_data
    idata = az.InferenceData(**groups)
    sizes = [int(f.constant_data["mask"].sum()) for f in fits]
    attrs = dict(fits[0].attrs)
    attrs.update(
        chains=len(fits),
        seeds=",".join(str(f.attrs.get("seed")) for f in fits),
        J_tilde=J_tilde,
        J_tilde_per_chain=",".join(map(str, sizes)),
        compile_seconds=float(sum(float(f.attrs.get("compile_seconds", 0.0)) for f in fits)),
        sampling_seconds=float(sum(float(f.attrs.get("sampling_seconds", 0.0)) for f in fits)),
        simulation_noise_check="independent xi per chain; J_tilde / 2 J_tilde alternating",
    )
    idata.attrs = clean_attrs(attrs)
    for group in idata.groups():
        getattr(idata, group).attrs = dict(idata.attrs)
    return idata
