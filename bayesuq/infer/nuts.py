"""The No-U-Turn Sampler over NumPyro, with compiled, cached, chunked and self-healing runs.

The sampler is NumPyro's NUTS (Hoffman & Gelman 2014, "The No-U-Turn Sampler", JMLR 15;
multinomial trajectory sampling and windowed step-size/mass-matrix adaptation as in
Betancourt 2017, "A Conceptual Introduction to Hamiltonian Monte Carlo", arXiv:1701.02434).
It targets ``p(theta | y) ∝ p(y | theta) p(theta)`` through the potential
``U(z) = -log p(y, T(z)) - log|det J_T(z)|`` on the unconstrained scale ``z``.

What this module adds around it:

* two ahead-of-time compiled programs per model and configuration (init, and a chunk of
  ``lax.scan`` steps), with the data as *arguments*, cached in-process and on disk;
* robust starting points (:mod:`bayesuq.infer.init`);
* detection of stuck chains and their recovery (re-initialised from a healthy chain's
  state and re-run), reported in ``attrs`` and by :func:`bayesuq.diagnose`;
* an ``InferenceData`` with named dims (:mod:`bayesuq.infer.convert`).
"""

from __future__ import annotations

import time
import warnings
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import Any, NamedTuple

import arviz as az
import jax
import jax.numpy as jnp
import numpy as np
import numpyro
from numpyro.infer import NUTS
from numpyro.infer.hmc import HMCState
from numpyro.infer.hmc_util import HMCAdaptState

from bayesuq.diagnostics.chains import find_stuck_chains
from bayesuq.infer import batching
from bayesuq.infer import init as initialisation
from bayesuq.infer.arguments import check_choice, check_int, check_open_unit
from bayesuq.infer.batching import METHODS, batch_over, resolve_method
from bayesuq.infer.compilation import (
    ProgramCache,
    compile_cached,
    fingerprint,
    jaxpr_fingerprint,
)
from bayesuq.infer.convert import build_inference_data, compute_log_likelihood
from bayesuq.infer.data import PreparedData, prepare_data
from bayesuq.infer.loop import chunk_length, run_in_chunks
from bayesuq.infer.sites import ModelSites, inspect_model
from bayesuq.precision import x64_enabled

RECOVERY_ATTEMPTS = 2
PROGRAMS = ProgramCache()
# The sampler state crosses the boundary of serialised programs (see compile_cached).
for _state_type, _name in (
    (HMCState, "numpyro.HMCState"),
    (HMCAdaptState, "numpyro.HMCAdaptState"),
):
    try:
        jax.export.register_namedtuple_serialization(_state_type, serialized_name=_name)
    except ValueError:  # already registered (module reloaded)
        pass
# Code that shapes the compiled programs: part of their on-disk cache key.
_DRIVER_SOURCE = fingerprint(
    Path(__file__).read_bytes(),
    *(Path(module.__file__).read_bytes() for module in (initialisation, batching)),
)


class NutsConfig(NamedTuple):
    """Everything that shapes the compiled NUTS programs."""

    chains: int
    warmup: int
    draws: int
    target_accept: float
    max_tree_depth: int
    dense_mass: bool
    chain_method: str
    chunk: int
    datasets: int = 0  # > 0: the programs also map over this many datasets
    batched: tuple[str, ...] = ()  # data entries with a leading dataset axis


@dataclass(frozen=True)
class NutsPrograms:
    """Compiled init and step-chunk programs for one model, data shape and configuration."""

    init: Any
    chunk: Any


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


def _string_keys(state: Any) -> Any:
    """The sampler state with tuple dict keys (mass-matrix blocks) encoded as strings.

    Serialised programs (``jax.export``) accept only string dict keys. An encoded key starts
    with the separator, so a block of one site, ``("mu",)``, is not mistaken for ``"mu"``.
    """

    def encode(key):
        return _KEY_SEPARATOR + _KEY_SEPARATOR.join(key) if isinstance(key, tuple) else key

    return _map_keys(state, encode)


def _tuple_keys(state: Any) -> Any:
    """Inverse of :func:`_string_keys`."""

    def decode(key):
        return tuple(key[1:].split(_KEY_SEPARATOR)) if key.startswith(_KEY_SEPARATOR) else key

    return _map_keys(state, decode)


def _statistics(state: Any, max_tree_depth: int) -> dict[str, jax.Array]:
    """Per-iteration sampler statistics (ArviZ names) from a NumPyro ``HMCState``.

    The tree depth is recovered from the number of leapfrog steps:
    ``depth = floor(log2(n_steps)) + 1`` (a full tree of depth d has 2^d - 1 steps).
    """
    n_steps = state.num_steps
    depth = jnp.floor(jnp.log2(jnp.maximum(n_steps, 1))).astype(jnp.int32) + 1
    return {
        "diverging": state.diverging,
        "n_steps": n_steps,
        "tree_depth": depth,
        "reached_max_treedepth": depth >= max_tree_depth,
        "energy": state.energy,
        "step_size": state.adapt_state.step_size,
        "lp": -state.potential_energy,
        "acceptance_rate": state.accept_prob,
    }


def _program_key(
    data: PreparedData,
    config: NutsConfig,
    z_template: Any,
    potential_fn_gen: Callable,
    postprocess_fn_gen: Callable,
) -> str:
    """On-disk key of the NUTS programs: everything they compute, fingerprinted.

    The model enters through the jaxprs (and constants) of its potential energy and of its
    constrain/deterministic map, so an edited model gets new programs.
    """

    def potential(z, arrays):
        return potential_fn_gen(**data.call_kwargs(arrays))(z)

    def constrain(z, arrays):
        return postprocess_fn_gen(**data.call_kwargs(arrays))(z)

    return fingerprint(
        _DRIVER_SOURCE,
        jax.__version__,
        numpyro.__version__,
        config,
        data.signature(),
        x64_enabled(),
        jax.default_backend(),
        [d.device_kind for d in jax.devices()],
        jaxpr_fingerprint(potential, z_template, data.arrays),
        jaxpr_fingerprint(constrain, z_template, data.arrays),
    )


def _build_programs(
    model: Callable,
    data: PreparedData,
    config: NutsConfig,
    z_template: Any,
    potential_fn_gen: Callable,
    postprocess_fn_gen: Callable,
) -> NutsPrograms:
    """Trace (or load traced), lower and compile the batched init and chunk programs."""
    kernel = NUTS(
        model,
        target_accept_prob=config.target_accept,
        max_tree_depth=config.max_tree_depth,
        dense_mass=config.dense_mass,
    )

    init_traced = []  # kernel.init sets up kernel.sample: it must be traced before chunk_one

    def init_one(key, fixed, mask, arrays):
        init_traced.append(True)
        kwargs = data.call_kwargs(arrays)
        key_start, key_kernel = jax.random.split(key)
        position, valid = initialisation.start_point(
            key_start, potential_fn_gen(**kwargs), fixed, mask
        )
        state = kernel.init(key_kernel, config.warmup, position, (), kwargs)
        return _string_keys(state), valid

    def chunk_one(state, arrays):
        if not init_traced:  # the init program came from disk
            jax.eval_shape(init_batched, *init_args)
        kwargs = data.call_kwargs(arrays)
        constrain = kernel.postprocess_fn((), kwargs)

        def step(state, _):
            state = kernel.sample(state, (), kwargs)
            return state, (constrain(state.z), _statistics(state, config.max_tree_depth))

        state, outputs = jax.lax.scan(step, _tuple_keys(state), None, length=config.chunk)
        return _string_keys(state), outputs

    init_batched = batch_over(init_one, config.chain_method, n_batched=3)
    chunk_batched = batch_over(chunk_one, config.chain_method, n_batched=1)
    keys = jax.random.split(jax.random.PRNGKey(0), config.chains)
    fixed, mask = initialisation.no_fixed_values(z_template, config.chains)
    init_args = (keys, fixed, mask, data.arrays)
    if config.datasets:
        init_program_fn, chunk_program_fn = _over_datasets(
            init_one, chunk_one, config.datasets, config.chains
        )
        program_init_args = (
            jax.random.split(jax.random.PRNGKey(0), (config.datasets, config.chains)),
            *_per_dataset((fixed, mask), config.datasets),
            _dataset_arrays_template(data, config),
        )
    else:
        init_program_fn, chunk_program_fn = init_batched, chunk_batched
        program_init_args = init_args
    # Serialised multi-device (shard_map) programs would need their device context at
    # call time: they get the in-process and XLA caches, not the traced-program cache.
    key = (
        None
        if config.chain_method == "parallel"
        else _program_key(data, config, z_template, potential_fn_gen, postprocess_fn_gen)
    )
    init_program, (state_shape, _) = compile_cached(
        init_program_fn, program_init_args, key=key and f"{key}-init"
    )
    chunk_program, _ = compile_cached(
        chunk_program_fn, (state_shape, program_init_args[-1]), key=key and f"{key}-chunk"
    )
    return NutsPrograms(init=init_program, chunk=chunk_program)


def _over_datasets(
    init_one: Callable, chunk_one: Callable, datasets: int, chains: int
) -> tuple[Callable, Callable]:
    """Programs over every chain of every dataset: one ``vmap`` over ``datasets * chains``.

    The data argument becomes ``(batched, shared)``: entries with a leading dataset axis
    (repeated for each chain inside the program) and entries common to every dataset.
    Inputs and outputs keep ``(dataset, chain)`` leading axes; the sampler state between
    the two programs is flat. One flat ``vmap`` compiles about twice as fast as a ``vmap``
    over datasets of a ``vmap`` over chains.
    """
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


def _per_dataset(tree: Any, datasets: int) -> Any:
    """``tree`` with every leaf repeated along a new leading dataset axis."""
    return jax.tree.map(lambda x: np.broadcast_to(x, (datasets, *np.shape(x))).copy(), tree)


def split_batched(arrays: dict[str, Any], batched: tuple[str, ...]) -> tuple[dict, dict]:
    """``(batched, shared)`` parts of the data arrays, for dataset-batched programs."""
    return (
        {k: v for k, v in arrays.items() if k in batched},
        {k: v for k, v in arrays.items() if k not in batched},
    )


def _dataset_arrays_template(data: PreparedData, config: NutsConfig) -> tuple[dict, dict]:
    """Abstract ``(batched, shared)`` arguments: one dataset's shapes, batched entries stacked."""
    batched, shared = split_batched(data.arrays, config.batched)
    stacked = {
        k: jax.ShapeDtypeStruct((config.datasets, *v.shape), v.dtype) for k, v in batched.items()
    }
    return stacked, shared


def nuts_config(
    chains: int,
    warmup: int,
    draws: int,
    target_accept: float,
    max_tree_depth: int,
    dense_mass: bool,
    *,
    chain_method: str,
    datasets: int = 0,
    batched: tuple[str, ...] = (),
) -> NutsConfig:
    """The :class:`NutsConfig` of checked user settings (chunk length derived from them)."""
    return NutsConfig(
        chains,
        warmup,
        draws,
        float(target_accept),
        max_tree_depth,
        bool(dense_mass),
        chain_method,
        chunk_length(warmup + draws),
        datasets,
        batched,
    )


def sampled_sites(model: Callable, data: PreparedData, **names: Any) -> ModelSites:
    """The model's sites (``names``: ``dims``/``coords``), refusing a model with no latent site."""
    sites = inspect_model(model, data, **names)
    if not sites.latent:
        raise ValueError("model has no latent sample sites: there is nothing to sample")
    return sites


def run_attrs(model: Callable, config: NutsConfig, seed: int) -> dict[str, Any]:
    """The ``attrs`` every NUTS result carries: the model, seed and sampler settings."""
    return {
        "inference": "nuts",
        "model": getattr(model, "__name__", str(model)),
        "seed": int(seed),
        "chains": config.chains,
        "draws": config.draws,
        "warmup": config.warmup,
        "target_accept": config.target_accept,
        "max_tree_depth": config.max_tree_depth,
        "dense_mass": config.dense_mass,
        "chain_method": config.chain_method,
    }


def _check_arguments(
    chains: Any,
    draws: Any,
    warmup: Any,
    seed: Any,
    target_accept: Any,
    max_tree_depth: Any,
    chain_method: Any,
) -> None:
    check_int("chains", chains, minimum=1)
    check_int("draws", draws, minimum=1)
    check_int("warmup", warmup, minimum=0)
    check_int("seed", seed, minimum=0)
    check_open_unit("target_accept", target_accept)
    check_int("max_tree_depth", max_tree_depth, minimum=1)
    check_choice("chain_method", chain_method, METHODS)


def _starting_values(
    model: Callable,
    data: PreparedData,
    z_template: Any,
    chains: int,
    init: Mapping[str, Any] | None,
) -> tuple[dict, dict]:
    """``(fixed, mask)`` for the init program: the user's values where given."""
    fixed, mask = initialisation.no_fixed_values(z_template, chains)
    if init:
        user = initialisation.user_init_unconstrained(model, data, dict(init), chains)
        fixed, mask = initialisation.fix_values(fixed, mask, user)
    return fixed, mask


def _repair_invalid_starts(
    key: jax.Array,
    invalid: np.ndarray,
    start: tuple[dict, dict],
    z_template: Any,
    *,
    model: Callable,
    data: PreparedData,
    potential_fn_gen: Callable,
    postprocess_fn_gen: Callable,
    user_init: bool,
) -> tuple[dict, dict]:
    """New ``(fixed, mask)`` starts for chains without a finite start, or raise naming the site.

    A wider search (uniform(-2, 2), :data:`~bayesuq.infer.init.FALLBACK_CANDIDATES` points
    per chain) runs only on this rare path; user-given starts are never replaced.
    """
    chains = np.flatnonzero(invalid).tolist()
    if not user_init:
        wide = initialisation.uniform_candidates(
            key, z_template, len(chains), initialisation.FALLBACK_CANDIDATES
        )
        search = jax.jit(
            jax.vmap(
                lambda c, arrays: initialisation.pick_candidate(
                    potential_fn_gen(**data.call_kwargs(arrays)), c
                ),
                in_axes=(0, None),
            )
        )
        positions, found = search(wide, data.arrays)
        if bool(jnp.all(found)):
            return initialisation.fix_values(*start, jax.device_get(positions), chains)
        first = jax.tree.map(lambda x: x[0, 0], wide)
    else:
        first = jax.tree.map(lambda x: x[chains[0]], start[0])
    reason = initialisation.explain_init_failure(model, data, postprocess_fn_gen, first)
    tried = (
        "at the values given in init"
        if user_init
        else f"at any of {initialisation.FALLBACK_CANDIDATES} points drawn uniformly from "
        f"(-2, 2) on the unconstrained scale"
    )
    raise RuntimeError(
        f"could not initialise chain(s) {chains}: the log density is not finite {tried}; "
        f"{reason}. Pass init={{site: value}} with values inside each site's support."
    )


def _run(
    programs: NutsPrograms,
    key: jax.Array,
    start: tuple[dict, dict],
    arrays: Any,
    config: NutsConfig,
    progress: bool,
    desc: str,
) -> tuple[dict, dict, Any, np.ndarray]:
    """One pass of init, warm-up and sampling for all chains (of all datasets).

    ``arrays`` is the programs' data argument: the data arrays, or ``(batched, shared)``
    for dataset-batched programs, whose outputs carry a leading dataset axis.

    Returns
    -------
    (draws, stats, final unconstrained positions, valid-start flags)
    """
    batch_shape = (config.datasets, config.chains) if config.datasets else (config.chains,)
    keys = jax.random.split(key, batch_shape)
    state, valid = programs.init(keys, *start, arrays)
    valid = np.asarray(valid)
    if not valid.all():
        return {}, {}, None, valid
    total = config.warmup + config.draws

    def postfix(out):
        stats = out[1]
        return {
            "step": f"{float(jnp.median(stats['step_size'][..., -1])):.3g}",
            "depth": int(jnp.max(stats["tree_depth"])),
        }

    state, outputs = run_in_chunks(
        programs.chunk,
        state,
        arrays,
        total=total,
        chunk=config.chunk,
        progress=progress,
        desc=desc,
        postfix=postfix,
    )
    host = jax.device_get(outputs)
    axis = len(batch_shape)  # outputs are (*batch_shape, iteration, ...)
    joined = jax.tree.map(
        lambda *xs: np.concatenate(xs, axis=axis)[
            (slice(None),) * axis + (np.s_[config.warmup : total],)
        ],
        *host,
    )
    draws, stats = joined
    return draws, stats, state.z, valid


def _merge_chains(old: dict, new: dict, chains: list[int]) -> dict:
    """``old`` with the rows of ``chains`` taken from ``new`` (host arrays)."""
    merged = {}
    for name, value in old.items():
        value = np.array(value)
        value[chains] = new[name][chains]
        merged[name] = value
    return merged


def _recover(
    key: jax.Array,
    stuck: dict[int, str],
    first: tuple[dict, dict, Any],
    start: tuple[dict, dict],
    *,
    programs: NutsPrograms,
    data: PreparedData,
    config: NutsConfig,
    z_template: Any,
    progress: bool,
) -> tuple[dict, dict, dict[int, str], list[str]]:
    """Re-run stuck chains from a healthy chain's final state (or fresh points if none).

    The compiled programs are re-used: all chains run again, and only the stuck chains'
    results are kept.
    """
    draws, stats, final_z = first
    messages: list[str] = []
    for attempt in range(1, RECOVERY_ATTEMPTS + 1):
        bad = sorted(stuck)
        healthy = [c for c in range(config.chains) if c not in stuck]
        key, k_run = jax.random.split(key)
        if healthy:
            donors = [healthy[i % len(healthy)] for i in range(len(bad))]
            source = f"the final state of chain(s) {donors}"
            donor_z = {name: np.asarray(z)[donors] for name, z in final_z.items()}
            restart = initialisation.fix_values(*start, donor_z, bad)
        else:
            source = "fresh uniform(-2, 2) points"
            restart = initialisation.no_fixed_values(z_template, config.chains)
        new_draws, new_stats, new_z, valid = _run(
            programs, k_run, restart, data.arrays, config, progress, f"re-running chains {bad}"
        )
        if not valid.all():
            break
        draws = _merge_chains(draws, new_draws, bad)
        stats = _merge_chains(stats, new_stats, bad)
        final_z = _merge_chains(jax.device_get(final_z), jax.device_get(new_z), bad)
        for c in bad:
            messages.append(
                f"{stuck[c]}; re-initialised it from {source} and re-ran warm-up and sampling "
                f"(attempt {attempt}; pass recover=False to keep stuck chains)"
            )
        stuck = find_stuck_chains(stats["step_size"], stats["lp"])
        if not stuck:
            break
    return draws, stats, stuck, messages


def nuts(
    model: Callable,
    data: Mapping[str, Any] | None = None,
    *,
    chains: int = 4,
    draws: int = 1000,
    warmup: int = 1000,
    seed: int = 0,
    target_accept: float = 0.8,
    max_tree_depth: int = 10,
    dense_mass: bool = False,
    init: Mapping[str, Any] | None = None,
    chain_method: str = "auto",
    progress: bool = True,
    log_likelihood: bool = False,
    recover: bool = True,
    dims: Mapping[str, list[str]] | None = None,
    coords: Mapping[str, list] | None = None,
) -> az.InferenceData:
    """Sample a NumPyro model's posterior with NUTS and return ``arviz.InferenceData``.

    Parameters
    ----------
    model
        NumPyro model function, called as ``model(**data)``.
    data
        Mapping of model argument to array, number, pandas Series/DataFrame, or ``None``
        (pandas indexes become coordinates of the matching plate dims).
    chains, draws, warmup
        Number of chains, kept draws per chain and warm-up (adaptation) iterations.
    seed
        Non-negative integer seed; the same seed gives identical draws.
    target_accept
        Target mean acceptance probability of step-size adaptation (dual averaging).
    max_tree_depth
        Maximum NUTS tree depth (at most ``2**max_tree_depth - 1`` leapfrog steps).
    dense_mass
        Adapt a dense (full covariance) mass matrix instead of a diagonal one.
    init
        Optional starting values on the constrained scale, ``site -> value`` (one value for
        all chains, or one per chain with a leading chain axis). Other sites start at
        uniform(-2, 2) on the unconstrained scale (best of 4 candidates).
    chain_method
        ``"auto"`` (vectorised on one device, parallel over several), ``"vectorized"``,
        ``"parallel"`` or ``"sequential"``.
    progress
        Show a progress bar.
    log_likelihood
        Add the pointwise ``log_likelihood`` group (for ``arviz.loo``/``compare``).
    recover
        Re-initialise and re-run chains that end warm-up stuck (collapsed step size or
        frozen), with a warning that says so.
    dims, coords
        Override the inferred dim names (``site -> [dim, ...]``) and labels.

    Returns
    -------
    arviz.InferenceData
        ``posterior`` (latent and deterministic sites), ``sample_stats``, ``observed_data``,
        ``constant_data``, optionally ``log_likelihood``; ``attrs`` hold the seed,
        configuration, versions, device, ``compile_seconds`` and ``sampling_seconds``.

    Raises
    ------
    TypeError, ValueError
        Bad arguments or data (the message names the argument and the value).
    RuntimeError
        No finite starting point (the message names the failing site), or non-finite draws.

    Notes
    -----
    Enable float64 with ``bayesuq.enable_x64()`` (or ``JAX_ENABLE_X64=1``) before creating
    arrays when the model needs it.
    """
    started = time.perf_counter()
    _check_arguments(chains, draws, warmup, seed, target_accept, max_tree_depth, chain_method)
    prepared = prepare_data(model, data)
    sites = sampled_sites(model, prepared, dims=dims, coords=coords)
    method = resolve_method(chain_method, chains)
    config = nuts_config(
        chains, warmup, draws, target_accept, max_tree_depth, dense_mass, chain_method=method
    )
    z_template, potential_fn_gen, postprocess_fn_gen = initialisation.model_functions(
        model, prepared
    )
    setup_seconds = time.perf_counter() - started  # data checks and model inspection
    cache_key = (model, config, prepared.signature(), x64_enabled())
    programs, compile_seconds = PROGRAMS.get_or_build(
        cache_key,
        lambda: _build_programs(
            model, prepared, config, z_template, potential_fn_gen, postprocess_fn_gen
        ),
    )

    run_start = time.perf_counter()
    key_run, key_repair, key_recover = jax.random.split(jax.random.PRNGKey(seed), 3)
    start = _starting_values(model, prepared, z_template, chains, init)
    draws_, stats, final_z, valid = _run(
        programs, key_run, start, prepared.arrays, config, progress, "sampling"
    )
    if not valid.all():
        start = _repair_invalid_starts(
            key_repair,
            ~valid,
            start,
            z_template,
            model=model,
            data=prepared,
            potential_fn_gen=potential_fn_gen,
            postprocess_fn_gen=postprocess_fn_gen,
            user_init=bool(init),
        )
        draws_, stats, final_z, valid = _run(
            programs, key_run, start, prepared.arrays, config, progress, "sampling"
        )
    stuck = find_stuck_chains(stats["step_size"], stats["lp"])
    messages: list[str] = []
    recovered: list[int] = []
    if stuck and recover:
        before = set(stuck)
        draws_, stats, stuck, messages = _recover(
            key_recover,
            stuck,
            (draws_, stats, final_z),
            start,
            programs=programs,
            data=prepared,
            config=config,
            z_template=z_template,
            progress=progress,
        )
        recovered = sorted(before - set(stuck))
        for message in messages:
            warnings.warn(message, UserWarning, stacklevel=2)
    for reason in stuck.values():
        warnings.warn(
            f"{reason}; results are flagged by bayesuq.diagnose", UserWarning, stacklevel=2
        )
    sampling_seconds = time.perf_counter() - run_start

    for name in sites.latent:
        if not np.all(np.isfinite(draws_[name])):
            raise RuntimeError(
                f"NUTS produced non-finite draws of {name!r}; the model is numerically "
                f"unstable there (try bayesuq.enable_x64() or a reparameterisation)"
            )
    loglik = (
        compute_log_likelihood(model, draws_, prepared, list(sites.observed))
        if log_likelihood
        else None
    )
    attrs = {
        **run_attrs(model, config, seed),
        "setup_seconds": round(setup_seconds, 4),
        "compile_seconds": round(compile_seconds, 4),
        "sampling_seconds": round(sampling_seconds, 4),
        "total_seconds": round(time.perf_counter() - started, 4),
        "recovered_chains": ",".join(map(str, recovered)),
        "stuck_chains": ",".join(map(str, sorted(stuck))),
        "recovery_messages": " | ".join(messages),
    }
    return build_inference_data(
        posterior=draws_,
        sites=sites,
        data=prepared,
        attrs=attrs,
        sample_stats=stats,
        log_likelihood=loglik,
    )
