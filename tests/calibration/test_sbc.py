"""Simulation-based calibration end to end: a correct model passes, wrong ones fail;
the same from the command line (``bayesuq sbc``)."""

from __future__ import annotations

import inspect

import numpy as np
import numpyro
import numpyro.distributions as dist
import pandas as pd
import pytest

import bayesuq
from bayesuq.calibration.sbc import SBCResult
from bayesuq.cli import main

X = np.linspace(-1.0, 1.0, 10)
SETTINGS = {"n_sims": 100, "draws": 250, "warmup": 250, "chains": 2, "progress": False}


def regression(x, y=None):
    mu = numpyro.sample("mu", dist.Normal(0.0, 1.0))
    sigma = numpyro.sample("sigma", dist.HalfNormal(1.0))
    with numpyro.plate("obs", x.shape[0]):
        numpyro.sample("y", dist.Normal(mu + x, sigma), obs=y)


def regression_wrong_scale(x, y=None):
    """The likelihood's scale is off by a factor 2."""
    mu = numpyro.sample("mu", dist.Normal(0.0, 1.0))
    sigma = numpyro.sample("sigma", dist.HalfNormal(1.0))
    with numpyro.plate("obs", x.shape[0]):
        numpyro.sample("y", dist.Normal(mu + x, 2.0 * sigma), obs=y)


def regression_wrong_prior(x, y=None):
    """The prior of mu is four times too narrow."""
    mu = numpyro.sample("mu", dist.Normal(0.0, 0.25))
    sigma = numpyro.sample("sigma", dist.HalfNormal(1.0))
    with numpyro.plate("obs", x.shape[0]):
        numpyro.sample("y", dist.Normal(mu + x, sigma), obs=y)


@pytest.fixture(scope="module")
def calibrated() -> SBCResult:
    return bayesuq.sbc(regression, {"x": X}, observed="y", seed=0, **SETTINGS)


def test_correct_model_passes(calibrated):
    assert calibrated.ok, str(calibrated)
    assert list(calibrated.ranks.columns) == ["mu", "sigma"]
    assert calibrated.ranks.shape == (100, 2)
    assert calibrated.ranks.to_numpy().min() >= 0
    assert calibrated.ranks.to_numpy().max() <= calibrated.max_rank
    assert calibrated.max_rank == 2 * (-(-250 // calibrated.attrs["thin"]))
    summary = calibrated.summary()
    assert (summary["pattern"] == "uniform").all()
    # Uniform scaled ranks: mean 1/2 (sd 0.029 over 100 sims), sd 0.289.
    assert np.all(np.abs(summary["mean_scaled_rank"] - 0.5) < 0.1)
    assert "calibrated" in str(calibrated)


def test_truth_comes_from_the_prior(calibrated):
    # mu ~ N(0, 1) over 100 draws: mean within 0.4, sd within 0.75..1.3.
    mu = calibrated.truth["mu"]
    assert abs(mu.mean()) < 0.4 and 0.75 < mu.std() < 1.3
    assert (calibrated.truth["sigma"] > 0).all()


def test_wrong_likelihood_scale_fails():
    result = bayesuq.sbc(
        regression, {"x": X}, observed="y", fit_model=regression_wrong_scale, seed=0, **SETTINGS
    )
    assert not result.ok
    summary = result.summary()
    assert not summary.loc["sigma", "ok"]
    # The fit halves sigma: the truth sits above the posterior, so ranks pile up high.
    assert summary.loc["sigma", "mean_scaled_rank"] > 0.8
    assert "underestimates" in summary.loc["sigma", "pattern"]
    assert any(line.startswith("sigma: ranks are not uniform") for line in result.advice())


def test_prior_mismatch_fails():
    result = bayesuq.sbc(
        regression, {"x": X}, observed="y", fit_model=regression_wrong_prior, seed=0, **SETTINGS
    )
    assert not result.ok
    assert not result.summary().loc["mu", "ok"]
    # Shrinkage towards 0 puts extreme true mu values outside the posterior: U-shaped ranks.
    assert result.summary().loc["mu", "sd_scaled_rank"] > 0.33


def test_plot_draws_one_panel_per_quantity(calibrated):
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    figure = calibrated.plot()
    visible = [ax for ax in figure.axes if ax.get_visible()]
    assert [ax.get_title().split(" ")[0] for ax in visible] == ["mu", "sigma"]
    plt.close(figure)
    with pytest.raises(ValueError, match="unknown quantities"):
        calibrated.plot(["nope"])


@pytest.mark.parametrize(
    ("kwargs", "error", "match"),
    [
        ({"observed": {"y": "obs"}}, ValueError, "no sample site"),
        ({"observed": "obs"}, ValueError, "does not take"),
        ({"observed": "y", "n_sims": 1}, ValueError, "n_sims"),
        ({"observed": "y", "params": ["tau"]}, ValueError, "not sites of the prior"),
        ({"observed": "y", "alpha": 1.5}, ValueError, "alpha"),
        ({"observed": "y", "chain_method": "parallel"}, TypeError, "unexpected keyword"),
    ],
)
def test_bad_arguments_are_refused(kwargs, error, match):
    with pytest.raises(error, match=match):
        bayesuq.sbc(regression, {"x": X}, **kwargs)


def test_prior_that_simulates_non_finite_data_is_refused():
    def exploding(x, y=None, z=None):
        scale = numpyro.sample("scale", dist.Normal(0.0, 1.0))
        with numpyro.plate("obs", x.shape[0]):
            numpyro.sample("y", dist.Normal(scale, 1.0), obs=y)
        # exp(100) overflows float32: the simulated z is inf.
        numpyro.sample("z", dist.LogNormal(100.0 + scale, 1.0), obs=z)

    with pytest.raises(ValueError, match="non-finite 'z'"):
        bayesuq.sbc(exploding, {"x": X}, observed=["y", "z"], n_sims=5, progress=False)


def test_ranks_are_reproducible_from_the_seed(calibrated):
    again = bayesuq.sbc(regression, {"x": X}, observed="y", seed=0, **SETTINGS)
    pd.testing.assert_frame_equal(again.ranks, calibrated.ranks)


# ``bayesuq sbc`` on a script holding the same models (their source, copied by inspect) and
# data: the compiled programs come from the cache, keyed by what the model computes.
SCRIPT = "\n".join(
    [
        "import numpy as np",
        "import numpyro",
        "import numpyro.distributions as dist",
        "data = {'x': np.linspace(-1.0, 1.0, 10)}",
        inspect.getsource(regression),
        inspect.getsource(regression_wrong_scale),
    ]
)
ARGS = ["--observed", "y", "--n-sims", "100", "--draws", "250", "--warmup", "250", "--no-progress"]


@pytest.fixture(scope="module")
def script(tmp_path_factory):
    path = tmp_path_factory.mktemp("sbc") / "models.py"
    path.write_text(SCRIPT)
    return path


def test_calibrated_script_model_exits_zero_and_writes_results(script, tmp_path, capsys):
    status = main(["sbc", f"{script}:regression", *ARGS, "-o", str(tmp_path)])
    assert status == 0, capsys.readouterr().out
    assert {p.name for p in tmp_path.iterdir()} == {
        "ranks.csv",
        "summary.csv",
        "sbc.png",
        "sbc.txt",
    }
    ranks = pd.read_csv(tmp_path / "ranks.csv", index_col=0)
    assert list(ranks.columns) == ["mu", "sigma"] and len(ranks) == 100
    assert (tmp_path / "sbc.txt").read_text().startswith("SBC: calibrated")


def test_miscalibrated_fit_model_exits_one(script, tmp_path):
    args = ["--fit-model", "regression_wrong_scale", "-o", str(tmp_path)]
    assert main(["sbc", f"{script}:regression", *ARGS, *args]) == 1
    assert "NOT calibrated" in (tmp_path / "sbc.txt").read_text()


@pytest.mark.parametrize(
    ("target", "match"),
    [("nowhere.py:model", "neither a bundled example"), ("{script}:missing", "no function")],
)
def test_bad_targets_are_usage_errors(script, tmp_path, target, match, capsys):
    status = main(["sbc", target.format(script=script), "--observed", "y", "-o", str(tmp_path)])
    assert status == 2
    assert match in capsys.readouterr().err


def test_a_model_that_takes_its_size_from_the_observed_data_is_explained():
    def sized_by_y(y=None):
        mu = numpyro.sample("mu", dist.Normal(0.0, 1.0))
        with numpyro.plate("obs", y.shape[0]):
            numpyro.sample("y", dist.Normal(mu, 1.0), obs=y)

    with pytest.raises(ValueError, match=r"takes a size from the observed data.*data=\{'n': 8\}"):
        bayesuq.sbc(sized_by_y, {}, observed="y", n_sims=5, progress=False)
