"""Compiled MCMC programs for any kernel: init, and a chunk of transitions.

For a model, its data shapes and a :class:`SamplerConfig`, two programs are compiled ahead
of time, with the data as *arguments* (refitting data of the same shape reuses them):

* ``init(key, fixed, mask, arrays) -> (state, valid)``: the key split into one per chain
  (dataset layouts take one key per dataset and chain instead), then per chain the best
  of a few uniform(-2, 2) starting points (:mod:`bayesuq.infer.init`) and the kernel's
  initial state;
* ``chunk(state, arrays) -> (state, (draws, stats))``: ``lax.scan`` of ``chunk``
  transitions, collecting the constrained draws (latent and deterministic sites) and the
  kernel's statistics.

A *layout* maps the one-chain functions over chains (``vmap``, ``shard_map`` over devices,
``lax.map``, or one unbatched call per chain in threads; :class:`ChainLayout`) or over datasets and
chains (``bayesuq.infer.many``).
Programs are cached by content: in process by the model's fingerprint (one abstract trace,
:func:`bayesuq.infer.sites.analyse_model`), the configuration and the data signature; on
disk as serialised XLA executables under the same key plus the driver's source and library
versions (:func:`bayesuq.infer.compilation.compile_cached`). A later process that fits the
same model loads both executables (:func:`load_programs`, usually from the hint an earlier
fit left, before the abstract trace: :mod:`bayesuq.infer.warm`); it neither traces the
sampler, lowers nor compiles anything, and its first eager JAX operation is the init
program itself (the per-chain keys are split inside it). :func:`run` drives the programs
in chunks with a progress bar.
"""

from __future__ import annotations

import functools
import sys
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Any, NamedTuple, Protocol

import jax
import numpy as np
import numpyro
from numpyro.infer.util import ParamInfo

from bayesuq.infer import adaptation, batching, kernels
from bayesuq.infer import init as initialisation
from bayesuq.infer.batching import batch_over
from bayesuq.infer.compilation import (
    PendingProgram,
    ProgramCache,
    compile_cached,
    compile_cached_in_background,
    fingerprint,
    load_cached_pair,
    string_keys,
    tuple_keys,
)
from bayesuq.infer.data import PreparedData
from bayesuq.infer.density import postprocess_fn_gen, potential_fn_gen
from bayesuq.infer.kernels import Kernel
from bayesuq.infer.keys import seed_keys
from bayesuq.infer.loop import run_in_chunks
from bayesuq.infer.sites import ModelAnalysis
from bayesuq.infer.threads import (
    CHAIN_INDEX,
    ThreadedChunk,
    ThreadedInit,
    one_chain_init,
    one_chain_program,
)
from bayesuq.precision import x64_enabled

PROGRAMS = ProgramCache()
"""In-process cache of compiled programs, keyed by content (see the module docstring)."""

# Code that shapes the compiled programs: part of their on-disk cache key.
_DRIVER_MODULES = [
    Path(__file__),
    *(Path(m.__file__) for m in (initialisation, batching, kernels, adaptation)),
]


class SamplerConfig(NamedTuple):
    """Everything besides the model and data shapes that shapes the compiled programs."""

    kernel: Kernel
    chains: int
    warmup: int
    draws: int
    chain_method: str
    chunk: int
    datasets: int = 0  # > 0: the programs also map over this many datasets
    batched: tuple[str, ...] = ()  # data entries with a leading dataset axis


def batch_shape(config: SamplerConfig) -> tuple[int, ...]:
    """The leading batch axes of the programs: ``(chains,)`` or ``(datasets, chains)``."""
    return (config.datasets, config.chains) if config.datasets else (config.chains,)


@dataclass(frozen=True)
class Programs:
    """Compiled init and chunk programs, and the abstract sampler state between them."""

    init: Any
    chunk: Any
    state_shape: Any


class Layout(Protocol):
    """How the one-chain functions are batched into the compiled programs."""

    def batch(self, init_one: Callable, chunk_one: Callable) -> tuple[Callable, Callable]:
        """The batched ``(init, chunk)`` functions."""

    def init_arguments(self, z_template: Any, data: PreparedData) -> tuple:
        """Example (or abstract) arguments of the batched init function."""

    @property
    def serialisable(self) -> bool:
        """Whether the traced programs may be stored with ``jax.export``."""

    @property
    def splits_key(self) -> bool:
        """Whether ``init`` takes one key and splits it inside (else one key per member)."""


@dataclass(frozen=True)
class ChainLayout:
    """Chains batched by ``chain_method`` (``vectorized``, ``parallel`` or ``sequential``)."""

    chains: int
    chain_method: str

    def batch(self, init_one: Callable, chunk_one: Callable) -> tuple[Callable, Callable]:
        # "threads": both programs run one chain, unbatched, and are called once per chain
        # (bayesuq.infer.threads); the init program splits the run's key inside.
        if self.threaded:
            return one_chain_init(init_one, self.chains), one_chain_program(chunk_one)
        return (
            batch_over(init_one, self.chain_method, n_batched=3),
            batch_over(chunk_one, self.chain_method, n_batched=1),
        )

    @property
    def threaded(self) -> bool:
        """Whether each chain runs its init and chunks as its own calls, in threads."""
        return self.chain_method == "threads"

    def init_arguments(self, z_template: Any, data: PreparedData) -> tuple:
        keys = seed_keys(0, self.chains)
        fixed, mask = initialisation.no_fixed_values(z_template, self.chains)
        return keys, fixed, mask, data.arrays

    @property
    def serialisable(self) -> bool:
        # A serialised multi-device (shard_map) program must be called in its device
        # context: those get the in-process and XLA caches only.
        return self.chain_method != "parallel"

    @property
    def splits_key(self) -> bool:
        return True


def one_chain_functions(
    model: Callable, data: PreparedData, config: SamplerConfig, z_template: Any
) -> tuple[Callable, Callable]:
    """``init_one(key, fixed, mask, arrays)`` and ``chunk_one(state, arrays)`` for one chain.

    The state crosses the program boundary with string dict keys
    (:func:`bayesuq.infer.compilation.string_keys`).
    """
    kernel = config.kernel
    potentials = potential_fn_gen(model, data)
    constrain = postprocess_fn_gen(model, data)

    def init_one(key, fixed, mask, arrays):
        key_start, key_kernel = jax.random.split(key)
        start, valid = initialisation.start_point(key_start, potentials(**arrays), fixed, mask)
        init, _ = kernel.functions(potentials)
        return string_keys(init(start, key_kernel, config.warmup, arrays)), valid

    def chunk_one(state, arrays):
        init, sample = kernel.functions(potentials)
        # NumPyro's functional kernels configure `sample` inside `init`; with the start's
        # energy and gradient given, this call evaluates no model and is dead code.
        zeros = jax.tree.map(lambda s: jax.numpy.zeros(s.shape, s.dtype), z_template)
        init(ParamInfo(zeros, 0.0, zeros), jax.random.PRNGKey(0), config.warmup, arrays)
        to_values = constrain(**arrays)

        def step(state, _):
            state = sample(state, arrays)
            return state, (to_values(state.z), kernel.statistics(state))

        state, outputs = jax.lax.scan(step, tuple_keys(state), None, length=config.chunk)
        return string_keys(state), outputs

    return init_one, chunk_one


@functools.cache
def _driver_sources(layout_module: str) -> tuple[bytes, ...]:
    """The source of the driver modules and of a layout's module, read once per process.

    The code that runs is what was imported, so the bytes read at first use are the ones
    that shape this process's programs.
    """
    layout_path = Path(sys.modules[layout_module].__file__)
    return tuple(path.read_bytes() for path in (*_DRIVER_MODULES, layout_path))


def environment_parts(data: PreparedData, config: SamplerConfig, layout: Layout) -> tuple:
    """What shapes the programs besides the model: code, versions, settings, data shapes."""
    return (
        *_driver_sources(type(layout).__module__),
        layout,
        jax.__version__,
        numpyro.__version__,
        config,
        data.signature(),
        x64_enabled(),
        jax.default_backend(),
        [d.device_kind for d in jax.devices()],
    )


def _disk_key(
    analysis: ModelAnalysis, data: PreparedData, config: SamplerConfig, layout: Layout
) -> str:
    """On-disk key: the model's fingerprint, configuration, data shapes, code and versions."""
    return fingerprint(*environment_parts(data, config, layout), analysis.fingerprint)


def program_key(
    analysis: ModelAnalysis, data: PreparedData, config: SamplerConfig, layout: Layout
) -> str | None:
    """The key the programs are stored under on disk, or ``None`` for a layout never stored."""
    return _disk_key(analysis, data, config, layout) if layout.serialisable else None


def split_keys_inside(init_fn: Callable, shape: tuple[int, ...]) -> Callable:
    """``init(key, ...)`` that splits one key into ``shape`` keys and calls ``init_fn(keys, ...)``.

    ``jax.random.split(key, shape)`` inside the program gives the keys the caller would
    have split, without an eager JAX operation (a small compilation) before it.
    """

    def init(key, fixed, mask, arrays):
        return init_fn(jax.random.split(key, shape), fixed, mask, arrays)

    return init


def _programs(init_loaded: tuple, chunk_loaded: tuple, config: SamplerConfig, layout: Layout):
    """:class:`Programs` from compiled init and chunk programs and their abstract outputs."""
    (init_program, (state_shape, _)), (chunk_program, _) = init_loaded, chunk_loaded
    if _is_threaded(layout):  # one-chain programs, called once per chain
        init_program = ThreadedInit(init_program, config.chains)
        chunk_program = ThreadedChunk(chunk_program, config.chains)
        state_shape = jax.tree.map(
            lambda s: jax.ShapeDtypeStruct((config.chains, *s.shape[1:]), s.dtype), state_shape
        )
    return Programs(init=init_program, chunk=chunk_program, state_shape=state_shape)


def _is_threaded(layout: Layout) -> bool:
    return isinstance(layout, ChainLayout) and layout.threaded


def load_programs(key: str, config: SamplerConfig, layout: Layout) -> Programs | None:
    """The programs stored under ``key`` (:func:`program_key`), from this process or disk.

    Builds nothing: ``None`` when either program is missing.
    """
    held = PROGRAMS.lookup(("stored", key))
    if held is not None:
        return held
    init_loaded, chunk_loaded = load_cached_pair(f"{key}-init", f"{key}-chunk")
    if init_loaded is None or chunk_loaded is None:
        return None
    programs = _programs(init_loaded, chunk_loaded, config, layout)
    PROGRAMS.put(("stored", key), programs)
    return programs


def build_programs(
    model: Callable,
    data: PreparedData,
    analysis: ModelAnalysis,
    config: SamplerConfig,
    layout: Layout,
) -> Programs:
    """Load the init and chunk programs from disk, or trace, lower, compile and store them."""
    threaded = _is_threaded(layout)
    key = program_key(analysis, data, config, layout)
    init_key, chunk_key = (key and f"{key}-{part}" for part in ("init", "chunk"))
    init_loaded, chunk_loaded = load_cached_pair(init_key, chunk_key)
    if init_loaded is None or chunk_loaded is None:  # build what is missing
        init_one, chunk_one = one_chain_functions(model, data, config, analysis.z_template)
        init_fn, chunk_fn = layout.batch(init_one, chunk_one)
        keys, *init_args = layout.init_arguments(analysis.z_template, data)
        init_example = (keys, *init_args)
        if layout.splits_key:
            shape = batch_shape(config)
            key_shape = jax.ShapeDtypeStruct(keys.shape[len(shape) :], keys.dtype)
            if threaded:  # splits inside; the chain index picks the chain's key
                init_example = (key_shape, CHAIN_INDEX, *init_args)
            else:
                init_fn = split_keys_inside(init_fn, shape)
                init_example = (key_shape, *init_args)
        # The init program compiles in the background while the chunk program is traced.
        init_pending = (
            compile_cached_in_background(init_fn, init_example, key=init_key)
            if init_loaded is None
            else PendingProgram(init_loaded[1], init_loaded[0])
        )
        if chunk_loaded is None:
            state_shape = init_pending.out_shapes[0]
            chunk_loaded = compile_cached(chunk_fn, (state_shape, init_args[-1]), key=chunk_key)
        init_loaded = init_pending.result()
    programs = _programs(init_loaded, chunk_loaded, config, layout)
    if key is not None:  # a later fit of this model in this process may start from it
        PROGRAMS.put(("stored", key), programs)
    return programs


def get_programs(
    model: Callable,
    data: PreparedData,
    analysis: ModelAnalysis,
    config: SamplerConfig,
    layout: Layout,
) -> tuple[Programs, float]:
    """Compiled programs from the in-process cache, or built; and the seconds spent building."""
    return PROGRAMS.get_or_build(
        in_process_key(analysis, data, config),
        lambda: build_programs(model, data, analysis, config, layout),
    )


def in_process_key(analysis: ModelAnalysis, data: PreparedData, config: SamplerConfig) -> tuple:
    """The key of a model's programs in :data:`PROGRAMS`."""
    return (analysis.fingerprint, config, data.signature(), x64_enabled())


class RunOutput(NamedTuple):
    """What one pass of the programs returns (host arrays, batch axes first)."""

    draws: dict[str, np.ndarray]
    stats: dict[str, np.ndarray]
    state: Any  # final sampler state (device arrays, string keys); None if init failed
    valid: np.ndarray  # per chain: a finite starting point was found


def _progress_postfix(outputs: Any) -> dict[str, str]:
    stats = outputs[1]
    shown = {"step": f"{float(np.median(np.asarray(stats['step_size'])[..., -1])):.3g}"}
    if "tree_depth" in stats:
        shown["depth"] = str(int(np.max(stats["tree_depth"])))
    return shown


def run(
    programs: Programs,
    key: jax.Array,
    start: tuple[dict, dict],
    arrays: Any,
    config: SamplerConfig,
    *,
    progress: bool,
    desc: str,
) -> RunOutput:
    """One pass of init, warm-up and sampling for all chains (of all datasets).

    ``arrays`` is the programs' data argument (for dataset layouts, ``(batched, shared)``);
    outputs lead with the layout's batch axes, ``(chain, draw, ...)`` or
    ``(dataset, chain, draw, ...)``.
    """
    state, valid = programs.init(key, *start, arrays)
    valid = np.asarray(valid)
    if not valid.all():
        return RunOutput({}, {}, None, valid)
    return continue_run(
        programs,
        state,
        arrays,
        config,
        steps=config.warmup + config.draws,
        keep=config.draws,
        progress=progress,
        desc=desc,
        valid=valid,
    )


def continue_run(
    programs: Programs,
    state: Any,
    arrays: Any,
    config: SamplerConfig,
    *,
    steps: int,
    keep: int,
    progress: bool,
    desc: str,
    valid: np.ndarray | None = None,
) -> RunOutput:
    """Run ``steps`` transitions from ``state`` and keep the outputs of the last ``keep``."""
    batch_ndim = 2 if config.datasets else 1
    state, outputs = run_in_chunks(
        programs.chunk,
        state,
        arrays,
        total=steps,
        chunk=config.chunk,
        progress=progress,
        desc=desc,
        postfix=_progress_postfix,
    )
    host = jax.device_get(outputs)
    kept = (slice(None),) * batch_ndim + (np.s_[steps - keep : steps],)
    draws, stats = jax.tree.map(lambda *xs: np.concatenate(xs, axis=batch_ndim)[kept], *host)
    if valid is None:
        valid = np.ones(np.shape(stats["lp"])[:batch_ndim], bool)
    return RunOutput(draws, stats, state, valid)
