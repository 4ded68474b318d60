"""Sampling chunks of datasets with one compiled program, in process or on a Dask worker.

A :class:`BatchJob` holds what defines a batched run and nothing bulky (the model, the
entries shared by every dataset, the first dataset's batched entries as a shape template,
the kernel and its settings), so it can be sent to Dask workers once. A
:class:`ChunkSampler` compiles the init and transition programs for chunks of
``job.chunk_size`` datasets on ``devices`` local devices (one chunk per device,
:mod:`bayesuq.batch.layout`) and samples groups of chunks with them: the same compiled
program for every group, the last chunk padded with copies of its last dataset.
"""

from __future__ import annotations

import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from typing import Any

import jax
import jax.numpy as jnp
import numpy as np

from bayesuq.batch.layout import DatasetLayout, ShardedDatasetLayout, per_dataset, split_batched
from bayesuq.batch.plan import ChunkPlan, dataset_keys
from bayesuq.batch.store import ChunkResult
from bayesuq.infer import init as initialisation
from bayesuq.infer.compilation import ProgramCache
from bayesuq.infer.data import PreparedData, prepare_data
from bayesuq.infer.kernels import Kernel
from bayesuq.infer.loop import chunk_length
from bayesuq.infer.mcmc import analyse_sampled_model
from bayesuq.infer.programs import SamplerConfig, build_programs, continue_run
from bayesuq.infer.sites import ModelAnalysis
from bayesuq.precision import computing_in

PROGRAMS = ProgramCache()
"""Compiled chunk programs of this process, keyed by content and layout."""


@dataclass(frozen=True)
class BatchJob:
    """What defines a batched NUTS run, without the batched data (sent to workers once).

    Attributes
    ----------
    model
        The NumPyro model.
    shared
        Data entries common to every dataset (as given: arrays, numbers).
    template
        The batched entries of the first dataset (their shapes and dtypes).
    kernel, chains, warmup, draws, seed
        Sampler settings; ``seed`` with the global dataset index gives each dataset's keys.
    chunk_size
        Datasets per chunk.
    precision
        ``"float32"`` or ``"float64"``: the client's precision, used by every worker.
    cache_dir
        The client's persistent compilation cache folder, used by workers that have none of
        their own (``BAYESUQ_CACHE_DIR``), so that one compile serves them all.
    token
        Fingerprint of the run (workers keep one compiled sampler per token).
    """

    model: Callable
    shared: dict[str, Any]
    template: dict[str, np.ndarray]
    kernel: Kernel
    chains: int
    warmup: int
    draws: int
    seed: int
    chunk_size: int
    precision: str
    cache_dir: str | None = None
    token: str = field(default="", compare=False)

    @property
    def batched(self) -> tuple[str, ...]:
        """Names of the entries that differ between datasets."""
        return tuple(sorted(self.template))


class ChunkSampler:
    """Compiled programs for chunks of ``job`` on ``devices`` local devices, and sampling.

    Parameters
    ----------
    job
        The run.
    devices
        How many local devices run chunks at once (one chunk each).
    analysis, prepared
        The model's analysis and prepared data, when the caller has them already.
    """

    def __init__(
        self,
        job: BatchJob,
        *,
        devices: int = 1,
        analysis: ModelAnalysis | None = None,
        prepared: PreparedData | None = None,
    ) -> None:
        self.job = job
        self.devices = devices
        started = time.perf_counter()
        with computing_in(job.precision):
            if prepared is None:
                prepared = prepare_data(job.model, {**job.shared, **job.template})
            if analysis is None:
                analysis = analyse_sampled_model(job.model, prepared)
            self.prepared, self.analysis = prepared, analysis
            group = devices * job.chunk_size
            self.config = SamplerConfig(
                job.kernel,
                job.chains,
                job.warmup,
                job.draws,
                "parallel" if devices > 1 else "vectorized",
                chunk_length(job.warmup + job.draws),
                datasets=group,
                batched=job.batched,
            )
            if devices > 1:
                layout: Any = ShardedDatasetLayout(job.chunk_size, job.chains, job.batched, devices)
            else:
                layout = DatasetLayout(job.chunk_size, job.chains, job.batched)
            key = (analysis.fingerprint, self.config, layout, prepared.signature(), job.precision)
            self.programs, build_seconds = PROGRAMS.get_or_build(
                key, lambda: build_programs(job.model, prepared, analysis, self.config, layout)
            )
        self.compile_seconds = build_seconds
        self.setup_seconds = time.perf_counter() - started

    def sample(
        self,
        plan: ChunkPlan,
        chunks: Sequence[int],
        values: dict[str, np.ndarray],
        *,
        worker: str = "local",
        progress: bool = False,
    ) -> list[ChunkResult]:
        """Sample up to ``devices`` chunks at once.

        Parameters
        ----------
        plan
            The run's chunks.
        chunks
            Indices of the chunks to run (at most ``devices``; missing ones are filled
            with copies of the first, whose results are dropped).
        values
            ``entry -> array (len(chunks) * chunk_size, ...)``: the batched entries of the
            chunks' padded datasets, chunk after chunk.
        worker
            Recorded in the results.
        progress
            Show the iteration progress bar.

        Raises
        ------
        RuntimeError
            A dataset has a chain without a finite starting point, or non-finite draws;
            the message names the datasets by their global index.
        """
        job = self.job
        if not 0 < len(chunks) <= self.devices:
            raise ValueError(f"expected 1..{self.devices} chunks, got {len(chunks)}")
        started = time.perf_counter()
        size = job.chunk_size
        fill = self.devices - len(chunks)
        indices = np.concatenate([plan.padded(c) for c in chunks] + [plan.padded(chunks[0])] * fill)
        values = {
            k: np.concatenate([v, *([v[:size]] * fill)]) if fill else v for k, v in values.items()
        }
        with computing_in(job.precision):
            keys = dataset_keys(job.seed, indices, job.chains)
            fixed, mask = per_dataset(
                initialisation.no_fixed_values(self.analysis.z_template, job.chains), indices.size
            )
            batched, shared = split_batched(self.prepared.arrays, job.batched)
            arrays = (
                {k: jnp.asarray(values[k], dtype=batched[k].dtype) for k in job.batched},
                shared,
            )
            state, valid = self.programs.init(keys, fixed, mask, arrays)
            valid = np.asarray(valid)
            if not valid.all():
                failed = sorted(set(indices[~valid.all(axis=1)].tolist()))
                raise RuntimeError(
                    f"no finite starting point for some chains of dataset(s) {failed[:10]} "
                    f"({len(failed)} in all); fit one of them with bayesuq.nuts to see which "
                    f"site fails, or check the simulated data"
                )
            output = continue_run(
                self.programs,
                state,
                arrays,
                self.config,
                steps=job.warmup + job.draws,
                keep=job.draws,
                progress=progress,
                desc=f"sampling {indices.size - fill * size} datasets",
            )
        seconds = time.perf_counter() - started
        results = []
        for slot, chunk in enumerate(chunks):
            real = plan.datasets(chunk)
            rows = slice(slot * size, slot * size + real.size)
            draws = {k: v[rows] for k, v in output.draws.items()}
            for name in self.analysis.sites.latent:
                finite = np.isfinite(draws[name]).reshape(real.size, -1).all(axis=1)
                if not finite.all():
                    raise RuntimeError(
                        f"NUTS produced non-finite draws of {name!r} for dataset(s) "
                        f"{real[~finite][:10].tolist()}"
                    )
            results.append(
                ChunkResult(
                    index=int(chunk),
                    datasets=real,
                    draws=draws,
                    stats={k: v[rows] for k, v in output.stats.items()},
                    worker=worker,
                    seconds=seconds / len(chunks),
                    compile_seconds=self.compile_seconds,
                )
            )
        return results


def chunk_values(
    stacked: dict[str, np.ndarray], plan: ChunkPlan, chunks: Sequence[int]
) -> dict[str, np.ndarray]:
    """The batched entries of the padded datasets of ``chunks``, chunk after chunk."""
    indices = np.concatenate([plan.padded(c) for c in chunks])
    return {k: v[indices] for k, v in stacked.items()}


def device_count(devices: int | None) -> int:
    """Local devices to use: all of them for ``None``, else ``devices`` (checked)."""
    available = jax.local_device_count()
    if devices is None:
        return available
    if isinstance(devices, bool) or not isinstance(devices, int | np.integer) or devices < 1:
        raise ValueError(f"devices must be a positive integer or None, got {devices!r}")
    if devices > available:
        raise ValueError(
            f"devices={devices} but only {available} local device(s) are visible "
            f"({jax.local_devices()[0].platform}); on a CPU, more host devices need "
            f"XLA_FLAGS=--xla_force_host_platform_device_count=N before JAX starts"
        )
    return int(devices)
