"""NUTS on many datasets at once: one compiled program mapped over a dataset axis.

Simulation studies and simulation-based calibration fit the same model to hundreds of
datasets of the same shape. :func:`nuts_many` runs them as *one* pair of compiled programs
(init, and a chunk of ``lax.scan`` steps; see :mod:`bayesuq.infer.nuts`) with ``vmap`` over
datasets and over chains, instead of a Python loop of fits: one compilation in all, and
the datasets share each vectorised step (on a GPU, many at once).

Under ``vmap`` NUTS's tree building runs in lock step, so every iteration costs the
longest trajectory in the batch: a batch is only as fast as its slowest member, which is
the price of batching.
"""

from __future__ import annotations

import dataclasses
import time
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass
from typing import Any

import arviz as az
import jax
import numpy as np

from bayesuq.diagnostics.chains import find_stuck_chains
from bayesuq.infer import init as initialisation
from bayesuq.infer.convert import build_inference_data
from bayesuq.infer.data import PreparedData, prepare_data
from bayesuq.infer.nuts import (
    PROGRAMS,
    _build_programs,
    _check_arguments,
    _per_dataset,
    _run,
    nuts_config,
    run_attrs,
    sampled_sites,
    split_batched,
)
from bayesuq.infer.sites import ModelSites
from bayesuq.precision import x64_enabled


@dataclass(frozen=True)
class ManyFits:
    """Posterior draws of one model fitted to many datasets.

    Attributes
    ----------
    posterior
        ``site -> array (dataset, chain, draw, ...)`` on the constrained scale.
    sample_stats
        Sampler statistics, ``name -> array (dataset, chain, draw)``.
    stuck
        ``dataset -> {chain: reason}`` for datasets with stuck chains (no recovery is
        attempted in batched runs; refit those datasets with :func:`bayesuq.nuts`).
    sites
        Site roles and dims of the model (from the first dataset).
    attrs
        Configuration and timings (``compile_seconds``, ``sampling_seconds``).
    data
        The prepared inputs of the first dataset (shared entries, static values).
    batched
        The entries that differ between datasets, ``name -> array (dataset, ...)``.
    """

    posterior: dict[str, np.ndarray]
    sample_stats: dict[str, np.ndarray]
    stuck: dict[int, dict[int, str]]
    sites: ModelSites
    attrs: dict[str, Any]
    data: PreparedData
    batched: dict[str, np.ndarray]

    @property
    def datasets(self) -> int:
        """Number of datasets."""
        return next(iter(self.posterior.values())).shape[0]

    def divergences(self) -> np.ndarray:
        """Divergent transitions per dataset (all chains together)."""
        return self.sample_stats["diverging"].sum(axis=(1, 2))

    def inference_data(self, dataset: int) -> az.InferenceData:
        """The ``InferenceData`` of one dataset's fit, as :func:`bayesuq.nuts` returns it."""
        if not 0 <= dataset < self.datasets:
            raise IndexError(f"dataset must be in [0, {self.datasets}), got {dataset}")
        arrays = {**self.data.arrays, **{k: v[dataset] for k, v in self.batched.items()}}
        data = dataclasses.replace(self.data, arrays=arrays)
        observed = {
            name: (np.asarray(arrays[name]) if name in self.batched else value)
            for name, value in self.sites.observed.items()
        }
        stuck = self.stuck.get(dataset, {})
        return build_inference_data(
            posterior={k: v[dataset] for k, v in self.posterior.items()},
            sites=dataclasses.replace(self.sites, observed=observed),
            data=data,
            attrs={
                **self.attrs,
                "dataset": dataset,
                "stuck_chains": ",".join(map(str, sorted(stuck))),
                "recovered_chains": "",
                "recovery_messages": "",
            },
            sample_stats={k: v[dataset] for k, v in self.sample_stats.items()},
        )


def _stacked_entries(data: Mapping[str, Any], batched: Sequence[str]) -> dict[str, np.ndarray]:
    """The batched entries as arrays, checked to share one leading dataset axis."""
    if isinstance(batched, str) or not batched:
        raise ValueError(f"batched must be a non-empty list of data entry names, got {batched!r}")
    stacked: dict[str, np.ndarray] = {}
    for name in batched:
        if name not in data:
            raise ValueError(f"batched entry {name!r} is not in data (keys: {sorted(data)})")
        value = np.asarray(data[name])
        if value.ndim == 0:
            raise ValueError(
                f"data[{name!r}] is a scalar; a batched entry needs a leading dataset axis"
            )
        stacked[name] = value
    sizes = {name: v.shape[0] for name, v in stacked.items()}
    if len(set(sizes.values())) != 1:
        raise ValueError(f"batched entries disagree on the number of datasets: {sizes}")
    return stacked


def nuts_many(
    model: Callable,
    data: Mapping[str, Any],
    *,
    batched: Sequence[str],
    chains: int = 1,
    draws: int = 500,
    warmup: int = 500,
    seed: int = 0,
    target_accept: float = 0.8,
    max_tree_depth: int = 10,
    dense_mass: bool = False,
    progress: bool = True,
) -> ManyFits:
    """Fit ``model`` to many datasets with NUTS, as one compiled program over datasets.

    Parameters
    ----------
    model
        NumPyro model, called as ``model(**data_d)`` for dataset ``d``.
    data
        Model inputs. Entries named in ``batched`` carry a leading dataset axis (one slice
        per dataset); the others are shared by all datasets.
    batched
        Names of the entries that differ between datasets.
    chains, draws, warmup, seed, target_accept, max_tree_depth, dense_mass, progress
        As in :func:`bayesuq.nuts`, per dataset. Chains of all datasets run vectorised.

    Returns
    -------
    ManyFits
        Draws with dims ``(dataset, chain, draw, ...)``; ``inference_data(d)`` gives one
        dataset's ``InferenceData``.

    Raises
    ------
    ValueError
        Bad arguments, batched entries with different numbers of datasets, or non-finite
        values (the message names the entry and the dataset).
    RuntimeError
        A dataset has a chain without a finite starting point, or non-finite draws.
    """
    started = time.perf_counter()
    _check_arguments(chains, draws, warmup, seed, target_accept, max_tree_depth, "vectorized")
    if not isinstance(data, Mapping):
        raise TypeError(f"data must be a dict of argument name -> array, got {type(data)}")
    stacked = _stacked_entries(data, batched)
    n_datasets = next(iter(stacked.values())).shape[0]
    for name, value in stacked.items():
        if value.dtype.kind == "f" and not np.all(np.isfinite(value)):
            bad = np.flatnonzero(~np.isfinite(value).reshape(n_datasets, -1).all(axis=1))
            raise ValueError(
                f"data[{name!r}] has non-finite values in dataset(s) {bad[:10].tolist()}"
            )
    prepared = prepare_data(model, {**data, **{k: v[0] for k, v in stacked.items()}})
    sites = sampled_sites(model, prepared)
    config = nuts_config(
        chains,
        warmup,
        draws,
        target_accept,
        max_tree_depth,
        dense_mass,
        chain_method="vectorized",
        datasets=n_datasets,
        batched=tuple(sorted(stacked)),
    )
    z_template, potential_fn_gen, postprocess_fn_gen = initialisation.model_functions(
        model, prepared
    )
    programs, compile_seconds = PROGRAMS.get_or_build(
        (model, config, prepared.signature(), x64_enabled()),
        lambda: _build_programs(
            model, prepared, config, z_template, potential_fn_gen, postprocess_fn_gen
        ),
    )
    run_start = time.perf_counter()
    batched_arrays, shared = split_batched(prepared.arrays, config.batched)
    batched_arrays = {
        k: jax.numpy.asarray(stacked[k], dtype=v.dtype) for k, v in batched_arrays.items()
    }
    start = _per_dataset(initialisation.no_fixed_values(z_template, chains), n_datasets)
    posterior, stats, _, valid = _run(
        programs,
        jax.random.PRNGKey(seed),
        start,
        (batched_arrays, shared),
        config,
        progress,
        f"sampling {n_datasets} datasets",
    )
    if not valid.all():
        failed = np.flatnonzero(~valid.all(axis=1))
        raise RuntimeError(
            f"no finite starting point for some chains of dataset(s) {failed[:10].tolist()} "
            f"({failed.size} in all); fit one of them with bayesuq.nuts to see which site "
            f"fails, or check the simulated data"
        )
    for name in sites.latent:
        finite = np.isfinite(posterior[name]).reshape(n_datasets, -1).all(axis=1)
        if not finite.all():
            raise RuntimeError(
                f"NUTS produced non-finite draws of {name!r} for dataset(s) "
                f"{np.flatnonzero(~finite)[:10].tolist()}"
            )
    stuck = {
        d: found
        for d in range(n_datasets)
        if (found := find_stuck_chains(stats["step_size"][d], stats["lp"][d]))
    }
    attrs = {
        **run_attrs(model, config, seed),
        "datasets": n_datasets,
        "compile_seconds": round(compile_seconds, 4),
        "sampling_seconds": round(time.perf_counter() - run_start, 4),
        "total_seconds": round(time.perf_counter() - started, 4),
    }
    return ManyFits(
        posterior=posterior,
        sample_stats=stats,
        stuck=stuck,
        sites=sites,
        attrs=attrs,
        data=prepared,
        batched=stacked,
    )
