"""Batches of fits at scale: chunks in bounded memory, over devices and Dask workers, on disk.

:func:`bayesuq.nuts_many` and :func:`bayesuq.sbc` run through this package:

* :mod:`~bayesuq.batch.plan` cuts the datasets into chunks that fit in memory and gives
  each dataset keys that depend only on the seed and its index;
* :mod:`~bayesuq.batch.layout` batches a chunk's datasets and chains with ``vmap`` and
  spreads chunks over local devices with ``jax.shard_map``;
* :mod:`~bayesuq.batch.chunks` compiles the chunk programs once and samples chunks;
* :mod:`~bayesuq.batch.workers` runs chunks on a ``dask.distributed`` cluster (optional);
* :mod:`~bayesuq.batch.store` writes finished chunks (netCDF, checksummed, with a manifest)
  so that interrupted runs resume;
* :mod:`~bayesuq.batch.progress` reports chunks done, fits per second and time left;
* :mod:`~bayesuq.batch.run` puts these together.

See ``docs/scale.md`` for the user guide.
"""

from __future__ import annotations

from bayesuq.batch.plan import ChunkPlan, dataset_keys
from bayesuq.batch.store import ChunkStore, read_manifest

__all__ = ["ChunkPlan", "ChunkStore", "dataset_keys", "read_manifest"]
