"""``BayesianPresto``: PRESTO's cumulative logit with a Laplace prior on the slope differences.

The Bayesian counterpart of Faletto & Bien (2023, ICML, PMLR 202:9547-9602). On standardised
X, with ``psi_1 = beta_1`` and ``psi_k = beta_k - beta_{k-1}``,

    alpha_1 ~ N(0, 5^2),  alpha_k - alpha_{k-1} ~ HalfNormal(5),
    psi_j1 ~ N(0, first_scale^2),  psi_jk ~ Laplace(0, scale)  (k >= 2),
    P(y_i <= k) = sigma(alpha_k + x_i' sum_{l<=k} psi_l).

The posterior mode is the PRESTO estimate with ``psi_1`` unpenalised and
``lam = 1 / (n * scale)`` (the penalty on the ``(1/n) NLL`` scale), and ``scale -> 0`` gives
proportional odds. A draw whose observed class has non-positive probability has likelihood
0 (log-likelihood ``-inf``), so the sampler never accepts it.

The model is one module-level function (:func:`presto_model`) whose prior scales are data,
not a closure, so refits of same-shaped data reuse the compiled program. NUTS runs in
float32 by default (the ``log(sigma(b) - sigma(a))`` likelihood is computed stably, see
:mod:`bayesuq.models.presto.likelihood`); ``precision="float64"`` overrides it.
"""

from __future__ import annotations

from typing import Any, ClassVar

import jax.numpy as jnp
import numpy as np
import numpyro
import numpyro.distributions as dist
import pandas as pd
import xarray as xr
from numpyro.distributions import constraints
from scipy.special import expit
from sklearn.base import BaseEstimator
from sklearn.utils.validation import check_is_fitted, validate_data

import bayesuq
from bayesuq.data.scaling import standardise
from bayesuq.infer.arguments import check_choice, check_int, check_open_unit, check_positive
from bayesuq.infer.results import inference_data, split_attrs
from bayesuq.models.presto.estimators import encode_ordinal, finalize_probs, threshold_labels
from bayesuq.models.presto.likelihood import class_log_probs, class_probs
from bayesuq.precision import computing_in, resolve_precision

DEFAULT_PRECISION = "float32"
"""Precision of BayesianPresto's NUTS run (see the module docstring)."""


class CumulativeLogitLikelihood(dist.Distribution):
    """Ordinal outcome with ``log P(y = k | eta) = log(sigma(eta_k) - sigma(eta_{k-1}))``.

    ``eta (..., K-1)`` are the linear predictors of the thresholds; the log probabilities
    come from :func:`~bayesuq.models.presto.likelihood.class_log_probs` (``-inf`` for a
    non-monotone row, no renormalisation; Faletto & Bien 2023, Section 2).
    """

    arg_constraints: ClassVar[dict] = {"eta": constraints.real_vector}
    pytree_data_fields = ("eta",)

    def __init__(self, eta, *, validate_args=None):
        self.eta = eta
        self.n_classes = eta.shape[-1] + 1
        super().__init__(batch_shape=eta.shape[:-1], validate_args=validate_args)

    @constraints.dependent_property(is_discrete=True, event_dim=0)
    def support(self):
        """The class codes ``0..K-1``."""
        return constraints.integer_interval(0, self.n_classes - 1)

    def sample(self, key, sample_shape=()):
        """Class codes drawn from the class probabilities (negative ones clipped to 0)."""
        probs = jnp.clip(class_probs(self.eta.reshape(-1, self.n_classes - 1)), 0.0, None)
        probs = probs.reshape(*self.batch_shape, self.n_classes)
        return dist.Categorical(probs=probs / probs.sum(-1, keepdims=True)).sample(
            key, sample_shape
        )

    def log_prob(self, value):
        """``log P(y = value | eta)``."""
        logp = class_log_probs(self.eta.reshape(-1, self.n_classes - 1))
        logp = logp.reshape(*self.batch_shape, self.n_classes)
        return jnp.take_along_axis(logp, value[..., None].astype(jnp.int32), axis=-1)[..., 0]


def presto_model(X, y=None, *, n_classes: int, scale: Any, first_scale: Any = 1.0):
    """NumPyro model of the module docstring on standardised ``X`` (n, p); ``y`` in 0..K-1.

    ``n_classes`` is static (it sets the shapes); ``scale`` and ``first_scale`` may be
    arrays (data), so one compiled program serves every prior scale.
    """
    n, p = X.shape
    k1 = n_classes - 1
    alpha_first = numpyro.sample("alpha_first", dist.Normal(0.0, 5.0))
    with numpyro.plate("gap", k1 - 1):
        gaps = numpyro.sample("alpha_gaps", dist.HalfNormal(5.0))
    alpha = jnp.concatenate([alpha_first[None], alpha_first + jnp.cumsum(gaps)])
    with numpyro.plate("feature", p, dim=-1):
        psi_first = numpyro.sample("psi_first", dist.Normal(0.0, first_scale))
    with numpyro.plate("feature_", p, dim=-2), numpyro.plate("difference", k1 - 1, dim=-1):
        psi_rest = numpyro.sample("psi_rest", dist.Laplace(0.0, scale))
    psi = jnp.concatenate([psi_first[:, None], psi_rest], axis=1)
    numpyro.deterministic("alpha", alpha)
    numpyro.deterministic("beta_std", jnp.cumsum(psi, axis=1))
    eta = alpha[None, :] + X @ jnp.cumsum(psi, axis=1)
    with numpyro.plate("obs", n):
        numpyro.sample("y", CumulativeLogitLikelihood(eta), obs=y)


class BayesianPresto(BaseEstimator):
    """Bayesian PRESTO fitted with :func:`bayesuq.nuts`; posterior draws of class probabilities.

    Parameters
    ----------
    scale
        Laplace scale ``b`` of the differences ``psi_k`` (k >= 2) on standardised X; the
        posterior mode matches ``Presto(lam=1/(n b), penalize_first=False)``.
    first_scale
        Normal sd of ``psi_1`` (the first slope vector) on standardised X.
    chains, draws, warmup, seed, target_accept
        Passed to :func:`bayesuq.nuts`.
    on_invalid
        What :meth:`predict_proba_draws` does with non-monotone draws at new X:
        ``"clip"`` (default; clip at 0, renormalise, warn) or ``"raise"``.
    classes
        The class labels in order, lowest first; needed for non-numeric labels that are
        not an ordered pandas Categorical.
    precision
        ``None`` (float32), ``"float32"`` or ``"float64"``: the precision of the NUTS run.

    Attributes
    ----------
    idata_ : arviz.InferenceData with posterior ``alpha``/``beta`` on the original scale
        (dims ``threshold`` and ``feature, threshold``), and ``posterior_predictive["p_rare"]``
        (chain, draw, obs): draws of P(y = top class | x_i) at the training rows.
    classes_, feature_names_in_ (pandas input), n_features_in_
    """

    def __init__(
        self,
        *,
        scale: float = 0.05,
        first_scale: float = 1.0,
        chains: int = 4,
        draws: int = 500,
        warmup: int = 500,
        seed: int = 0,
        target_accept: float = 0.9,
        on_invalid: str = "clip",
        classes: Any = None,
        precision: str | None = None,
    ):
        self.scale = scale
        self.first_scale = first_scale
        self.chains = chains
        self.draws = draws
        self.warmup = warmup
        self.seed = seed
        self.target_accept = target_accept
        self.on_invalid = on_invalid
        self.classes = classes
        self.precision = precision

    @staticmethod
    def matching_scale(lam: float, n: int) -> float:
        """The Laplace scale ``1 / (n lam)`` whose posterior mode is PRESTO at ``lam``."""
        return 1.0 / (check_int("n", n, minimum=1) * check_positive("lam", lam))

    def fit(self, X, y, *, progress: bool = False):
        """Sample the posterior with NUTS; keep the draws on the original scale of X.

        The result (``idata_``) is assembled once, through
        :func:`bayesuq.infer.results.inference_data` (``inference="nuts"``), from the NUTS
        run's groups, sample statistics and settings plus the draws of ``beta`` and
        ``intercept`` on the original scale and ``posterior_predictive["p_rare"]``.
        """
        scale = check_positive("scale", self.scale)
        first_scale = check_positive("first_scale", self.first_scale)
        check_choice("on_invalid", self.on_invalid, ("raise", "clip"))
        check_open_unit("target_accept", self.target_accept)
        precision = resolve_precision(self.precision, DEFAULT_PRECISION)
        codes, classes = encode_ordinal(y, self.classes)
        X = validate_data(self, X, dtype=np.float64, ensure_min_samples=2)
        if X.shape[0] != codes.shape[0]:
            raise ValueError(f"X has {X.shape[0]} rows but y has {codes.shape[0]} labels")
        if len(classes) < 3:
            raise ValueError(f"y: BayesianPresto needs at least 3 classes, got {len(classes)}")
        self.classes_ = classes
        Xs, mean, sd = standardise(X, name="X", constant="keep")
        k1 = len(classes) - 1
        names = [
            str(c) for c in getattr(self, "feature_names_in_", [f"x{j}" for j in range(X.shape[1])])
        ]
        labels = threshold_labels(classes)
        dims = {
            "psi_first": ["feature"],
            "psi_rest": ["feature", "difference"],
            "alpha_gaps": ["gap"],
            "alpha": ["threshold"],
            "beta_std": ["feature", "threshold"],
            "beta": ["feature", "threshold"],
            "intercept": ["threshold"],
            "p_rare": ["obs"],
        }
        coords = {
            "feature": names,
            "threshold": labels,
            "difference": labels[1:],
            "gap": labels[1:],
        }
        with computing_in(precision):
            fit = bayesuq.nuts(
                presto_model,
                {
                    "X": Xs,
                    "y": codes.astype(np.int32),
                    "n_classes": len(classes),
                    "scale": np.asarray(scale),
                    "first_scale": np.asarray(first_scale),
                },
                chains=self.chains,
                draws=self.draws,
                warmup=self.warmup,
                seed=self.seed,
                target_accept=self.target_accept,
                init={
                    "psi_first": np.zeros(X.shape[1]),
                    "psi_rest": np.zeros((X.shape[1], k1 - 1)),
                },
                progress=progress,
                dims={k: v for k, v in dims.items() if k not in ("beta", "intercept", "p_rare")},
                coords=coords,
            )
        post = fit.posterior
        beta = post["beta_std"].values / sd[None, None, :, None]
        intercept = post["alpha"].values - np.einsum("cdpk,p->cdk", beta, mean)
        posterior = post.assign(
            beta=(("chain", "draw", "feature", "threshold"), beta),
            intercept=(("chain", "draw", "threshold"), intercept),
        )
        run, timings = split_attrs(fit.attrs)
        groups = {g: getattr(fit, g) for g in fit.groups() if g not in ("posterior",)}
        self.idata_ = inference_data(
            inference="nuts",
            seed=fit.attrs["seed"],
            timings=timings,
            attrs={
                **run,
                "estimator": "bayesian_presto",
                "prior_scale": scale,
                "first_scale": first_scale,
                "precision": precision,
            },
            dims=dims,
            coords=coords,
            posterior=posterior,
            posterior_predictive={"p_rare": self._rare_draws(X, beta, intercept)},
            **groups,
        )
        return self

    def _eta_draws(self, X: np.ndarray, beta=None, intercept=None) -> np.ndarray:
        """Linear predictors ``alpha_k + x' beta_k`` per draw, shape (chain, draw, n, K-1).

        ``beta`` (chain, draw, p, K-1) and ``intercept`` (chain, draw, K-1) default to the
        fitted draws in ``idata_``.
        """
        if beta is None:
            post = self.idata_.posterior
            beta = post["beta"].transpose("chain", "draw", "feature", "threshold").values
            intercept = post["intercept"].transpose("chain", "draw", "threshold").values
        return intercept[:, :, None, :] + np.einsum("np,cdpk->cdnk", X, beta)

    def _rare_draws(self, X: np.ndarray, beta=None, intercept=None) -> np.ndarray:
        """``P(y = top class | x) = sigma(-eta_{K-2})`` per draw, shape (chain, draw, n)."""
        return expit(-self._eta_draws(X, beta, intercept)[..., -1])

    def predict_proba_draws(self, X) -> xr.DataArray:
        """Posterior draws of every class probability, dims (chain, draw, obs, class)."""
        check_is_fitted(self)
        X = validate_data(self, X, dtype=np.float64, reset=False)
        eta = self._eta_draws(X)
        c, d, n, k1 = eta.shape
        with computing_in("float64"):
            probs = np.asarray(class_probs(jnp.asarray(eta.reshape(-1, k1))))
        probs = finalize_probs(probs, self.on_invalid).reshape(c, d, n, k1 + 1)
        return xr.DataArray(
            probs,
            dims=("chain", "draw", "obs", "class"),
            coords={"class": [str(v) for v in self.classes_]},
            name="class_prob",
        )

    def predict_proba(self, X) -> np.ndarray:
        """Posterior mean class probabilities (n, K)."""
        return self.predict_proba_draws(X).mean(("chain", "draw")).values

    def rare_interval(self, X, *, prob: float = 0.9) -> pd.DataFrame:
        """Posterior mean and equal-tailed ``prob`` interval of P(y = top class | x)."""
        prob = check_open_unit("prob", prob)
        check_is_fitted(self)
        X = validate_data(self, X, dtype=np.float64, reset=False)
        draws = self._rare_draws(X).reshape(-1, X.shape[0])
        lo, hi = np.quantile(draws, [(1 - prob) / 2, (1 + prob) / 2], axis=0)
        return pd.DataFrame({"mean": draws.mean(axis=0), "lower": lo, "upper": hi})

    def diagnose(self) -> Any:
        """:func:`bayesuq.diagnose` of the fit."""
        check_is_fitted(self)
        return bayesuq.diagnose(self.idata_)


__all__ = ["BayesianPresto", "CumulativeLogitLikelihood", "presto_model"]
