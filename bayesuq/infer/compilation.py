"""Compilation: the persistent XLA cache and ahead-of-time compiled, timed programs.

XLA compilation of a NUTS program costs several seconds on a CPU, often more than the
sampling itself. Two caches remove most of it:

* in-process, :class:`ProgramCache` keeps the compiled programs of a model keyed by the
  sampler configuration and the shapes and dtypes of the data, so refitting the same model
  to new data of the same shape neither re-traces nor recompiles;
* across processes, :func:`compile_cached` stores each compiled program's XLA executable
  (``jax.experimental.serialize_executable``) under ``bayesuq-programs/`` in the cache
  directory, keyed by a fingerprint of the model's log density and everything else that
  shapes the program; a second process loads the executable and neither traces, lowers nor
  compiles the sampler (:func:`load_cached`). A program that cannot be serialised that way
  (one with hoisted constants) is stored traced instead (``jax.export``) and compiled
  from that form through JAX's persistent compilation cache, which
  :func:`enable_compilation_cache` switches on when the engines are imported.
"""

from __future__ import annotations

import contextlib
import hashlib
import os
import pickle
import threading
import time
from collections import OrderedDict
from collections.abc import Callable, Hashable, Iterator
from concurrent.futures import Future, ThreadPoolExecutor
from pathlib import Path
from typing import Any

import jax
import numpy as np

from bayesuq.io import atomic_write

_CACHE_ENV = "BAYESUQ_CACHE_DIR"
_EXPORT_SUFFIX = ".jaxexport"
_EXECUTABLE_SUFFIX = ".xla"


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
    jax.config.update("jax_persistent_cache_min_compile_time_secs", 0.0)
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
        held = self.lookup(key)
        if held is not None:
            return held, 0.0
        start = time.perf_counter()
        value = build()
        self.compiles += 1
        self.put(key, value)
        return value, time.perf_counter() - start

    def lookup(self, key: Hashable) -> Any | None:
        """The programs stored under ``key``, or ``None`` (no build, no count)."""
        if key in self._items:
            self._items.move_to_end(key)
            return self._items[key]
        return None

    def put(self, key: Hashable, value: Any) -> None:
        """Store ``value`` under ``key`` too (programs loaded or built under another key)."""
        self._items[key] = value
        self._items.move_to_end(key)
        if len(self._items) > self._maxsize:
            self._items.popitem(last=False)

    def clear(self) -> None:
        """Forget every compiled program."""
        self._items.clear()


# XLA:CPU splits a large program's LLVM module for parallel code generation, and an
# executable serialised from a split module can miss kernels when a new process loads it
# ("Function ... fusion not found" at run time). Programs meant for storage are compiled
# unsplit.
_STORABLE_CPU_OPTIONS = {"xla_cpu_parallel_codegen_split_count": 1}


def compile_ahead(fn: Callable, *example_args: Any, storable: bool = False) -> jax.stages.Compiled:
    """``jax.jit(fn)`` lowered and compiled for the given example (or abstract) arguments.

    ``storable=True`` compiles so that the executable can be serialised and loaded by
    another process (on CPU: one LLVM module, see ``_STORABLE_CPU_OPTIONS``).
    """
    return _compile_lowered(jax.jit(fn).lower(*example_args), storable=storable)


def _compile_lowered(lowered: jax.stages.Lowered, *, storable: bool) -> jax.stages.Compiled:
    if not storable:
        return lowered.compile()
    options = _STORABLE_CPU_OPTIONS if jax.default_backend() == "cpu" else None
    _strip_locations(lowered)
    # Compiled afresh, never taken from JAX's persistent cache: an XLA:CPU executable read
    # from that cache and serialised again can miss kernels when another process loads it
    # ("Function ... fusion not found"). The stored executable replaces that cache entry.
    with _persistent_cache_bypassed():
        return lowered.compile(compiler_options=options)


def _strip_locations(lowered: jax.stages.Lowered) -> None:
    """Drop the source locations of a lowered program before it is compiled for storage.

    Every HLO instruction carries its JAX name stack and Python source line as metadata: a
    fifth of a stored NUTS executable, which a later process parses again when it loads
    the program (eight schools' chunk program: 1.10 MB to 0.82 MB, load 0.094 s to 0.081
    s). The computation is unchanged; only error messages and profiles of the stored
    program lose the line numbers. The pass rewrites the module that ``lowered`` compiles
    (JAX hands out that module itself, not a copy); where it cannot, the program keeps its
    locations, and ``tests/infer/test_compilation_cache.py`` fails.
    """
    try:
        from jax._src.lib.mlir import passmanager

        module = lowered.compiler_ir("stablehlo")
        with module.context:
            passmanager.PassManager.parse("builtin.module(strip-debuginfo)").run(module.operation)
    except Exception:  # another JAX or MLIR binding: compile with the locations
        return


_BYPASS_LOCK = threading.Lock()
_BYPASS: dict[str, Any] = {"depth": 0, "saved": None}


@contextlib.contextmanager
def _persistent_cache_bypassed() -> Iterator[None]:
    """Compile without reading or writing JAX's persistent compilation cache.

    JAX decides once per process whether that cache is in use
    (``jax._src.compilation_cache.is_cache_used``), so ``jax_enable_compilation_cache``
    cannot switch it off for one compilation; this overrides that decision for the block.
    Blocks may overlap (a program compiles in the background while another compiles): the
    decision is restored when the last one ends. ``tests/infer/test_warm_start.py`` fails if
    a JAX release changes these internals.
    """
    from jax._src import compilation_cache as persistent

    lock = getattr(persistent, "_cache_initialized_mutex", None)
    if lock is None or not hasattr(persistent, "_cache_used"):
        yield
        return
    with _BYPASS_LOCK, lock:
        if _BYPASS["depth"] == 0:
            _BYPASS["saved"] = persistent._cache_checked, persistent._cache_used
            persistent._cache_checked, persistent._cache_used = True, False
        _BYPASS["depth"] += 1
    try:
        yield
    finally:
        with _BYPASS_LOCK, lock:
            _BYPASS["depth"] -= 1
            if _BYPASS["depth"] == 0:
                persistent._cache_checked, persistent._cache_used = _BYPASS["saved"]


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


def program_dir() -> Path | None:
    """Where bayesuq stores programs: ``bayesuq-programs/`` in JAX's cache, if one is on."""
    directory = jax.config.jax_compilation_cache_dir
    return Path(directory) / "bayesuq-programs" if directory else None


def write_cache_entry(path: Path, payload: bytes) -> None:
    """Write a cache entry atomically; a cache that cannot be written is skipped."""
    try:
        atomic_write(path, lambda partial: partial.write_bytes(payload))
    except OSError:
        pass


def output_shapes(compiled: jax.stages.Compiled) -> Any:
    """The abstract outputs of a compiled program, a pytree of ``jax.ShapeDtypeStruct``."""
    return _abstract(compiled.out_info)


def _abstract(out_info: Any) -> Any:
    return jax.tree.map(lambda out: jax.ShapeDtypeStruct(out.shape, out.dtype), out_info)


def _uses_lapack(compiled: jax.stages.Compiled) -> bool:
    """Whether a compiled CPU program calls jaxlib's LAPACK kernels (Cholesky, solves, ...)."""
    try:
        return "lapack_" in compiled.as_text()
    except Exception:  # no text for this executable: assume it does (loading costs ~0.3 s)
        return True


_LAPACK_LOCK = threading.Lock()


def _initialize_lapack() -> None:
    """Resolve jaxlib's LAPACK function pointers, as JAX does when it lowers a linalg op.

    JAX fills them lazily while lowering; a stored executable is loaded without lowering, and
    calling a LAPACK kernel before they are filled crashes the process (segmentation fault).
    Programs may load in two threads at once (:func:`load_cached_pair`): one fills them.
    """
    from jax._src.lib import lapack

    with _LAPACK_LOCK:
        lapack._lapack.initialize()


def _load_executable(path: Path) -> jax.stages.Compiled | None:
    from jax.experimental.serialize_executable import deserialize_and_load

    try:
        (serialized, in_tree, out_tree), device_ids, uses_lapack = pickle.loads(path.read_bytes())
        by_id = {device.id: device for device in jax.devices()}
        devices = [by_id[i] for i in device_ids]  # KeyError: fewer devices now, rebuild
        if uses_lapack:
            _initialize_lapack()
        return deserialize_and_load(serialized, in_tree, out_tree, execution_devices=devices)
    except Exception:  # written by another jaxlib or version, damaged, a type moved: rebuild
        return None


def _execution_device_ids(compiled: jax.stages.Compiled) -> list[int]:
    """Ids of the devices a compiled program runs on, in its device assignment order.

    Recorded with the executable: loading it without them would assign it to every local
    device (two shards expected per argument with two host devices), not the one it ran on.
    """
    shardings = jax.tree.leaves(
        compiled.input_shardings, is_leaf=lambda x: isinstance(x, jax.sharding.Sharding)
    )
    devices = set().union(*(s.device_set for s in shardings)) if shardings else {jax.devices()[0]}
    # Multi-device (shard_map) programs are not stored (their layouts are not serialisable),
    # so the order of several devices never matters here.
    return sorted(device.id for device in devices)


def _store_executable(compiled: jax.stages.Compiled, path: Path) -> bool:
    """Store the executable and its argument/output trees; False if it cannot be serialised."""
    from jax.experimental.serialize_executable import serialize

    try:
        payload = pickle.dumps(
            (serialize(compiled), _execution_device_ids(compiled), _uses_lapack(compiled))
        )
    except Exception:  # hoisted constants, or an executable that cannot be serialised
        return False
    write_cache_entry(path, payload)
    return True


def _load_exported(path: Path) -> jax.stages.Compiled | None:
    try:
        exported = jax.export.deserialize(bytearray(path.read_bytes()))
    except Exception:  # written by another JAX version, or damaged: trace again
        return None
    avals = [jax.ShapeDtypeStruct(a.shape, a.dtype) for a in exported.in_avals]
    args, kwargs = jax.tree.unflatten(exported.in_tree, avals)
    return jax.jit(exported.call).lower(*args, **kwargs).compile()


def load_cached(key: str | None) -> tuple[jax.stages.Compiled, Any] | None:
    """The program stored under ``key`` by :func:`compile_cached`, or ``None``.

    A stored executable is loaded as it is: no tracing, lowering or XLA compilation. A
    program stored in traced form is lowered and compiled (the XLA step usually hits JAX's
    persistent cache).

    Returns
    -------
    (compiled program, abstract outputs) or None
    """
    directory = program_dir()
    if key is None or directory is None:
        return None
    compiled = None
    executable, exported = (directory / f"{key}{s}" for s in (_EXECUTABLE_SUFFIX, _EXPORT_SUFFIX))
    if executable.is_file():
        compiled = _load_executable(executable)
    if compiled is None and exported.is_file():
        compiled = _load_exported(exported)
    return None if compiled is None else (compiled, output_shapes(compiled))


def load_cached_pair(
    first: str | None, second: str | None
) -> tuple[tuple[jax.stages.Compiled, Any] | None, tuple[jax.stages.Compiled, Any] | None]:
    """:func:`load_cached` of two keys at once: ``second`` loads in a background thread.

    XLA rebuilds a loaded executable's HLO module and buffer assignment with the GIL
    released, so two programs load in about the time of the larger one on two cores.
    """
    if first is None or second is None or program_dir() is None:
        return load_cached(first), load_cached(second)
    pending = _compiler().submit(load_cached, second)
    return load_cached(first), pending.result()


def compile_cached(
    fn: Callable, example_args: tuple, *, key: str | None
) -> tuple[jax.stages.Compiled, Any]:
    """Compile ``fn`` for ``example_args`` (arrays or ``jax.ShapeDtypeStruct``) and store it.

    With a ``key`` (which must identify everything ``fn`` computes) and the cache enabled,
    a program already stored under ``key`` is loaded (:func:`load_cached`); otherwise ``fn``
    is traced, lowered and compiled once and its executable is stored for later processes
    (in traced form, ``jax.export``, when the executable cannot be serialised).

    Returns
    -------
    (compiled program, abstract outputs as a pytree of ``jax.ShapeDtypeStruct``)
    """
    return _compile_cached(fn, example_args, key=key, background=False).result()


class PendingProgram:
    """A program that is loaded, or being compiled in the background.

    ``out_shapes`` (the abstract outputs) is known at once, from the lowered program, so a
    caller can trace the next program while XLA compiles this one; :meth:`result` waits for
    ``(compiled program, out_shapes)`` and re-raises what the compilation raised.
    """

    def __init__(self, out_shapes: Any, outcome: Future | jax.stages.Compiled) -> None:
        self.out_shapes = out_shapes
        self._outcome = outcome

    def result(self) -> tuple[jax.stages.Compiled, Any]:
        """The compiled program and its abstract outputs (waits for the compilation)."""
        outcome = self._outcome
        compiled = outcome.result() if isinstance(outcome, Future) else outcome
        return compiled, self.out_shapes


_COMPILER: ThreadPoolExecutor | None = None


def _compiler() -> ThreadPoolExecutor:
    global _COMPILER
    if _COMPILER is None:
        _COMPILER = ThreadPoolExecutor(max_workers=1, thread_name_prefix="bayesuq-compile")
    return _COMPILER


def compile_cached_in_background(
    fn: Callable, example_args: tuple, *, key: str | None
) -> PendingProgram:
    """:func:`compile_cached` that returns once ``fn`` is lowered; XLA compiles it in a thread.

    Loading a stored program, tracing and lowering happen in the calling thread; the XLA
    compilation (which releases the GIL) and the storing run in one background thread, so
    the caller can trace its next program meanwhile. A first fit compiles its init program
    this way while it traces the chunk program.
    """
    return _compile_cached(fn, example_args, key=key, background=True)


def _compile_cached(
    fn: Callable, example_args: tuple, *, key: str | None, background: bool
) -> PendingProgram:
    loaded = load_cached(key)
    if loaded is not None:
        return PendingProgram(loaded[1], loaded[0])
    directory = program_dir()
    storing = key is not None and directory is not None
    lowered = jax.jit(fn).lower(*example_args)

    def compile_and_store() -> jax.stages.Compiled:
        compiled = _compile_lowered(lowered, storable=storing)
        if storing and not _store_executable(compiled, directory / f"{key}{_EXECUTABLE_SUFFIX}"):
            exported = jax.export.export(jax.jit(fn))(*example_args)
            write_cache_entry(directory / f"{key}{_EXPORT_SUFFIX}", exported.serialize())
        return compiled

    outcome = _compiler().submit(compile_and_store) if background else compile_and_store()
    return PendingProgram(_abstract(lowered.out_info), outcome)


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
