"""The two benchmark studies behind ``bayesuq metalearn`` and the case studies.

* :func:`sine_study` - sine-or-line regression: NIW-Meta, MAML and first-order MAML on the
  same MLP 1-40-40-1 with the same number of meta-steps; test MSE (with its standard error
  over tasks), NLL and 90% interval coverage over held-out tasks.
* :func:`digits_study` - digits-fs ``ways``-way ``shots``-shot classification: NIW-Meta and
  ProtoNet on the same embedding (prototype classifiers), MAML and first-order MAML
  on the MLP 64-64-64-``ways``, and the raw-pixel nearest-centroid floor; accuracy with its
  95% interval over test episodes, NLL and ECE (15 bins), the trained methods' logits
  scaled by a factor fitted on held-out meta-training classes
  (:func:`held_out_logit_scale`).

Each returns a :class:`StudyResult`: the summary table (one row per ``method``), the raw
network outputs of every method on the test episodes, the fitted models and timings.
"""

from __future__ import annotations

import time
from dataclasses import dataclass, field, replace
from typing import Any

import numpy as np

from bayesuq.infer.arguments import check_choice
from bayesuq.models.metalearn.estimator import NIWMeta
from bayesuq.models.metalearn.evaluate import (
    calibrate_noise,
    classification_metrics,
    fit_logit_scale,
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
from bayesuq.nn import Network, cnn, inputs_and_features, mlp, residual_embedding

__all__ = [
    "CALIBRATIONS",
    "DIGITS",
    "DIGITS_EMBEDDINGS",
    "SINE",
    "StudyResult",
    "StudySettings",
    "digits_embedding",
    "digits_study",
    "held_out_logit_scale",
    "pixel_feature_norm",
    "sine_study",
]


CALIBRATIONS = ("none", "held_out_classes")


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
    method_fit: dict[str, dict[str, Any]] = field(default_factory=dict)
    shift: int = 0
    embedding: str = "residual"
    calibration: str = "none"
    validation_episodes: int = 300
    niw_by_shots: dict[int, dict[str, Any]] = field(default_factory=dict)

    def niw_options(self, shots: int) -> dict[str, Any]:
        """NIW-Meta's settings for ``shots``-shot episodes: ``niw`` with the entries of
        ``niw_by_shots[shots]`` in their place."""
        return {**self.niw, **self.niw_by_shots.get(shots, {})}

    def smoke(self) -> StudySettings:
        """A seconds-long version (for ``--smoke`` and the tests)."""
        return replace(
            self.with_steps(20), meta_batch=4, test_episodes=20, validation_episodes=20, draws=4
        )

    def with_steps(self, steps: int) -> StudySettings:
        """The same study with ``steps`` meta-steps and the study's ``meta_batch`` for every
        method (their own learning rates kept)."""
        own = {
            method: {k: v for k, v in fit.items() if k == "learning_rate"}
            for method, fit in self.method_fit.items()
        }
        return replace(self, steps=int(steps), method_fit=own)

    def fit_arguments(self, method: str) -> dict[str, Any]:
        """``steps``, ``meta_batch`` and ``learning_rate`` of ``method``'s ``fit``: the
        study's, with the method's entries of ``method_fit`` in their place."""
        shared = {
            "steps": self.steps,
            "meta_batch": self.meta_batch,
            "learning_rate": self.learning_rate,
        }
        own = self.method_fit.get(method, {})
        unknown = sorted(set(own) - set(shared))
        if unknown:
            raise ValueError(f"method_fit[{method!r}] may set {sorted(shared)}, got {unknown}")
        return {**shared, **own}


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
    shift=1,
    embedding="pixels_and_cnn",
    calibration="held_out_classes",
    niw={
        "head": "prototype",
        "surrogate": "laplace",
        "sgld_steps": 5,
        "step_scale": 1.0,
        "gamma0_init": 1e5,
        "test_rule": "train",
        "episode_data": "split",
    },
    niw_by_shots={
        5: {"surrogate": "sgld", "sgld_steps": 3, "step_scale": 1e-6, "episodes_at_once": 4}
    },
    maml={"inner_steps": 5, "inner_learning_rate": 0.5},
    method_fit={
        "niw_meta": {"steps": 150, "learning_rate": 5e-4},
        "protonet": {"steps": 150, "learning_rate": 5e-4},
    },
)
"""digits-fs defaults. Every method meta-trains on the same episodes, whose query images are
shifted by up to one pixel (``shift=1``). NIW-Meta in the paper's few-shot classification
set-up, the NIW prior on the backbone of a prototype classifier (``head="prototype"``), and
ProtoNet share the embedding ``[x, r g(x)/||g(x)||]`` of the pixels and a CNN with 64-64
channels (``embedding="pixels_and_cnn"``); both train for 150 meta-steps of 16 episodes
with Adam at 5e-4 (a CNN meta-step of NIW-Meta takes about 4.5 s on two cores). NIW-Meta:
the Laplace surrogate after 5 gradient steps on the support (``step_scale = 1.0``: ``eta/2``
per point on the summed cross-entropy equals MAML's 0.5 on the mean), data term on the
query (``episode_data="split"``), a tight initial prior (``gamma0_init = 1e5``: weight
draws of sd ~0.003; with ``1e3``, draws of sd ~0.03 are of the size of the CNN's
weights, and the global mean embedding reached 0.727 after 150 steps, against 0.828) and
the training rule at test time. At 5 shots NIW-Meta uses the paper's SGLD surrogate with
its README values (3 steps, ``step_scale = 1e-6``) and adapts 4 episodes at a time: the
Gauss-Newton diagonal of a prototype head back-propagates every one of the
``ways x shots`` logit rows of the support through the whole support set, so its cost grows
with the square of the shots (a 5-shot meta-step took 183 s against 11 s with SGLD, both
measured while sharing the two cores). MAML and first-order MAML: the
MLP 64-64-64-5 with 5 inner steps of 0.5, 2000 meta-steps at 1e-3 (a CNN meta-step of
second-order MAML takes 4.4 s, so 2000 of them would take 2.5 hours). The four trained
methods' logits are scaled by a factor fitted on held-out classes
(``calibration="held_out_classes"``, :func:`held_out_logit_scale`); the floor fits its
own temperature."""


@dataclass
class StudyResult:
    """A study's summary table, the test episodes, each method's outputs, models, timings."""

    summary: Any
    episodes: Episodes
    outputs: dict[str, np.ndarray]
    models: dict[str, Any]
    seconds: dict[str, float]
    settings: StudySettings


def _predict_options(name: str, settings: StudySettings) -> dict[str, Any]:
    return {"draws": settings.draws} if name == "niw_meta" else {}


def _run_methods(
    models,
    train,
    test,
    settings: StudySettings,
    progress: bool,
    metrics,
    methods=None,
    train_for=None,
    calibrate=None,
):
    """Fit every method on ``train``, predict the ``test`` episodes, score with ``metrics``.

    ``models``: a fresh model of each method by name (a mapping of zero-argument
    builders); ``methods``: the names to run (default: all); ``train_for``: a method's own
    training tasks, in place of ``train``; ``calibrate(name, build)``: the logit scale of a
    fitted method (``None`` for one that is not scaled), set before it predicts.
    """
    import pandas as pd

    if methods is not None:
        unknown = sorted(set(methods) - set(models))
        if unknown:
            raise ValueError(f"methods must be among {sorted(models)}, got {unknown}")
        models = {name: build for name, build in models.items() if name in methods}
    seconds: dict[str, float] = {}
    outputs, rows, fitted = {}, [], {}
    for name, build in models.items():
        model = build()
        start = time.perf_counter()
        tasks = (train_for or {}).get(name, train)
        model.fit(tasks, **settings.fit_arguments(name), progress=progress)
        seconds[f"{name}_fit"] = time.perf_counter() - start
        if calibrate is not None:
            start = time.perf_counter()
            scale = calibrate(name, build)
            if scale is not None:
                model.logit_scale = scale
                seconds[f"{name}_calibration"] = time.perf_counter() - start
        start = time.perf_counter()
        out = model.predict_outputs(
            test.support_x, test.support_y, test.query_x, **_predict_options(name, settings)
        )
        seconds[f"{name}_predict"] = time.perf_counter() - start
        outputs[name], fitted[name] = out, model
        rows.append({"method": name, **metrics(model, out)})
    return StudyResult(pd.DataFrame(rows), test, outputs, fitted, seconds, settings)


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
    if settings.calibration != "none":
        raise ValueError("calibration applies to classification (digits_study) only")
    net = mlp((1, 40, 40, 1))
    models = {
        "niw_meta": lambda: NIWMeta(net, seed=settings.seed, **settings.niw_options(shots)),
        "maml": lambda: MAML(net, seed=settings.seed, **settings.maml),
        "maml_first_order": lambda: MAML(
            net, seed=settings.seed, first_order=True, **settings.maml
        ),
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


DIGITS_EMBEDDINGS = ("residual", "pixels_and_cnn")


def pixel_feature_norm(tasks: TaskSampler, *, pairs: int = 4000, seed: int = 0) -> float:
    """``sqrt(median ||x_i - x_j||^2 / 2)`` over random pairs of a digits sampler's images.

    The length given to the learned features of :func:`bayesuq.nn.inputs_and_features`, so
    their squared distances (at most ``2 r^2``) are on the scale of the raw pixels'. Only
    the sampler's own images are used (the meta-training digits for the study).
    """
    pools, counts = np.asarray(tasks.data["pools"]), np.asarray(tasks.data["counts"])
    images = np.concatenate([pools[c, :n] for c, n in enumerate(counts)])
    first, second = np.random.default_rng(seed).integers(0, len(images), (2, pairs))
    squared = np.sum((images[first] - images[second]) ** 2, axis=1)
    return float(np.sqrt(np.median(squared) / 2.0))


def digits_embedding(kind: str, tasks: TaskSampler) -> Network:
    """The prototype methods' embedding of 8x8 digits.

    ``"residual"``: :func:`bayesuq.nn.residual_embedding` ``64 -> 64 -> 64`` (starts as the
    raw-pixel rule). ``"pixels_and_cnn"``: :func:`bayesuq.nn.inputs_and_features` of the
    pixels and a :func:`bayesuq.nn.cnn` with 64-64 channels and 64 features, their length
    from :func:`pixel_feature_norm` of ``tasks`` (the meta-training sampler).
    """
    check_choice("embedding", kind, DIGITS_EMBEDDINGS)
    if kind == "residual":
        return residual_embedding(64, (64,))
    features = cnn((8, 8, 1), 64, channels=(64, 64))
    return inputs_and_features(features, feature_norm=pixel_feature_norm(tasks))


def held_out_logit_scale(
    build,
    name: str,
    settings: StudySettings,
    *,
    ways: int = 5,
    shots: int = 1,
    progress: bool = False,
) -> float:
    """A method's logit scale for new classes, cross-fitted on held-out training classes.

    A fresh model from ``build()`` meta-trains as the study's ``name`` does (same
    settings, seed and augmentation) on the 15 classes of
    ``digits_fewshot("train_without_validation")``; the factor ``tau`` that maximises its
    predictive likelihood on ``settings.validation_episodes`` episodes of the 5 held-out
    classes (``digits_fewshot("validation")``, seed ``settings.seed + 3``) is
    :func:`~bayesuq.models.metalearn.evaluate.fit_logit_scale`'s. The study's model,
    trained on all 20 classes, then predicts with that ``tau``: the factor is chosen on
    classes the copy never saw, and the final fit uses every class (as a hyperparameter
    chosen on a validation split is then used for a refit on train plus validation).
    The test classes are never used. Needs ``ways <= 5``. (In the digits study the copy
    shares the study's embedding, whose one scalar ``r`` (:func:`pixel_feature_norm`) is
    computed from the images of all 20 classes.)
    """
    train = digits_fewshot(
        "train_without_validation", ways=ways, shots=shots, queries=15, shift=settings.shift
    )
    validation = digits_fewshot("validation", ways=ways, shots=shots, queries=15).sample(
        settings.seed + 3, settings.validation_episodes
    )
    model = build()
    model.fit(train, **settings.fit_arguments(name), progress=progress)
    outputs = model.predict_outputs(
        validation.support_x,
        validation.support_y,
        validation.query_x,
        **_predict_options(name, settings),
    )
    return fit_logit_scale(outputs, validation.query_y)


def digits_study(
    settings: StudySettings = DIGITS,
    *,
    ways: int = 5,
    shots: int = 1,
    progress: bool = True,
    methods: tuple[str, ...] | None = None,
) -> StudyResult:
    """digits-fs ``ways``-way ``shots``-shot: NIW-Meta, MAML, FOMAML, ProtoNet, nearest centroid.

    Summary columns: ``method``, ``accuracy``, ``accuracy_ci95`` (fractions), ``nll``,
    ``ece``; with ``settings.calibration="held_out_classes"`` also ``logit_scale`` (1 for
    the floor, which fits its own temperature) and ``nll_uncalibrated``,
    ``ece_uncalibrated`` (the logits as trained).
    """
    check_choice("calibration", settings.calibration, CALIBRATIONS)
    train = digits_fewshot("train", ways=ways, shots=shots, queries=15, shift=settings.shift)
    # The floor learns only a temperature; fitted on shifted queries it would be set for
    # harder episodes than the test's, so it sees the episodes as they are.
    plain = digits_fewshot("train", ways=ways, shots=shots, queries=15)
    test = digits_fewshot("test", ways=ways, shots=shots, queries=15).sample(
        settings.seed + 1000, settings.test_episodes
    )
    net = mlp((64, 64, 64, ways))
    embedding = digits_embedding(settings.embedding, train)
    niw = settings.niw_options(shots)
    niw_net = embedding if niw.get("head") == "prototype" else net
    models = {
        "niw_meta": lambda: NIWMeta(niw_net, seed=settings.seed, **niw),
        "maml": lambda: MAML(net, seed=settings.seed, **settings.maml),
        "maml_first_order": lambda: MAML(
            net, seed=settings.seed, first_order=True, **settings.maml
        ),
        "protonet": lambda: ProtoNet(embedding, seed=settings.seed),
        "nearest_centroid": lambda: NearestCentroid(seed=settings.seed),
    }

    def calibrate(name, build):
        if settings.calibration == "none" or name == "nearest_centroid":
            return None
        return held_out_logit_scale(
            build, name, settings, ways=ways, shots=shots, progress=progress
        )

    def metrics(model, out):
        row = classification_metrics(out, test.query_y)
        if settings.calibration == "none":
            return row
        scale = float(getattr(model, "logit_scale", 1.0))
        raw = classification_metrics(np.asarray(out) / scale, test.query_y)
        return {
            **row,
            "logit_scale": scale,
            "nll_uncalibrated": raw["nll"],
            "ece_uncalibrated": raw["ece"],
        }

    return _run_methods(
        models,
        train,
        test,
        settings,
        progress,
        metrics,
        methods,
        train_for={"nearest_centroid": plain},
        calibrate=calibrate,
    )
