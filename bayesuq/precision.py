"""Floating-point precision of JAX computations."""

from __future__ import annotations

import jax


def enable_x64(use_x64: bool = True) -> None:
    """Switch JAX to float64 (``True``) or back to float32.

    Call it before creating any arrays: arrays made earlier keep their dtype. The same is
    achieved by the environment variable ``JAX_ENABLE_X64=1``. Likelihoods with large
    cancellations (simulated likelihoods, copulas, Gaussian processes) need float64.
    """
    jax.config.update("jax_enable_x64", bool(use_x64))


def x64_enabled() -> bool:
    """Whether JAX currently computes in float64 by default."""
    return bool(jax.config.read("jax_enable_x64"))
