"""NUTS on many datasets at once: one compiled program mapped over a dataset axis.

Simulation studies and simulation-based calibration fit the same model to hundreds of
datasets of the same shape. :func:`nuts_many` runs them as *one* pair of compiled programs
(init, and a chunk of ``lax.scan`` steps; see :mod:`bayesuq.infer.programs`) with ``vmap`` over
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
from typing import TYPE_CHECKING, Any

import jax
import jax.numpy as jnp
import numpy as np

from bayesuq.diagnostics.chains import find_stuck_chains
from bayesuq.infer import init as initialisation
from bayesuq.infer.convert import fit_result
from bayesuq.infer.data import PreparedData, prepare_data
from bayesuq.infer.kernels import NutsKernel
from bayesuq.infer.loop import chunk_length
from bayesuq.infer.mcmc import analyse_sampled_model, check_run_arguments, config_attrs
from bayesuq.infer.programs import SamplerConfig, get_programs, run
from bayesuq.infer.sites import ModelSites

if TYPE_CHECKING:
    import arviz as az


@dataclass(frozen=True)
class DatasetLayout:
    """Every chain of every dataset in one flat ``vmap`` over ``datasets * chains`` members.

    The data argument is ``(batched, shared)``: entries with a leading dataset axis
    (repeated for each chain inside the program) and entries common to every dataset.
    Inputs and outputs keep ``(dataset, chain)`` leading axes; the sampler state between
    the two programs is flat. One flat ``vmap`` compiles about twice as fast as a ``vmap``
    over datasets of a ``vmap`` over chains.
    """

    datasets: int
    chains: int
    batched: tuple[str, ...]

    def batch(self, init_one: Callable, chunk_one: Callable) -> tuple[Callable, Callable]:
        datasets, chains = self.datasets, self.chains
        members = datasets * chains

        def flat(tree):
            return jax.tree.map(lambda x: x.reshape(members, *x.shape[2:]), tree)

        def per_member(batched):
            return jax.tree.map(lambda x: jnp.repeat(x, chains, axis=0), batched)

        def unflat(tree):
            return jax.tree.map(lambda x: x.reshape(datasets, chains, *x.shape[1:]), tree)

        def init_all(keys, fixed, mask, arrays):
            batched, shared = arrays
            state, valid = jax.vmap(lambda k, f, m, b: init_one(k, f, m, {**b, **shared}))(
                flat(keys), flat(fixed), flat(mask), per_member(batched)
            )
            return state, valid.reshape(datasets, chains)

        def chunk_all(state, arrays):
            batched, shared = arrays
            state, outputs = jax.vmap(lambda st, b: chunk_one(st, {**b, **shared}))(
                state, per_member(batched)
            )
            return state, unflat(outputs)

        return init_all, chunk_all

    def init_arguments(self, z_template: Any, data: PreparedData) -> tuple:
        keys = jax.random.split(jax.random.PRNGKey(0), (self.datasets, self.chains))
        fixed, mask = per_dataset(
            initialisation.no_fixed_values(z_template, self.chains), self.datasets
        )
        batched, shared = split_batched(data.arrays, self.batched)
        stacked = {
            k: jax.ShapeDtypeStruct((self.datasets, *v.shape), v.dtype) for k, v in batched.items()
        }
        return keys, fixed, mask, (stacked, shared)

    @property
    def serialisable(self) -> bool:
        return True


def per_dataset(tree: Any, datasets: int) -> Any:
    """``tree`` with every leaf repeated along a new leading dataset axis."""
    return jax.tree.map(lambda x: np.broadcast_to(x, (datasets, *np.shape(x))).copy(), tree)


def split_batched(arrays: dict[str, Any], batched: tuple[str, ...]) -> tuple[dict, dict]:
    """``(batched, shared)`` parts of the data arrays, for dataset-batched programs."""
    return (
        {k: v for k, v in arrays.items() if k in batched},
        {k: v for k, v in arrays.items() if k not in batched},
    )


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
        timings = {k: float(self.attrs[f"{k}_seconds"]) for k in ("compile", "sampling", "total")}
        settings = {k: v for k, v in self.attrs.items() if not k.endswith("_seconds")}
        return fit_result(
            inference="nuts",
            seed=int(settings.pop("seed")),
            timings=timings,
            attrs={
                **settings,
                "dataset": dataset,
                "stuck_chains": ",".join(map(str, sorted(stuck))),
                "recovered_chains": "",
                "recovery_messages": "",
            },
            posterior={k: v[dataset] for k, v in self.posterior.items()},
            sites=dataclasses.replace(self.sites, observed=observed),
            data=data,
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
    check_run_arguments(
        chains=chains, draws=draws, warmup=warmup, seed=seed, chain_method="vectorized"
    )
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
    analysis = analyse_sampled_model(model, prepared)
    kernel = NutsKernel(
        target_accept=float(target_accept),
        max_tree_depth=max_tree_depth,
        dense_mass=bool(dense_mass),
    )
    layout = DatasetLayout(n_datasets, chains, tuple(sorted(stacked)))
    config = SamplerConfig(
        kernel,
        chains,
        warmup,
        draws,
        "vectorized",
        chunk_length(warmup + draws),
        datasets=n_datasets,
        batched=layout.batched,
    )
    programs, compile_seconds = get_programs(model, prepared, analysis, config, layout)
    run_start = time.perf_counter()
    batched_arrays, shared = split_batched(prepared.arrays, config.batched)
    batched_arrays = {k: jnp.asarray(stacked[k], dtype=v.dtype) for k, v in batched_arrays.items()}
    start = per_dataset(initialisation.no_fixed_values(analysis.z_template, chains), n_datasets)
    output = run(
        programs,
        jax.random.PRNGKey(seed),
        start,
        (batched_arrays, shared),
        config,
        progress=progress,
        desc=f"sampling {n_datasets} datasets",
    )
    if not output.valid.all():
        failed = np.flatnonzero(~output.valid.all(axis=1))
        raise RuntimeError(
            f"no finite starting point for some chains of dataset(s) {failed[:10].tolist()} "
            f"({failed.size} in all); fit one of them with bayesuq.nuts to see which site "
            f"fails, or check the simulated data"
        )
    posterior, stats = output.draws, output.stats
    for name in analysis.sites.latent:
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
        "model": getattr(model, "__name__", str(model)),
        "seed": int(seed),
        **config_attrs(config),
        "datasets": n_datasets,
        "compile_seconds": round(compile_seconds, 4),
        "sampling_seconds": round(time.perf_counter() - run_start, 4),
        "total_seconds": round(time.perf_counter() - started, 4),
    }
    return ManyFits(
        posterior=posterior,
        sample_stats=stats,
        stuck=stuck,
        sites=analysis.sites,
        attrs=attrs,
        data=prepared,
        batched=stacked,
    )
