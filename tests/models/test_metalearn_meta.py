"""NIW-Meta as a meta-learner: memory vs MAML, no recompilation, the InferenceData contract,
clear errors, the task generators, the CLI, and (under -m slow) the benchmark claims."""

from __future__ import annotations

from dataclasses import replace

import jax
import jax.numpy as jnp
import numpy as np
import pytest

from bayesuq.cli import build_parser, main
from bayesuq.models.metalearn import (
    DIGITS,
    MAML,
    NearestCentroid,
    NIWMeta,
    ProtoNet,
    digits_fewshot,
    sine_line_tasks,
)
from bayesuq.models.metalearn.cost import meta_step_cost
from bayesuq.models.metalearn.estimator import PREDICT_TASKS_AT_ONCE
from bayesuq.models.metalearn.evaluate import (
    classification_metrics,
    fit_logit_scale,
    fit_noise,
    regression_metrics,
)
from bayesuq.models.metalearn.study import held_out_logit_scale
from bayesuq.models.metalearn.tasks import (
    TEST_DIGITS,
    TRAIN_DIGITS,
    VALIDATION_CLASSES,
    shift_images,
)
from bayesuq.nn import mlp

SMALL = mlp((1, 8, 8, 1))  # cheap to compile: the mechanics, not the statistics


@pytest.fixture(scope="module")
def sine():
    return sine_line_tasks(shots=5, queries=15)


@pytest.fixture(scope="module")
def fitted(sine):
    model = NIWMeta(
        SMALL,
        surrogate="sgld",
        sgld_steps=3,
        step_scale=0.004,
        gamma0_init=100.0,
        vi_steps=3,
        seed=0,
    )
    return model.fit(sine, steps=30, meta_batch=4, learning_rate=1e-3, progress=False)


def test_memory_is_flat_in_sgld_steps_and_grows_for_second_order_maml(sine):
    """XLA's compiled scratch memory of one meta-gradient: NIW-Meta's is the same at 3 and 30
    SGLD steps (within 5%); second-order MAML's grows more than fivefold from 3 to 30 inner
    steps (observed ~5.4x on the 1-40-40-1 MLP)."""
    episodes = sine.sample(0, 4)
    lik = sine.likelihood
    cost = {
        (method, k): meta_step_cost(method, SMALL, lik, episodes, k, repeats=1)["temp_bytes"]
        for method in ("niw_meta", "maml")
        for k in (3, 30)
    }
    assert cost["niw_meta", 30] <= 1.05 * cost["niw_meta", 3], cost
    assert cost["maml", 30] > 5 * cost["maml", 3], cost


def test_no_recompilation_across_meta_steps_or_predict_calls(fitted, sine):
    ((step, _),) = [v for k, v in fitted._programs.items() if k[0] == "train"]
    assert step._cache_size() == 1  # 30 meta-steps, one program
    fitted.fit(sine, steps=5, meta_batch=4, learning_rate=1e-3, progress=False)
    assert step._cache_size() == 1  # a refit with the same shapes reuses it
    test = sine.sample(7, 3)
    a = fitted.predict(test.support_x, test.support_y, test.query_x, draws=5, seed=1)
    other = sine.sample(8, 3)
    fitted.predict(other.support_x, other.support_y, other.query_x, draws=5, seed=2)
    (predict,) = [v for k, v in fitted._programs.items() if k[:2] == ("predict", 5)]
    assert predict._cache_size() == 1
    b = fitted.predict(test.support_x, test.support_y, test.query_x, draws=5, seed=1)
    np.testing.assert_array_equal(a.posterior_predictive["f"], b.posterior_predictive["f"])


def test_predict_memory_does_not_grow_with_the_number_of_tasks(fitted, sine):
    """XLA's compiled scratch memory of the predict program (50 draws): tasks run in groups
    of ``PREDICT_TASKS_AT_ONCE``, so 256 tasks need at most 1.5x the scratch of one group
    (observed 1.21x; one vectorised call over all tasks needed 16x)."""
    program = fitted._predict_program(50)

    def scratch(n_tasks):
        t = sine.sample(1, n_tasks)
        args = (jnp.asarray(a, float) for a in (t.support_x, t.support_y, t.query_x))
        compiled = program.lower(fitted.params_, *args, jax.random.PRNGKey(0)).compile()
        return compiled.memory_analysis().temp_size_in_bytes

    one_group, many = scratch(PREDICT_TASKS_AT_ONCE), scratch(16 * PREDICT_TASKS_AT_ONCE)
    assert many <= 1.5 * one_group, (one_group, many)


def test_episodes_at_once_gives_the_same_meta_gradient_in_less_memory(sine):
    """A meta-batch of 16 in groups of 2 (jax.lax.map): the same meta-loss and gradient as
    one vectorised call (same keys; float32 tolerance), and XLA's compiled scratch memory of
    the gradient is smaller (observed: see the assertion's message)."""
    from bayesuq.models.metalearn.episode import meta_loss

    net = mlp((1, 32, 32, 1))
    episodes = sine.sample(4, 16)._replace(truth=None)
    models = {n: NIWMeta(net, surrogate="laplace", episodes_at_once=n) for n in (None, 2)}
    for model in models.values():
        model.fit(sine, steps=1, meta_batch=2, progress=False)
    params, prior = models[None].params_, models[None]._prior()
    results, scratch = {}, {}
    for n, model in models.items():

        def loss(p, model=model):
            config = model.config
            return meta_loss(
                p,
                prior,
                100.0,
                episodes,
                jax.random.PRNGKey(3),
                apply=net.apply,
                likelihood=model.likelihood,
                config=config,
            )[0]

        program = jax.jit(jax.value_and_grad(loss))
        results[n] = program(params)
        scratch[n] = program.lower(params).compile().memory_analysis().temp_size_in_bytes
    (value, grad), (value2, grad2) = results[None], results[2]
    np.testing.assert_allclose(value2, value, rtol=1e-5)
    for a, b in zip(jax.tree.leaves(grad2), jax.tree.leaves(grad), strict=True):
        np.testing.assert_allclose(a, b, rtol=1e-4, atol=1e-5)
    assert scratch[2] < 0.5 * scratch[None], scratch
    with pytest.raises(ValueError, match="episodes_at_once"):
        NIWMeta(net, episodes_at_once=0)


def test_fit_noise_recovers_the_residual_sd_and_calibrates_the_bands():
    """Outputs that scatter around the truth, observations with noise 0.7: the fitted
    predictive noise is 0.7 within 3% and its 90% bands cover 0.90 +- 0.02 of new points."""
    rng = np.random.default_rng(0)
    truth = rng.normal(size=(200, 1, 30))
    outputs = (truth + 0.05 * rng.normal(size=(200, 20, 30)))[..., None]
    query_y = truth[:, 0] + 0.7 * rng.normal(size=(200, 30))
    noise = fit_noise(outputs, query_y)
    assert noise == pytest.approx(0.7, rel=0.03)
    fresh_y = truth[:, 0] + 0.7 * rng.normal(size=(200, 30))
    coverage = regression_metrics(outputs, fresh_y, noise)["coverage90"]
    assert coverage == pytest.approx(0.90, abs=0.02)


def test_predictive_noise_is_fitted_known_or_given_and_recorded(fitted, sine):
    """The default fits the predictive noise on meta-training episodes; draws of ``y`` use it
    and ``attrs`` record it. ``"known"`` keeps the data's noise sd; bad values are refused."""
    assert fitted.predictive_noise_ > 0.3  # the adapted small MLP misfits: wider than the noise
    test = sine.sample(3, 4)
    idata = fitted.predict(test.support_x, test.support_y, test.query_x, draws=200, seed=3)
    assert idata.attrs["predictive_noise"] == fitted.predictive_noise_
    assert idata.attrs["predictive_noise_rule"] == "fit"
    pp = idata.posterior_predictive
    sd = float((pp["y"] - pp["f"]).std())
    assert sd == pytest.approx(fitted.predictive_noise_, rel=0.05)
    known = NIWMeta(SMALL, predictive_noise="known", gamma0_init=100.0, vi_steps=1)
    known.fit(sine, steps=2, meta_batch=2, progress=False)
    assert known.predictive_noise_ == pytest.approx(0.3)
    for bad in ("auto", -1.0, 0.0):
        with pytest.raises(ValueError, match="predictive_noise"):
            NIWMeta(SMALL, predictive_noise=bad)


@pytest.mark.parametrize("rule", ["vi", pytest.param("train", marks=pytest.mark.slow)])
def test_predict_returns_named_draws_and_records_the_test_rule(fitted, sine, rule):
    fitted.test_rule = rule
    test = sine.sample(3, 2)
    idata = fitted.predict(test.support_x, test.support_y, test.query_x, draws=6)
    fitted.test_rule = "vi"
    assert idata.attrs["inference"] == "niw_meta"
    assert idata.attrs["test_rule"] == rule
    assert idata.attrs["estimator"] == "NIWMeta" and idata.attrs["surrogate"] == "sgld"
    for name in ("f", "y"):
        arr = idata.posterior_predictive[name]
        assert arr.dims == ("chain", "draw", "task", "query")
        assert arr.shape == (1, 6, 2, 15)
        assert np.all(np.isfinite(arr.values))
    assert idata.constant_data["query_x"].dims == ("task", "query", "feature")


def test_fit_logit_scale_recovers_the_scale_the_labels_were_drawn_with():
    """Labels drawn from ``softmax(0.4 f)``: the fitted factor is 0.4 within 5% (12 000
    labels), it brings the ECE of the overconfident ``f`` under 0.02, and does not change
    the accuracy; repeated identical draws give the same factor; non-finite outputs are
    refused."""
    rng = np.random.default_rng(3)
    logits = 3.0 * rng.normal(size=(400, 1, 30, 5))
    probs = np.exp(0.4 * logits) / np.exp(0.4 * logits).sum(-1, keepdims=True)
    labels = (rng.uniform(size=(400, 30, 1)) > np.cumsum(probs[:, 0], -1)).sum(-1)
    scale = fit_logit_scale(logits, labels)
    assert scale == pytest.approx(0.4, rel=0.05)
    assert fit_logit_scale(np.repeat(logits, 3, axis=1), labels) == pytest.approx(scale, rel=1e-4)
    raw = classification_metrics(logits, labels)
    scaled = classification_metrics(scale * logits, labels)
    assert raw["ece"] > 0.1 and scaled["ece"] < 0.02
    assert scaled["accuracy"] == raw["accuracy"]
    with pytest.raises(ValueError, match="non-finite"):
        fit_logit_scale(np.where(logits > 5, np.nan, logits), labels)


def test_logit_scale_multiplies_the_logits_of_every_classifier_without_recompiling():
    """NIW-Meta, MAML and ProtoNet: ``logit_scale = 2`` doubles the outputs of the same fitted
    model, NIW-Meta records it in ``attrs`` and compiles nothing new; a non-positive scale
    is refused."""
    tasks = digits_fewshot("train", ways=3, shots=1, queries=2)
    test = digits_fewshot("test", ways=3, shots=1, queries=2).sample(0, 2)
    args = (test.support_x, test.support_y, test.query_x)
    niw = NIWMeta(mlp((64, 4, 3)), surrogate="sgld", test_rule="train", seed=1)
    models = [
        niw.fit(tasks, steps=2, meta_batch=2, progress=False),
        MAML(mlp((64, 4, 3)), inner_steps=1).fit(tasks, steps=2, meta_batch=2, progress=False),
        ProtoNet(mlp((64, 4))).fit(tasks, steps=2, meta_batch=2, progress=False),
    ]
    for model in models:
        options = {"draws": 3} if model is niw else {}
        plain = model.predict_outputs(*args, **options)
        programs = len(model._programs)
        model.logit_scale = 2.0
        np.testing.assert_allclose(model.predict_outputs(*args, **options), 2.0 * plain)
        assert len(model._programs) == programs
    assert niw.predict(*args, draws=3).attrs["logit_scale"] == 2.0
    with pytest.raises(ValueError, match="logit_scale"):
        NIWMeta(SMALL, logit_scale=0.0)


def test_held_out_logit_scale_fits_a_copy_trained_without_the_validation_classes():
    """The cross-fitted factor is that of a copy trained on the 15 classes outside the
    validation split and scored on validation episodes only: recomputed here by hand, it
    is the same number, and a copy trained on all 20 classes gives another."""
    settings = replace(DIGITS.smoke().with_steps(3), validation_episodes=8)

    def build():
        return ProtoNet(mlp((64, 8)), seed=0)

    scale = held_out_logit_scale(build, "protonet", settings)
    validation = digits_fewshot("validation").sample(settings.seed + 3, 8)
    args = (validation.support_x, validation.support_y, validation.query_x)
    fit = settings.fit_arguments("protonet")
    for split, same in (("train_without_validation", True), ("train", False)):
        model = build().fit(digits_fewshot(split, shift=settings.shift), **fit, progress=False)
        by_hand = fit_logit_scale(model.predict_outputs(*args), validation.query_y)
        assert (by_hand == pytest.approx(scale, rel=1e-5)) is same


def test_classification_predict_has_a_class_dim():
    tasks = digits_fewshot("train", ways=3, shots=1, queries=2)
    model = NIWMeta(mlp((64, 4, 3)), surrogate="sgld", vi_steps=1, seed=1)
    model.fit(tasks, steps=2, meta_batch=2, progress=False)
    test = digits_fewshot("test", ways=3, shots=1, queries=2).sample(0, 2)
    idata = model.predict(test.support_x, test.support_y, test.query_x, draws=3)
    probs = idata.posterior_predictive["probs"]
    assert probs.dims == ("chain", "draw", "task", "query", "class")
    assert probs.shape == (1, 3, 2, 6, 3)
    np.testing.assert_allclose(probs.sum("class"), 1.0, rtol=1e-5)


@pytest.mark.parametrize("rule", ["vi", "train"])
def test_prototype_head_is_equivariant_to_the_support_labels(rule):
    """With ``head="prototype"`` the labels live in the prototypes: relabelling an episode's
    support permutes the predicted class probabilities and changes nothing else."""
    tasks = digits_fewshot("train", ways=3, shots=2, queries=2)
    model = NIWMeta(
        mlp((64, 8, 8)),
        head="prototype",
        surrogate="laplace",
        sgld_steps=2,
        step_scale=0.1,
        test_rule=rule,
        vi_steps=2,
        seed=2,
    )
    model.fit(tasks, steps=3, meta_batch=2, progress=False)
    test = digits_fewshot("test", ways=3, shots=2, queries=2).sample(0, 2)
    perm = np.array([2, 0, 1])  # new label of old class k
    probs = model.predict_outputs(test.support_x, test.support_y, test.query_x, draws=4, seed=9)
    relabelled = model.predict_outputs(
        test.support_x, perm[np.asarray(test.support_y)], test.query_x, draws=4, seed=9
    )
    np.testing.assert_allclose(relabelled[..., perm], probs, rtol=1e-4, atol=1e-4)
    assert (
        model.predict(test.support_x, test.support_y, test.query_x, draws=2).attrs["head"]
        == "prototype"
    )


def test_clear_errors(fitted, sine):
    with pytest.raises(TypeError, match=r"network must be a bayesuq\.nn\.Network"):
        NIWMeta(lambda theta, x: x)
    with pytest.raises(ValueError, match="surrogate must be one of"):
        NIWMeta(SMALL, surrogate="hmc")
    with pytest.raises(ValueError, match="test_rule must be one of"):
        NIWMeta(SMALL, test_rule="map")
    with pytest.raises(ValueError, match="'exact' builds a"):
        NIWMeta(mlp((1, 64, 64, 1)), surrogate="exact")
    with pytest.raises(ValueError, match="covariance='full' needs"):
        NIWMeta(mlp((1, 40, 40, 1)), covariance="full")
    with pytest.raises(RuntimeError, match="not fitted"):
        NIWMeta(SMALL).predict(np.zeros((1, 5, 1)), np.zeros((1, 5)), np.zeros((1, 3, 1)))
    with pytest.raises(TypeError, match="tasks must be a TaskSampler"):
        NIWMeta(SMALL).fit([1, 2, 3], steps=1)
    test = sine.sample(0, 2)
    with pytest.raises(ValueError, match="support_x and query_x must have shape"):
        fitted.predict(test.support_x[0], test.support_y[0], test.query_x[0])
    bad = np.array(test.support_y)
    bad[0, 0] = np.nan
    with pytest.raises(ValueError, match="support_y holds NaN"):
        fitted.predict(test.support_x, bad, test.query_x)
    with pytest.raises(ValueError, match="episode shapes do not agree"):
        fitted.predict(test.support_x, test.support_y[:, :3], test.query_x)
    with pytest.raises(ValueError, match="prior keys"):
        NIWMeta(SMALL, prior={"df": 3})
    with pytest.raises(ValueError, match="head must be one of"):
        NIWMeta(SMALL, head="cosine")
    with pytest.raises(ValueError, match="head='prototype' needs tasks with a categorical"):
        NIWMeta(SMALL, head="prototype").fit(sine, steps=1)


def test_digits_fewshot_episodes():
    """Classes are digit x rotation; meta-train and meta-test digits are disjoint; an episode
    has distinct classes and distinct images; labels 0..ways-1 in shots/queries blocks."""
    assert not set(TRAIN_DIGITS) & set(TEST_DIGITS)
    train = digits_fewshot("train", ways=5, shots=2, queries=3)
    assert len(train.info["classes"]) == 20
    assert {int(c.split("@")[0]) for c in train.info["classes"]} == set(TRAIN_DIGITS)
    ep = train.sample(0, 50)
    assert ep.support_x.shape == (50, 10, 64) and ep.query_x.shape == (50, 15, 64)
    assert np.all(np.asarray(ep.support_y)[0] == np.repeat(np.arange(5), 2))
    classes = np.asarray(ep.truth)
    assert all(len(set(row)) == 5 for row in classes)
    x = np.concatenate([np.asarray(ep.support_x[0]), np.asarray(ep.query_x[0])])
    assert len({tuple(r) for r in x}) >= 24  # 25 distinct images (a duplicate digit is rare)
    assert float(np.max(ep.support_x)) <= 1.0
    with pytest.raises(ValueError, match="split must be one of"):
        digits_fewshot("val")
    with pytest.raises(ValueError, match="ways must be <= 20"):
        digits_fewshot("train", ways=21)


def test_digits_validation_classes_are_held_out_of_the_training_classes():
    """``"validation"``: one rotation of each meta-training digit (5 classes);
    ``"train_without_validation"``: the other 15; together the 20 of ``"train"``, with
    the same images per class; no test digit in either."""
    names = digits_fewshot("train").info["classes"]
    pools = np.asarray(digits_fewshot("train").data["pools"])
    validation = digits_fewshot("validation")
    rest = digits_fewshot("train_without_validation")
    assert validation.info["classes"] == [c for c in names if c in VALIDATION_CLASSES]
    assert rest.info["classes"] == [c for c in names if c not in VALIDATION_CLASSES]
    assert sorted(int(c.split("@")[0]) for c in VALIDATION_CLASSES) == sorted(TRAIN_DIGITS)
    for split in (validation, rest):
        for i, name in enumerate(split.info["classes"]):
            np.testing.assert_array_equal(
                np.asarray(split.data["pools"])[i], pools[names.index(name)]
            )
    assert len(rest.info["classes"]) == 15
    episodes = validation.sample(0, 20)
    assert {tuple(sorted(row)) for row in np.asarray(episodes.truth)} == {(0, 1, 2, 3, 4)}
    with pytest.raises(ValueError, match="ways must be <= 5"):
        digits_fewshot("validation", ways=6)


def test_shift_images_moves_each_image_by_its_own_offset():
    """A single lit pixel lands at its position plus the image's offset, inside the frame;
    offsets cover {-1, 0, 1}^2 and pixels moved in from outside are zero."""
    x = jnp.zeros((300, 64)).at[:, 3 * 8 + 4].set(1.0)  # pixel (row 3, column 4)
    moved = np.asarray(shift_images(jax.random.PRNGKey(0), x, 1)).reshape(300, 8, 8)
    assert np.all(moved.sum(axis=(1, 2)) == 1.0)
    rows, cols = np.nonzero(moved)[1:]
    assert set(zip(rows - 3, cols - 4, strict=True)) == {
        (dy, dx) for dy in (-1, 0, 1) for dx in (-1, 0, 1)
    }
    edge = jnp.ones((200, 64))
    moved = np.asarray(shift_images(jax.random.PRNGKey(1), edge, 2)).reshape(200, 8, 8)
    assert np.all(moved.sum(axis=(1, 2)) >= 36) and np.any(moved == 0.0)
    np.testing.assert_array_equal(shift_images(jax.random.PRNGKey(2), edge, 0), edge)


def test_digits_fewshot_shift_moves_the_queries_only():
    """shift=0 draws the episodes it always drew; shift=1 draws the same classes and support
    images and moves the query images (their pixel sums can only drop: zero fill)."""
    plain = digits_fewshot("train", ways=5, shots=1, queries=4).sample(3, 20)
    moved = digits_fewshot("train", ways=5, shots=1, queries=4, shift=1)
    assert moved.info["shift"] == 1 and "shifted" in moved.name
    again = digits_fewshot("train", ways=5, shots=1, queries=4, shift=0).sample(3, 20)
    np.testing.assert_array_equal(again.query_x, plain.query_x)
    ep = moved.draw(moved.data, jax.random.PRNGKey(3), 20)
    key, _ = jax.random.split(jax.random.PRNGKey(3))
    same = digits_fewshot("train", ways=5, shots=1, queries=4).draw(moved.data, key, 20)
    np.testing.assert_array_equal(ep.support_x, same.support_x)
    np.testing.assert_array_equal(ep.truth, same.truth)
    assert not np.array_equal(ep.query_x, same.query_x)
    assert np.all(np.asarray(ep.query_x).sum(-1) <= np.asarray(same.query_x).sum(-1) + 1e-5)
    with pytest.raises(ValueError, match="shift must be at most 3"):
        digits_fewshot("train", shift=4)


def test_study_settings_give_each_method_its_fit_arguments():
    """method_fit overrides the shared steps/learning rate per method; --steps (with_steps)
    and smoke() give every method the same steps but keep the learning rates and the
    per-shots NIW-Meta settings; an unknown fit argument is refused."""
    from bayesuq.models.metalearn.study import DIGITS, StudySettings

    assert DIGITS.fit_arguments("maml") == {"steps": 2000, "meta_batch": 16, "learning_rate": 1e-3}
    assert DIGITS.fit_arguments("niw_meta")["steps"] == 150
    assert DIGITS.fit_arguments("niw_meta")["learning_rate"] == 5e-4
    for settings in (DIGITS.with_steps(7), DIGITS.smoke()):
        niw = settings.fit_arguments("niw_meta")
        assert niw["steps"] == settings.fit_arguments("maml")["steps"] == settings.steps
        assert niw["learning_rate"] == 5e-4
        assert settings.niw_options(5) == DIGITS.niw_options(5)
    # NIW-Meta's 5-shot entries replace the shared ones for 5 shots only
    assert DIGITS.niw_options(1) == DIGITS.niw
    five = DIGITS.niw_options(5)
    assert five["surrogate"] == "sgld" and five["head"] == DIGITS.niw["head"]
    bad = StudySettings(method_fit={"maml": {"inner_steps": 3}})
    with pytest.raises(ValueError, match="may set"):
        bad.fit_arguments("maml")


def test_pixels_and_cnn_embedding_uses_the_training_images_scale():
    """feature_norm^2 is half the median squared distance between meta-training images, so
    the CNN block's largest squared distance (2 r^2) is the pixels' median one."""
    from bayesuq.models.metalearn.study import digits_embedding, pixel_feature_norm

    train = digits_fewshot("train")
    norm = pixel_feature_norm(train)
    pools, counts = np.asarray(train.data["pools"]), np.asarray(train.data["counts"])
    images = np.concatenate([pools[c, :n] for c, n in enumerate(counts)])
    a, b = np.random.default_rng(5).integers(0, len(images), (2, 20000))
    median = np.median(np.sum((images[a] - images[b]) ** 2, axis=1))
    assert 2 * norm**2 == pytest.approx(median, rel=0.05)
    net = digits_embedding("pixels_and_cnn", train)
    assert net.name.startswith("inputs_and_features(cnn(8x8x1, channels 64-64")
    assert digits_embedding("residual", train).name.startswith("residual")
    with pytest.raises(ValueError, match="embedding must be one of"):
        digits_embedding("vit", train)


@pytest.mark.slow
def test_nearest_centroid_is_near_the_spec_anchor():
    """Raw-pixel nearest centroid, 5-way 1-shot on meta-test digits: the spec's anchor is
    80.0%; 300 episodes give a 95% interval of ~1.3 points; tolerance 3 points."""
    tasks = digits_fewshot("train")
    test = digits_fewshot("test").sample(11, 300)
    model = NearestCentroid(episodes=100).fit(tasks)
    out = model.predict_outputs(test.support_x, test.support_y, test.query_x)
    acc = np.mean(out[:, 0].argmax(-1) == np.asarray(test.query_y))
    assert abs(acc - 0.80) < 0.03, acc
    assert 0.01 < model.temperature_ < 1e3


def test_sine_line_tasks_have_the_spec_design():
    tasks = sine_line_tasks(shots=5, queries=100)
    ep = tasks.sample(0, 1000)
    truth = np.asarray(ep.truth)
    assert abs(truth[:, 0].mean() - 0.5) < 0.06
    sine = truth[:, 0] > 0.5
    assert truth[sine, 1].min() >= 0.1 and truth[sine, 1].max() <= 5
    assert np.all(np.abs(truth[~sine, 3:]) <= 3)
    assert np.all(np.abs(np.asarray(ep.query_x)) <= 5)
    # predicting zero costs the spec's anchor 16.1 in MSE (Monte Carlo, 1000 tasks: SE ~0.5)
    assert abs(np.mean(np.asarray(ep.query_y) ** 2) - 16.1) < 2.0


def test_cli_is_registered():
    args = build_parser().parse_args(["metalearn", "digits", "--shots", "5", "--smoke"])
    assert args.benchmark == "digits" and args.shots == 5 and args.smoke
    with pytest.raises(SystemExit):
        build_parser().parse_args(["metalearn", "omniglot"])


def test_cli_rejects_bad_steps(capsys):
    assert main(["metalearn", "sine", "--steps", "0", "--out", "unused"]) == 2
    assert "--steps" in capsys.readouterr().err


@pytest.mark.slow
def test_maml_adapts_and_fits(sine):
    maml = MAML(SMALL, inner_steps=2).fit(sine, steps=3, meta_batch=2, progress=False)
    test = sine.sample(1, 2)
    out = maml.predict_outputs(test.support_x, test.support_y, test.query_x)
    assert out.shape == (2, 1, 15, 1) and np.all(np.isfinite(out))
    assert maml.name == "maml"


# ---------------------------------------------------------------- the benchmark claims
@pytest.mark.slow
def test_sine_line_niw_meta_against_maml(tmp_path):
    """Sine-line 5-shot, same MLP and number of meta-steps: NIW-Meta's test MSE <= MAML's
    within 2 SE, and 90% coverage in [0.8, 0.97] (the issue's claims; see docs). Measured
    (seed 0): MSE 3.58 +- 0.21 against 3.49 +- 0.22, coverage 0.917."""
    from bayesuq.models.metalearn import SINE, sine_study

    result = sine_study(SINE, progress=False)
    table = result.summary.set_index("method")
    niw, maml = table.loc["niw_meta"], table.loc["maml"]
    se = np.hypot(niw["mse_se"], maml["mse_se"])
    assert niw["mse"] <= maml["mse"] + 2 * se, table
    assert 0.8 <= niw["coverage90"] <= 0.97, table  # predictive noise fitted on training tasks
    # with the data's known noise (the paper's predictive) NIW-Meta's NLL is far below MAML's
    assert niw["nll_known_noise"] < maml["nll_known_noise"], table


@pytest.fixture(scope="module")
def digits_one_shot():
    from bayesuq.models.metalearn import DIGITS, digits_study

    return digits_study(DIGITS, progress=False).summary.set_index("method")


@pytest.mark.slow
def test_digits_niw_meta_above_the_floor_and_maml(digits_one_shot):
    """digits-fs 5-way 1-shot (the study's settings, 600 test episodes): NIW-Meta's accuracy
    above the raw-pixel nearest-centroid floor and >= MAML's (the issue's claims). Measured
    (seed 0): 0.828 +- 0.007 against the floor's 0.795 +- 0.007; docs/metalearn.md."""
    table = digits_one_shot
    assert table.loc["nearest_centroid", "accuracy"] == pytest.approx(0.80, abs=0.03)
    niw = table.loc["niw_meta"]
    assert niw["accuracy"] > table.loc["nearest_centroid", "accuracy"], table
    assert niw["accuracy"] >= table.loc["maml", "accuracy"], table


@pytest.mark.slow
def test_digits_niw_meta_ece_at_most_maml(digits_one_shot):
    """The issue's calibration claim, ECE <= MAML's, with every trained method's logits
    scaled by a factor fitted on held-out meta-training classes (measured: 0.016 against
    0.024). The scale comes from held-out classes, not from NIW-Meta's weight posterior: as
    trained (``tau = 1``) NIW-Meta is the more overconfident one (0.090 against 0.062), which
    is checked too so that the docs' account of it stays true."""
    table = digits_one_shot
    assert table.loc["niw_meta", "ece"] <= table.loc["maml", "ece"], table
    assert table.loc["niw_meta", "ece_uncalibrated"] > table.loc["maml", "ece_uncalibrated"]
    assert table.loc["niw_meta", "logit_scale"] < 1.0 < table.loc["maml", "logit_scale"]
