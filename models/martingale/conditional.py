"""``CopulaRegression`` and ``CopulaClassifier``: the conditional copula method.

Fong, Holmes & Walker (2023, Section 4.4). Covariates are standardised and compared by the
Gaussian-copula kernel on their scores,
``log k(x, x') = sum_j [-1/2 log(1 - rho_xj^2) - (rho_xj^2 (x_j^2 + x'_j^2) - 2 rho_xj x_j x'_j)
/ (2 (1 - rho_xj^2))]``, which localises the step size:
``alpha_k(x) = alpha_k k(x, x_k) / (1 - alpha_k + alpha_k k(x, x_k))``.

* Regression: the univariate copula update of ``p(y | x)`` with ``alpha_k(x)`` and
  ``v_k = P_{k-1}(y_k | x_k)``; ``alpha_k(x)`` clipped into ``[1e-5, 1 - 1e-5]``.
* Classification: ``g_k(x) = p_k(y = 1 | x)``, ``g_0 = 1/2``; with ``u = g_{k-1}(x)``,
  ``v = g_{k-1}(x_k)``, ``m = min(u, v)``:
  ``b = (1 - rho) + rho [y_k m / (u v) + (1 - y_k)(u - m) / (u (1 - v))]`` and
  ``g_k(x) = [1 - alpha_k(x) + alpha_k(x) b] g_{k-1}(x)`` (``E_{y_k ~ Bern(v)} b = 1``).

Both fit (rho, rho_x) by the permutation-averaged prequential log-likelihood and start
predictive resampling from the permutation-averaged state. Forward sampling draws
``w ~ Dirichlet(1_n)`` once per path and ``x_k = x_J``, ``J ~ Cat(w)`` (the Bayesian
bootstrap for ``x``); the regression draws ``v ~ U(0, 1)``, the classifier
``y_k = 1{U <= g_{k-1}(x_k)}`` with ``g`` also tracked at the observed ``x``'s.

Like the density, both compute in float32 by default (``precision=`` overrides).
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any, NamedTuple

import arviz as az
import jax
import jax.numpy as jnp
import numpy as np

from bayesuq.data.scaling import standardise
from bayesuq.infer.arguments import check_int
from bayesuq.models.martingale import copula as cop
from bayesuq.models.martingale.bandwidth import fit_prequential
from bayesuq.models.martingale.density import DEFAULT_PRECISION
from bayesuq.models.martingale.engine import martingale_result, resample_with_convergence_check
from bayesuq.precision import computing_in, resolve_precision

REG_ALPHA_CLIP = 1e-5
CLS_CLIP = 5e-5
CLS_ALPHA_FORWARD_CLIP = 1e-4


def log_kernel(x: jax.Array, xk: jax.Array, rho_x: jax.Array) -> jax.Array:
    """The covariate kernel ``log k(x, x_k) = sum_j log c_{rho_xj}(x_j, x_kj)``.

    The Gaussian-copula log density (:func:`~bayesuq.models.martingale.copula.log_c_scores`)
    applied to the standardised covariates themselves, summed over covariates, for points
    ``x (m, p)`` against one ``x_k (p,)`` (Fong, Holmes & Walker 2023, Section 4.4).
    """
    return cop.log_c_scores(x, xk[None, :], rho_x[None, :]).sum(axis=1)


def local_alpha(k: jax.Array, log_k: jax.Array, eps: float) -> jax.Array:
    """The localised step ``alpha_k(x) = alpha_k k / (1 - alpha_k + alpha_k k)``.

    ``k = k(x, x_k)`` from :func:`log_kernel` (in logs), ``alpha_k = (2 - 1/k)/(k + 1)``;
    the result is clipped into ``[eps, 1 - eps]`` (Fong, Holmes & Walker 2023, Section
    4.4: a datum moves the predictive most at covariates like its own).
    """
    a = cop.alpha(k)
    log_a = jnp.log(a) + log_k - jnp.logaddexp(jnp.log1p(-a), jnp.log(a) + log_k)
    return jnp.clip(jnp.exp(log_a), eps, 1.0 - eps)


def _split_h(h: jax.Array, p: int) -> tuple[jax.Array, jax.Array]:
    """``(rho, rho_x (p,))`` from ``h = (h_rho, h_x)`` with a shared or per-covariate ``h_x``."""
    rho = cop.rho_from_h(h)
    rho_x = rho[1:]
    return rho[0], jnp.broadcast_to(rho_x, (p,)) if rho_x.shape[0] == 1 else rho_x


# --- regression ----------------------------------------------------------------------------


def reg_update(state: cop.DensityState, v, a, rho_y) -> cop.DensityState:
    """The conditional copula update of ``p(y | x)`` at each point with its own ``alpha(x)``.

    ``p_k(y | x) = [1 - a(x) + a(x) c_rho(P_{k-1}(y | x), v_k)] p_{k-1}(y | x)`` and
    ``P_k(y | x) = (1 - a(x)) P_{k-1}(y | x) + a(x) H_rho(P_{k-1}(y | x), v_k)``
    (:func:`~bayesuq.models.martingale.copula.copula_step` with ``d = 1``), with
    ``a (m,)`` from :func:`local_alpha` (Fong, Holmes & Walker 2023, Section 4.4).
    """

    def one(s, ai):
        return cop.copula_step(s, v, jnp.log(ai), jnp.log1p(-ai), rho_y[None])

    return jax.vmap(one)(state, a)


def _reg_initial(y: jax.Array) -> cop.DensityState:
    """The start ``p_0(y | x) = phi(y)`` at standardised responses ``y (m,)``."""
    return cop.initial_state(y[:, None])


def reg_prequential_one(h, x, y):
    """Prequential terms ``log p_{k-1}(y_k | x_k)`` and cdfs ``v_k`` of one ordering.

    The regression recursion (:func:`reg_update`, steps :func:`local_alpha`) over the data
    ``x (n, p)``, ``y (n,)`` in this order, the state held at all ``n`` data points; each
    term and ``v_k = P_{k-1}(y_k | x_k)`` are read before datum ``k``'s update (Fong,
    Holmes & Walker 2023, Section 4.4).
    """
    p = x.shape[1]
    rho_y, rho_x = _split_h(h, p)

    def body(state, k):
        v, lp = state.cdf[k], state.log_pdf[k, 0]
        a = local_alpha(k + 1, log_kernel(x, x[k], rho_x), REG_ALPHA_CLIP)
        return reg_update(state, v, a, rho_y), (lp, v[0])

    _, (terms, v) = jax.lax.scan(body, _reg_initial(y), jnp.arange(y.shape[0]))
    return terms, v


def _over_orderings(prequential_one, h, x, y, perms):
    """``prequential_one(h, x[q], y[q])`` for every ordering ``q`` of ``perms (P, n)``."""
    return jax.vmap(lambda q: prequential_one(h, x[q], y[q]))(perms)


def _negative_mean(prequential_one, h, x, y, perms):
    """Value and gradient in ``h`` of ``-(1/n) mean_perm sum_k term_k`` (the objective)."""

    def loss(h):
        terms, _ = _over_orderings(prequential_one, h, x, y, perms)
        return -terms.sum(axis=1).mean() / y.shape[0]

    return jax.value_and_grad(loss)(h)


@jax.jit
def reg_prequential(h, x, y, perms):
    """:func:`reg_prequential_one` per ordering in ``perms (P, n)``: terms and cdfs ``(P, n)``."""
    return _over_orderings(reg_prequential_one, h, x, y, perms)


@jax.jit
def reg_negative_prequential(h, x, y, perms):
    """The regression's bandwidth objective and its gradient in ``h = (h_y, h_x)``.

    ``L(h) = -(1/n) (1/P) sum_perm sum_k log p_{k-1}(y_k | x_k)`` (Fong, Holmes & Walker
    2023, Section 4.4).
    """
    return _negative_mean(reg_prequential_one, h, x, y, perms)


@jax.jit
def reg_averaged_state(h, x_perm, v, x_eval, y_eval) -> cop.DensityState:
    """Permutation-averaged ``p_n(y | x)`` at pairs ``(x_eval (m, p), y_eval (m,))``.

    Each ordering's ``p_n`` is replayed from its stored ``v`` and covariates ``x_perm``
    (:func:`reg_update` steps), then averaged arithmetically over orderings (pdfs by
    log-sum-exp, cdfs directly; Fong, Holmes & Walker 2023, Section 4.4).
    """
    rho_y, rho_x = _split_h(h, x_eval.shape[1])

    def replay(xq, vq):
        def body(state, inputs):
            k, xk, vk = inputs
            a = local_alpha(k + 1, log_kernel(x_eval, xk, rho_x), REG_ALPHA_CLIP)
            return reg_update(state, vk[None], a, rho_y), None

        state, _ = jax.lax.scan(body, _reg_initial(y_eval), (jnp.arange(vq.shape[0]), xq, vq))
        return state

    states = jax.vmap(replay)(x_perm, v)
    count = v.shape[0]
    return cop.DensityState(
        jax.scipy.special.logsumexp(states.log_pdf, axis=0) - jnp.log(count),
        states.cdf.mean(axis=0),
    )


class RegParams(NamedTuple):
    """Fixed inputs of regression resampling (standardised ``x``; ``y_grid`` original scale)."""

    rho_y: jax.Array
    rho_x: jax.Array
    x_obs: jax.Array  # (n, p) standardised
    x_eval: jax.Array  # (m, p)
    y_grid: jax.Array  # (n_y,) original scale
    shape: jax.Array  # (n_x, n_y) as zeros, carries the grid shape
    log_scale: jax.Array


class RegState(NamedTuple):
    """Regression resampling state: ``p(y | x)`` at the grid, Bayesian-bootstrap ``log w``."""

    density: cop.DensityState
    log_w: jax.Array  # (n,) Bayesian-bootstrap log weights of x


def _dirichlet_log_w(params, state, key):
    """Per-path ``log w`` with ``w ~ Dirichlet(1_n)`` (normalised exponentials)."""
    e = jax.random.exponential(key, state.log_w.shape, dtype=state.log_w.dtype)
    return state._replace(log_w=jnp.log(e) - jnp.log(e.sum()))


def reg_step(params: RegParams, state: RegState, key, k) -> RegState:
    """One forward step: ``x_k = x_J`` with ``J ~ Cat(w)``, ``v ~ U(0, 1)``, then the update.

    The covariates are resampled by the path's Bayesian-bootstrap weights ``w`` and the
    response's conditional cdf ``v = P_{k-1}(Y_k | x_k)`` is ``U(0, 1)`` under
    ``Y_k ~ P_{k-1}(. | x_k)`` (Fong, Holmes & Walker 2023, Section 4.4).
    """
    kj, kv = jax.random.split(key)
    xk = params.x_obs[jax.random.categorical(kj, state.log_w)]
    v = jax.random.uniform(kv, (1,), dtype=params.x_obs.dtype)
    a = local_alpha(k, log_kernel(params.x_eval, xk, params.rho_x), REG_ALPHA_CLIP)
    return state._replace(density=reg_update(state.density, v, a, params.rho_y))


def reg_functional(params: RegParams, state: RegState) -> dict[str, jax.Array]:
    """``p(y | x)`` on the grid and the conditional mean ``int y p dy / int p dy``."""
    pdf = jnp.exp(state.density.log_pdf[:, 0] - params.log_scale).reshape(params.shape.shape)
    y = jnp.broadcast_to(params.y_grid, pdf.shape)
    mean = jnp.trapezoid(pdf * y, y, axis=1) / jnp.trapezoid(pdf, y, axis=1)
    return {"mean": mean, "pdf": pdf}


def reg_distance(params, state, state0) -> jax.Array:
    """``mean |p_k(y | x) - p_n(y | x)|`` over the grid (convergence check)."""
    return jnp.mean(
        jnp.abs(jnp.exp(state.density.log_pdf[:, 0]) - jnp.exp(state0.density.log_pdf[:, 0]))
    )


class _CopulaConditional:
    """Shared configuration, data checks, fitting and resampling of the conditional methods.

    Subclasses set ``_estimator`` (the name in ``attrs["estimator"]``), ``_objective`` and
    ``_prequential`` (the jitted programs of :func:`_permutation_averaged`) and define
    ``_targets(y)`` (the checked, transformed responses).
    """

    _estimator = ""
    _objective: Any = None
    _prequential: Any = None

    def __init__(
        self,
        *,
        rho: float | None = None,
        rho_x: Any = None,
        per_covariate_rho: bool = False,
        permutations: int = 10,
        seed: int = 0,
        rho_init: float = 0.8,
        optimizer: str = "L-BFGS-B",
        maxiter: int = 100,
        precision: str | None = None,
    ) -> None:
        if (rho is None) != (rho_x is None):
            raise ValueError(
                f"give both rho and rho_x (fixed) or neither (fitted); got rho={rho!r}, "
                f"rho_x={rho_x!r}"
            )
        self.rho, self.rho_x = rho, rho_x
        self.per_covariate_rho = per_covariate_rho
        self.permutations = check_int("permutations", permutations, minimum=1)
        self.seed = cop.check_seed(seed)
        self.rho_init = rho_init
        self.optimizer = optimizer
        self.maxiter = check_int("maxiter", maxiter, minimum=1)
        self.precision = precision
        resolve_precision(precision, DEFAULT_PRECISION)

    def _targets(self, y: np.ndarray) -> np.ndarray:
        raise NotImplementedError

    def fit(self, x: Any, y: Any) -> _CopulaConditional:
        """Standardise ``x (n, p)``, check ``y (n,)``, fit ``(rho, rho_x)``, keep the ``v``'s.

        ``rho`` and ``rho_x`` maximise the permutation-averaged prequential
        log-likelihood (a robust search, see :mod:`bayesuq.models.martingale.bandwidth`),
        unless both were fixed.
        """
        xs = cop.as_2d(x, "x")
        ys = np.asarray(y, dtype=float)
        if ys.shape != (xs.shape[0],):
            raise ValueError(f"y must have shape ({xs.shape[0]},) to match x, got {ys.shape}")
        xz, self.x_mean_, self.x_scale_ = standardise(xs, name="x")
        self.n_, self.p_ = xz.shape
        target = self._targets(ys)
        self.precision_ = resolve_precision(self.precision, DEFAULT_PRECISION)
        fixed = None
        if self.rho is not None:
            rho = np.concatenate(
                [cop.check_rho("rho", self.rho, 1), cop.check_rho("rho_x", self.rho_x, self.p_)]
            )
            fixed = cop.h_from_rho(rho)
        with computing_in(self.precision_):
            perms = jnp.asarray(cop.make_permutations(self.seed, self.n_, self.permutations))
            xj, tj = jnp.asarray(xz), jnp.asarray(target)
            fit = fit_prequential(
                type(self).__name__,
                type(self)._objective,
                type(self)._prequential,
                (xj, tj, perms),
                size=1 + (self.p_ if self.per_covariate_rho else 1),
                fixed_h=fixed,
                rho_init=self.rho_init,
                optimizer=self.optimizer,
                maxiter=self.maxiter,
                response=slice(0, 1),
            )
            self.x_perm_, self.t_perm_ = xj[perms], tj[perms]
        self.h_, self.n_iter_, self.fit_seconds_ = fit.h, fit.n_iter, fit.seconds
        self.bandwidth_status_ = fit.status
        rho = 1.0 / (1.0 + np.exp(self.h_))
        self.rho_ = float(rho[0])
        self.rho_x_ = np.broadcast_to(rho[1:], (self.p_,)).copy()
        self.prequential_loglik_ = float(np.asarray(fit.terms).sum(axis=1).mean() / self.n_)
        self.start_prequential_loglik_ = -fit.start_objective
        self.v_ = fit.v
        return self

    def _x_eval(self, x: Any) -> np.ndarray:
        if not hasattr(self, "v_"):
            raise RuntimeError(f"{type(self).__name__} is not fitted: call fit(x, y) first")
        return (cop.as_2d(x, "x", self.p_) - self.x_mean_) / self.x_scale_

    def _resample(
        self,
        kernel: tuple[Callable, Callable, Callable],
        params: Any,
        state0: Any,
        *,
        steps: int,
        draws: int,
        seed: int,
        chunk: int,
        convergence_steps: int | None,
        convergence_threshold: float | None,
    ) -> tuple[dict[str, np.ndarray], dict[str, Any], float]:
        """Predictive resampling from the fitted state, ``x`` by Bayesian bootstrap.

        ``kernel`` is ``(step, functional, distance)``; each path starts after the ``n``
        observations with its own Dirichlet weights. Returns the draws, the ``attrs``
        (settings, fit figures, convergence figures) and the seconds spent. Call inside
        ``computing_in(self.precision_)``.
        """
        step, functional, distance = kernel
        out, convergence, seconds = resample_with_convergence_check(
            step,
            functional,
            distance,
            params,
            state0,
            key=jax.random.PRNGKey(seed),
            steps=steps,
            draws=draws,
            start=self.n_,
            chunk=chunk,
            initialize=_dirichlet_log_w,
            convergence_steps=convergence_steps,
            convergence_threshold=convergence_threshold,
        )
        attrs = {
            "precision": self.precision_,
            "steps": steps,
            "draws": draws,
            "fit_seed": self.seed,
            "n": self.n_,
            "rho": self.rho_,
            "rho_x": ", ".join(f"{r:.6g}" for r in self.rho_x_),
            "bandwidth_status": self.bandwidth_status_,
            "permutations": self.permutations,
            "prequential_loglik": self.prequential_loglik_,
            "fit_seconds": self.fit_seconds_,
            **convergence,
        }
        return out, attrs, seconds


class CopulaRegression(_CopulaConditional):
    """Conditional copula regression ``p(y | x)`` with martingale-posterior bands.

    Parameters
    ----------
    rho, rho_x
        Fixed ``rho_y`` and ``rho_x`` (one, or one per covariate) in (0, 1); ``None`` (both)
        fits them by the permutation-averaged prequential log-likelihood.
    per_covariate_rho
        Fit one ``rho_x`` per covariate instead of a shared one.
    permutations, seed, rho_init, optimizer, maxiter
        Orderings (10), their seed, an extra start of the search (0.8), ``"L-BFGS-B"`` or
        ``"SLSQP"``, iterations.
    precision
        ``None`` (float32, the family's default), ``"float32"`` or ``"float64"``.

    Notes
    -----
    Fong, Holmes & Walker (2023), JRSS B 85(5), Section 4.4.
    """

    _estimator = "copula_regression"
    _objective = staticmethod(reg_negative_prequential)
    _prequential = staticmethod(reg_prequential)

    def _targets(self, y: np.ndarray) -> np.ndarray:
        yz, self.y_mean_, self.y_scale_ = standardise(y[:, None], name="y")
        return yz[:, 0]

    def _state(self, x: Any, y: Any) -> cop.DensityState:
        """Averaged ``p_n(y | x)`` at pairs; call inside ``computing_in(self.precision_)``."""
        xe = self._x_eval(x)
        ye = np.asarray(y, dtype=float)
        if ye.shape != (xe.shape[0],):
            raise ValueError(f"y must have shape ({xe.shape[0]},) to match x, got {ye.shape}")
        yz = (ye - self.y_mean_[0]) / self.y_scale_[0]
        return reg_averaged_state(
            jnp.asarray(self.h_), self.x_perm_, self.v_, jnp.asarray(xe), jnp.asarray(yz)
        )

    def logpdf(self, x: Any, y: Any) -> np.ndarray:
        """``log p_n(y_i | x_i)`` for pairs ``x (m, p)``, ``y (m,)`` (original scale)."""
        with computing_in(getattr(self, "precision_", DEFAULT_PRECISION)):
            log_pdf = np.asarray(self._state(x, y).log_pdf[:, 0])
        return log_pdf - float(np.log(self.y_scale_[0]))

    def cdf(self, x: Any, y: Any) -> np.ndarray:
        """``P_n(y_i | x_i)``."""
        with computing_in(getattr(self, "precision_", DEFAULT_PRECISION)):
            return np.asarray(self._state(x, y).cdf[:, 0])

    def predictive_resample(
        self,
        x: Any,
        y_grid: Any,
        *,
        steps: int = 5000,
        draws: int = 1000,
        seed: int = 0,
        chunk: int = 100,
        convergence_steps: int | None = None,
        convergence_threshold: float | None = None,
    ) -> az.InferenceData:
        """Martingale posterior of ``p(y | x)`` on ``x (n_x, p) x y_grid (n_y,)``.

        ``steps``, ``draws``, ``seed``, ``chunk``, ``convergence_steps`` and
        ``convergence_threshold`` as in
        :meth:`~bayesuq.models.martingale.CopulaDensity.predictive_resample`.

        Returns
        -------
        arviz.InferenceData
            ``inference="martingale"``, ``estimator="copula_regression"``;
            ``posterior["mean"]`` (conditional mean, dims ``(chain, draw, x)``) and
            ``posterior["pdf"]`` (dims ``(chain, draw, x, y)``).
        """
        xs = self._x_eval(x) * self.x_scale_ + self.x_mean_
        grid = np.asarray(y_grid, dtype=float)
        if grid.ndim != 1 or grid.size < 2 or np.any(np.diff(grid) <= 0):
            raise ValueError(f"y_grid must be an increasing 1-d grid, got shape {grid.shape}")
        seed = cop.check_seed(seed)
        n_x, n_y = xs.shape[0], grid.size
        xx = np.repeat(xs, n_y, axis=0)
        with computing_in(self.precision_):
            state0 = RegState(self._state(xx, np.tile(grid, n_x)), jnp.zeros(self.n_))
            rho_y, rho_x = _split_h(jnp.asarray(self.h_), self.p_)
            params = RegParams(
                rho_y,
                rho_x,
                self.x_perm_[0],
                jnp.asarray(self._x_eval(xx)),
                jnp.asarray(grid),
                jnp.zeros((n_x, n_y)),
                jnp.asarray(np.log(self.y_scale_[0])),
            )
            out, attrs, seconds = self._resample(
                (reg_step, reg_functional, reg_distance),
                params,
                state0,
                steps=steps,
                draws=draws,
                seed=seed,
                chunk=chunk,
                convergence_steps=convergence_steps,
                convergence_threshold=convergence_threshold,
            )
            initial = reg_functional(params, state0)
            return martingale_result(
                out,
                estimator=self._estimator,
                seed=seed,
                seconds=seconds,
                dims={
                    "mean": ["x"],
                    "pdf": ["x", "y"],
                    "x_eval": ["x", "covariate"],
                    "mean_n": ["x"],
                },
                coords={"y": grid},
                constant_data={"x_eval": xs, "mean_n": np.asarray(initial["mean"])},
                attrs=attrs,
            )


# --- classification ------------------------------------------------------------------------


def cls_update(g: jax.Array, v: jax.Array, y: jax.Array, a: jax.Array, rho: jax.Array):
    """The classification update ``g_k(x) = [1 - a(x) + a(x) b] g_{k-1}(x)``.

    With ``u = g_{k-1}(x)``, ``v = g_{k-1}(x_k)``, the label ``y = y_k`` and
    ``m = min(u, v)``::

        b = (1 - rho) + rho [y m / (u v) + (1 - y)(u - m) / (u (1 - v))],

    the ratio ``P(Y = 1 | Y' = y) / P(Y = 1)`` under a ``rho``-mixture of independent and
    comonotone Bernoulli couplings, whose mean over ``y ~ Bern(v)`` is 1 (Fong, Holmes &
    Walker 2023, Section 4.4). ``u``, ``v`` are clipped into ``[5e-5, 1 - 5e-5]`` and
    ``b >= 5e-5``; arrays of shape ``(m,)``.
    """
    u = jnp.clip(g, CLS_CLIP, 1.0 - CLS_CLIP)
    v = jnp.clip(v, CLS_CLIP, 1.0 - CLS_CLIP)
    m = jnp.minimum(u, v)
    b = (1.0 - rho) + rho * (y * m / (u * v) + (1.0 - y) * (u - m) / (u * (1.0 - v)))
    return (1.0 - a + a * jnp.maximum(b, CLS_CLIP)) * u


def cls_prequential_one(h, x, y):
    """Prequential terms ``y_k log v_k + (1 - y_k) log(1 - v_k)`` and ``v_k = g_{k-1}(x_k)``.

    The classification recursion (:func:`cls_update`, ``g_0 = 1/2``) over one ordering of
    ``x (n, p)``, ``y (n,)``, read before each datum's update (Fong, Holmes & Walker
    2023, Section 4.4).
    """
    rho, rho_x = _split_h(h, x.shape[1])

    def body(g, k):
        v = jnp.clip(g[k], CLS_CLIP, 1.0 - CLS_CLIP)
        term = y[k] * jnp.log(v) + (1.0 - y[k]) * jnp.log1p(-v)
        a = local_alpha(k + 1, log_kernel(x, x[k], rho_x), CLS_CLIP)
        return cls_update(g, v, y[k], a, rho), (term, v)

    _, (terms, v) = jax.lax.scan(body, jnp.full(y.shape, 0.5), jnp.arange(y.shape[0]))
    return terms, v


@jax.jit
def cls_prequential(h, x, y, perms):
    """:func:`cls_prequential_one` per ordering in ``perms (P, n)``: terms and ``v`` ``(P, n)``."""
    return _over_orderings(cls_prequential_one, h, x, y, perms)


@jax.jit
def cls_negative_prequential(h, x, y, perms):
    """The classifier's bandwidth objective and its gradient in ``h = (h_rho, h_x)``.

    ``L(h) = -(1/n) (1/P) sum_perm sum_k [y_k log v_k + (1 - y_k) log(1 - v_k)]`` with
    ``v_k = g_{k-1}(x_k)`` (Fong, Holmes & Walker 2023, Section 4.4).
    """
    return _negative_mean(cls_prequential_one, h, x, y, perms)


@jax.jit
def cls_averaged(h, x_perm, y_perm, v, x_eval) -> jax.Array:
    """Permutation-averaged ``g_n(x) = p_n(y = 1 | x)`` at ``x_eval (m, p)``.

    Each ordering's ``g_n`` is replayed from ``g_0 = 1/2`` with its stored ``v``, labels
    and covariates (:func:`cls_update`), then averaged over orderings (Fong, Holmes &
    Walker 2023, Section 4.4).
    """
    rho, rho_x = _split_h(h, x_eval.shape[1])

    def replay(xq, yq, vq):
        def body(g, inputs):
            k, xk, yk, vk = inputs
            a = local_alpha(k + 1, log_kernel(x_eval, xk, rho_x), CLS_CLIP)
            return cls_update(g, vk, yk, a, rho), None

        g0 = jnp.full(x_eval.shape[:1], 0.5)
        g, _ = jax.lax.scan(body, g0, (jnp.arange(vq.shape[0]), xq, yq, vq))
        return g

    return jax.vmap(replay)(x_perm, y_perm, v).mean(axis=0)


class ClsParams(NamedTuple):
    """Fixed inputs of classifier resampling: ``rho``, ``rho_x`` and standardised ``x``'s."""

    rho: jax.Array
    rho_x: jax.Array
    x_obs: jax.Array  # (n, p)
    x_eval: jax.Array  # (m, p)


class ClsState(NamedTuple):
    """Classifier resampling state: ``g`` at the evaluation and observed ``x``, ``log w``."""

    g_eval: jax.Array  # (m,)
    g_obs: jax.Array  # (n,)
    log_w: jax.Array  # (n,)


def cls_step(params: ClsParams, state: ClsState, key, k) -> ClsState:
    """One forward step: ``x_k = x_J``, ``J ~ Cat(w)``; ``y_k = 1{U <= g_{k-1}(x_k)}``; update.

    ``g`` is updated at the evaluation points and at the observed ``x``'s (where the next
    ``x_k`` is drawn), with ``alpha_k(x)`` clipped into ``[1e-4, 1 - 1e-4]`` (Fong, Holmes &
    Walker 2023, Section 4.4).
    """
    kj, ku = jax.random.split(key)
    j = jax.random.categorical(kj, state.log_w)
    v = jnp.clip(state.g_obs[j], CLS_CLIP, 1.0 - CLS_CLIP)
    y = (jax.random.uniform(ku, dtype=v.dtype) <= v).astype(v.dtype)
    xk = params.x_obs[j]
    a_eval = local_alpha(k, log_kernel(params.x_eval, xk, params.rho_x), CLS_ALPHA_FORWARD_CLIP)
    a_obs = local_alpha(k, log_kernel(params.x_obs, xk, params.rho_x), CLS_ALPHA_FORWARD_CLIP)
    return state._replace(
        g_eval=cls_update(state.g_eval, v, y, a_eval, params.rho),
        g_obs=cls_update(state.g_obs, v, y, a_obs, params.rho),
    )


def cls_functional(params: ClsParams, state: ClsState) -> dict[str, jax.Array]:
    """The recorded ``theta(P)``: ``p(y = 1 | x)`` at the evaluation points."""
    return {"probability": state.g_eval}


def cls_distance(params, state, state0) -> jax.Array:
    """``mean |g_k(x) - g_n(x)|`` over the evaluation points (convergence check)."""
    return jnp.mean(jnp.abs(state.g_eval - state0.g_eval))


class CopulaClassifier(_CopulaConditional):
    """Binary copula classifier ``p(y = 1 | x)`` with martingale-posterior uncertainty.

    Parameters as :class:`CopulaRegression` (``rho`` is the Bernoulli-copula mixing weight).

    Notes
    -----
    Fong, Holmes & Walker (2023), JRSS B 85(5), Section 4.4.
    """

    _estimator = "copula_classifier"
    _objective = staticmethod(cls_negative_prequential)
    _prequential = staticmethod(cls_prequential)

    def _targets(self, y: np.ndarray) -> np.ndarray:
        """Labels in {0, 1}, both present (one class leaves nothing to classify)."""
        if not np.all(np.isin(y, (0.0, 1.0))):
            raise ValueError(f"y must hold labels 0 and 1, got values {np.unique(y)[:5]}")
        if np.unique(y).size < 2:
            raise ValueError(
                f"y holds only the label {int(y[0])}: a classifier needs both labels 0 and 1 "
                f"among its {y.size} observations"
            )
        return y

    def predict_proba(self, x: Any) -> np.ndarray:
        """``g_n(x) = p_n(y = 1 | x)`` at ``x (m, p)``."""
        xe = self._x_eval(x)
        with computing_in(self.precision_):
            h = jnp.asarray(self.h_)
            g = cls_averaged(h, self.x_perm_, self.t_perm_, self.v_, jnp.asarray(xe))
            return np.asarray(g)

    def predict(self, x: Any) -> np.ndarray:
        """Labels ``1{g_n(x) > 1/2}``."""
        return (self.predict_proba(x) > 0.5).astype(int)

    def predictive_resample(
        self,
        x: Any,
        *,
        steps: int = 5000,
        draws: int = 1000,
        seed: int = 0,
        chunk: int = 100,
        convergence_steps: int | None = None,
        convergence_threshold: float | None = None,
    ) -> az.InferenceData:
        """Martingale posterior of ``p(y = 1 | x)`` at ``x (m, p)``.

        Arguments as in :meth:`CopulaRegression.predictive_resample`.

        Returns
        -------
        arviz.InferenceData
            ``inference="martingale"``, ``estimator="copula_classifier"``;
            ``posterior["probability"]`` with dims ``(chain, draw, x)``.
        """
        xe_np = self._x_eval(x)
        seed = cop.check_seed(seed)
        with computing_in(self.precision_):
            xe = jnp.asarray(xe_np)
            x_obs = self.x_perm_[0]
            both = jnp.concatenate([xe, x_obs])
            h = jnp.asarray(self.h_)
            g = cls_averaged(h, self.x_perm_, self.t_perm_, self.v_, both)
            m = xe.shape[0]
            state0 = ClsState(g[:m], g[m:], jnp.zeros(self.n_))
            rho, rho_x = _split_h(h, self.p_)
            params = ClsParams(rho, rho_x, x_obs, xe)
            out, attrs, seconds = self._resample(
                (cls_step, cls_functional, cls_distance),
                params,
                state0,
                steps=steps,
                draws=draws,
                seed=seed,
                chunk=chunk,
                convergence_steps=convergence_steps,
                convergence_threshold=convergence_threshold,
            )
            return martingale_result(
                out,
                estimator=self._estimator,
                seed=seed,
                seconds=seconds,
                dims={"probability": ["x"], "x_eval": ["x", "covariate"], "probability_n": ["x"]},
                constant_data={
                    "x_eval": xe_np * self.x_scale_ + self.x_mean_,
                    "probability_n": np.asarray(g[:m]),
                },
                attrs=attrs,
            )
