"""Copula predictives: the martingale identities, normalisation, the prequential likelihood
against an explicit scipy replay, limits in rho, forward sampling as a martingale, and the
paper's toy GMM (bands narrow with n). All in float64."""

from __future__ import annotations

import jax
import jax.numpy as jnp
import numpy as np
import pytest
import scipy.stats
from scipy.special import ndtri

import bayesuq
from bayesuq.models.martingale import (
    CopulaClassifier,
    CopulaDensity,
    CopulaRegression,
)
from bayesuq.models.martingale import copula as cop
from bayesuq.models.martingale.conditional import cls_update
from bayesuq.models.martingale.engine import run_chunk


@pytest.fixture(autouse=True)
def x64():
    with jax.enable_x64(True):
        yield


def gmm_data(n: int) -> np.ndarray:
    """The paper's toy GMM: legacy seed 102, labels by bernoulli.rvs(0.2), then randn(n)."""
    stream = np.random.RandomState(102)  # the legacy global stream of np.random.seed(102)
    labels = scipy.stats.bernoulli.rvs(0.2, size=n, random_state=stream)
    return stream.randn(n) + np.where(labels == 1, 2.0, -2.0)


@pytest.fixture(scope="module")
def gmm50():
    with jax.enable_x64(True):
        y = gmm_data(50)
        return y, CopulaDensity(seed=200).fit(y)


def test_copula_identities_by_quadrature():
    """int c(u, v) dv = 1 and int H(u, v) dv = u (Gauss-Hermite in b = Phi^-1(v))."""
    nodes, weights = np.polynomial.hermite_e.hermegauss(80)
    weights = weights / weights.sum()
    v = jnp.asarray(scipy.stats.norm.cdf(nodes))
    for rho in (0.3, 0.7, 0.9):
        for u in (0.05, 0.3, 0.5, 0.8, 0.95):
            c = np.exp(np.asarray(cop.log_copula(jnp.full(v.shape, u), v, rho)))
            h = np.asarray(cop.h_copula(jnp.full(v.shape, u), v, rho))
            assert abs(weights @ c - 1.0) < 1e-6, (rho, u, weights @ c)
            assert abs(weights @ h - u) < 1e-6, (rho, u, weights @ h)


def test_classification_ratio_averages_to_one():
    u = jnp.linspace(0.01, 0.99, 25)
    for v in (0.1, 0.5, 0.9):
        ones = cls_update(u, jnp.asarray(v), jnp.asarray(1.0), jnp.ones_like(u), 0.6) / u
        zeros = cls_update(u, jnp.asarray(v), jnp.asarray(0.0), jnp.ones_like(u), 0.6) / u
        np.testing.assert_allclose(v * ones + (1 - v) * zeros, 1.0, atol=1e-12)


def test_norm_ppf_gradient():
    u = jnp.asarray([0.01, 0.3, 0.5, 0.97])
    grad = jax.vmap(jax.grad(cop.norm_ppf))(u)
    np.testing.assert_allclose(grad, 1.0 / scipy.stats.norm.pdf(ndtri(np.asarray(u))), rtol=1e-10)


def _reference_prequential(z: np.ndarray, rho: float) -> tuple[float, np.ndarray]:
    """Explicit loop with scipy: bivariate normal density / product of marginals."""
    pdf = np.maximum(scipy.stats.norm.pdf(z), 1e-6)
    cdf = np.clip(scipy.stats.norm.cdf(z), 1e-6, 1 - 1e-6)
    total, vs = 0.0, []
    biv = scipy.stats.multivariate_normal([0, 0], [[1, rho], [rho, 1]])
    for k in range(z.size):
        v = cdf[k]
        total += np.log(pdf[k])
        vs.append(v)
        a_k = (2 - 1 / (k + 1)) / (k + 2)
        u = np.clip(cdf, 1e-6, 1 - 1e-6)
        a, b = ndtri(u), ndtri(v)
        c = biv.pdf(np.c_[a, np.full_like(a, b)]) / (
            scipy.stats.norm.pdf(a) * scipy.stats.norm.pdf(b)
        )
        h = np.clip(scipy.stats.norm.cdf((a - rho * b) / np.sqrt(1 - rho**2)), 1e-6, 1 - 1e-6)
        pdf = (1 - a_k + a_k * c) * pdf
        cdf = np.clip((1 - a_k) * u + a_k * h, 1e-6, 1 - 1e-6)
    return total, np.array(vs)


def test_prequential_matches_explicit_replay_and_is_permutation_averaged(gmm50):
    y, model = gmm50
    z = (y - y.mean()) / y.std()
    rho = float(model.rho_[0])
    perms = cop.make_permutations(200, y.size, 10)
    refs = [_reference_prequential(z[p], rho) for p in perms]
    totals = np.array([r[0] for r in refs])
    assert np.ptp(totals) > 1e-3  # orderings matter, so averaging them is not a no-op
    np.testing.assert_allclose(model.prequential_loglik_, totals.mean() / y.size, rtol=1e-8)
    np.testing.assert_allclose(np.asarray(model.v_)[:, :, 0], [r[1] for r in refs], atol=1e-9)


def test_fitted_rho_maximises_the_prequential_likelihood(gmm50):
    y, model = gmm50
    for shift in (-0.05, 0.05):
        other = CopulaDensity(rho=model.rho_[0] + shift, seed=200).fit(y)
        assert other.prequential_loglik_ < model.prequential_loglik_


def test_density_integrates_to_one_and_cdf_is_monotone(gmm50):
    y, model = gmm50
    grid = np.linspace(y.mean() - 10 * y.std(), y.mean() + 10 * y.std(), 4001)
    pdf = np.exp(model.logpdf(grid))
    assert abs(np.trapezoid(pdf, grid) - 1.0) < 1e-3
    cdf = model.cdf(grid)[:, 0]
    assert np.all(np.diff(cdf) >= -1e-12) and cdf[0] < 1e-5 and cdf[-1] > 1 - 1e-5


def test_small_rho_gives_the_initial_normal(gmm50):
    y, _ = gmm50
    model = CopulaDensity(rho=1e-6, seed=200).fit(y)
    grid = np.linspace(-5, 5, 11)
    expected = scipy.stats.norm(y.mean(), y.std()).logpdf(grid)
    np.testing.assert_allclose(model.logpdf(grid), expected, atol=1e-4)


def test_forward_sampling_is_a_martingale_without_recompiling(gmm50):
    _, model = gmm50
    grid = np.linspace(-5, 4, 40)
    idata = model.predictive_resample(grid, steps=300, draws=400, seed=1, chunk=200)
    pdf = idata.posterior["pdf"].values[0]
    pdf_n = idata.constant_data["pdf_n"].values
    np.testing.assert_allclose(pdf_n, np.exp(model.logpdf(grid)), rtol=1e-10)
    z = (pdf.mean(axis=0) - pdf_n) / (pdf.std(axis=0) / np.sqrt(pdf.shape[0]))
    assert np.max(np.abs(z)) < 4.0, f"max |z| {np.max(np.abs(z)):.2f} over 40 points"
    assert pdf.std(axis=0).min() > 0
    before = run_chunk._cache_size()
    again = model.predictive_resample(grid, steps=300, draws=400, seed=2, chunk=200)
    assert run_chunk._cache_size() == before
    assert not np.allclose(again.posterior["pdf"].values, idata.posterior["pdf"].values)
    assert bayesuq.diagnose(idata).table.shape[0] == 40 + 40


def test_multivariate_density_integrates_to_one():
    data = np.random.default_rng(3).multivariate_normal([0, 1], [[1, 0.8], [0.8, 1]], size=30)
    model = CopulaDensity(rho=[0.8, 0.7], seed=1).fit(data)
    axis = np.linspace(-7, 8, 151)
    mesh = np.stack(np.meshgrid(axis, axis, indexing="ij"), axis=-1).reshape(-1, 2)
    pdf = np.exp(model.logpdf(mesh)).reshape(151, 151)
    total = np.trapezoid(np.trapezoid(pdf, axis, axis=1), axis)
    assert abs(total - 1.0) < 1e-3
    cdf = model.cdf(mesh)
    assert np.all((cdf > 0) & (cdf < 1))


def test_regression_with_small_rho_x_is_the_density_copula_on_y(gmm50):
    y, _ = gmm50
    x = np.random.default_rng(4).normal(size=y.size)
    reg = CopulaRegression(rho=0.7, rho_x=1e-6, seed=5).fit(x, y)
    dens = CopulaDensity(rho=0.7, seed=5).fit(y)
    grid = np.linspace(-5, 4, 15)
    np.testing.assert_allclose(reg.logpdf(np.zeros(15), grid), dens.logpdf(grid), atol=1e-6)


def test_classifier_on_moons_beats_chance_and_is_a_martingale():
    from sklearn.datasets import make_moons

    x, y = make_moons(100, noise=0.3, random_state=52)
    model = CopulaClassifier(seed=0).fit(x, y)
    assert 0 < model.rho_ < 1 and model.rho_x_.shape == (2,)
    x_test, y_test = make_moons(500, noise=0.3, random_state=1)
    assert np.mean(model.predict(x_test) == y_test) > 0.8
    idata = model.predictive_resample(x_test[:20], steps=300, draws=300, seed=3)
    prob = idata.posterior["probability"].values[0]
    g_n = idata.constant_data["probability_n"].values
    z = (prob.mean(axis=0) - g_n) / (prob.std(axis=0) / np.sqrt(prob.shape[0]))
    assert np.max(np.abs(z)) < 4.0, f"max |z| {np.max(np.abs(z)):.2f} over 20 points"


def test_float32_is_refused():
    with jax.enable_x64(False), pytest.raises(RuntimeError, match="enable_x64"):
        CopulaDensity().fit(np.arange(5.0))


@pytest.mark.parametrize(
    ("make", "message"),
    [
        (lambda: CopulaDensity(rho=1.5).fit(np.arange(5.0)), "rho"),
        (lambda: CopulaDensity().fit([1.0, np.inf]), "NaN or infinite"),
        (lambda: CopulaDensity().logpdf([0.0]), "not fitted"),
        (lambda: CopulaRegression(rho=0.5).fit(np.arange(5.0), np.arange(5.0)), "rho_x"),
        (lambda: CopulaClassifier().fit(np.arange(4.0), [0, 1, 2, 1]), "labels"),
    ],
)
def test_errors_name_the_argument(make, message):
    with pytest.raises((ValueError, RuntimeError), match=message):
        make()


@pytest.mark.slow
def test_gmm_bands_narrow_with_n_and_cover_the_truth():
    """The paper's Figure 4: n = 50 and 200, T = 5000 steps, B = 1000."""
    grid = np.arange(-4, 4, 0.05)
    widths, l1 = [], []
    for n in (50, 200):
        y = gmm_data(n)
        model = CopulaDensity(seed=200).fit(y)
        idata = model.predictive_resample(grid * y.std() + y.mean(), steps=2000, draws=500)
        pdf = idata.posterior["pdf"].values[0] * y.std()  # density of the standardised y
        truth = (
            0.8 * scipy.stats.norm.pdf(grid * y.std() + y.mean(), -2, 1)
            + 0.2 * scipy.stats.norm.pdf(grid * y.std() + y.mean(), 2, 1)
        ) * y.std()
        lo, hi = np.quantile(pdf, [0.025, 0.975], axis=0)
        widths.append(np.mean(hi - lo))
        l1.append(np.sum(np.abs(pdf.mean(axis=0) - truth)) * 0.05)
        assert np.mean((lo <= truth) & (truth <= hi)) > 0.7
    assert widths[1] < 0.75 * widths[0], widths
    assert l1[1] < l1[0] and l1[1] < 0.25, l1


def test_slsqp_parity_with_lbfgs(gmm50):
    y, model = gmm50
    other = CopulaDensity(seed=200, optimizer="SLSQP").fit(y)
    assert abs(other.rho_[0] - model.rho_[0]) < 0.02
    assert other.prequential_loglik_ > model.prequential_loglik_ - 1e-3


def test_per_dimension_rho_is_at_least_as_good_as_shared():
    rng = np.random.default_rng(8)
    data = np.c_[rng.normal(size=30), rng.standard_t(3, size=30)]
    shared = CopulaDensity(seed=2).fit(data)
    separate = CopulaDensity(seed=2, per_dimension_rho=True).fit(data)
    assert shared.rho_.shape == separate.rho_.shape == (2,)
    assert shared.rho_[0] == shared.rho_[1]
    assert separate.prequential_loglik_ >= shared.prequential_loglik_ - 1e-4
