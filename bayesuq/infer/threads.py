"""Chains run one per call, concurrently in threads (``chain_method="threads"``).

On a CPU, a vectorised program runs all chains in lockstep on one core: every NUTS
iteration lasts as long as the longest trajectory among the chains, and the other cores
idle. Here the chunk program is compiled for ONE chain, not batched
(:func:`one_chain_program`), and each chunk of transitions is one call per chain, made
from a thread pool with a thread per core (XLA releases the GIL while it executes). A
chain then never waits for another, and all cores work. The calls are independent, so the
draws do not depend on the scheduling of threads, nor on the number of cores.

An unbatched program is also smaller than a vectorised one: ``vmap`` turns NUTS's
data-dependent ``while`` loops into loops over all chains that select per chain, which is
slow to trace and to compile. On eight schools and a GP regression of the benchmark suite
a first fit was ready in half the time of vectorised pairs of chains, and a warm process
loaded faster; sampling took 15-20% longer there (``docs/benchmarks.md``).

The init program is one chain's too (:func:`one_chain_init`), called once per chain; each
chain's key is split inside it from the run's key exactly as for the other chain methods.
"""

from __future__ import annotations

import os
from collections.abc import Callable
from concurrent.futures import ThreadPoolExecutor
from typing import Any

import jax
import numpy as np

from bayesuq.precision import in_callers_precision

_POOL: ThreadPoolExecutor | None = None


def cpu_count() -> int:
    """CPU cores this process may run on (its affinity mask where the OS has one)."""
    try:
        return len(os.sched_getaffinity(0))
    except AttributeError:  # macOS, Windows
        return os.cpu_count() or 1


def one_chain_program(chunk_one: Callable[[Any, Any], tuple[Any, Any]]) -> Callable:
    """``chunk(state, arrays)`` for a state with a leading chain axis of length one.

    The chain's state is taken out of that axis, ``chunk_one`` runs unbatched (no ``vmap``),
    and its outputs get the axis back, so that :class:`ThreadedChunk` can stack the chains.
    """

    def chunk(state: Any, arrays: Any) -> tuple[Any, Any]:
        out = chunk_one(jax.tree.map(lambda x: x[0], state), arrays)
        return jax.tree.map(lambda x: x[None], out)

    return chunk


def _pool() -> ThreadPoolExecutor:
    global _POOL
    if _POOL is None:
        _POOL = ThreadPoolExecutor(max_workers=cpu_count(), thread_name_prefix="bayesuq-chain")
    return _POOL


def _stack(trees: list[Any]) -> Any:
    """Concatenate per-chain pytrees along their leading (chain) axis, on the host."""
    return jax.tree.map(lambda *leaves: np.concatenate([np.asarray(x) for x in leaves]), *trees)


def _each_chain(call: Callable[[int], Any], chains: int) -> Any:
    """``call(i)`` for every chain from the thread pool, the results stacked on the host."""
    # A call in float64 (bayesuq.precision.computing_in) runs in float64 in the pool too.
    in_precision = in_callers_precision(call)
    futures = [_pool().submit(in_precision, i) for i in range(chains)]
    return _stack([future.result() for future in futures])


CHAIN_INDEX = jax.ShapeDtypeStruct((), np.int32)
"""The abstract chain index argument of :func:`one_chain_init`."""


def one_chain_init(init_one: Callable, chains: int) -> Callable:
    """``init(key, index, fixed, mask, arrays)`` for chain ``index`` of ``chains``, unbatched.

    The chain's key is ``jax.random.split(key, chains)[index]``, the key the vectorised
    init program gives it, and its start values and mask are row ``index`` of ``fixed`` and
    ``mask``; the outputs get a leading chain axis of length one.
    """

    def init(key: jax.Array, index: jax.Array, fixed: Any, mask: Any, arrays: Any) -> Any:
        def row(x: jax.Array) -> jax.Array:
            return x[index]

        chain_key = jax.random.split(key, chains)[index]
        out = init_one(chain_key, jax.tree.map(row, fixed), jax.tree.map(row, mask), arrays)
        return jax.tree.map(lambda x: x[None], out)

    return init


class ThreadedInit:
    """``init(key, fixed, mask, arrays) -> (state, valid)`` over all chains, a call per chain.

    ``one_chain`` is the compiled :func:`one_chain_init` program.
    """

    def __init__(self, one_chain: Callable, chains: int) -> None:
        self.one_chain = one_chain
        self.chains = chains

    def __call__(self, key: Any, fixed: Any, mask: Any, arrays: Any) -> tuple[Any, Any]:
        def call(i: int) -> Any:
            return self.one_chain(key, np.int32(i), fixed, mask, arrays)

        return _each_chain(call, self.chains)


class ThreadedChunk:
    """``chunk(state, arrays) -> (state, outputs)`` over all chains, one thread call per chain.

    Parameters
    ----------
    one_chain
        Compiled chunk program for one chain (leading chain axis of length one, see
        :func:`one_chain_program`).
    chains
        Number of chains in the state this callable is given.
    """

    def __init__(self, one_chain: Callable[[Any, Any], tuple[Any, Any]], chains: int) -> None:
        self.one_chain = one_chain
        self.chains = chains

    def __call__(self, state: Any, arrays: Any) -> tuple[Any, Any]:
        host = jax.tree.map(np.asarray, state)

        def call(i: int) -> Any:
            return self.one_chain(jax.tree.map(lambda x: x[i : i + 1], host), arrays)

        return _each_chain(call, self.chains)
