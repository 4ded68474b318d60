"""The generic predictive-resampling engine, its convergence check and its results.

Predictive resampling (Fong, Holmes & Walker 2023, "Martingale posterior distributions",
JRSS B 85(5), Section 2; arXiv:2103.15671): starting from the one-step predictive ``P_n`` of
the data ``y_{1:n}``, draw ``Y_{k} ~ P_{k-1}`` and update ``P_{k-1} -> P_k`` for
``k = n+1, ..., n+T``, then record ``theta(P_{n+T})``. Over ``B`` independent forward
paths the draws ``theta(P_{n+T})`` approximate the martingale posterior, the law of
``theta(P_infinity)``.

A model enters as three pure pieces:

* ``state0``: a pytree, the predictive state ``P_n`` at the evaluation points;
* ``step(params, state, key, k) -> state``: draw ``Y_k ~ P_{k-1}`` with ``key`` and update
  (``k`` is the 1-based index of the new observation, a traced integer);
* ``functional(params, state) -> {name: array}``: the quantities ``theta(P)`` to record.

``params`` is a pytree of arrays passed as an argument (not compiled in), so refitting with
new values of the same shapes re-uses the compiled program. ``step`` and ``functional``
must be hashable (module-level functions), since they are static arguments of ``jax.jit``.
The ``B`` paths run as ``vmap`` over ``lax.scan``; no trajectory is stored (memory is that of
``chunk`` states), and ``B`` is cut into equal chunks (the last one padded) so that every
chunk calls the same compiled program.

Every result is built by :func:`martingale_result` through the results front door
(:func:`bayesuq.infer.results.inference_data`) with ``inference="martingale"`` (or
``"bayesian_bootstrap"``) and the estimator's name in ``attrs["estimator"]``, and carries
the convergence figure of predictive resampling (:func:`convergence_summary`).
"""

from __future__ import annotations

import time
from collections.abc import Callable, Mapping, Sequence
from typing import Any

import arviz as az
import jax
import jax.numpy as jnp
import numpy as np

from bayesuq.infer.arguments import check_int, check_positive
from bayesuq.infer.results import inference_data

Step = Callable[[Any, Any, jax.Array, jax.Array], Any]
Functional = Callable[[Any, Any], Mapping[str, jax.Array]]


INIT_KEY_INDEX = 2**31 - 1


def _start_state(initialize, params, state0, key):
    """Per-path start: ``initialize(params, state0, key)`` (e.g. Dirichlet weights of x)."""
    if initialize is None:
        return state0
    return initialize(params, state0, jax.random.fold_in(key, INIT_KEY_INDEX))


DISTANCE_KEYS = ("__distance_half", "__distance_full")
"""Extra outputs of a path when a ``distance`` is given: ``d(P_{n+T/2}, P_n)``, ``d(P_N, P_n)``."""


def _forward(step, functional, distance, initialize, steps, params, state0, key, start):
    """One forward path: ``steps`` updates from ``state0``, then the functional.

    With a ``distance``, the path also returns ``distance(params, P_k, P_n)`` at
    ``k = n + T//2`` and ``k = n + T`` (the scan runs in two halves), for the convergence
    figure at no extra compilation.
    """
    first = _start_state(initialize, params, state0, key)

    def body(state, t):
        return step(params, state, jax.random.fold_in(key, t), start + t + 1), None

    half = steps // 2
    middle, _ = jax.lax.scan(body, first, jnp.arange(half))
    state, _ = jax.lax.scan(body, middle, jnp.arange(half, steps))
    out = dict(functional(params, state))
    if distance is not None:
        out[DISTANCE_KEYS[0]] = distance(params, middle, state0)
        out[DISTANCE_KEYS[1]] = distance(params, state, state0)
    return out


def _run_chunk_impl(step, functional, distance, initialize, steps, params, state0, keys, start):
    """``vmap`` of :func:`_forward` over the per-path ``keys``."""

    def path(key):
        return _forward(step, functional, distance, initialize, steps, params, state0, key, start)

    return jax.vmap(path)(keys)


run_chunk = jax.jit(_run_chunk_impl, static_argnums=(0, 1, 2, 3, 4))
"""The compiled chunk program: ``vmap`` over per-draw keys of a ``lax.scan`` forward path."""


def predictive_resample(
    step: Step,
    functional: Functional,
    params: Any,
    state0: Any,
    *,
    key: jax.Array,
    steps: int,
    draws: int,
    start: int,
    chunk: int = 256,
    initialize: Callable[[Any, Any, jax.Array], Any] | None = None,
    distance: Callable[[Any, Any, Any], jax.Array] | None = None,
) -> dict[str, np.ndarray]:
    """Forward-sample ``draws`` paths of ``steps`` predictive updates; pure in ``key``.

    Parameters
    ----------
    step, functional
        The one-step update ``step(params, state, key, k)`` and the recorded
        ``functional(params, state)``, both pure and hashable (see the module docstring).
    params, state0
        Pytrees of arrays: fixed parameters (e.g. the copula's rho) and ``P_n``.
    key
        PRNG key; draw ``b`` uses ``split(key, draws)[b]``, so the draws do not depend on
        ``chunk``.
    steps
        ``T``, the number of forward steps (``N = n + T``).
    draws
        ``B``, the number of forward paths.
    start
        ``n``: the first forward observation has index ``k = n + 1``.
    chunk
        Paths per compiled call; memory is ``O(chunk x size of state)``.
    initialize
        Optional hashable ``initialize(params, state0, key) -> state``, run once per path
        before the first step (e.g. to draw Bayesian-bootstrap weights of the covariates).
    distance
        Optional hashable ``distance(params, state, state0) -> scalar``; each path then
        also returns it at ``T//2`` and ``T`` (keys :data:`DISTANCE_KEYS`).

    Returns
    -------
    dict
        ``name -> array (draws, ...)`` of the functional, as NumPy arrays.
    """
    steps = check_int("steps", steps, minimum=0)
    draws = check_int("draws", draws, minimum=1)
    chunk = min(check_int("chunk", chunk, minimum=1), draws)
    keys = jax.random.split(key, draws)
    pieces: list[dict[str, np.ndarray]] = []
    start_arr = jnp.asarray(start, dtype=jnp.int32)
    for lo in range(0, draws, chunk):
        part = keys[lo : lo + chunk]
        size = part.shape[0]
        if size < chunk:  # pad so that every call has the compiled shape
            part = jnp.concatenate([part, keys[: chunk - size]])
        out = run_chunk(
            step, functional, distance, initialize, steps, params, state0, part, start_arr
        )
        pieces.append({k: np.asarray(v)[:size] for k, v in out.items()})
    return {k: np.concatenate([p[k] for p in pieces]) for k in pieces[0]}


def _trace_impl(step, distance, initialize, steps, params, state0, keys, start):
    """Mean over paths (one per key) of ``distance(params, P_k, P_n)`` at every step."""

    def one(key):
        first = _start_state(initialize, params, state0, key)

        def body(state, t):
            state = step(params, state, jax.random.fold_in(key, t), start + t + 1)
            return state, distance(params, state, state0)

        _, trace = jax.lax.scan(body, first, jnp.arange(steps))
        return trace

    return jax.vmap(one)(keys).mean(axis=0)


convergence_program = jax.jit(_trace_impl, static_argnums=(0, 1, 2, 3))
"""The compiled convergence trace: ``vmap`` over a few paths of a ``lax.scan``."""

CONVERGENCE_THRESHOLD = 0.1
"""Default threshold of ``convergence_relative_change`` (Fong, Holmes & Walker 2023, Sec. 4)."""
CONVERGENCE_PATHS = 8
"""Paths averaged by the convergence trace (one path's distance is noisy)."""


def convergence_trace(
    step: Step,
    distance: Callable[[Any, Any, Any], jax.Array],
    params: Any,
    state0: Any,
    *,
    key: jax.Array,
    steps: int,
    start: int,
    initialize: Callable[[Any, Any, jax.Array], Any] | None = None,
    paths: int = CONVERGENCE_PATHS,
) -> np.ndarray:
    """``d_k = mean over paths of distance(params, P_k, P_n)`` for ``k = n+1..n+steps``.

    The paper's convergence check (Fong, Holmes & Walker 2023, Section 4): the distance,
    e.g. ``mean |p_k - p_n|`` over the evaluation points, levels off as ``P_k`` converges;
    nothing but this scalar is stored per step. ``paths`` independent forward paths
    (keys ``split(key, paths)``) are averaged so that the levelling-off is not hidden by
    one path's noise.
    """
    steps = check_int("steps", steps, minimum=1)
    paths = check_int("paths", paths, minimum=1)
    start_arr = jnp.asarray(start, dtype=jnp.int32)
    keys = jax.random.split(key, paths)
    trace = convergence_program(step, distance, initialize, steps, params, state0, keys, start_arr)
    return np.asarray(trace)


def convergence_summary(
    half: float, final: float, threshold: float = CONVERGENCE_THRESHOLD
) -> dict:
    """Figures for ``attrs`` from the distances ``d(n + T/2)`` and ``d(n + T)`` to ``P_n``.

    ``convergence_relative_change = |d(n + T) - d(n + T/2)| / d(n + T)``. Below
    ``convergence_threshold`` (0.1 by default) the paths have levelled off; above it the
    draws of ``P_N`` are still moving: raise ``steps`` (Fong, Holmes & Walker 2023,
    Section 4: the distance levels off by ``T ~ 10^4``).
    """
    change = abs(final - half) / final if final > 0 else 0.0
    return {
        "convergence_distance": float(final),
        "convergence_relative_change": float(change),
        "convergence_threshold": float(threshold),
    }


def resample_with_convergence_check(
    step: Step,
    functional: Functional,
    distance: Callable[[Any, Any, Any], jax.Array],
    params: Any,
    state0: Any,
    *,
    key: jax.Array,
    steps: int,
    draws: int,
    start: int,
    chunk: int,
    initialize: Callable[[Any, Any, jax.Array], Any] | None = None,
    convergence_steps: int | None = None,
    convergence_threshold: float | None = None,
) -> tuple[dict[str, np.ndarray], dict[str, Any], float]:
    """:func:`predictive_resample` with the convergence figure of its paths.

    ``convergence_steps`` defaults to ``steps``: the check asks whether the draws' own
    ``T`` was long enough, from the mean over all ``B`` paths of the distance to ``P_n`` at
    ``T/2`` and ``T`` (the distance still moves by more than ``convergence_threshold``,
    default 0.1, over the second half: raise ``steps``). Another ``convergence_steps``
    runs :func:`convergence_trace` on a few extra paths of that length.

    Returns
    -------
    (draws of the functional, convergence figures for ``attrs``, seconds spent)
    """
    steps = check_int("steps", steps, minimum=1)
    threshold = (
        CONVERGENCE_THRESHOLD
        if convergence_threshold is None
        else check_positive("convergence_threshold", convergence_threshold)
    )
    trace_steps = check_int(
        "convergence_steps", steps if convergence_steps is None else convergence_steps, minimum=2
    )
    same = trace_steps == steps
    with Timer() as timer:
        out = predictive_resample(
            step,
            functional,
            params,
            state0,
            key=key,
            steps=steps,
            draws=draws,
            start=start,
            chunk=chunk,
            initialize=initialize,
            distance=distance if same else None,
        )
        if same:  # the draws' own paths, at T/2 and T: no extra paths, no extra program
            half, final = (float(np.mean(out.pop(k))) for k in DISTANCE_KEYS)
            paths = draws
        else:
            trace = convergence_trace(
                step,
                distance,
                params,
                state0,
                key=jax.random.fold_in(key, draws),
                steps=trace_steps,
                start=start,
                initialize=initialize,
            )
            half, final = float(trace[trace_steps // 2 - 1]), float(trace[-1])
            paths = CONVERGENCE_PATHS
    figures = convergence_summary(half, final, threshold)
    figures["convergence_steps"] = trace_steps
    figures["convergence_paths"] = paths
    return out, figures, timer.seconds


def martingale_result(
    draws: Mapping[str, np.ndarray],
    *,
    estimator: str,
    seed: int,
    seconds: float,
    attrs: Mapping[str, Any] | None = None,
    dims: Mapping[str, Sequence[str]] | None = None,
    coords: Mapping[str, Any] | None = None,
    constant_data: Mapping[str, np.ndarray] | None = None,
    observed_data: Mapping[str, np.ndarray] | None = None,
    inference: str = "martingale",
) -> az.InferenceData:
    """The ``InferenceData`` of a martingale posterior, through the results front door.

    ``posterior`` dims ``(chain=1, draw=B, ...)`` (the ``B`` forward paths are independent
    draws), ``attrs["inference"] = inference`` (``"martingale"`` or
    ``"bayesian_bootstrap"``), ``attrs["estimator"] = estimator`` and the run's settings;
    every axis after ``draw`` and of the data groups needs a name in ``dims``.
    """
    dims = dict(dims or {})
    for name, value in {**(constant_data or {}), **(observed_data or {})}.items():
        if name not in dims and np.ndim(value) > 0:
            raise ValueError(f"dims for data entry {name!r} are missing; got dims {dims}")
    for name, value in draws.items():
        if name not in dims and np.ndim(value) > 1:
            raise ValueError(f"dims for posterior entry {name!r} are missing; got dims {dims}")
    return inference_data(
        inference=inference,
        seed=seed,
        timings={"sampling": seconds, "total": seconds},
        attrs={"estimator": estimator, **(attrs or {})},
        dims=dims,
        coords=coords,
        posterior={k: np.asarray(v)[None] for k, v in draws.items()},
        constant_data=dict(constant_data or {}),
        observed_data=dict(observed_data or {}),
    )


class Timer:
    """Wall-clock seconds of a block, for ``attrs`` (``with Timer() as t: ...; t.seconds``)."""

    def __enter__(self) -> Timer:
        self._start = time.perf_counter()
        self.seconds = 0.0
        return self

    def __exit__(self, *exc: object) -> None:
        self.seconds = time.perf_counter() - self._start
