"""Reproducibility, the in-process program cache, save/load and the output contract."""

from __future__ import annotations

import warnings

import arviz as az
import jax
import numpy as np
import numpyro
import numpyro.distributions as dist
import pandas as pd
import pytest

import bayesuq
from bayesuq.data import eight_schools_centered, eight_schools_noncentered

FAST = {"chains": 2, "draws": 200, "warmup": 200, "progress": False}


def regression(x, y=None):
    w = numpyro.sample("w", dist.Normal(0.0, 1.0).expand([x.shape[1]]).to_event(1))
    s = numpyro.sample("s", dist.Exponential(1.0))
    mean = numpyro.deterministic("mean", x @ w)
    with numpyro.plate("obs", x.shape[0]):
        numpyro.sample("y", dist.Normal(mean, s), obs=y)


def _regression_data(seed):
    rng = np.random.default_rng(seed)
    x = rng.normal(size=(30, 2))
    return {"x": x, "y": x @ np.array([0.5, -1.0]) + rng.normal(size=30)}


def test_same_seed_same_draws_other_seed_other_draws():
    data = _regression_data(0)
    a = bayesuq.nuts(regression, data, seed=4, **FAST)
    b = bayesuq.nuts(regression, data, seed=4, **FAST)
    c = bayesuq.nuts(regression, data, seed=5, **FAST)
    np.testing.assert_array_equal(a.posterior["w"].values, b.posterior["w"].values)
    assert not np.allclose(a.posterior["w"].values, c.posterior["w"].values)


def test_refit_on_new_data_of_same_shape_does_not_recompile():
    """The second fit neither traces nor compiles anything: no XLA backend compile at all."""
    from bayesuq.infer import programs as nuts_module

    bayesuq.nuts(regression, _regression_data(1), seed=0, **FAST)
    compiles_before = nuts_module.PROGRAMS.compiles
    events: list[str] = []

    def listener(event, duration, **_):
        if "backend_compile" in event or "trace" in event:
            events.append(event)

    jax.monitoring.register_event_duration_secs_listener(listener)
    try:
        idata = bayesuq.nuts(regression, _regression_data(2), seed=1, **FAST)
    finally:
        jax.monitoring.unregister_event_duration_listener(listener)
    assert nuts_module.PROGRAMS.compiles == compiles_before
    assert idata.attrs["compile_seconds"] == 0.0
    assert [e for e in events if "backend_compile" in e] == []


def test_save_load_round_trip(tmp_path):
    idata = bayesuq.nuts(regression, _regression_data(3), seed=2, log_likelihood=True, **FAST)
    path = bayesuq.save(idata, tmp_path / "fit.nc")
    loaded = bayesuq.load(path)
    assert set(loaded.groups()) == set(idata.groups())
    assert loaded.attrs == idata.attrs
    for group in idata.groups():
        for name, value in getattr(idata, group).data_vars.items():
            np.testing.assert_array_equal(getattr(loaded, group)[name].values, value.values)
    assert not list(tmp_path.glob("*.partial"))


def test_load_missing_file_is_clear(tmp_path):
    with pytest.raises(FileNotFoundError, match="no results file"):
        bayesuq.load(tmp_path / "absent.nc")


def test_output_contract(eight_schools_data):
    idata = bayesuq.nuts(
        eight_schools_noncentered,
        eight_schools_data,
        seed=3,
        log_likelihood=True,
        draws=1000,
        target_accept=0.9,
        progress=False,
    )
    post = idata.posterior
    assert post["eta"].dims == ("chain", "draw", "school")
    assert post["theta"].dims == ("chain", "draw", "school")  # deterministic site
    assert list(post["school"].values)[:2] == ["Choate", "Deerfield"]
    assert idata.observed_data["y"].dims == ("school",)
    assert idata.log_likelihood["y"].dims == ("chain", "draw", "school")
    assert "sigma" in idata.constant_data
    for stat in (
        "diverging",
        "tree_depth",
        "n_steps",
        "energy",
        "step_size",
        "lp",
        "acceptance_rate",
        "reached_max_treedepth",
    ):
        assert idata.sample_stats[stat].dims == ("chain", "draw"), stat
    for key in (
        "seed",
        "bayesuq_version",
        "jax_version",
        "numpyro_version",
        "jax_backend",
        "jax_devices",
        "compile_seconds",
        "sampling_seconds",
        "chain_method",
    ):
        assert key in idata.attrs, key
    assert not any("_dim_" in d for d in post.dims)
    with warnings.catch_warnings():  # eight schools has influential points (Pareto k ~0.7)
        warnings.filterwarnings("ignore", message="Estimated shape parameter of Pareto")
        loo = az.loo(idata)
    assert np.isfinite(loo.elpd_loo)
    # n_steps and tree depth agree: 2^(depth-1) <= n_steps < 2^depth
    depth = idata.sample_stats["tree_depth"].values
    steps = idata.sample_stats["n_steps"].values
    assert np.all((2 ** (depth - 1) <= steps) & (steps < 2**depth))


def test_pandas_columns_name_event_dims():
    rng = np.random.default_rng(0)
    x = pd.DataFrame(rng.normal(size=(30, 2)), columns=pd.Index(["a", "b"], name="feature"))
    y = pd.Series(rng.normal(size=30), index=pd.RangeIndex(30, name="obs"))
    idata = bayesuq.nuts(regression, {"x": x, "y": y}, seed=0, **FAST)
    assert idata.posterior["w"].dims == ("chain", "draw", "feature")
    assert list(idata.posterior["feature"].values) == ["a", "b"]
    assert idata.constant_data["x"].dims == ("obs", "feature")


def plate_named_like_its_size(J, K, sigma, y=None):
    mu = numpyro.sample("mu", dist.Normal(0.0, 5.0))
    numpyro.sample("unused", dist.Normal(0.0, 1.0).expand([K]).to_event(1))
    with numpyro.plate("J", J):
        numpyro.sample("y", dist.Normal(mu, sigma), obs=y)


def test_data_named_like_a_plate_does_not_lose_the_fit():
    """``numpyro.plate("J", J)``: the scalar ``J`` is the dim's size, not a clash (seed 0).

    A data entry named like a dim, with another value, is kept under ``<name>_value``.
    """
    data = {"J": 8, "K": 2, "sigma": np.full(8, 2.0), "y": np.linspace(-1.0, 1.0, 8)}
    idata = bayesuq.nuts(plate_named_like_its_size, data, seed=0, **FAST)
    assert idata.constant_data["sigma"].dims == ("J",)
    assert idata.constant_data.sizes["J"] == 8
    assert "J" not in idata.constant_data.data_vars
    assert int(idata.constant_data["K"]) == 2
    # the analytic posterior mean of mu (prior N(0, 25), known sd 2): ybar = 0
    assert abs(float(idata.posterior["mu"].mean())) < 0.3

    data["J"] = np.array([1.0, 2.0])  # an array called J: not the size of dim J

    def model(J, K, sigma, y=None):
        plate_named_like_its_size(8, K, sigma, y)
        numpyro.deterministic("J_sum", J.sum())

    with pytest.warns(UserWarning, match="stored in constant_data as 'J_value'"):
        idata = bayesuq.nuts(model, data, seed=0, **FAST)
    np.testing.assert_array_equal(idata.constant_data["J_value"].values, [1.0, 2.0])


def test_user_dims_and_coords_override():
    idata = bayesuq.nuts(
        regression,
        _regression_data(0),
        seed=0,
        dims={"w": ["coef"]},
        coords={"coef": ["slope_a", "slope_b"]},
        **FAST,
    )
    assert idata.posterior["w"].dims == ("chain", "draw", "coef")
    assert list(idata.posterior["coef"].values) == ["slope_a", "slope_b"]


def test_user_dims_for_data_entries_and_unknown_keys():
    data = _regression_data(0)
    idata = bayesuq.nuts(
        regression, data, seed=0, dims={"x": ["obs", "coef"], "w": ["coef"]}, **FAST
    )
    assert idata.constant_data["x"].dims == ("obs", "coef")
    assert idata.posterior["w"].dims == ("chain", "draw", "coef")
    with pytest.raises(ValueError, match=r"dims has key 'beta'"):
        bayesuq.nuts(regression, data, dims={"beta": ["coef"]}, **FAST)


@pytest.mark.parametrize("method", ["vectorized", "sequential", "parallel", "threads"])
def test_chain_methods_agree_in_distribution(method, eight_schools_data):
    if method == "parallel" and 4 % jax.device_count():
        pytest.skip("needs a device count that divides 4 chains")
    idata = bayesuq.nuts(
        eight_schools_noncentered,
        eight_schools_data,
        chains=4,
        draws=500,
        warmup=500,
        seed=8,
        chain_method=method,
        target_accept=0.95,
        progress=False,
    )
    assert idata.attrs["chain_method"] == method
    mu = idata.posterior["mu"].values
    # Posterior mean of mu is about 4.4 (long reference run); 4 MCSE tolerance.
    assert abs(mu.mean() - 4.4) < 4 * float(az.mcse(mu)) + 0.1


def test_centered_eight_schools_is_flagged(eight_schools_data):
    idata = bayesuq.nuts(eight_schools_centered, eight_schools_data, seed=1, progress=False)
    report = bayesuq.diagnose(idata)
    assert report.divergences > 0
    assert not report.ok
    assert any("divergent transitions" in m and "target_accept" in m for m in report.messages)


def test_noncentered_eight_schools_is_ok(eight_schools_data):
    idata = bayesuq.nuts(
        eight_schools_noncentered,
        eight_schools_data,
        seed=1,
        target_accept=0.95,
        progress=False,
    )
    report = bayesuq.diagnose(idata)
    assert report.ok, report.messages
    assert report.divergences == 0


def test_x64_draws_are_float64(tmp_path):
    """float64 on request, in a fresh process (x64 must be set before arrays exist)."""
    import subprocess
    import sys

    code = (
        "import bayesuq; bayesuq.enable_x64(); "
        "import numpyro, numpyro.distributions as dist\n"
        "def m(): numpyro.sample('x', dist.Normal(0, 1))\n"
        "i = bayesuq.nuts(m, chains=1, draws=20, warmup=20, progress=False)\n"
        "print(i.posterior['x'].dtype, i.attrs['x64'])"
    )
    out = subprocess.run(
        [sys.executable, "-c", code], capture_output=True, text=True, check=True, timeout=300
    )
    assert out.stdout.split() == ["float64", "True"]
