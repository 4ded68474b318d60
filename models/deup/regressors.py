"""scikit-learn style main predictors for :class:`~bayesuq.models.deup.DEUP` and its baselines.

All have ``fit(X, y)`` and ``predict(X, return_std=False)`` (``return_std=True`` also gives
the model's own predictive standard deviation, the baselines DEUP is compared with):

* :class:`GPRegressor` - exact GP, Matern-5/2 ARD, MAP hyperparameters with BoTorch's
  Gamma priors (tinygp, float64); ``std`` is the latent posterior standard deviation;
* :class:`MLPRegressor` - the package's JAX MLP (:func:`bayesuq.nn.mlp`) trained by Adam;
* :class:`MCDropoutRegressor` - the same with dropout; ``std`` over dropout masks;
* :class:`EnsembleRegressor` - a deep ensemble, members trained side by side (``vmap``);
  ``std`` over members;
* :class:`PosteriorPredictiveRegressor` - a NumPyro model fitted by :func:`bayesuq.nuts`;
  predictions are posterior predictive means, ``std`` the posterior predictive sd.

Training data are padded to a power of two rows (masked), so refits on data sets of
similar sizes reuse one compiled program.
"""

from __future__ import annotations

import functools
import math
from collections.abc import Callable
from typing import Any

import jax
import jax.numpy as jnp
import numpy as np
import optax
from sklearn.base import BaseEstimator, RegressorMixin

from bayesuq.infer.arguments import check_int, check_positive
from bayesuq.models.deup.blas import single_blas_thread
from bayesuq.models.deup.gp import GPConfig, fit_gp, gp_posterior, init_gp_params
from bayesuq.models.deup.networks import forward, train_steps
from bayesuq.nn import mlp
from bayesuq.precision import computing_in, resolve_precision

__all__ = [
    "EnsembleRegressor",
    "GPRegressor",
    "MCDropoutRegressor",
    "MLPRegressor",
    "PosteriorPredictiveRegressor",
    "check_xy",
]


def check_xy(
    X: Any, y: Any = None, *, d: int | None = None
) -> tuple[np.ndarray, np.ndarray | None]:
    """``X`` as a finite ``(n, d)`` float array and ``y`` as a finite ``(n,)`` one (or ``None``)."""
    X = np.asarray(X, dtype=float)
    if X.ndim == 1:
        X = X[:, None]
    if X.ndim != 2 or X.shape[0] < 1:
        raise ValueError(f"X must be an (n, d) array with n >= 1, got shape {X.shape}")
    if not np.all(np.isfinite(X)):
        raise ValueError("X contains NaN or infinite values")
    if d is not None and X.shape[1] != d:
        raise ValueError(f"X must have {d} columns (as in fit), got {X.shape[1]}")
    if y is None:
        return X, None
    y = np.asarray(y, dtype=float)
    if y.ndim == 2 and y.shape[1] == 1:
        y = y[:, 0]
    if y.shape != (X.shape[0],):
        raise ValueError(f"y must have shape ({X.shape[0]},) to match X, got {y.shape}")
    if not np.all(np.isfinite(y)):
        raise ValueError("y contains NaN or infinite values")
    return X, y


def padded_size(n: int) -> int:
    """Rows of the padded buffers for ``n`` data: the next power of two (at least 8)."""
    return max(8, 1 << math.ceil(math.log2(max(n, 1))))


def pad(X: np.ndarray, y: np.ndarray | None = None):
    """``X`` (and ``y``) padded with zero rows to :func:`padded_size`, and the row mask."""
    n = X.shape[0]
    size = padded_size(n)
    Xp = np.zeros((size, X.shape[1]))
    Xp[:n] = X
    mask = np.arange(size) < n
    if y is None:
        return Xp, mask
    yp = np.zeros(size)
    yp[:n] = y
    return Xp, yp, mask


class _Standardiser:
    """Column means and sds of training data (sd 1 where constant)."""

    def __init__(self, values: np.ndarray):
        self.mean = values.mean(axis=0)
        sd = values.std(axis=0)
        self.sd = np.where(sd > 0, sd, 1.0)


# ----------------------------------------------------------------------------- GP


@functools.lru_cache(maxsize=16)
def _gp_programs(config: GPConfig, d: int, precision: str) -> tuple[Callable, Callable]:
    def fit(X, y, mask):
        return fit_gp(X, y, mask, init_gp_params(d, config), config)

    def predict(params, X, y, mask, Xq):
        return gp_posterior(params, X, y, mask, config).predict(Xq)

    return jax.jit(fit), jax.jit(predict)


class GPRegressor(BaseEstimator, RegressorMixin):
    """Exact GP regression with MAP hyperparameters (tinygp, float64).

    ``y = c + g(x) + eps``, ``g ~ GP(0, s Matern52(|x - x'| / l))`` (one lengthscale per
    input), ``eps ~ N(0, sigma^2)``; hyperparameters maximise the marginal likelihood plus
    the log Gamma priors of BoTorch's ``SingleTaskGP`` (``l ~ Gamma(3, 6)``,
    ``s ~ Gamma(2, 0.15)``, ``sigma^2 ~ Gamma(1.1, 0.05)``, ``sigma^2 >= 1e-4``), as in
    Lahlou et al.'s experiments (Rasmussen & Williams 2006, Ch. 2 and 5). ``y`` is
    standardised first if ``normalize_y``; the priors assume inputs on a unit-ish scale.

    Parameters
    ----------
    noise_bounds
        ``(low, None)`` for ``sigma^2 >= low`` with the Gamma prior, or ``(low, high)``
        for an interval without prior.
    normalize_y
        Standardise ``y`` before fitting.
    iterations
        Adam steps of the MAP fit (from the prior modes).
    precision
        ``None`` (float64) or ``"float32"``/``"float64"``.
    """

    def __init__(
        self,
        *,
        noise_bounds: tuple[float, float | None] = (1e-4, None),
        normalize_y: bool = True,
        iterations: int = 300,
        precision: str | None = None,
    ):
        self.noise_bounds = noise_bounds
        self.normalize_y = normalize_y
        self.iterations = iterations
        self.precision = precision

    def _config(self) -> GPConfig:
        low, high = self.noise_bounds
        check_positive("noise_bounds[0]", low)
        prior = (1.1, 0.05) if high is None else None
        return GPConfig(
            noise_bounds=(float(low), None if high is None else float(high)),
            noise_prior=prior,
            iterations=check_int("iterations", self.iterations, minimum=1),
        )

    def fit(self, X: Any, y: Any) -> GPRegressor:
        """Fit the hyperparameters (MAP) and condition on ``(X, y)``."""
        X, y = check_xy(X, y)
        self.n_features_in_ = X.shape[1]
        self._y_scale = _Standardiser(y) if self.normalize_y else None
        y_s = (y - self._y_scale.mean) / self._y_scale.sd if self.normalize_y else y
        self._data = pad(X, y_s)
        precision = resolve_precision(self.precision, "float64")
        fit, _ = _gp_programs(self._config(), X.shape[1], precision)
        with computing_in(precision), single_blas_thread():
            self.params_ = jax.tree.map(np.asarray, fit(*self._data))
        return self

    def predict(self, X: Any, return_std: bool = False):
        """Posterior mean (and latent standard deviation) at ``X``."""
        X, _ = check_xy(X, d=self.n_features_in_)
        precision = resolve_precision(self.precision, "float64")
        _, predict = _gp_programs(self._config(), X.shape[1], precision)
        with computing_in(precision), single_blas_thread():
            mean, var = (np.asarray(a) for a in predict(self.params_, *self._data, X))
        sd_y = self._y_scale.sd if self.normalize_y else 1.0
        mean = mean * sd_y + (self._y_scale.mean if self.normalize_y else 0.0)
        return (mean, np.sqrt(var) * sd_y) if return_std else mean


# ----------------------------------------------------------------------------- networks


@functools.lru_cache(maxsize=32)
def _net_programs(
    d: int, hidden: tuple[int, ...], dropout: float, steps: int, batch: int, lr: float,
    members: int, passes: int,
) -> tuple[Callable, Callable]:  # fmt: skip
    net = mlp((d, *hidden, 1), activation="relu", dropout=dropout, dtype=jnp.float32)
    optimizer = optax.adam(lr)

    def train_one(key, X, y, mask):
        k_init, k_train = jax.random.split(key)
        theta = net.init(k_init)
        theta, _, loss = train_steps(
            net, optimizer, theta, optimizer.init(theta), X, y, mask, k_train,
            steps=steps, batch=batch, half=False, dropout=dropout > 0,
        )  # fmt: skip
        return theta, loss

    def train(key, X, y, mask):
        return jax.vmap(train_one, in_axes=(0, None, None, None))(
            jax.random.split(key, members), X, y, mask
        )

    def predict(thetas, Xq, key):
        means = jax.vmap(lambda th: forward(net, th, Xq))(thetas)  # (members, m)
        if passes == 0:
            return jnp.mean(means, axis=0), jnp.var(means, axis=0)
        # MC dropout (one member): eval-mode mean, variance over masks (each point its own)
        theta = thetas[0]
        draws = jax.vmap(
            lambda k: jax.vmap(lambda x, kk: forward(net, theta, x[None, :], kk)[0])(
                Xq, jax.random.split(k, Xq.shape[0])
            )
        )(jax.random.split(key, passes))
        return means[0], jnp.var(draws, axis=0)

    return jax.jit(train), jax.jit(predict)


class _NetworkRegressor(BaseEstimator, RegressorMixin):
    """Shared fit/predict of the network regressors (inputs and ``y`` standardised)."""

    _members = 1
    _passes = 0
    _dropout = 0.0

    def _settings(self) -> tuple:
        hidden = tuple(check_int("hidden", h, minimum=1) for h in self.hidden)
        return (
            hidden,
            float(self._dropout),
            check_int("steps", self.steps, minimum=1),
            check_int("batch", self.batch, minimum=1),
            check_positive("learning_rate", self.learning_rate),
            int(self._members),
            int(self._passes),
        )

    def fit(self, X: Any, y: Any):
        """Train on ``(X, y)`` (``steps`` Adam steps on random mini-batches of ``batch``)."""
        X, y = check_xy(X, y)
        check_int("seed", self.seed, minimum=0)
        self.n_features_in_ = X.shape[1]
        self._x_scale, self._y_scale = _Standardiser(X), _Standardiser(y)
        Xs = (X - self._x_scale.mean) / self._x_scale.sd
        ys = (y - self._y_scale.mean) / self._y_scale.sd
        train, _ = _net_programs(X.shape[1], *self._settings())
        with computing_in("float32"):
            thetas, loss = train(jax.random.PRNGKey(self.seed), *pad(Xs, ys))
        self.thetas_ = np.asarray(thetas)
        self.loss_ = np.asarray(loss)
        return self

    def predict(self, X: Any, return_std: bool = False):
        """Mean prediction (and the model's predictive standard deviation) at ``X``."""
        X, _ = check_xy(X, d=self.n_features_in_)
        _, predict = _net_programs(X.shape[1], *self._settings())
        Xs = (X - self._x_scale.mean) / self._x_scale.sd
        with computing_in("float32"):
            key = jax.random.PRNGKey(self.seed + 1)
            mean, var = (np.asarray(a, float) for a in predict(self.thetas_, Xs, key))
        mean = mean * self._y_scale.sd + self._y_scale.mean
        return (mean, np.sqrt(var) * self._y_scale.sd) if return_std else mean


class MLPRegressor(_NetworkRegressor):
    """A ReLU MLP (:func:`bayesuq.nn.mlp`) trained by Adam on the mean squared error.

    Inputs and ``y`` are standardised; ``steps`` Adam steps, each on ``batch`` rows drawn
    without replacement. ``predict(X, return_std=True)`` gives a zero standard deviation.

    Parameters
    ----------
    hidden
        Hidden layer widths.
    steps, batch, learning_rate
        Training budget, mini-batch size, Adam step size.
    seed
        Integer seed of the initialisation and mini-batches.
    """

    def __init__(
        self,
        *,
        hidden: tuple[int, ...] = (64, 64),
        steps: int = 2000,
        batch: int = 32,
        learning_rate: float = 1e-3,
        seed: int = 0,
    ):
        self.hidden = hidden
        self.steps = steps
        self.batch = batch
        self.learning_rate = learning_rate
        self.seed = seed


class MCDropoutRegressor(_NetworkRegressor):
    """MC dropout (Gal & Ghahramani 2016): an MLP with dropout, variance over masks.

    Parameters
    ----------
    dropout
        Dropout rate after every hidden layer (training and the ``passes`` masks).
    passes
        Dropout masks averaged at prediction.
    hidden, steps, batch, learning_rate, seed
        As :class:`MLPRegressor`.
    """

    def __init__(
        self,
        *,
        dropout: float = 0.1,
        passes: int = 100,
        hidden: tuple[int, ...] = (64, 64),
        steps: int = 2000,
        batch: int = 32,
        learning_rate: float = 1e-3,
        seed: int = 0,
    ):
        self.dropout = dropout
        self.passes = passes
        self.hidden = hidden
        self.steps = steps
        self.batch = batch
        self.learning_rate = learning_rate
        self.seed = seed

    @property
    def _dropout(self) -> float:  # type: ignore[override]
        if not 0.0 < self.dropout < 1.0:
            raise ValueError(f"dropout must be in (0, 1), got {self.dropout!r}")
        return self.dropout

    @property
    def _passes(self) -> int:  # type: ignore[override]
        return check_int("passes", self.passes, minimum=2)


class EnsembleRegressor(_NetworkRegressor):
    """A deep ensemble (Lakshminarayanan et al. 2017, without adversarial training).

    ``members`` MLPs from independent initialisations and mini-batch orders, trained side
    by side (``vmap``); mean and variance over members.

    Parameters
    ----------
    members
        Ensemble size.
    hidden, steps, batch, learning_rate, seed
        As :class:`MLPRegressor`.
    """

    def __init__(
        self,
        *,
        members: int = 5,
        hidden: tuple[int, ...] = (64, 64),
        steps: int = 2000,
        batch: int = 32,
        learning_rate: float = 1e-3,
        seed: int = 0,
    ):
        self.members = members
        self.hidden = hidden
        self.steps = steps
        self.batch = batch
        self.learning_rate = learning_rate
        self.seed = seed

    @property
    def _members(self) -> int:  # type: ignore[override]
        return check_int("members", self.members, minimum=2)


# ----------------------------------------------------------------------------- NumPyro


class PosteriorPredictiveRegressor(BaseEstimator, RegressorMixin):
    """A NumPyro regression model as a main predictor: NUTS fit, posterior predictive mean.

    ``fit(X, y)`` runs :func:`bayesuq.nuts` on ``model(**{x: X, y: y})``; ``predict(X)``
    is the mean over posterior draws of the site ``site`` under
    ``model(**{x: X})`` (``numpyro.infer.Predictive``), and ``return_std=True`` adds its
    standard deviation over draws.

    Parameters
    ----------
    model
        NumPyro model with keyword arguments ``x`` (an ``(n, d)`` array) and ``y``
        (``None`` when predicting).
    x, y
        Names of the model's input and output arguments.
    site
        The site to average: a deterministic mean function (e.g. ``"mu"``: predictions
        of the regression function) or the observed site (default: the ``y`` name;
        posterior predictive draws, so ``std`` includes the noise).
    chains, draws, warmup, seed
        NUTS settings (:func:`bayesuq.nuts`).
    """

    def __init__(
        self,
        model: Callable,
        *,
        x: str = "x",
        y: str = "y",
        site: str | None = None,
        chains: int = 2,
        draws: int = 500,
        warmup: int = 500,
        seed: int = 0,
    ):
        self.model = model
        self.x = x
        self.y = y
        self.site = site
        self.chains = chains
        self.draws = draws
        self.warmup = warmup
        self.seed = seed

    def fit(self, X: Any, y: Any) -> PosteriorPredictiveRegressor:
        """Sample the posterior given ``(X, y)``."""
        import numpyro

        from bayesuq.infer.nuts import nuts

        X, y = check_xy(X, y)
        self.n_features_in_ = X.shape[1]
        self.idata_ = nuts(
            self.model, {self.x: X, self.y: y}, chains=self.chains, draws=self.draws,
            warmup=self.warmup, seed=self.seed, progress=False,
        )  # fmt: skip
        with numpyro.handlers.block(), numpyro.handlers.seed(rng_seed=0):
            trace = numpyro.handlers.trace(self.model).get_trace(**{self.x: X, self.y: y})
        latent = [
            name
            for name, site in trace.items()
            if site["type"] == "sample" and not site["is_observed"]
        ]
        posterior = self.idata_.posterior
        self._samples = {
            name: np.asarray(posterior[name]).reshape(-1, *posterior[name].shape[2:])
            for name in latent
        }
        return self

    def predict(self, X: Any, return_std: bool = False):
        """Posterior (predictive) mean of ``site`` at ``X`` (and its sd over draws)."""
        from numpyro.infer import Predictive

        X, _ = check_xy(X, d=self.n_features_in_)
        site = self.site or self.y
        predictive = Predictive(self.model, posterior_samples=self._samples, return_sites=[site])
        draws = np.asarray(predictive(jax.random.PRNGKey(self.seed + 1), **{self.x: X})[site])
        draws = draws.reshape(draws.shape[0], X.shape[0])
        mean = draws.mean(axis=0)
        return (mean, draws.std(axis=0)) if return_std else mean
