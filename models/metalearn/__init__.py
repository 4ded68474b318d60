"""Hierarchical Bayesian few-shot meta-learning with a Normal-Inverse-Wishart prior (NIW-Meta).

Kim, M. and Hospedales, T. (2024), "A Hierarchical Bayesian Model for Few-Shot Meta
Learning", ICLR 2024 (arXiv:2306.09702). See ``docs/metalearn.md``.
"""

from bayesuq.lazy import lazy_exports

__getattr__, __dir__, __all__ = lazy_exports(
    __name__,
    {
        "DIGITS": ".study",
        "Episodes": ".tasks",
        "Likelihood": ".likelihood",
        "MAML": ".maml",
        "NIW": ".niw",
        "NIWMeta": ".estimator",
        "NearestCentroid": ".protonet",
        "ProtoNet": ".protonet",
        "SINE": ".study",
        "StudySettings": ".study",
        "TaskSampler": ".tasks",
        "classification_metrics": ".evaluate",
        "digits_fewshot": ".tasks",
        "digits_study": ".study",
        "expected_kl": ".niw",
        "expected_log_det": ".niw",
        "expected_precision": ".niw",
        "fit_logit_scale": ".evaluate",
        "fit_hierarchical": ".hierarchical",
        "held_out_logit_scale": ".study",
        "linear_gaussian_model": ".hierarchical",
        "linear_gaussian_network": ".tasks",
        "linear_gaussian_tasks": ".tasks",
        "niw_kl": ".niw",
        "niw_mode": ".niw",
        "regression_metrics": ".evaluate",
        "sample_niw": ".niw",
        "sine_line_function": ".tasks",
        "sine_line_tasks": ".tasks",
        "sine_study": ".study",
        "vi_posterior": ".estimator",
    },
)
