"""Warm start: sample with the programs an earlier fit stored while the model's trace checks them.

A process that fits a model an earlier process fitted needs the model's abstract trace
(:func:`bayesuq.infer.sites.analyse_model`) to know the key of the stored programs: the
fingerprint of its log density. In a new process that trace costs 0.1-0.7 s of JAX's
Python (every ``jnp`` function traced for the first time), more than loading the programs.

So the first fit writes a *hint* next to its programs, under a key computed without any
trace (:func:`hint_key`: the model's code and closure, the data shapes, the settings and
versions), naming the programs' key and the latent sites' shapes. A later fit that finds
the hint loads those programs and starts the chains at once, in a background thread
(:func:`speculate`), while the calling thread traces the model as before. The draws are
used only if the trace yields the same program key (:meth:`Speculation.take`); otherwise
(the model's code, a global it reads or a library changed) the speculative run is
cancelled and the fit proceeds as if there were no hint. A hint can therefore be stale,
never wrong: the result is always that of the programs the model's own trace selects.
"""

from __future__ import annotations

import functools
import json
import threading
import time
from collections.abc import Callable
from concurrent.futures import Future, ThreadPoolExecutor
from dataclasses import dataclass, replace
from types import CodeType
from typing import Any

import jax
import numpy as np

from bayesuq.infer import init as initialisation
from bayesuq.infer.compilation import fingerprint, program_dir, write_cache_entry
from bayesuq.infer.data import PreparedData
from bayesuq.infer.programs import (
    Layout,
    Programs,
    RunOutput,
    SamplerConfig,
    environment_parts,
    load_programs,
    run,
)
from bayesuq.precision import in_callers_precision

_HINT_SUFFIX = "-hint.json"
_SMALL_ARRAY = 100_000  # closure arrays up to this size are hashed by value
_RUNNER: ThreadPoolExecutor | None = None


class SpeculationCancelled(Exception):
    """Raised inside a speculative run once the model's trace selected other programs."""


def _runner() -> ThreadPoolExecutor:
    global _RUNNER
    if _RUNNER is None:
        _RUNNER = ThreadPoolExecutor(max_workers=1, thread_name_prefix="bayesuq-warm")
    return _RUNNER


def _value_part(value: Any) -> Any:
    """A hashable stand-in for a closure or default value: the value when small, else its type."""
    if value is None or isinstance(value, bool | int | float | complex | str | bytes):
        return value
    if isinstance(value, tuple | list):
        return type(value).__name__, tuple(_value_part(v) for v in value)
    if isinstance(value, np.ndarray | np.generic | jax.Array) and np.size(value) <= _SMALL_ARRAY:
        array = np.asarray(value)
        return "array", array.dtype.str, array.shape, fingerprint(array)
    if callable(value) and hasattr(value, "__code__"):
        return "function", value.__module__, value.__qualname__, _code_part(value.__code__)
    return "object", type(value).__module__, type(value).__qualname__


def _code_part(code: CodeType) -> tuple:
    """The bytecode of ``code`` and of the functions defined in it, with names and constants."""
    consts = tuple(_code_part(c) if isinstance(c, CodeType) else repr(c) for c in code.co_consts)
    return code.co_qualname, code.co_code, code.co_names, code.co_varnames, consts


def model_digest(model: Callable) -> str | None:
    """A digest of ``model`` computed without running it, or ``None`` if it has no code.

    Covers its bytecode (and that of functions defined inside it), its default arguments,
    the values of its closure's small variables, and the bound arguments of a
    ``functools.partial``. Not covered: globals it reads and the functions it calls, which
    is why a hint is only ever a guess that the model's trace confirms.
    """
    parts: list[Any] = []
    fn = model
    while isinstance(fn, functools.partial):
        parts.append(("partial", _value_part(fn.args), _value_part(sorted(fn.keywords.items()))))
        fn = fn.func
    code = getattr(fn, "__code__", None)
    if code is None:
        return None
    closure = tuple(_value_part(cell.cell_contents) for cell in (fn.__closure__ or ()))
    defaults = _value_part(fn.__defaults__ or ())
    kwdefaults = _value_part(sorted((fn.__kwdefaults__ or {}).items()))
    return fingerprint(
        fn.__module__, fn.__qualname__, _code_part(code), closure, defaults, kwdefaults, parts
    )


def hint_key(
    model: Callable, data: PreparedData, config: SamplerConfig, layout: Layout
) -> str | None:
    """Where the hint for this model, data shapes, settings and versions is stored."""
    if not layout.serialisable or program_dir() is None:
        return None
    digest = model_digest(model)
    if digest is None:
        return None
    return fingerprint("hint", *environment_parts(data, config, layout), digest)


@dataclass(frozen=True)
class Hint:
    """What an earlier fit left: the key of its programs and its latent sites' shapes."""

    program_key: str
    z_template: dict[str, jax.ShapeDtypeStruct]


def read_hint(key: str | None) -> Hint | None:
    """The hint stored under ``key``, or ``None`` (absent, unreadable or damaged)."""
    directory = program_dir()
    if key is None or directory is None:
        return None
    try:
        record = json.loads((directory / f"{key}{_HINT_SUFFIX}").read_text())
        z_template = {
            name: jax.ShapeDtypeStruct(tuple(shape), np.dtype(dtype))
            for name, (shape, dtype) in record["z_template"].items()
        }
        return Hint(str(record["program_key"]), z_template)
    except (OSError, ValueError, KeyError, TypeError):
        return None


def write_hint(key: str | None, program_key: str | None, z_template: dict) -> None:
    """Store the hint that points a later fit at ``program_key`` (skipped if unchanged)."""
    directory = program_dir()
    if key is None or program_key is None or directory is None:
        return
    if not all(isinstance(s, jax.ShapeDtypeStruct) for s in z_template.values()):
        return
    hint = Hint(program_key, z_template)
    if read_hint(key) == hint:
        return
    record = {
        "program_key": program_key,
        "z_template": {n: [list(s.shape), np.dtype(s.dtype).str] for n, s in z_template.items()},
    }
    write_cache_entry(directory / f"{key}{_HINT_SUFFIX}", json.dumps(record).encode())


def import_for_results() -> None:
    """Import what the first ``InferenceData`` of a process imports, if installed.

    xarray looks for dask on its first variable and imports ``dask.array`` when dask is
    installed (it is, for ``bayesuq.batch``): about 0.5 s, which a warm start spends while
    its chains run instead of after them.
    """
    try:
        from xarray.namedarray.pycompat import array_type

        array_type("dask")
    except Exception:  # another xarray: the result imports what it needs itself
        pass


class _Cancellable:
    """A program that refuses to start once ``cancelled`` is set; sets ``called`` when called."""

    def __init__(
        self, program: Callable, cancelled: threading.Event, called: threading.Event | None = None
    ) -> None:
        self.program = program
        self.cancelled = cancelled
        self.called = called

    def __call__(self, *args: Any) -> Any:
        if self.cancelled.is_set():
            raise SpeculationCancelled
        if self.called is not None:
            self.called.set()
        return self.program(*args)


@dataclass
class Speculation:
    """A run started from a hint's programs; its draws count once the trace confirms them."""

    program_key: str
    programs: Programs
    outcome: Future
    cancelled: threading.Event
    load_seconds: float
    run_started: float

    def take(self, program_key: str | None) -> RunOutput | None:
        """The run's output if the model's trace selected the same programs; else ``None``.

        On a mismatch the run is cancelled (it stops before its next chunk) and awaited, so
        nothing of it outlives this call. On a match, what building the result will import
        is imported while the chains finish (:func:`import_for_results`).
        """
        if program_key != self.program_key:
            self.cancel()
            return None
        if not self.outcome.done():
            import_for_results()
        return self.outcome.result()

    def cancel(self) -> None:
        """Stop the run before its next chunk and wait for it; its outcome is discarded."""
        self.cancelled.set()
        try:
            self.outcome.result()
        except Exception:  # a discarded run's failure is not the fit's
            pass


def speculate(
    key: str | None,
    data: PreparedData,
    config: SamplerConfig,
    layout: Layout,
    run_key: jax.Array,
    progress: bool,
) -> Speculation | None:
    """Start the chains from the programs the hint under ``key`` names; or ``None``.

    The run (:func:`bayesuq.infer.programs.run`, from the start a fit without user starting
    values takes, in the caller's precision) goes on in a background thread. ``None`` when
    there is no hint, or the programs it names are not stored any more.
    """
    hint = read_hint(key)
    if hint is None:
        return None
    loading = time.perf_counter()
    programs = load_programs(hint.program_key, config, layout)
    if programs is None:
        return None
    load_seconds = time.perf_counter() - loading
    cancelled, transitions = threading.Event(), threading.Event()
    cancellable = replace(
        programs,
        init=_Cancellable(programs.init, cancelled),
        chunk=_Cancellable(programs.chunk, cancelled, called=transitions),
    )
    start = initialisation.no_fixed_values(hint.z_template, config.chains)

    def sample() -> RunOutput:
        try:
            return run(
                cancellable, run_key, start, data.arrays, config, progress=progress, desc="sampling"
            )
        finally:
            transitions.set()  # no chunk (no finite start) or a failure: stop waiting

    run_started = time.perf_counter()
    outcome = _runner().submit(in_callers_precision(sample))
    # The init program's calls need the GIL between their XLA parts, which the model's
    # trace would hold: the caller traces once the first chunk of transitions is running.
    try:
        transitions.wait()
    except BaseException:  # Ctrl-C: leave nothing running
        cancelled.set()
        raise
    return Speculation(
        hint.program_key,
        programs,
        outcome,
        cancelled,
        load_seconds,
        run_started,
    )
