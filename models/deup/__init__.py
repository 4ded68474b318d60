"""DEUP: direct epistemic uncertainty prediction, and sequential model optimisation with it.

Lahlou, Jain, Nekoei, Butoi, Bertin, Rector-Brooks, Korablyov & Bengio (2023), "DEUP:
Direct Epistemic Uncertainty Prediction", Transactions on Machine Learning Research
(arXiv:2102.08501). See ``docs/deup.md``.

* :class:`DEUP` - the estimator around any regressor (``fit``, ``predict``, ``epistemic``,
  ``aleatoric``, ``total``, ``predictive``);
* main predictors: :class:`GPRegressor`, :class:`MLPRegressor`, :class:`MCDropoutRegressor`,
  :class:`EnsembleRegressor`, :class:`PosteriorPredictiveRegressor`;
* :func:`optimize` - sequential model optimisation (DEUP-EI, GP-EI, MC-dropout-EI,
  ensemble-EI, random search; TuRBO trust regions), all steps and seeds in one compiled
  program;
* test functions :data:`MULTI_OPTIMA`, :data:`LEVI_N13`, :func:`ackley`;
* ``bayesuq deup`` - the command (see :func:`add_cli`).

Names are imported on first use, so that ``bayesuq --help`` stays fast.
"""

from __future__ import annotations

import importlib
from typing import Any

from bayesuq.models.deup.cli import add_cli

_EXPORTS = {
    "DEUP": "estimator",
    "EnsembleRegressor": "regressors",
    "GPRegressor": "regressors",
    "MCDropoutRegressor": "regressors",
    "MLPRegressor": "regressors",
    "PosteriorPredictiveRegressor": "regressors",
    "FEATURES": "features",
    "LEVI_N13": "functions",
    "MULTI_OPTIMA": "functions",
    "TestFunction": "functions",
    "ackley": "functions",
    "get_function": "functions",
    "expected_improvement": "acquisition",
    "upper_confidence_bound": "acquisition",
    "maximize_acquisition": "acquisition",
    "optimize": "smo",
    "SURROGATES": "smo",
    "ACQUISITIONS": "smo",
    "SMO_METHODS": "study",
    "TURBO_METHODS": "study",
    "compare": "study",
    "curves_figure": "study",
    "random_search_expected_best": "study",
    "summary_table": "study",
    "misspecified_figure": "misspecified",
    "misspecified_truth": "misspecified",
    "spearman_study": "misspecified",
    "replicate_variances": "aleatoric",
}

__all__ = [
    "ACQUISITIONS",
    "DEUP",
    "FEATURES",
    "LEVI_N13",
    "MULTI_OPTIMA",
    "SMO_METHODS",
    "SURROGATES",
    "TURBO_METHODS",
    "EnsembleRegressor",
    "GPRegressor",
    "MCDropoutRegressor",
    "MLPRegressor",
    "PosteriorPredictiveRegressor",
    "TestFunction",
    "ackley",
    "add_cli",
    "compare",
    "curves_figure",
    "expected_improvement",
    "get_function",
    "maximize_acquisition",
    "misspecified_figure",
    "misspecified_truth",
    "optimize",
    "random_search_expected_best",
    "replicate_variances",
    "spearman_study",
    "summary_table",
    "upper_confidence_bound",
]


def __getattr__(name: str) -> Any:
    if name in _EXPORTS:
        value = getattr(importlib.import_module(f"bayesuq.models.deup.{_EXPORTS[name]}"), name)
        globals()[name] = value
        return value
    raise AttributeError(f"module 'bayesuq.models.deup' has no attribute {name!r}")


def __dir__() -> list[str]:
    return __all__
