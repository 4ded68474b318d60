"""Batching one-chain (or one-dataset) programs over a leading axis.

``vectorized`` vmaps on one device; ``parallel`` splits the batch over all devices with
``jax.shard_map`` (each device vmaps its share, with no communication); ``sequential``
runs members one after another with ``lax.map`` (least memory). The same code runs on CPU
and GPU. ``threads`` (chains only, :mod:`bayesuq.infer.threads`) is not a batching of one
program: each chain's chunk is its own call, and calls run concurrently on the CPU cores.
"""

from __future__ import annotations

from collections.abc import Callable

import jax
import numpy as np
from jax.sharding import Mesh
from jax.sharding import PartitionSpec as P

from bayesuq.infer.threads import cpu_count

METHODS = ("auto", "vectorized", "parallel", "sequential", "threads")


def resolve_method(method: str, batch: int) -> str:
    """Pick the concrete method for ``"auto"``; check that ``"parallel"`` can split ``batch``.

    ``auto`` is ``parallel`` when several devices are visible and ``batch`` divides evenly
    among them; else, on a CPU with several cores, ``threads``; else ``vectorized``.
    """
    devices = jax.device_count()
    if method == "auto":
        if devices > 1 and batch % devices == 0:
            return "parallel"
        if batch > 1 and jax.default_backend() == "cpu" and cpu_count() > 1:
            return "threads"
        return "vectorized"
    if method == "parallel" and batch % devices != 0:
        raise ValueError(
            f"chain_method='parallel' needs the number of chains ({batch}) to be a multiple "
            f"of the number of devices ({devices}); use chain_method='vectorized' or "
            f"change chains"
        )
    return method


def batch_over(fn: Callable, method: str, n_batched: int) -> Callable:
    """Batch ``fn(*batched, shared)`` over the leading axis of its first ``n_batched`` args.

    Parameters
    ----------
    fn
        Function of ``n_batched`` per-member arguments followed by one shared argument.
    method
        ``"vectorized"``, ``"parallel"`` or ``"sequential"`` (see the module docstring).
    n_batched
        How many leading arguments carry the batch axis.
    """
    in_axes = (0,) * n_batched + (None,)
    if method == "vectorized":
        return jax.vmap(fn, in_axes=in_axes)
    if method == "sequential":

        def sequential(*args):
            batched, shared = args[:n_batched], args[n_batched]
            return jax.lax.map(lambda member: fn(*member, shared), batched)

        return sequential
    if method == "parallel":
        mesh = Mesh(np.array(jax.devices()), ("batch",))
        return jax.shard_map(
            jax.vmap(fn, in_axes=in_axes),
            mesh=mesh,
            in_specs=(P("batch"),) * n_batched + (P(),),
            out_specs=P("batch"),
            check_vma=False,
        )
    raise ValueError(f"unknown batching method {method!r}; expected one of {METHODS[1:]}")
