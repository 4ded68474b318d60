"""PRESTO ordinal regression for rare events (Faletto & Bien 2023), penalised and Bayesian.

Faletto, G. and Bien, J. (2023), "Predicting Rare Events by Shrinking Towards Proportional
Odds", ICML, PMLR 202:9547-9602. See ``docs/presto.md``.
"""

from bayesuq.models.presto.bayesian import BayesianPresto, presto_model
from bayesuq.models.presto.cli import add_cli
from bayesuq.models.presto.estimators import CumulativeLogit, ProportionalOdds
from bayesuq.models.presto.penalised import Presto, presto_batch_rare_probs
from bayesuq.models.presto.simulate import (
    SimulatedData,
    simulate_dense_diffs,
    simulate_sparse_diffs,
)
from bayesuq.models.presto.study import plot_study, simulation_study, summarise_study

__all__ = [
    "BayesianPresto",
    "CumulativeLogit",
    "Presto",
    "ProportionalOdds",
    "SimulatedData",
    "add_cli",
    "plot_study",
    "presto_batch_rare_probs",
    "presto_model",
    "simulate_dense_diffs",
    "simulate_sparse_diffs",
    "simulation_study",
    "summarise_study",
]
