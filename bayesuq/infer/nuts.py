"""``bayesuq.nuts``: the No-U-Turn Sampler on a NumPyro model.

NUTS (Hoffman & Gelman 2014, "The No-U-Turn Sampler", JMLR 15; multinomial trajectory
sampling and windowed step-size/mass-matrix adaptation as in Betancourt 2017, "A Conceptual
Introduction to Hamiltonian Monte Carlo", arXiv:1701.02434) targets
``p(theta | y) ∝ p(y | theta) p(theta)`` through the potential
``U(z) = -log p(y, T(z)) - log|det J_T(z)|`` on the unconstrained scale ``z``. This module is
the public driver; the work is done by :mod:`bayesuq.infer.mcmc` and the layers below it.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping, Sequence
from typing import Any

from bayesuq.infer.arguments import (
    check_choice,
    check_dense_mass,
    check_int,
    check_open_unit,
)
from bayesuq.infer.kernels import ADAPTATIONS, NutsKernel
from bayesuq.infer.mcmc import sample_posterior


def nuts(
    model: Callable,
    data: Mapping[str, Any] | None = None,
    *,
    chains: int = 4,
    draws: int = 1000,
    warmup: int = 1000,
    seed: int = 0,
    target_accept: float = 0.8,
    max_tree_depth: int = 10,
    dense_mass: bool | Sequence[tuple[str, ...]] = False,
    adaptation: str = "stan",
    init: Mapping[str, Any] | None = None,
    chain_method: str = "auto",
    progress: bool = True,
    log_likelihood: bool = False,
    recover: bool = True,
    dims: Mapping[str, list[str]] | None = None,
    coords: Mapping[str, list] | None = None,
    resume: Any = None,
) -> Any:
    """Sample a NumPyro model's posterior with NUTS and return ``arviz.InferenceData``.

    Parameters
    ----------
    model
        NumPyro model function, called as ``model(**data)``.
    data
        Mapping of model argument to array, number, pandas Series/DataFrame, or ``None``
        (pandas indexes become coordinates of the matching plate dims).
    chains, draws, warmup
        Number of chains, kept draws per chain and warm-up (adaptation) iterations.
    seed
        Integer seed in ``[0, 2**32 - 1]``; the same seed and settings give identical draws
        (see the user guide for which settings reproduce which).
    target_accept
        Target mean acceptance probability of step-size adaptation (dual averaging).
    max_tree_depth
        Maximum NUTS tree depth (at most ``2**max_tree_depth - 1`` leapfrog steps).
    dense_mass
        ``False`` (diagonal mass matrix), ``True`` (dense), or NumPyro's block structure: a
        list of tuples of latent site names, each a dense block (the rest diagonal).
    adaptation
        How warm-up adapts the mass matrix. ``"stan"``: Stan's windowed adaptation, the
        mass matrix from the variance of the draws in windows of 25, 50, 100, ... draws.
        ``"fisher"``: nutpie's gradient-based adaptation (Seyboldt, Carlson & Carpenter
        2024, arXiv:2407.07653): a diagonal ``sqrt(Var[draws] / Var[gradients])`` from
        recent draws, updated every iteration, which usually reaches a good mass matrix
        in fewer iterations; diagonal only (``dense_mass=False``).
    init
        Optional starting values on the constrained scale, ``site -> value`` (one value for
        all chains, or one per chain with a leading chain axis). Other sites start at
        uniform(-2, 2) on the unconstrained scale (best of 4 candidates).
    chain_method
        ``"auto"`` (parallel over several devices; on one multi-core CPU, ``"threads"``;
        else vectorised), ``"vectorized"``, ``"parallel"``, ``"sequential"`` or
        ``"threads"`` (one unbatched program per chain, the chains' calls concurrent on
        the cores: :mod:`bayesuq.infer.threads`).
    progress
        Show a progress bar.
    log_likelihood
        Add the pointwise ``log_likelihood`` group (for ``arviz.loo``/``compare``).
    recover
        Re-initialise and re-run chains that end warm-up stuck (collapsed step size or
        frozen), with a warning that says so.
    dims, coords
        Override the inferred dim names (``site -> [dim, ...]``) and labels.
    resume
        A result of ``nuts`` on the same model and data: continue its chains by ``draws``
        more draws from their final state, with the adapted step size and mass matrix and no
        new warm-up; the new draws are appended along ``draw``. The other sampler settings
        are those of the result.

    Returns
    -------
    arviz.InferenceData
        ``posterior`` (latent and deterministic sites), ``sample_stats``, ``observed_data``,
        ``constant_data``, ``sampler_state`` (for ``resume``), optionally
        ``log_likelihood``; ``attrs`` hold ``inference="nuts"``, the seed, configuration,
        versions, device and timings (``compile_seconds``, ``sampling_seconds``...).

    Raises
    ------
    TypeError, ValueError
        Bad arguments or data (the message names the argument and the value).
    RuntimeError
        No finite starting point (the message names the failing site), or non-finite draws.

    Notes
    -----
    The model runs in the global precision: enable float64 with ``bayesuq.enable_x64()``
    (or ``JAX_ENABLE_X64=1``) before creating arrays when it needs it.
    """
    check_choice("adaptation", adaptation, ADAPTATIONS)
    dense_mass = check_dense_mass(dense_mass)
    if adaptation == "fisher" and dense_mass is not False:
        raise ValueError(
            f"adaptation='fisher' adapts a diagonal mass matrix only; got dense_mass="
            f"{dense_mass!r}: pass dense_mass=False or adaptation='stan'"
        )
    kernel = NutsKernel(
        target_accept=check_open_unit("target_accept", target_accept),
        max_tree_depth=check_int("max_tree_depth", max_tree_depth, minimum=1),
        dense_mass=dense_mass,
        adaptation=adaptation,
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
