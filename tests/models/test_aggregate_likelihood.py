"""The simulated MVN likelihood of averages: oracles, noise study, errors (no MCMC)."""

from __future__ import annotations

import jax
import jax.numpy as jnp
import numpy as np
import numpyro
import pytest
from numpyro.infer.util import log_density
from scipy import stats
from scipy.integrate import solve_ivp
from scipy.special import expit

from bayesuq.models.aggregate import (
    AMD_TRUTH,
    amd_concentration,
    amd_design,
    amd_model,
    amd_trajectory,
    draw_xi,
    linear_average_logliks,
    linear_model,
    linear_trajectory,
    mvn_average_loglik,
    noise_band,
    noise_study,
    simulate_amd,
    simulate_linear,
    simulate_turnover,
    simulated_mvn_logpdf,
    turnover_model,
)
from bayesuq.models.aggregate.amd import K_TOL
from bayesuq.precision import computing_in


@pytest.fixture(scope="module")
def linear_sim():
    return simulate_linear()


def test_matches_scipy_oracle_with_numpy_moments():
    """l~ equals scipy's MVN log pdf at the sample mean/covariance of the curves."""
    with computing_in("float64"):
        rng = np.random.default_rng(0)
        ysim = rng.normal(size=(40, 5)) @ rng.normal(size=(5, 5))
        ybar = rng.normal(size=5)
        sigma_y, j_prime = 0.3, 25
        cov = (np.cov(ysim, rowvar=False) + sigma_y**2 * np.eye(5)) / j_prime
        want = stats.multivariate_normal(ysim.mean(0), cov).logpdf(ybar)
        got = simulated_mvn_logpdf(jnp.asarray(ybar), jnp.asarray(ysim), sigma_y, j_prime)
        np.testing.assert_allclose(float(got), want, rtol=1e-8)
        # masked moments over the first 30 rows equal the unmasked ones on those rows
        mask = (np.arange(40) < 30).astype(float)
        masked = simulated_mvn_logpdf(ybar, jnp.asarray(ysim), sigma_y, j_prime, mask=mask)
        subset = simulated_mvn_logpdf(ybar, jnp.asarray(ysim[:30]), sigma_y, j_prime)
        np.testing.assert_allclose(float(masked), float(subset), rtol=1e-10)


def test_deterministic_finite_gradients_and_converges_to_exact(linear_sim):
    """Spec 5.1 and 5.2: fixed xi gives identical values and finite gradients, and
    |l~ - exact| at the truth shrinks as J_tilde grows from 1e3 to 1e5 (mean over 8 seeds)."""
    with computing_in("float64"):
        approx, exact = linear_average_logliks(linear_sim)
        delta = jnp.array([0.1, 0.1])
        xi = draw_xi(jax.random.key(0), 500, 2)
        first, second = approx(delta, xi, None), approx(delta, xi, None)
        assert float(first) == float(second)
        grad = jax.grad(lambda d: approx(d, xi, None))(delta)
        assert np.all(np.isfinite(grad))
        errors = {}
        for size in (1_000, 100_000):
            errors[size] = np.mean(
                [
                    abs(
                        float(
                            approx(delta, draw_xi(jax.random.key(s), size, 2), None) - exact(delta)
                        )
                    )
                    for s in range(8)
                ]
            )
        # the noise sd falls 10-fold over this range; ask for a factor 2 in the mean |error|
        assert errors[100_000] < errors[1_000] / 2, errors


def test_noise_study_slope_and_band(linear_sim):
    """Noise study B: free slope of log10 width on log10 J_tilde in [-0.6, -0.4];
    study A: the exact log-likelihood lies inside the 80 % band at J_tilde = 100."""
    with computing_in("float64"):
        approx, exact = linear_average_logliks(linear_sim)
        delta0 = jnp.array([0.1, 0.0])
        levels = np.round(10 ** np.linspace(np.log10(50), np.log10(1000), 8)).astype(int)
        study = noise_study(
            lambda xi, mask: approx(delta0, xi, mask),
            n_effects=2,
            J_tildes=levels,
            replicates=300,
            seed=0,
        )
        assert -0.6 <= study.slope <= -0.4, study.slope
        assert np.all(np.diff(study.width) < 0)
        grid = np.stack([np.full(11, 0.1), np.linspace(0, 0.22, 11)], axis=-1)
        band = noise_band(approx, grid, n_simulated=100, n_effects=2, replicates=300)
        truth = np.asarray(jax.vmap(exact)(jnp.asarray(grid)))
        assert np.all((band[:, 0] <= truth) & (truth <= band[:, 2]))


def test_noise_study_compiles_once(linear_sim):
    """All J_tilde levels share one compiled program (padded xi, masks): a study with
    five levels compiles no more than one with two."""
    events = []

    def listener(event, duration, **kwargs):
        if "backend_compile" in event:
            events.append(event)

    jax.monitoring.register_event_duration_secs_listener(listener)
    try:
        with computing_in("float64"):
            approx, _ = linear_average_logliks(linear_sim)
            delta0 = jnp.array([0.1, 0.0])
            loglik = lambda xi, mask: approx(delta0, xi, mask)  # noqa: E731
            noise_study(loglik, n_effects=2, J_tildes=[20, 40], replicates=10, seed=1)
            start = len(events)
            noise_study(loglik, n_effects=2, J_tildes=[20, 25, 30, 35, 40], replicates=10, seed=2)
            many = len(events) - start
            start = len(events)
            noise_study(loglik, n_effects=2, J_tildes=[20, 40], replicates=10, seed=3)
            two = len(events) - start
            # five levels compile exactly as much as two: nothing is compiled per level
            assert many == two, (many, two)
    finally:
        jax.monitoring.unregister_event_duration_listener(listener)


@pytest.mark.parametrize(
    ("builder", "simulate", "modes"),
    [
        (linear_model, simulate_linear, ("local", "full", "exact", "approx")),
        (turnover_model, simulate_turnover, ("local", "full", "approx")),
        pytest.param(
            amd_model,
            lambda: simulate_amd(n_patients=10, n_patients_ext=20),
            ("local", "full", "approx"),
            marks=pytest.mark.slow,  # ~30 s on CI's two cores; test_aggregate_amd_fit fits it
        ),
    ],
    ids=["linear", "turnover", "amd"],
)
def test_gradients_finite_for_every_mode(builder, simulate, modes):
    from numpyro.infer.util import initialize_model

    with computing_in("float64"):
        sim = simulate()
        xi = draw_xi(jax.random.key(0), 200, 2)
        for mode in modes:
            data = sim.model_data(mode, xi=xi)
            info = initialize_model(jax.random.key(1), builder(mode), model_kwargs=data)
            z = info.param_info.z
            value, grad = jax.value_and_grad(info.potential_fn)(z)
            assert np.isfinite(float(value)), mode
            assert all(np.all(np.isfinite(g)) for g in jax.tree.leaves(grad)), mode


def test_local_mode_leaves_delta_at_its_prior(linear_sim):
    """Spec 5.4: in local mode, delta enters only through its N(0, 1) prior, so the
    score of the joint density in delta is exactly -delta."""
    with computing_in("float64"):
        sim = linear_sim
        model = linear_model("local")
        data = sim.model_data("local")
        params = {
            "nu": jnp.array([0.5, -0.2]),
            "sigma_a": jnp.array([0.1, 0.1]),
            "delta": jnp.array([0.7, -1.3]),
            "beta": -0.1,
            "sigma_y": 0.05,
            "b": jnp.tile(jnp.array([0.5, -0.2]), (100, 1)),
        }
        grad = jax.grad(lambda d: log_density(model, (), data, {**params, "delta": d})[0])(
            params["delta"]
        )
        np.testing.assert_allclose(np.asarray(grad), -np.asarray(params["delta"]), atol=1e-12)


def test_amd_integrator_matches_ode_solver():
    """The exponential integrator agrees with scipy's solve_ivp on the AMD turnover ODE,
    at a step of 6 h."""
    with computing_in("float64"):
        p = {
            k: AMD_TRUTH[k]
            for k in ("La0", "Las", "lkout", "lEmax", "lEC50", "sigma_La0", "sigma_lkout")
        }
        design = amd_design(dose_mg=0.5, mw_kda=48.0, step_days=0.25)
        eta = np.array([0.5, -0.3])
        got = np.asarray(amd_trajectory({**p, **design}, jnp.asarray(eta)))
        r0 = p["La0"] + p["sigma_La0"] * eta[0]
        kout = np.exp(p["lkout"] + p["sigma_lkout"] * eta[1])
        doses = np.arange(0, 336, 28.0)

        def rhs(t, r):
            c = amd_concentration(np.array([t]), dose_days=doses, dose_mg=0.5, mw_kda=48.0)[0]
            return kout * (
                p["Las"] + np.exp(p["lEmax"] - K_TOL * t) * c / (np.exp(p["lEC50"]) + c) - r
            )

        sol = solve_ivp(
            rhs, (0, 336), [r0], t_eval=np.arange(13) * 28.0, rtol=1e-10, atol=1e-12, max_step=0.25
        )
        np.testing.assert_allclose(got, expit(sol.y[0]), atol=1e-5)


def test_errors_are_clear(linear_sim):
    with computing_in("float64"):
        ybar = jnp.asarray(linear_sim.data["ybar_ext"])
        params = {
            "mu": jnp.array([0.6, -0.1]),
            "sigma_a": jnp.array([0.1, 0.1]),
            "beta": -0.1,
            "x": jnp.asarray(linear_sim.data["x_ext"]),
        }
        with pytest.raises(ValueError, match=r"J_tilde=13 .*T'=13"):
            mvn_average_loglik(
                ybar,
                linear_trajectory,
                params,
                draw_xi(jax.random.key(0), 13, 2),
                sigma_y=0.05,
                J_prime=100,
            )
        with pytest.raises(ValueError, match="sum\\(mask\\)=10"):
            mvn_average_loglik(
                ybar,
                linear_trajectory,
                params,
                draw_xi(jax.random.key(0), 50, 2),
                sigma_y=0.05,
                J_prime=100,
                mask=jnp.arange(50) < 10,
            )
        with pytest.raises(ValueError, match="ysim has shape"):
            simulated_mvn_logpdf(ybar, jnp.ones((50, 12)), 0.05, 100)
        with pytest.raises(ValueError, match="trajectory returned curves"):
            mvn_average_loglik(
                ybar[:5],
                linear_trajectory,
                params,
                draw_xi(jax.random.key(0), 50, 2),
                sigma_y=0.05,
                J_prime=100,
            )
        with pytest.raises(ValueError, match="mask has shape"):
            simulated_mvn_logpdf(ybar, jnp.ones((50, 13)), 0.05, 100, mask=jnp.ones(49))
        bad = ybar.at[3].set(jnp.nan)
        with pytest.raises(ValueError, match="non-finite average"):
            simulated_mvn_logpdf(bad, jnp.ones((50, 13)), 0.05, 100)
        with pytest.raises(ValueError, match=r"likelihood must be one of .*got 'exakt'"):
            linear_model("exakt")
        with pytest.raises(ValueError, match=r"likelihood must be one of .*got 'exact'"):
            turnover_model("exact")
        with pytest.raises(ValueError, match="needs xi"):
            linear_sim.model_data("approx")
        data = linear_sim.model_data("approx", xi=draw_xi(jax.random.key(0), 50, 3))
        with pytest.raises(ValueError, match=r"xi has shape \(50, 3\)"):
            log_density(numpyro.handlers.seed(linear_model("approx"), 0), (), data, {})


def test_models_are_plain_functions_per_mode():
    """No functools.cache identity trick: each call builds the mode's model (the core caches
    compiled programs by the model's content, not its identity)."""
    model = linear_model("approx")
    assert model.__name__ == "linear_model_approx" and callable(model)
    assert turnover_model("full").__name__ == "turnover_model_full"
    assert model.coords == {"effect": ["intercept", "slope"]}


@pytest.mark.parametrize(
    ("simulate", "kwargs", "message"),
    [
        (simulate_linear, {"n_times": 1}, "n_times must be an integer >= 2"),
        (simulate_linear, {"n_patients": 1}, "n_patients must be an integer >= 2"),
        (simulate_linear, {"n_patients_ext": 0}, "n_patients_ext must be an integer >= 1"),
        (simulate_linear, {"n_times": 2.5}, "n_times must be an integer"),
        (simulate_linear, {"truth": {"sigma_y": -1.0}}, "standard deviation must be > 0"),
        (simulate_linear, {"truth": {"gamma": 1.0}}, "unknown parameter"),
        (simulate_linear, {"truth": {"delta": [0.1]}}, "shape"),
        (simulate_turnover, {"n_times": 1}, "n_times must be an integer >= 2"),
        (simulate_turnover, {"n_patients": 1}, "n_patients must be an integer >= 2"),
        (simulate_turnover, {"seed": -1}, "seed must be an integer >= 0"),
        (simulate_amd, {"months": 0}, "months must be an integer >= 1"),
        (simulate_amd, {"step_days": 0.0}, "step_days must be a finite number > 0"),
        (simulate_amd, {"step_days": 5.0}, "divide the 28-day dosing interval"),
        (simulate_amd, {"n_patients": 1}, "n_patients must be an integer >= 2"),
        (simulate_amd, {"dose_ext_mg": -2.0}, "dose_mg must be a finite number > 0"),
    ],
)
def test_simulators_refuse_impossible_designs(simulate, kwargs, message):
    """simulate_linear(n_times=1) returned all-NaN data (x = 0/0) with a RuntimeWarning."""
    with pytest.raises((ValueError, TypeError), match=message):
        simulate(**kwargs)
