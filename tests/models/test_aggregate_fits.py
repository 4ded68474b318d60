"""NUTS fits of the aggregate-data models: approx against the exact and full oracles.

Tolerances: the issue asks for posterior means within 0.1 posterior sd and sds within 15 %
between approx and exact. With 2 x 1000 draws the Monte Carlo error of a difference of two
means can itself reach 0.1 sd, so the default tests allow 0.1 sd plus 3 combined MCSEs;
the slow test checks the plain 0.1 sd / 15 % criterion with 4 x 2000 draws.
``xi`` has J_tilde = 4000 rows (20000 in the slow test): the approximate posterior of delta
is the exact one shifted by about sigma_a mean(xi) ~ 0.1 / sqrt(J_tilde), i.e. 0.1 sd here
(0.3 sd at the paper's J_tilde = 500, which is why chains with independent xi are
compared, below).
"""

from __future__ import annotations

import arviz as az
import jax
import numpy as np
import pytest

import bayesuq
from bayesuq.cli import main
from bayesuq.models.aggregate import (
    draw_xi,
    fit,
    fit_with_simulation_noise_check,
    linear_model,
    simulate_linear,
    simulate_turnover,
    turnover_model,
)

POPULATION = ["mu_a", "sigma_a", "beta", "sigma_y", "delta"]
SETTINGS = {"chains": 2, "draws": 1000, "warmup": 500, "progress": False}


def _scalars(idata, names):
    """``label -> flat draws (chain, draw)`` of every scalar of ``names``."""
    out = {}
    for name in names:
        draws = idata.posterior[name].values
        flat = draws.reshape(draws.shape[0], draws.shape[1], -1)
        for i in range(flat.shape[-1]):
            label = name if flat.shape[-1] == 1 and draws.ndim == 2 else f"{name}[{i}]"
            out[label] = flat[..., i]
    return out


def _truths(truth, names):
    return {
        (n if np.ndim(truth[n]) == 0 else f"{n}[{i}]"): v
        for n in names
        for i, v in enumerate(np.ravel(truth[n]))
    }


@pytest.fixture(scope="module")
def linear_fits():
    with jax.enable_x64(True):
        sim = simulate_linear()
        xi = draw_xi(jax.random.key(7), 4_000, 2)
        fits = {
            mode: fit(linear_model(mode), sim.model_data(mode, xi=xi), seed=3, **SETTINGS)
            for mode in ("exact", "approx", "full")
        }
    return sim, fits


def _agree(a, b, *, mean_sd, sd_rel, mcse_z):
    """|mean_a - mean_b| <= mean_sd * sd_b + mcse_z * MCSE; |sd_a / sd_b - 1| <= sd_rel."""
    mcse = np.hypot(float(az.mcse(a, method="mean")), float(az.mcse(b, method="mean")))
    sd = b.std()
    mean_ok = abs(a.mean() - b.mean()) <= mean_sd * sd + mcse_z * mcse
    sd_ok = abs(a.std() / sd - 1) <= sd_rel
    return mean_ok and sd_ok, (a.mean(), b.mean(), a.std(), sd, mcse)


@pytest.mark.slow  # three NUTS fits at J_tilde=4000: ~150 s on 2 cores
def test_approx_agrees_with_exact(linear_fits):
    _, fits = linear_fits
    approx, exact = _scalars(fits["approx"], POPULATION), _scalars(fits["exact"], POPULATION)
    assert len(approx) == 8
    for label in approx:
        ok, info = _agree(approx[label], exact[label], mean_sd=0.1, sd_rel=0.15, mcse_z=3)
        assert ok, (label, info)


@pytest.mark.slow  # three NUTS fits at J_tilde=4000: ~150 s on 2 cores
def test_full_intervals_cover_truth_and_approx_matches_full_for_delta(linear_fits):
    sim, fits = linear_fits
    full = _scalars(fits["full"], POPULATION)
    for label, value in _truths(sim.truth, POPULATION).items():
        lo, hi = np.quantile(full[label], [0.025, 0.975])
        assert lo <= value <= hi, (label, lo, hi, value)
    approx = _scalars(fits["approx"], ["delta"])
    for label in approx:
        ok, info = _agree(approx[label], full[label], mean_sd=0.2, sd_rel=0.2, mcse_z=3)
        assert ok, (label, info)


@pytest.mark.slow  # three NUTS fits at J_tilde=4000: ~150 s on 2 cores
def test_diagnostics_pass_for_every_mode(linear_fits):
    _, fits = linear_fits
    with jax.enable_x64(True):
        sim = simulate_linear()
        fits = {
            **fits,
            "local": fit(linear_model("local"), sim.model_data("local"), seed=3, **SETTINGS),
        }
    for mode, idata in fits.items():
        report = bayesuq.diagnose(idata, var_names=POPULATION)
        assert report.ok, (mode, str(report))
        assert idata.posterior["mu_a"].dims == ("chain", "draw", "effect")
        assert list(idata.posterior["effect"].values) == ["intercept", "slope"]
    # local: delta keeps its N(0, 1) prior (sd within 4 MCSE-ish of 1)
    delta = fits["local"].posterior["delta"].values.reshape(-1, 2)
    assert np.all(np.abs(delta.std(axis=0) - 1) < 0.15)
    assert "simulated_patient" in fits["approx"].constant_data["xi"].dims


def test_simulation_noise_check_flags_too_small_J_tilde():
    """J_tilde = 20 (for 13 times): chains with independent xi target visibly different
    posteriors for delta (shift ~ 0.1/sqrt(20) = 1.5 posterior sd), so R-hat flags it."""
    with jax.enable_x64(True):
        sim = simulate_linear()
        idata = fit_with_simulation_noise_check(
            linear_model("approx"),
            sim.model_data("exact"),
            J_tilde=20,
            chains=4,
            seed=5,
            draws=200,
            warmup=200,
            progress=False,
        )
    assert idata.attrs["J_tilde_per_chain"] == "20,40,20,40"
    assert idata.posterior.sizes["chain"] == 4
    assert idata.constant_data["xi"].dims == ("chain", "simulated_patient", "effect")
    report = bayesuq.diagnose(idata, var_names=["delta"])
    assert not report.ok
    assert float(report.table["r_hat"].max()) > 1.05
    assert any("R-hat" in m for m in report.messages)


def test_cli_writes_summary_and_figures(tmp_path):
    status = main(["aggregate", "--smoke", "--modes", "exact", "--out", str(tmp_path)])
    assert status == 0
    for name in ("summary.csv", "summary.json", "modes.png", "noise_study.png"):
        assert (tmp_path / name).stat().st_size > 0


@pytest.mark.slow
def test_approx_agrees_with_exact_strict():
    with jax.enable_x64(True):
        sim = simulate_linear()
        xi = draw_xi(jax.random.key(7), 20_000, 2)
        settings = {"chains": 4, "draws": 2000, "warmup": 1000, "progress": False}
        fits = {
            mode: fit(linear_model(mode), sim.model_data(mode, xi=xi), seed=4, **settings)
            for mode in ("exact", "approx")
        }
    approx, exact = _scalars(fits["approx"], POPULATION), _scalars(fits["exact"], POPULATION)
    for label in approx:
        ok, info = _agree(approx[label], exact[label], mean_sd=0.1, sd_rel=0.15, mcse_z=0)
        assert ok, (label, info)


@pytest.mark.slow
def test_simulation_noise_check_passes_adequate_J_tilde():
    with jax.enable_x64(True):
        sim = simulate_linear()
        idata = fit_with_simulation_noise_check(
            linear_model("approx"),
            sim.model_data("exact"),
            J_tilde=5000,
            chains=4,
            seed=5,
            draws=500,
            warmup=500,
            progress=False,
        )
    report = bayesuq.diagnose(idata, var_names=POPULATION)
    assert report.ok, str(report)


@pytest.mark.slow
def test_turnover_approx_covers_delta_and_agrees_with_full():
    """Spec 5.5: approx covers delta = 0.1 and agrees with full; local leaves delta at
    its prior (delta enters only through drug 2, which only the external trial has)."""
    names = ["La0", "Las", "lkappa", "lEmax", "sigma_La0", "sigma_lkappa", "sigma_y", "delta"]
    with jax.enable_x64(True):
        sim = simulate_turnover()
        xi = draw_xi(jax.random.key(8), 2000, 2)
        fits = {
            mode: fit(
                turnover_model(mode),
                sim.model_data(mode, xi=xi),
                seed=6,
                chains=4,
                draws=500,
                warmup=500,
                progress=False,
                target_accept=0.9,
            )
            for mode in ("local", "full", "approx")
        }
    for mode, idata in fits.items():
        assert bayesuq.diagnose(idata, var_names=names).ok, mode
    approx = fits["approx"].posterior["delta"].values.ravel()
    full = fits["full"].posterior["delta"].values.ravel()
    lo, hi = np.quantile(approx, [0.025, 0.975])
    assert lo <= 0.1 <= hi
    assert abs(approx.mean() - full.mean()) <= 0.3 * full.std()
    local = fits["local"].posterior["delta"].values.ravel()
    assert abs(local.std() - 1) < 0.1 and abs(local.mean()) < 0.15
