"""The batch driver: plan the chunks, resume from a store, run the rest, put it together.

:func:`run_batch` is what :func:`bayesuq.nuts_many` (and so :func:`bayesuq.sbc`) calls::

    plan          chunks of chunk_size datasets (chosen from memory, or given)
    store         finished chunks on disk; resume: checked chunks are read back, not rerun
    run           in process: groups of chunks, one per local device (shard_map), or
                  on Dask: one task per chunk, retried by the scheduler if a worker dies
    write         every finished chunk goes to the store before it is counted as done
    assemble      draws and statistics of all datasets, in dataset order
"""

from __future__ import annotations

import contextlib
import sys
import time
from collections.abc import Iterator
from dataclasses import dataclass
from typing import Any

import numpy as np

from bayesuq.batch.chunks import BatchJob, ChunkSampler, chunk_values
from bayesuq.batch.plan import ChunkPlan
from bayesuq.batch.progress import BatchProgress
from bayesuq.batch.store import ChunkResult, ChunkStore
from bayesuq.infer.data import PreparedData
from bayesuq.infer.sites import ModelAnalysis


@dataclass(frozen=True)
class BatchOutcome:
    """Draws and statistics of every dataset, and how the run went.

    Attributes
    ----------
    draws, stats
        ``name -> array (dataset, chain, draw, ...)``.
    attrs
        ``chunk_size``, ``chunks``, ``resumed_chunks``, ``devices``, ``workers``,
        ``fits_per_second``, ``compile_seconds``, ``sampling_seconds``.
    """

    draws: dict[str, np.ndarray]
    stats: dict[str, np.ndarray]
    attrs: dict[str, Any]


def _assemble(chunks: dict[int, ChunkResult], plan: ChunkPlan) -> tuple[dict, dict]:
    ordered = [chunks[i] for i in range(plan.n_chunks)]
    draws = {k: np.concatenate([c.draws[k] for c in ordered]) for k in ordered[0].draws}
    stats = {k: np.concatenate([c.stats[k] for c in ordered]) for k in ordered[0].stats}
    return draws, stats


@contextlib.contextmanager
def _models_by_value(model: Any) -> Iterator[None]:
    """Send ``model`` to Dask workers by value when its module is the user's own code.

    Models defined in a script, a notebook or a test file are not importable on a remote
    worker; models from installed packages (and bayesuq's zoo) are sent by reference.
    """
    import cloudpickle

    name = getattr(model, "__module__", None) or ""
    module = sys.modules.get(name)
    path = str(getattr(module, "__file__", "") or "")
    installed = "site-packages" in path or "dist-packages" in path
    if module is None or name == "__main__" or name.split(".")[0] == "bayesuq" or installed:
        yield
        return
    cloudpickle.register_pickle_by_value(module)
    try:
        yield
    finally:
        cloudpickle.unregister_pickle_by_value(module)


def run_batch(
    job: BatchJob,
    stacked: dict[str, np.ndarray],
    *,
    devices: int,
    client: Any,
    store: ChunkStore | None,
    progress: bool,
    dims: dict[str, list[str]],
    analysis: ModelAnalysis,
    prepared: PreparedData,
    workers: int | None = None,
) -> BatchOutcome:
    """Run every chunk of ``job`` not already in ``store`` (see the module docstring)."""
    n_datasets = next(iter(stacked.values())).shape[0]
    plan = ChunkPlan(n_datasets, job.chunk_size)
    finished = store.finished() if store is not None else {}
    todo = [i for i in range(plan.n_chunks) if i not in finished]
    tracker = BatchProgress(
        n_chunks=plan.n_chunks,
        n_datasets=n_datasets,
        resumed_chunks=len(finished),
        resumed_fits=sum(c.datasets.size for c in finished.values()),
        enabled=progress,
        desc=f"{n_datasets} datasets in chunks",
    )
    done = dict(finished)

    def record(result: ChunkResult) -> None:
        if store is not None:
            store.add(result, dims)
        done[result.index] = result
        tracker.chunk_done(fits=result.datasets.size, worker=result.worker, seconds=result.seconds)

    compile_seconds = 0.0
    sampling_start = time.perf_counter()
    used_devices, used_workers = devices, 0
    try:
        if todo and client is None:
            sampler = ChunkSampler(job, devices=devices, analysis=analysis, prepared=prepared)
            compile_seconds = sampler.compile_seconds
            tracker.restart_clock()
            sampling_start = time.perf_counter()
            groups = [todo[i : i + devices] for i in range(0, len(todo), devices)]
            for group in groups:
                values = chunk_values(stacked, plan, group)
                inner = progress and len(groups) == 1
                for result in sampler.sample(plan, group, values, progress=inner):
                    record(result)
        elif todo:
            from bayesuq.batch.workers import dask_client, run_on_dask

            used_devices = 1
            with dask_client(client, workers=workers) as dask, _models_by_value(job.model):
                used_workers = len(dask.scheduler_info().get("workers", {}))

                def compiled(seconds: float) -> None:
                    nonlocal sampling_start
                    tracker.restart_clock()
                    sampling_start = time.perf_counter()

                compile_seconds = run_on_dask(
                    dask, job, stacked, plan, todo, on_done=record, on_compiled=compiled
                )
    finally:
        tracker.close()
    sampling_seconds = time.perf_counter() - sampling_start
    draws, stats = _assemble(done, plan)
    summary = tracker.summary()
    attrs = {
        "chunk_size": job.chunk_size,
        "chunks": plan.n_chunks,
        "resumed_chunks": summary["resumed_chunks"],
        "devices": used_devices,
        "dask_workers": used_workers,
        "workers": summary["workers"],
        "fits_per_second": summary["fits_per_second"],
        "compile_seconds": round(compile_seconds, 4),
        "sampling_seconds": round(sampling_seconds, 4),
    }
    if store is not None:
        attrs["store"] = str(store.folder)
    return BatchOutcome(draws=draws, stats=stats, attrs=attrs)
