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

from bayesuq.lazy import lazy_exports

__getattr__, __dir__, __all__ = lazy_exports(
    __name__,
    {
        "BandwidthWarning": ".bandwidth",
        "CopulaClassifier": ".conditional",
        "CopulaDensity": ".density",
        "CopulaRegression": ".conditional",
        "bayesian_bootstrap": ".bootstrap",
        "convergence_trace": ".engine",
        "dirichlet_weights": ".bootstrap",
        "high_dim_gmm_data": ".study",
        "martingale_result": ".engine",
        "normal_demo_data": ".normal",
        "normal_exact": ".normal",
        "normal_martingale_posterior": ".normal",
        "polya_urn_weights": ".bootstrap",
        "predictive_resample": ".engine",
        "run_study": ".study",
        "toy_gmm_data": ".study",
        "weighted_mean": ".bootstrap",
    },
)
