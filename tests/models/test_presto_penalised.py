"""PRESTO and its baselines against oracles: statsmodels, scikit-learn, scipy, KKT."""

from __future__ import annotations

import warnings

import jax
import jax.numpy as jnp
import numpy as np
import pandas as pd
import pytest
from scipy.optimize import minimize
from sklearn.base import clone
from sklearn.linear_model import LogisticRegression
from sklearn.model_selection import cross_val_score
from sklearn.utils.estimator_checks import check_get_params_invariance, check_set_params

from bayesuq.models.presto import (
    CumulativeLogit,
    Presto,
    ProportionalOdds,
    estimators,
    simulate_dense_diffs,
    simulate_sparse_diffs,
    solver,
)
from bayesuq.models.presto.penalised import penalty_mask, presto_batch_rare_probs
from bayesuq.precision import computing_in


@pytest.fixture(scope="module")
def small():
    """n=400, p=3, K=4: every class well represented (fast, well-posed)."""
    return simulate_dense_diffs(n=400, p=3, intercepts=(-1.0, 0.5, 2.0), seed=3)


def _statsmodels_po(X, y):
    from statsmodels.miscmodels.ordinal_model import OrderedModel

    model = OrderedModel(y, X, distr="logit")
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")  # statsmodels' own convergence chatter
        res = model.fit(method="bfgs", disp=False, maxiter=5000, gtol=1e-10)
    return res.predict(X), res.params[: X.shape[1]]


def test_proportional_odds_matches_statsmodels(small):
    probs_sm, beta_sm = _statsmodels_po(small.X, small.y)
    po = ProportionalOdds().fit(small.X, small.y)
    # statsmodels writes P(y <= k) = F(c_k - x'b): our beta is -b.
    np.testing.assert_allclose(po.coef_[:, 0], -beta_sm, atol=1e-4)
    np.testing.assert_allclose(po.predict_proba(small.X), probs_sm, atol=1e-5)


def test_huge_lambda_with_free_first_slope_is_proportional_odds(small):
    probs_sm, beta_sm = _statsmodels_po(small.X, small.y)
    fit = Presto(lam=10.0, penalize_first=False, tol=1e-10).fit(small.X, small.y)
    assert np.all(fit.psi_[:, 1:] == 0.0)
    np.testing.assert_allclose(fit.coef_, np.repeat(-beta_sm[:, None], 3, axis=1), atol=1e-4)
    np.testing.assert_allclose(fit.predict_proba(small.X), probs_sm, atol=1e-5)


def test_lambda_max_zeroes_psi_and_below_it_does_not(small):
    fit = Presto(lam=0.0, tol=1e-10).fit(small.X, small.y)
    at = Presto(lam=fit.lambda_max_ * 1.0001, tol=1e-10).fit(small.X, small.y)
    below = Presto(lam=fit.lambda_max_ * 0.9, tol=1e-10).fit(small.X, small.y)
    assert np.all(at.psi_ == 0.0)
    assert np.any(below.psi_ != 0.0)


def test_lambda_zero_binary_is_logistic_regression():
    data = simulate_dense_diffs(n=300, p=3, intercepts=(0.3,), seed=5)
    fit = Presto(lam=0.0, tol=1e-10).fit(data.X, data.y)
    # P(y <= 0) = sigma(alpha + x'beta): a logistic regression of 1{y == 0}.
    ref = LogisticRegression(C=np.inf, tol=1e-12, max_iter=10_000).fit(data.X, data.y == 0)
    np.testing.assert_allclose(fit.coef_[:, 0], ref.coef_[0], atol=1e-5)
    np.testing.assert_allclose(fit.intercept_, ref.intercept_, atol=1e-5)


def test_cumulative_logit_matches_separate_sklearn_fits(small):
    fit = CumulativeLogit().fit(small.X, small.y)
    for k in range(3):
        ref = LogisticRegression(C=np.inf, tol=1e-12, max_iter=10_000).fit(small.X, small.y <= k)
        np.testing.assert_allclose(fit.coef_[:, k], ref.coef_[0], atol=1e-5)
        np.testing.assert_allclose(fit.intercept_[k], ref.intercept_[0], atol=1e-5)


def test_lambda_zero_is_coupled_not_separate_logits(small):
    """lambda = 0 is the joint non-parallel MLE: close to the separate fits, not equal."""
    free = Presto(lam=0.0, tol=1e-10).fit(small.X, small.y)
    separate = CumulativeLogit(on_invalid="clip").fit(small.X, small.y)
    gap = np.max(np.abs(free.coef_ - separate.coef_))
    assert 1e-6 < gap < 0.3, gap


def _scipy_objective(X, Y, lam, mask):
    """Same objective, smooth in (theta_free, u, v) with psi = u - v, u, v >= 0."""
    d = mask.size
    pen = mask > 0

    def split(z):
        theta = z[:d].copy()
        u, v = z[d : d + pen.sum()], z[d + pen.sum() :]
        theta[pen] = u - v
        return theta, u, v

    def fun(z):
        theta, u, v = split(z)
        with computing_in("float64"):
            val, grad = jax.value_and_grad(solver.presto_loss)(
                jnp.asarray(theta), jnp.asarray(X), jnp.asarray(Y), jnp.ones(X.shape[0])
            )
        grad = np.asarray(grad)
        full = grad.copy()
        full[pen] = 0.0
        return float(val) + lam * (u.sum() + v.sum()), np.concatenate(
            [full, grad[pen] + lam, -grad[pen] + lam]
        )

    return fun, split


def test_objective_matches_scipy_and_kkt_hold(small):
    Xs = (small.X - small.X.mean(0)) / small.X.std(0)
    Y = np.eye(4)[small.y]
    ref_fit = Presto(lam=0.0).fit(small.X, small.y)
    lam = 0.2 * ref_fit.lambda_max_
    fit = Presto(lam=lam, tol=1e-10).fit(small.X, small.y)
    mask = penalty_mask(3, 3, True)
    fun, _ = _scipy_objective(Xs, Y, lam, mask)
    with computing_in("float64"):
        theta0 = np.asarray(solver.intercept_only(jnp.asarray(Y), jnp.ones(400), 3))
    z0 = np.concatenate([theta0, np.zeros(2 * int(mask.sum()))])
    bounds = [(None, None)] * theta0.size + [(0, None)] * (2 * int(mask.sum()))
    res = minimize(
        fun,
        z0,
        jac=True,
        method="L-BFGS-B",
        bounds=bounds,
        options={"ftol": 1e-15, "gtol": 1e-12, "maxiter": 20_000},
    )
    ours = fit.objective(small.X, small.y)
    assert abs(ours - res.fun) <= 1e-6, (ours, res.fun)
    assert ours <= res.fun + 1e-9  # FISTA is at least as good
    # KKT on the standardised scale (tolerance 1e-6).
    theta = np.concatenate([fit.intercept_ + fit.x_mean_ @ fit.coef_, fit.psi_.ravel()])
    with computing_in("float64"):
        grad = np.asarray(
            jax.grad(solver.presto_loss)(
                jnp.asarray(theta), jnp.asarray(Xs), jnp.asarray(Y), jnp.ones(400)
            )
        )
    assert np.max(np.abs(grad[:3])) <= 1e-6
    psi, g = theta[3:], grad[3:]
    zero = psi == 0.0
    assert zero.any() and (~zero).any()
    assert np.all(np.abs(g[zero]) <= lam + 1e-6)
    np.testing.assert_allclose(g[~zero], -lam * np.sign(psi[~zero]), atol=1e-6)


def test_standardisation_round_trips(small):
    scaled = small.X * np.array([10.0, 0.1, 3.0]) + np.array([5.0, -2.0, 0.0])
    a = Presto(lam=0.01, tol=1e-10).fit(small.X, small.y)
    b = Presto(lam=0.01, tol=1e-10).fit(scaled, small.y)
    np.testing.assert_allclose(a.predict_proba(small.X), b.predict_proba(scaled), atol=1e-7)
    np.testing.assert_allclose(a.coef_, b.coef_ * np.array([10.0, 0.1, 3.0])[:, None], atol=1e-6)


def test_cv_path_compiles_once_per_shape():
    first = simulate_sparse_diffs(n=300, p=3, intercepts=(0.0, 1.5), seed=0)
    second = simulate_sparse_diffs(n=300, p=3, intercepts=(0.0, 1.5), seed=1)
    Presto(n_lambdas=6, cv=3).fit(first.X, first.y)
    size = estimators._cv_path._cache_size()
    Presto(n_lambdas=6, cv=3, random_state=4, lambda_min_ratio=0.05).fit(second.X, second.y)
    assert estimators._cv_path._cache_size() == size


def test_select_lambda_takes_largest_among_ties():
    scores = jnp.asarray([[3.0, 1.0, 1.0, 2.0], [3.0, 1.0, 1.0, 2.0]])
    assert int(solver.select_lambda(scores)) == 1


def test_cv_chooses_interior_lambda_and_keeps_curve():
    data = simulate_sparse_diffs(n=1000, p=5, seed=2)
    fit = Presto(n_lambdas=8, cv=3, tol=1e-6).fit(data.X, data.y)
    assert fit.cv_scores_.shape == (3, 8)
    mean = fit.cv_scores_.mean(0)
    assert mean[fit.lambda_index_] == pytest.approx(mean.min(), rel=1e-9)
    assert fit.lambda_ == fit.lambdas_[fit.lambda_index_]
    assert np.all(fit.converged_)


def _crossing_model():
    model = CumulativeLogit()
    model.classes_ = np.array([0, 1, 2])
    model.coef_ = np.array([[1.0, -1.0]])
    model.intercept_ = np.array([0.0, 0.5])
    model.n_features_in_ = 1
    return model


def test_non_monotone_predictions_raise_by_default_and_clip_on_request():
    model = _crossing_model()
    X = np.array([[-2.0], [0.0], [2.0]])
    with pytest.raises(ValueError, match=r"1 of 3 rows .* rows \[2\]"):
        model.predict_proba(X)
    model.on_invalid = "clip"
    with pytest.warns(UserWarning, match="1 of 3 rows"):
        probs = model.predict_proba(X)
    assert np.all(probs >= 0) and np.allclose(probs.sum(1), 1.0)
    np.testing.assert_allclose(model.predict_rare_proba(X), 1 / (1 + np.exp(0.5 - X[:, 0])))


def test_pandas_names_and_ordered_categories(small):
    labels = np.array(["none", "click", "cart", "buy"])
    y = pd.Series(pd.Categorical(labels[small.y], categories=labels, ordered=True))
    X = pd.DataFrame(small.X, columns=["price", "age", "visits"])
    fit = Presto(lam=0.01).fit(X, y)
    assert list(fit.classes_) == list(labels)
    table = fit.coef_frame()
    assert list(table.index) == ["price", "age", "visits"]
    assert list(table.columns) == ["<=none", "<=click", "<=cart"]
    assert set(fit.predict(X)) <= set(labels)
    with pytest.raises(ValueError, match="unordered"):
        Presto(lam=0.01).fit(X, pd.Series(pd.Categorical(labels[small.y])))


@pytest.mark.filterwarnings("ignore:.*non-monotone cumulative probabilities:UserWarning")
def test_sklearn_api(small):
    est = Presto(lam=0.01, n_lambdas=5)
    check_get_params_invariance("Presto", est)
    check_set_params("Presto", est)
    assert clone(est).get_params() == est.get_params()
    for model in (
        Presto(lam=0.01, on_invalid="clip"),
        ProportionalOdds(),
        CumulativeLogit(on_invalid="clip"),
    ):
        scores = cross_val_score(model, small.X, small.y, cv=2)
        assert scores.shape == (2,) and np.all(np.isfinite(scores)), scores


@pytest.mark.parametrize(
    ("kwargs", "match"),
    [
        ({"penalty": "l3"}, "penalty must be one of .*got 'l3'"),
        ({"on_invalid": "ignore"}, "on_invalid must be one of .*got 'ignore'"),
        ({"lam": -1.0}, "lam must be None or a finite number >= 0, got -1.0"),
        ({"cv": 1}, "cv must be an integer >= 2, got 1"),
        ({"precision": "float16"}, "precision must be one of"),
    ],
)
def test_bad_arguments_are_named(small, kwargs, match):
    with pytest.raises(ValueError, match=match):
        Presto(**kwargs).fit(small.X, small.y)


def test_single_class_is_an_error(small):
    with pytest.raises(ValueError, match="at least 2 ordered classes"):
        Presto().fit(small.X, np.zeros(400))


def test_ridge_variant_runs_and_shrinks(small):
    weak = Presto(lam=1e-4, penalty="l2").fit(small.X, small.y)
    strong = Presto(lam=1.0, penalty="l2").fit(small.X, small.y)
    assert np.abs(strong.psi_).sum() < np.abs(weak.psi_).sum()


@pytest.mark.parametrize(
    ("labels", "match"),
    [
        (lambda y: np.where(np.arange(y.size) == 7, np.nan, y.astype(float)), "rows \\[7\\]"),
        (lambda y: np.array(["low", "medium", "high", "extreme"])[y], "pass classes="),
        (lambda y: pd.Series(pd.Categorical(y)), "unordered"),
    ],
    ids=["nan_label", "strings_without_order", "unordered_categorical"],
)
def test_labels_that_cannot_be_ordered_are_refused(small, labels, match):
    """A NaN label used to become a class of its own, and strings were sorted
    alphabetically (making "medium" the rare class of low < medium < high < extreme)."""
    for estimator in (Presto(lam=0.01), ProportionalOdds()):
        with pytest.raises(ValueError, match=match):
            estimator.fit(small.X, labels(small.y))


def test_explicit_class_order_for_string_labels(small):
    names = np.array(["low", "medium", "high", "extreme"])
    order = ["low", "medium", "high", "extreme"]
    fit = Presto(lam=0.01, classes=order).fit(small.X, names[small.y])
    ref = Presto(lam=0.01).fit(small.X, small.y)
    assert list(fit.classes_) == order  # the rare class is "extreme", not "medium"
    np.testing.assert_allclose(fit.predict_proba(small.X), ref.predict_proba(small.X))
    assert fit.objective(small.X, names[small.y]) == pytest.approx(ref.objective(small.X, small.y))
    with pytest.raises(ValueError, match=r"labels \['medium'\] are not in classes"):
        Presto(lam=0.01, classes=["low", "high", "extreme"]).fit(small.X, names[small.y])
    po = ProportionalOdds(classes=order).fit(small.X, pd.Series(names[small.y]))
    assert po.classes_[-1] == "extreme"


def test_solvers_run_in_float64_without_the_global_flag(small):
    """The family picks float64 for FISTA (no enable_x64); float32 on request."""
    import jax

    assert not jax.config.read("jax_enable_x64")
    fit = Presto(lam=0.01, tol=1e-10).fit(small.X, small.y)
    assert fit.precision_ == "float64" and np.all(fit.converged_)
    with pytest.raises(ValueError, match="precision"):
        ProportionalOdds(precision="double").fit(small.X, small.y)


def test_closed_form_derivatives_match_autodiff():
    data = simulate_sparse_diffs(n=200, p=3, intercepts=(0.0, 1.5, 3.0), seed=3)
    with computing_in("float64"):
        X = jnp.asarray((data.X - data.X.mean(0)) / data.X.std(0))
        Y = jnp.asarray(np.eye(4)[data.y])
        w = jnp.ones(200).at[:40].set(0.0)  # a held-out fold
        theta = solver.intercept_only(Y, w, 3) + 0.05 * jnp.sin(jnp.arange(12.0))
        value, grad, hess = solver.presto_derivatives(theta, X, Y, w)
        np.testing.assert_allclose(value, solver.presto_loss(theta, X, Y, w), rtol=1e-12)
        np.testing.assert_allclose(grad, jax.grad(solver.presto_loss)(theta, X, Y, w), atol=1e-13)
        ref = jax.hessian(solver.presto_loss)(theta, X, Y, w)
        np.testing.assert_allclose(hess, ref, atol=1e-13)


def test_proximal_newton_path_matches_tight_fista_reference():
    """The path solver agrees with FISTA run to a 1e-11 residual (declared tolerance 1e-7)."""
    data = simulate_sparse_diffs(n=300, p=3, intercepts=(0.0, 1.5), seed=5)
    with computing_in("float64"):
        X = jnp.asarray((data.X - data.X.mean(0)) / data.X.std(0))
        Y = jnp.asarray(np.eye(3)[data.y])
        w = jnp.ones(300).at[::4].set(0.0)
        mask = jnp.asarray(penalty_mask(3, 2, True))
        lam_max = float(solver.lambda_max(X, Y, w, mask))
        lambdas = jnp.asarray(np.geomspace(lam_max, 0.01 * lam_max, 5))
        theta0 = solver.intercept_only(Y, w, 3)
        path = jax.jit(
            lambda t: solver.lambda_path(
                X, Y, w, t, lambdas, mask, 1e-10, penalty="l1", max_iter=100
            )
        )(theta0)
        assert np.all(np.asarray(path.converged))
        assert np.max(np.asarray(path.iterations)) < 30
        fista = jax.jit(
            lambda t, lam: solver.fista(
                t, lam, X, Y, w, mask, 1e-11, 1.0, penalty="l1", max_iter=200_000
            )
        )
        for lam, theta in zip(lambdas, path.theta, strict=True):
            ref, _, ok, _ = fista(theta0, lam)
            assert bool(ok)
            np.testing.assert_allclose(theta, ref, atol=1e-7)
            grad = jax.grad(solver.presto_loss)(theta, X, Y, w)
            assert float(solver.kkt_violation(theta, grad, lam, mask, "l1")) <= 1e-10


@pytest.mark.slow
def test_batch_map_and_vmap_agree_with_single_fits():
    reps = [simulate_sparse_diffs(n=200, p=2, intercepts=(0.0, 1.5), seed=s) for s in (0, 1)]
    X, y = np.stack([r.X for r in reps]), np.stack([r.y for r in reps])
    kw = dict(n_classes=3, n_lambdas=4, cv=2)
    p_map, lam_map = presto_batch_rare_probs(X, y, method="map", **kw)
    p_vmap, lam_vmap = presto_batch_rare_probs(X, y, method="vmap", **kw)
    np.testing.assert_allclose(p_map, p_vmap, atol=1e-9)
    np.testing.assert_allclose(lam_map, lam_vmap, rtol=1e-12)
