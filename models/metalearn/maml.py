"""MAML (second and first order) on the same flat-parameter networks, as a baseline.

Finn, Abbeel & Levine (2017), "Model-Agnostic Meta-Learning for Fast Adaptation of Deep
Networks", ICML, PMLR 70:1126-1135. Inner loop on the support set of episode ``i``::

    theta_i^(k+1) = theta_i^(k) - alpha grad L_S(theta_i^(k)),   theta_i^(0) = theta,

(``lax.scan`` over ``inner_steps``), outer loss ``L_Q(theta_i^(K))`` averaged over the
meta-batch and minimised with Adam. Second order differentiates through the inner loop
(memory grows linearly in ``inner_steps``); first order (FOMAML) treats the inner gradients
as constants. ``L`` is the mean squared error (Gaussian likelihood, as in the paper's
regression) or the mean cross-entropy (categorical).
"""

from __future__ import annotations

from typing import Any

import jax
import jax.numpy as jnp
import numpy as np

from bayesuq.infer.arguments import check_int, check_positive
from bayesuq.models.metalearn.estimator import check_episode_inputs
from bayesuq.models.metalearn.evaluate import scaled_logits
from bayesuq.models.metalearn.likelihood import Likelihood
from bayesuq.models.metalearn.tasks import Episodes, TaskSampler
from bayesuq.models.metalearn.training import meta_train
from bayesuq.nn import Network
from bayesuq.precision import computing_in, resolve_precision

__all__ = ["MAML", "adapt", "maml_loss"]


def _mean_loss(likelihood: Likelihood, out: jax.Array, y: jax.Array) -> jax.Array:
    if likelihood.kind == "gaussian":
        return jnp.mean((out[..., 0] - y) ** 2)
    return jnp.mean(likelihood.point_nll(out, y))


def adapt(
    apply: Any,
    likelihood: Likelihood,
    theta: jax.Array,
    x: jax.Array,
    y: jax.Array,
    *,
    steps: int,
    learning_rate: float,
    first_order: bool,
) -> jax.Array:
    """MAML's inner loop: ``steps`` gradient steps of size ``learning_rate`` on ``(x, y)``."""

    def loss(t):
        return _mean_loss(likelihood, apply(t, x), y)

    def step(t, _):
        g = jax.grad(loss)(t)
        if first_order:
            g = jax.lax.stop_gradient(g)
        return t - learning_rate * g, None

    theta, _ = jax.lax.scan(step, theta, None, length=steps)
    return theta


def maml_loss(
    theta: jax.Array,
    episodes: Episodes,
    *,
    apply: Any,
    likelihood: Likelihood,
    steps: int,
    learning_rate: float,
    first_order: bool,
) -> tuple[jax.Array, dict[str, jax.Array]]:
    """Mean query loss after adaptation, over a meta-batch (``vmap``)."""

    def one(sx, sy, qx, qy):
        adapted = adapt(
            apply,
            likelihood,
            theta,
            sx,
            sy,
            steps=steps,
            learning_rate=learning_rate,
            first_order=first_order,
        )
        return _mean_loss(likelihood, apply(adapted, qx), qy)

    losses = jax.vmap(one)(
        episodes.support_x, episodes.support_y, episodes.query_x, episodes.query_y
    )
    value = jnp.mean(losses)
    return value, {"query_loss": value}


class MAML:
    """Model-agnostic meta-learning (Finn et al. 2017) on a :class:`bayesuq.nn.Network`.

    Parameters
    ----------
    network
        The network (same as NIW-Meta's for a fair comparison).
    inner_steps
        Adaptation steps, in training and at test time.
    inner_learning_rate
        ``alpha``.
    first_order
        ``True`` for first-order MAML (no second derivatives).
    seed
        Integer seed.
    precision
        ``None`` (``"float32"``) or ``"float32"``/``"float64"``.
    logit_scale
        Classification: the factor on the adapted logits (temperature scaling, as
        :class:`~bayesuq.models.metalearn.estimator.NIWMeta`'s); 1 leaves them as they are.
    """

    def __init__(
        self,
        network: Network,
        *,
        inner_steps: int = 5,
        inner_learning_rate: float = 0.01,
        first_order: bool = False,
        seed: int = 0,
        precision: str | None = None,
        logit_scale: float = 1.0,
    ):
        if not isinstance(network, Network):
            raise TypeError(f"network must be a bayesuq.nn.Network, got {type(network).__name__}")
        self.network = network
        self.logit_scale = check_positive("logit_scale", logit_scale)
        self.inner_steps = check_int("inner_steps", inner_steps, minimum=0)
        self.inner_learning_rate = check_positive("inner_learning_rate", inner_learning_rate)
        self.first_order = bool(first_order)
        self.seed = check_int("seed", seed, minimum=0)
        self.precision = resolve_precision(precision, "float32")
        self.likelihood: Likelihood | None = None
        self.params_ = None
        self._programs: dict[Any, Any] = {}

    @property
    def name(self) -> str:
        """``"maml"`` or ``"maml_first_order"``."""
        return "maml_first_order" if self.first_order else "maml"

    def loss_function(self):
        """``loss(theta, episodes, key) -> (value, parts)`` (cached, for the training loop)."""
        key = (
            "loss",
            self.likelihood,
            self.inner_steps,
            self.inner_learning_rate,
            self.first_order,
        )
        if key not in self._programs:
            apply, likelihood = self.network.apply, self.likelihood
            settings = {
                "steps": self.inner_steps,
                "learning_rate": self.inner_learning_rate,
                "first_order": self.first_order,
            }

            def loss(theta, episodes, _key):
                return maml_loss(theta, episodes, apply=apply, likelihood=likelihood, **settings)

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
    ) -> MAML:
        """Meta-train the initialisation with Adam over meta-batches of ``tasks``."""
        if not isinstance(tasks, TaskSampler):
            raise TypeError(f"tasks must be a TaskSampler, got {type(tasks).__name__}")
        self.likelihood = tasks.likelihood
        with computing_in(self.precision):
            key_init, key_run = jax.random.split(jax.random.PRNGKey(self.seed))
            result = meta_train(
                self.loss_function(),
                self.network.init(key_init),
                tasks,
                steps=steps,
                meta_batch=meta_batch,
                learning_rate=learning_rate,
                key=key_run,
                cache=self._programs,
                progress=progress,
                desc=self.name,
                tag=self.precision,
            )
        self.params_ = result.params
        self.history_ = result.history
        self.fit_seconds_ = result.total_seconds
        self.compile_seconds_ = result.compile_seconds
        return self

    def predict_outputs(self, support_x: Any, support_y: Any, query_x: Any) -> np.ndarray:
        """Network outputs at the query inputs after adaptation: ``(T, 1, Q, K)``
        (classification logits multiplied by ``logit_scale``)."""
        if self.params_ is None:
            raise RuntimeError("MAML is not fitted: call fit(tasks, ...) first")
        sx, sy, qx = check_episode_inputs(support_x, support_y, query_x, likelihood=self.likelihood)
        key = ("predict", self.likelihood, self.inner_steps, self.inner_learning_rate)
        if key not in self._programs:
            apply, likelihood = self.network.apply, self.likelihood
            steps, lr = self.inner_steps, self.inner_learning_rate

            def one(theta, sx, sy, qx):
                adapted = adapt(
                    apply,
                    likelihood,
                    theta,
                    sx,
                    sy,
                    steps=steps,
                    learning_rate=lr,
                    first_order=True,
                )
                return apply(adapted, qx)[None]

            self._programs[key] = jax.jit(jax.vmap(one, in_axes=(None, 0, 0, 0)))
        with computing_in(self.precision):
            y_dtype = jnp.int32 if self.likelihood.kind == "categorical" else float
            out = self._programs[key](
                self.params_,
                jnp.asarray(sx, float),
                jnp.asarray(sy, y_dtype),
                jnp.asarray(qx, float),
            )
        return scaled_logits(np.asarray(out), self.likelihood, self.logit_scale)
