"""``bayesuq.hmc``: static-trajectory Hamiltonian Monte Carlo on a NumPyro model.

HMC (Duane et al. 1987; Neal 2011, "MCMC using Hamiltonian dynamics", Handbook of MCMC,
ch. 5) proposes by ``L`` leapfrog steps of size ``eps`` on ``H(z, r) = U(z) + r' M^{-1} r / 2``
and accepts with probability ``min(1, exp(H_0 - H_L))``. NumPyro's kernel, with dual-averaging
step size and windowed mass-matrix adaptation, run by the same driver as :func:`bayesuq.nuts`.
Prefer NUTS unless the trajectory length is known to suit the posterior.
"""

from __future__ import annotations

import math
from collections.abc import Callable, Mapping, Sequence
from typing import Any

from bayesuq.infer.arguments import check_dense_mass, check_int, check_open_unit, check_positive
from bayesuq.infer.kernels import HmcKernel
from bayesuq.infer.mcmc import sample_posterior


def hmc(
    model: Callable,
    data: Mapping[str, Any] | None = None,
    *,
    chains: int = 4,
    draws: int = 1000,
    warmup: int = 1000,
    seed: int = 0,
    target_accept: float = 0.8,
    num_steps: int | None = None,
    trajectory_length: float = 2 * math.pi,
    dense_mass: bool | Sequence[tuple[str, ...]] = False,
    init: Mapping[str, Any] | None = None,
    chain_method: str = "auto",
    progress: bool = True,
    log_likelihood: bool = False,
    recover: bool = True,
    dims: Mapping[str, list[str]] | None = None,
    coords: Mapping[str, list] | None = None,
    resume: Any = None,
) -> Any:
    """Sample a NumPyro model's posterior with HMC and return ``arviz.InferenceData``.

    Parameters
    ----------
    num_steps
        Leapfrog steps per iteration; ``None`` takes ``trajectory_length / step_size``.
    trajectory_length
        Integration time per iteration when ``num_steps`` is ``None``.
    model, data, chains, draws, warmup, seed, target_accept, dense_mass, init, chain_method,
    progress, log_likelihood, recover, dims, coords, resume
        As for :func:`bayesuq.nuts`.

    Returns
    -------
    arviz.InferenceData
        As :func:`bayesuq.nuts` returns, with ``attrs["inference"] == "hmc"`` and without
        the tree-depth statistics.
    """
    kernel = HmcKernel(
        target_accept=check_open_unit("target_accept", target_accept),
        num_steps=None if num_steps is None else check_int("num_steps", num_steps, minimum=1),
        trajectory_length=check_positive("trajectory_length", trajectory_length),
        dense_mass=check_dense_mass(dense_mass),
    )
    return sample_posterior(
        model,
        data,
        kernel=kernel,
        chains=chains,
        draws=draws,
        warmup=warmup,
        seed=seed,
        init=init,
        chain_method=chain_method,
        progress=progress,
        log_likelihood=log_likelihood,
        recover=recover,
        dims=dims,
        coords=coords,
        resume=resume,
    )
