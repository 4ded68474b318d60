"""Martingale posteriors by predictive resampling (Fong, Holmes & Walker 2023).

Fong, E., Holmes, C. & Walker, S. G. (2023), "Martingale posterior distributions",
Journal of the Royal Statistical Society Series B 85(5), arXiv:2103.15671.

* :func:`predictive_resample` - the generic engine (``vmap`` over ``lax.scan``, chunked);
* :func:`bayesian_bootstrap` - the Polya-urn / Dirichlet special case, any statistic;
* :func:`normal_martingale_posterior` - the conjugate normal model (equals Bayes);
* :class:`CopulaDensity`, :class:`CopulaRegression`, :class:`CopulaClassifier` - copula
  predictives (float32 by default, ``precision="float64"`` to override), with a robust
  bandwidth search that warns (:class:`BandwidthWarning`) when the fit ignores the data;
* :func:`run_study` and ``bayesuq martingale`` - the paper's experiments at small scale.

All results are ``arviz.InferenceData`` with ``chain=1`` and ``draw=B``, built through
:func:`bayesuq.infer.results.inference_data` with ``attrs["inference"]`` ``"martingale"``
(or ``"bayesian_bootstrap"``), the estimator in ``attrs["estimator"]`` and the
predictive-resampling convergence figures ``attrs["convergence_relative_change"]`` and
``attrs["convergence_threshold"]``.
"""

from bayesuq.models.martingale.bandwidth import BandwidthWarning
from bayesuq.models.martingale.bootstrap import (
    bayesian_bootstrap,
    dirichlet_weights,
    polya_urn_weights,
    weighted_mean,
)
from bayesuq.models.martingale.cli import add_cli
from bayesuq.models.martingale.conditional import CopulaClassifier, CopulaRegression
from bayesuq.models.martingale.density import CopulaDensity
from bayesuq.models.martingale.engine import (
    convergence_trace,
    martingale_result,
    predictive_resample,
)
from bayesuq.models.martingale.normal import (
    normal_demo_data,
    normal_exact,
    normal_martingale_posterior,
)
from bayesuq.models.martingale.study import high_dim_gmm_data, run_study, toy_gmm_data

__all__ = [
    "BandwidthWarning",
    "CopulaClassifier",
    "CopulaDensity",
    "CopulaRegression",
    "add_cli",
    "bayesian_bootstrap",
    "convergence_trace",
    "dirichlet_weights",
    "high_dim_gmm_data",
    "martingale_result",
    "normal_demo_data",
    "normal_exact",
    "normal_martingale_posterior",
    "polya_urn_weights",
    "predictive_resample",
    "run_study",
    "toy_gmm_data",
    "weighted_mean",
]
