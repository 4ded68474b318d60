"""MCMC kernels as pure ``init``/``sample`` pairs, with their per-iteration statistics.

A :class:`Kernel` is a small hashable configuration (it is part of the compiled programs'
cache key) that builds NumPyro's functional HMC/NUTS transition for a potential energy:

* ``functions(potential_fn_gen)`` returns ``(init, sample)``: ``init(position, key,
  warmup, arrays) -> state`` starts a chain at ``position`` (a NumPyro ``ParamInfo`` with
  the potential energy and its gradient already computed, so the model is not traced again),
  ``sample(state, arrays) -> state`` makes one transition (with windowed adaptation of the
  step size and mass matrix while ``state.i < warmup``, Stan's schedule);
* ``statistics(state)`` gives the per-iteration sampler statistics under ArviZ's names.

The algorithms are NumPyro's (``numpyro.infer.hmc.hmc``): NUTS with multinomial trajectory
sampling (Hoffman & Gelman 2014, JMLR 15; Betancourt 2017, arXiv:1701.02434) and static
HMC (Neal 2011, "MCMC using Hamiltonian dynamics", Handbook of MCMC, ch. 5), both with
dual-averaging step size and Welford mass-matrix adaptation (Stan's windowed schedule).
NUTS also offers ``adaptation="fisher"``: the same transition with nutpie's gradient-based
diagonal mass-matrix adaptation (:mod:`bayesuq.infer.adaptation`).
"""

from __future__ import annotations

import math
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any, Protocol

import jax
import jax.numpy as jnp
from numpyro.infer.hmc import HMCState, hmc
from numpyro.infer.hmc_util import HMCAdaptState

from bayesuq.infer.adaptation import (
    FisherAdaptState,
    FisherNutsState,
    Moments,
    fisher_nuts_functions,
)
from bayesuq.infer.compilation import register_state_types

register_state_types(
    (HMCState, "numpyro.HMCState"),
    (HMCAdaptState, "numpyro.HMCAdaptState"),
    (FisherNutsState, "bayesuq.FisherNutsState"),
    (FisherAdaptState, "bayesuq.FisherAdaptState"),
    (Moments, "bayesuq.Moments"),
)

DenseMass = bool | tuple[tuple[str, ...], ...]
ADAPTATIONS = ("stan", "fisher")
"""Mass-matrix adaptations of :class:`NutsKernel`."""


class Kernel(Protocol):
    """What the program builder needs from an MCMC kernel (see the module docstring)."""

    name: str

    def functions(self, potential_fn_gen: Callable) -> tuple[Callable, Callable]:
        """``(init(position, key, warmup, arrays), sample(state, arrays))``."""

    def statistics(self, state: Any) -> dict[str, jax.Array]:
        """Per-iteration sampler statistics of ``state``."""

    def attrs(self) -> dict[str, Any]:
        """The kernel's settings, for the result's ``attrs``."""


def _numpyro_dense_mass(dense_mass: DenseMass) -> bool | list[tuple[str, ...]]:
    return dense_mass if isinstance(dense_mass, bool) else [tuple(b) for b in dense_mass]


def _dense_mass_attr(dense_mass: DenseMass) -> str | bool:
    if isinstance(dense_mass, bool):
        return dense_mass
    return ";".join(",".join(block) for block in dense_mass)


def _common_statistics(state: Any) -> dict[str, jax.Array]:
    return {
        "diverging": state.diverging,
        "n_steps": state.num_steps,
        "energy": state.energy,
        "step_size": state.adapt_state.step_size,
        "lp": -state.potential_energy,
        "acceptance_rate": state.accept_prob,
    }


@dataclass(frozen=True)
class NutsKernel:
    """The No-U-Turn Sampler.

    Attributes
    ----------
    target_accept
        Target mean acceptance probability of the dual-averaging step-size adaptation.
    max_tree_depth
        Maximum tree depth ``d`` (at most ``2**d - 1`` leapfrog steps per iteration).
    dense_mass
        ``False`` (diagonal), ``True`` (dense) or blocks of site names (block-dense).
    adaptation
        ``"stan"``: Stan's windowed adaptation (NumPyro's); ``"fisher"``: nutpie's
        gradient-based diagonal adaptation (:mod:`bayesuq.infer.adaptation`; diagonal
        mass only).
    """

    target_accept: float = 0.8
    max_tree_depth: int = 10
    dense_mass: DenseMass = False
    adaptation: str = "stan"
    name: str = "nuts"

    def functions(self, potential_fn_gen: Callable) -> tuple[Callable, Callable]:
        if self.adaptation == "fisher":
            return fisher_nuts_functions(
                potential_fn_gen,
                target_accept=self.target_accept,
                max_tree_depth=self.max_tree_depth,
            )
        init_kernel, sample_kernel = hmc(potential_fn_gen=potential_fn_gen, algo="NUTS")

        def init(position, key, warmup, arrays):
            return init_kernel(
                position,
                warmup,
                dense_mass=_numpyro_dense_mass(self.dense_mass),
                target_accept_prob=self.target_accept,
                max_tree_depth=self.max_tree_depth,
                model_kwargs=arrays,
                rng_key=key,
            )

        def sample(state, arrays):
            return sample_kernel(state, model_kwargs=arrays)

        return init, sample

    def statistics(self, state: Any) -> dict[str, jax.Array]:
        """NUTS statistics; tree depth from the leapfrog count, ``floor(log2 n) + 1``."""
        if isinstance(state, FisherNutsState):
            state = state.nuts
        stats = _common_statistics(state)
        depth = jnp.floor(jnp.log2(jnp.maximum(state.num_steps, 1))).astype(jnp.int32) + 1
        stats["tree_depth"] = depth
        stats["reached_max_treedepth"] = depth >= self.max_tree_depth
        return stats

    def attrs(self) -> dict[str, Any]:
        return {
            "target_accept": self.target_accept,
            "max_tree_depth": self.max_tree_depth,
            "dense_mass": _dense_mass_attr(self.dense_mass),
            "adaptation": self.adaptation,
        }


@dataclass(frozen=True)
class HmcKernel:
    """Static-trajectory Hamiltonian Monte Carlo.

    Attributes
    ----------
    target_accept
        Target acceptance probability of the step-size adaptation.
    num_steps
        Fixed number of leapfrog steps per iteration, or ``None`` to use
        ``trajectory_length / step_size`` steps.
    trajectory_length
        Integration time when ``num_steps`` is ``None`` (``2 pi`` by default, NumPyro's).
    dense_mass
        As for :class:`NutsKernel`.
    """

    target_accept: float = 0.8
    num_steps: int | None = None
    trajectory_length: float = 2 * math.pi
    dense_mass: DenseMass = False
    name: str = "hmc"

    def functions(self, potential_fn_gen: Callable) -> tuple[Callable, Callable]:
        init_kernel, sample_kernel = hmc(potential_fn_gen=potential_fn_gen, algo="HMC")

        def init(position, key, warmup, arrays):
            return init_kernel(
                position,
                warmup,
                dense_mass=_numpyro_dense_mass(self.dense_mass),
                target_accept_prob=self.target_accept,
                num_steps=self.num_steps,
                trajectory_length=None if self.num_steps is not None else self.trajectory_length,
                model_kwargs=arrays,
                rng_key=key,
            )

        def sample(state, arrays):
            return sample_kernel(state, model_kwargs=arrays)

        return init, sample

    def statistics(self, state: Any) -> dict[str, jax.Array]:
        return _common_statistics(state)

    def attrs(self) -> dict[str, Any]:
        return {
            "target_accept": self.target_accept,
            "num_steps": "auto" if self.num_steps is None else self.num_steps,
            "trajectory_length": self.trajectory_length,
            "dense_mass": _dense_mass_attr(self.dense_mass),
        }
