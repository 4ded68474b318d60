"""Normal-Inverse-Wishart algebra: expectations, KL divergences, the mode and draws.

The global latent of NIW-Meta (Kim & Hospedales, "A Hierarchical Bayesian Model for Few-Shot
Meta Learning", ICLR 2024, arXiv:2306.09702) is ``phi = (mu, Sigma)`` with the variational
posterior ``q(phi) = NIW(m0, l0, Lambda0, n0)``::

    Sigma ~ IW(Lambda0, n0),        mu | Sigma ~ N(m0, Sigma / l0).

Two parameterisations share this module:

* **diagonal** (deep networks): each coordinate ``j`` is an independent one-dimensional NIW,
  ``sigma_j^2 ~ IG(n0/2, lambda_j/2)``, ``mu_j | sigma_j^2 ~ N(m0_j, sigma_j^2/l0)``, with the
  precision scale ``gamma0_j = 1/lambda_j`` and one shared ``n0``;
* **full** (small ``d``): ``Lambda0`` a ``d x d`` scale matrix, ``n0 > d - 1``.

Every function is pure JAX and element-wise or batched over leading axes where stated. The
digamma and multivariate log-gamma terms lose accuracy in float32; the tests check these
identities against Monte Carlo in float64 (``bayesuq.precision.computing_in``).

Sources (see ``docs/metalearn.md``): the diagonal expected KL is the third-party port's form
(``[P]`` in the spec) with the ``1/l0`` term that the port drops; the full-covariance forms and
the NIW-NIW KL are standard (spec section 10, checked by Monte Carlo in our tests).
"""

from __future__ import annotations

from typing import NamedTuple

import jax
import jax.numpy as jnp
from jax.scipy.special import digamma, gammaln, multigammaln

LOG2 = 0.6931471805599453

__all__ = [
    "NIW",
    "expected_kl",
    "expected_log_det",
    "expected_precision",
    "niw_kl",
    "niw_mode",
    "sample_niw",
]


class NIW(NamedTuple):
    """Parameters of a Normal-Inverse-Wishart distribution.

    Attributes
    ----------
    mean
        ``m0``, shape ``(d,)``.
    kappa
        ``l0 > 0``, a scalar: ``mu | Sigma ~ N(m0, Sigma / l0)``.
    scale
        ``Lambda0``: shape ``(d,)`` for the diagonal form (the per-coordinate
        ``lambda_j = 1/gamma0_j``) or ``(d, d)`` (symmetric positive definite) for the full form.
    dof
        ``n0``, a scalar; ``> 0`` (diagonal) or ``> d - 1`` (full).
    """

    mean: jax.Array
    kappa: jax.Array
    scale: jax.Array
    dof: jax.Array

    @property
    def diagonal(self) -> bool:
        """Whether this is the diagonal (independent coordinates) form."""
        return self.scale.ndim == 1


def _multi_digamma(a: jax.Array, d: int) -> jax.Array:
    """``psi_d(a) = sum_{j=1}^{d} psi(a + (1 - j)/2)``."""
    return jnp.sum(digamma(a - 0.5 * jnp.arange(d)))


def expected_precision(niw: NIW) -> jax.Array:
    """``E_q[Sigma^-1] = n0 Lambda0^-1`` (diagonal form: ``n0 gamma0``, a vector).

    Standard Wishart mean: ``Sigma^-1 ~ W(Lambda0^-1, n0)``.
    """
    if niw.diagonal:
        return niw.dof / niw.scale
    return niw.dof * jnp.linalg.inv(niw.scale)


def expected_log_det(niw: NIW) -> jax.Array:
    """``E_q log|Sigma| = log|Lambda0| - sum_{j=1}^{d} psi((n0 - j + 1)/2) - d log 2``.

    Diagonal form: the per-coordinate vector ``E log sigma_j^2 = log lambda_j - psi(n0/2) -
    log 2`` (``= -log gamma0_j - psi(n0/2) - log 2``); sum it for ``log|Sigma|``.
    """
    if niw.diagonal:
        return jnp.log(niw.scale) - digamma(niw.dof / 2) - LOG2
    d = niw.scale.shape[-1]
    _, logdet = jnp.linalg.slogdet(niw.scale)
    return logdet - _multi_digamma(niw.dof / 2, d) - d * LOG2


def expected_kl(mean: jax.Array, cov: jax.Array, niw: NIW) -> jax.Array:
    """``E_{q(phi)} KL(N(m, V) || N(mu, Sigma))`` under ``q(phi) = NIW(m0, l0, Lambda0, n0)``.

    .. math::

        \\tfrac12\\big[n_0 \\operatorname{tr}(\\Lambda_0^{-1} V)
        + n_0 (m - m_0)^\\top \\Lambda_0^{-1} (m - m_0) + d / l_0 - \\log|V|
        + E\\log|\\Sigma| - d\\big]

    (spec section 10). In the diagonal form ``V = diag(v)`` and the sum runs over
    coordinates: ``1/2 sum_j [n0 gamma0_j v_j + n0 gamma0_j (m_j - m0_j)^2 + 1/l0 - log v_j
    - log gamma0_j - psi(n0/2) - log 2 - 1]`` (the port's ``g_i`` plus the ``1/l0`` term).

    Parameters
    ----------
    mean
        ``m``, shape ``(d,)``.
    cov
        ``V``: variances ``(d,)`` in the diagonal form, a covariance matrix ``(d, d)`` in the
        full form (a vector of variances is accepted there too).
    niw
        ``q(phi)``.
    """
    diff = mean - niw.mean
    if niw.diagonal:
        prec = niw.dof / niw.scale
        terms = prec * cov + prec * diff**2 + 1.0 / niw.kappa - jnp.log(cov)
        return 0.5 * jnp.sum(terms + expected_log_det(niw) - 1.0)
    d = niw.scale.shape[-1]
    chol = jnp.linalg.cholesky(niw.scale)
    if cov.ndim == 1:
        trace = jnp.sum(jnp.diagonal(jnp.linalg.inv(niw.scale)) * cov)
        logdet_v = jnp.sum(jnp.log(cov))
    else:
        solved = jax.scipy.linalg.cho_solve((chol, True), cov)
        trace = jnp.trace(solved)
        logdet_v = jnp.linalg.slogdet(cov)[1]
    white = jax.scipy.linalg.solve_triangular(chol, diff, lower=True)
    quad = jnp.sum(white**2)
    return 0.5 * (
        niw.dof * trace + niw.dof * quad + d / niw.kappa - logdet_v + expected_log_det(niw) - d
    )


def niw_kl(q: NIW, p: NIW) -> jax.Array:
    """``KL(NIW(m, l, Lambda, n) || NIW(m', l', Lambda', n'))`` (spec section 10).

    .. math::

        KL_{IW} + \\tfrac12\\big[d l'/l + l' n (m - m')^\\top \\Lambda^{-1} (m - m') - d
        + d \\log(l / l')\\big],

        KL_{IW} = -\\tfrac{n'}{2}\\log|\\Lambda'\\Lambda^{-1}|
        + \\tfrac{n}{2}(\\operatorname{tr}(\\Lambda'\\Lambda^{-1}) - d)
        + \\log\\Gamma_d(n'/2) - \\log\\Gamma_d(n/2) + \\tfrac{n - n'}{2}\\psi_d(n/2).

    Diagonal form: the sum of the one-dimensional KLs over coordinates (``p.scale`` and
    ``p.mean`` broadcast against ``q``'s).
    """
    kq, lp = q.kappa, p.kappa
    n, np_ = q.dof, p.dof
    diff = q.mean - p.mean
    if q.diagonal:
        ratio = p.scale / q.scale  # Lambda' Lambda^-1
        kl_iw = (
            -0.5 * np_ * jnp.log(ratio)
            + 0.5 * n * (ratio - 1.0)
            + gammaln(np_ / 2)
            - gammaln(n / 2)
            + 0.5 * (n - np_) * digamma(n / 2)
        )
        kl_mean = 0.5 * (lp / kq + lp * n * diff**2 / q.scale - 1.0 + jnp.log(kq / lp))
        return jnp.sum(kl_iw + kl_mean)
    d = q.scale.shape[-1]
    chol = jnp.linalg.cholesky(q.scale)
    ratio = jax.scipy.linalg.cho_solve((chol, True), p.scale)  # Lambda^-1 Lambda'
    logdet_ratio = jnp.linalg.slogdet(p.scale)[1] - 2.0 * jnp.sum(jnp.log(jnp.diagonal(chol)))
    kl_iw = (
        -0.5 * np_ * logdet_ratio
        + 0.5 * n * (jnp.trace(ratio) - d)
        + multigammaln(np_ / 2, d)
        - multigammaln(n / 2, d)
        + 0.5 * (n - np_) * _multi_digamma(n / 2, d)
    )
    white = jax.scipy.linalg.solve_triangular(chol, diff, lower=True)
    kl_mean = 0.5 * (d * lp / kq + lp * n * jnp.sum(white**2) - d + d * jnp.log(kq / lp))
    return kl_iw + kl_mean


def niw_mode(niw: NIW) -> tuple[jax.Array, jax.Array]:
    """The joint mode of ``NIW``: ``mu = m0``, ``Sigma = Lambda0 / (n0 + d + 2)``.

    Diagonal form: ``sigma_j^2 = lambda_j / (n0 + 3)``. This is the test-time prior of the
    paper's predictive rule (spec section 3).
    """
    d = 1 if niw.diagonal else niw.scale.shape[-1]
    return niw.mean, niw.scale / (niw.dof + d + 2)


def sample_niw(key: jax.Array, niw: NIW, draws: int) -> tuple[jax.Array, jax.Array]:
    """``draws`` independent ``(mu, Sigma)`` from ``NIW`` (pure JAX).

    Diagonal form: ``sigma^2 = (lambda/2) / G`` with ``G ~ Gamma(n0/2)`` (an inverse gamma),
    ``mu ~ N(m0, sigma^2/l0)``; returns ``mu (draws, d)`` and variances ``(draws, d)``. Full
    form: ``Sigma^-1 ~ Wishart(Lambda0^-1, n0)`` by the Bartlett decomposition (``n0`` need
    not be an integer), ``mu ~ N(m0, Sigma/l0)``; returns ``(draws, d)`` and ``(draws, d, d)``.
    """
    key_sigma, key_mu = jax.random.split(key)
    if niw.diagonal:
        d = niw.mean.shape[-1]
        g = jax.random.gamma(key_sigma, niw.dof / 2, (draws, d), dtype=niw.mean.dtype)
        var = (niw.scale / 2)[None, :] / g
        z = jax.random.normal(key_mu, (draws, d), dtype=niw.mean.dtype)
        return niw.mean[None, :] + jnp.sqrt(var / niw.kappa) * z, var

    d = niw.scale.shape[-1]
    # Wishart(S, n) with S = Lambda0^-1 = U^T U ... via W = (L_S A)(L_S A)^T, Bartlett A.
    chol_prec = jnp.linalg.cholesky(jnp.linalg.inv(niw.scale))

    def one(key):
        k_chi, k_norm, k_mu = jax.random.split(key, 3)
        shapes = (niw.dof - jnp.arange(d)) / 2
        chi2 = 2.0 * jax.random.gamma(k_chi, shapes, dtype=niw.scale.dtype)
        lower = jnp.tril(jax.random.normal(k_norm, (d, d), dtype=niw.scale.dtype), -1)
        bartlett = lower + jnp.diag(jnp.sqrt(chi2))
        factor = chol_prec @ bartlett
        cov = jnp.linalg.inv(factor @ factor.T)
        cov = 0.5 * (cov + cov.T)
        z = jax.random.normal(k_mu, (d,), dtype=niw.scale.dtype)
        mu = niw.mean + jnp.linalg.cholesky(cov / niw.kappa) @ z
        return mu, cov

    return jax.vmap(one)(jax.random.split(key_sigma, draws))
