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
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any, NamedTuple

import arviz as az
import jax
import jax.numpy as jnp
import numpy as np

from bayesuq.infer.arguments import check_int
from bayesuq.models.martingale import copula as cop
from bayesuq.models.martingale.engine import (
    Timer,
    resample_with_convergence_check,
    to_inference_data,
)

REG_ALPHA_CLIP = 1e-5
CLS_CLIP = 5e-5
CLS_ALPHA_FORWARD_CLIP = 1e-4


def log_kernel(x: jax.Array, xk: jax.Array, rho_x: jax.Array) -> jax.Array:
    """``log k(x, x_k)`` for points ``x (m, p)`` against one ``x_k (p,)``."""
    return cop.log_c_scores(x, xk[None, :], rho_x[None, :]).sum(axis=1)


def local_alpha(k: jax.Array, log_k: jax.Array, eps: float) -> jax.Array:
    """``alpha_k(x) = alpha_k k / (1 - alpha_k + alpha_k k)``, clipped into ``[eps, 1 - eps]``."""
    a = cop.alpha(k)
    log_a = jnp.log(a) + log_k - jnp.logaddexp(jnp.log1p(-a), jnp.log(a) + log_k)
    return jnp.clip(jnp.exp(log_a), eps, 1.0 - eps)


def _split_h(h: jax.Array, p: int) -> tuple[jax.Array, jax.Array]:
    rho = cop.rho_from_h(h)
    rho_x = rho[1:]
    return rho[0], jnp.broadcast_to(rho_x, (p,)) if rho_x.shape[0] == 1 else rho_x


# --- regression ----------------------------------------------------------------------------


def reg_update(state: cop.DensityState, v, a, rho_y) -> cop.DensityState:
    """Univariate copula update at each point with its own ``alpha(x)`` (``a`` of shape (m,))."""

    def one(s, ai):
        return cop.copula_step(s, v, jnp.log(ai), jnp.log1p(-ai), rho_y[None])

    return jax.vmap(one)(state, a)


def _reg_initial(y: jax.Array) -> cop.DensityState:
    return cop.initial_state(y[:, None])


def reg_prequential_one(h, x, y):
    p = x.shape[1]
    rho_y, rho_x = _split_h(h, p)

    def body(state, k):
        v, lp = state.cdf[k], state.log_pdf[k, 0]
        a = local_alpha(k + 1, log_kernel(x, x[k], rho_x), REG_ALPHA_CLIP)
        return reg_update(state, v, a, rho_y), (lp, v[0])

    _, (terms, v) = jax.lax.scan(body, _reg_initial(y), jnp.arange(y.shape[0]))
    return terms, v


def _permutation_averaged(prequential_one):
    """Jitted ``(prequential, negative_prequential)`` over orderings ``perms (P, n)``.

    ``prequential(h, x, y, perms)`` gives the ``(P, n)`` prequential terms and cdfs of
    ``prequential_one`` for each ordering; ``negative_prequential`` returns the value and
    gradient in ``h`` of ``-(1/n) mean_P sum_k term_k``, the objective that fits ``rho``.
    """

    @jax.jit
    def prequential(h, x, y, perms):
        return jax.vmap(lambda q: prequential_one(h, x[q], y[q]))(perms)

    @jax.jit
    def negative_prequential(h, x, y, perms):
        def loss(h):
            terms, _ = prequential(h, x, y, perms)
            return -terms.sum(axis=1).mean() / y.shape[0]

        return jax.value_and_grad(loss)(h)

    return prequential, negative_prequential


# Terms log p_{k-1}(y_k | x_k) and cdfs v_k.
reg_prequential, reg_negative_prequential = _permutation_averaged(reg_prequential_one)


@jax.jit
def reg_averaged_state(h, x_perm, v, x_eval, y_eval) -> cop.DensityState:
    """Permutation-averaged ``p_n(y | x)`` at pairs ``(x_eval (m, p), y_eval (m,))``."""
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
    rho_y: jax.Array
    rho_x: jax.Array
    x_obs: jax.Array  # (n, p) standardised
    x_eval: jax.Array  # (m, p)
    y_grid: jax.Array  # (n_y,) original scale
    shape: jax.Array  # (n_x, n_y) as zeros, carries the grid shape
    log_scale: jax.Array


class RegState(NamedTuple):
    density: cop.DensityState
    log_w: jax.Array  # (n,) Bayesian-bootstrap log weights of x


def _dirichlet_log_w(params, state, key):
    e = jax.random.exponential(key, state.log_w.shape, dtype=state.log_w.dtype)
    return state._replace(log_w=jnp.log(e) - jnp.log(e.sum()))


def reg_step(params: RegParams, state: RegState, key, k) -> RegState:
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
    return jnp.mean(
        jnp.abs(jnp.exp(state.density.log_pdf[:, 0]) - jnp.exp(state0.density.log_pdf[:, 0]))
    )


class _CopulaConditional:
    """Shared configuration, data checks and fitting of the conditional estimators."""

    _objective: Any = None

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

    def _fit_h(self, x: jax.Array, target: jax.Array, perms: jax.Array) -> np.ndarray:
        p = x.shape[1]
        if self.rho is None:
            size = 1 + (p if self.per_covariate_rho else 1)
            h0 = np.full(size, cop.h_from_rho(cop.check_rho("rho_init", self.rho_init, 1))[0])
            h, _, self.n_iter_ = cop.fit_h(
                type(self)._objective,
                h0,
                (x, target, perms),
                optimizer=self.optimizer,
                maxiter=self.maxiter,
            )
            return h
        self.n_iter_ = 0
        rho_y = cop.check_rho("rho", self.rho, 1)
        return cop.h_from_rho(np.concatenate([rho_y, cop.check_rho("rho_x", self.rho_x, p)]))

    def _prepare(self, x: Any, y: Any) -> tuple[np.ndarray, np.ndarray]:
        xs = cop.as_2d(x, "x")
        ys = np.asarray(y, dtype=float)
        if ys.shape != (xs.shape[0],):
            raise ValueError(f"y must have shape ({xs.shape[0]},) to match x, got {ys.shape}")
        if xs.shape[0] < 2:
            raise ValueError(f"x needs at least 2 observations, got shape {xs.shape}")
        xz, self.x_mean_, self.x_scale_ = cop.standardise(xs, "x")
        self.n_, self.p_ = xz.shape
        return xz, ys

    def _x_eval(self, x: Any) -> np.ndarray:
        if not hasattr(self, "v_"):
            raise RuntimeError(f"{type(self).__name__} is not fitted: call fit(x, y) first")
        cop.require_x64(type(self).__name__)
        return (cop.as_2d(x, "x", self.p_) - self.x_mean_) / self.x_scale_

    def _finish_fit(self, h: np.ndarray, terms: jax.Array) -> None:
        self.h_ = jnp.asarray(h)
        rho = np.asarray(cop.rho_from_h(self.h_))
        self.rho_ = float(rho[0])
        self.rho_x_ = np.broadcast_to(rho[1:], (self.p_,)).copy()
        self.prequential_loglik_ = float(terms.sum(axis=1).mean() / self.n_)

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
    ) -> tuple[dict[str, np.ndarray], dict[str, Any]]:
        """Predictive resampling from the fitted state, ``x`` by Bayesian bootstrap.

        ``kernel`` is ``(step, functional, distance)``; each path starts after the ``n``
        observations with its own Dirichlet weights. Returns the draws and the ``attrs``
        (seed, settings, timing, fit settings, convergence figures).
        """
        seed = cop.check_seed(seed)
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
        )
        attrs = {
            "seed": seed,
            "steps": steps,
            "draws": draws,
            "sampling_seconds": seconds,
            **self._common_attrs(),
            **convergence,
        }
        return out, attrs

    def _common_attrs(self) -> dict[str, Any]:
        return {
            "fit_seed": self.seed,
            "n": self.n_,
            "rho": self.rho_,
            "rho_x": ", ".join(f"{r:.6g}" for r in self.rho_x_),
            "permutations": self.permutations,
            "prequential_loglik": self.prequential_loglik_,
            "fit_seconds": self.fit_seconds_,
        }


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
        Orderings (10), their seed, start (0.8), ``"L-BFGS-B"`` or ``"SLSQP"``, iterations.

    Notes
    -----
    Needs float64. Fong, Holmes & Walker (2023), JRSS B 85(5), Section 4.4.
    """

    _objective = staticmethod(reg_negative_prequential)

    def fit(self, x: Any, y: Any) -> CopulaRegression:
        """Standardise ``x (n, p)`` and ``y (n,)``, fit (rho, rho_x), store the ``v``'s."""
        cop.require_x64("CopulaRegression.fit")
        xz, ys = self._prepare(x, y)
        yz, self.y_mean_, self.y_scale_ = cop.standardise(ys[:, None], "y")
        perms = jnp.asarray(cop.make_permutations(self.seed, self.n_, self.permutations))
        xj, yj = jnp.asarray(xz), jnp.asarray(yz[:, 0])
        with Timer() as timer:
            h = self._fit_h(xj, yj, perms)
            terms, v = reg_prequential(jnp.asarray(h), xj, yj, perms)
        self.fit_seconds_ = timer.seconds
        self._finish_fit(h, terms)
        self.v_, self.x_perm_ = v, xj[perms]
        return self

    def _state(self, x: Any, y: Any) -> cop.DensityState:
        xe = self._x_eval(x)
        ye = np.asarray(y, dtype=float)
        if ye.shape != (xe.shape[0],):
            raise ValueError(f"y must have shape ({xe.shape[0]},) to match x, got {ye.shape}")
        yz = (ye - self.y_mean_[0]) / self.y_scale_[0]
        return reg_averaged_state(self.h_, self.x_perm_, self.v_, jnp.asarray(xe), jnp.asarray(yz))

    def logpdf(self, x: Any, y: Any) -> np.ndarray:
        """``log p_n(y_i | x_i)`` for pairs ``x (m, p)``, ``y (m,)`` (original scale)."""
        return np.asarray(self._state(x, y).log_pdf[:, 0]) - float(np.log(self.y_scale_[0]))

    def cdf(self, x: Any, y: Any) -> np.ndarray:
        """``P_n(y_i | x_i)``."""
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
    ) -> az.InferenceData:
        """Martingale posterior of ``p(y | x)`` on ``x (n_x, p) x y_grid (n_y,)``.

        Returns ``posterior["mean"]`` (conditional mean, dims ``(chain, draw, x)``) and
        ``posterior["pdf"]`` (dims ``(chain, draw, x, y)``).
        """
        xs = cop.as_2d(x, "x", getattr(self, "p_", None))
        grid = np.asarray(y_grid, dtype=float)
        if grid.ndim != 1 or grid.size < 2 or np.any(np.diff(grid) <= 0):
            raise ValueError(f"y_grid must be an increasing 1-d grid, got shape {grid.shape}")
        n_x, n_y = xs.shape[0], grid.size
        xx = np.repeat(xs, n_y, axis=0)
        state0 = RegState(self._state(xx, np.tile(grid, n_x)), jnp.zeros(self.n_))
        rho_y, rho_x = _split_h(self.h_, self.p_)
        params = RegParams(
            rho_y,
            rho_x,
            self.x_perm_[0],
            jnp.asarray(self._x_eval(xx)),
            jnp.asarray(grid),
            jnp.zeros((n_x, n_y)),
            jnp.asarray(np.log(self.y_scale_[0])),
        )
        out, attrs = self._resample(
            (reg_step, reg_functional, reg_distance),
            params,
            state0,
            steps=steps,
            draws=draws,
            seed=seed,
            chunk=chunk,
            convergence_steps=convergence_steps,
        )
        initial = reg_functional(params, state0)
        return to_inference_data(
            out,
            dims={
                "mean": ["x"],
                "pdf": ["x", "y"],
                "x_eval": ["x", "covariate"],
                "mean_n": ["x"],
            },
            coords={"y": grid},
            constant_data={"x_eval": xs, "mean_n": np.asarray(initial["mean"])},
            attrs={"method": "martingale_copula_regression", **attrs},
        )


# --- classification ------------------------------------------------------------------------


def cls_update(g: jax.Array, v: jax.Array, y: jax.Array, a: jax.Array, rho: jax.Array):
    """``g_k = [1 - a + a b] g_{k-1}`` with the Bernoulli-copula ratio ``b`` (arrays (m,))."""
    u = jnp.clip(g, CLS_CLIP, 1.0 - CLS_CLIP)
    v = jnp.clip(v, CLS_CLIP, 1.0 - CLS_CLIP)
    m = jnp.minimum(u, v)
    b = (1.0 - rho) + rho * (y * m / (u * v) + (1.0 - y) * (u - m) / (u * (1.0 - v)))
    return (1.0 - a + a * jnp.maximum(b, CLS_CLIP)) * u


def cls_prequential_one(h, x, y):
    rho, rho_x = _split_h(h, x.shape[1])

    def body(g, k):
        v = jnp.clip(g[k], CLS_CLIP, 1.0 - CLS_CLIP)
        term = y[k] * jnp.log(v) + (1.0 - y[k]) * jnp.log1p(-v)
        a = local_alpha(k + 1, log_kernel(x, x[k], rho_x), CLS_CLIP)
        return cls_update(g, v, y[k], a, rho), (term, v)

    _, (terms, v) = jax.lax.scan(body, jnp.full(y.shape, 0.5), jnp.arange(y.shape[0]))
    return terms, v


# Terms y_k log v_k + (1 - y_k) log(1 - v_k) and v_k.
cls_prequential, cls_negative_prequential = _permutation_averaged(cls_prequential_one)


@jax.jit
def cls_averaged(h, x_perm, y_perm, v, x_eval) -> jax.Array:
    """Permutation-averaged ``g_n`` at ``x_eval (m, p)``."""
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
    rho: jax.Array
    rho_x: jax.Array
    x_obs: jax.Array  # (n, p)
    x_eval: jax.Array  # (m, p)


class ClsState(NamedTuple):
    g_eval: jax.Array  # (m,)
    g_obs: jax.Array  # (n,)
    log_w: jax.Array  # (n,)


def cls_step(params: ClsParams, state: ClsState, key, k) -> ClsState:
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
    return {"probability": state.g_eval}


def cls_distance(params, state, state0) -> jax.Array:
    return jnp.mean(jnp.abs(state.g_eval - state0.g_eval))


class CopulaClassifier(_CopulaConditional):
    """Binary copula classifier ``p(y = 1 | x)`` with martingale-posterior uncertainty.

    Parameters as :class:`CopulaRegression` (``rho`` is the Bernoulli-copula mixing weight).

    Notes
    -----
    Needs float64. Fong, Holmes & Walker (2023), JRSS B 85(5), Section 4.4.
    """

    _objective = staticmethod(cls_negative_prequential)

    def fit(self, x: Any, y: Any) -> CopulaClassifier:
        """Standardise ``x (n, p)``, take labels ``y (n,)`` in {0, 1}, fit (rho, rho_x)."""
        cop.require_x64("CopulaClassifier.fit")
        xz, ys = self._prepare(x, y)
        if not np.all(np.isin(ys, (0.0, 1.0))):
            raise ValueError(f"y must hold labels 0 and 1, got values {np.unique(ys)[:5]}")
        perms = jnp.asarray(cop.make_permutations(self.seed, self.n_, self.permutations))
        xj, yj = jnp.asarray(xz), jnp.asarray(ys)
        with Timer() as timer:
            h = self._fit_h(xj, yj, perms)
            terms, v = cls_prequential(jnp.asarray(h), xj, yj, perms)
        self.fit_seconds_ = timer.seconds
        self._finish_fit(h, terms)
        self.v_, self.x_perm_, self.y_perm_ = v, xj[perms], yj[perms]
        return self

    def predict_proba(self, x: Any) -> np.ndarray:
        """``g_n(x) = p_n(y = 1 | x)`` at ``x (m, p)``."""
        xe = jnp.asarray(self._x_eval(x))
        return np.asarray(cls_averaged(self.h_, self.x_perm_, self.y_perm_, self.v_, xe))

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
    ) -> az.InferenceData:
        """Martingale posterior of ``p(y = 1 | x)`` at ``x (m, p)``.

        Returns ``posterior["probability"]`` with dims ``(chain, draw, x)``.
        """
        xe = jnp.asarray(self._x_eval(x))
        x_obs = self.x_perm_[0]
        both = jnp.concatenate([xe, x_obs])
        g = cls_averaged(self.h_, self.x_perm_, self.y_perm_, self.v_, both)
        m = xe.shape[0]
        state0 = ClsState(g[:m], g[m:], jnp.zeros(self.n_))
        rho, rho_x = _split_h(self.h_, self.p_)
        params = ClsParams(rho, rho_x, x_obs, xe)
        out, attrs = self._resample(
            (cls_step, cls_functional, cls_distance),
            params,
            state0,
            steps=steps,
            draws=draws,
            seed=seed,
            chunk=chunk,
            convergence_steps=convergence_steps,
        )
        return to_inference_data(
            out,
            dims={"probability": ["x"], "x_eval": ["x", "covariate"], "probability_n": ["x"]},
            constant_data={"x_eval": cop.as_2d(x, "x"), "probability_n": np.asarray(g[:m])},
            attrs={"method": "martingale_copula_classifier", **attrs},
        )
