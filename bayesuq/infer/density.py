"""A model's potential energy and constrain map on the unconstrained scale.

For latent sites ``theta = T(z)`` with ``T = biject_to(support)`` (site by site, in model
order, so a support that depends on an earlier site uses that site's current value), the
potential energy is

    U(z) = -log p(y, T(z)) - log|det J_T(z)|,

NumPyro's ``potential_energy``; the constrain map returns ``T(z)`` and the deterministic
sites, NumPyro's ``constrain_fn`` (the model is replayed, so dependent supports and
deterministic sites are always computed from the current ``z``). Both are *generators*:
``potential_fn_gen(**arrays)`` returns ``U`` for data ``arrays`` (traced arguments of the
compiled programs) with the static data entries bound.
"""

from __future__ import annotations

from collections.abc import Callable
from functools import partial
from typing import Any

from numpyro.infer.util import constrain_fn, potential_energy

from bayesuq.infer.data import PreparedData


def _potential(model: Callable, static: dict[str, Any], arrays: dict[str, Any], z: Any):
    return potential_energy(model, (), {**arrays, **static}, z)


def _constrain(model: Callable, static: dict[str, Any], arrays: dict[str, Any], z: Any):
    return constrain_fn(model, (), {**arrays, **static}, z, return_deterministic=True)


def potential_fn_gen(model: Callable, data: PreparedData) -> Callable[..., Callable]:
    """``gen(**arrays) -> (z -> U(z))`` (see the module docstring)."""

    def gen(**arrays: Any) -> Callable:
        return partial(_potential, model, data.static, arrays)

    return gen


def postprocess_fn_gen(model: Callable, data: PreparedData) -> Callable[..., Callable]:
    """``gen(**arrays) -> (z -> {site: constrained value, deterministic: value})``."""

    def gen(**arrays: Any) -> Callable:
        return partial(_constrain, model, data.static, arrays)

    return gen
