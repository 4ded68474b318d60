"""BayesianPresto: diagnostics, named dims, and agreement with the penalised fit."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest

import bayesuq
from bayesuq.models.presto import BayesianPresto, Presto, simulate_sparse_diffs

N, LAM = 800, 0.01


@pytest.fixture(scope="module")
def fitted():
    data = simulate_sparse_diffs(n=N, p=3, intercepts=(0.0, 2.5), seed=1)
    labels = np.array(["low", "mid", "high"])
    X = pd.DataFrame(data.X, columns=["a", "b", "c"])
    y = pd.Series(pd.Categorical(labels[data.y], categories=labels, ordered=True))
    bayes = BayesianPresto(
        scale=BayesianPresto.matching_scale(LAM, N),
        first_scale=10.0,
        chains=2,
        draws=400,
        warmup=400,
        seed=3,
    ).fit(X, y)
    return data, X, y, bayes


def test_passes_diagnostics_and_has_named_dims(fitted):
    bayes = fitted[3]
    assert bayes.diagnose().ok
    post = bayes.idata_.posterior
    assert post["beta"].dims == ("chain", "draw", "feature", "threshold")
    assert list(post["feature"].values) == ["a", "b", "c"]
    assert list(post["threshold"].values) == ["<=low", "<=mid"]
    assert bayes.idata_.posterior_predictive["p_rare"].dims == ("chain", "draw", "obs")
    assert not any("_dim_" in d for d in post.dims)


def test_posterior_mean_close_to_penalised_fit_at_matching_scale(fitted):
    """Laplace scale 1/(n lam) <-> Presto(lam, penalize_first=False): the posterior mean is
    not the mode, so the tolerance is 0.01 (mean abs, rare class; mean rare prob ~0.08) and
    0.05 (max abs, any class)."""
    _, X, y, bayes = fitted
    pen = Presto(lam=LAM, penalize_first=False).fit(X, y)
    mean, ref = bayes.predict_proba(X), pen.predict_proba(X)
    assert np.mean(np.abs(mean[:, -1] - ref[:, -1])) < 0.01
    assert np.max(np.abs(mean - ref)) < 0.05


def test_rare_interval_and_draws(fitted):
    data, X, _, bayes = fitted
    table = bayes.rare_interval(X, prob=0.9)
    assert np.all(table["lower"] <= table["mean"]) and np.all(table["mean"] <= table["upper"])
    coverage = np.mean(
        (table["lower"] <= data.probs[:, -1]) & (data.probs[:, -1] <= table["upper"])
    )
    assert coverage > 0.6, coverage  # pointwise 90% intervals, correlated across rows
    draws = bayes.predict_proba_draws(X.iloc[:5])
    assert draws.dims == ("chain", "draw", "obs", "class")
    np.testing.assert_allclose(draws.sum("class").values, 1.0, atol=1e-9)
    assert float(draws.min()) >= 0.0


def test_save_load_round_trip(fitted, tmp_path):
    bayes = fitted[3]
    bayesuq.save(bayes.idata_, tmp_path / "presto.nc")
    back = bayesuq.load(tmp_path / "presto.nc")
    np.testing.assert_allclose(back.posterior["beta"].values, bayes.idata_.posterior["beta"].values)


def test_bad_scale_is_named():
    with pytest.raises(ValueError, match="scale must be a finite number > 0, got -1"):
        BayesianPresto(scale=-1.0).fit(np.zeros((4, 1)), [0, 1, 2, 2])


def test_result_is_built_once_through_the_front_door(fitted):
    """One inference_data(inference="nuts") call: NUTS's sample_stats and settings kept,
    the family's additions in place, provenance written once (no attrs patched after)."""
    idata = fitted[3].idata_
    assert idata.attrs["inference"] == "nuts" and idata.attrs["estimator"] == "bayesian_presto"
    assert idata.attrs["prior_scale"] == pytest.approx(BayesianPresto.matching_scale(LAM, N))
    assert idata.attrs["seed"] == 3 and idata.attrs["chains"] == 2
    assert float(idata.attrs["sampling_seconds"]) > 0
    for group in idata.groups():
        assert getattr(idata, group).attrs == idata.attrs, group
    assert "diverging" in idata.sample_stats and "p_rare" in idata.posterior_predictive


def test_nan_and_unordered_string_labels_are_refused():
    X = np.random.default_rng(0).normal(size=(6, 1))
    with pytest.raises(ValueError, match="missing"):
        BayesianPresto().fit(X, [0.0, 1.0, np.nan, 2.0, 1.0, 0.0])
    with pytest.raises(ValueError, match="classes="):
        BayesianPresto().fit(X, ["low", "mid", "high", "high", "mid", "low"])


@pytest.mark.slow
def test_tiny_scale_is_proportional_odds():
    """scale -> 0 pins the differences at 0, so the posterior is that of proportional odds:
    by Bernstein-von Mises its mean is within 0.5 posterior sd of the PO MLE (n = 400;
    1000 draws per chain because the tiny scale makes the posterior badly conditioned)."""
    from bayesuq.models.presto import ProportionalOdds

    data = simulate_sparse_diffs(n=400, p=2, intercepts=(0.0, 2.0), seed=4)
    bayes = BayesianPresto(scale=1e-4, first_scale=10.0, chains=2, draws=1000, warmup=500).fit(
        data.X, data.y
    )
    post = bayes.idata_.posterior
    assert float(np.abs(post["psi_rest"]).max()) < 5e-3
    po = ProportionalOdds().fit(data.X, data.y)
    for name, mle in (("beta", po.coef_), ("intercept", po.intercept_)):
        mean = post[name].mean(("chain", "draw")).values
        sd = post[name].std(("chain", "draw")).values
        z = np.abs(mean - mle) / sd
        assert np.all(z < 0.5), (name, z)


def test_a_second_fit_on_same_shaped_data_compiles_nothing(fitted):
    """The program cache keys on the model's content: a new estimator's new closure hits it."""
    from bayesuq.infer import programs

    _data, X, y, bayes = fitted
    before = programs.PROGRAMS.compiles
    again = BayesianPresto(
        scale=bayes.scale, first_scale=bayes.first_scale, chains=2, draws=400, warmup=400, seed=4
    ).fit(X.iloc[::-1].reset_index(drop=True), y.iloc[::-1].reset_index(drop=True))
    assert programs.PROGRAMS.compiles == before
    assert again.idata_.attrs["compile_seconds"] == 0.0
