"""Aggregate-data likelihoods: raw patient data plus published averages (Weber et al. 2018).

Weber, Gelman, Lee, Betancourt, Vehtari, Racine-Poon, "Bayesian aggregation of average
data: an application in drug development", Ann. Appl. Stat. 12(3), 2018.

* :func:`mvn_average_loglik`: the simulated MVN log-likelihood of published means for any
  JAX trajectory function;
* :func:`linear_model`, :func:`turnover_model`, :func:`amd_model`: NumPyro models built
  per likelihood mode (``"local"``, ``"full"``, ``"exact"`` (linear only), ``"approx"``;
  one dispatch, :func:`external_likelihood`), with simulators :func:`simulate_linear`,
  :func:`simulate_turnover`, :func:`simulate_amd` that refuse impossible designs;
* :func:`fit` (float64 by family choice, no global flag needed) and
  :func:`fit_with_simulation_noise_check`: independent ``xi`` per chain and the
  J_tilde / 2 J_tilde alternation as one :func:`bayesuq.nuts_many` program, judged by
  ``bayesuq.diagnose``;
* :func:`noise_study`, :func:`noise_band`: simulation noise of the approximation.
"""

from bayesuq.lazy import lazy_exports

__getattr__, __dir__, __all__ = lazy_exports(
    __name__,
    {
        "AMD_TRUTH": ".amd",
        "LIKELIHOODS": ".data",
        "LINEAR_TRUTH": ".linear",
        "NoiseStudy": ".noise",
        "Simulation": ".data",
        "TURNOVER_TRUTH": ".turnover",
        "amd_concentration": ".amd",
        "amd_design": ".amd",
        "amd_model": ".amd",
        "amd_trajectory": ".amd",
        "chain_designs": ".fitting",
        "check_simulation_size": ".likelihood",
        "draw_xi": ".likelihood",
        "external_likelihood": ".external",
        "fit": ".fitting",
        "fit_with_simulation_noise_check": ".fitting",
        "linear_average_logliks": ".linear",
        "linear_exact_loglik": ".linear",
        "linear_model": ".linear",
        "linear_trajectory": ".linear",
        "mvn_average_loglik": ".likelihood",
        "noise_band": ".noise",
        "noise_study": ".noise",
        "simulate_amd": ".amd",
        "simulate_linear": ".linear",
        "simulate_trajectories": ".likelihood",
        "simulate_turnover": ".turnover",
        "simulated_mvn_logpdf": ".likelihood",
        "turnover_model": ".turnover",
        "turnover_trajectory": ".turnover",
    },
)
