"""The two benchmark studies behind ``bayesuq metalearn`` and the case studies.

* :func:`sine_study` - sine-or-line regression: NIW-Meta, MAML and first-order MAML on the
  same MLP 1-40-40-1 with the same number of meta-steps; test MSE (with its standard error
  over tasks), NLL and 90% interval coverage over held-out tasks.
* :func:`digits_study` - digits-fs ``ways``-way ``shots``-shot classification: NIW-Meta and
  ProtoNet on the same residual embedding (prototype classifiers), MAML and first-order MAML
  on the MLP 64-64-64-``ways``, and the raw-pixel nearest-centroid floor; accuracy with its
  95% interval over test episodes, NLL and ECE (15 bins).

Each returns a :class:`StudyResult`: the summary table (one row per ``method``), the raw
network outputs of every method on the test episodes, the fitted models and timings.
"""

from __future__ import annotations

import time
from dataclasses import dataclass, field, replace
from typing import Any

import numpy as np

from bayesuq.models.metalearn.estimator import NIWMeta
from bayesuq.models.metalearn.evaluate import (
    calibrate_noise,
    classification_metrics,
    regression_metrics,
)
from bayesuq.models.metalearn.maml import MAML
from bayesuq.models.metalearn.protonet import NearestCentroid, ProtoNet
from bayesuq.models.metalearn.tasks import (
    Episodes,
    TaskSampler,
    digits_fewshot,
    sine_line_tasks,
)
from bayesuq.nn import mlp, residual_embedding

__all__ = ["DIGITS", "SINE", "StudyResult", "StudySettings", "digits_study", "sine_study"]


@dataclass(frozen=True)
class StudySettings:
    """Sizes and hyperparameters of a study (the defaults are the documented full run)."""

    steps: int = 3000
    meta_batch: int = 16
    learning_rate: float = 1e-3
    test_episodes: int = 600
    draws: int = 30
    seed: int = 0
    niw: dict[str, Any] = field(default_factory=dict)
    maml: dict[str, Any] = field(default_factory=dict)

    def smoke(self) -> StudySettings:
        """A seconds-long version (for ``--smoke`` and the tests)."""
        return replace(self, steps=20, meta_batch=4, test_episodes=20, draws=4)


SINE = StudySettings(
    niw={
        "surrogate": "laplace",
        "sgld_steps": 5,
        "step_scale": 0.004,
        "gamma0_init": 100.0,
        "test_rule": "vi",
        "vi_steps": 20,
    },
    maml={"inner_steps": 5, "inner_learning_rate": 0.01},
)
"""Sine-line defaults: 3000 meta-steps of 16 tasks; NIW-Meta with the Laplace surrogate after
five gradient steps of MAML's size (``step_scale = 0.004``: the summed NLL with noise 0.3
makes ``eta/2`` per point equal to MAML's 0.01 on the MSE, up to a factor 1.1)."""

DIGITS = StudySettings(
    steps=2000,
    niw={
        "head": "prototype",
        "surrogate": "laplace",
        "sgld_steps": 5,
        "step_scale": 1.0,
        "gamma0_init": 1000.0,
        "test_rule": "train",
        "episode_data": "split",
    },
    maml={"inner_steps": 5, "inner_learning_rate": 0.5},
)
"""digits-fs defaults: 2000 meta-steps of 16 episodes. NIW-Meta with the paper's few-shot
classification set-up, the NIW prior on the backbone of a prototype classifier
(``head="prototype"``) on the residual embedding 64 -> 64 -> 64 that ProtoNet also uses; the
Laplace surrogate after 5 gradient steps on the support (``step_scale = 1.0``: ``eta/2`` per
point on the summed cross-entropy equals MAML's 0.5 on the mean), data term on the query
(``episode_data="split"``) and the training rule at test time (the paper's VI rule is
listed in ``docs/metalearn.md``). MAML: the MLP 64-64-64-5 with 5 inner steps of 0.5."""


@dataclass
class StudyResult:
    """A study's summary table, the test episodes, each method's outputs, models, timings."""

    summary: Any
    episodes: Episodes
    outputs: dict[str, np.ndarray]
    models: dict[str, Any]
    seconds: dict[str, float]
    settings: StudySettings


def _fit(model, tasks, settings: StudySettings, progress: bool, seconds: dict, name: str):
    start = time.perf_counter()
    model.fit(
        tasks,
        steps=settings.steps,
        meta_batch=settings.meta_batch,
        learning_rate=settings.learning_rate,
        progress=progress,
    )
    seconds[f"{name}_fit"] = time.perf_counter() - start
    return model


def _run_methods(
    models, train, test, settings: StudySettings, progress: bool, metrics, methods=None
):
    """Fit every method on ``train``, predict the ``test`` episodes, score with ``metrics``.

    ``methods``: the names to run (default: all of ``models``).
    """
    import pandas as pd

    if methods is not None:
        unknown = sorted(set(methods) - set(models))
        if unknown:
            raise ValueError(f"methods must be among {sorted(models)}, got {unknown}")
        models = {name: model for name, model in models.items() if name in methods}
    seconds: dict[str, float] = {}
    outputs, rows = {}, []
    for name, model in models.items():
        _fit(model, train, settings, progress, seconds, name)
        start = time.perf_counter()
        draws = {"draws": settings.draws} if name == "niw_meta" else {}
        out = model.predict_outputs(test.support_x, test.support_y, test.query_x, **draws)
        seconds[f"{name}_predict"] = time.perf_counter() - start
        outputs[name] = out
        rows.append({"method": name, **metrics(model, out)})
    return StudyResult(pd.DataFrame(rows), test, outputs, models, seconds, settings)


def predictive_noise(model, train: TaskSampler, settings: StudySettings) -> float:
    """The noise sd of a regression method's predictive, fitted on meta-training episodes.

    NIW-Meta fits its own at the end of ``fit`` (``predictive_noise="fit"``); a baseline
    gets the same fit here (:func:`~bayesuq.models.metalearn.evaluate.calibrate_noise`, the
    same number of episodes and seed), so every method's bands are calibrated alike.
    """
    fitted = getattr(model, "predictive_noise_", None)
    if fitted is not None:
        return float(fitted)
    return calibrate_noise(model, train, seed=settings.seed + 2)


def sine_study(
    settings: StudySettings = SINE,
    *,
    shots: int = 5,
    progress: bool = True,
    methods: tuple[str, ...] | None = None,
) -> StudyResult:
    """Sine-line ``shots``-shot regression: NIW-Meta vs MAML vs first-order MAML.

    Training tasks have 15 query points, test tasks 100 (spec section 6); the summary
    columns are ``method``, ``mse``, ``mse_se``, ``nll`` (per query point) and ``coverage90``
    with each method's predictive noise fitted on meta-training episodes
    (:func:`predictive_noise`; column ``noise``), and ``nll_known_noise`` and
    ``coverage90_known_noise`` with the data's known noise sd (the paper's predictive).
    """

    train = sine_line_tasks(shots=shots, queries=15)
    test = sine_line_tasks(shots=shots, queries=100).sample(
        settings.seed + 1000, settings.test_episodes
    )
    net = mlp((1, 40, 40, 1))
    models = {
        "niw_meta": NIWMeta(net, seed=settings.seed, **settings.niw),
        "maml": MAML(net, seed=settings.seed, **settings.maml),
        "maml_first_order": MAML(net, seed=settings.seed, first_order=True, **settings.maml),
    }

    def metrics(model, out):
        noise = predictive_noise(model, train, settings)
        known = regression_metrics(out, test.query_y, train.likelihood.noise)
        return {
            **regression_metrics(out, test.query_y, noise),
            "noise": noise,
            "nll_known_noise": known["nll"],
            "coverage90_known_noise": known["coverage90"],
        }

    return _run_methods(models, train, test, settings, progress, metrics, methods)


def digits_study(
    settings: StudySettings = DIGITS,
    *,
    ways: int = 5,
    shots: int = 1,
    progress: bool = True,
    methods: tuple[str, ...] | None = None,
) -> StudyResult:
    """digits-fs ``ways``-way ``shots``-shot: NIW-Meta, MAML, FOMAML, ProtoNet, nearest centroid.

    Summary columns: ``method``, ``accuracy``, ``accuracy_ci95`` (fractions), ``nll``, ``ece``.
    """

    train = digits_fewshot("train", ways=ways, shots=shots, queries=15)
    test = digits_fewshot("test", ways=ways, shots=shots, queries=15).sample(
        settings.seed + 1000, settings.test_episodes
    )
    net = mlp((64, 64, 64, ways))
    embedding = residual_embedding(64, (64,))
    niw_net = embedding if settings.niw.get("head") == "prototype" else net
    models = {
        "niw_meta": NIWMeta(niw_net, seed=settings.seed, **settings.niw),
        "maml": MAML(net, seed=settings.seed, **settings.maml),
        "maml_first_order": MAML(net, seed=settings.seed, first_order=True, **settings.maml),
        "protonet": ProtoNet(embedding, seed=settings.seed),
        "nearest_centroid": NearestCentroid(seed=settings.seed),
    }
    return _run_methods(
        models,
        train,
        test,
        settings,
        progress,
        lambda model, out: classification_metrics(out, test.query_y),
        methods,
    )
