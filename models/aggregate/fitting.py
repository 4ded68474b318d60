"""Fits with fixed simulated random effects, and the simulation-noise check across chains.

Weber et al. (2018), section 3.3: each chain gets its own ``xi``; chains 1 and 3 use
``J_tilde`` simulated patients, chains 2 and 4 use ``2 J_tilde``. With ``xi`` fixed, each
chain targets a slightly different posterior; if ``J_tilde`` is too small the chains
disagree, and the ordinary between-chain diagnostics (R-hat, rank plots) expose it.

Precision: the aggregate models run in float64 by family choice (the simulated covariance
``S~ + sigma_y^2 I`` of nearly collinear curves is cancellation-prone), inside
:func:`bayesuq.precision.computing_in` whatever JAX's global flag; ``precision=``
overrides it.
"""

from __future__ import annotations

import time
from collections.abc import Callable, Mapping
from typing import Any

import arviz as az
import jax
import jax.numpy as jnp
import numpy as np

import bayesuq
from bayesuq.infer.arguments import check_int
from bayesuq.infer.results import inference_data, split_attrs
from bayesuq.models.aggregate.likelihood import check_simulation_size, draw_xi
from bayesuq.precision import computing_in, resolve_precision

DEFAULT_PRECISION = "float64"
"""The aggregate family's precision (see the module docstring)."""

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
    precision: str | None = None,
    **nuts_options: Any,
) -> az.InferenceData:
    """``bayesuq.nuts(model, data, ...)`` with the aggregate models' dim names, in float64.

    Observed sites (``y``, ``y_ext``) and constant data (``x``, ``xi``, ``mask``...) present
    in ``data`` are named from :data:`DIMS` (``patient``, ``time``, ``simulated_patient``,
    ``effect``...); ``dims`` (any site or data entry, passed to ``bayesuq.nuts``) and
    ``coords`` add to or override them. ``precision`` is ``None`` (float64, the family's
    default), ``"float32"`` or ``"float64"``; no global flag is needed.
    """
    dims = {**{k: v for k, v in DIMS.items() if k in data}, **(dims or {})}
    coords = {**getattr(model, "coords", {}), **(coords or {})}
    # JAX float arrays made in another precision (e.g. xi) are handed over as NumPy, so the
    # run converts them to its own precision.
    inputs = {
        k: np.asarray(v) if isinstance(v, jax.Array) and v.dtype.kind == "f" else v
        for k, v in data.items()
    }
    with computing_in(resolve_precision(precision, DEFAULT_PRECISION)):
        return bayesuq.nuts(model, inputs, seed=seed, dims=dims, coords=coords, **nuts_options)


def chain_designs(
    *, J_tilde: int, n_effects: int, chains: int, seed: int, dtype: Any = None
) -> tuple[jax.Array, jax.Array]:
    """Per-chain ``xi (chains, 2 J_tilde, n_effects)`` and ``mask (chains, 2 J_tilde)``.

    Chain ``c`` draws its ``xi`` from ``fold_in(key(seed), c)``; its mask keeps the first
    ``J_tilde`` rows when ``c`` is even (0, 2, ...) and all ``2 J_tilde`` rows when odd, so
    every chain shares one compiled shape (Weber et al. 2018, section 3.3).
    """
    J_tilde = check_int("J_tilde", J_tilde, minimum=2)
    chains = check_int("chains", chains, minimum=1)
    base = jax.random.key(check_int("seed", seed, minimum=0))
    xi = jnp.stack(
        [
            draw_xi(jax.random.fold_in(base, chain), 2 * J_tilde, n_effects, dtype=dtype)
            for chain in range(chains)
        ]
    )
    keep = jnp.where(jnp.arange(chains) % 2 == 0, J_tilde, 2 * J_tilde)
    mask = (jnp.arange(2 * J_tilde)[None, :] < keep[:, None]).astype(xi.dtype)
    return xi, mask


def fit_with_simulation_noise_check(
    model: Callable,
    data: Mapping[str, Any],
    *,
    J_tilde: int,
    n_effects: int = 2,
    chains: int = 4,
    seed: int = 0,
    draws: int = 500,
    warmup: int = 500,
    target_accept: float = 0.8,
    max_tree_depth: int = 10,
    dense_mass: bool = False,
    progress: bool = True,
    precision: str | None = None,
) -> az.InferenceData:
    """Fit an ``approx`` model with its own ``xi`` per chain, as one compiled program.

    Chain ``c`` (0-based) gets ``xi`` drawn from ``fold_in(key(seed), c)`` and uses
    ``J_tilde`` simulated patients when ``c`` is even and ``2 J_tilde`` when odd
    (Weber et al. 2018, section 3.3). The chains are the datasets of one
    :func:`bayesuq.nuts_many` run (``xi`` and ``mask`` batched, one chain each), so they
    compile once and run vectorised; the result is assembled with the per-``xi`` fits as
    its chains and their sampler statistics, so :func:`bayesuq.diagnose` reports
    disagreement caused by simulation noise as high R-hat.

    Parameters
    ----------
    model
        A model built with ``likelihood="approx"`` (it must take ``xi`` and ``mask``).
    data
        Its other inputs (without ``xi`` and ``mask``).
    J_tilde
        Simulated patients of the even chains (the odd ones use twice as many).
    n_effects
        Number of random effects per patient (columns of ``xi``).
    chains, seed
        Number of chains (at least 2) and the integer seed.
    draws, warmup, target_accept, max_tree_depth, dense_mass, progress
        As in :func:`bayesuq.nuts_many`, per chain.
    precision
        ``None`` (float64, the family's default), ``"float32"`` or ``"float64"``.

    Returns
    -------
    arviz.InferenceData
        ``inference="nuts"``; posterior and sample_stats over all chains; ``constant_data``
        ``xi`` and ``mask`` with a leading ``chain`` dim; attrs ``J_tilde``,
        ``J_tilde_per_chain`` and ``simulation_noise_check``.
    """
    chains = check_int("chains", chains, minimum=2)
    if "xi" in data or "mask" in data:
        raise ValueError("data must not contain 'xi' or 'mask': they are drawn per chain here")
    if "ybar_ext" in data:
        check_simulation_size(J_tilde, int(np.shape(data["ybar_ext"])[0]))
    started = time.perf_counter()
    with computing_in(resolve_precision(precision, DEFAULT_PRECISION)):
        xi, mask = chain_designs(J_tilde=J_tilde, n_effects=n_effects, chains=chains, seed=seed)
        fits = bayesuq.nuts_many(
            model,
            {**data, "xi": xi, "mask": mask},
            batched=["xi", "mask"],
            chains=1,
            draws=draws,
            warmup=warmup,
            seed=seed,
            target_accept=target_accept,
            max_tree_depth=max_tree_depth,
            dense_mass=dense_mass,
            progress=progress,
        )
        return _per_xi_chains(fits, model, data, xi, mask, J_tilde, seed, started)


def _per_xi_chains(fits, model, data, xi, mask, J_tilde, seed, started) -> az.InferenceData:
    """One ``InferenceData`` whose chains are the per-``xi`` fits of ``fits`` (one chain each)."""
    dims = {**fits.sites.dims, **{k: v for k, v in DIMS.items() if k in data}}
    dims["xi"] = ["chain", *DIMS["xi"]]
    dims["mask"] = ["chain", *DIMS["mask"]]
    coords = {**getattr(model, "coords", {}), **fits.sites.coords}
    constant = {
        k: np.asarray(v) for k, v in data.items() if v is not None and k not in fits.sites.observed
    }
    settings, timings = split_attrs(fits.attrs)
    timings.pop("total", None)
    sizes = np.asarray(mask).sum(axis=1).astype(int)
    return inference_data(
        inference="nuts",
        seed=seed,
        timings={**timings, "total": time.perf_counter() - started},
        attrs={
            **settings,
            "chains": int(xi.shape[0]),
            "J_tilde": J_tilde,
            "J_tilde_per_chain": ",".join(map(str, sizes)),
            "stuck_chains": ",".join(map(str, sorted(fits.stuck))),
            "simulation_noise_check": "independent xi per chain; J_tilde / 2 J_tilde alternating",
        },
        dims=dims,
        coords=coords,
        posterior={k: v[:, 0] for k, v in fits.posterior.items()},
        sample_stats={k: v[:, 0] for k, v in fits.sample_stats.items()},
        observed_data=dict(fits.sites.observed),
        constant_data={**constant, "xi": np.asarray(xi), "mask": np.asarray(mask)},
    )
