"""PRESTO ordinal regression for rare events (Faletto & Bien 2023), penalised and Bayesian.

Faletto, G. and Bien, J. (2023), "Predicting Rare Events by Shrinking Towards Proportional
Odds", ICML, PMLR 202:9547-9602. See ``docs/presto.md``.
"""

from bayesuq.lazy import lazy_exports

__getattr__, __dir__, __all__ = lazy_exports(
    __name__,
    {
        "BayesianPresto": ".bayesian",
        "CumulativeLogit": ".estimators",
        "Presto": ".penalised",
        "ProportionalOdds": ".estimators",
        "SimulatedData": ".simulate",
        "plot_study": ".study",
        "presto_batch_rare_probs": ".penalised",
        "presto_model": ".bayesian",
        "simulate_dense_diffs": ".simulate",
        "simulate_sparse_diffs": ".simulate",
        "simulation_study": ".study",
        "summarise_study": ".study",
    },
)
