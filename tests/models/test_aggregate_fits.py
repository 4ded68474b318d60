"""NUTS fits of the aggregate-data models: approx against the exact and full oracles.

All fits here run under ``-m slow`` (they take minutes on CI's two cores); the default suite
checks the aggregate family's likelihoods in ``test_aggregate_likelihood.py``. The ``quick``
set (one module-scoped set of fits, 2 chains x 500 + 500, J_tilde = 500, the paper's value):
at finite J_tilde the approximate posterior of delta is the exact one shifted by ``-sigma_a
* mean(xi)`` (the simulated mean curve is off by ``X' diag(sigma_a) mean(xi)``), about
0.1/sqrt(J_tilde) = 0.3 posterior sd at J_tilde = 500. The quick comparison therefore adds
that known shift back, per draw, before asking for means within 0.1 posterior sd (plus 3
combined MCSEs) and sds within 15 %. The slow tests check the plain, uncorrected criterion:
J_tilde = 4000 (0.1 sd + 3 MCSE) and J_tilde = 20000 with 4 x 1000 draws (0.1 sd, no MCSE
allowance; the sheared linear model gives a bulk ESS above 1000 per 1000 draws, so the MCSE
is about 0.02 sd).
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
from bayesuq.precision import computing_in

POPULATION = ["mu_a", "sigma_a", "beta", "sigma_y", "delta"]
MODES = ("exact", "approx", "full", "local")
# sequential chains: on 2 CPU cores they compile ~40 % faster than vectorized ones
QUICK = {"J_tilde": 500, "chains": 2, "draws": 500, "warmup": 500, "chain_method": "sequential"}
LONG = {"J_tilde": 4000, "chains": 2, "draws": 1000, "warmup": 500}


def _scalars(idata, names):
    """``label -> draws (chain, draw)`` of every scalar of ``names``."""
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


def _approx_scalars(idata, *, correct_shift):
    """Scalars of an approx fit; with ``correct_shift``, delta + sigma_a * mean(xi) per draw
    (the approximate posterior's known offset at finite J_tilde, see the module docstring)."""
    out = _scalars(idata, POPULATION)
    if correct_shift:
        xi_mean = idata.constant_data["xi"].values.mean(axis=0)
        sigma_a = idata.posterior["sigma_a"].values
        for i in range(2):
            out[f"delta[{i}]"] = out[f"delta[{i}]"] + sigma_a[..., i] * xi_mean[i]
    return out


def _fit_all(settings):
    settings = dict(settings)
    J_tilde = settings.pop("J_tilde")
    sim = simulate_linear()
    with computing_in("float64"):  # the xi of the family's float64 (the same values as before)
        xi = draw_xi(jax.random.key(7), J_tilde, 2)
    fits = {
        mode: fit(
            linear_model(mode),
            sim.model_data(mode, xi=xi),
            seed=3,
            progress=False,
            **settings,
        )
        for mode in MODES
    }
    return sim, fits


@pytest.fixture(
    scope="module",
    params=[
        pytest.param(QUICK, id="quick", marks=pytest.mark.slow),  # 2-3 min: CI budget
        pytest.param(LONG, id="long", marks=pytest.mark.slow),
    ],
)
def linear_fits(request):
    """Every mode of the linear example; ``quick`` (default) shift-corrects approx."""
    sim, fits = _fit_all(request.param)
    return sim, fits, request.param is QUICK


def _agree(a, b, *, mean_sd, sd_rel, mcse_z):
    """|mean_a - mean_b| <= mean_sd * sd_b + mcse_z * MCSE; |sd_a / sd_b - 1| <= sd_rel."""
    mcse = np.hypot(float(az.mcse(a, method="mean")), float(az.mcse(b, method="mean")))
    sd = b.std()
    mean_ok = abs(a.mean() - b.mean()) <= mean_sd * sd + mcse_z * mcse
    sd_ok = abs(a.std() / sd - 1) <= sd_rel
    return mean_ok and sd_ok, (a.mean(), b.mean(), a.std(), sd, mcse)


def test_approx_agrees_with_exact(linear_fits):
    _, fits, corrected = linear_fits
    approx = _approx_scalars(fits["approx"], correct_shift=corrected)
    exact = _scalars(fits["exact"], POPULATION)
    assert len(approx) == 8
    for label in approx:
        ok, info = _agree(approx[label], exact[label], mean_sd=0.1, sd_rel=0.15, mcse_z=3)
        assert ok, (label, info)


def test_approx_shift_of_delta_is_the_predicted_one(linear_fits):
    """The uncorrected offset of approx from exact in delta is -sigma_a * mean(xi)
    (within 0.1 sd + 3 MCSE): the approximation's finite-J_tilde bias is understood."""
    _, fits, _ = linear_fits
    approx = _scalars(fits["approx"], ["delta"])
    exact = _scalars(fits["exact"], ["delta"])
    sigma_a = fits["approx"].posterior["sigma_a"].values.mean(axis=(0, 1))
    xi_mean = fits["approx"].constant_data["xi"].values.mean(axis=0)
    for i, label in enumerate(approx):
        a, b = approx[label], exact[label]
        mcse = np.hypot(float(az.mcse(a, method="mean")), float(az.mcse(b, method="mean")))
        offset = a.mean() - b.mean()
        predicted = -sigma_a[i] * xi_mean[i]
        assert abs(offset - predicted) <= 0.1 * b.std() + 3 * mcse, (label, offset, predicted)


def test_full_intervals_cover_truth_and_approx_matches_full_for_delta(linear_fits):
    sim, fits, corrected = linear_fits
    full = _scalars(fits["full"], POPULATION)
    for label, value in _truths(sim.truth, POPULATION).items():
        lo, hi = np.quantile(full[label], [0.025, 0.975])
        assert lo <= value <= hi, (label, lo, hi, value)
    approx = _approx_scalars(fits["approx"], correct_shift=corrected)
    for label in ("delta[0]", "delta[1]"):
        ok, info = _agree(approx[label], full[label], mean_sd=0.2, sd_rel=0.2, mcse_z=3)
        assert ok, (label, info)


def test_diagnostics_pass_for_every_mode(linear_fits):
    _, fits, _ = linear_fits
    for mode, idata in fits.items():
        report = bayesuq.diagnose(idata, var_names=POPULATION)
        assert report.ok, (mode, str(report))
        assert idata.posterior["mu_a"].dims == ("chain", "draw", "effect")
        assert list(idata.posterior["effect"].values) == ["intercept", "slope"]
        assert not any("_dim_" in d for d in idata.observed_data["y"].dims)
    # local: delta keeps its N(0, 1) prior
    delta = fits["local"].posterior["delta"].values.reshape(-1, 2)
    assert np.all(np.abs(delta.std(axis=0) - 1) < 0.15)
    assert np.all(np.abs(delta.mean(axis=0)) < 0.15)
    constant = fits["approx"].constant_data
    assert constant["xi"].dims == ("simulated_patient", "effect")
    assert constant["x"].dims == ("time",) and constant["ybar_ext"].dims == ("time_ext",)


@pytest.mark.slow
def test_simulation_noise_check_flags_too_small_J_tilde():
    """J_tilde = 20 (for 13 times): chains with independent xi target visibly different
    posteriors for delta (shift ~ 0.1/sqrt(20) = 1.5 posterior sd), so R-hat flags it.
    The four chains are the datasets of one nuts_many program (not a loop of fits)."""
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
    assert idata.attrs["inference"] == "nuts" and idata.attrs["datasets"] == 4
    assert idata.attrs["x64"] == "True"  # the family's float64, no global flag
    assert idata.posterior.sizes["chain"] == 4
    assert idata.sample_stats["diverging"].dims == ("chain", "draw")
    assert idata.posterior["mu_a"].dims == ("chain", "draw", "effect")
    assert idata.constant_data["xi"].dims == ("chain", "simulated_patient", "effect")
    report = bayesuq.diagnose(idata, var_names=["delta"])
    assert not report.ok
    assert float(report.table["r_hat"].max()) > 1.05
    assert any("R-hat" in m for m in report.messages)


@pytest.mark.slow  # ~40 s on CI's two cores
def test_cli_writes_summary_and_figures(tmp_path):
    # the fit settings of QUICK re-use the compiled program of the exact fit above
    args = ["aggregate", "--smoke", "--modes", "exact", "--out", str(tmp_path)]
    args += [f"--{k}={QUICK[k]}" for k in ("chains", "draws", "warmup")]
    args += [f"--chain-method={QUICK['chain_method']}"]
    status = main(args)
    assert status == 0
    for name in ("summary.csv", "summary.json", "modes.png", "noise_study.png"):
        assert (tmp_path / name).stat().st_size > 0


@pytest.mark.slow
def test_approx_agrees_with_exact_strict():
    sim = simulate_linear()
    with computing_in("float64"):
        xi = draw_xi(jax.random.key(7), 20_000, 2)
    settings = {"chains": 4, "draws": 1000, "warmup": 500, "progress": False}
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
    sim = simulate_turnover()
    with computing_in("float64"):
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
