"""DEUP's acquisition functions, test functions, GP pieces and targets (fast, exact oracles)."""

from __future__ import annotations

import jax
import jax.numpy as jnp
import numpy as np
import pytest
from scipy import integrate, stats

from bayesuq.models.deup import (
    LEVI_N13,
    MULTI_OPTIMA,
    ackley,
    expected_improvement,
    get_function,
    maximize_acquisition,
    upper_confidence_bound,
)
from bayesuq.models.deup.gp import (
    GPConfig,
    gaussian_log_density,
    gp_log_posterior,
    init_gp_params,
)
from bayesuq.models.deup.targets import fold_masks, log_squared_error
from bayesuq.precision import computing_in

CASES = [(0.3, 0.5, 0.1), (-1.0, 2.0, 0.5), (2.0, 0.1, 0.0), (0.0, 1e-3, 0.01), (5.0, 3.0, 9.0)]


@pytest.mark.parametrize(("mean", "std", "best"), CASES)
def test_expected_improvement_equals_its_integral_in_float64(mean, std, best):
    """EI = E[max(Y - y*, 0)], Y ~ N(mu, s^2): closed form vs quadrature, tolerance 1e-10."""
    with computing_in("float64"):
        ei = float(expected_improvement(jnp.asarray(mean), jnp.asarray(std), jnp.asarray(best)))
    density = stats.norm(mean, std).pdf
    exact, abserr = integrate.quad(
        lambda y: (y - best) * density(y), best, mean + 40 * std, epsabs=1e-14, epsrel=1e-13,
        points=[mean],
    )  # fmt: skip
    assert abserr < 1e-11
    assert abs(ei - exact) <= 1e-10, (ei, exact)


def test_expected_improvement_tends_to_the_improvement_as_the_sd_vanishes():
    with computing_in("float64"):
        mean = jnp.array([0.7, 0.2, -0.3])
        best = jnp.asarray(0.2)
        limit = np.maximum(np.asarray(mean) - 0.2, 0.0)
        for std in (1e-4, 1e-8, 1e-12):
            ei = np.asarray(expected_improvement(mean, jnp.full(3, std), best))
            # |EI - max(mu - y*, 0)| <= s phi(0): the gap closes linearly in s.
            assert np.all(np.abs(ei - limit) <= std * 0.3989422804014327 * (1 + 1e-12) + 1e-15)
        exact_zero = np.asarray(expected_improvement(mean, jnp.zeros(3), best))
        np.testing.assert_array_equal(exact_zero, limit)
        grad = jax.grad(lambda m: expected_improvement(m, jnp.asarray(0.0), best))(0.7)
        assert float(grad) == 1.0


def test_upper_confidence_bound():
    value = upper_confidence_bound(jnp.asarray(1.0), jnp.asarray(0.5), 4.0)
    assert float(value) == pytest.approx(2.0)


def test_multistart_maximisation_finds_the_global_maximum_of_a_multimodal_function():
    with computing_in("float64"):

        def acquisition(x):
            return MULTI_OPTIMA(x)

        x, value = jax.jit(
            lambda k: maximize_acquisition(
                acquisition, k, jnp.array([-1.0]), jnp.array([2.0]),
                raw_samples=256, restarts=8, iterations=60,
            )
        )(jax.random.PRNGKey(0))  # fmt: skip
    assert float(value) == pytest.approx(MULTI_OPTIMA.optimum, abs=1e-6)
    assert float(x[0]) == pytest.approx(MULTI_OPTIMA.argmax[0], abs=1e-3)


@pytest.mark.parametrize("function", [MULTI_OPTIMA, LEVI_N13, ackley(2), ackley(5), ackley(10)])
def test_each_test_function_attains_its_optimum_and_nothing_beats_it(function):
    with computing_in("float64"):
        at_argmax = float(function(jnp.asarray(function.argmax)))
        assert at_argmax == pytest.approx(function.optimum, abs=1e-12)
        rng = np.random.default_rng(0)
        lower, upper = function.bounds
        points = lower + (upper - lower) * rng.uniform(size=(200_000, function.dim))
        assert float(jnp.max(function(jnp.asarray(points)))) <= function.optimum + 1e-12


def test_multi_optima_has_thirteen_local_maxima_and_the_published_optimum():
    grid = np.linspace(-1.0, 2.0, 300_001)
    with computing_in("float64"):
        values = np.asarray(MULTI_OPTIMA(jnp.asarray(grid[:, None])))
    interior = (values[1:-1] > values[:-2]) & (values[1:-1] > values[2:])
    assert interior.sum() == 13
    assert MULTI_OPTIMA.optimum == pytest.approx(0.94989, abs=1e-5)
    assert MULTI_OPTIMA.argmax[0] == pytest.approx(1.85723, abs=1e-5)
    assert np.sort(values[1:-1][interior])[-2] == pytest.approx(0.775, abs=1e-3)
    assert get_function("ackley7").dim == 7
    assert LEVI_N13.bounds.tolist() == [[-10, -10], [10, 10]]
    assert ackley(3).bounds.tolist() == [[-10] * 3, [15] * 3]
    with pytest.raises(ValueError, match="shape"):
        LEVI_N13(jnp.zeros(3))
    with pytest.raises(ValueError, match="function must be"):
        get_function("rosenbrock")


def test_gaussian_log_density_and_its_gradient_match_scipy_and_autodiff():
    rng = np.random.default_rng(1)
    a = rng.normal(size=(40, 40))
    K = a @ a.T / 40 + np.eye(40)
    r = rng.normal(size=40)
    with computing_in("float64"):
        value = float(gaussian_log_density(jnp.asarray(K), jnp.asarray(r)))
        assert value == pytest.approx(stats.multivariate_normal(cov=K).logpdf(r), rel=1e-12)

        def direct(K, r):  # autodiff through solve and slogdet
            return -0.5 * r @ jnp.linalg.solve(K, r) - 0.5 * jnp.linalg.slogdet(K)[1]

        g_custom = jax.jit(jax.grad(gaussian_log_density, argnums=(0, 1)))(
            jnp.asarray(K), jnp.asarray(r)
        )
        g_direct = jax.jit(jax.grad(direct, argnums=(0, 1)))(jnp.asarray(K), jnp.asarray(r))
    # The gradient in K is defined up to symmetrisation.
    sym = lambda g: (np.asarray(g) + np.asarray(g).T) / 2  # noqa: E731
    np.testing.assert_allclose(sym(g_custom[0]), sym(g_direct[0]), atol=1e-10)
    np.testing.assert_allclose(g_custom[1], g_direct[1], atol=1e-10)


def test_masked_rows_leave_the_gp_likelihood_unchanged_up_to_padding():
    rng = np.random.default_rng(2)
    X = rng.uniform(size=(12, 2))
    y = np.sin(X.sum(axis=1))
    config = GPConfig()
    with computing_in("float64"):
        params = init_gp_params(2, config)
        log_posterior = jax.jit(gp_log_posterior, static_argnums=4)
        ones = np.ones(12, bool)
        full = float(log_posterior(params, jnp.asarray(X), jnp.asarray(y), ones, config))
        Xp = np.concatenate([X, rng.uniform(size=(5, 2))])
        yp = np.concatenate([y, rng.normal(size=5)])
        mask = np.arange(17) < 12
        padded = float(log_posterior(params, jnp.asarray(Xp), jnp.asarray(yp), mask, config))
    assert padded == pytest.approx(full, abs=1e-9)


def test_fold_masks_hold_each_point_out_exactly_once_per_repeat():
    masks = np.asarray(
        jax.jit(fold_masks, static_argnums=(1, 2, 3))(jax.random.PRNGKey(3), 7, 2, 3)
    )
    assert masks.shape == (6, 7)
    held_out = ~masks.reshape(3, 2, 7)
    np.testing.assert_array_equal(held_out.sum(axis=1), np.ones((3, 7)))
    assert set(masks.sum(axis=1).tolist()) <= {3, 4}


def test_log_squared_error_is_floored():
    values = np.asarray(
        log_squared_error(jnp.array([1.0, 1.0, 3.0]), jnp.array([1.0, 1.1, 1.0]), -10.0)
    )
    np.testing.assert_allclose(values, [-10.0, np.log(0.01), np.log(4.0)], rtol=1e-6)
