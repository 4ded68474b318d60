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
from typing import Any

import jax
import jax.numpy as jnp
import numpy as np
from numpyro import handlers
from numpyro.distributions.transforms import biject_to
from numpyro.infer.util import initialize_model

from bayesuq.infer.data import PreparedData
from bayesuq.infer.sites import model_call_error, trace_model

CANDIDATES = 4
FALLBACK_CANDIDATES = 100
INIT_RADIUS = 2.0


def model_functions(model: Callable, data: PreparedData) -> tuple[Any, Callable, Callable]:
    """Shapes of the unconstrained position, and the potential and postprocess generators.

    Returns
    -------
    z_template
        Pytree of ``jax.ShapeDtypeStruct`` for one chain's unconstrained position.
    potential_fn_gen
        ``potential_fn_gen(**data)(z)`` is the potential energy (negative log density).
    postprocess_fn_gen
        ``postprocess_fn_gen(**data)(z)`` gives constrained latent and deterministic values.
    """
    funcs: dict[str, Callable] = {}

    def unconstrained(key):
        info, potential_fn_gen, postprocess_fn_gen, _ = initialize_model(
            key, model, model_kwargs=data.kwargs, dynamic_args=True
        )
        funcs["potential"], funcs["postprocess"] = potential_fn_gen, postprocess_fn_gen
        return info.z

    try:
        template = jax.eval_shape(unconstrained, jax.random.PRNGKey(0))
    except Exception as err:  # shape errors surface when the log density is first built
        raise model_call_error(model, data, err) from err
    return template, funcs["potential"], funcs["postprocess"]


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


def user_init_unconstrained(
    model: Callable, data: PreparedData, init: dict[str, Any], chains: int
) -> dict[str, np.ndarray]:
    """Map user starting values (constrained scale) to the unconstrained scale.

    ``init[name]`` is either one value for all chains (the site's shape) or one per chain
    (shape ``(chains, *site_shape)``). Returns ``name -> array (chains, *unconstrained)``.
    """
    trace = trace_model(model, data)
    latent = {n: s for n, s in trace.items() if s["type"] == "sample" and not s["is_observed"]}
    unknown = sorted(set(init) - set(latent))
    if unknown:
        raise ValueError(
            f"init has key(s) {unknown} that are not latent sample sites of the model; "
            f"expected a subset of {sorted(latent)}"
        )
    out = {}
    for name, value in init.items():
        site = latent[name]
        shape = tuple(np.shape(site["value"]))
        value = np.asarray(value, dtype=np.result_type(float, np.asarray(value).dtype))
        if value.shape == shape:
            value = np.broadcast_to(value, (chains, *shape))
        elif value.shape != (chains, *shape):
            raise ValueError(
                f"init[{name!r}] has shape {value.shape}; expected {shape} (all chains) or "
                f"{(chains, *shape)} (one per chain)"
            )
        transform = biject_to(site["fn"].support)
        unconstrained = np.asarray(jax.vmap(transform.inv)(jnp.asarray(value)))
        if not np.all(np.isfinite(unconstrained)):
            raise ValueError(
                f"init[{name!r}] lies outside the support of site {name!r} "
                f"({site['fn'].support}); got {value.tolist()}"
            )
        out[name] = unconstrained
    return out


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
) -> tuple[Any, jax.Array]:
    """One chain's start: the best of ``k`` uniform(-2, 2) candidates, with fixed sites kept.

    Pure and traced inside the compiled init program. ``mask[site]`` (a boolean scalar)
    says whether ``fixed[site]`` replaces the random draws of that site.
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


def pick_candidate(potential: Callable, candidates: Any) -> tuple[Any, jax.Array]:
    """Choose the finite candidate of highest log density (pure; traced inside init).

    Returns
    -------
    (position, any_finite)
    """
    energy, grad = jax.vmap(jax.value_and_grad(potential))(candidates)
    finite = jnp.isfinite(energy) & _all_finite_per_candidate(grad)
    best = jnp.argmin(jnp.where(finite, energy, jnp.inf))
    return jax.tree.map(lambda x: x[best], candidates), jnp.any(finite)


def explain_init_failure(
    model: Callable, data: PreparedData, postprocess_fn_gen: Callable, z: Any
) -> str:
    """Name the site whose log density is not finite at the starting point ``z``."""
    try:
        values = postprocess_fn_gen(**data.kwargs)(z)
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
