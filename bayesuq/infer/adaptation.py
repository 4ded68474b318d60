"""Gradient-based ("Fisher") mass-matrix adaptation for NUTS, on NumPyro's NUTS transition.

Seyboldt, Carlson & Carpenter (2024), "Preconditioning Hamiltonian Monte Carlo by
minimizing Fisher divergence" (arXiv:2407.07653), the adaptation of nutpie. For a diagonal
affine preconditioner ``x = mu + sigma * y`` the Fisher divergence between the preconditioned
posterior and a standard normal is minimised, given draws ``x_i`` and scores
``g_i = grad log p(x_i)``, by

    sigma_j^2 = sqrt( Var[x_j] / Var[g_j] ),

and ``diag(sigma^2)`` is the inverse mass matrix. For a Gaussian posterior with diagonal
covariance ``Var[g_j] = 1 / Var[x_j]`` and the estimate is the variance; in general the
gradients carry information about the scale that the draws alone reveal only slowly, so a
good preconditioner is found from far fewer draws than Stan's windowed variance estimate
needs (Stan Reference Manual, "HMC algorithm parameters": windows of 25, 50, 100, ...).

Schedule over ``W`` warm-up iterations (nutpie's defaults):

* start: ``M^{-1} = diag(1 / |g_0|)`` from the gradient at the starting point, and a step
  size from NumPyro's doubling/halving search (Hoffman & Gelman 2014, JMLR 15, alg. 4);
* before the final window (the last 15 % of warm-up): each non-divergent draw and its
  gradient enter two running (Welford) estimators, *foreground* and *background*; the mass
  matrix is set from the foreground after every iteration (once it holds 3 draws); when the
  background holds ``s`` draws (``s = 10`` in the first 30 % of warm-up, 80 afterwards) it
  becomes the foreground and a fresh background starts, so the estimate always rests on
  recent draws and the transient start is forgotten;
* step size: dual averaging towards ``target_accept`` (Hoffman & Gelman 2014, alg. 5),
  restarted when the mass matrix is first estimated from draws and when it is frozen for
  the final window; warm-up ends at the dual-averaging average.

The transition itself is NumPyro's (``numpyro.infer.hmc.hmc(algo="NUTS")``, with its own
adaptation switched off): only the step size and the diagonal inverse mass matrix that it
reads from its state are set here. Only a diagonal mass matrix is adapted (nutpie's optional
low-rank correction is not implemented).
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any, NamedTuple

import jax
import jax.numpy as jnp
from jax.flatten_util import ravel_pytree
from numpyro.infer.hmc import HMCState, hmc, momentum_generator
from numpyro.infer.hmc_util import (
    IntegratorState,
    dual_averaging,
    euclidean_kinetic_energy,
    find_reasonable_step_size,
)

EARLY_FRACTION = 0.3
"""Share of warm-up with fast switching of the estimators (nutpie's ``early_window``)."""
FINAL_FRACTION = 0.15
"""Share of warm-up at the end with a fixed mass matrix (nutpie's ``step_size_window``)."""
EARLY_SWITCH = 10
"""Background draws before a switch in the early phase."""
SWITCH = 80
"""Background draws before a switch afterwards."""
MIN_DRAWS = 3
"""Draws in the foreground estimator before it sets the mass matrix."""
INVERSE_MASS_BOUNDS = (1e-10, 1e10)
"""Clipping bounds of every diagonal element of the inverse mass matrix."""


class Moments(NamedTuple):
    """Running means and sums of squared deviations (Welford 1962) of draws and gradients."""

    count: jax.Array
    draw_mean: jax.Array
    draw_m2: jax.Array
    grad_mean: jax.Array
    grad_m2: jax.Array


class FisherAdaptState(NamedTuple):
    """Adaptation state carried by every chain (see the module docstring)."""

    iteration: jax.Array
    num_warmup: jax.Array
    foreground: Moments
    background: Moments
    dual_averaging: tuple
    estimated: jax.Array


class FisherNutsState(NamedTuple):
    """NumPyro's NUTS state and the adaptation state of one chain."""

    nuts: HMCState
    adapt: FisherAdaptState

    @property
    def z(self) -> Any:
        """The current position (unconstrained sites), as on NumPyro's state."""
        return self.nuts.z


def empty_moments(size: int, dtype: Any) -> Moments:
    """Estimators holding no draw."""
    zeros = jnp.zeros(size, dtype)
    return Moments(jnp.zeros((), dtype), zeros, zeros, zeros, zeros)


def add_draw(moments: Moments, draw: jax.Array, grad: jax.Array) -> Moments:
    """Welford's update with one draw and its gradient.

    ``n' = n + 1``, ``m' = m + (x - m) / n'``, ``M2' = M2 + (x - m)(x - m')``, for draws and
    for gradients alike.
    """
    count = moments.count + 1
    delta_draw = draw - moments.draw_mean
    draw_mean = moments.draw_mean + delta_draw / count
    delta_grad = grad - moments.grad_mean
    grad_mean = moments.grad_mean + delta_grad / count
    return Moments(
        count,
        draw_mean,
        moments.draw_m2 + delta_draw * (draw - draw_mean),
        grad_mean,
        moments.grad_m2 + delta_grad * (grad - grad_mean),
    )


def fisher_diagonal(moments: Moments, fallback: jax.Array) -> jax.Array:
    """The Fisher-divergence-optimal diagonal inverse mass matrix ``sqrt(Var[x] / Var[g])``.

    Seyboldt, Carlson & Carpenter (2024), arXiv:2407.07653, sec. 3 (the normalisations of
    the two variances cancel). Elements are clipped to :data:`INVERSE_MASS_BOUNDS`;
    ``fallback`` is kept where the estimate is not finite or fewer than
    :data:`MIN_DRAWS` draws were seen.
    """
    estimate = jnp.sqrt(moments.draw_m2 / moments.grad_m2)
    usable = (moments.count >= MIN_DRAWS) & jnp.isfinite(estimate) & (estimate > 0)
    return jnp.where(usable, jnp.clip(estimate, *INVERSE_MASS_BOUNDS), fallback)


def initial_inverse_mass(grad: jax.Array) -> jax.Array:
    """``1 / |g_0|`` from the gradient at the start (1 where it is zero or not finite).

    The score of a normal ``N(m, s^2)`` at a point one standard deviation from ``m`` has
    magnitude ``1 / s``: its reciprocal is a first guess of the scale, from one gradient.
    """
    magnitude = jnp.abs(grad)
    usable = jnp.isfinite(magnitude) & (magnitude > 0)
    safe = jnp.where(usable, magnitude, 1.0)
    return jnp.where(usable, jnp.clip(1.0 / safe, *INVERSE_MASS_BOUNDS), 1.0)


def _schedule(num_warmup: jax.Array) -> tuple[jax.Array, jax.Array]:
    """``(early_end, final_start)`` iterations of the schedule (integer arithmetic)."""
    early_end = (num_warmup * int(EARLY_FRACTION * 100)) // 100
    final_start = num_warmup - (num_warmup * int(FINAL_FRACTION * 100)) // 100
    return early_end, final_start


def _where(flag: jax.Array, new: Any, old: Any) -> Any:
    return jax.tree.map(lambda a, b: jnp.where(flag, a, b), new, old)


def adapt_step(
    nuts: HMCState, adapt: FisherAdaptState, target_accept: float
) -> tuple[HMCState, FisherAdaptState]:
    """One warm-up update after the transition that produced ``nuts`` (see module docstring)."""
    da_init, da_update = dual_averaging()
    t = adapt.iteration
    early_end, final_start = _schedule(adapt.num_warmup)
    draw = ravel_pytree(nuts.z)[0]
    grad = ravel_pytree(nuts.z_grad)[0]
    good = ~nuts.diverging & jnp.all(jnp.isfinite(draw)) & jnp.all(jnp.isfinite(grad))
    mass_phase = t < final_start

    use = good & mass_phase
    foreground = _where(use, add_draw(adapt.foreground, draw, grad), adapt.foreground)
    background = _where(use, add_draw(adapt.background, draw, grad), adapt.background)
    switch_after = jnp.where(t < early_end, EARLY_SWITCH, SWITCH)
    late = t + switch_after > final_start
    switch = mass_phase & (background.count >= switch_after) & ~late
    foreground = _where(switch, background, foreground)
    background = _where(switch, empty_moments(draw.shape[0], draw.dtype), background)

    old = nuts.adapt_state
    inverse_mass = jnp.where(
        mass_phase, fisher_diagonal(foreground, old.inverse_mass_matrix), old.inverse_mass_matrix
    )
    first_estimate = mass_phase & (foreground.count >= MIN_DRAWS) & ~adapt.estimated

    accept = jnp.where(jnp.isfinite(nuts.accept_prob), nuts.accept_prob, 0.0)
    da_state = da_update(target_accept - accept, adapt.dual_averaging)
    last = t + 1 == adapt.num_warmup
    log_step = jnp.where(last, da_state[1], da_state[0])
    step_size = jnp.exp(log_step).astype(old.step_size.dtype)
    step_size = jnp.where(jnp.isfinite(step_size) & (step_size > 0), step_size, old.step_size)
    restart = (first_estimate | (t + 1 == final_start)) & ~last
    da_state = _where(restart, da_init(jnp.log(10.0 * step_size)), da_state)

    mass_sqrt_inv = jnp.sqrt(inverse_mass)
    nuts = nuts._replace(
        adapt_state=old._replace(
            step_size=step_size,
            inverse_mass_matrix=inverse_mass,
            mass_matrix_sqrt=1.0 / mass_sqrt_inv,
            mass_matrix_sqrt_inv=mass_sqrt_inv,
        )
    )
    adapt = adapt._replace(
        iteration=t + 1,
        foreground=foreground,
        background=background,
        dual_averaging=da_state,
        estimated=adapt.estimated | first_estimate,
    )
    return nuts, adapt


def _diagonal_momentum(prototype: Any, inverse_mass: jax.Array, key: jax.Array) -> Any:
    """``r ~ N(0, M)`` for the diagonal ``M = diag(1 / inverse_mass)``."""
    return momentum_generator(prototype, 1.0 / jnp.sqrt(inverse_mass), key)


def fisher_nuts_functions(
    potential_fn_gen: Callable, *, target_accept: float, max_tree_depth: int
) -> tuple[Callable, Callable]:
    """``(init, sample)`` of NUTS with Fisher adaptation, in the protocol of
    :class:`bayesuq.infer.kernels.Kernel`.

    Parameters
    ----------
    potential_fn_gen
        ``gen(**arrays) -> (z -> U(z))``.
    target_accept, max_tree_depth
        As for :class:`bayesuq.infer.kernels.NutsKernel`.
    """
    init_kernel, sample_kernel = hmc(potential_fn_gen=potential_fn_gen, algo="NUTS")

    def init(position, key, warmup, arrays):
        key_nuts, key_step = jax.random.split(key)
        grad = ravel_pytree(position.z_grad)[0]
        inverse_mass = initial_inverse_mass(grad) if warmup > 0 else jnp.ones_like(grad)
        nuts = init_kernel(
            position,
            0,  # NumPyro's own adaptation is off: this module adapts
            step_size=1.0,
            inverse_mass_matrix=inverse_mass,
            adapt_step_size=False,
            adapt_mass_matrix=False,
            dense_mass=False,
            target_accept_prob=target_accept,
            max_tree_depth=max_tree_depth,
            model_kwargs=arrays,
            rng_key=key_nuts,
        )
        step_size = nuts.adapt_state.step_size
        if warmup > 0:
            start = IntegratorState(position.z, None, position.potential_energy, position.z_grad)
            step_size = find_reasonable_step_size(
                potential_fn_gen(**arrays),
                euclidean_kinetic_energy,
                _diagonal_momentum,
                step_size,
                inverse_mass,
                start,
                key_step,
            )
        nuts = nuts._replace(adapt_state=nuts.adapt_state._replace(step_size=step_size))
        da_init, _ = dual_averaging()
        adapt = FisherAdaptState(
            iteration=jnp.zeros((), jnp.int32),
            num_warmup=jnp.asarray(warmup, jnp.int32),
            foreground=empty_moments(grad.shape[0], grad.dtype),
            background=empty_moments(grad.shape[0], grad.dtype),
            dual_averaging=da_init(jnp.log(10.0 * step_size)),
            estimated=jnp.zeros((), bool),
        )
        return FisherNutsState(nuts, adapt)

    def sample(state, arrays):
        nuts = sample_kernel(state.nuts, model_kwargs=arrays)
        adapted_nuts, adapted = adapt_step(nuts, state.adapt, target_accept)
        warming_up = state.adapt.iteration < state.adapt.num_warmup
        frozen = state.adapt._replace(iteration=state.adapt.iteration + 1)
        return FisherNutsState(
            _where(warming_up, adapted_nuts, nuts), _where(warming_up, adapted, frozen)
        )

    return init, sample
