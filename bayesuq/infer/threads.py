"""Chains in groups run concurrently in threads (``chain_method="threads"``).

On a CPU, a vectorised program runs all chains in lockstep on one core: every NUTS
iteration lasts as long as the longest trajectory among the chains, and the other cores
idle. Here the chains are split into one group per core (:func:`group_size`), the chunk
program is compiled for one group, and each chunk of transitions is one call per group,
made from a thread pool (XLA releases the GIL while it executes). A chain then waits only
for its own group in each iteration, and all cores work. The calls are independent, so the
draws do not depend on the scheduling of threads.

The init program stays vectorised over all chains: it runs once, and the per-chain keys
are split inside it exactly as for the other chain methods.
"""

from __future__ import annotations

import os
from collections.abc import Callable
from concurrent.futures import ThreadPoolExecutor
from typing import Any

import jax
import numpy as np

from bayesuq.precision import x64_enabled

_POOL: ThreadPoolExecutor | None = None


def cpu_count() -> int:
    """CPU cores this process may run on (its affinity mask where the OS has one)."""
    try:
        return len(os.sched_getaffinity(0))
    except AttributeError:  # macOS, Windows
        return os.cpu_count() or 1


def group_size(chains: int, cores: int | None = None) -> int:
    """Chains per call: the largest divisor of ``chains`` not above ``ceil(chains / cores)``.

    So that every core gets a call and the calls are equal: 4 chains on 2 cores run as 2
    calls of 2 vectorised chains, on 4 or more cores as 4 calls of one chain.
    """
    cores = cpu_count() if cores is None else cores
    ceiling = -(-chains // max(cores, 1))
    return max(d for d in range(1, ceiling + 1) if chains % d == 0)


def _pool() -> ThreadPoolExecutor:
    global _POOL
    if _POOL is None:
        _POOL = ThreadPoolExecutor(max_workers=cpu_count(), thread_name_prefix="bayesuq-chain")
    return _POOL


def _stack(trees: list[Any]) -> Any:
    """Concatenate per-group pytrees along their leading (chain) axis, on the host."""
    return jax.tree.map(lambda *leaves: np.concatenate([np.asarray(x) for x in leaves]), *trees)


class ThreadedChunk:
    """``chunk(state, arrays) -> (state, outputs)`` over all chains, one thread call per group.

    Parameters
    ----------
    one_chain
        Compiled chunk program for one group (leading chain axis of length ``group``).
    chains
        Number of chains in the state this callable is given.
    group
        Chains per call; divides ``chains``.
    """

    def __init__(
        self, one_chain: Callable[[Any, Any], tuple[Any, Any]], chains: int, group: int
    ) -> None:
        self.one_chain = one_chain
        self.chains = chains
        self.group = group

    def __call__(self, state: Any, arrays: Any) -> tuple[Any, Any]:
        if self.group == self.chains:
            return self.one_chain(state, arrays)
        host = jax.tree.map(np.asarray, state)
        g = self.group
        groups = [jax.tree.map(lambda x, i=i: x[i : i + g], host) for i in range(0, self.chains, g)]
        # jax.enable_x64 is thread-local: a call in float64 (bayesuq.precision.computing_in)
        # must run in float64 in the pool's threads too.
        x64 = x64_enabled()

        def call(part: Any) -> tuple[Any, Any]:
            with jax.enable_x64(x64):
                return self.one_chain(part, arrays)

        futures = [_pool().submit(call, group) for group in groups]
        results = [future.result() for future in futures]
        return _stack([r[0] for r in results]), _stack([r[1] for r in results])
