"""Running chunks on Dask workers (``dask.distributed``), an optional dependency.

The client sends the :class:`~bayesuq.batch.chunks.BatchJob` to the cluster once (as a
task, so that a worker's death does not lose it), then one task per chunk with that
chunk's datasets. Each worker keeps
one :class:`~bayesuq.batch.chunks.ChunkSampler` per job, so it gets the compiled programs
once and re-uses them for every chunk it runs. Before the chunks, one worker compiles the
programs alone; they land in the persistent compilation cache that all workers share
(``BAYESUQ_CACHE_DIR``, else the client's cache folder), so the other workers load them
instead of compiling again.

Finished chunks come back to the client, which writes them to the store as they arrive.
A worker that dies while running a chunk loses it; Dask's scheduler runs the chunk again on
another worker, up to its ``distributed.scheduler.allowed-failures`` setting (3 by default),
after which the run stops with an error that names the chunk.
"""

from __future__ import annotations

import os
import uuid
from collections.abc import Callable, Iterator, Sequence
from contextlib import contextmanager
from typing import Any

import numpy as np

from bayesuq.batch.chunks import BatchJob, ChunkSampler, chunk_values
from bayesuq.batch.plan import ChunkPlan
from bayesuq.batch.store import ChunkResult

INSTALL_HINT = "pip install 'bayesuq[dask]'  (or: pip install 'dask[distributed]')"

_SAMPLERS: dict[str, ChunkSampler] = {}
"""This worker's compiled samplers, by job token."""


def import_distributed() -> Any:
    """The ``distributed`` module, or an ImportError that says what to install."""
    try:
        import distributed
    except ImportError as err:
        raise ImportError(
            f"client= runs chunks on Dask, which is not installed here: {INSTALL_HINT}"
        ) from err
    return distributed


def is_client(value: Any) -> bool:
    """Whether ``value`` is a ``dask.distributed.Client`` (without importing Dask first)."""
    return type(value).__name__ == "Client" and type(value).__module__.startswith("distributed")


@contextmanager
def dask_client(client: Any, *, workers: int | None = None) -> Iterator[Any]:
    """The ``Client`` to use: ``client`` itself, or a new ``LocalCluster``'s for ``"local"``.

    ``"local"`` starts ``workers`` worker processes (default: one per CPU core) with one
    thread each, and closes them on exit.
    """
    if isinstance(client, str):
        if client != "local":
            raise ValueError(
                f"client must be None, 'local' or a dask.distributed.Client, got {client!r}"
            )
        distributed = import_distributed()
        n = workers or os.cpu_count() or 1
        with (
            distributed.LocalCluster(
                n_workers=n,
                threads_per_worker=1,
                processes=True,
                dashboard_address=None,
            ) as cluster,
            distributed.Client(cluster) as local,
        ):
            yield local
        return
    if not is_client(client):
        raise TypeError(
            f"client must be None, 'local' or a dask.distributed.Client, got "
            f"{type(client).__name__}"
        )
    yield client


def _worker_address() -> str:
    from distributed import get_worker

    try:
        return str(get_worker().address)
    except ValueError:  # not on a worker (the synchronous scheduler)
        return "local"


def _use_shared_cache(job: BatchJob) -> None:
    """Point this worker's compilation cache at the client's, unless it has its own."""
    import jax

    from bayesuq.infer.compilation import enable_compilation_cache

    if os.environ.get("BAYESUQ_CACHE_DIR") or not job.cache_dir:
        return
    if jax.config.jax_compilation_cache_dir != job.cache_dir:
        enable_compilation_cache(job.cache_dir)


def worker_sampler(job: BatchJob) -> ChunkSampler:
    """This worker's sampler for ``job``: built (compiled or loaded from the cache) once."""
    sampler = _SAMPLERS.get(job.token)
    if sampler is None:
        _use_shared_cache(job)
        sampler = ChunkSampler(job, devices=1)
        _SAMPLERS.clear()  # one job at a time: free the previous job's programs
        _SAMPLERS[job.token] = sampler
    return sampler


def _hold(job: BatchJob) -> BatchJob:
    return job


def prepare_task(job: BatchJob) -> float:
    """Compile (or load) the programs on one worker; returns the seconds it took."""
    return worker_sampler(job).compile_seconds


def chunk_task(
    job: BatchJob, plan: ChunkPlan, chunk: int, values: dict[str, np.ndarray]
) -> ChunkResult:
    """Run one chunk on this worker."""
    (result,) = worker_sampler(job).sample(plan, [chunk], values, worker=_worker_address())
    return result


def lost_chunk_error(chunk: int, plan: ChunkPlan, err: BaseException) -> RuntimeError:
    """The error for a chunk whose workers kept dying (Dask's ``KilledWorker``)."""
    datasets = plan.datasets(chunk)
    return RuntimeError(
        f"chunk {chunk} (datasets {int(datasets[0])}..{int(datasets[-1])}) was given up: "
        f"the Dask workers running it died too often (the scheduler's "
        f"distributed.scheduler.allowed-failures retries were used up; {err}). A worker "
        f"that runs out of memory dies this way: lower chunk_size= or give workers more "
        f"memory; finished chunks are in the store, so the same call resumes from them"
    )


def run_on_dask(
    client: Any,
    job: BatchJob,
    stacked: dict[str, np.ndarray],
    plan: ChunkPlan,
    todo: Sequence[int],
    *,
    on_done: Callable[[ChunkResult], None],
    on_compiled: Callable[[float], None],
) -> float:
    """Run chunks ``todo`` on the cluster, calling ``on_done`` as each one finishes.

    Returns the seconds the first worker spent compiling (or loading) the programs.
    Pending chunks are cancelled if anything goes wrong or the client is interrupted.
    """
    distributed = import_distributed()
    run_id = f"{job.token[:8]}-{uuid.uuid4().hex[:8]}"  # keys unique to this call
    # A task (not scattered data): if the worker holding the job dies, the scheduler
    # recomputes it elsewhere instead of failing every chunk that needs it.
    job_future = client.submit(_hold, job, pure=False, key=f"bayesuq-job-{run_id}")
    compile_seconds = float(
        client.submit(
            prepare_task, job_future, pure=False, key=f"bayesuq-compile-{run_id}"
        ).result()
    )
    on_compiled(compile_seconds)
    futures = {}
    for chunk in todo:
        future = client.submit(
            chunk_task,
            job_future,
            plan,
            chunk,
            chunk_values(stacked, plan, [chunk]),
            pure=False,
            key=f"bayesuq-chunk-{chunk}-{run_id}",
        )
        futures[future] = chunk
    try:
        for future in distributed.as_completed(futures):
            chunk = futures[future]
            try:
                result = future.result()
            except distributed.KilledWorker as err:
                raise lost_chunk_error(chunk, plan, err) from err
            except Exception as err:
                datasets = plan.datasets(chunk)
                err.add_note(
                    f"(in chunk {chunk}, datasets {int(datasets[0])}..{int(datasets[-1])}, "
                    f"on a Dask worker)"
                )
                raise
            on_done(result)
            future.release()
    finally:
        pending = [f for f in futures if not f.done()]
        if pending:
            client.cancel(pending)
    return compile_seconds
