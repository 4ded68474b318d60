"""Compilation: the persistent XLA cache and ahead-of-time compiled, timed programs.

XLA compilation of a NUTS program costs several seconds on a CPU, often more than the
sampling itself. Two caches remove most of it:

* in-process, :class:`ProgramCache` keeps the compiled programs of a model keyed by the
  sampler configuration and the shapes and dtypes of the data, so refitting the same model
  to new data of the same shape neither re-traces nor recompiles;
* across processes, JAX's persistent compilation cache (enabled by
  :func:`enable_compilation_cache` when bayesuq is imported) stores compiled executables on
  disk, and :func:`compile_cached` stores the *traced* programs (serialised with
  ``jax.export``) beside them, keyed by a fingerprint of the model's log density; a second
  process then neither traces nor compiles the sampler, it only loads both.
"""

from __future__ import annotations

import hashlib
import os
import time
from collections import OrderedDict
from collections.abc import Callable, Hashable
from pathlib import Path
from typing import Any

import jax
import numpy as np

from bayesuq.io import atomic_write

_CACHE_ENV = "BAYESUQ_CACHE_DIR"
_EXPORT_SUFFIX = ".jaxexport"


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


def fingerprint(*parts: Any) -> str:
    """A stable hex digest of strings, numbers, tuples and arrays (for on-disk cache keys)."""
    digest = hashlib.sha256()
    for part in parts:
        if isinstance(part, np.ndarray | jax.Array):
            array = np.asarray(part)
            digest.update(f"{array.dtype}{array.shape}".encode())
            digest.update(array.tobytes())
        else:
            digest.update(repr(part).encode())
        digest.update(b"\x00")
    return digest.hexdigest()


def jaxpr_fingerprint(fn: Callable, *example_args: Any) -> str:
    """Fingerprint of what ``fn`` computes: its jaxpr text and the values of its constants."""
    closed = jax.make_jaxpr(fn)(*example_args)
    return fingerprint(str(closed.jaxpr), *closed.consts)


def _traced_program_dir() -> Path | None:
    directory = jax.config.jax_compilation_cache_dir
    return Path(directory) / "bayesuq-programs" if directory else None


def _store(exported: jax.export.Exported, path: Path) -> None:
    """Write a serialised program atomically; a cache that cannot be written is skipped."""
    payload = exported.serialize()
    try:
        atomic_write(path, lambda partial: partial.write_bytes(payload))
    except OSError:
        pass


def compile_cached(
    fn: Callable, example_args: tuple, *, key: str | None
) -> tuple[jax.stages.Compiled, Any]:
    """Compile ``fn`` for ``example_args``, re-using its traced form from disk when possible.

    With a ``key`` (which must identify everything ``fn`` computes) and the persistent
    cache enabled, the traced program is serialised with ``jax.export`` on first use and
    deserialised afterwards, so no Python tracing happens in later processes; XLA
    compilation of the (identical) module then hits the persistent compilation cache.

    Returns
    -------
    (compiled program, abstract outputs as a pytree of ``jax.ShapeDtypeStruct``)
    """
    directory = _traced_program_dir()
    if key is None or directory is None:
        compiled = compile_ahead(fn, *example_args)
        return compiled, jax.eval_shape(fn, *example_args)
    path = directory / f"{key}{_EXPORT_SUFFIX}"
    exported = None
    if path.is_file():
        try:
            exported = jax.export.deserialize(bytearray(path.read_bytes()))
        except Exception:  # written by another JAX version, or damaged: trace again
            exported = None
    if exported is None:
        exported = jax.export.export(jax.jit(fn))(*example_args)
        _store(exported, path)
    outputs = jax.tree.unflatten(
        exported.out_tree, [jax.ShapeDtypeStruct(a.shape, a.dtype) for a in exported.out_avals]
    )
    return compile_ahead(exported.call, *example_args), outputs


def register_state_types(*types_and_names: tuple[type, str]) -> None:
    """Let ``jax.export`` serialise these NamedTuple types (sampler states) by name."""
    for state_type, name in types_and_names:
        try:
            jax.export.register_namedtuple_serialization(state_type, serialized_name=name)
        except ValueError:  # already registered (module reloaded)
            pass


_KEY_SEPARATOR = "\x1f"


def _map_keys(tree: Any, convert: Callable[[Any], Any]) -> Any:
    """Rebuild ``tree`` with every dict key passed through ``convert`` (leaves untouched)."""
    if isinstance(tree, dict):
        return {convert(k): _map_keys(v, convert) for k, v in tree.items()}
    if isinstance(tree, tuple) and hasattr(tree, "_fields"):
        return type(tree)(*(_map_keys(v, convert) for v in tree))
    if isinstance(tree, list | tuple):
        return type(tree)(_map_keys(v, convert) for v in tree)
    return tree


def string_keys(state: Any) -> Any:
    """``state`` with tuple dict keys (mass-matrix blocks) encoded as strings.

    Serialised programs (``jax.export``) accept only string dict keys. An encoded key starts
    with a separator character, so a block of one site, ``("mu",)``, is not mistaken for
    ``"mu"``.
    """

    def encode(key):
        return _KEY_SEPARATOR + _KEY_SEPARATOR.join(key) if isinstance(key, tuple) else key

    return _map_keys(state, encode)


def tuple_keys(state: Any) -> Any:
    """Inverse of :func:`string_keys`."""

    def decode(key):
        return tuple(key[1:].split(_KEY_SEPARATOR)) if key.startswith(_KEY_SEPARATOR) else key

    return _map_keys(state, decode)


# The engines import this module: the persistent cache is on before their first compile.
enable_compilation_cache()
