"""Stochastic variational inference over NumPyro autoguides, returning InferenceData.

SVI fits a guide ``q_phi(theta)`` by maximising the evidence lower bound
``ELBO(phi) = E_q[log p(y, theta) - log q_phi(theta)]`` with Adam on a one-sample Monte
Carlo estimate of its gradient (Ranganath, Gerrish & Blei 2014, "Black box variational
inference", AISTATS; Kucukelbir et al. 2017, "Automatic differentiation variational
inference", JMLR 18). The optimisation runs as chunks of one compiled ``lax.scan``
program with the data as arguments, then ``draws`` samples of the fitted guide (and the
model's deterministic sites) are returned as ``posterior`` with ``chain=1``.

The ELBO history is kept in ``sample_stats["loss"]`` (dim ``svi_step``) and judged:
the fit is called converged when the mean loss of the last 10% of steps is within three
standard errors, or 0.1% relative, of the mean of the 10% before it.
"""

from __future__ import annotations

import time
import warnings
from collections.abc import Callable, Mapping
from typing import Any

import arviz as az
import jax
import numpy as np
import xarray as xr
from numpyro.infer import SVI, Predictive, Trace_ELBO
from numpyro.infer.autoguide import (
    AutoDelta,
    AutoGuide,
    AutoLowRankMultivariateNormal,
    AutoMultivariateNormal,
    AutoNormal,
)
from numpyro.optim import Adam

from bayesuq.infer.arguments import check_int, check_positive
from bayesuq.infer.compilation import ProgramCache, compile_ahead
from bayesuq.infer.convert import build_inference_data, compute_log_likelihood
from bayesuq.infer.data import PreparedData, prepare_data
from bayesuq.infer.loop import chunk_length, run_in_chunks
from bayesuq.infer.sites import ModelSites, inspect_model
from bayesuq.precision import x64_enabled

GUIDES: dict[str, type[AutoGuide]] = {
    "normal": AutoNormal,
    "mvn": AutoMultivariateNormal,
    "lowrank": AutoLowRankMultivariateNormal,
    "map": AutoDelta,
}
PROGRAMS = ProgramCache()
RELATIVE_TOLERANCE = 1e-3


def make_guide(model: Callable, guide: str | Callable) -> Callable:
    """The guide for ``model``: a name from :data:`GUIDES`, or a user guide (function/AutoGuide)."""
    if isinstance(guide, str):
        if guide not in GUIDES:
            raise ValueError(f"guide must be one of {sorted(GUIDES)} or a callable, got {guide!r}")
        return GUIDES[guide](model)
    if callable(guide):
        return guide
    raise TypeError(f"guide must be a name or a callable, got {type(guide).__name__}")


def elbo_convergence(losses: np.ndarray) -> tuple[bool, str]:
    """Judge whether the loss has levelled off (see the module docstring).

    Returns
    -------
    (converged, message)
    """
    n = losses.size
    window = max(n // 10, 1)
    if n < 2 * window or n < 20:
        return False, f"only {n} SVI steps: too few to judge convergence; raise steps"
    before, last = losses[-2 * window : -window], losses[-window:]
    drop = float(before.mean() - last.mean())
    se = float(np.sqrt(before.var() / window + last.var() / window))
    scale = abs(float(last.mean())) + 1.0
    if drop <= max(3 * se, RELATIVE_TOLERANCE * scale):
        return True, f"ELBO converged: mean loss {last.mean():.6g} over the last {window} steps"
    return False, (
        f"the ELBO has not converged: the mean loss still fell from {before.mean():.6g} to "
        f"{last.mean():.6g} over the last {2 * window} of {n} steps; raise steps or "
        f"learning_rate"
    )


def _build_programs(
    model: Callable,
    guide: Callable,
    data: PreparedData,
    learning_rate: float,
    chunk: int,
    draws: int,
    return_sites: tuple[str, ...],
) -> dict[str, Callable]:
    optimiser = SVI(model, guide, Adam(learning_rate), Trace_ELBO())

    def init(key, arrays):
        return optimiser.init(key, **data.call_kwargs(arrays))

    def run_chunk(state, arrays):
        kwargs = data.call_kwargs(arrays)

        def step(state, _):
            state, loss = optimiser.update(state, **kwargs)
            return state, loss

        return jax.lax.scan(step, state, None, length=chunk)

    def sample(key, state, arrays):
        params = optimiser.get_params(state)
        predictive = Predictive(
            model, guide=guide, params=params, num_samples=draws, return_sites=list(return_sites)
        )
        return predictive(key, **data.call_kwargs(arrays))

    key = jax.random.PRNGKey(0)
    state = jax.eval_shape(init, key, data.arrays)
    return {
        "init": compile_ahead(init, key, data.arrays),
        "chunk": compile_ahead(run_chunk, state, data.arrays),
        "sample": compile_ahead(sample, key, state, data.arrays),
    }


def svi(
    model: Callable,
    data: Mapping[str, Any] | None = None,
    *,
    guide: str | Callable = "normal",
    steps: int = 10_000,
    learning_rate: float = 1e-2,
    draws: int = 1000,
    seed: int = 0,
    progress: bool = True,
    log_likelihood: bool = False,
    dims: Mapping[str, list[str]] | None = None,
    coords: Mapping[str, list] | None = None,
) -> az.InferenceData:
    """Fit a variational approximation to a NumPyro model's posterior.

    Parameters
    ----------
    model
        NumPyro model function, called as ``model(**data)``.
    data
        Mapping of model argument to array, number, pandas object or ``None``.
    guide
        ``"normal"`` (mean-field Gaussian), ``"mvn"`` (full-rank Gaussian), ``"lowrank"``
        (low-rank plus diagonal Gaussian), ``"map"`` (point mass: MAP estimate), or a guide
        function / ``AutoGuide`` instance.
    steps
        Optimisation steps (Adam).
    learning_rate
        Adam step size.
    draws
        Draws from the fitted guide returned as the posterior (``chain=1``).
    seed
        Non-negative integer seed.
    progress
        Show a progress bar with the current loss.
    log_likelihood
        Add the pointwise ``log_likelihood`` group.
    dims, coords
        Override the inferred dim names and labels.

    Returns
    -------
    arviz.InferenceData
        ``posterior`` (chain=1, draw=draws), ``sample_stats["loss"]`` (the negative ELBO per
        step), ``observed_data``, ``constant_data``; ``attrs["svi_converged"]`` and
        ``attrs["svi_convergence"]`` hold the verdict on the ELBO.

    Raises
    ------
    RuntimeError
        If the loss becomes non-finite.
    """
    started = time.perf_counter()
    check_int("steps", steps, minimum=1)
    check_int("draws", draws, minimum=1)
    check_int("seed", seed, minimum=0)
    check_positive("learning_rate", learning_rate)
    prepared = prepare_data(model, data)
    sites = inspect_model(model, prepared, dims=dims, coords=coords)
    if not sites.latent:
        raise ValueError("model has no latent sample sites: there is nothing to fit")
    guide_fn = make_guide(model, guide)
    chunk = chunk_length(steps)
    return_sites = sites.latent + sites.deterministic
    setup_seconds = time.perf_counter() - started  # data checks and model inspection
    key = (
        model,
        guide,
        float(learning_rate),
        chunk,
        draws,
        prepared.signature(),
        x64_enabled(),
    )
    programs, build_seconds = PROGRAMS.get_or_build(
        key,
        lambda: _build_programs(
            model, guide_fn, prepared, float(learning_rate), chunk, draws, return_sites
        ),
    )
    run_start = time.perf_counter()
    key_init, key_draws = jax.random.split(jax.random.PRNGKey(seed))
    state = programs["init"](key_init, prepared.arrays)

    def postfix(losses):
        return {"loss": f"{float(losses[-1]):.5g}"}

    state, outputs = run_in_chunks(
        programs["chunk"],
        state,
        prepared.arrays,
        total=steps,
        chunk=chunk,
        progress=progress,
        desc="SVI",
        postfix=postfix,
    )
    losses = np.concatenate(jax.device_get(outputs))[:steps]
    bad = np.flatnonzero(~np.isfinite(losses))
    if bad.size:
        raise RuntimeError(
            f"SVI loss became non-finite at step {int(bad[0])}; lower learning_rate (now "
            f"{learning_rate}), check the model's support, or try bayesuq.enable_x64()"
        )
    samples = jax.device_get(programs["sample"](key_draws, state, prepared.arrays))
    posterior = {name: np.asarray(samples[name])[None] for name in return_sites}
    converged, verdict = elbo_convergence(losses)
    if not converged:
        warnings.warn(verdict, UserWarning, stacklevel=2)
    seconds = time.perf_counter() - run_start
    return _to_inference_data(
        model,
        prepared,
        sites,
        posterior,
        losses,
        log_likelihood,
        attrs={
            "inference": "svi",
            "model": getattr(model, "__name__", str(model)),
            "guide": guide if isinstance(guide, str) else type(guide_fn).__name__,
            "seed": int(seed),
            "steps": steps,
            "learning_rate": float(learning_rate),
            "draws": draws,
            "svi_converged": converged,
            "svi_convergence": verdict,
            "final_loss": float(losses[-1]),
            "setup_seconds": round(setup_seconds, 4),
            "compile_seconds": round(build_seconds, 4),
            "sampling_seconds": round(seconds, 4),
            "total_seconds": round(time.perf_counter() - started, 4),
        },
    )


def _to_inference_data(
    model: Callable,
    data: PreparedData,
    sites: ModelSites,
    posterior: dict[str, np.ndarray],
    losses: np.ndarray,
    log_likelihood: bool,
    attrs: dict[str, Any],
) -> az.InferenceData:
    loglik = (
        compute_log_likelihood(model, posterior, data, list(sites.observed))
        if log_likelihood
        else None
    )
    idata = build_inference_data(
        posterior=posterior, sites=sites, data=data, attrs=attrs, log_likelihood=loglik
    )
    history = xr.Dataset(
        {"loss": (("svi_step",), losses)}, coords={"svi_step": np.arange(losses.size)}
    )
    idata.add_groups({"sample_stats": history})
    return idata
