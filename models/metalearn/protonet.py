"""Metric baselines for few-shot classification: ProtoNet and the raw-pixel nearest centroid.

* :class:`ProtoNet` - Snell, Swersky & Zemel (2017), "Prototypical Networks for Few-shot
  Learning", NeurIPS: class prototypes ``c_k = mean_{i: y_i = k} f(x_i)`` of an embedding
  network ``f``, ``p(y = k | x) = softmax_k(-||f(x) - c_k||^2)``, trained episodically with
  Adam on the query cross-entropy.
* :class:`NearestCentroid` - the same rule on raw pixels (``f = identity``), with one
  temperature ``tau`` (``softmax(-||x - c_k||^2 / tau)``) fitted by maximum likelihood on
  meta-training episodes so that its NLL and ECE are comparable: the accuracy floor.
"""

from __future__ import annotations

from typing import Any

import jax
import jax.numpy as jnp
import numpy as np

from bayesuq.infer.arguments import check_int, check_positive
from bayesuq.models.metalearn.estimator import check_episode_inputs
from bayesuq.models.metalearn.evaluate import scaled_logits
from bayesuq.models.metalearn.heads import episode_apply, prototype_logits
from bayesuq.models.metalearn.likelihood import Likelihood
from bayesuq.models.metalearn.tasks import Episodes, TaskSampler
from bayesuq.models.metalearn.training import meta_train
from bayesuq.nn import Network
from bayesuq.precision import computing_in, resolve_precision

__all__ = ["NearestCentroid", "ProtoNet", "prototype_logits"]


def _check_categorical(tasks: TaskSampler, who: str) -> int:
    if tasks.likelihood.kind != "categorical":
        raise ValueError(f"{who} is a classifier: the tasks must have a categorical likelihood")
    return int(tasks.info.get("ways", 0)) or int(jnp.max(tasks.sample(0, 1).support_y)) + 1


class ProtoNet:
    """Prototypical networks (Snell et al. 2017) with a :class:`bayesuq.nn.Network` embedding.

    Parameters
    ----------
    network
        The embedding network ``f`` (its output width is the embedding size).
    seed, precision
        Integer seed; ``None`` (``"float32"``) or ``"float32"``/``"float64"``.
    logit_scale
        The factor on the logits (temperature scaling, as
        :class:`~bayesuq.models.metalearn.estimator.NIWMeta`'s); 1 leaves them as they are.
    """

    name = "protonet"

    def __init__(
        self,
        network: Network,
        *,
        seed: int = 0,
        precision: str | None = None,
        logit_scale: float = 1.0,
    ):
        if not isinstance(network, Network):
            raise TypeError(f"network must be a bayesuq.nn.Network, got {type(network).__name__}")
        self.network = network
        self.logit_scale = check_positive("logit_scale", logit_scale)
        self.seed = check_int("seed", seed, minimum=0)
        self.precision = resolve_precision(precision, "float32")
        self.params_ = None
        self._programs: dict[Any, Any] = {}

    def _loss(self, ways: int):
        key = ("loss", ways)
        if key not in self._programs:
            apply = self.network.apply
            lik = Likelihood.make("categorical")

            def loss(theta, episodes: Episodes, _key):
                def one(sx, sy, qx, qy):
                    logits = episode_apply(apply, "prototype", ways, sx, sy)(theta, qx)
                    return jnp.mean(lik.point_nll(logits, qy))

                value = jnp.mean(
                    jax.vmap(one)(
                        episodes.support_x, episodes.support_y, episodes.query_x, episodes.query_y
                    )
                )
                return value, {"query_loss": value}

            self._programs[key] = loss
        return self._programs[key]

    def fit(
        self,
        tasks: TaskSampler,
        *,
        steps: int = 2000,
        meta_batch: int = 16,
        learning_rate: float = 1e-3,
        progress: bool = True,
    ) -> ProtoNet:
        """Train the embedding episodically on ``tasks`` (categorical)."""
        self.ways_ = _check_categorical(tasks, "ProtoNet")
        self.likelihood = tasks.likelihood
        with computing_in(self.precision):
            key_init, key_run = jax.random.split(jax.random.PRNGKey(self.seed))
            result = meta_train(
                self._loss(self.ways_),
                self.network.init(key_init),
                tasks,
                steps=steps,
                meta_batch=meta_batch,
                learning_rate=learning_rate,
                key=key_run,
                cache=self._programs,
                progress=progress,
                desc="ProtoNet",
                tag=self.precision,
            )
        self.params_ = result.params
        self.history_ = result.history
        self.fit_seconds_ = result.total_seconds
        return self

    def predict_outputs(self, support_x: Any, support_y: Any, query_x: Any) -> np.ndarray:
        """Logits ``-logit_scale * ||f(x) - c_k||^2`` at the query inputs: ``(T, 1, Q, ways)``."""
        if self.params_ is None:
            raise RuntimeError("ProtoNet is not fitted: call fit(tasks, ...) first")
        sx, sy, qx = check_episode_inputs(support_x, support_y, query_x, likelihood=self.likelihood)
        key = ("predict", self.ways_)
        if key not in self._programs:
            apply, ways = self.network.apply, self.ways_

            def one(theta, sx, sy, qx):
                return episode_apply(apply, "prototype", ways, sx, sy)(theta, qx)[None]

            self._programs[key] = jax.jit(jax.vmap(one, in_axes=(None, 0, 0, 0)))
        with computing_in(self.precision):
            out = self._programs[key](
                self.params_,
                jnp.asarray(sx, float),
                jnp.asarray(sy, jnp.int32),
                jnp.asarray(qx, float),
            )
        return scaled_logits(np.asarray(out), self.likelihood, self.logit_scale)


class NearestCentroid:
    """Raw-pixel nearest centroid with a temperature fitted on meta-training episodes.

    ``p(y = k | x) = softmax_k(-||x - c_k||^2 / tau)``; ``tau`` maximises the query
    log-likelihood of ``episodes`` meta-training episodes (a grid over ``log tau``, then
    the best point). No other parameter: the accuracy does not depend on ``tau``.
    """

    name = "nearest_centroid"

    def __init__(self, *, episodes: int = 200, seed: int = 0):
        self.episodes = check_int("episodes", episodes, minimum=1)
        self.seed = check_int("seed", seed, minimum=0)
        self.temperature_: float | None = None

    def _logits(self, sx, sy, qx):
        ways = self.ways_
        return jax.vmap(lambda a, b, c: prototype_logits(a, b, c, ways))(
            jnp.asarray(sx, jnp.float32), jnp.asarray(sy, jnp.int32), jnp.asarray(qx, jnp.float32)
        )

    def fit(self, tasks: TaskSampler, **_: Any) -> NearestCentroid:
        """Fit ``tau`` on ``episodes`` meta-training episodes (other arguments are ignored)."""
        self.ways_ = _check_categorical(tasks, "NearestCentroid")
        self.likelihood = tasks.likelihood
        batch = tasks.sample(self.seed, self.episodes)
        logits = np.asarray(self._logits(batch.support_x, batch.support_y, batch.query_x))
        labels = np.asarray(batch.query_y)
        grid = np.exp(np.linspace(np.log(1e-2), np.log(1e3), 200))

        def nll(tau):
            z = logits / tau
            z = z - z.max(-1, keepdims=True)
            logp = z - np.log(np.exp(z).sum(-1, keepdims=True))
            return -np.mean(np.take_along_axis(logp, labels[..., None], -1))

        self.temperature_ = float(grid[np.argmin([nll(t) for t in grid])])
        return self

    def predict_outputs(self, support_x: Any, support_y: Any, query_x: Any) -> np.ndarray:
        """Tempered logits at the query inputs: ``(T, 1, Q, ways)``."""
        if self.temperature_ is None:
            raise RuntimeError("NearestCentroid is not fitted: call fit(tasks) first")
        sx, sy, qx = check_episode_inputs(support_x, support_y, query_x, likelihood=self.likelihood)
        return np.asarray(self._logits(sx, sy, qx))[:, None] / self.temperature_
