"""The nonlinear drug-disease fake-data model of Weber et al. (2018), section 4.2.

Responses are fractions in (0, 1) (e.g. visual acuity); on the logit scale a turnover
model relaxes from the baseline ``La0_j`` to the steady state ``Las_j``:

    mu_jk = expit(Las_j + (La0_j - Las_j) exp(-kout_j x_k)),   y_jk = mu_jk + eps_jk,
    La0_j = La0 + sigma_La0 eta_1j,   kout_j = exp(-(lkappa + sigma_lkappa eta_2j)),
    Las_j = Las + E_s[drug_j],   E_s = (0, exp(lEmax), exp(lEmax + delta)),

for placebo, drug 1 and drug 2. The local trial has placebo and drug 1; the external trial
(only its means are used, except by ``likelihood="full"``) has drug 2, so ``delta`` is not
identified by the local data alone. There is no exact likelihood of the means.

Priors: (La0, Las, lkappa, lEmax) ~ N((0, -1, log 1/4, log 1/2), diag(2, 2, log 2, log 2)^2);
sigma_La0, sigma_lkappa, sigma_y ~ half-N(0, 1); delta ~ N(0, 1).
"""

from __future__ import annotations

from collections.abc import Callable

import jax
import jax.numpy as jnp
import numpy as np
import numpyro
import numpyro.distributions as dist
from jax.scipy.special import expit
from scipy.special import logit

from bayesuq.infer.arguments import check_int
from bayesuq.models.aggregate.data import (
    Simulation,
    check_design,
    check_likelihood,
    checked_truth,
)
from bayesuq.models.aggregate.external import external_likelihood
from bayesuq.models.aggregate.raw import N_EFFECTS, nonlinear_raw_data

TURNOVER_LIKELIHOODS = ("local", "full", "approx")
TURNOVER_TRUTH = {
    "La0": 0.0,
    "Las": float(logit(0.35)),
    "lkappa": float(np.log(10 / 52)),
    "lEmax": float(np.log(logit(0.6) - logit(0.35))),
    "sigma_La0": 0.2,
    "sigma_lkappa": 0.5,
    "sigma_y": 0.05,
    "delta": 0.1,
}
"""True values of the paper's nonlinear example."""


def turnover_trajectory(params: dict, eta_j: jax.Array) -> jax.Array:
    """Noise-free curve of one patient: ``expit(Las + (La0_j - Las) exp(-kout_j x))``.

    ``params`` holds ``La0``, ``Las`` (already including the drug effect), ``lkappa``,
    ``sigma_La0``, ``sigma_lkappa`` and the visit times ``x``; ``eta_j`` has 2 entries.
    """
    la0 = params["La0"] + params["sigma_La0"] * eta_j[0]
    kout = jnp.exp(-(params["lkappa"] + params["sigma_lkappa"] * eta_j[1]))
    las = params["Las"]
    return expit(las + (la0 - las) * jnp.exp(-kout * params["x"]))


def _drug_effects(lEmax, delta):
    """``E_s = (0, exp(lEmax), exp(lEmax + delta))`` for placebo, drug 1, drug 2."""
    return jnp.stack([jnp.zeros_like(lEmax), jnp.exp(lEmax), jnp.exp(lEmax + delta)])


def turnover_model(likelihood: str = "approx") -> Callable:
    """The nonlinear example as a NumPyro model; ``likelihood`` is local, full or approx.

    Returns
    -------
    Callable
        ``model(x, y, drug, x_ext=None, ybar_ext=None, J_prime=None, y_ext=None, xi=None,
        mask=None)``; ``drug`` holds integer codes 0 (placebo), 1 (drug 1); the external
        arm is drug 2.
    """
    check_likelihood(likelihood, TURNOVER_LIKELIHOODS)

    def model(x, y, drug, x_ext=None, ybar_ext=None, J_prime=None, y_ext=None, xi=None, mask=None):
        check_design("y", y, ndim=2, shape={1: x.shape[0]})
        check_design("drug", drug, ndim=1, shape={0: y.shape[0]})
        la0 = numpyro.sample("La0", dist.Normal(0.0, 2.0))
        las = numpyro.sample("Las", dist.Normal(-1.0, 2.0))
        lkappa = numpyro.sample("lkappa", dist.Normal(np.log(0.25), np.log(2.0)))
        lemax = numpyro.sample("lEmax", dist.Normal(np.log(0.5), np.log(2.0)))
        sigma_la0 = numpyro.sample("sigma_La0", dist.HalfNormal(1.0))
        sigma_lkappa = numpyro.sample("sigma_lkappa", dist.HalfNormal(1.0))
        sigma_y = numpyro.sample("sigma_y", dist.HalfNormal(1.0))
        delta = numpyro.sample("delta", dist.Normal(0.0, 1.0))
        effects = _drug_effects(lemax, delta)
        base = {"La0": la0, "lkappa": lkappa, "sigma_La0": sigma_la0, "sigma_lkappa": sigma_lkappa}
        _raw_data("", {**base, "x": x}, las + effects[drug], y, sigma_y)
        if likelihood != "local":
            check_design("x_ext", x_ext, ndim=1)
        external = {**base, "Las": las + effects[2], "x": x_ext}

        def full():
            check_design("y_ext", y_ext, ndim=2, shape={1: x_ext.shape[0]})
            _raw_data("_ext", external, external["Las"], y_ext, sigma_y)

        external_likelihood(
            likelihood,
            n_times=0 if x_ext is None else x_ext.shape[0],
            ybar_ext=ybar_ext,
            J_prime=J_prime,
            sigma_y=sigma_y,
            full=full,
            trajectory=turnover_trajectory,
            params=external,
            xi=xi,
            mask=mask,
        )

    model.coords = {"effect": ["La0", "lkappa"]}
    model.__name__ = model.__qualname__ = f"turnover_model_{likelihood}"
    return model


def _raw_data(suffix, params, las, y, sigma_y) -> None:
    """Non-centred random effects ``eta`` (patient, effect) and the raw observations."""
    las = jnp.broadcast_to(las, (y.shape[0],))
    nonlinear_raw_data(suffix, turnover_trajectory, params, {"Las": las}, y, sigma_y)


def simulate_turnover(
    *,
    seed: int = 24234,
    n_patients: int = 100,
    n_patients_ext: int = 100,
    n_times: int = 13,
    truth: dict | None = None,
) -> Simulation:
    """Simulate the paper's design: J = 100 local (half placebo, half drug 1), J' = 100 on
    drug 2, visits x = (0..12)/12 years.

    Needs ``n_times >= 2`` visits, ``n_patients >= 2`` (both local arms non-empty) and
    ``n_patients_ext >= 1``.

    Returns
    -------
    Simulation
        ``data`` with ``x``, ``y``, ``drug``, ``x_ext``, ``y_ext``, ``ybar_ext``, ``J_prime``;
        ``truth`` (:data:`TURNOVER_TRUTH` by default).
    """
    n_times = check_int("n_times", n_times, minimum=2)
    n_patients = check_int("n_patients", n_patients, minimum=2)
    n_patients_ext = check_int("n_patients_ext", n_patients_ext, minimum=1)
    truth = checked_truth(TURNOVER_TRUTH, truth)
    rng = np.random.default_rng(check_int("seed", seed, minimum=0))
    x = np.arange(n_times) / (n_times - 1)
    effects = np.asarray(_drug_effects(jnp.asarray(truth["lEmax"]), jnp.asarray(truth["delta"])))
    drug = np.repeat([0, 1], [n_patients // 2, n_patients - n_patients // 2]).astype(np.int32)

    params = {k: truth[k] for k in ("La0", "lkappa", "sigma_La0", "sigma_lkappa")}

    def trial(codes):
        eta = rng.standard_normal((codes.size, N_EFFECTS))
        las = truth["Las"] + effects[codes]
        mean = jax.vmap(lambda e, s: turnover_trajectory({**params, "Las": s, "x": x}, e))(
            jnp.asarray(eta), jnp.asarray(las)
        )
        return np.asarray(mean) + truth["sigma_y"] * rng.standard_normal((codes.size, x.size))

    y = trial(drug)
    y_ext = trial(np.full(n_patients_ext, 2))
    data = {
        "x": x,
        "y": y,
        "drug": drug,
        "x_ext": x.copy(),
        "y_ext": y_ext,
        "ybar_ext": y_ext.mean(axis=0),
        "J_prime": n_patients_ext,
    }
    groups = {
        "local": ("x", "y", "drug"),
        "external_raw": ("x_ext", "y_ext"),
        "external_mean": ("x_ext", "ybar_ext", "J_prime"),
    }
    return Simulation(data=data, truth=truth, groups=groups)
