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

from bayesuq.models.aggregate.amd import (
    AMD_TRUTH,
    amd_concentration,
    amd_design,
    amd_model,
    amd_trajectory,
    simulate_amd,
)
from bayesuq.models.aggregate.cli import add_cli
from bayesuq.models.aggregate.data import LIKELIHOODS, Simulation
from bayesuq.models.aggregate.external import external_likelihood
from bayesuq.models.aggregate.fitting import (
    chain_designs,
    fit,
    fit_with_simulation_noise_check,
)
from bayesuq.models.aggregate.likelihood import (
    check_simulation_size,
    draw_xi,
    mvn_average_loglik,
    simulate_trajectories,
    simulated_mvn_logpdf,
)
from bayesuq.models.aggregate.linear import (
    LINEAR_TRUTH,
    linear_average_logliks,
    linear_exact_loglik,
    linear_model,
    linear_trajectory,
    simulate_linear,
)
from bayesuq.models.aggregate.noise import NoiseStudy, noise_band, noise_study
from bayesuq.models.aggregate.turnover import (
    TURNOVER_TRUTH,
    simulate_turnover,
    turnover_model,
    turnover_trajectory,
)

__all__ = [
    "AMD_TRUTH",
    "LIKELIHOODS",
    "LINEAR_TRUTH",
    "TURNOVER_TRUTH",
    "NoiseStudy",
    "Simulation",
    "add_cli",
    "amd_concentration",
    "amd_design",
    "amd_model",
    "amd_trajectory",
    "chain_designs",
    "check_simulation_size",
    "draw_xi",
    "external_likelihood",
    "fit",
    "fit_with_simulation_noise_check",
    "linear_average_logliks",
    "linear_exact_loglik",
    "linear_model",
    "linear_trajectory",
    "mvn_average_loglik",
    "noise_band",
    "noise_study",
    "simulate_amd",
    "simulate_linear",
    "simulate_trajectories",
    "simulate_turnover",
    "simulated_mvn_logpdf",
    "turnover_model",
    "turnover_trajectory",
]
