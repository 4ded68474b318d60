"""Few-shot metrics over test episodes: MSE, NLL and coverage (regression); accuracy, NLL and
expected calibration error (classification). Inputs are network outputs ``(T, S, Q, K)`` for
``T`` tasks, ``S`` weight draws (1 for point estimates), ``Q`` query points and ``K`` outputs.

* Regression (Gaussian likelihood, noise ``sigma``): the predictive is the mixture
  ``(1/S) sum_s N(f_s, sigma^2)``; MSE of its mean, NLL of the mixture, and coverage of its
  central 90% interval, read exactly from the PIT ``F(y) = mean_s Phi((y - f_s)/sigma)``
  (covered iff ``0.05 <= F(y) <= 0.95``). ``sigma`` is the data's known noise or the
  predictive noise fitted on meta-training episodes (:func:`calibrate_noise`).
* Classification: the predictive ``p = mean_s softmax(f_s)``; accuracy per episode, its mean
  and a 95% interval ``1.96 sd / sqrt(T)`` over episodes (the few-shot convention); NLL;
  ECE with 15 equal-width confidence bins (Guo et al. 2017, "On Calibration of Modern Neural
  Networks", ICML).
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

import numpy as np
from scipy.optimize import minimize_scalar
from scipy.special import log_softmax, logsumexp, ndtr

if TYPE_CHECKING:
    from bayesuq.models.metalearn.tasks import TaskSampler

__all__ = [
    "CALIBRATION_EPISODES",
    "calibrate_noise",
    "classification_metrics",
    "fit_logit_scale",
    "fit_noise",
    "mixture_nll",
    "regression_metrics",
    "reliability",
    "scaled_logits",
]

ECE_BINS = 15
CALIBRATION_EPISODES = 200
"""Meta-training episodes :func:`calibrate_noise` uses by default (NIW-Meta and the studies)."""


def mixture_nll(outputs: np.ndarray, query_y: np.ndarray, noise: float) -> np.ndarray:
    """Per-point NLL ``-log (1/S) sum_s N(y | f_s, noise^2)`` of the predictive: ``(T, Q)``."""
    f = np.asarray(outputs, float)[..., 0]  # (T, S, Q)
    z = (np.asarray(query_y, float)[:, None, :] - f) / noise
    log_dens = -0.5 * z**2 - np.log(noise) - 0.5 * np.log(2 * np.pi)
    return -(logsumexp(log_dens, axis=1) - np.log(f.shape[1]))


def regression_metrics(outputs: np.ndarray, query_y: np.ndarray, noise: float) -> dict:
    """``mse``, ``mse_se`` (over tasks), ``nll`` (per point) and ``coverage90``."""
    f = np.asarray(outputs, float)[..., 0]  # (T, S, Q)
    y = np.asarray(query_y, float)[:, None, :]
    per_task = np.mean((f.mean(1) - y[:, 0]) ** 2, axis=1)
    pit = ndtr((y - f) / noise).mean(axis=1)
    return {
        "mse": float(per_task.mean()),
        "mse_se": float(per_task.std(ddof=1) / np.sqrt(len(per_task))),
        "nll": float(mixture_nll(outputs, query_y, noise).mean()),
        "coverage90": float(np.mean((pit >= 0.05) & (pit <= 0.95))),
    }


def fit_noise(outputs: np.ndarray, query_y: np.ndarray) -> float:
    """The predictive noise sd that maximises the mixture's likelihood of held-out queries.

    ``sigma_hat = argmax_sigma sum_{t,q} log (1/S) sum_s N(y_tq | f_tsq, sigma^2)``, a
    one-dimensional search in ``log sigma`` over ``[1e-4, 1e4]`` (bounded Brent). The
    queries are not seen by the adaptation that produced ``f``, so ``sigma_hat`` covers
    the model's misfit on new points as well as the data noise (an empirical-Bayes choice
    of the likelihood's scale, ours; see ``docs/metalearn.md``).
    """
    y = np.asarray(query_y, float)

    def objective(log_sd: float) -> float:
        return float(mixture_nll(outputs, y, float(np.exp(log_sd))).mean())

    found = minimize_scalar(objective, bounds=(np.log(1e-4), np.log(1e4)), method="bounded")
    return float(np.exp(found.x))


def calibrate_noise(
    model: Any,
    tasks: TaskSampler,
    *,
    seed: int,
    episodes: int = CALIBRATION_EPISODES,
    **predict_options: Any,
) -> float:
    """:func:`fit_noise` on ``episodes`` episodes drawn from ``tasks`` with ``seed``.

    ``model.predict_outputs(support_x, support_y, query_x, **predict_options)`` adapts to
    each support set and returns the outputs ``(T, S, Q, K)`` at its query inputs (NIW-Meta,
    MAML). Meant for meta-training tasks: the test tasks are never used. The seed is the
    model's seed + 2 in NIW-Meta and the studies, so that every method sees the same episodes.
    """
    n = episodes if tasks.n_tasks is None else min(episodes, tasks.n_tasks)
    calibration = tasks.sample(seed, n)
    outputs = model.predict_outputs(
        calibration.support_x, calibration.support_y, calibration.query_x, **predict_options
    )
    return fit_noise(outputs, calibration.query_y)


def scaled_logits(outputs: np.ndarray, likelihood: Any, scale: float) -> np.ndarray:
    """``scale * outputs`` for a categorical likelihood (temperature scaling of the logits
    by ``1/scale``); a regression method's outputs are returned as they are."""
    if likelihood.kind != "categorical" or scale == 1.0:
        return outputs
    return outputs * np.asarray(scale, outputs.dtype)


def fit_logit_scale(outputs: np.ndarray, query_y: np.ndarray) -> float:
    """The factor on the logits that maximises the predictive likelihood of held-out queries.

    ``tau_hat = argmax_tau sum_{t,q} log (1/S) sum_s softmax(tau f_tsq)[y_tq]``, a
    one-dimensional bounded search in ``log tau`` over ``[1e-3, 1e3]``: temperature scaling
    (Guo et al. 2017, "On Calibration of Modern Neural Networks", ICML, section 4.2) with
    ``tau = 1/T``, applied to every weight draw. The accuracy does not depend on ``tau``.
    Fitted on episodes of classes the model never trained on (digits-fs: the validation
    classes), it corrects the confidence a metric learned on the training classes carries
    over to new ones.

    Raises
    ------
    ValueError
        If ``outputs`` hold non-finite values or the optimum lies on the bound.
    """
    logits = np.asarray(outputs, float)
    labels = np.asarray(query_y).astype(int)
    if not np.all(np.isfinite(logits)):
        raise ValueError("outputs hold non-finite values: the logit scale cannot be fitted")
    bound = np.log(1e3)

    def objective(log_tau: float) -> float:
        logp = log_softmax(np.exp(log_tau) * logits, axis=-1)  # (T, S, Q, K)
        mixed = logsumexp(logp, axis=1) - np.log(logits.shape[1])  # (T, Q, K)
        return float(-np.mean(np.take_along_axis(mixed, labels[..., None], -1)))

    found = minimize_scalar(objective, bounds=(-bound, bound), method="bounded")
    if abs(found.x) > bound - 1e-3:
        raise ValueError(f"the fitted logit scale is at the search bound ({np.exp(found.x):.3g})")
    return float(np.exp(found.x))


def predictive_probs(outputs: np.ndarray) -> np.ndarray:
    """``mean_s softmax(f_s)``: ``(T, Q, K)``."""
    return np.exp(log_softmax(np.asarray(outputs, float), axis=-1)).mean(axis=1)


def reliability(probs: np.ndarray, labels: np.ndarray, bins: int = ECE_BINS) -> dict:
    """Per-bin confidence, accuracy and count of the top-class predictions."""
    conf = probs.max(-1).ravel()
    correct = (probs.argmax(-1) == labels).ravel()
    edges = np.linspace(0.0, 1.0, bins + 1)
    index = np.clip(np.digitize(conf, edges[1:-1]), 0, bins - 1)
    count = np.bincount(index, minlength=bins)
    safe = np.maximum(count, 1)
    return {
        "edges": edges,
        "confidence": np.bincount(index, conf, minlength=bins) / safe,
        "accuracy": np.bincount(index, correct.astype(float), minlength=bins) / safe,
        "count": count,
    }


def classification_metrics(outputs: np.ndarray, query_y: np.ndarray) -> dict:
    """``accuracy``, ``accuracy_ci95`` (fractions), ``nll`` and ``ece`` (15 bins)."""
    probs = predictive_probs(outputs)
    labels = np.asarray(query_y).astype(int)
    per_task = np.mean(probs.argmax(-1) == labels, axis=1)
    nll = -np.log(np.maximum(np.take_along_axis(probs, labels[..., None], -1)[..., 0], 1e-12))
    rel = reliability(probs, labels)
    ece = float(
        np.sum(rel["count"] * np.abs(rel["accuracy"] - rel["confidence"])) / rel["count"].sum()
    )
    return {
        "accuracy": float(per_task.mean()),
        "accuracy_ci95": float(1.96 * per_task.std(ddof=1) / np.sqrt(len(per_task))),
        "nll": float(nll.mean()),
        "ece": ece,
    }
