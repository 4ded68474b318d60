"""Sequential model optimisation (SMO) with DEUP and its baselines, as one compiled program.

Lahlou et al. (2023, "DEUP: Direct Epistemic Uncertainty Prediction", TMLR, Section 5.1
and Appendix C) maximise a black-box function by expected improvement (EI) under a
Gaussian predictive ``N(f(x), u(x))``, where ``f`` is the main predictor and ``u`` is

* ``"deup"``: DEUP's epistemic uncertainty ``u(x) = exp(e(phi_D(x)))``, ``e`` a GP regressing
  the logged out-of-sample squared errors of ``f`` on stationarising features;
* ``"gp"``: a GP's latent variance (GP-EI);
* ``"mc_dropout"``: the variance over dropout masks (MC-dropout-EI);
* ``"ensemble"``: the variance over ensemble members (ensemble-EI);

or they pick points at random (``"random"``). Optionally the search is confined to a TuRBO
trust region (Eriksson et al. 2019, NeurIPS), as in the authors' Ackley runs.

Design: every step of every seed has the same array shapes. The evaluated points live in
padded buffers ``X (max_n, d)``, ``y (max_n,)`` with ``n`` valid rows; GPs mask the other
rows out of their kernels, networks train with masked mini-batches for a fixed number of
steps, DEUP's error buffer is padded the same way. One step is a pure function of the
state; ``lax.scan`` runs a chunk of steps, ``vmap`` runs the seeds side by side, and the
jitted chunk program is called ``steps / chunk`` times (a progress bar advances in
between). Programs are cached on the (hashable) settings, so a second run with the same
settings compiles nothing.

One step ``t`` of DEUP (the authors' order, ``D_t`` the data so far):

1. fit the GP of the variance feature on ``D_t`` and refit ``f`` on ``D_t`` (warm start);
2. if ``t > 0`` add ``(phi(x_{t-1}), log (f(x_{t-1}) - y_{t-1})^2)`` under the refit ``f``;
3. fit the error GP ``e`` on the buffer;
4. maximise EI under ``N(f(x), exp(clip(e, -20, 3)) + 1e-6)`` with ``y* = max y``;
5. evaluate ``y_t``; add ``(phi(x_t), log (f(x_t) - y_t)^2)``: ``f`` has not seen ``x_t``,
   so this target is out of sample;
6. append ``(x_t, y_t)`` to ``D``.

Before step 0 the buffer is pre-filled from the initial design by K-fold splits (see
:func:`bayesuq.models.deup.targets.fold_masks`): per split, a copy of the untrained ``f``
trained on the other folds, features of that training set, targets at all initial points.
"""

from __future__ import annotations

import functools
import math
import time
from collections.abc import Callable
from dataclasses import dataclass, field, replace
from typing import Any

import jax
import jax.numpy as jnp
import numpy as np
import optax

from bayesuq.infer.arguments import check_choice, check_int, check_positive
from bayesuq.infer.loop import chunk_length, run_in_chunks
from bayesuq.infer.results import result_attrs
from bayesuq.models.deup.acquisition import (
    expected_improvement,
    maximize_acquisition,
    upper_confidence_bound,
)
from bayesuq.models.deup.blas import single_blas_thread
from bayesuq.models.deup.features import (
    check_features,
    domain_sample,
    feature_model,
    feature_width,
    features,
    needs_gp,
)
from bayesuq.models.deup.functions import TestFunction, get_function
from bayesuq.models.deup.gp import (
    TURBO_GP,
    GPConfig,
    fit_gp,
    fixed_rbf_posterior,
    gp_posterior,
    init_gp_params,
    lengthscales,
)
from bayesuq.models.deup.networks import (
    dropout_moments,
    ensemble_moments,
    forward,
    max_batches,
    train_epochs,
    train_steps,
)
from bayesuq.models.deup.targets import fold_masks, log_squared_error
from bayesuq.nn import mlp
from bayesuq.precision import computing_in, resolve_precision

__all__ = ["ACQUISITIONS", "SURROGATES", "SMOSettings", "optimize", "smo_programs"]

SURROGATES = ("deup", "gp", "mc_dropout", "ensemble", "random")
"""Surrogates of :func:`optimize`."""
ACQUISITIONS = ("ei", "ucb")
"""Acquisition functions of :func:`optimize`."""

STEP_TARGET_FLOOR = -10.0
PREFILL_TARGET_FLOOR = -20.0
LOG_U_RANGE = (-20.0, 3.0)
U_JITTER = 1e-6


@dataclass(frozen=True)
class SMOSettings:
    """Every static setting of an optimisation run (hashable: the key of compiled programs).

    See :func:`optimize` for their meaning; defaults follow Lahlou et al.'s code.
    """

    objective: Any
    surrogate: str = "deup"
    acquisition: str = "ei"
    trust_region: bool = False
    predictor: str = "mlp"
    features: tuple[str, ...] = ("x", "raw_variance")
    error_model: str = "gp_fixed"
    n_init: int = 6
    steps: int = 50
    chunk: int = 10
    standardize: bool = False
    hidden: tuple[int, ...] = (128, 128, 128, 128)
    learning_rate: float = 1e-3
    fit_steps: int = 200
    batch: int = 16
    warm_start: bool = True
    folds: int = 2
    repeats: int = 2
    prefill_steps: int = 300
    prefill_learning_rate: float = 1e-4
    dropout: float = 0.3
    passes: int = 100
    members: int = 3
    epochs: int = 200
    raw_samples: int = 1000
    restarts: int = 10
    iterations: int = 50
    ucb_beta: float = 2.0
    gp: GPConfig = field(default_factory=GPConfig)
    error_gp: GPConfig = field(default_factory=GPConfig)
    domain_points: int = 1000
    length_init: float = 0.8
    length_max: float = 1.6
    success_tolerance: int = 10
    precision: str = "float64"
    fast_compile: bool = False

    @property
    def dim(self) -> int:
        return len(self.objective.lower)

    @property
    def calls(self) -> int:
        return -(-self.steps // self.chunk)

    @property
    def max_n(self) -> int:
        return self.n_init + self.calls * self.chunk

    @property
    def prefill_size(self) -> int:
        return self.folds * self.repeats * self.n_init

    @property
    def buffer_size(self) -> int:
        return self.prefill_size + 2 * self.calls * self.chunk

    @property
    def failure_tolerance(self) -> int:
        return math.ceil(max(4.0, float(self.dim)))

    @property
    def uses_network(self) -> bool:
        return self.surrogate in ("mc_dropout", "ensemble") or (
            self.surrogate == "deup" and self.predictor == "mlp"
        )

    @property
    def uses_gp(self) -> bool:
        return self.surrogate == "gp" or (
            self.surrogate == "deup" and (self.predictor == "gp" or needs_gp(self.features))
        )


# ----------------------------------------------------------------------------- pieces


def _network(s: SMOSettings):
    dropout = s.dropout if s.surrogate == "mc_dropout" else 0.0
    return mlp((s.dim, *s.hidden, 1), activation="relu", dropout=dropout, dtype=jnp.float32)


def _bounds(s: SMOSettings, dtype) -> tuple[jax.Array, jax.Array]:
    """Raw box of the objective."""
    return jnp.asarray(s.objective.lower, dtype), jnp.asarray(s.objective.upper, dtype)


def _model_box(s: SMOSettings, dtype) -> tuple[jax.Array, jax.Array]:
    """The box of model space: the unit cube with a trust region, else the raw box."""
    if s.trust_region:
        return jnp.zeros(s.dim, dtype), jnp.ones(s.dim, dtype)
    return _bounds(s, dtype)


def _to_raw(s: SMOSettings, x: jax.Array) -> jax.Array:
    if not s.trust_region:
        return x
    lower, upper = _bounds(s, x.dtype)
    return lower + (upper - lower) * x


def _evaluate(s: SMOSettings, x_model: jax.Array) -> jax.Array:
    return jnp.asarray(s.objective(_to_raw(s, x_model)), x_model.dtype)


def _standardisation(s: SMOSettings, y: jax.Array, mask: jax.Array):
    """``(mean, sd)`` of the valid ``y`` if ``s.standardize`` else ``(0, 1)``."""
    if not s.standardize:
        return jnp.zeros((), y.dtype), jnp.ones((), y.dtype)
    w = mask.astype(y.dtype)
    n = jnp.maximum(jnp.sum(w), 1.0)
    mean = jnp.sum(w * y) / n
    var = jnp.sum(w * (y - mean) ** 2) / jnp.maximum(n - 1.0, 1.0)
    return mean, jnp.where(var > 0, jnp.sqrt(jnp.where(var > 0, var, 1.0)), 1.0)


def _append(buffer: jax.Array, index: jax.Array, row: jax.Array, add: jax.Array) -> jax.Array:
    """``buffer[index] = row`` where ``add`` (traced), else unchanged."""
    old = buffer[index]
    return buffer.at[index].set(jnp.where(add, row, old))


# ----------------------------------------------------------------------------- fitting


def _fit_main(s: SMOSettings, state: dict, key: jax.Array, domain: jax.Array):
    """Fit the surrogate on ``D_t``; return the new state and a model dict.

    The model dict holds ``mean_s(x)`` / ``var_s(x)`` (standardised units, one point),
    ``f_raw(x)`` (DEUP's predictor in raw units), ``phi(x)`` (DEUP's features),
    ``lengthscales`` (for the trust region), ``y_mean``, ``y_sd``.
    """
    X, y, n = state["X"], state["y"], state["n"]
    mask = jnp.arange(s.max_n) < n
    y_mean, y_sd = _standardisation(s, y, mask)
    y_s = jnp.where(mask, (y - y_mean) / y_sd, 0.0)
    k_f, k_pass = jax.random.split(key)
    model: dict[str, Any] = {
        "y_mean": y_mean,
        "y_sd": y_sd,
        "lengthscales": jnp.ones(s.dim, X.dtype),
    }
    state = dict(state)
    gp_post = None
    if s.uses_gp:
        params = fit_gp(X, y_s, mask, state["gp"], s.gp)
        state["gp"] = params
        gp_post = gp_posterior(params, X, y_s, mask, s.gp)
        model["lengthscales"] = lengthscales(params)
    if s.uses_network:
        net = _network(s)
        optimizer = optax.adam(s.learning_rate)
        if s.warm_start:
            theta, opt_state = state["theta"], state["opt"]
        else:
            theta, opt_state = state["theta0"], optimizer.init(state["theta0"])
        if s.surrogate == "deup":
            theta, opt_state, _ = train_steps(
                net, optimizer, theta, opt_state, X, y_s, mask, k_f,
                steps=s.fit_steps, batch=s.batch,
            )  # fmt: skip
        elif s.surrogate == "mc_dropout":
            batches = max_batches(range(s.n_init, s.max_n + 1), s.batch)
            theta, opt_state, _ = train_epochs(
                net, optimizer, theta, opt_state, X, y_s, mask, k_f,
                epochs=s.epochs, batch=s.batch, batches=batches, dropout=True,
            )  # fmt: skip
        else:  # ensemble: batch n // 2 (the authors' batch_size=64 cap is never reached)
            batch = s.max_n
            batches = max_batches(range(s.n_init, s.max_n + 1), batch)

            def train_member(th, st, k):
                return train_epochs(
                    net, optimizer, th, st, X, y_s, mask, k,
                    epochs=s.epochs, batch=batch, batches=batches,
                )  # fmt: skip

            keys = jax.random.split(k_f, s.members)
            theta, opt_state, _ = jax.vmap(train_member)(theta, opt_state, keys)
        state["theta"], state["opt"] = theta, opt_state

    if s.surrogate == "gp":
        model["mean_s"] = lambda x: gp_post.predict_one(x)[0]
        model["var_s"] = lambda x: gp_post.predict_one(x)[1]
    elif s.surrogate == "mc_dropout":
        keys = jax.random.split(k_pass, s.passes)
        moments = lambda x: dropout_moments(net, theta, x, keys)  # noqa: E731
        model["mean_s"] = lambda x: moments(x)[0]
        model["var_s"] = lambda x: moments(x)[1]
    elif s.surrogate == "ensemble":
        model["mean_s"] = lambda x: ensemble_moments(net, theta, x)[0]
        model["var_s"] = lambda x: ensemble_moments(net, theta, x)[1]
    elif s.surrogate == "deup":
        if s.predictor == "mlp":
            f_s = lambda x: forward(net, theta, x[None, :])[0]  # noqa: E731
        else:
            f_s = lambda x: gp_post.predict_one(x)[0]  # noqa: E731
        fm = feature_model(s.features, X, mask, gp_post if needs_gp(s.features) else None, domain)
        model["f_s"] = f_s
        model["f_raw"] = lambda x: y_mean + y_sd * f_s(x)
        model["phi"] = lambda x: features(s.features, fm, x)
    return state, model


def _fit_error_model(s: SMOSettings, state: dict):
    """Fit ``e`` on the buffer; return the new state and ``e(phi)`` (log raw squared error)."""
    buf_mask = jnp.arange(s.buffer_size) < state["nb"]
    phi, targets = state["buf_phi"], state["buf_t"]
    if s.error_model == "gp_fixed":
        post = fixed_rbf_posterior(phi, targets, buf_mask)
    else:
        params = fit_gp(phi, targets, buf_mask, state["egp"], s.error_gp)
        state = {**state, "egp": params}
        post = gp_posterior(params, phi, targets, buf_mask, s.error_gp)
    return state, lambda features_: post.predict_one(features_)[0]


def _deup_predictive(s: SMOSettings, model: dict, e: Callable):
    """DEUP's predictive in standardised units: ``N(f_s(x), u_s(x) + 1e-6)``.

    ``e`` predicts the log squared error in raw units; in standardised units that is
    ``e - 2 log sd``, clipped to ``[-20, 3]`` as in the authors' code.
    """
    log_sd2 = 2.0 * jnp.log(model["y_sd"])

    def var_s(x):
        log_u = jnp.clip(e(model["phi"](x)) - log_sd2, *LOG_U_RANGE)
        return jnp.exp(log_u) + U_JITTER

    return model["f_s"], var_s


def _target(s: SMOSettings, model: dict, x: jax.Array, y: jax.Array, floor: float):
    """``log (f(x) - y)^2`` in raw units, floored at ``floor`` in standardised units."""
    return log_squared_error(model["f_raw"](x), y, floor + 2.0 * jnp.log(model["y_sd"]))


# ----------------------------------------------------------------------------- one step


def _trust_box(s: SMOSettings, state: dict, model: dict):
    lower, upper = _model_box(s, state["X"].dtype)
    if not s.trust_region:
        return lower, upper
    mask = jnp.arange(s.max_n) < state["n"]
    centre = state["X"][jnp.argmax(jnp.where(mask, state["y"], -jnp.inf))]
    w = model["lengthscales"]
    w = w / jnp.mean(w)
    w = w / jnp.exp(jnp.mean(jnp.log(w)))
    half = 0.5 * w * state["length"]
    return jnp.clip(centre - half, lower, upper), jnp.clip(centre + half, lower, upper)


def _update_trust_region(s: SMOSettings, state: dict, y_new: jax.Array) -> dict:
    """TuRBO's rule: success if ``y_new > best + 1e-3 |best|``; x2 / 0.5 the side length."""
    best = state["best"]
    success = y_new > best + 1e-3 * jnp.abs(best)
    succ = jnp.where(success, state["succ"] + 1, 0)
    fail = jnp.where(success, 0, state["fail"] + 1)
    expand = succ == s.success_tolerance
    shrink = (~expand) & (fail == s.failure_tolerance)
    length = jnp.where(expand, jnp.minimum(2.0 * state["length"], s.length_max), state["length"])
    length = jnp.where(shrink, 0.5 * length, length)
    return {
        **state,
        "length": length,
        "succ": jnp.where(expand, 0, succ),
        "fail": jnp.where(shrink, 0, fail),
    }


def _step(s: SMOSettings, state: dict, domain: jax.Array):
    """One optimisation step of one seed: ``state -> (state, outputs)``."""
    key, k_fit, k_acq, k_rand = jax.random.split(state["key"], 4)
    state = {**state, "key": key}
    n = state["n"]
    dtype = state["X"].dtype

    if s.surrogate == "random":
        model = {"lengthscales": jnp.ones(s.dim, dtype)}
        lower, upper = _trust_box(s, state, model)
        x_new = lower + (upper - lower) * jax.random.uniform(k_rand, (s.dim,), dtype)
    else:
        state, model = _fit_main(s, state, k_fit, domain)
        if s.surrogate == "deup":
            x_prev, y_prev = state["X"][n - 1], state["y"][n - 1]
            add = state["t"] > 0
            state["buf_phi"] = _append(state["buf_phi"], state["nb"], model["phi"](x_prev), add)
            target = _target(s, model, x_prev, y_prev, STEP_TARGET_FLOOR)
            state["buf_t"] = _append(state["buf_t"], state["nb"], target, add)
            state["nb"] = state["nb"] + add.astype(state["nb"].dtype)
            state, e = _fit_error_model(s, state)
            mean_s, var_s = _deup_predictive(s, model, e)
        else:
            mean_s, var_s = model["mean_s"], model["var_s"]
        mask = jnp.arange(s.max_n) < n
        best_s = (jnp.max(jnp.where(mask, state["y"], -jnp.inf)) - model["y_mean"]) / model["y_sd"]

        def acquisition(x):
            std = jnp.sqrt(jnp.maximum(var_s(x), 0.0))
            if s.acquisition == "ei":
                return expected_improvement(mean_s(x), std, best_s)
            return upper_confidence_bound(mean_s(x), std, s.ucb_beta)

        lower, upper = _trust_box(s, state, model)
        x_new, _ = maximize_acquisition(
            acquisition, k_acq, lower, upper,
            raw_samples=s.raw_samples, restarts=s.restarts, iterations=s.iterations,
        )  # fmt: skip

    y_new = _evaluate(s, x_new)
    if s.surrogate == "deup":
        state["buf_phi"] = _append(state["buf_phi"], state["nb"], model["phi"](x_new), True)
        target = _target(s, model, x_new, y_new, STEP_TARGET_FLOOR)
        state["buf_t"] = _append(state["buf_t"], state["nb"], target, True)
        state["nb"] = state["nb"] + 1
    if s.trust_region:
        state = _update_trust_region(s, state, y_new)
    state["X"] = state["X"].at[n].set(x_new)
    state["y"] = state["y"].at[n].set(y_new)
    state["n"] = n + 1
    state["t"] = state["t"] + 1
    state["best"] = jnp.maximum(state["best"], y_new)
    outputs = {"best": state["best"], "x": _to_raw(s, x_new), "y": y_new}
    if s.trust_region:
        outputs["length"] = state["length"]
    return state, outputs


# ----------------------------------------------------------------------------- start


def _prefill(s: SMOSettings, state: dict, key: jax.Array, domain: jax.Array) -> dict:
    """DEUP's buffer from the initial design: K-fold splits, targets at all initial points."""
    X, y = state["X"], state["y"]
    valid = jnp.arange(s.max_n) < s.n_init
    y_mean, y_sd = _standardisation(s, y, valid)
    y_s = jnp.where(valid, (y - y_mean) / y_sd, 0.0)
    k_split, k_train = jax.random.split(key)
    train = fold_masks(k_split, s.n_init, s.folds, s.repeats)  # (R K, n_init)
    train = jnp.pad(train, ((0, 0), (0, s.max_n - s.n_init)))
    X0, y0 = X[: s.n_init], y[: s.n_init]

    def one_split(mask, k):
        gp_post = None
        if s.uses_gp:
            params = fit_gp(X, y_s, mask, init_gp_params(s.dim, s.gp), s.gp)
            gp_post = gp_posterior(params, X, y_s, mask, s.gp)
        if s.predictor == "mlp":
            net = _network(s)
            optimizer = optax.adam(s.prefill_learning_rate)
            theta0 = state["theta0"]
            theta, _, _ = train_steps(
                net, optimizer, theta0, optimizer.init(theta0), X, y_s, mask, k,
                steps=s.prefill_steps, batch=None,
            )  # fmt: skip
            f_s = lambda x: forward(net, theta, x)  # noqa: E731
        else:
            f_s = lambda x: gp_post.predict(x)[0]  # noqa: E731
        fm = feature_model(s.features, X, mask, gp_post if needs_gp(s.features) else None, domain)
        phi = jax.vmap(lambda x: features(s.features, fm, x))(X0)
        floor = PREFILL_TARGET_FLOOR + 2.0 * jnp.log(y_sd)
        targets = log_squared_error(y_mean + y_sd * f_s(X0), y0, floor)
        return phi, targets

    keys = jax.random.split(k_train, train.shape[0])
    phi, targets = jax.vmap(one_split)(train, keys)
    p = feature_width(s.features, s.dim)
    buf_phi = (
        jnp.zeros((s.buffer_size, p), X.dtype)
        .at[: s.prefill_size]
        .set(phi.reshape(s.prefill_size, p))
    )
    buf_t = (
        jnp.zeros((s.buffer_size,), X.dtype)
        .at[: s.prefill_size]
        .set(targets.reshape(s.prefill_size))
    )
    return {**state, "buf_phi": buf_phi, "buf_t": buf_t, "nb": jnp.asarray(s.prefill_size)}


def _start(s: SMOSettings, X0: jax.Array, key: jax.Array, domain: jax.Array) -> dict:
    """The state before step 0 of one seed (initial design ``X0`` in model space)."""
    dtype = X0.dtype
    y0 = jax.vmap(lambda x: _evaluate(s, x))(X0)
    X = jnp.zeros((s.max_n, s.dim), dtype).at[: s.n_init].set(X0)
    y = jnp.zeros((s.max_n,), dtype).at[: s.n_init].set(y0)
    k_net, k_pre, k_run = jax.random.split(key, 3)
    state: dict[str, Any] = {
        "X": X,
        "y": y,
        "n": jnp.asarray(s.n_init),
        "t": jnp.asarray(0),
        "key": k_run,
        "best": jnp.max(y0),
    }
    if s.uses_gp:
        state["gp"] = init_gp_params(s.dim, s.gp)
    if s.uses_network:
        net = _network(s)
        optimizer = optax.adam(s.learning_rate)
        if s.surrogate == "ensemble":
            theta0 = jax.vmap(net.init)(jax.random.split(k_net, s.members))
            opt = jax.vmap(optimizer.init)(theta0)
        else:
            theta0 = net.init(k_net)
            opt = optimizer.init(theta0)
        state.update(theta0=theta0, theta=theta0, opt=opt)
    if s.surrogate == "deup":
        if s.error_model == "gp":
            state["egp"] = init_gp_params(feature_width(s.features, s.dim), s.error_gp)
        state = _prefill(s, state, k_pre, domain)
    if s.trust_region:
        state.update(
            length=jnp.asarray(s.length_init, dtype), succ=jnp.asarray(0), fail=jnp.asarray(0)
        )
    # Strong types throughout: a weakly typed leaf would come back strongly typed from the
    # chunk program and make its second call compile again.
    return jax.tree.map(lambda a: jnp.asarray(a, jnp.asarray(a).dtype), state)


# ----------------------------------------------------------------------------- programs


@functools.lru_cache(maxsize=32)
def smo_programs(s: SMOSettings) -> tuple[Callable, Callable]:
    """The two compiled programs of a run: ``start(X0, keys, domain)`` and ``chunk(state, domain)``.

    ``start`` evaluates the initial designs and pre-fills DEUP's buffer; ``chunk`` runs
    ``s.chunk`` steps. Both are ``vmap``-ed over seeds and jitted; cached on ``s``, so
    equal settings share them (no recompilation when the same loop runs again).
    """
    options = {"xla_backend_optimization_level": 0} if s.fast_compile else None
    start = jax.jit(
        jax.vmap(functools.partial(_start, s), in_axes=(0, 0, None)), compiler_options=options
    )

    def chunk(state, domain):
        def body(st, _):
            return _step(s, st, domain)

        return jax.lax.scan(body, state, None, length=s.chunk)

    run = jax.jit(jax.vmap(chunk, in_axes=(0, None), out_axes=(0, 0)), compiler_options=options)
    return start, run


# ----------------------------------------------------------------------------- public


def _initial_designs(s: SMOSettings, seeds: int, seed: int) -> np.ndarray:
    """Per-seed initial designs in model space: uniform, or scrambled Sobol with a trust region."""
    from scipy.stats import qmc

    designs = []
    for i in range(seeds):
        rng = np.random.default_rng([seed, i])
        if s.trust_region:
            m = max(math.ceil(math.log2(s.n_init)), 0)  # a power of 2 keeps Sobol's balance
            designs.append(qmc.Sobol(s.dim, scramble=True, seed=rng).random_base2(m)[: s.n_init])
        else:
            lower, upper = np.asarray(s.objective.lower), np.asarray(s.objective.upper)
            designs.append(lower + (upper - lower) * rng.uniform(size=(s.n_init, s.dim)))
    return np.stack(designs)


def _check_objective(objective) -> TestFunction:
    if isinstance(objective, str):
        return get_function(objective)
    if isinstance(objective, TestFunction):
        return objective
    raise TypeError(
        "objective must be a TestFunction (e.g. MULTI_OPTIMA, LEVI_N13, ackley(2)) or its "
        f"name, got {type(objective).__name__}"
    )


def _settings(objective, **options) -> SMOSettings:
    """Check the user's options and fill the defaults of the reference pipelines."""
    objective = _check_objective(objective)
    surrogate = check_choice("surrogate", options.pop("surrogate"), SURROGATES)
    acquisition = check_choice("acquisition", options.pop("acquisition"), ACQUISITIONS)
    trust_region = options.pop("trust_region")
    if not isinstance(trust_region, bool):
        raise TypeError(f"trust_region must be True or False, got {trust_region!r}")
    predictor = options.pop("predictor")
    if predictor is None:
        predictor = "gp" if trust_region else "mlp"
    check_choice("predictor", predictor, ("mlp", "gp"))
    feats = options.pop("features")
    if feats is None:
        feats = ("variance",) if predictor == "gp" else ("x", "raw_variance")
    feats = check_features(feats)
    error_model = options.pop("error_model")
    if error_model is None:
        error_model = "gp" if predictor == "gp" else "gp_fixed"
    check_choice("error_model", error_model, ("gp_fixed", "gp"))
    steps = check_int("steps", options.pop("steps"), minimum=1)
    n_init = check_int("n_init", options.pop("n_init"), minimum=2)
    folds = check_int("folds", options.pop("folds"), minimum=2)
    if folds > n_init:
        raise ValueError(f"folds must be <= n_init = {n_init}, got {folds}")
    hidden = tuple(check_int("hidden", h, minimum=1) for h in options.pop("hidden"))
    if surrogate == "random" and trust_region:
        raise ValueError("surrogate='random' has no model to centre a trust region on")
    precision = resolve_precision(options.pop("precision"), "float64")
    for name in ("fit_steps", "passes", "members", "epochs", "raw_samples", "restarts"):
        check_int(name, options[name], minimum=1)
    check_int("repeats", options["repeats"], minimum=1)
    check_int("iterations", options["iterations"], minimum=0)
    check_positive("learning_rate", options["learning_rate"])
    check_positive("ucb_beta", options["ucb_beta"])
    if not 0.0 <= options["dropout"] < 1.0:
        raise ValueError(f"dropout must be in [0, 1), got {options['dropout']!r}")
    if surrogate == "mc_dropout" and options["dropout"] == 0.0:
        raise ValueError("surrogate='mc_dropout' needs dropout > 0")
    if options["restarts"] > options["raw_samples"]:
        raise ValueError(
            f"restarts must be <= raw_samples = {options['raw_samples']}, got {options['restarts']}"
        )
    gp = TURBO_GP if predictor == "gp" or trust_region else GPConfig()
    chunk = chunk_length(steps, target_chunks=max(1, min(10, steps // 5)))
    return SMOSettings(
        objective=objective,
        surrogate=surrogate,
        acquisition=acquisition,
        trust_region=trust_region,
        predictor=predictor,
        features=feats,
        error_model=error_model,
        n_init=n_init,
        steps=steps,
        chunk=chunk,
        standardize=trust_region,
        hidden=hidden,
        folds=folds,
        gp=gp,
        precision=precision,
        **options,
    )


def optimize(
    objective: TestFunction | str,
    *,
    surrogate: str = "deup",
    acquisition: str = "ei",
    trust_region: bool = False,
    steps: int = 50,
    n_init: int = 6,
    seeds: int = 5,
    seed: int = 0,
    progress: bool = True,
    predictor: str | None = None,
    features: tuple[str, ...] | None = None,
    error_model: str | None = None,
    folds: int = 2,
    repeats: int = 2,
    hidden: tuple[int, ...] = (128, 128, 128, 128),
    learning_rate: float = 1e-3,
    fit_steps: int = 200,
    warm_start: bool = True,
    dropout: float = 0.3,
    passes: int = 100,
    members: int = 3,
    epochs: int = 200,
    raw_samples: int = 1000,
    restarts: int = 10,
    iterations: int = 50,
    ucb_beta: float = 2.0,
    precision: str | None = None,
    fast_compile: bool = False,
):
    """Maximise a test function by sequential model optimisation, ``seeds`` runs at once.

    Lahlou et al. (2023), "DEUP: Direct Epistemic Uncertainty Prediction", TMLR, Section
    5.1: at each step fit the surrogate to the data ``D_t``, maximise the acquisition
    (expected improvement ``EI(x) = s phi(z) + (mu - y*) Phi(z)``, ``z = (mu - y*) / s``,
    or ``UCB = mu + sqrt(beta) s``) under the surrogate's predictive ``N(mu(x), s(x)^2)``,
    evaluate the objective there and append. The steps of all seeds run as one compiled
    program (see the module docstring of :mod:`bayesuq.models.deup.smo`).

    Parameters
    ----------
    objective
        A :class:`~bayesuq.models.deup.functions.TestFunction` (``MULTI_OPTIMA``,
        ``LEVI_N13``, ``ackley(d)``) or its name.
    surrogate
        ``"deup"``, ``"gp"``, ``"mc_dropout"``, ``"ensemble"`` or ``"random"``.
    acquisition
        ``"ei"`` (closed form) or ``"ucb"``.
    trust_region
        TuRBO trust regions (Eriksson et al. 2019) as in the authors' Ackley runs: inputs
        scaled to ``[0, 1]^d``, ``y`` standardised for the models, scrambled-Sobol initial
        design, a box of side ``L w`` around the best point (``w`` the GP lengthscales over
        their geometric mean; ``L_0 = 0.8``, ``L_max = 1.6``), doubled after 10 successes
        in a row, halved after ``ceil(max(4, d))`` failures (success: a gain over
        ``1e-3 |best|``), never restarted.
    steps
        Evaluations after the initial design.
    n_init
        Size of the initial design (6 in the paper's SMO runs, 20 in its TuRBO runs).
    seeds
        Independent runs (``vmap``-ed); seed ``i`` uses ``numpy.random.default_rng([seed, i])``
        for its initial design and ``fold_in(PRNGKey(seed), i)`` for everything else.
    seed
        Base integer seed.
    progress
        Show a progress bar over chunks of steps.
    predictor
        DEUP's main predictor: ``"mlp"`` (the paper's SMO runs; default without a trust
        region) or ``"gp"`` (its TuRBO runs; default with one).
    features
        DEUP's features (:data:`~bayesuq.models.deup.features.FEATURES`); default
        ``("x", "raw_variance")`` for an MLP predictor (the paper's SMO runs), ``("variance",)``
        for a GP (its TuRBO runs used the log variance unscaled; here MinMax-scaled).
    error_model
        DEUP's error predictor: ``"gp_fixed"`` (RBF GP with fixed unit hyperparameters, the
        SMO runs; default for an MLP predictor) or ``"gp"`` (Matern-5/2 GP with MAP
        hyperparameters, the TuRBO runs; default for a GP predictor).
    folds, repeats
        DEUP's pre-fill: ``repeats`` random ``folds``-fold partitions of the initial design.
    hidden
        Hidden widths of the MLPs (the paper: four ReLU layers of 128).
    learning_rate, fit_steps, warm_start
        Adam step size of the networks; DEUP's predictor takes ``fit_steps`` mini-batch
        steps per refit (batch ``min(16, n // 2)``), continuing from the previous step's
        weights and optimiser state if ``warm_start`` (as the authors), else from scratch.
    dropout, passes
        MC-dropout rate and number of dropout masks.
    members
        Ensemble size.
    epochs
        Training epochs per refit of the MC-dropout and ensemble baselines.
    raw_samples, restarts, iterations
        Acquisition maximisation: raw samples scored, starting points refined, Adam
        iterations from each.
    ucb_beta
        ``beta`` of UCB.
    precision
        ``"float64"`` (default: GPs and EI need it) or ``"float32"``; networks always
        compute in float32.
    fast_compile
        Compile with XLA's backend optimisations off: about 2.5 times less compile time
        and 2-3 times slower steps (for short runs and smoke tests).

    Returns
    -------
    xarray.Dataset
        ``best (seed, step)``: the best value found after each step (step 0: the best
        initial value); ``regret (seed, step)``: ``optimum - best``; ``x (seed,
        evaluation, dim)`` and ``y (seed, evaluation)``: every evaluation in order (the
        coordinate ``initial`` flags the initial design); ``trust_region_length (seed,
        step)`` with a trust region. ``attrs`` hold the settings, the seed, provenance and
        timings (``compile_seconds`` is the first chunk's extra time).

    Examples
    --------
    >>> from bayesuq.models.deup import MULTI_OPTIMA, optimize
    >>> result = optimize(MULTI_OPTIMA, surrogate="deup", steps=50, seeds=5)  # doctest: +SKIP
    >>> result.best.isel(step=-1).mean("seed")  # doctest: +SKIP
    """
    seeds = check_int("seeds", seeds, minimum=1)
    seed = check_int("seed", seed, minimum=0)
    s = _settings(
        objective,
        surrogate=surrogate,
        acquisition=acquisition,
        trust_region=trust_region,
        predictor=predictor,
        features=features,
        error_model=error_model,
        steps=steps,
        n_init=n_init,
        folds=folds,
        repeats=repeats,
        hidden=hidden,
        learning_rate=float(learning_rate),
        fit_steps=fit_steps,
        warm_start=bool(warm_start),
        dropout=float(dropout),
        passes=passes,
        members=members,
        epochs=epochs,
        raw_samples=raw_samples,
        restarts=restarts,
        iterations=iterations,
        ucb_beta=float(ucb_beta),
        precision=precision,
        fast_compile=bool(fast_compile),
    )
    return run_settings(s, seeds=seeds, seed=seed, progress=progress)


def run_settings(s: SMOSettings, *, seeds: int, seed: int, progress: bool = False):
    """Run the programs of ``s`` for ``seeds`` seeds; the result of :func:`optimize`."""
    import xarray as xr

    t0 = time.perf_counter()
    designs = _initial_designs(s, seeds, seed)
    with computing_in(s.precision), single_blas_thread():
        dtype = jnp.result_type(float)
        lower, upper = _model_box(s, dtype)
        domain = jnp.asarray(
            domain_sample(np.asarray(lower), np.asarray(upper), points=s.domain_points), dtype
        )
        keys = jax.vmap(lambda i: jax.random.fold_in(jax.random.PRNGKey(seed), i))(
            jnp.arange(seeds)
        )
        start, run = smo_programs(s)
        state = start(jnp.asarray(designs, dtype), keys, domain)
        y0 = np.asarray(state["y"][:, : s.n_init])
        t_start = time.perf_counter()
        chunk_times: list[float] = []

        def program(st, dom):
            t = time.perf_counter()
            st, out = run(st, dom)
            jax.block_until_ready(out)
            chunk_times.append(time.perf_counter() - t)
            return st, out

        state, outputs = run_in_chunks(
            program, state, domain, total=s.steps, chunk=s.chunk, progress=progress,
            desc=f"{s.surrogate}-{s.acquisition} on {s.objective.name}",
        )  # fmt: skip
    out = {k: np.concatenate([np.asarray(o[k]) for o in outputs], axis=1)[:, : s.steps]
           for k in outputs[0]}  # fmt: skip
    total = time.perf_counter() - t0
    steady = float(np.median(chunk_times[1:])) if len(chunk_times) > 1 else chunk_times[0]
    best0 = y0.max(axis=1)
    best = np.concatenate([best0[:, None], out["best"]], axis=1)
    x_init = designs if not s.trust_region else (
        np.asarray(s.objective.lower) + (np.asarray(s.objective.upper)
                                         - np.asarray(s.objective.lower)) * designs
    )  # fmt: skip
    x_all = np.concatenate([x_init, out["x"]], axis=1)
    y_all = np.concatenate([y0, out["y"]], axis=1)
    n_eval = s.n_init + s.steps
    data = {
        "best": (("seed", "step"), best),
        "regret": (("seed", "step"), s.objective.optimum - best),
        "x": (("seed", "evaluation", "dim"), x_all),
        "y": (("seed", "evaluation"), y_all),
    }
    if s.trust_region:
        length = np.concatenate([np.full((seeds, 1), s.length_init), out["length"]], axis=1)
        data["trust_region_length"] = (("seed", "step"), length)
    attrs = {
        "estimator": "deup.optimize",
        "function": s.objective.name,
        "optimum": s.objective.optimum,
        "seconds_per_step": steady / s.chunk,
        **{
            k: (",".join(v) if isinstance(v, tuple) and k == "features" else v)
            for k, v in _public_settings(s).items()
        },
    }
    timings = {
        "total": total,
        "compile": max(chunk_times[0] - steady, 0.0) + (t_start - t0),
        "sampling": sum(chunk_times),
    }
    dataset = xr.Dataset(
        data,
        coords={
            "seed": np.arange(seeds),
            "step": np.arange(s.steps + 1),
            "evaluation": np.arange(n_eval),
            "dim": np.arange(s.dim),
            "initial": ("evaluation", np.arange(n_eval) < s.n_init),
        },
    )
    dataset.attrs = result_attrs(inference="deup", seed=seed, timings=timings, attrs=attrs)
    return dataset


def _public_settings(s: SMOSettings) -> dict[str, Any]:
    skip = {"objective", "gp", "error_gp"}
    out = {k: getattr(s, k) for k in s.__dataclass_fields__ if k not in skip}
    out["hidden"] = "-".join(map(str, s.hidden))
    out["gp_noise_bounds"] = str(s.gp.noise_bounds)
    return out


def with_settings(s: SMOSettings, **changes) -> SMOSettings:
    """A copy of ``s`` with some fields changed (for benchmarks and tests)."""
    return replace(s, **changes)
