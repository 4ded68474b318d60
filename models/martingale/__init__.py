"""Martingale posteriors by predictive resampling (Fong, Holmes & Walker 2023).

Fong, E., Holmes, C. & Walker, S. G. (2023), "Martingale posterior distributions",
Journal of the Royal Statistical Society Series B 85(5), arXiv:2103.15671.

* :func:`predictive_resample` - the generic engine (``vmap`` over ``lax.scan``, chunked);
* :func:`bayesian_bootstrap` - the Polya-urn / Dirichlet special case, any statistic;
* :func:`normal_martingale_posterior` - the conjugate normal model (equals Bayes);
* :class:`CopulaDensity`, :class:`CopulaRegression`, :class:`CopulaClassifier` - copula
  predictives (float64 required);
* ``bayesuq martingale`` - the command that runs the case study.

All results are ``arviz.InferenceData`` with ``chain=1`` and ``draw=B``.
"""

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
    predictive_resample,
    to_inference_data,
)
from bayesuq.models.martingale.normal import (
    normal_demo_data,
    normal_exact,
    normal_martingale_posterior,
)

__all__ = [
    "CopulaClassifier",
    "CopulaDensity",
    "CopulaRegression",
    "add_cli",
    "bayesian_bootstrap",
    "convergence_trace",
    "dirichlet_weights",
    "normal_demo_data",
    "normal_exact",
    "normal_martingale_posterior",
    "polya_urn_weights",
    "predictive_resample",
    "to_inference_data",
    "weighted_mean",
]
