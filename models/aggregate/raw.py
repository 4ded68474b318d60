"""Raw patient data inside the aggregate models: patient effects and observed trajectories.

Each trial with individual data contributes ``y_jt ~ N(f(theta_j, t), sigma_y)`` for its
patients ``j`` and visits ``t`` (Weber et al. 2018, section 2). Sites carry the trial's
``suffix`` (``""`` local, ``"_ext"`` external), so one model can hold both trials.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

import jax
import numpyro
import numpyro.distributions as dist

N_EFFECTS = 2


def observe_trajectories(suffix: str, mean: jax.Array, sigma_y: Any, y: Any) -> None:
    """``y{suffix}[j, t] ~ N(mean[j, t], sigma_y)`` over the patient and time plates."""
    n_patients, n_times = y.shape
    with numpyro.plate(f"patient{suffix}", n_patients, dim=-2):
        with numpyro.plate(f"time{suffix}", n_times, dim=-1):
            numpyro.sample(f"y{suffix}", dist.Normal(mean, sigma_y), obs=y)


def nonlinear_raw_data(
    suffix: str,
    trajectory: Callable[[dict, jax.Array], jax.Array],
    params: dict,
    per_patient: dict[str, jax.Array],
    y: Any,
    sigma_y: Any,
) -> None:
    """Non-centred effects ``eta{suffix} ~ N(0, 1)`` (patient, effect) and the raw data.

    Patient ``j``'s mean trajectory is ``trajectory({**params, **per_patient[j]}, eta_j)``,
    where ``per_patient`` holds arrays with one row per patient (its dose, its arm...).
    """
    with numpyro.plate(f"patient{suffix}", y.shape[0], dim=-2):
        with numpyro.plate("effect", N_EFFECTS, dim=-1):
            eta = numpyro.sample(f"eta{suffix}", dist.Normal(0.0, 1.0))
    mean = jax.vmap(lambda e, own: trajectory({**params, **own}, e))(eta, per_patient)
    observe_trajectories(suffix, mean, sigma_y, y)
