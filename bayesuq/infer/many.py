"""NUTS on many datasets at once: one compiled program mapped over chunks of datasets.

Simulation studies and simulation-based calibration fit the same model to hundreds of
datasets of the same shape. :func:`nuts_many` runs them with *one* pair of compiled programs
(init, and a chunk of ``lax.scan`` steps; see :mod:`bayesuq.infer.programs`) with ``vmap`` over
datasets and over chains, instead of a Python loop of fits: one compilation in all, and
the datasets share each vectorised step (on a GPU, many at once).

The datasets are cut into chunks that fit in memory (:mod:`bayesuq.batch`): chunks run one
per local device at once (``shard_map``), or on Dask workers (``client=``), and finished
chunks can be kept in an on-disk store (``store=``) that an interrupted run resumes from.
Each dataset's keys depend only on the seed and its index, so its draws are the same
whatever the chunk size, the devices or the workers.

Under ``vmap`` NUTS's tree building runs in lock step, so every iteration costs the
longest trajectory in the chunk: a chunk is only as fast as its slowest member, which is
the price of batching.
"""

from __future__ import annotations

import dataclasses
import os
import time
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

import jax
import numpy as np

from bayesuq.batch.layout import DatasetLayout, per_dataset, split_batched
from bayesuq.diagnostics.chains import find_stuck_chains
from bayesuq.infer.arguments import check_int
from bayesuq.infer.convert import fit_result
from bayesuq.infer.data import PreparedData, prepare_data
from bayesuq.infer.kernels import NutsKernel
from bayesuq.infer.loop import chunk_length
from bayesuq.infer.mcmc import analyse_sampled_model, check_run_arguments, config_attrs
from bayesuq.infer.programs import SamplerConfig
from bayesuq.infer.results import split_attrs
from bayesuq.infer.sites import ModelAnalysis, ModelSites

if TYPE_CHECKING:
    import arviz as az

CPU_CHUNK_DATASETS = 32
"""Largest automatic chunk on a CPU. NUTS under ``vmap`` runs in lock step: every iteration
costs the longest trajectory in the chunk, and one hard dataset (tree depth 10) slows its
whole chunk. Measured on eight-schools SBC (200 datasets, 2 chains, 2 CPU cores): chunks of
40 ran 2.3x faster than one chunk of 200; grouping chains more finely inside a chunk
(``lax.map`` over small ``vmap`` groups) was slower, the per-step cost dominating."""

__all__ = ["DatasetLayout", "ManyFits", "nuts_many", "per_dataset", "split_batched"]


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
        settings, timings = split_attrs(self.attrs)
        return fit_result(
            inference="nuts",
            seed=int(self.attrs["seed"]),
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


def _data_fingerprint(prepared: PreparedData, stacked: dict[str, np.ndarray]) -> str:
    """Digest of every dataset's values and of the shared entries."""
    from bayesuq.infer.compilation import fingerprint

    shared = {k: v for k, v in prepared.arrays.items() if k not in stacked and v is not None}
    return fingerprint(
        sorted(prepared.static.items()),
        *(part for k, v in sorted(shared.items()) for part in (k, np.asarray(v))),
        *(part for k, v in sorted(stacked.items()) for part in (k, v)),
    )


def _automatic_chunk_size(
    analysis: ModelAnalysis,
    prepared: PreparedData,
    *,
    n_datasets: int,
    chains: int,
    warmup: int,
    draws: int,
    kernel: NutsKernel,
    devices: int,
    dask: bool,
) -> int:
    """Chunk size from the memory one dataset needs and the memory of a device.

    In process, at most one round of chunks over the devices (bigger calls amortise the
    per-call cost); on Dask, at least four chunks per worker for load balancing; on a CPU,
    at most :data:`CPU_CHUNK_DATASETS`.
    """
    from bayesuq.batch.plan import (
        automatic_chunk_size,
        available_bytes,
        dataset_bytes,
        leaf_size,
    )
    from bayesuq.precision import x64_enabled

    position = sum(leaf_size(leaf.shape) for leaf in analysis.z_template.values())
    sites = analysis.sites
    outputs = sum(leaf_size(sites.shapes[n]) for n in (*sites.latent, *sites.deterministic))
    data_size = sum(leaf_size(np.shape(v)) for v in prepared.arrays.values() if v is not None)
    per_dataset_bytes = dataset_bytes(
        position_size=position,
        output_size=outputs + 8,
        data_size=data_size,
        chains=chains,
        iterations=warmup + draws,
        scan_length=chunk_length(warmup + draws),
        max_tree_depth=kernel.max_tree_depth,
        dense_mass=kernel.dense_mass is not False,
        itemsize=8 if x64_enabled() else 4,
    )
    device = jax.local_devices()[0]
    free = available_bytes(device)
    if device.platform == "cpu":
        free //= devices  # host devices share the host's memory
    cap = -(-n_datasets // (4 * max(devices, 1))) if dask else None
    if device.platform == "cpu":
        cap = min(cap or n_datasets, CPU_CHUNK_DATASETS)
    return automatic_chunk_size(
        n_datasets, per_dataset_bytes, devices=devices, free_bytes=free, cap=cap
    )


def _stored_chunk_size(store: Any) -> int | None:
    """The chunk size of an existing store (so that resuming needs no chunk_size=)."""
    from bayesuq.batch.store import MANIFEST, read_manifest

    if store is None:
        return None
    from pathlib import Path

    if not (Path(store).expanduser() / MANIFEST).is_file():
        return None
    try:
        size = read_manifest(Path(store).expanduser()).get("settings", {}).get("chunk_size")
    except (OSError, ValueError):
        return None  # the store itself reports what is wrong with it
    return int(size) if isinstance(size, int) else None


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
    chunk_size: int | None = None,
    devices: int | None = None,
    client: Any = None,
    store: str | os.PathLike | None = None,
    progress: bool = True,
) -> ManyFits:
    """Fit ``model`` to many datasets with NUTS, in chunks of one compiled program.

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
        Dataset ``d``'s chains get the keys ``split(fold_in(PRNGKey(seed), d), chains)``,
        so its draws do not depend on the chunks, devices or workers.
    chunk_size
        Datasets per chunk (one compiled program runs every chunk; the last is padded).
        ``None`` chooses it from the memory one dataset needs and the free memory of a
        device; when resuming from ``store``, the store's chunk size.
    devices
        How many local devices run chunks at once (one chunk each, with ``shard_map``);
        ``None``: all of them. On a CPU, ``XLA_FLAGS=--xla_force_host_platform_device_count=N``
        (set before JAX starts) gives ``N`` host devices.
    client
        ``None``: run in this process. ``"local"``: start a Dask ``LocalCluster`` (one
        worker process per core, one thread each) for this call. A
        ``dask.distributed.Client``: run one task per chunk on its cluster (each worker
        uses one device). Needs ``pip install 'bayesuq[dask]'``.
    store
        A folder for finished chunks (netCDF per chunk and a ``manifest.json``). A run
        interrupted for any reason and started again with the same arguments resumes
        from the chunks there (each checked against its SHA-256 checksum; a damaged one
        is computed again) and returns the same result as an uninterrupted run.

    Returns
    -------
    ManyFits
        Draws with dims ``(dataset, chain, draw, ...)``; ``inference_data(d)`` gives one
        dataset's ``InferenceData``. ``attrs`` records the chunks, devices, workers and
        fits per second.

    Raises
    ------
    ValueError
        Bad arguments, batched entries with different numbers of datasets, non-finite
        values (the message names the entry and the dataset), or a store that holds
        another run.
    RuntimeError
        A dataset has a chain without a finite starting point, or non-finite draws; or a
        chunk whose Dask workers kept dying (the message names the chunk).
    ImportError
        ``client=`` without Dask installed (the message says what to install).
    """
    from bayesuq import __version__
    from bayesuq.batch.chunks import BatchJob, device_count
    from bayesuq.batch.run import run_batch
    from bayesuq.batch.store import ChunkStore
    from bayesuq.infer.compilation import fingerprint
    from bayesuq.precision import float_dtype

    started = time.perf_counter()
    check_run_arguments(
        chains=chains, draws=draws, warmup=warmup, seed=seed, chain_method="vectorized"
    )
    if chunk_size is not None:
        check_int("chunk_size", chunk_size, minimum=1)
    if client is not None and devices is not None:
        raise ValueError(
            "devices= sets the local devices of a run in this process; with client=, each "
            "Dask worker runs its chunks on one device (start one worker per device)"
        )
    if client is None:
        devices = device_count(devices)
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
    template = {k: v[0] for k, v in stacked.items()}
    prepared = prepare_data(model, {**data, **template})
    analysis = analyse_sampled_model(model, prepared)
    kernel = NutsKernel(
        target_accept=float(target_accept),
        max_tree_depth=max_tree_depth,
        dense_mass=bool(dense_mass),
    )
    size = chunk_size or _stored_chunk_size(store)
    if size is None:
        if client is not None:  # Dask: balance over the workers, not over local devices
            from bayesuq.batch.workers import is_client

            workers = len(client.scheduler_info().get("workers", {})) if is_client(client) else 0
            devices = workers or os.cpu_count() or 1
        size = _automatic_chunk_size(
            analysis,
            prepared,
            n_datasets=n_datasets,
            chains=chains,
            warmup=warmup,
            draws=draws,
            kernel=kernel,
            devices=devices or 1,
            dask=client is not None,
        )
    size = min(int(size), n_datasets)
    precision = float_dtype()
    model_name = getattr(model, "__name__", str(model))
    settings = {
        "model": model_name,
        "model_fingerprint": analysis.fingerprint,
        "data_fingerprint": _data_fingerprint(prepared, stacked),
        "datasets": n_datasets,
        "batched": sorted(stacked),
        "chains": chains,
        "warmup": warmup,
        "draws": draws,
        "seed": int(seed),
        **kernel.attrs(),
        "chunk_size": size,
        "precision": precision,
        "versions": f"bayesuq {__version__}, jax {jax.__version__}",
    }
    token = fingerprint(*sorted(settings.items()))
    job = BatchJob(
        model=model,
        shared={k: v for k, v in data.items() if k not in stacked},
        template=template,
        kernel=kernel,
        chains=chains,
        warmup=warmup,
        draws=draws,
        seed=int(seed),
        chunk_size=size,
        precision=precision,
        cache_dir=jax.config.jax_compilation_cache_dir or None,
        token=token,
    )
    chunk_store = None
    if store is not None:
        chunk_store = ChunkStore(
            store, fingerprint=token, settings=settings, n_chunks=-(-n_datasets // size)
        )
    outcome = run_batch(
        job,
        stacked,
        devices=devices if client is None else 1,
        client=client,
        store=chunk_store,
        progress=progress,
        dims=analysis.sites.dims,
        analysis=analysis,
        prepared=prepared,
    )
    posterior, stats = outcome.draws, outcome.stats
    stuck = {
        d: found
        for d in range(n_datasets)
        if (found := find_stuck_chains(stats["step_size"][d], stats["lp"][d]))
    }
    config = SamplerConfig(
        kernel,
        chains,
        warmup,
        draws,
        "vectorized",
        chunk_length(warmup + draws),
        datasets=n_datasets,
        batched=tuple(sorted(stacked)),
    )
    attrs = {
        "model": model_name,
        "seed": int(seed),
        **config_attrs(config),
        "datasets": n_datasets,
        **outcome.attrs,
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
