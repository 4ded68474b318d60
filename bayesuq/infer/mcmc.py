"""The MCMC driver shared by :func:`bayesuq.nuts` and :func:`bayesuq.hmc`.

One call crosses each layer once::

    prepare_data            data checked and converted            (infer.data)
    analyse_model           one abstract trace: sites, z, fingerprint (infer.sites)
    get_programs            compiled init/chunk programs, cached    (infer.programs)
    run                     init, warm-up and draws in chunks       (infer.programs)
    repair / recover        rare: no finite start, stuck chains     (infer.recovery)
    fit_result              InferenceData through the front door    (infer.convert, results)

The result keeps the final sampler state (position, step size, mass matrix, adaptation
state and PRNG key of every chain) in a ``sampler_state`` group, so that
``resume=idata`` continues the chains with more draws and no new warm-up.
"""

from __future__ import annotations

import json
import time
import warnings
from collections.abc import Callable, Mapping
from typing import Any

import jax
import numpy as np

from bayesuq.diagnostics.chains import find_stuck_chains
from bayesuq.infer import init as initialisation
from bayesuq.infer.arguments import check_choice, check_int, check_seed
from bayesuq.infer.batching import METHODS, resolve_method
from bayesuq.infer.compilation import fingerprint
from bayesuq.infer.convert import compute_log_likelihood, fit_result
from bayesuq.infer.data import PreparedData, prepare_data
from bayesuq.infer.kernels import HmcKernel, Kernel, NutsKernel
from bayesuq.infer.keys import seed_keys
from bayesuq.infer.loop import chunk_length
from bayesuq.infer.programs import (
    PROGRAMS,
    ChainLayout,
    RunOutput,
    SamplerConfig,
    continue_run,
    get_programs,
    in_process_key,
    program_key,
    run,
)
from bayesuq.infer.recovery import recover_stuck_chains, repair_starts
from bayesuq.infer.results import split_attrs
from bayesuq.infer.sites import ModelAnalysis, analyse_model
from bayesuq.infer.warm import hint_key, speculate, write_hint

KERNELS: dict[str, type] = {"nuts": NutsKernel, "hmc": HmcKernel}


def check_run_arguments(
    *, chains: Any, draws: Any, warmup: Any, seed: Any, chain_method: Any
) -> None:
    """Check the settings every MCMC driver shares (errors name the argument and value)."""
    check_int("chains", chains, minimum=1)
    check_int("draws", draws, minimum=1)
    check_int("warmup", warmup, minimum=0)
    check_seed(seed)
    check_choice("chain_method", chain_method, METHODS)


def analyse_sampled_model(model: Callable, data: PreparedData, **names: Any) -> ModelAnalysis:
    """:func:`analyse_model`, refusing a model with no latent site."""
    analysis = analyse_model(model, data, **names)
    if not analysis.sites.latent:
        raise ValueError("model has no latent sample sites: there is nothing to sample")
    return analysis


def check_mass_blocks(kernel: Kernel, analysis: ModelAnalysis) -> None:
    """Refuse ``dense_mass`` blocks that name sites which are not latent sites of the model."""
    blocks = getattr(kernel, "dense_mass", False)
    if isinstance(blocks, bool):
        return
    unknown = sorted({n for block in blocks for n in block} - set(analysis.sites.latent))
    if unknown:
        raise ValueError(
            f"dense_mass names {unknown}, which are not latent sites of the model; latent "
            f"sites are {list(analysis.sites.latent)}"
        )


def starting_values(
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


def config_attrs(config: SamplerConfig) -> dict[str, Any]:
    """The settings of a run for ``attrs``, including the JSON needed to resume it."""
    kernel = config.kernel
    settings = {
        "kernel": kernel.name,
        **{f: getattr(kernel, f) for f in kernel.__dataclass_fields__ if f != "name"},
        "chains": config.chains,
        "warmup": config.warmup,
        "draws": config.draws,
        "chain_method": config.chain_method,
        "chunk": config.chunk,
    }
    return {
        **kernel.attrs(),
        "chains": config.chains,
        "draws": config.draws,
        "warmup": config.warmup,
        "chain_method": config.chain_method,
        "sampler_config": json.dumps(settings),
    }


def config_from_attrs(attrs: Mapping[str, Any]) -> SamplerConfig:
    """Inverse of :func:`config_attrs` (for ``resume``)."""
    settings = json.loads(attrs["sampler_config"])
    kernel_type = KERNELS[settings.pop("kernel")]
    fields = {f: settings.pop(f) for f in list(settings) if f in kernel_type.__dataclass_fields__}
    if isinstance(fields.get("dense_mass"), list):
        fields["dense_mass"] = tuple(tuple(b) for b in fields["dense_mass"])
    return SamplerConfig(kernel=kernel_type(**fields), **settings)


def state_dataset(state: Any) -> Any:
    """The final sampler state as an ``xarray.Dataset`` (one variable per leaf, chain first)."""
    import xarray as xr

    leaves = jax.tree_util.tree_flatten_with_path(jax.device_get(state))[0]
    variables = {}
    for j, (path, leaf) in enumerate(leaves):
        leaf = np.asarray(leaf)
        name = f"leaf_{j:03d}"
        flat = leaf.reshape(leaf.shape[0], -1)
        variables[name] = xr.Variable(
            ("chain", f"{name}_size"),
            flat,
            attrs={"path": jax.tree_util.keystr(path), "shape": ",".join(map(str, leaf.shape))},
        )
    return xr.Dataset(variables)


def state_from_dataset(dataset: Any, state_shape: Any) -> Any:
    """Rebuild the sampler state pytree of ``state_shape`` from :func:`state_dataset`."""
    leaves, treedef = jax.tree_util.tree_flatten_with_path(state_shape)
    names = sorted(dataset.data_vars)
    if len(names) != len(leaves):
        raise ValueError(
            f"the sampler_state group has {len(names)} arrays but this sampler's state has "
            f"{len(leaves)}: it was written by another sampler or version"
        )
    values = []
    for name, (path, leaf) in zip(names, leaves, strict=True):
        variable = dataset[name]
        if variable.attrs.get("path") != jax.tree_util.keystr(path):
            raise ValueError(f"the sampler_state group does not match this sampler at {path}")
        shape = tuple(int(s) for s in str(variable.attrs["shape"]).split(",") if s)
        values.append(np.asarray(variable.values, dtype=leaf.dtype).reshape(shape))
    return jax.tree_util.tree_unflatten(treedef, values)


def _data_fingerprint(data: PreparedData) -> str:
    return fingerprint(
        sorted(data.static.items()),
        *(np.asarray(v) for _, v in sorted(data.arrays.items()) if v is not None),
    )


def _warn_stuck(stuck: dict[int, str], messages: list[str]) -> None:
    for message in messages:
        warnings.warn(message, UserWarning, stacklevel=4)
    for reason in stuck.values():
        warnings.warn(
            f"{reason}; results are flagged by bayesuq.diagnose", UserWarning, stacklevel=4
        )


def _check_finite(draws: dict[str, np.ndarray], latent: tuple[str, ...]) -> None:
    for name in latent:
        if not np.all(np.isfinite(draws[name])):
            raise RuntimeError(
                f"MCMC produced non-finite draws of {name!r}; the model is numerically "
                f"unstable there (try bayesuq.enable_x64() or a reparameterisation)"
            )


def sample_posterior(
    model: Callable,
    data: Mapping[str, Any] | None,
    *,
    kernel: Kernel,
    chains: int,
    draws: int,
    warmup: int,
    seed: int,
    init: Mapping[str, Any] | None,
    chain_method: str,
    progress: bool,
    log_likelihood: bool,
    recover: bool,
    dims: Mapping[str, list[str]] | None,
    coords: Mapping[str, list] | None,
    resume: Any = None,
) -> Any:
    """Run ``kernel`` on ``model`` and return the ``InferenceData`` (see the module docstring)."""
    started = time.perf_counter()
    check_run_arguments(
        chains=chains, draws=draws, warmup=warmup, seed=seed, chain_method=chain_method
    )
    prepared = prepare_data(model, data)
    if resume is not None:
        analysis = analyse_sampled_model(model, prepared, dims=dims, coords=coords)
        return _resume(resume, model, prepared, analysis, draws, progress, started)
    method = resolve_method(chain_method, chains)
    config = SamplerConfig(kernel, chains, warmup, draws, method, chunk_length(warmup + draws))
    layout = ChainLayout(chains, method)
    key_run, key_repair, key_recover = seed_keys(seed, 3)  # NumPy: no eager JAX compile
    # A model fitted before starts sampling from its stored programs at once; the model's
    # trace below decides whether those draws are kept (bayesuq.infer.warm).
    hint = hint_key(model, prepared, config, layout)
    speculation = None if init else speculate(hint, prepared, config, layout, key_run, progress)
    try:
        analysis = analyse_sampled_model(model, prepared, dims=dims, coords=coords)
        check_mass_blocks(kernel, analysis)
        stored_key = program_key(analysis, prepared, config, layout)
        output = speculation.take(stored_key) if speculation is not None else None
    except BaseException:
        if speculation is not None:
            speculation.cancel()
        raise
    if output is not None:  # the stored programs are this model's: the draws stand
        programs = speculation.programs
        PROGRAMS.put(in_process_key(analysis, prepared, config), programs)
        setup_seconds = speculation.run_started - started - speculation.load_seconds
        compile_seconds = speculation.load_seconds
        run_start = speculation.run_started
        start = initialisation.no_fixed_values(analysis.z_template, chains)
        warm_start = "stored programs, confirmed by the model's trace"
    else:
        setup_seconds = time.perf_counter() - started
        programs, compile_seconds = get_programs(model, prepared, analysis, config, layout)
        run_start = time.perf_counter()
        start = starting_values(model, prepared, analysis.z_template, chains, init)
        output = run(
            programs, key_run, start, prepared.arrays, config, progress=progress, desc="sampling"
        )
        warm_start = "stale hint: rebuilt" if speculation is not None else "none"
        write_hint(hint, stored_key, analysis.z_template)  # a confirmed hint stays as it is
    if not output.valid.all():
        start = repair_starts(
            key_repair,
            ~output.valid,
            start,
            analysis.z_template,
            model=model,
            data=prepared,
            user_init=bool(init),
        )
        output = run(
            programs,
            key_run,
            start,
            prepared.arrays,
            config,
            progress=progress,
            desc="sampling",
        )
    stuck = find_stuck_chains(output.stats["step_size"], output.stats["lp"])
    recovered, messages = [], []
    if stuck and recover:
        outcome = recover_stuck_chains(
            key_recover,
            stuck,
            output,
            start,
            programs=programs,
            data=prepared,
            config=config,
            z_template=analysis.z_template,
            progress=progress,
        )
        output, stuck, recovered, messages = outcome
    _warn_stuck(stuck, messages)
    sampling_seconds = time.perf_counter() - run_start
    _check_finite(output.draws, analysis.sites.latent)
    attrs = {
        "model": getattr(model, "__name__", str(model)),
        **config_attrs(config),
        "recovered_chains": ",".join(map(str, recovered)),
        "stuck_chains": ",".join(map(str, sorted(stuck))),
        "recovery_messages": " | ".join(messages),
        "warm_start": warm_start,
        "model_fingerprint": analysis.fingerprint,
        "data_fingerprint": _data_fingerprint(prepared),
    }
    timings = {
        "setup": setup_seconds,
        "compile": compile_seconds,
        "sampling": sampling_seconds,
        "total": time.perf_counter() - started,
    }
    return _result(
        kernel.name, seed, timings, attrs, output, model, analysis, prepared, log_likelihood
    )


def _result(
    inference: str,
    seed: int,
    timings: dict[str, float],
    attrs: dict[str, Any],
    output: RunOutput,
    model: Callable,
    analysis: ModelAnalysis,
    data: PreparedData,
    log_likelihood: bool,
) -> Any:
    sites = analysis.sites
    loglik = (
        compute_log_likelihood(model, output.draws, data, list(sites.observed))
        if log_likelihood
        else None
    )
    return fit_result(
        inference=inference,
        seed=seed,
        timings=timings,
        attrs=attrs,
        posterior=output.draws,
        sites=sites,
        data=data,
        sample_stats=output.stats,
        log_likelihood=loglik,
        sampler_state=state_dataset(output.state),
    )


def _resume(
    previous: Any,
    model: Callable,
    data: PreparedData,
    analysis: ModelAnalysis,
    draws: int,
    progress: bool,
    started: float,
) -> Any:
    """Continue the chains of ``previous`` by ``draws`` more draws (no new warm-up)."""
    attrs = dict(getattr(previous, "attrs", {}) or {})
    if (
        "sampler_state" not in getattr(previous, "groups", lambda: [])()
        or "sampler_config" not in attrs
    ):
        raise ValueError(
            "resume needs a result of bayesuq.nuts or bayesuq.hmc that kept its sampler "
            "state (the 'sampler_state' group); this one has none"
        )
    if attrs.get("model_fingerprint") != analysis.fingerprint:
        raise ValueError(
            "resume: the model differs from the one that produced this result (its log "
            "density or sites changed); pass the same model"
        )
    if attrs.get("data_fingerprint") != _data_fingerprint(data):
        raise ValueError("resume: the data differ from the data of this result; pass the same data")
    config = config_from_attrs(attrs)
    setup_seconds = time.perf_counter() - started
    programs, compile_seconds = get_programs(
        model, data, analysis, config, ChainLayout(config.chains, config.chain_method)
    )
    run_start = time.perf_counter()
    state = state_from_dataset(previous.sampler_state, programs.state_shape)
    output = continue_run(
        programs,
        state,
        data.arrays,
        config,
        steps=draws,
        keep=draws,
        progress=progress,
        desc="continuing",
    )
    _check_finite(output.draws, analysis.sites.latent)
    sampling_seconds = time.perf_counter() - run_start
    old = RunOutput(
        draws={k: previous.posterior[k].values for k in output.draws},
        stats={k: previous.sample_stats[k].values for k in output.stats},
        state=None,
        valid=output.valid,
    )
    joined = RunOutput(
        draws={k: np.concatenate([old.draws[k], v], axis=1) for k, v in output.draws.items()},
        stats={k: np.concatenate([old.stats[k], v], axis=1) for k, v in output.stats.items()},
        state=output.state,
        valid=output.valid,
    )
    kept, previous_timings = split_attrs(attrs)
    kept["draws"] = int(joined.draws[next(iter(joined.draws))].shape[1])
    kept["resumed_draws"] = ",".join(
        filter(None, [str(attrs.get("resumed_draws", "")), str(draws)])
    )

    now = {
        "setup": setup_seconds,
        "compile": compile_seconds,
        "sampling": sampling_seconds,
        "total": time.perf_counter() - started,
    }
    timings = {phase: previous_timings.get(phase, 0.0) + s for phase, s in now.items()}
    log_likelihood = "log_likelihood" in previous.groups()
    return _result(
        str(attrs["inference"]),
        int(attrs["seed"]),
        timings,
        kept,
        joined,
        model,
        analysis,
        data,
        log_likelihood,
    )
