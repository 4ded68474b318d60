"""Layouts of dataset-batched programs: datasets x chains on one device, or over devices.

:class:`DatasetLayout` maps the one-chain init and transition functions
(:func:`bayesuq.infer.programs.one_chain_functions`) over every chain of every dataset of a
chunk with one flat ``vmap``. :class:`ShardedDatasetLayout` runs one such chunk on each of
``devices`` local devices at once with ``jax.shard_map``: the leading dataset axis of every
batched argument is split into equal contiguous blocks, one chunk per device, and each
device vmaps its own chunk with no communication. Every device runs the computation a single
device runs for one chunk, with the same keys; XLA compiles the partitioned program with
slightly different floating-point rounding (one unit in the last place, seen on XLA:CPU),
which NUTS amplifies, so draws on several devices equal those on one in distribution, not
bitwise. The same code runs on CPU host devices and on GPUs.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

import jax
import jax.numpy as jnp
import numpy as np
from jax.sharding import Mesh
from jax.sharding import PartitionSpec as P

from bayesuq.infer import init as initialisation
from bayesuq.infer.data import PreparedData


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
        return _init_arguments(self.datasets, self.chains, self.batched, z_template, data)

    @property
    def serialisable(self) -> bool:
        return True

    @property
    def splits_key(self) -> bool:
        # One key per (dataset, chain), derived from the dataset's global index, so that a
        # dataset's draws do not depend on the chunk it falls in.
        return False


def _init_arguments(
    datasets: int, chains: int, batched: tuple[str, ...], z_template: Any, data: PreparedData
) -> tuple:
    keys = jax.random.split(jax.random.PRNGKey(0), (datasets, chains))
    fixed, mask = per_dataset(initialisation.no_fixed_values(z_template, chains), datasets)
    stacked_entries, shared = split_batched(data.arrays, batched)
    stacked = {
        k: jax.ShapeDtypeStruct((datasets, *v.shape), v.dtype) for k, v in stacked_entries.items()
    }
    return keys, fixed, mask, (stacked, shared)


@dataclass(frozen=True)
class ShardedDatasetLayout:
    """One chunk of ``datasets`` datasets per device, on ``devices`` local devices at once.

    The programs take ``devices * datasets`` datasets; device ``j`` runs datasets
    ``j * datasets .. (j + 1) * datasets - 1`` with :class:`DatasetLayout`'s ``vmap``.
    """

    datasets: int
    chains: int
    batched: tuple[str, ...]
    devices: int

    def mesh(self) -> Mesh:
        """A one-axis mesh over the first ``devices`` local devices."""
        return Mesh(np.array(jax.local_devices()[: self.devices]), ("device",))

    def batch(self, init_one: Callable, chunk_one: Callable) -> tuple[Callable, Callable]:
        local = DatasetLayout(self.datasets, self.chains, self.batched)
        init_all, chunk_all = local.batch(init_one, chunk_one)
        mesh = self.mesh()
        split, whole = P("device"), P()
        init_sharded = jax.shard_map(
            init_all,
            mesh=mesh,
            in_specs=(split, split, split, (split, whole)),
            out_specs=split,
            check_vma=False,
        )
        chunk_sharded = jax.shard_map(
            chunk_all,
            mesh=mesh,
            in_specs=(split, (split, whole)),
            out_specs=split,
            check_vma=False,
        )
        return init_sharded, chunk_sharded

    def init_arguments(self, z_template: Any, data: PreparedData) -> tuple:
        return _init_arguments(
            self.devices * self.datasets, self.chains, self.batched, z_template, data
        )

    @property
    def serialisable(self) -> bool:
        # A serialised multi-device program must be called in its device context: these get
        # the in-process and XLA caches only.
        return False

    @property
    def splits_key(self) -> bool:
        return False  # per-dataset keys, as DatasetLayout
