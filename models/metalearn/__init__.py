"""Hierarchical Bayesian few-shot meta-learning with a Normal-Inverse-Wishart prior (NIW-Meta).

Kim, M. and Hospedales, T. (2024), "A Hierarchical Bayesian Model for Few-Shot Meta
Learning", ICLR 2024 (arXiv:2306.09702). See ``docs/metalearn.md``.
"""

from bayesuq.models.metalearn.cli import add_cli
from bayesuq.models.metalearn.estimator import NIWMeta, vi_posterior
from bayesuq.models.metalearn.evaluate import classification_metrics, regression_metrics
from bayesuq.models.metalearn.hierarchical import fit_hierarchical, linear_gaussian_model
from bayesuq.models.metalearn.likelihood import Likelihood
from bayesuq.models.metalearn.maml import MAML
from bayesuq.models.metalearn.niw import (
    NIW,
    expected_kl,
    expected_log_det,
    expected_precision,
    niw_kl,
    niw_mode,
    sample_niw,
)
from bayesuq.models.metalearn.protonet import NearestCentroid, ProtoNet
from bayesuq.models.metalearn.study import DIGITS, SINE, StudySettings, digits_study, sine_study
from bayesuq.models.metalearn.tasks import (
    Episodes,
    TaskSampler,
    digits_fewshot,
    linear_gaussian_network,
    linear_gaussian_tasks,
    sine_line_function,
    sine_line_tasks,
)

__all__ = [
    "DIGITS",
    "MAML",
    "NIW",
    "SINE",
    "Episodes",
    "Likelihood",
    "NIWMeta",
    "NearestCentroid",
    "ProtoNet",
    "StudySettings",
    "TaskSampler",
    "add_cli",
    "classification_metrics",
    "digits_fewshot",
    "digits_study",
    "expected_kl",
    "expected_log_det",
    "expected_precision",
    "fit_hierarchical",
    "linear_gaussian_model",
    "linear_gaussian_network",
    "linear_gaussian_tasks",
    "niw_kl",
    "niw_mode",
    "regression_metrics",
    "sample_niw",
    "sine_line_function",
    "sine_line_tasks",
    "sine_study",
    "vi_posterior",
]
