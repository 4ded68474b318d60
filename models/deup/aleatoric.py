"""The aleatoric part ``a(x)`` subtracted from DEUP's total error estimate.

Lahlou et al. (2023, Section 3.1): the excess risk ``EU(f, x) = R(f, x) - A(x)``, with
``A(x) = Var(Y | x)`` for the squared loss; DEUP reports ``max(e(x) - a(x), 0)``.

* noiseless data: ``a = 0`` (all the paper's released runs);
* known noise: a constant ``a = sigma^2``;
* replicates: with ``K >= 2`` observations at the same ``x``, the unbiased variance
  ``s^2 = K / (K - 1) Var(y_1..y_K)`` estimates ``A(x)``; a GP on ``log s^2`` (with the
  Gaussian bias correction ``E log s^2 = log A + psi(nu / 2) - log(nu / 2)``,
  ``nu = K - 1``) interpolates between replicated inputs.
"""

from __future__ import annotations

from typing import Any

import numpy as np
from scipy.special import digamma

from bayesuq.models.deup.regressors import GPRegressor

__all__ = ["AleatoricModel", "fit_aleatoric", "replicate_variances"]


def replicate_variances(X: np.ndarray, y: np.ndarray) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Unbiased sample variances of ``y`` at inputs observed at least twice.

    Returns
    -------
    (inputs, variances, counts)
        The distinct replicated rows of ``X`` ``(m, d)``, ``s^2 = sum (y - ybar)^2 / (K - 1)``
        ``(m,)`` and ``K`` ``(m,)``.
    """
    inputs, inverse, counts = np.unique(X, axis=0, return_inverse=True, return_counts=True)
    inverse = inverse.reshape(-1)
    keep = counts >= 2
    variances = np.array(
        [np.var(y[inverse == g], ddof=1) for g in np.flatnonzero(keep)], dtype=float
    )
    return inputs[keep], variances, counts[keep]


class AleatoricModel:
    """``a(x)``: a constant, or ``exp`` of a GP fitted to bias-corrected log replicate variances.

    Build it with :func:`fit_aleatoric`; call it on an ``(m, d)`` array.
    """

    def __init__(self, constant: float | None = None, gp: GPRegressor | None = None):
        self.constant = constant
        self.gp = gp

    def __call__(self, X: np.ndarray) -> np.ndarray:
        if self.gp is None:
            return np.full(X.shape[0], float(self.constant))
        return np.exp(self.gp.predict(X))

    def describe(self) -> str:
        return "replicates (GP on log variances)" if self.gp is not None else str(self.constant)


def fit_aleatoric(aleatoric: Any, X: np.ndarray, y: np.ndarray) -> AleatoricModel:
    """The aleatoric model of :class:`~bayesuq.models.deup.DEUP`'s ``aleatoric`` argument.

    Parameters
    ----------
    aleatoric
        A number ``>= 0`` (a constant noise variance; 0 for noiseless data) or
        ``"replicates"`` (estimated from repeated rows of ``X``).
    X, y
        The training data.
    """
    if isinstance(aleatoric, int | float | np.integer | np.floating) and not isinstance(
        aleatoric, bool
    ):
        if not (np.isfinite(aleatoric) and aleatoric >= 0):
            raise ValueError(f"aleatoric must be a finite number >= 0, got {aleatoric!r}")
        return AleatoricModel(constant=float(aleatoric))
    if aleatoric != "replicates":
        raise ValueError(
            f"aleatoric must be a number >= 0 (noise variance) or 'replicates', got {aleatoric!r}"
        )
    inputs, variances, counts = replicate_variances(X, y)
    if inputs.shape[0] < 2:
        raise ValueError(
            "aleatoric='replicates' needs at least two inputs observed two or more times "
            f"(repeated rows of X); found {inputs.shape[0]}"
        )
    if np.any(variances <= 0):
        raise ValueError(
            "aleatoric='replicates': some replicated inputs have identical y values "
            "(zero variance); pass aleatoric=0.0 for noiseless data"
        )
    nu = counts - 1.0
    log_var = np.log(variances) - (digamma(nu / 2.0) - np.log(nu / 2.0))
    gp = GPRegressor().fit(inputs, log_var)
    return AleatoricModel(gp=gp)
