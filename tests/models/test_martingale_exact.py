"""Martingale posteriors with exact answers: the conjugate normal model and the Bayesian
bootstrap; the generic engine (chunking, no recompilation) and the InferenceData contract."""

from __future__ import annotations

import jax
import jax.numpy as jnp
import numpy as np
import pytest
import scipy.stats
from tolerances import assert_moment

import bayesuq
from bayesuq.cli import build_parser
from bayesuq.models.martingale import (
    bayesian_bootstrap,
    normal_demo_data,
    normal_exact,
    normal_martingale_posterior,
    predictive_resample,
)
from bayesuq.models.martingale.engine import run_chunk
from bayesuq.models.martingale.normal import normal_step, normal_theta

KS_ALPHA = 1e-3  # declared significance level of every KS test here


def _var_se(draws: np.ndarray) -> float:
    """Standard error of the sample variance, from the fourth central moment."""
    centred = draws - draws.mean()
    return float(np.sqrt((np.mean(centred**4) - np.mean(centred**2) ** 2) / draws.size))


@pytest.fixture(scope="module")
def demo():
    y = normal_demo_data()
    return y, normal_martingale_posterior(y, steps=1000, draws=5000, seed=3)


def test_normal_demo_matches_exact_law(demo):
    y, idata = demo
    theta_n, var = normal_exact(y, 1000)
    assert round(theta_n, 4) == 1.8369
    assert np.isclose(var, 1 / 11 - 1 / 1011)
    draws = idata.posterior["theta"].values.ravel()
    assert_moment(draws.mean(), theta_n, draws.std() / np.sqrt(draws.size), name="mean", z=3)
    assert_moment(draws.var(), var, _var_se(draws), name="variance")
    p = scipy.stats.kstest(draws, scipy.stats.norm(theta_n, np.sqrt(var)).cdf).pvalue
    assert p > KS_ALPHA, f"KS p-value {p:.2g} against N(theta_n, 1/11 - 1/1011)"


def test_normal_tends_to_bayes_posterior():
    y = normal_demo_data()
    idata = normal_martingale_posterior(y, steps=20_000, draws=2000, seed=4)
    draws = idata.posterior["theta"].values.ravel()
    p = scipy.stats.kstest(draws, scipy.stats.norm(1.836881, np.sqrt(1 / 11)).cdf).pvalue
    assert p > KS_ALPHA, f"KS p-value {p:.2g} against the Bayes posterior N(1.8369, 1/11)"
    assert_moment(draws.var(), 1 / 11, _var_se(draws), name="variance")


def test_inference_data_contract(demo, tmp_path):
    _, idata = demo
    assert idata.posterior["theta"].dims == ("chain", "draw")
    assert idata.posterior.sizes["chain"] == 1 and idata.posterior.sizes["draw"] == 5000
    assert idata.attrs["seed"] == 3 and idata.attrs["inference_library"] == "bayesuq"
    assert idata.attrs["inference"] == "martingale" and idata.attrs["estimator"] == "normal"
    assert "method" not in idata.attrs
    # the predictive-resampling convergence figure, computed by default
    assert idata.attrs["convergence_steps"] == 1000
    assert idata.attrs["convergence_threshold"] == 0.1
    assert 0 <= idata.attrs["convergence_relative_change"] < 0.1
    report = bayesuq.diagnose(idata)
    assert report.ok and "theta" in report.table.index
    reloaded = bayesuq.load(bayesuq.save(idata, tmp_path / "normal.nc"))
    assert reloaded.attrs == idata.attrs
    np.testing.assert_array_equal(reloaded.posterior["theta"], idata.posterior["theta"])


def test_engine_chunks_do_not_change_draws_or_recompile():
    key = jax.random.PRNGKey(0)
    theta0 = jnp.asarray(1.0)
    kwargs = {"key": key, "steps": 50, "draws": 700, "start": 10}
    whole = predictive_resample(normal_step, normal_theta, (), theta0, chunk=700, **kwargs)
    before = run_chunk._cache_size()
    chunked = predictive_resample(normal_step, normal_theta, (), theta0, chunk=300, **kwargs)
    assert run_chunk._cache_size() == before + 1  # one new shape, used by all 3 chunks
    np.testing.assert_allclose(chunked["theta"], whole["theta"], rtol=1e-6)
    # new data (state and start) of the same shapes: no new compilation
    other = predictive_resample(
        normal_step, normal_theta, (), jnp.asarray(-3.0), chunk=300, **{**kwargs, "start": 99}
    )
    assert run_chunk._cache_size() == before + 1
    assert not np.allclose(other["theta"], chunked["theta"])


def test_bootstrap_dirichlet_moments():
    y = np.random.default_rng(5).gamma(2.0, size=30)
    idata = bayesian_bootstrap(y, draws=8000, seed=6)
    draws = idata.posterior["statistic"].values.ravel()
    s2 = y.var()
    assert_moment(draws.mean(), y.mean(), np.sqrt(s2 / 31 / draws.size), name="mean")
    assert_moment(draws.var(), s2 / 31, _var_se(draws), name="variance s^2/(n+1)")


def test_bootstrap_urn_moments_and_agreement():
    y = np.random.default_rng(7).normal(size=20)
    steps, n = 200, 20
    urn = bayesian_bootstrap(y, method="urn", steps=steps, draws=4000, seed=8)
    draws = urn.posterior["statistic"].values.ravel()
    var = y.var() * steps / ((n + 1) * (n + steps))
    assert_moment(draws.mean(), y.mean(), np.sqrt(var / draws.size), name="urn mean")
    assert_moment(draws.var(), var, _var_se(draws), name="urn variance s^2 T/((n+1)(n+T))")
    # with many steps the urn's law approaches the Dirichlet's
    long = bayesian_bootstrap(y, method="urn", steps=4000, draws=2000, seed=9)
    direct = bayesian_bootstrap(y, method="dirichlet", draws=2000, seed=10)
    p = scipy.stats.ks_2samp(
        long.posterior["statistic"].values.ravel(), direct.posterior["statistic"].values.ravel()
    ).pvalue
    assert p > KS_ALPHA, f"urn (T=4000) and Dirichlet draws differ: KS p-value {p:.2g}"


def test_bootstrap_is_tagged_and_runs_without_global_x64():
    idata = bayesian_bootstrap(np.arange(10.0), draws=50, seed=0)
    assert idata.attrs["inference"] == "bayesian_bootstrap"
    assert idata.attrs["estimator"] == "bayesian_bootstrap_dirichlet"
    assert idata.posterior["statistic"].dtype == np.float32
    wide = bayesian_bootstrap(np.arange(10.0), draws=50, seed=0, precision="float64")
    assert wide.posterior["statistic"].dtype == np.float64


def test_bootstrap_any_statistic_with_dims():
    data = np.random.default_rng(11).normal(size=(40, 2)) + np.array([0.0, 5.0])

    def stats(d, w):
        mean = w @ d
        centred = d - mean[None, :]
        return {"mean": mean, "cov": centred.T @ (w[:, None] * centred)}

    idata = bayesian_bootstrap(
        data, stats, draws=500, seed=1, dims={"mean": ["col"], "cov": ["col", "col2"]}
    )
    assert idata.posterior["mean"].dims == ("chain", "draw", "col")
    assert idata.posterior["cov"].dims == ("chain", "draw", "col", "col2")
    assert idata.observed_data["y"].dims == ("observation", "y_axis0")
    assert abs(float(idata.posterior["mean"].values[..., 1].mean()) - data[:, 1].mean()) < 0.1


@pytest.mark.parametrize(
    ("kwargs", "message"),
    [
        ({"data": [1.0, np.nan, 2.0]}, "NaN"),
        ({"data": [1.0, 2.0], "method": "urns"}, "method"),
        ({"data": [1.0, 2.0], "draws": 0}, "draws"),
        ({"data": [1.0, 2.0, 3.0], "statistic": np.mean}, r"statistic\(data, weights\)"),
        ({"data": [1.0, 2.0, 3.0], "statistic": np.median}, "np.mean is not accepted"),
        ({"data": [1.0, 2.0, 3.0], "statistic": "mean"}, r"statistic\(data, weights\)"),
    ],
)
def test_bootstrap_errors(kwargs, message):
    with pytest.raises((ValueError, TypeError), match=message):
        bayesian_bootstrap(**kwargs)


def test_cli_registers_martingale():
    args = build_parser().parse_args(["martingale", "--smoke", "--out", "x"])
    assert args.smoke and args.out == "x" and callable(args.handler)


@pytest.mark.slow
def test_cli_runs_the_study_from_package_code(tmp_path):
    """``bayesuq martingale --smoke`` runs package code (no file under case_studies/), in
    under 30 s once compiled, and lists the baselines it did not run as not run."""
    import time

    import pandas as pd

    from bayesuq.cli import main

    started = time.perf_counter()
    assert main(["martingale", "--smoke", "--out", str(tmp_path)]) == 0
    seconds = time.perf_counter() - started
    assert (tmp_path / "martingale.png").is_file() and (tmp_path / "summary.csv").is_file()
    table = pd.read_csv(tmp_path / "summary.csv")
    baselines = table[table.method.isin(["mixture_nuts", "basis_nuts", "logistic_nuts"])]
    assert len(baselines) > 0 and (baselines.status == "not run (smoke)").all()
    assert baselines.value.isna().all()
    print(f"bayesuq martingale --smoke: {seconds:.1f} s")


@pytest.mark.slow
def test_smoke_moons_does_not_pass_the_copula_off_as_the_baseline():
    """Smoke mode used to write the copula's probabilities under moons_logistic_nuts_*: two
    identical rows that looked like a comparison. A baseline that did not run is marked."""
    from bayesuq.models.martingale.study import NOT_RUN, moons_section

    _, rows = moons_section(smoke=True)
    table = {(r["method"], r["metric"]): r for r in rows}
    for metric in ("accuracy", "test_loglik"):
        assert table[("copula", metric)]["status"] == "ok"
        assert np.isfinite(table[("copula", metric)]["value"])
        assert table[("logistic_nuts", metric)]["status"] == NOT_RUN
        assert np.isnan(table[("logistic_nuts", metric)]["value"])
