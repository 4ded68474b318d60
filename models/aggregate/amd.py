"""A wet-AMD drug-disease model (beyond the paper's fake data; Weber et al. 2018, sec. 5).

Visual acuity (BCVA as a fraction in (0, 1)) follows a turnover model on the logit scale,
stimulated by an intravitreal drug with one-compartment kinetics:

    C(t)  = sum_d D_d / (V MW) exp(-k_e (t - t_d)) 1[t >= t_d],   k_e = log 2 / t_half,
    E(t)  = Emax exp(-k_tol t) C^h / (EC50^h + C^h),
    dR/dt = kout_j (Las + E(t) - R),   R(0) = La0_j,   mu_j(t) = expit(R(t)),

with V = 4 mL, t_half = 9 days, MW = 48 kDa (drug 1) or 115 kDa (drug 2); drug 2 shifts
(log Emax, log EC50) by ``delta``. Patients vary in La0_j = La0 + sigma_La0 eta_1j and
log kout_j = lkout + sigma_lkout eta_2j. With a constant E the solution is the paper's
turnover curve. ``R`` is integrated exactly for a stimulus held constant over each step of
a fine grid (exponential integrator, midpoint stimulus; error O(h^2)):

    R_{n+1} = T_n + (R_n - T_n) exp(-kout_j h),   T_n = Las + E(t_n + h/2).

The concentrations depend only on the dosing, so they are data computed once per arm.
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

from bayesuq.infer.arguments import check_int, check_positive
from bayesuq.models.aggregate.data import (
    Simulation,
    check_design,
    check_likelihood,
    checked_truth,
)
from bayesuq.models.aggregate.external import external_likelihood
from bayesuq.models.aggregate.raw import N_EFFECTS, nonlinear_raw_data

AMD_LIKELIHOODS = ("local", "full", "approx")
VOLUME_ML = 4.0
HALF_LIFE_DAYS = 9.0
MW_KDA = (48.0, 115.0)
AMD_TRUTH = {
    "La0": float(logit(0.5)),
    "Las": float(logit(0.4)),
    "lkout": float(np.log(1 / 30)),
    "lEmax": float(np.log(logit(0.62) - logit(0.4))),
    "lEC50": float(np.log(300.0)),
    "sigma_La0": 0.3,
    "sigma_lkout": 0.3,
    "sigma_y": 0.03,
    "delta": np.array([0.1, 0.5]),
}
"""Plausible values (not fitted to real data); kout per day, EC50 in nM."""
K_TOL = float(np.log(2) / 365)
HILL = 1.0


def amd_concentration(
    t: np.ndarray, *, dose_days: np.ndarray, dose_mg: float, mw_kda: float
) -> np.ndarray:
    """Vitreous concentration (nM) at days ``t`` of bolus doses of ``dose_mg`` (one compartment).

    ``C(t) = sum_d D / (V MW) exp(-k_e (t - t_d)) 1[t >= t_d]`` with ``V = 4`` mL and
    ``k_e = log 2 / 9`` per day (module docstring).
    """
    k_e = np.log(2) / HALF_LIFE_DAYS
    molar = dose_mg / VOLUME_ML / (mw_kda * 1e3) * 1e9  # mg/mL = g/L; g/L / (g/mol) -> nM
    lag = np.asarray(t)[:, None] - np.asarray(dose_days)[None, :]
    return molar * np.sum(np.where(lag >= 0, np.exp(-k_e * np.maximum(lag, 0)), 0.0), axis=1)


def amd_trajectory(params: dict, eta_j: jax.Array) -> jax.Array:
    """Noise-free BCVA fraction of one patient at the visits (exponential integrator).

    ``params``: ``La0``, ``Las``, ``lkout``, ``lEmax``, ``lEC50``, ``sigma_La0``,
    ``sigma_lkout``; the design ``t_mid`` (grid step midpoints, days), ``conc`` (nM at
    ``t_mid``), ``step`` (days) and ``visits`` (integer grid indices of the visits).
    """
    r0 = params["La0"] + params["sigma_La0"] * eta_j[0]
    kout = jnp.exp(params["lkout"] + params["sigma_lkout"] * eta_j[1])
    conc = params["conc"] ** HILL
    stim = (
        jnp.exp(params["lEmax"] - K_TOL * params["t_mid"])
        * conc
        / (jnp.exp(HILL * params["lEC50"]) + conc)
    )
    target = params["Las"] + stim
    decay = jnp.exp(-kout * params["step"])

    def step(r, t_n):
        r_next = t_n + (r - t_n) * decay
        return r_next, r_next

    _, path = jax.lax.scan(step, r0, target)
    path = jnp.concatenate([r0[None], path])
    return expit(path[params["visits"]])


def amd_design(*, dose_mg: float, mw_kda: float, months: int = 12, step_days: float = 1.0) -> dict:
    """Grid, concentrations and visit indices of one arm dosed every 28 days.

    ``months >= 1`` monthly visits (day 0, 28, ...); the integration grid's step
    ``0 < step_days <= 28`` must divide 28 days into whole steps.
    """
    months = check_int("months", months, minimum=1)
    step_days = check_positive("step_days", step_days)
    check_positive("dose_mg", dose_mg)
    check_positive("mw_kda", mw_kda)
    if step_days > 28 or abs(28 / step_days - round(28 / step_days)) > 1e-9:
        raise ValueError(
            f"step_days must divide the 28-day dosing interval into whole steps (e.g. 1, 2, "
            f"7), got {step_days!r}"
        )
    days = 28 * months
    n_steps = round(days / step_days)
    t_mid = (np.arange(n_steps) + 0.5) * step_days
    dose_days = np.arange(0, days, 28.0)
    visits = np.round(np.arange(months + 1) * 28 / step_days).astype(np.int32)
    conc = amd_concentration(t_mid, dose_days=dose_days, dose_mg=dose_mg, mw_kda=mw_kda)
    return {"t_mid": t_mid, "conc": conc, "step": step_days, "visits": visits}


def amd_model(likelihood: str = "approx") -> Callable:
    """The wet-AMD model as a NumPyro model; ``likelihood`` is local, full or approx.

    Returns
    -------
    Callable
        ``model(t_mid, conc, visits, y, conc_ext, ybar_ext=None, J_prime=None, y_ext=None,
        xi=None, mask=None)``: ``conc`` has one row per local patient's arm (drug 1),
        ``conc_ext`` the external arm (drug 2); both on the grid ``t_mid``.
    """
    check_likelihood(likelihood, AMD_LIKELIHOODS)

    def model(
        t_mid,
        conc,
        visits,
        y,
        conc_ext,
        ybar_ext=None,
        J_prime=None,
        y_ext=None,
        xi=None,
        mask=None,
    ):
        check_design("conc", conc, ndim=2, shape={0: y.shape[0], 1: t_mid.shape[0]})
        check_design("y", y, ndim=2, shape={1: visits.shape[0]})
        theta = {
            "La0": numpyro.sample("La0", dist.Normal(0.0, 1.0)),
            "Las": numpyro.sample("Las", dist.Normal(-0.5, 1.0)),
            "lkout": numpyro.sample("lkout", dist.Normal(np.log(1 / 30), 1.0)),
            "lEmax": numpyro.sample("lEmax", dist.Normal(-0.5, 1.0)),
            "lEC50": numpyro.sample("lEC50", dist.Normal(np.log(300.0), 1.0)),
            "sigma_La0": numpyro.sample("sigma_La0", dist.HalfNormal(1.0)),
            "sigma_lkout": numpyro.sample("sigma_lkout", dist.HalfNormal(1.0)),
        }
        sigma_y = numpyro.sample("sigma_y", dist.HalfNormal(1.0))
        with numpyro.plate("shift", 2):
            delta = numpyro.sample("delta", dist.Normal(0.0, 1.0))
        design = {"t_mid": t_mid, "step": t_mid[1] - t_mid[0], "visits": visits}
        _raw_data("", {**theta, **design}, conc, y, sigma_y)
        shifted = {
            **theta,
            **design,
            "conc": conc_ext,
            "lEmax": theta["lEmax"] + delta[0],
            "lEC50": theta["lEC50"] + delta[1],
        }

        def full():
            check_design("y_ext", y_ext, ndim=2, shape={1: visits.shape[0]})
            conc_all = jnp.broadcast_to(conc_ext, (y_ext.shape[0], conc_ext.shape[0]))
            _raw_data("_ext", shifted, conc_all, y_ext, sigma_y)

        external_likelihood(
            likelihood,
            n_times=visits.shape[0],
            ybar_ext=ybar_ext,
            J_prime=J_prime,
            sigma_y=sigma_y,
            full=full,
            trajectory=amd_trajectory,
            params=shifted,
            xi=xi,
            mask=mask,
        )

    model.coords = {"effect": ["La0", "lkout"], "shift": ["lEmax", "lEC50"]}
    model.__name__ = model.__qualname__ = f"amd_model_{likelihood}"
    return model


def _raw_data(suffix, params, conc, y, sigma_y) -> None:
    """Non-centred patient effects and raw observations; ``conc`` has one row per patient."""
    nonlinear_raw_data(suffix, amd_trajectory, params, {"conc": conc}, y, sigma_y)


def simulate_amd(
    *,
    seed: int = 20180,
    n_patients: int = 60,
    n_patients_ext: int = 100,
    doses_mg: tuple[float, float] = (0.3, 0.5),
    dose_ext_mg: float = 2.0,
    months: int = 12,
    step_days: float = 1.0,
    truth: dict | None = None,
) -> Simulation:
    """A fake pair of wet-AMD trials: local drug 1 (48 kDa) at two monthly doses (half the
    patients each), external drug 2 (115 kDa) at ``dose_ext_mg`` monthly; visits monthly.

    Needs ``n_patients >= 2`` (both dose arms non-empty), ``n_patients_ext >= 1`` and a
    valid design (:func:`amd_design`)."""
    n_patients = check_int("n_patients", n_patients, minimum=2)
    n_patients_ext = check_int("n_patients_ext", n_patients_ext, minimum=1)
    truth = checked_truth(AMD_TRUTH, truth)
    rng = np.random.default_rng(check_int("seed", seed, minimum=0))
    arms = [
        amd_design(dose_mg=d, mw_kda=MW_KDA[0], months=months, step_days=step_days)
        for d in doses_mg
    ]
    ext = amd_design(dose_mg=dose_ext_mg, mw_kda=MW_KDA[1], months=months, step_days=step_days)
    arm = np.repeat([0, 1], [n_patients // 2, n_patients - n_patients // 2])
    conc = np.stack([arms[a]["conc"] for a in arm])
    base = {
        k: truth[k] for k in ("La0", "Las", "lkout", "lEmax", "lEC50", "sigma_La0", "sigma_lkout")
    }
    design = {k: ext[k] for k in ("t_mid", "step", "visits")}

    def trial(conc_rows, shift):
        params = {
            **base,
            **design,
            "lEmax": base["lEmax"] + shift[0],
            "lEC50": base["lEC50"] + shift[1],
        }
        eta = rng.standard_normal((conc_rows.shape[0], N_EFFECTS))
        mean = jax.vmap(lambda e, c: amd_trajectory({**params, "conc": c}, e))(
            jnp.asarray(eta), jnp.asarray(conc_rows)
        )
        mean = np.asarray(mean)
        return mean + truth["sigma_y"] * rng.standard_normal(mean.shape)

    y = trial(conc, (0.0, 0.0))
    y_ext = trial(np.broadcast_to(ext["conc"], (n_patients_ext, ext["conc"].size)), truth["delta"])
    data = {
        "t_mid": ext["t_mid"],
        "conc": conc,
        "visits": ext["visits"],
        "y": y,
        "conc_ext": ext["conc"],
        "y_ext": y_ext,
        "ybar_ext": y_ext.mean(axis=0),
        "J_prime": n_patients_ext,
    }
    groups = {
        "local": ("t_mid", "conc", "visits", "y", "conc_ext"),
        "external_raw": ("y_ext",),
        "external_mean": ("ybar_ext", "J_prime"),
    }
    return Simulation(data=data, truth=truth, groups=groups)
