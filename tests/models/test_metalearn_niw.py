"""NIW algebra against Monte Carlo (scipy's samplers as the oracle), in float64, and the
closed-form local posterior as the stationary point of the episode objective."""

from __future__ import annotations

import jax
import jax.numpy as jnp
import numpy as np
import pytest
import scipy.stats
from tolerances import assert_moment

from bayesuq.models.metalearn.episode import _surrogate_expectation, local_posterior
from bayesuq.models.metalearn.niw import (
    NIW,
    expected_kl,
    expected_log_det,
    expected_precision,
    niw_kl,
    niw_mode,
    sample_niw,
)
from bayesuq.precision import computing_in

DRAWS = 50_000  # Monte Carlo draws per identity; tolerance 4 MCSE (assert_moment)


def _spd(rng, d, scale=1.0):
    a = rng.normal(size=(d, d))
    return scale * (a @ a.T / d + np.eye(d))


def _full_case(d, seed):
    rng = np.random.default_rng(seed)
    q = NIW(rng.normal(size=d), 2.5, _spd(rng, d), d + 3.7)
    p = NIW(rng.normal(size=d), 0.8, _spd(rng, d, 0.5), d + 1.3)
    m = rng.normal(size=d)
    v = _spd(rng, d, 0.3)
    return rng, q, p, m, v


def _draw_full(rng, niw, n):
    """``(mu, Sigma)`` draws from scipy's inverse Wishart (the oracle sampler)."""
    d = len(niw.mean)
    sigma = scipy.stats.invwishart(df=niw.dof, scale=niw.scale).rvs(n, random_state=rng)
    sigma = sigma.reshape(n, d, d)
    chol = np.linalg.cholesky(sigma / niw.kappa)
    mu = niw.mean + np.einsum("nij,nj->ni", chol, rng.normal(size=(n, d)))
    return mu, sigma


def _gauss_kl(m, v, mu, sigma):
    """KL(N(m, V) || N(mu_n, Sigma_n)) for a batch of (mu_n, Sigma_n)."""
    d = len(m)
    prec = np.linalg.inv(sigma)
    diff = mu - m
    return 0.5 * (
        np.einsum("nij,ji->n", prec, v)
        + np.einsum("ni,nij,nj->n", diff, prec, diff)
        - d
        + np.linalg.slogdet(sigma)[1]
        - np.linalg.slogdet(v)[1]
    )


def _niw_logpdf(niw, mu, sigma):
    """log NIW(mu, Sigma) by the textbook density, vectorised (checked against scipy below)."""
    d = len(niw.mean)
    n = niw.dof
    logdet = np.linalg.slogdet(sigma)[1]
    prec = np.linalg.inv(sigma)
    log_iw = (
        0.5 * n * np.linalg.slogdet(niw.scale)[1]
        - 0.5 * n * d * np.log(2)
        - scipy.special.multigammaln(n / 2, d)
        - 0.5 * (n + d + 1) * logdet
        - 0.5 * np.einsum("ij,nji->n", niw.scale, prec)
    )
    diff = mu - niw.mean
    log_mvn = (
        -0.5 * d * np.log(2 * np.pi)
        - 0.5 * (logdet - d * np.log(niw.kappa))
        - 0.5 * niw.kappa * np.einsum("ni,nij,nj->n", diff, prec, diff)
    )
    return log_iw + log_mvn


def _niw_logpdf_scipy(niw, mu, sigma):
    iw = scipy.stats.invwishart(df=niw.dof, scale=niw.scale)
    return np.array(
        [
            iw.logpdf(s if len(niw.mean) > 1 else s[0, 0])
            + scipy.stats.multivariate_normal(niw.mean, s / niw.kappa).logpdf(m)
            for m, s in zip(mu, sigma, strict=True)
        ]
    )


def _jax(niw):
    return NIW(*(jnp.asarray(np.asarray(a, float)) for a in niw))


@pytest.mark.parametrize("d", [1, 3])
def test_full_niw_expectations_match_monte_carlo(d):
    rng, q, _, m, v = _full_case(d, seed=d)
    mu, sigma = _draw_full(rng, q, DRAWS)
    with computing_in("float64"):
        jq = _jax(q)
        e_prec = np.asarray(expected_precision(jq))
        e_logdet = float(expected_log_det(jq))
        e_kl = float(expected_kl(jnp.asarray(m), jnp.asarray(v), jq))
    prec = np.linalg.inv(sigma)
    for i, j in [(0, 0), (d - 1, 0), (d - 1, d - 1)]:
        x = prec[:, i, j]
        assert_moment(x.mean(), e_prec[i, j], x.std() / np.sqrt(DRAWS), name=f"E prec[{i},{j}]")
    logdet = np.linalg.slogdet(sigma)[1]
    assert_moment(logdet.mean(), e_logdet, logdet.std() / np.sqrt(DRAWS), name="E log|Sigma|")
    kl = _gauss_kl(m, v, mu, sigma)
    assert_moment(kl.mean(), e_kl, kl.std() / np.sqrt(DRAWS), name="E KL")


@pytest.mark.parametrize("d", [1, 3])
def test_full_niw_kl_matches_monte_carlo(d):
    rng, q, p, _, _ = _full_case(d, seed=10 + d)
    mu, sigma = _draw_full(rng, q, DRAWS)
    np.testing.assert_allclose(  # the density used below is scipy's
        _niw_logpdf(q, mu[:5], sigma[:5]), _niw_logpdf_scipy(q, mu[:5], sigma[:5]), rtol=1e-10
    )
    log_ratio = _niw_logpdf(q, mu, sigma) - _niw_logpdf(p, mu, sigma)
    with computing_in("float64"):
        kl = float(niw_kl(_jax(q), _jax(p)))
    assert_moment(log_ratio.mean(), kl, log_ratio.std() / np.sqrt(DRAWS), name="NIW KL")


def test_diagonal_forms_match_monte_carlo_and_the_full_form_at_d1():
    rng = np.random.default_rng(7)
    d = 3
    q = NIW(rng.normal(size=d), 1.7, np.array([0.4, 1.0, 2.5]), 4.2)
    p = NIW(np.zeros(d), 0.5, np.full(d, 0.8), 2.0)
    m, v = rng.normal(size=d), np.array([0.1, 0.5, 2.0])
    sigma2 = scipy.stats.invgamma(a=q.dof / 2, scale=q.scale / 2).rvs((DRAWS, d), random_state=rng)
    mu = q.mean + np.sqrt(sigma2 / q.kappa) * rng.normal(size=(DRAWS, d))
    with computing_in("float64"):
        jq, jp = _jax(q), _jax(p)
        e_prec = np.asarray(expected_precision(jq))
        e_logvar = np.asarray(expected_log_det(jq))
        e_kl = float(expected_kl(jnp.asarray(m), jnp.asarray(v), jq))
        kl_diag = float(niw_kl(jq, jp))
        # at d = 1 the diagonal form of each coordinate equals the full form
        per_coord = [
            float(
                niw_kl(
                    NIW(jq.mean[j : j + 1], jq.kappa, jq.scale[j : j + 1, None], jq.dof),
                    NIW(jp.mean[j : j + 1], jp.kappa, jp.scale[j : j + 1, None], jp.dof),
                )
            )
            for j in range(d)
        ]
    np.testing.assert_allclose(kl_diag, sum(per_coord), rtol=1e-12)
    for j in range(d):
        x = 1 / sigma2[:, j]
        assert_moment(x.mean(), e_prec[j], x.std() / np.sqrt(DRAWS), name=f"E 1/sigma2[{j}]")
        x = np.log(sigma2[:, j])
        assert_moment(x.mean(), e_logvar[j], x.std() / np.sqrt(DRAWS), name=f"E log sigma2[{j}]")
    kl = 0.5 * np.sum(v / sigma2 + (m - mu) ** 2 / sigma2 - 1 + np.log(sigma2) - np.log(v), axis=1)
    assert_moment(kl.mean(), e_kl, kl.std() / np.sqrt(DRAWS), name="E KL (diag)")
    logq = scipy.stats.invgamma(a=q.dof / 2, scale=q.scale / 2).logpdf(sigma2) + (
        scipy.stats.norm(q.mean, np.sqrt(sigma2 / q.kappa)).logpdf(mu)
    )
    logp = scipy.stats.invgamma(a=p.dof / 2, scale=p.scale / 2).logpdf(sigma2) + (
        scipy.stats.norm(p.mean, np.sqrt(sigma2 / p.kappa)).logpdf(mu)
    )
    ratio = np.sum(logq - logp, axis=1)
    assert_moment(ratio.mean(), kl_diag, ratio.std() / np.sqrt(DRAWS), name="NIW KL (diag)")


@pytest.mark.slow  # the diagonal draws are checked by test_global_posterior_contract
@pytest.mark.parametrize("form", ["diag", "full"])
def test_sample_niw_moments(form):
    d = 3
    rng = np.random.default_rng(3)
    scale = np.array([0.5, 1.0, 2.0]) if form == "diag" else _spd(rng, d)
    niw = NIW(np.array([1.0, -1.0, 0.5]), 2.0, scale, 9.0)
    n = 20_000
    with computing_in("float64"):
        draw = jax.jit(sample_niw, static_argnums=2)
        mu, sigma = draw(jax.random.PRNGKey(0), _jax(niw), n)
    mu, sigma = np.asarray(mu), np.asarray(sigma)
    if form == "diag":
        var, mean_var = sigma, scale / (niw.dof - 2)  # IG(n/2, lambda/2) mean
    else:
        var = np.diagonal(sigma, axis1=1, axis2=2)
        mean_var = np.diagonal(scale) / (niw.dof - d - 1)  # inverse-Wishart mean
    for j in range(d):
        assert_moment(
            var[:, j].mean(), mean_var[j], var[:, j].std() / np.sqrt(n), name=f"E sigma2[{j}]"
        )
        assert_moment(mu[:, j].mean(), niw.mean[j], mu[:, j].std() / np.sqrt(n), name=f"mu[{j}]")


def test_niw_mode():
    niw = NIW(jnp.zeros(2), 1.0, jnp.array([2.0, 4.0]), 5.0)
    assert np.allclose(niw_mode(niw)[1], [2.0 / 8.0, 4.0 / 8.0])
    full = NIW(jnp.zeros(2), 1.0, jnp.eye(2) * 3.0, 5.0)
    assert np.allclose(niw_mode(full)[1], np.eye(2) * 3.0 / 9.0)


@pytest.mark.parametrize("form", ["diag", "full"])
def test_episode_objective_is_stationary_at_the_closed_form(form):
    """On l(theta) = 1/2 (theta - a)^T A (theta - a) the gradient of E_q l + g in (m, V)
    vanishes at (m*, V*); a perturbed point has a non-zero gradient (the test can fail)."""
    d = 4
    rng = np.random.default_rng(11)
    with computing_in("float64"):
        a_mat = _spd(rng, d, 3.0) if form == "full" else np.array([0.5, 3.0, 20.0, 1e-2])
        scale = _spd(rng, d) if form == "full" else np.array([0.3, 1.0, 2.0, 5.0])
        niw = _jax(NIW(rng.normal(size=d), 1.3, scale, d + 2.5))
        a_bar, m_bar = jnp.asarray(a_mat), jnp.asarray(rng.normal(size=d))
        m_star, v_star = local_posterior(niw, m_bar, a_bar)

        def objective(m, v):
            return _surrogate_expectation(m, v, m_bar, a_bar) + expected_kl(m, v, niw)

        grad = jax.jit(jax.grad(objective, argnums=(0, 1)))
        gm, gv = grad(m_star, v_star)
        assert float(jnp.max(jnp.abs(gm))) < 1e-10
        if form == "full":  # gradient in V restricted to symmetric directions
            gv = 0.5 * (gv + gv.T)
        assert float(jnp.max(jnp.abs(gv))) < 1e-10
        gm2, _ = grad(m_star + 0.1, v_star)
        assert float(jnp.max(jnp.abs(gm2))) > 1e-3
