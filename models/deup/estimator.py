"""The :class:`DEUP` estimator: direct epistemic uncertainty prediction around any regressor.

Lahlou, Jain, Nekoei, Butoi, Bertin, Rector-Brooks, Korablyov and Bengio (2023), "DEUP:
Direct Epistemic Uncertainty Prediction", TMLR (arXiv:2102.08501). For the squared loss
the *epistemic uncertainty* of a predictor ``f`` at ``x`` is its excess risk

``EU(f, x) = E[(Y - f(x))^2 | x] - Var(Y | x) = (f(x) - E[Y | x])^2``,

which includes ``f``'s bias, not only the variance of its parameters. DEUP estimates it as
``u(x) = max(e(x) - a(x), 0)``: ``e`` is a regressor ("error model") of the *out-of-sample*
squared errors of ``f`` on stationarising features ``phi_D(x)`` of the training set ``D``
(:mod:`bayesuq.models.deup.features`), and ``a`` estimates the aleatoric part
(:mod:`bayesuq.models.deup.aleatoric`).
"""

from __future__ import annotations

import functools
import time
from typing import Any

import jax
import numpy as np
from sklearn.base import BaseEstimator, RegressorMixin, clone

from bayesuq.infer.arguments import check_int
from bayesuq.models.deup.aleatoric import fit_aleatoric
from bayesuq.models.deup.blas import single_blas_thread
from bayesuq.models.deup.features import (
    check_features,
    domain_sample,
    feature_model,
    features,
    needs_gp,
)
from bayesuq.models.deup.gp import GPConfig, fixed_rbf_posterior, gp_posterior
from bayesuq.models.deup.regressors import (
    GPRegressor,
    MLPRegressor,
    check_xy,
    pad,
)
from bayesuq.precision import computing_in, resolve_precision

__all__ = ["DEUP"]

LOG_TARGET_FLOOR = -20.0
LOG_U_CEILING = 3.0
MAX_GP_TARGETS = 4096


@functools.lru_cache(maxsize=16)
def _phi_program(names: tuple[str, ...], config: GPConfig | None, precision: str):
    """Jitted ``phi_D(Xq)`` given the (padded) training data and its GP's parameters."""

    def phi(params, X, y, mask, domain, Xq):
        gp = gp_posterior(params, X, y, mask, config) if config is not None else None
        fm = feature_model(names, X, mask, gp, domain)
        return jax.vmap(lambda x: features(names, fm, x))(Xq)

    return jax.jit(phi)


@functools.lru_cache(maxsize=4)
def _rbf_program(precision: str):
    def predict(phi, targets, mask, phi_q):
        return fixed_rbf_posterior(phi, targets, mask).predict(phi_q)[0]

    return jax.jit(predict)


class DEUP(BaseEstimator, RegressorMixin):
    """Direct epistemic uncertainty prediction around a main predictor.

    ``fit(X, y)``:

    1. *Out-of-sample targets* (pre-fill): ``repeats`` random partitions of the data into
       ``folds`` folds; for each split a clone of ``predictor`` is trained on all folds but
       one, the features ``phi`` are computed *from that training set*, and the errors
       ``(f_k(x_i) - y_i)^2`` are logged at every ``x_i`` (on the held-out fold they are
       out of sample; on the training folds in sample, and the features say so).
       ``X_error, y_error`` (optional) are points never used to train ``f``: their errors
       under the final predictor are added as further out-of-sample targets.
    2. The main predictor ``f`` is refitted on all of ``(X, y)``.
    3. The error model ``e`` regresses the targets on the features: by default on
       ``log(err^2 / s_y^2)`` (``s_y^2`` the sample variance of ``y``, floored at
       ``-20``), giving ``e(x) = s_y^2 exp(min(e_hat, 3))``.
    4. ``aleatoric`` gives ``a(x)``; ``epistemic(x) = max(e(x) - a(x), 0)``.

    Parameters
    ----------
    predictor
        The main predictor: any scikit-learn regressor (cloned for each split), a
        :class:`~bayesuq.models.deup.MLPRegressor` (the package's JAX MLP; the default), or
        a :class:`~bayesuq.models.deup.PosteriorPredictiveRegressor` (a NumPyro model's
        posterior predictive mean, fitted by :func:`bayesuq.nuts`).
    error_model
        ``"gp"``: Matern-5/2 GP with MAP hyperparameters (:class:`GPRegressor`, targets
        standardised); ``"gp_fixed"``: zero-mean GP with a fixed unit RBF kernel and jitter
        ``1e-6`` (scikit-learn's defaults, the paper's SMO runs; it assumes features on a
        unit scale, and far from every target returns to ``e = s_y^2``); or any
        scikit-learn regressor.
    features
        Names from :data:`~bayesuq.models.deup.features.FEATURES`: ``"x"``, ``"seen"``,
        ``"density"``, ``"variance"`` (a GP's log latent variance, MinMax-scaled on a fixed
        domain sample), ``"raw_variance"``, ``"distance"``.
    aleatoric
        ``0.0`` (noiseless), a constant noise variance, or ``"replicates"`` (fitted to the
        variances of repeated rows of ``X``).
    folds, repeats
        The pre-fill's K-fold partitions.
    seed
        Integer seed of the partitions.
    domain
        Where the MinMax scalings are fitted: ``None`` (the bounding box of the inputs),
        ``(lower, upper)`` bounds, or an ``(m, d)`` array of points.
    log_errors
        Regress log squared errors (``True``) or squared errors (``False``). Default:
        ``True`` if ``aleatoric == 0``, else ``False`` - with noise, ``E log err^2`` is
        below ``log E err^2`` (Jensen), so only raw squared errors estimate the risk
        ``e`` from which ``a`` is subtracted.
    precision
        ``None`` (float64) or ``"float32"``/``"float64"`` for the GPs and features.

    Attributes
    ----------
    predictor_
        The main predictor fitted on all the data.
    targets_
        ``pandas.DataFrame`` of the error model's training set: ``split`` (``-1`` for
        ``X_error`` points), ``row`` (index into ``X`` or ``X_error``), ``held_out``
        (whether ``f`` was trained without that point), ``squared_error``, ``target`` and
        the feature columns.
    splits_
        ``(repeats * folds, n)`` boolean training masks of the pre-fill.
    """

    def __init__(
        self,
        predictor: Any = None,
        *,
        error_model: Any = "gp",
        features: tuple[str, ...] = ("x", "variance"),
        aleatoric: Any = 0.0,
        folds: int = 2,
        repeats: int = 2,
        seed: int = 0,
        domain: Any = None,
        log_errors: bool | None = None,
        precision: str | None = None,
    ):
        self.predictor = predictor
        self.error_model = error_model
        self.features = features
        self._aleatoric_setting = aleatoric
        self.folds = folds
        self.repeats = repeats
        self.seed = seed
        self.domain = domain
        self.log_errors = log_errors
        self.precision = precision

    # The constructor argument ``aleatoric`` shares its name with the method
    # ``aleatoric(X)``; scikit-learn reads and writes parameters by attribute name, so
    # these two keep it under ``_aleatoric_setting`` (``clone``, ``repr`` and
    # ``set_params`` work as for any estimator).
    def get_params(self, deep: bool = True) -> dict[str, Any]:
        """The constructor arguments (scikit-learn's ``get_params``)."""
        params = super().get_params(deep=deep)
        params["aleatoric"] = self._aleatoric_setting
        return params

    def set_params(self, **params: Any) -> DEUP:
        """Set constructor arguments (scikit-learn's ``set_params``)."""
        if "aleatoric" in params:
            self._aleatoric_setting = params.pop("aleatoric")
        return super().set_params(**params)

    # ------------------------------------------------------------------ helpers

    def _check(self, n: int) -> None:
        check_features(self.features)
        folds = check_int("folds", self.folds, minimum=2)
        check_int("repeats", self.repeats, minimum=1)
        check_int("seed", self.seed, minimum=0)
        if folds > n:
            raise ValueError(f"folds must be <= the number of data points {n}, got {folds}")
        if not (
            self.error_model in ("gp", "gp_fixed")
            or (hasattr(self.error_model, "fit") and hasattr(self.error_model, "predict"))
        ):
            raise ValueError(
                "error_model must be 'gp', 'gp_fixed' or a scikit-learn regressor, "
                f"got {self.error_model!r}"
            )
        if self.predictor is not None and not (
            hasattr(self.predictor, "fit") and hasattr(self.predictor, "predict")
        ):
            raise TypeError(
                "predictor must be a regressor with fit(X, y) and predict(X), got "
                f"{type(self.predictor).__name__}"
            )

    def _domain_points(self, X: np.ndarray) -> np.ndarray:
        if self.domain is None:
            lower, upper = X.min(axis=0), X.max(axis=0)
            upper = np.where(upper > lower, upper, lower + 1.0)
            return domain_sample(lower, upper)
        if isinstance(self.domain, tuple) and len(self.domain) == 2:
            lower = np.broadcast_to(np.asarray(self.domain[0], float), (X.shape[1],))
            upper = np.broadcast_to(np.asarray(self.domain[1], float), (X.shape[1],))
            return domain_sample(lower, upper)
        points, _ = check_xy(self.domain, d=X.shape[1])
        return points

    def _feature_state(self, X: np.ndarray, y: np.ndarray):
        """What ``phi_D`` needs for the training set ``D = (X, y)``."""
        names = check_features(self.features)
        if needs_gp(names):
            gp = GPRegressor(precision=self.precision).fit(X, y)
            return (gp.params_, *gp._data), gp._config()
        Xp, yp, mask = pad(X, np.zeros(X.shape[0]))
        return (None, Xp, yp, mask), None

    def _phi(self, state, Xq: np.ndarray) -> np.ndarray:
        (params, Xp, yp, mask), config = state
        precision = resolve_precision(self.precision, "float64")
        program = _phi_program(check_features(self.features), config, precision)
        with computing_in(precision), single_blas_thread():
            return np.asarray(program(params, Xp, yp, mask, self._domain_, Xq))

    def _target(self, prediction: np.ndarray, y: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
        squared = (prediction - y) ** 2
        scaled = squared / self.scale_
        if self.log_errors_:
            return squared, np.maximum(np.log(np.maximum(scaled, 1e-300)), LOG_TARGET_FLOOR)
        return squared, scaled

    # ------------------------------------------------------------------ fit

    def fit(self, X: Any, y: Any, *, X_error: Any = None, y_error: Any = None) -> DEUP:
        """Fit the main predictor, the out-of-sample error targets and the error model.

        Parameters
        ----------
        X, y
            Training data ``(n, d)`` and ``(n,)``.
        X_error, y_error
            Optional points never used to train the predictor; their errors under the
            final predictor are out-of-sample targets of the error model only.
        """
        import pandas as pd

        start = time.perf_counter()
        X, y = check_xy(X, y)
        n, d = X.shape
        self._check(n)
        if (X_error is None) != (y_error is None):
            raise ValueError("pass both X_error and y_error, or neither")
        if X_error is not None:
            X_error, y_error = check_xy(X_error, y_error, d=d)
        self.n_features_in_ = d
        self.log_errors_ = (
            bool(self.log_errors)
            if self.log_errors is not None
            else isinstance(self._aleatoric_setting, int | float) and self._aleatoric_setting == 0
        )
        self.aleatoric_model_ = fit_aleatoric(self._aleatoric_setting, X, y)
        variance = float(np.var(y, ddof=1)) if n > 1 else 0.0
        self.scale_ = variance if variance > 0 else 1.0
        everything = X if X_error is None else np.concatenate([X, X_error])
        self._domain_ = self._domain_points(everything)
        base = self.predictor if self.predictor is not None else MLPRegressor()
        names = check_features(self.features)
        columns = [
            f"x{j}" if name == "x" else name
            for name in names
            for j in (range(d) if name == "x" else [0])
        ]

        rng = np.random.default_rng(self.seed)
        frames, splits = [], []
        for r in range(self.repeats):
            fold = np.empty(n, dtype=int)
            fold[rng.permutation(n)] = np.arange(n) % self.folds
            for k in range(self.folds):
                train = fold != k
                splits.append(train)
                model = clone(base).fit(X[train], y[train])
                phi = self._phi(self._feature_state(X[train], y[train]), X)
                squared, target = self._target(np.asarray(model.predict(X), float), y)
                frame = pd.DataFrame(phi, columns=columns)
                frame.insert(0, "split", r * self.folds + k)
                frame.insert(1, "row", np.arange(n))
                frame.insert(2, "held_out", ~train)
                frame.insert(3, "squared_error", squared)
                frame.insert(4, "target", target)
                frames.append(frame)
        self.splits_ = np.stack(splits)
        self.predictor_ = clone(base).fit(X, y)
        self._features_full = self._feature_state(X, y)
        if X_error is not None:
            phi = self._phi(self._features_full, X_error)
            prediction = np.asarray(self.predictor_.predict(X_error), float)
            squared, target = self._target(prediction, y_error)
            frame = pd.DataFrame(phi, columns=columns)
            frame.insert(0, "split", -1)
            frame.insert(1, "row", np.arange(X_error.shape[0]))
            frame.insert(2, "held_out", True)
            frame.insert(3, "squared_error", squared)
            frame.insert(4, "target", target)
            frames.append(frame)
        self.targets_ = pd.concat(frames, ignore_index=True)
        self._fit_error_model(self.targets_[columns].to_numpy(), self.targets_.target.to_numpy())
        self.fit_seconds_ = time.perf_counter() - start
        return self

    def _fit_error_model(self, phi: np.ndarray, targets: np.ndarray) -> None:
        if self.error_model in ("gp", "gp_fixed") and targets.shape[0] > MAX_GP_TARGETS:
            raise ValueError(
                f"error_model={self.error_model!r} is an exact GP on all {targets.shape[0]} "
                f"error targets (repeats x n + X_error rows; at most {MAX_GP_TARGETS}): "
                "pass a scikit-learn regressor as error_model, or fewer repeats"
            )
        if self.error_model == "gp_fixed":
            self._error_data = pad(phi, targets)
            self.error_model_ = "gp_fixed (RBF, lengthscale 1, amplitude 1, jitter 1e-6)"
        elif self.error_model == "gp":
            self.error_model_ = GPRegressor(precision=self.precision).fit(phi, targets)
        else:
            self.error_model_ = clone(self.error_model).fit(phi, targets)

    def _error_prediction(self, phi: np.ndarray) -> np.ndarray:
        if self.error_model == "gp_fixed":
            precision = resolve_precision(self.precision, "float64")
            with computing_in(precision), single_blas_thread():
                return np.asarray(_rbf_program(precision)(*self._error_data, phi))
        return np.asarray(self.error_model_.predict(phi), float)

    # ------------------------------------------------------------------ predict

    def _require_fit(self) -> None:
        if not hasattr(self, "predictor_"):
            raise RuntimeError("this DEUP estimator is not fitted yet: call fit(X, y) first")

    def predict(self, X: Any, return_std: bool = False):
        """The main predictor's prediction (and ``sqrt(total(X))`` if ``return_std``)."""
        self._require_fit()
        X, _ = check_xy(X, d=self.n_features_in_)
        mean = np.asarray(self.predictor_.predict(X), float)
        return (mean, np.sqrt(self.total(X))) if return_std else mean

    def error(self, X: Any) -> np.ndarray:
        """``e(x)``: the predicted total squared error (excess risk + aleatoric) of ``f``."""
        self._require_fit()
        X, _ = check_xy(X, d=self.n_features_in_)
        raw = self._error_prediction(self._phi(self._features_full, X))
        if self.log_errors_:
            return self.scale_ * np.exp(np.clip(raw, LOG_TARGET_FLOOR, LOG_U_CEILING))
        return self.scale_ * np.maximum(raw, 0.0)

    def aleatoric(self, X: Any) -> np.ndarray:
        """``a(x)``: the aleatoric variance."""
        self._require_fit()
        X, _ = check_xy(X, d=self.n_features_in_)
        return self.aleatoric_model_(X)

    def epistemic(self, X: Any) -> np.ndarray:
        """``u(x) = max(e(x) - a(x), 0)``: DEUP's estimate of the excess risk of ``f`` at ``x``."""
        return np.maximum(self.error(X) - self.aleatoric(X), 0.0)

    def total(self, X: Any) -> np.ndarray:
        """``u(x) + a(x)``: the predictive variance around ``f(x)``."""
        return self.epistemic(X) + self.aleatoric(X)

    def predictive(self, X: Any, *, draws: int = 1000, seed: int = 0):
        """Draws from ``N(f(x), total(x))`` at the rows of ``X``, as ``InferenceData``.

        Returns
        -------
        arviz.InferenceData
            ``posterior_predictive["y"]`` with dims ``(chain, draw, point)`` (one chain);
            ``constant_data`` holds ``x (point, input)``, ``mean``, ``epistemic`` and
            ``aleatoric`` (``point``). Tag ``"deup"``.
        """
        from bayesuq.infer.results import inference_data

        start = time.perf_counter()
        draws = check_int("draws", draws, minimum=1)
        seed = check_int("seed", seed, minimum=0)
        self._require_fit()
        X, _ = check_xy(X, d=self.n_features_in_)
        mean = self.predict(X)
        epistemic = self.epistemic(X)
        aleatoric = self.aleatoric(X)
        sd = np.sqrt(epistemic + aleatoric)
        noise = np.random.default_rng(seed).standard_normal((1, draws, X.shape[0]))
        samples = mean[None, None, :] + sd[None, None, :] * noise
        return inference_data(
            inference="deup",
            seed=seed,
            timings={"total": time.perf_counter() - start + self.fit_seconds_},
            attrs={
                "estimator": "DEUP",
                "predictor": type(self.predictor_).__name__,
                "error_model": str(self.error_model_),
                "features": ",".join(check_features(self.features)),
                "aleatoric": self.aleatoric_model_.describe(),
                "folds": self.folds,
                "repeats": self.repeats,
                "log_errors": self.log_errors_,
                "fit_seconds": self.fit_seconds_,
            },
            dims={
                "y": ["point"],
                "x": ["point", "input"],
                "mean": ["point"],
                "epistemic": ["point"],
                "aleatoric": ["point"],
            },
            coords={"point": np.arange(X.shape[0]), "input": np.arange(X.shape[1])},
            posterior_predictive={"y": samples},
            constant_data={"x": X, "mean": mean, "epistemic": epistemic, "aleatoric": aleatoric},
        )
