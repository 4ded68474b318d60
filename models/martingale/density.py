"""``CopulaDensity``: the copula predictive density and its martingale posterior.

Fit (Fong, Holmes & Walker 2023, Section 4.3): standardise the data (population sd), run the
copula recursion (:mod:`bayesuq.models.martingale.copula`) over 10 random orderings, and
choose ``rho = 1 / (1 + exp(h))`` by maximising the permutation-averaged prequential
log-likelihood ``(1/n) mean_perm sum_k log p_{k-1}(y_k)``. ``p_n`` is the arithmetic average
of the orderings' ``p_n``. Predictive resampling continues the recursion from ``p_n`` with
``alpha_k`` for ``k = n+1, ..., n+T`` and ``v ~ U(0, 1)^d`` (the conditional cdfs of
``Y_k ~ P_{k-1}``), so ``Y_k`` itself is never drawn.
"""

from __future__ import annotations

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


class DensityParams(NamedTuple):
    rho: jax.Array  # (d,)
    log_jacobian: jax.Array  # sum_j log sd_j


def density_step(params: DensityParams, state: cop.DensityState, key, k) -> cop.DensityState:
    """Forward step: ``v ~ U(0, 1)^d``, then the copula update with ``alpha_k``."""
    v = jax.random.uniform(key, state.cdf.shape[-1:], dtype=state.cdf.dtype)
    return cop.update_points(state, v, cop.alpha(k), params.rho)


def density_functional(params: DensityParams, state: cop.DensityState) -> dict[str, jax.Array]:
    """The pdf on the original scale and (all coordinates) the conditional cdfs."""
    return {"pdf": jnp.exp(state.log_pdf[:, -1] - params.log_jacobian), "cdf": state.cdf}


def density_distance(params: DensityParams, state, state0) -> jax.Array:
    """``mean |p_k - p_n|`` over the evaluation points (convergence check)."""
    return jnp.mean(jnp.abs(jnp.exp(state.log_pdf[:, -1]) - jnp.exp(state0.log_pdf[:, -1])))


class CopulaDensity:
    """Copula predictive density estimator with martingale-posterior uncertainty.

    Parameters
    ----------
    rho
        Fixed bandwidth ``rho`` in (0, 1) (one number, or one per dimension); ``None`` fits
        it by the permutation-averaged prequential log-likelihood.
    per_dimension_rho
        Fit one ``rho`` per coordinate instead of a shared one.
    permutations
        Number of random orderings (the paper: 10).
    seed
        Seed of the orderings.
    rho_init, optimizer, maxiter
        Start (the paper: 0.9), ``"L-BFGS-B"`` or ``"SLSQP"`` (the authors'), iterations.

    Attributes
    ----------
    rho_ : ndarray (d,)
    prequential_loglik_ : float, the maximised ``(1/n) mean_perm sum_k log p_{k-1}(y_k)``
    v_ : ndarray (P, n, d), the data's conditional cdfs per ordering

    Notes
    -----
    Needs float64 (``bayesuq.enable_x64()`` or ``with jax.enable_x64(True):``). References:
    Fong, Holmes & Walker (2023), JRSS B 85(5), arXiv:2103.15671; Hahn, Martin & Walker
    (2018), JASA 113.
    """

    def __init__(
        self,
        *,
        rho: Any = None,
        per_dimension_rho: bool = False,
        permutations: int = 10,
        seed: int = 0,
        rho_init: float = 0.9,
        optimizer: str = "L-BFGS-B",
        maxiter: int = 100,
    ) -> None:
        self.rho = rho
        self.per_dimension_rho = per_dimension_rho
        self.permutations = check_int("permutations", permutations, minimum=1)
        self.seed = cop.check_seed(seed)
        self.rho_init = rho_init
        self.optimizer = optimizer
        self.maxiter = check_int("maxiter", maxiter, minimum=1)

    def fit(self, y: Any) -> CopulaDensity:
        """Standardise ``y`` (shape ``(n,)`` or ``(n, d)``), fit rho and store the ``v``'s."""
        cop.require_x64("CopulaDensity.fit")
        data = cop.as_2d(y, "y")
        if data.shape[0] < 2:
            raise ValueError(f"y needs at least 2 observations, got shape {np.shape(y)}")
        z, self.mean_, self.scale_ = cop.standardise(data, "y")
        n, d = z.shape
        self.n_, self.d_ = n, d
        perms = jnp.asarray(cop.make_permutations(self.seed, n, self.permutations))
        zj = jnp.asarray(z)
        with Timer() as timer:
            if self.rho is None:
                size = d if self.per_dimension_rho else 1
                h0 = np.full(size, cop.h_from_rho(cop.check_rho("rho_init", self.rho_init, 1))[0])
                h, _, self.n_iter_ = cop.fit_h(
                    cop.negative_prequential,
                    h0,
                    (zj, perms),
                    optimizer=self.optimizer,
                    maxiter=self.maxiter,
                )
            else:
                h, self.n_iter_ = cop.h_from_rho(cop.check_rho("rho", self.rho, d)), 0
            self.h_ = jnp.asarray(h)
            terms, v = cop.prequential_terms(self.h_, zj, perms)
        self.fit_seconds_ = timer.seconds
        self.rho_ = np.broadcast_to(np.asarray(cop.rho_from_h(self.h_)), (d,)).copy()
        self.prequential_loglik_ = float(terms.sum(axis=1).mean() / n)
        self.v_ = v
        return self

    def _check_fitted(self) -> None:
        if not hasattr(self, "v_"):
            raise RuntimeError("CopulaDensity is not fitted: call fit(y) first")

    def _state(self, y: Any) -> cop.DensityState:
        self._check_fitted()
        cop.require_x64("CopulaDensity")
        points = cop.as_2d(y, "y", self.d_)
        z = (points - self.mean_) / self.scale_
        return cop.averaged_state(self.h_, self.v_, jnp.asarray(z))

    def logpdf(self, y: Any) -> np.ndarray:
        """``log p_n(y)`` on the original scale at points ``(m,)`` or ``(m, d)``."""
        state = self._state(y)
        return np.asarray(state.log_pdf[:, -1]) - float(np.log(self.scale_).sum())

    def cdf(self, y: Any) -> np.ndarray:
        """Conditional cdfs ``P_n(y_j | y_{1:j-1})`` ``(m, d)`` (exact for d = 1)."""
        return np.asarray(self._state(y).cdf)

    def _params(self) -> DensityParams:
        return DensityParams(
            jnp.broadcast_to(cop.rho_from_h(self.h_), (self.d_,)),
            jnp.asarray(np.log(self.scale_).sum()),
        )

    def predictive_resample(
        self,
        y: Any,
        *,
        steps: int = 5000,
        draws: int = 1000,
        seed: int = 0,
        chunk: int = 250,
        convergence_steps: int | None = None,
    ) -> az.InferenceData:
        """Martingale posterior of the density at the points ``y`` by predictive resampling.

        Parameters
        ----------
        y
            Evaluation points ``(m,)`` or ``(m, d)`` (a grid), original scale.
        steps, draws
            ``T`` forward steps and ``B`` paths (the paper: 5000 and 1000).
        seed
            Seed of the forward paths.
        chunk
            Paths per compiled call (memory ``chunk x m x d``).
        convergence_steps
            When given, one extra path of this many steps tracks ``mean |p_k - p_n|`` on the
            points; its figures go to ``attrs`` (the paper uses ``10^4``).

        Returns
        -------
        arviz.InferenceData
            ``posterior["pdf"]`` dims ``(chain, draw, point)`` and ``posterior["cdf"]`` dims
            ``(chain, draw, point, dim)``; ``constant_data["y_eval"]`` and ``["pdf_n"]``.
        """
        state0 = self._state(y)
        points = cop.as_2d(y, "y", self.d_)
        seed = cop.check_seed(seed)
        key = jax.random.PRNGKey(seed)
        params = self._params()
        out, attrs, seconds = resample_with_convergence_check(
            density_step,
            density_functional,
            density_distance,
            params,
            state0,
            key=key,
            steps=steps,
            draws=draws,
            start=self.n_,
            chunk=chunk,
            convergence_steps=convergence_steps,
        )
        return to_inference_data(
            out,
            dims={
                "pdf": ["point"],
                "cdf": ["point", "dim"],
                "y_eval": ["point", "dim"],
                "pdf_n": ["point"],
            },
            constant_data={
                "y_eval": points,
                "pdf_n": np.exp(np.asarray(state0.log_pdf[:, -1]) - float(params.log_jacobian)),
            },
            attrs={
                "method": "martingale_copula_density",
                "seed": seed,
                "fit_seed": self.seed,
                "steps": steps,
                "draws": draws,
                "n": self.n_,
                "rho": ", ".join(f"{r:.6g}" for r in self.rho_),
                "permutations": self.permutations,
                "prequential_loglik": self.prequential_loglik_,
                "fit_seconds": self.fit_seconds_,
                "sampling_seconds": seconds,
                **attrs,
            },
        )
