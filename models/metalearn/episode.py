"""NIW-Meta's one-time episodic optimisation: the local posterior and the episode objective.

Kim & Hospedales, "A Hierarchical Bayesian Model for Few-Shot Meta Learning", ICLR 2024
(arXiv:2306.09702); spec sections 1-2. For an episode ``i`` with summed NLL ``l_i``:

1. a quadratic surrogate ``l_i(theta) ~ 1/2 (theta - m_bar)^T A_bar (theta - m_bar)`` under
   ``stop_gradient`` (:mod:`bayesuq.models.metalearn.surrogate`);
2. the closed-form local posterior (the paper's theorem; exact form as in the port ``[P]``)::

       gamma* = A_bar + n0 gamma0,  m* = (A_bar m_bar + n0 gamma0 m0) / gamma*,  v* = 1/gamma*

   (full: ``V* = (A_bar + n0 Lambda0^-1)^-1``, ``m* = V* (A_bar m_bar + n0 Lambda0^-1 m0)``);
3. ``F_i = E_{q*_i} l_i(theta) + E_{q(phi)} KL(q*_i || N(mu, Sigma)) + KL(q(phi) || p(phi)) / N``
   with ``N`` the number of training episodes; the first term by reparametrised Monte Carlo
   with the true NLL (``data_term="mc"``) or by the surrogate
   ``1/2 sum_j A_bar_j [(m*_j - m_bar_j)^2 + v*_j]`` (``data_term="surrogate"``).

The meta-loss of a meta-batch is the mean of ``F_i`` over its episodes (``vmap``).

The global parameters are unconstrained (:class:`GlobalParams`): the mean ``m0``, the log
precision scale ``log gamma0`` (diagonal) or a lower-triangular factor of ``Lambda0`` with a
log diagonal (full), and ``log(n0 - (d - 1))``; ``l0`` is fixed (it only adds the constant
``d / (2 l0)`` to ``g_i``, spec section 2 ``[D]``).
"""

from __future__ import annotations

from collections.abc import Callable
from typing import NamedTuple

import jax
import jax.numpy as jnp

from bayesuq.models.metalearn.heads import episode_apply
from bayesuq.models.metalearn.likelihood import Likelihood
from bayesuq.models.metalearn.niw import NIW, expected_kl, expected_precision, niw_kl
from bayesuq.models.metalearn.surrogate import (
    exact_surrogate,
    laplace_surrogate,
    sgld_surrogate,
)
from bayesuq.models.metalearn.tasks import Episodes

COVARIANCES = ("diag", "full")
SURROGATES = ("sgld", "laplace", "exact")
DATA_TERMS = ("mc", "surrogate")
EPISODE_DATA = ("all", "split")

__all__ = [
    "EpisodeConfig",
    "GlobalParams",
    "constrain",
    "episode_objective",
    "gaussian_draws",
    "init_global",
    "local_posterior",
    "meta_loss",
    "surrogate_fit",
]


class EpisodeConfig(NamedTuple):
    """Static settings of the episode computations (hashable; part of compiled programs)."""

    covariance: str = "diag"
    surrogate: str = "sgld"
    steps: int = 3
    burnin: int = 0
    step_scale: float = 1e-6
    curvature_max: float = 1e3
    kappa: float = 1.0
    data_term: str = "mc"
    train_draws: int = 1
    episode_data: str = "all"
    head: str = "linear"
    ways: int = 0
    episodes_at_once: int = 0  # 0: a meta-batch in one vectorised call


class GlobalParams(NamedTuple):
    """Unconstrained global parameters ``L0`` (what Adam updates)."""

    mean: jax.Array  # m0, (D,)
    scale: jax.Array  # diag: log gamma0 (D,); full: raw lower factor of Lambda0 (D, D)
    log_dof: jax.Array  # log(n0 - (d - 1)), ()


def init_global(theta0: jax.Array, *, covariance: str, n0: float, gamma0: float) -> GlobalParams:
    """Start at ``m0 = theta0``, ``gamma0`` (``Lambda0 = I / gamma0``) and ``n0``."""
    d = theta0.shape[0]
    dtype = theta0.dtype
    if covariance == "diag":
        scale = jnp.full((d,), jnp.log(gamma0), dtype)
        return GlobalParams(theta0, scale, jnp.log(jnp.asarray(n0, dtype)))
    if n0 <= d - 1:
        raise ValueError(f"n0_init must exceed d - 1 = {d - 1} for covariance='full', got {n0}")
    scale = jnp.eye(d, dtype=dtype) * (-0.5 * jnp.log(jnp.asarray(gamma0, dtype)))
    return GlobalParams(theta0, scale, jnp.log(jnp.asarray(n0 - (d - 1), dtype)))


def constrain(params: GlobalParams, kappa: float) -> NIW:
    """The NIW of the unconstrained parameters (positivity by ``exp``)."""
    kappa = jnp.asarray(kappa, params.mean.dtype)
    if params.scale.ndim == 1:
        return NIW(params.mean, kappa, jnp.exp(-params.scale), jnp.exp(params.log_dof))
    d = params.scale.shape[0]
    lower = jnp.tril(params.scale, -1) + jnp.diag(jnp.exp(jnp.diagonal(params.scale)))
    return NIW(params.mean, kappa, lower @ lower.T, (d - 1) + jnp.exp(params.log_dof))


def local_posterior(niw: NIW, m_bar: jax.Array, a_bar: jax.Array) -> tuple[jax.Array, jax.Array]:
    """The closed-form ``q*_i = N(m*, V*)`` given the surrogate ``(m_bar, A_bar)``.

    Diagonal NIW: ``gamma* = A_bar + n0 gamma0``, ``m* = (A_bar m_bar + n0 gamma0 m0) /
    gamma*``, ``v* = 1 / gamma*`` (vectors). Full NIW: ``P = n0 Lambda0^-1``,
    ``V* = (A_bar + P)^-1``, ``m* = V* (A_bar m_bar + P m0)`` with ``A_bar`` a vector
    (diagonal) or a matrix. This minimises ``1/2 (theta - m_bar)^T A_bar (theta - m_bar)``
    plus ``E_{q(phi)} KL(q || N(mu, Sigma))`` over Gaussians ``q`` (Kim & Hospedales 2024).
    """
    prec = expected_precision(niw)
    if niw.diagonal:
        gamma = a_bar + prec
        return (a_bar * m_bar + prec * niw.mean) / gamma, 1.0 / gamma
    a_mat = jnp.diag(a_bar) if a_bar.ndim == 1 else a_bar
    total = a_mat + prec
    chol = jnp.linalg.cholesky(total)
    cov = jax.scipy.linalg.cho_solve((chol, True), jnp.eye(total.shape[0], dtype=total.dtype))
    mean = cov @ (a_mat @ m_bar + prec @ niw.mean)
    return mean, 0.5 * (cov + cov.T)


def surrogate_fit(
    apply: Callable,
    likelihood: Likelihood,
    config: EpisodeConfig,
    theta0: jax.Array,
    x: jax.Array,
    y: jax.Array,
    key: jax.Array,
) -> tuple[jax.Array, jax.Array]:
    """``(m_bar, A_bar)`` of the episode's summed NLL on ``(x, y)``, started at ``theta0``."""

    def loss(theta):
        return likelihood.nll(apply(theta, x), y)

    n_points = x.shape[0]
    eta = config.step_scale / n_points
    if config.surrogate == "sgld":
        return sgld_surrogate(
            loss,
            theta0,
            key,
            steps=config.steps,
            burnin=config.burnin,
            step_size=eta,
            curvature_max=config.curvature_max,
        )
    if config.surrogate == "laplace":
        return laplace_surrogate(
            loss,
            lambda t: likelihood.ggn_diag(apply, t, x),
            theta0,
            steps=config.steps,
            step_size=eta,
            curvature_max=config.curvature_max,
        )
    return exact_surrogate(
        loss, theta0, curvature_max=config.curvature_max, full=config.covariance == "full"
    )


def gaussian_draws(key: jax.Array, mean: jax.Array, cov: jax.Array, draws: int) -> jax.Array:
    """``draws`` samples of ``N(mean, cov)``, ``cov`` a variance vector or a matrix."""
    z = jax.random.normal(key, (draws, mean.shape[0]), mean.dtype)
    if cov.ndim == 1:
        return mean[None, :] + jnp.sqrt(cov)[None, :] * z
    return mean[None, :] + z @ jnp.linalg.cholesky(cov).T


def _surrogate_expectation(m_star, v_star, m_bar, a_bar):
    """``E_{N(m*, V*)} 1/2 (theta - m_bar)^T A_bar (theta - m_bar)``."""
    diff = m_star - m_bar
    if a_bar.ndim == 1:
        var = v_star if v_star.ndim == 1 else jnp.diagonal(v_star)
        return 0.5 * jnp.sum(a_bar * (diff**2 + var))
    cov = jnp.diag(v_star) if v_star.ndim == 1 else v_star
    return 0.5 * (diff @ a_bar @ diff + jnp.sum(a_bar * cov))


def episode_objective(
    params: GlobalParams,
    prior: NIW,
    n_episodes: jax.Array,
    episode: Episodes,
    key: jax.Array,
    *,
    apply: Callable,
    likelihood: Likelihood,
    config: EpisodeConfig,
) -> tuple[jax.Array, dict[str, jax.Array]]:
    """``F_i(L0)`` of one episode (spec section 2, step 3) and its parts.

    ``episode_data="all"`` fits the surrogate and evaluates the data term on support and
    query together (the training rule as the spec reads it); ``"split"`` fits the surrogate
    on the support and evaluates the data term on the query (MAML's split). With
    ``config.head="prototype"`` the episode's predictions come from class prototypes of the
    support embeddings (:func:`bayesuq.models.metalearn.heads.episode_apply`).
    """
    niw = constrain(params, config.kappa)
    if config.episode_data == "all":
        fit_x = jnp.concatenate([episode.support_x, episode.query_x], axis=0)
        fit_y = jnp.concatenate([episode.support_y, episode.query_y], axis=0)
        eval_x, eval_y = fit_x, fit_y
    else:
        fit_x, fit_y = episode.support_x, episode.support_y
        eval_x, eval_y = episode.query_x, episode.query_y
    key_fit, key_mc = jax.random.split(key)
    apply_i = episode_apply(apply, config.head, config.ways, episode.support_x, episode.support_y)
    m_bar, a_bar = surrogate_fit(apply_i, likelihood, config, niw.mean, fit_x, fit_y, key_fit)
    m_star, v_star = local_posterior(niw, m_bar, a_bar)
    if config.data_term == "mc":
        thetas = gaussian_draws(key_mc, m_star, v_star, config.train_draws)
        data = jnp.mean(jax.vmap(lambda t: likelihood.nll(apply_i(t, eval_x), eval_y))(thetas))
    else:
        data = _surrogate_expectation(m_star, v_star, m_bar, a_bar)
    local_kl = expected_kl(m_star, v_star, niw)
    global_kl = niw_kl(niw, prior) / n_episodes
    total = data + local_kl + global_kl
    return total, {"data": data, "local_kl": local_kl, "global_kl": global_kl}


def meta_loss(
    params: GlobalParams,
    prior: NIW,
    n_episodes: jax.Array,
    episodes: Episodes,
    key: jax.Array,
    *,
    apply: Callable,
    likelihood: Likelihood,
    config: EpisodeConfig,
) -> tuple[jax.Array, dict[str, jax.Array]]:
    """Mean of :func:`episode_objective` over a meta-batch.

    Vectorised over its episodes (``vmap``), or in groups of ``config.episodes_at_once``
    run in sequence (``jax.lax.map``); each episode gets the same key either way.
    """
    keys = jax.random.split(key, episodes.support_x.shape[0])

    def one(episode, k):
        return episode_objective(
            params,
            prior,
            n_episodes,
            episode,
            k,
            apply=apply,
            likelihood=likelihood,
            config=config,
        )

    inputs = (episodes._replace(truth=None), keys)
    if config.episodes_at_once:
        values, parts = jax.lax.map(
            lambda pair: one(*pair), inputs, batch_size=config.episodes_at_once
        )
    else:
        values, parts = jax.vmap(one)(*inputs)
    return jnp.mean(values), jax.tree.map(jnp.mean, parts)
