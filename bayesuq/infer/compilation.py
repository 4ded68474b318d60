"""Compilation: the persistent XLA cache and ahead-of-time compiled, timed programs.

XLA compilation of a NUTS program costs several seconds on a CPU, often more than the
sampling itself. Two caches remove most of it:

* in-process, :class:`ProgramCache` keeps the compiled programs of a model keyed by the
  sampler configuration and the shapes and dtypes of the data, so refitting the same model
  to new data of the same shape neither re-traces nor recompiles;
* across processes, JAX's persistent compilation cache (enabled by
  :func:`enable_compilation_cache` when bayesuq is imported) stores compiled executables on
  disk, so a second process only pays for tracing.
"""

from __future__ import annotations

import os
import time
from collections import OrderedDict
from collections.abc import Callable, Hashable
from pathlib import Path
from typing import Any

import jax

_CACHE_ENV = "BAYESUQ_CACHE_DIR"


def default_cache_dir() -> Path:
    """Where compiled programs are stored: ``$BAYESUQ_CACHE_DIR`` or ``~/.cache/bayesuq/jax``."""
    env = os.environ.get(_CACHE_ENV)
    if env:
        return Path(env).expanduser()
    base = os.environ.get("XDG_CACHE_HOME") or Path.home() / ".cache"
    return Path(base) / "bayesuq" / "jax"


def enable_compilation_cache(path: str | os.PathLike | None = None) -> Path | None:
    """Turn on JAX's persistent compilation cache unless the user configured one.

    Parameters
    ----------
    path
        Cache directory; defaults to :func:`default_cache_dir`. Setting the environment
        variable ``BAYESUQ_CACHE_DIR=off`` disables the cache.

    Returns
    -------
    pathlib.Path or None
        The directory in use, or ``None`` when disabled.
    """
    if os.environ.get(_CACHE_ENV, "").lower() in {"off", "0", "none"}:
        return None
    configured = jax.config.jax_compilation_cache_dir
    if configured and path is None:
        return Path(configured)
    directory = Path(path) if path is not None else default_cache_dir()
    try:
        directory.mkdir(parents=True, exist_ok=True)
    except OSError:  # read-only home: run without the cache rather than fail
        return None
    jax.config.update("jax_compilation_cache_dir", str(directory))
    # Cache every program worth keeping; tiny eager ops are not.
    jax.config.update("jax_persistent_cache_min_compile_time_secs", 0.2)
    jax.config.update("jax_persistent_cache_min_entry_size_bytes", 0)
    return directory


class ProgramCache:
    """A small LRU map from a hashable key to compiled programs (least recent evicted)."""

    def __init__(self, maxsize: int = 32) -> None:
        self._items: OrderedDict[Hashable, Any] = OrderedDict()
        self._maxsize = maxsize
        self.compiles = 0

    def get_or_build(self, key: Hashable, build: Callable[[], Any]) -> tuple[Any, float]:
        """Return ``(programs, seconds spent building)``; 0 seconds on a hit."""
        if key in self._items:
            self._items.move_to_end(key)
            return self._items[key], 0.0
        start = time.perf_counter()
        value = build()
        self.compiles += 1
        self._items[key] = value
        if len(self._items) > self._maxsize:
            self._items.popitem(last=False)
        return value, time.perf_counter() - start

    def clear(self) -> None:
        """Forget every compiled program."""
        self._items.clear()


def compile_ahead(fn: Callable, *example_args: Any) -> jax.stages.Compiled:
    """``jax.jit(fn)`` lowered and compiled for the given example (or abstract) arguments."""
    return jax.jit(fn).lower(*example_args).compile()
