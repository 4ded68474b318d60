"""Cutting a batch of datasets into chunks that fit in memory, and the per-dataset keys.

A run over ``D`` datasets is cut into ``ceil(D / size)`` chunks of ``size`` consecutive
datasets; every chunk runs the same compiled program (the last one is padded with copies of
its last dataset, whose draws are dropped). The size is chosen from the memory one dataset
needs (its sampler state, data, working memory and draws; :func:`dataset_bytes`) and the
memory available on a device (:func:`available_bytes`), or given by the user.

Each dataset's random key depends on the seed and on the dataset's *global* index only,

.. math:: k_d = \\mathrm{fold\\_in}(\\mathrm{PRNGKey}(s), d), \\qquad
          (k_{d,1}, \\dots, k_{d,C}) = \\mathrm{split}(k_d, C),

so its draws are the same whatever the chunk size, the number of devices or the worker
that ran it.
"""

from __future__ import annotations

import math
import os
from collections.abc import Sequence
from dataclasses import dataclass

import jax
import jax.numpy as jnp
import numpy as np

MEMORY_FRACTION = 0.25
"""Share of a device's free memory one chunk may plan to use (the rest is headroom)."""

FALLBACK_BYTES = 2 * 1024**3
"""Memory assumed when the platform does not say how much is free."""


@dataclass(frozen=True)
class ChunkPlan:
    """``n_datasets`` cut into chunks of ``chunk_size`` consecutive datasets."""

    n_datasets: int
    chunk_size: int

    @property
    def n_chunks(self) -> int:
        """Number of chunks (the last may be partial)."""
        return -(-self.n_datasets // self.chunk_size)

    def datasets(self, index: int) -> np.ndarray:
        """Global indices of chunk ``index``'s datasets (no padding)."""
        if not 0 <= index < self.n_chunks:
            raise IndexError(f"chunk must be in [0, {self.n_chunks}), got {index}")
        start = index * self.chunk_size
        return np.arange(start, min(start + self.chunk_size, self.n_datasets))

    def padded(self, index: int) -> np.ndarray:
        """Chunk ``index``'s indices padded to ``chunk_size`` by repeating the last one."""
        real = self.datasets(index)
        return np.concatenate([real, np.full(self.chunk_size - real.size, real[-1])])


def available_bytes(device: jax.Device) -> int:
    """Free memory of ``device``: its allocator's free bytes, or the host's available RAM.

    Accelerators report ``bytes_limit - bytes_in_use`` (``Device.memory_stats``); CPU
    devices share the host's memory (``MemAvailable`` of ``/proc/meminfo``, else the
    physical memory). Falls back to :data:`FALLBACK_BYTES`.
    """
    stats = None
    if device.platform != "cpu":
        try:
            stats = device.memory_stats()
        except Exception:  # not implemented on this platform
            stats = None
    if stats and "bytes_limit" in stats:
        return int(stats["bytes_limit"] - stats.get("bytes_in_use", 0))
    try:
        with open("/proc/meminfo") as handle:
            for line in handle:
                if line.startswith("MemAvailable:"):
                    return int(line.split()[1]) * 1024
    except OSError:
        pass
    try:
        return int(os.sysconf("SC_PAGE_SIZE") * os.sysconf("SC_PHYS_PAGES"))
    except (ValueError, OSError, AttributeError):
        return FALLBACK_BYTES


def dataset_bytes(
    *,
    position_size: int,
    output_size: int,
    data_size: int,
    chains: int,
    iterations: int,
    scan_length: int,
    max_tree_depth: int,
    dense_mass: bool,
    itemsize: int,
) -> int:
    """Bytes one dataset (all its chains) needs while its chunk runs, a generous estimate.

    Per chain, with ``d`` the unconstrained dimension, ``o`` the size of one draw's
    outputs (sites and statistics) and ``n`` the size of the dataset's arrays:

    * sampler state and adaptation: ``~ 16 d`` (plus ``2 d^2`` with a dense mass matrix);
    * NUTS's iterative tree building: ``2 d`` per tree level (``max_tree_depth`` levels);
    * evaluating the log density and its gradient: ``~ 8 n`` temporaries;
    * the outputs of one compiled scan (``scan_length o``) on the device, and all
      ``iterations o`` of them on the host before the warm-up is dropped.
    """
    per_chain = (
        16 * position_size
        + (2 * position_size**2 if dense_mass else 0)
        + 2 * max_tree_depth * position_size
        + 8 * data_size
        + (scan_length + iterations) * output_size
    )
    return int(chains * per_chain * itemsize)


def automatic_chunk_size(
    n_datasets: int,
    per_dataset: int,
    *,
    devices: int,
    free_bytes: int,
    cap: int | None = None,
) -> int:
    """The largest chunk that fits ``MEMORY_FRACTION`` of the free memory, at most ``cap``.

    ``cap`` defaults to ``ceil(n_datasets / devices)`` (one round of chunks over all
    devices); at least one dataset per chunk.
    """
    budget = MEMORY_FRACTION * free_bytes
    fits = max(1, int(budget // max(per_dataset, 1)))
    limit = cap if cap is not None else -(-n_datasets // devices)
    return max(1, min(fits, limit, n_datasets))


def dataset_keys(seed: int, datasets: Sequence[int] | np.ndarray, chains: int) -> jax.Array:
    """Keys ``(len(datasets), chains)`` of the given global dataset indices (module docstring)."""
    base = jax.random.PRNGKey(seed)
    indices = jnp.asarray(np.asarray(datasets, dtype=np.uint32))
    return jax.vmap(lambda d: jax.random.split(jax.random.fold_in(base, d), chains))(indices)


def leaf_size(shape: Sequence[int]) -> int:
    """Number of elements of an array of ``shape``."""
    return math.prod(int(s) for s in shape)
