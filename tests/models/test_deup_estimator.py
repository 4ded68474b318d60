"""The DEUP estimator: out-of-sample targets, the squared-bias identity, results, errors."""

from __future__ import annotations

import numpy as np
import pytest
from sklearn.base import clone
from sklearn.dummy import DummyRegressor
from sklearn.linear_model import LinearRegression
from sklearn.neighbors import KNeighborsRegressor

from bayesuq.models.deup import DEUP, replicate_variances


def test_error_targets_come_from_predictors_that_had_not_seen_the_point():
    """A 1-nearest-neighbour predictor memorises its training set: its in-sample error is 0.

    Every held-out target must equal the error of a 1-NN refitted on that split's training
    folds only (recomputed here independently), and be non-zero; the 'seen' feature must
    say which points the split's predictor was trained on.
    """
    rng = np.random.default_rng(0)
    X = rng.uniform(-2, 2, size=(30, 2))
    y = np.sin(X[:, 0]) + X[:, 1] ** 2
    X_err = rng.uniform(-2, 2, size=(4, 2))
    model = DEUP(
        KNeighborsRegressor(n_neighbors=1), error_model=LinearRegression(),
        features=("x", "seen"), folds=3, repeats=2, seed=5,
    ).fit(X, y, X_error=X_err, y_error=np.sin(X_err[:, 0]) + X_err[:, 1] ** 2)  # fmt: skip
    targets = model.targets_
    assert model.splits_.shape == (6, 30)
    held_per_repeat = (~model.splits_).reshape(2, 3, 30).sum(axis=1)
    np.testing.assert_array_equal(held_per_repeat, np.ones((2, 30)))
    checked = 0
    for split, train in enumerate(model.splits_):
        rows = targets[targets.split == split].sort_values("row")
        np.testing.assert_array_equal(rows.held_out.to_numpy(), ~train)
        np.testing.assert_array_equal(rows.seen.to_numpy(), train.astype(float))
        refit = KNeighborsRegressor(n_neighbors=1).fit(X[train], y[train])
        expected = (refit.predict(X) - y) ** 2
        np.testing.assert_allclose(rows.squared_error.to_numpy(), expected, rtol=1e-12)
        assert np.all(rows.squared_error.to_numpy()[~train] > 0)  # out of sample
        assert np.all(rows.squared_error.to_numpy()[train] == 0)  # in sample: memorised
        checked += (~train).sum()
    assert checked == 60
    extra = targets[targets.split == -1]
    assert len(extra) == 4 and extra.held_out.all() and (extra.seen == 0).all()
    full = KNeighborsRegressor(n_neighbors=1).fit(X, y)
    y_err = np.sin(X_err[:, 0]) + X_err[:, 1] ** 2
    np.testing.assert_allclose(extra.squared_error, (full.predict(X_err) - y_err) ** 2)


def test_mean_squared_error_minus_noise_variance_is_the_squared_bias():
    """Y ~ N(mu, sigma^2), constant predictor c: E(c - Y)^2 - sigma^2 = (c - mu)^2.

    DEUP with a constant error model averages the out-of-sample squared errors and
    subtracts the known noise variance (aleatoric=sigma^2, raw squared errors). Monte
    Carlo tolerance: 4 standard errors of the mean squared error.
    """
    mu, sigma2, c, n = 1.0, 0.25, 1.6, 20_000
    rng = np.random.default_rng(1)
    X = rng.uniform(size=(n, 1))
    y = mu + np.sqrt(sigma2) * rng.standard_normal(n)
    predictor = DummyRegressor(strategy="constant", constant=c)
    model = DEUP(predictor, error_model=DummyRegressor(), features=("x",), aleatoric=sigma2)
    model.fit(X, y)
    assert not model.log_errors_  # with noise the raw squared errors are regressed
    u = model.epistemic(np.array([[0.1], [0.9]]))
    se = np.std((c - y) ** 2, ddof=1) / np.sqrt(n)
    assert u[0] == u[1]
    assert abs(u[0] - (c - mu) ** 2) <= 4 * se, (u[0], (c - mu) ** 2, se)
    np.testing.assert_allclose(model.aleatoric(np.zeros((2, 1))), sigma2)
    np.testing.assert_allclose(model.total(np.zeros((1, 1))), u[:1] + sigma2)


def test_replicate_variances_give_the_aleatoric_part():
    """a(x) from replicates: 60 inputs x 25 replicates, Var(Y | x) = 0.05 + 0.3 x.

    Tolerance: 25% relative on a grid inside the data (each log variance has sd ~0.29;
    the GP pools neighbours).
    """
    rng = np.random.default_rng(2)
    x = np.repeat(np.linspace(0, 1, 60), 25)
    noise_var = 0.05 + 0.3 * x
    y = np.sin(3 * x) + np.sqrt(noise_var) * rng.standard_normal(x.size)
    inputs, variances, counts = replicate_variances(x[:, None], y)
    assert inputs.shape == (60, 1) and np.all(counts == 25)
    group = y[:25]
    assert variances[0] == pytest.approx(np.var(group, ddof=1))
    model = DEUP(
        LinearRegression(), aleatoric="replicates", features=("x",), error_model=LinearRegression()
    )
    model.fit(x[:, None], y)
    grid = np.linspace(0.05, 0.95, 10)[:, None]
    np.testing.assert_allclose(model.aleatoric(grid), 0.05 + 0.3 * grid[:, 0], rtol=0.25)
    assert np.all(model.epistemic(grid) >= 0)


def test_predictive_draws_come_through_the_results_front_door():
    rng = np.random.default_rng(3)
    X = rng.uniform(size=(40, 1))
    y = np.cos(4 * X[:, 0])
    model = DEUP(KNeighborsRegressor(n_neighbors=3), error_model=LinearRegression(),
                 features=("x", "distance"))  # fmt: skip
    model.fit(X, y)
    Xq = np.linspace(0, 1, 7)[:, None]
    idata = model.predictive(Xq, draws=4000, seed=1)
    assert idata.attrs["inference"] == "deup"
    assert idata.attrs["estimator"] == "DEUP"
    draws = idata.posterior_predictive["y"]
    assert draws.dims == ("chain", "draw", "point") and draws.shape == (1, 4000, 7)
    assert idata.constant_data["x"].dims == ("point", "input")
    sd = np.sqrt(model.total(Xq))
    mean = model.predict(Xq)
    np.testing.assert_allclose(idata.constant_data["mean"], mean)
    # Monte Carlo tolerance: 5 standard errors of the mean of 4000 draws.
    assert np.all(
        np.abs(draws.mean(("chain", "draw")).values - mean) <= 5 * sd / np.sqrt(4000) + 1e-12
    )


def test_bad_input_and_settings_are_refused_clearly():
    X = np.random.default_rng(4).uniform(size=(10, 1))
    y = X[:, 0]
    with pytest.raises(ValueError, match="NaN"):
        DEUP(LinearRegression()).fit(np.full((10, 1), np.nan), y)
    with pytest.raises(ValueError, match="y must have shape"):
        DEUP(LinearRegression()).fit(X, y[:5])
    with pytest.raises(ValueError, match="folds must be <="):
        DEUP(LinearRegression(), folds=11).fit(X, y)
    with pytest.raises(ValueError, match="error_model must be"):
        DEUP(LinearRegression(), error_model="forest").fit(X, y)
    with pytest.raises(ValueError, match="features must be"):
        DEUP(LinearRegression(), features=("x", "colour")).fit(X, y)
    with pytest.raises(ValueError, match="aleatoric must be"):
        DEUP(LinearRegression(), aleatoric=-1.0).fit(X, y)
    with pytest.raises(ValueError, match="replicates"):
        DEUP(LinearRegression(), aleatoric="replicates").fit(X, y)
    with pytest.raises(TypeError, match="predictor must be"):
        DEUP(object()).fit(X, y)
    big = np.random.default_rng(5).uniform(size=(1100, 1))
    with pytest.raises(ValueError, match="exact GP on all 4400 error targets"):
        DEUP(LinearRegression(), features=("x",)).fit(big, big[:, 0])
    with pytest.raises(RuntimeError, match="not fitted"):
        DEUP(LinearRegression()).epistemic(X)
    fitted = DEUP(LinearRegression(), features=("x",), error_model=LinearRegression()).fit(X, y)
    with pytest.raises(ValueError, match="columns"):
        fitted.predict(np.zeros((3, 2)))


def test_scikit_learn_parameters_round_trip_despite_the_aleatoric_method():
    model = DEUP(LinearRegression(), aleatoric=0.5, folds=3)
    params = model.get_params()
    assert params["aleatoric"] == 0.5 and params["folds"] == 3
    copy = clone(model)
    assert copy.get_params()["aleatoric"] == 0.5
    copy.set_params(aleatoric="replicates", seed=4)
    assert copy.get_params()["aleatoric"] == "replicates" and copy.seed == 4
    assert callable(copy.aleatoric)
    assert "aleatoric=0.5" in repr(model)


@pytest.mark.slow
@pytest.mark.parametrize("seed", [0, 1])
def test_deup_ranks_the_excess_risk_better_than_the_baselines_on_the_misspecified_design(seed):
    """Spearman correlation with the true excess risk on the grid (seeds fixed in advance)."""
    from bayesuq.models.deup import spearman_study

    table = spearman_study(seed=seed)["table"].set_index("estimator")["spearman"]
    for baseline in ("GP variance", "Ensemble variance", "MC-dropout variance"):
        assert table["DEUP"] > table[baseline], table.to_dict()


@pytest.mark.slow
def test_deup_wraps_a_numpyro_posterior_predictive():
    """A Bayesian linear regression fitted by NUTS as the main predictor of DEUP."""
    import numpyro
    import numpyro.distributions as dist

    from bayesuq.models.deup import PosteriorPredictiveRegressor

    def linear(x, y=None):
        w = numpyro.sample("w", dist.Normal(0, 1))
        b = numpyro.sample("b", dist.Normal(0, 1))
        numpyro.deterministic("mu", b + w * x[:, 0])
        numpyro.sample("y", dist.Normal(b + w * x[:, 0], 0.1), obs=y)

    rng = np.random.default_rng(5)
    X = rng.uniform(-1, 1, size=(40, 1))
    y = np.sin(2 * X[:, 0]) + 0.1 * rng.standard_normal(40)  # a line is misspecified
    predictor = PosteriorPredictiveRegressor(linear, site="mu", chains=1, draws=300, warmup=300)
    model = DEUP(predictor, features=("x",), aleatoric=0.01).fit(X, y)
    assert model.targets_.held_out.sum() == 80
    u = model.epistemic(np.array([[-1.0], [0.0], [1.0]]))
    assert np.all(np.isfinite(u)) and np.all(u >= 0)
    idata = model.predictive(np.zeros((2, 1)), draws=50)
    assert idata.posterior_predictive["y"].shape == (1, 50, 2)
