"""``CopulaDensity``: the copula predictive density and its martingale posterior.

Fit (Fong, Holmes & Walker 2023, Section 4.3): standardise the data (population sd), run the
copula recursion (:mod:`bayesuq.models.martingale.copula`) over 10 random orderings, and
choose ``rho = 1 / (1 + exp(h))`` by maximising the permutation-averaged prequential
log-likelihood ``(1/n) mean_perm sum_k log p_{k-1}(y_k)``. ``p_n`` is the arithmetic average
of the orderings' ``p_n``. Predictive resampling continues the recursion from ``p_n`` with
``alpha_k`` for ``k = n+1, ..., n+T`` and ``v ~ U(0, 1)^d`` (the conditional cdfs of
``Y_k ~ P_{k-1}``), so ``Y_k`` itself is never drawn.

Precision: the copula recursion runs in float32 by default (``precision="float64"`` to
override). The paper's authors ran float32; the test
``test_float32_agrees_with_float64_on_a_gmm`` shows float32 reproduces the float64 fit
(bandwidth, test log-likelihood, posterior bands) within its declared tolerances at a
fraction of the CPU time (figures in ``docs/martingale.md``).
"""

from __future__ import annotations

from typing import Any, NamedTuple

import arviz as az
import jax
import jax.numpy as jnp
import numpy as np

from bayesuq.data.scaling import standardise
from bayesuq.infer.arguments import check_int
from bayesuq.models.martingale import copula as cop
from bayesuq.models.martingale.bandwidth import fit_prequential
from bayesuq.models.martingale.engine import martingale_result, resample_with_convergence_check
from bayesuq.precision import computing_in, resolve_precision

DEFAULT_PRECISION = "float32"
"""The copula family's precision (see the module docstring)."""


class DensityParams(NamedTuple):
    """Fixed inputs of density resampling: ``rho (d,)`` and ``sum_j log sd_j`` (Jacobian)."""

    rho: jax.Array
    log_jacobian: jax.Array


def density_step(params: DensityParams, state: cop.DensityState, key, k) -> cop.DensityState:
    """One forward step: ``v ~ U(0, 1)^d``, then the copula update with ``alpha_k``.

    Under ``Y_k ~ P_{k-1}`` the conditional cdfs ``v_j = P_{k-1}(Y_kj | Y_k,1:j-1)`` are iid
    ``U(0, 1)``, so the update needs ``v`` only (Fong, Holmes & Walker 2023, Section 4.3).
    """
    v = jax.random.uniform(key, state.cdf.shape[-1:], dtype=state.cdf.dtype)
    return cop.update_points(state, v, cop.alpha(k), params.rho)


def density_functional(params: DensityParams, state: cop.DensityState) -> dict[str, jax.Array]:
    """The recorded ``theta(P)``: ``p(y) = p_z(z) / prod_j sd_j`` and the conditional cdfs."""
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
        it by the permutation-averaged prequential log-likelihood (a robust search, see
        :mod:`bayesuq.models.martingale.bandwidth`).
    per_dimension_rho
        Fit one ``rho`` per coordinate instead of a shared one.
    permutations
        Number of random orderings (the paper: 10).
    seed
        Seed of the orderings.
    rho_init, optimizer, maxiter
        An extra start of the search (the paper's 0.9), the local optimiser
        (``"L-BFGS-B"`` or the authors' ``"SLSQP"``) and its iterations.
    precision
        ``None`` (float32, the family's default), ``"float32"`` or ``"float64"``.

    Attributes
    ----------
    rho_ : ndarray (d,)
    prequential_loglik_ : float, the maximised ``(1/n) mean_perm sum_k log p_{k-1}(y_k)``
        on the standardised scale
    start_prequential_loglik_ : float, the same for the ``N(0, 1)`` start (``rho -> 0``)
    bandwidth_status_ : ``"ok"``, ``"fixed"``, ``"at_lower_bound"`` or ``"no_improvement"``
        (the last two warn: see :class:`~bayesuq.models.martingale.BandwidthWarning`)
    v_ : array (P, n, d), the data's conditional cdfs per ordering
    precision_ : str, the precision used

    Notes
    -----
    References: Fong, Holmes & Walker (2023), JRSS B 85(5), arXiv:2103.15671; Hahn, Martin
    & Walker (2018), JASA 113.
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
        precision: str | None = None,
    ) -> None:
        self.rho = rho
        self.per_dimension_rho = per_dimension_rho
        self.permutations = check_int("permutations", permutations, minimum=1)
        self.seed = cop.check_seed(seed)
        self.rho_init = rho_init
        self.optimizer = optimizer
        self.maxiter = check_int("maxiter", maxiter, minimum=1)
        self.precision = precision
        resolve_precision(precision, DEFAULT_PRECISION)

    def fit(self, y: Any) -> CopulaDensity:
        """Standardise ``y`` (shape ``(n,)`` or ``(n, d)``), fit rho and store the ``v``'s."""
        data = cop.as_2d(y, "y")
        z, self.mean_, self.scale_ = standardise(data, name="y")
        n, d = z.shape
        self.n_, self.d_ = n, d
        self.precision_ = resolve_precision(self.precision, DEFAULT_PRECISION)
        fixed = None if self.rho is None else cop.h_from_rho(cop.check_rho("rho", self.rho, d))
        with computing_in(self.precision_):
            perms = jnp.asarray(cop.make_permutations(self.seed, n, self.permutations))
            fit = fit_prequential(
                "CopulaDensity",
                cop.negative_prequential,
                cop.prequential_terms,
                (jnp.asarray(z), perms),
                size=d if self.per_dimension_rho else 1,
                fixed_h=fixed,
                rho_init=self.rho_init,
                optimizer=self.optimizer,
                maxiter=self.maxiter,
                response=slice(None),
            )
        self.h_, self.n_iter_, self.fit_seconds_ = fit.h, fit.n_iter, fit.seconds
        self.bandwidth_status_ = fit.status
        self.rho_ = np.broadcast_to(1.0 / (1.0 + np.exp(self.h_)), (d,)).copy()
        self.prequential_loglik_ = float(np.asarray(fit.terms).sum(axis=1).mean() / n)
        self.start_prequential_loglik_ = -fit.start_objective
        self.v_ = fit.v
        return self

    def _check_fitted(self) -> None:
        if not hasattr(self, "v_"):
            raise RuntimeError("CopulaDensity is not fitted: call fit(y) first")

    def _state(self, y: Any) -> cop.DensityState:
        """The averaged ``P_n`` at ``y``; call inside ``computing_in(self.precision_)``."""
        self._check_fitted()
        points = cop.as_2d(y, "y", self.d_)
        z = (points - self.mean_) / self.scale_
        return cop.averaged_state(jnp.asarray(self.h_), self.v_, jnp.asarray(z))

    def logpdf(self, y: Any) -> np.ndarray:
        """``log p_n(y)`` on the original scale at points ``(m,)`` or ``(m, d)``."""
        self._check_fitted()
        with computing_in(self.precision_):
            state = self._state(y)
            return np.asarray(state.log_pdf[:, -1]) - float(np.log(self.scale_).sum())

    def cdf(self, y: Any) -> np.ndarray:
        """Conditional cdfs ``P_n(y_j | y_{1:j-1})`` ``(m, d)`` (exact for d = 1)."""
        self._check_fitted()
        with computing_in(self.precision_):
            return np.asarray(self._state(y).cdf)

    def _params(self) -> DensityParams:
        return DensityParams(
            jnp.broadcast_to(cop.rho_from_h(jnp.asarray(self.h_)), (self.d_,)),
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
        convergence_threshold: float | None = None,
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
        convergence_steps, convergence_threshold
            A few extra paths of ``convergence_steps`` steps (default ``steps``; the paper
            uses ``10^4``) track ``mean |p_k - p_n|`` on the points; the relative change
            of that distance over the second half goes to
            ``attrs["convergence_relative_change"]``, with
            ``attrs["convergence_threshold"]`` (default 0.1) above which ``steps`` should
            be raised.

        Returns
        -------
        arviz.InferenceData
            ``inference="martingale"``, ``estimator="copula_density"``;
            ``posterior["pdf"]`` dims ``(chain, draw, point)`` and ``posterior["cdf"]`` dims
            ``(chain, draw, point, dim)``; ``constant_data["y_eval"]`` and ``["pdf_n"]``.
        """
        self._check_fitted()
        points = cop.as_2d(y, "y", self.d_)
        seed = cop.check_seed(seed)
        with computing_in(self.precision_):
            state0 = self._state(points)
            params = self._params()
            out, convergence, seconds = resample_with_convergence_check(
                density_step,
                density_functional,
                density_distance,
                params,
                state0,
                key=jax.random.PRNGKey(seed),
                steps=steps,
                draws=draws,
                start=self.n_,
                chunk=chunk,
                convergence_steps=convergence_steps,
                convergence_threshold=convergence_threshold,
            )
            pdf_n = np.exp(np.asarray(state0.log_pdf[:, -1]) - float(params.log_jacobian))
            return martingale_result(
                out,
                estimator="copula_density",
                seed=seed,
                seconds=seconds,
                dims={
                    "pdf": ["point"],
                    "cdf": ["point", "dim"],
                    "y_eval": ["point", "dim"],
                    "pdf_n": ["point"],
                },
                constant_data={"y_eval": points, "pdf_n": pdf_n},
                attrs={
                    "precision": self.precision_,
                    "fit_seed": self.seed,
                    "steps": steps,
                    "draws": draws,
                    "n": self.n_,
                    "rho": ", ".join(f"{r:.6g}" for r in self.rho_),
                    "bandwidth_status": self.bandwidth_status_,
                    "permutations": self.permutations,
                    "prequential_loglik": self.prequential_loglik_,
                    "fit_seconds": self.fit_seconds_,
                    **convergence,
                },
            )
