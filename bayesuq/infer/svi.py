"""Stochastic variational inference over NumPyro autoguides, returning InferenceData.

SVI fits a guide ``q_phi(theta)`` by maximising the evidence lower bound
``ELBO(phi) = E_q[log p(y, theta) - log q_phi(theta)]`` with Adam on a one-sample Monte
Carlo estimate of its gradient (Ranganath, Gerrish & Blei 2014, "Black box variational
inference", AISTATS; Kucukelbir et al. 2017, "Automatic differentiation variational
inference", JMLR 18). The optimisation runs as chunks of one compiled ``lax.scan``
program with the data as arguments, then ``draws`` samples of the fitted guide (and the
model's deterministic sites) are returned as ``posterior`` with ``chain=1``.

The ELBO history is kept in ``sample_stats["loss"]`` (dim ``svi_step``) and judged by
:func:`elbo_convergence` on the smoothed tail of the loss against its own noise: fewer than
:data:`MIN_STEPS` steps are never called converged, and a fit whose loss still falls
significantly over the last 40% of its steps is not converged.
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
from numpyro import handlers
from numpyro.infer import SVI, Predictive, Trace_ELBO
from numpyro.infer.autoguide import (
    AutoDelta,
    AutoGuide,
    AutoLowRankMultivariateNormal,
    AutoMultivariateNormal,
    AutoNormal,
)
from numpyro.optim import Adam

from bayesuq.infer.arguments import check_int, check_positive, check_seed
from bayesuq.infer.compilation import ProgramCache, compile_ahead
from bayesuq.infer.convert import compute_log_likelihood, fit_result
from bayesuq.infer.data import PreparedData, prepare_data
from bayesuq.infer.loop import chunk_length, run_in_chunks
from bayesuq.infer.sites import ModelSites, analyse_model
from bayesuq.precision import x64_enabled

GUIDES: dict[str, type[AutoGuide]] = {
    "normal": AutoNormal,
    "mvn": AutoMultivariateNormal,
    "lowrank": AutoLowRankMultivariateNormal,
    "map": AutoDelta,
}
PROGRAMS = ProgramCache()
RELATIVE_TOLERANCE = 1e-3
MIN_STEPS = 200
TAIL_FRACTION = 0.4
TAIL_BATCHES = 8
TREND_T_CRITICAL = 3.14  # one-sided 1% point of Student's t with TAIL_BATCHES - 2 = 6 dof


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
    """Judge whether the loss (negative ELBO) has stopped falling.

    The last ``TAIL_FRACTION`` of the steps is cut into ``TAIL_BATCHES`` batches; the batch
    means ``m_1..m_B`` absorb the step-to-step noise and autocorrelation of the one-sample
    ELBO. A least-squares line through them gives the trend ``b`` and its standard error
    ``se(b)`` from the residuals. The loss is *still falling* when ``b < 0`` with
    ``t = -b / se(b) > 3.14`` (one-sided 1% level, 6 dof) and the fall over the tail,
    ``-b (B - 1)``, exceeds ``RELATIVE_TOLERANCE * (|m_B| + 1)``. Fewer than
    :data:`MIN_STEPS` steps are too few to judge.

    Returns
    -------
    (converged, message)
    """
    n = losses.size
    if n < MIN_STEPS:
        return False, (
            f"not converged: only {n} SVI steps, too few to judge whether the ELBO has "
            f"levelled off (at least {MIN_STEPS}); raise steps"
        )
    tail = losses[-int(n * TAIL_FRACTION) :]
    size = tail.size // TAIL_BATCHES
    means = tail[-size * TAIL_BATCHES :].reshape(TAIL_BATCHES, size).mean(axis=1)
    x = np.arange(TAIL_BATCHES, dtype=float)
    slope, intercept = np.polyfit(x, means, 1)
    residual = means - (slope * x + intercept)
    se = np.sqrt(residual @ residual / (TAIL_BATCHES - 2) / np.sum((x - x.mean()) ** 2))
    fall = -slope * (TAIL_BATCHES - 1)
    significant = slope < 0 and (se == 0 or -slope / se > TREND_T_CRITICAL)
    if significant and fall > RELATIVE_TOLERANCE * (abs(means[-1]) + 1.0):
        return False, (
            f"not converged: the loss still falls over the last {tail.size} of {n} steps "
            f"(smoothed from {means[0]:.6g} to {means[-1]:.6g}, trend t = "
            f"{-slope / se if se else float('inf'):.1f}); raise steps or learning_rate"
        )
    return True, (
        f"ELBO converged: no significant fall of the loss over the last {tail.size} of {n} "
        f"steps (smoothed mean {means[-1]:.6g})"
    )


def check_guide_covers_model(guide: Callable, model_latent: tuple[str, ...], data: PreparedData):
    """Refuse a user guide that leaves latent sites of the model without a distribution.

    Such sites would be drawn from the prior during SVI and the "posterior" would be the
    prior there. AutoGuides cover every site by construction.
    """
    if isinstance(guide, AutoGuide):
        return
    try:
        trace = handlers.trace(handlers.seed(guide, rng_seed=0)).get_trace(**data.kwargs)
    except Exception as err:
        raise ValueError(
            f"the guide {getattr(guide, '__name__', guide)!r} failed when called with the "
            f"data: {type(err).__name__}: {str(err).splitlines()[0]}"
        ) from err
    sampled = {n for n, site in trace.items() if site["type"] == "sample"}
    missing = [name for name in model_latent if name not in sampled]
    if missing:
        raise ValueError(
            f"the guide samples no distribution for the model's latent site(s) {missing}; "
            f"SVI would leave them at the prior. Add numpyro.sample statements for them to "
            f"the guide, or use an automatic guide (guide='normal', 'mvn', 'lowrank' or 'map')"
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
    check_seed(seed)
    check_positive("learning_rate", learning_rate)
    prepared = prepare_data(model, data)
    analysis = analyse_model(model, prepared, dims=dims, coords=coords)
    sites = analysis.sites
    if not sites.latent:
        raise ValueError("model has no latent sample sites: there is nothing to fit")
    guide_fn = make_guide(model, guide)
    check_guide_covers_model(guide_fn, sites.latent, prepared)
    chunk = chunk_length(steps)
    return_sites = sites.latent + sites.deterministic
    setup_seconds = time.perf_counter() - started  # data checks and model inspection
    key = (
        analysis.fingerprint,
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
        seed=seed,
        timings={
            "setup": setup_seconds,
            "compile": build_seconds,
            "sampling": seconds,
            "total": time.perf_counter() - started,
        },
        attrs={
            "model": getattr(model, "__name__", str(model)),
            "guide": guide if isinstance(guide, str) else type(guide_fn).__name__,
            "steps": steps,
            "learning_rate": float(learning_rate),
            "draws": draws,
            "svi_converged": converged,
            "svi_convergence": verdict,
            "final_loss": float(losses[-1]),
        },
    )


def _to_inference_data(
    model: Callable,
    data: PreparedData,
    sites: ModelSites,
    posterior: dict[str, np.ndarray],
    losses: np.ndarray,
    log_likelihood: bool,
    *,
    seed: int,
    timings: dict[str, float],
    attrs: dict[str, Any],
) -> az.InferenceData:
    loglik = (
        compute_log_likelihood(model, posterior, data, list(sites.observed))
        if log_likelihood
        else None
    )
    history = xr.Dataset(
        {"loss": (("svi_step",), losses)}, coords={"svi_step": np.arange(losses.size)}
    )
    return fit_result(
        inference="svi",
        seed=seed,
        timings=timings,
        attrs=attrs,
        posterior=posterior,
        sites=sites,
        data=data,
        sample_stats=history,
        log_likelihood=loglik,
    )
