"""Robust starting points for MCMC chains.

Each chain is offered ``k`` candidate points drawn, as in Stan, uniformly from
``(-2, 2)`` on the unconstrained scale; the compiled init program keeps the candidate with
the highest log density among those whose potential energy and gradient are finite. A chain
with no finite candidate gets a wider search (:data:`FALLBACK_CANDIDATES` points), and if that
fails too the error names the site whose log density is not finite.
"""

from __future__ import annotations

import warnings
from collections.abc import Callable
from functools import partial
from typing import Any

import jax
import jax.numpy as jnp
import numpy as np
from numpyro import handlers
from numpyro.distributions.transforms import biject_to
from numpyro.infer.initialization import init_to_uniform
from numpyro.infer.util import ParamInfo

from bayesuq.infer.data import PreparedData
from bayesuq.infer.sites import model_call_error

CANDIDATES = 4
FALLBACK_CANDIDATES = 100
INIT_RADIUS = 2.0


def uniform_candidates(key: jax.Array, z_template: Any, chains: int, k: int) -> Any:
    """Draw ``k`` candidates per chain, uniform on ``(-2, 2)`` in every unconstrained coordinate.

    Returns leaves of shape ``(chains, k, *leaf.shape)``.
    """
    leaves, treedef = jax.tree.flatten(z_template)
    keys = jax.random.split(key, len(leaves))
    draws = [
        jax.random.uniform(kk, (chains, k, *leaf.shape), leaf.dtype, -INIT_RADIUS, INIT_RADIUS)
        for kk, leaf in zip(keys, leaves, strict=True)
    ]
    return jax.tree.unflatten(treedef, draws)


class _OutsideSupport(ValueError):
    """A user starting value outside its site's support (raised while tracing)."""


def user_init_unconstrained(
    model: Callable, data: PreparedData, init: dict[str, Any], chains: int
) -> dict[str, np.ndarray]:
    """Map user starting values (constrained scale) to the unconstrained scale.

    ``init[name]`` is either one value for all chains (the site's shape) or one per chain
    (shape ``(chains, *site_shape)``). Each chain's values are substituted into one trace of
    the model and mapped by ``biject_to(support).inv`` as the trace reaches their site, so a
    support that depends on another site uses that site's starting value. Returns
    ``name -> array (chains, *unconstrained)``.
    """
    shapes = {n: tuple(np.shape(v)) for n, v in _trace_with(model, data, {}, {}).items()}
    unknown = sorted(set(init) - set(shapes))
    if unknown:
        raise ValueError(
            f"init has key(s) {unknown} that are not latent sample sites of the model; "
            f"expected a subset of {sorted(shapes)}"
        )
    per_chain: list[dict[str, np.ndarray]] = [{} for _ in range(chains)]
    for name, value in init.items():
        value = np.asarray(value, dtype=np.result_type(float, np.asarray(value).dtype))
        if value.shape == shapes[name]:
            value = np.broadcast_to(value, (chains, *shapes[name]))
        elif value.shape != (chains, *shapes[name]):
            raise ValueError(
                f"init[{name!r}] has shape {value.shape}; expected {shapes[name]} (all chains) "
                f"or {(chains, *shapes[name])} (one per chain)"
            )
        for c in range(chains):
            per_chain[c][name] = value[c]
    rows: list[dict[str, np.ndarray]] = []
    for values in per_chain:
        unconstrained: dict[str, np.ndarray] = {}
        _trace_with(model, data, values, unconstrained)
        rows.append(unconstrained)
    return {name: np.stack([row[name] for row in rows]) for name in init}


def _trace_with(
    model: Callable, data: PreparedData, values: dict[str, Any], unconstrained: dict
) -> dict[str, Any]:
    """One concrete trace with ``values`` substituted; other latent sites at uniform(-2, 2)
    points on their unconstrained scale (``.sample`` is never called: flat priors work).

    Fills ``unconstrained[name]`` for the substituted sites and returns the latent values.
    """

    def value_of(site):
        name = site["name"]
        if name not in values or site["is_observed"]:
            return init_to_uniform(site)
        support = site["fn"].support
        z = np.asarray(biject_to(support).inv(jnp.asarray(values[name])))
        if not np.all(np.isfinite(z)):
            raise _OutsideSupport(
                f"init[{name!r}] lies outside the support of site {name!r} ({support}); "
                f"got {np.asarray(values[name]).tolist()}"
            )
        unconstrained[name] = z
        return values[name]

    try:
        substituted = handlers.substitute(handlers.seed(model, 0), substitute_fn=value_of)
        with warnings.catch_warnings():  # out-of-support user values are explained above
            warnings.simplefilter("ignore")
            trace = handlers.trace(substituted).get_trace(**data.kwargs)
    except _OutsideSupport as err:
        raise ValueError(str(err)) from None
    except Exception as err:
        raise model_call_error(model, data, err) from err
    return {
        n: s["value"] for n, s in trace.items() if s["type"] == "sample" and not s["is_observed"]
    }


def no_fixed_values(z_template: Any, chains: int) -> tuple[dict, dict]:
    """``(fixed, mask)`` that fix nothing: every chain draws all its candidates."""
    fixed = jax.tree.map(lambda leaf: np.zeros((chains, *leaf.shape), leaf.dtype), z_template)
    mask = jax.tree.map(lambda leaf: np.zeros(chains, bool), z_template)
    return fixed, mask


def fix_values(
    fixed: dict, mask: dict, values: dict[str, Any], chains: list[int] | None = None
) -> tuple[dict, dict]:
    """Fix ``values[site]`` (shape ``(len(chains), ...)``) as the start of ``chains`` (all)."""
    fixed, mask = dict(fixed), dict(mask)
    for name, value in values.items():
        rows = slice(None) if chains is None else np.asarray(chains)
        fixed[name] = np.array(fixed[name])
        fixed[name][rows] = np.asarray(value, dtype=fixed[name].dtype)
        mask[name] = np.array(mask[name])
        mask[name][rows] = True
    return fixed, mask


def start_point(
    key: jax.Array, potential: Callable, fixed: Any, mask: Any, k: int = CANDIDATES
) -> tuple[ParamInfo, jax.Array]:
    """One chain's start: the best of ``k`` uniform(-2, 2) candidates, with fixed sites kept.

    Pure and traced inside the compiled init program. ``mask[site]`` (a boolean scalar)
    says whether ``fixed[site]`` replaces the random draws of that site.

    Returns
    -------
    (ParamInfo(position, potential energy, gradient), any candidate finite)
        The potential and gradient at the start are handed to the kernel's init, which then
        need not evaluate the model again.
    """
    candidates = uniform_candidates(key, fixed, 1, k)
    candidates = jax.tree.map(
        lambda cand, value, use: jnp.where(use, jnp.broadcast_to(value, cand.shape[1:]), cand[0]),
        candidates,
        fixed,
        mask,
    )
    return pick_candidate(potential, candidates)


def _all_finite_per_candidate(tree: Any) -> jax.Array:
    leaves = jax.tree.leaves(tree)
    flags = [jnp.all(jnp.isfinite(x.reshape(x.shape[0], -1)), axis=1) for x in leaves]
    return jnp.all(jnp.stack(flags), axis=0)


def pick_candidate(potential: Callable, candidates: Any) -> tuple[ParamInfo, jax.Array]:
    """Choose the finite candidate of lowest potential energy (pure; traced inside init).

    Returns
    -------
    (ParamInfo(position, potential energy, gradient) of the best candidate, any_finite)
    """
    energy, grad = jax.vmap(jax.value_and_grad(potential))(candidates)
    finite = jnp.isfinite(energy) & _all_finite_per_candidate(grad)
    best = jnp.argmin(jnp.where(finite, energy, jnp.inf))
    pick = partial(jax.tree.map, lambda x: x[best])
    return ParamInfo(pick(candidates), energy[best], pick(grad)), jnp.any(finite)


def explain_init_failure(
    model: Callable, data: PreparedData, postprocess_fn_gen: Callable, z: Any
) -> str:
    """Name the site whose log density is not finite at the starting point ``z``."""
    try:
        values = postprocess_fn_gen(**data.arrays)(z)
        trace = handlers.trace(
            handlers.substitute(handlers.seed(model, rng_seed=0), data=values)
        ).get_trace(**data.kwargs)
    except Exception as err:  # the model itself fails at this point
        return f"the model raised {type(err).__name__}: {err}"
    for name, site in trace.items():
        if site["type"] != "sample":
            continue
        with warnings.catch_warnings():  # numpyro warns on out-of-support values: we explain
            warnings.simplefilter("ignore")
            logp = jnp.sum(site["fn"].log_prob(site["value"]))
        if not bool(jnp.isfinite(logp)):
            role = "observed" if site["is_observed"] else "latent"
            return (
                f"{role} site {name!r} has log density {float(logp)} there; check that "
                f"its value lies in the support {site['fn'].support} and that the "
                f"parameters of its distribution are valid"
            )
    return "every site's log density is finite but the gradient is not; check for sqrt/log of 0"
