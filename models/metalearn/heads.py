"""How a network's outputs become an episode's predictions: a plain head or prototypes.

* ``"linear"``: the network's outputs are the predictions (regression outputs or ``ways``
  logits), so all adaptation to an episode happens in the weights.
* ``"prototype"``: the network is an embedding ``f_theta``; the logits of a point ``x`` are
  ``-||f_theta(x) - c_k||^2`` with ``c_k`` the mean embedding of the support points of class
  ``k`` (Snell, Swersky & Zemel 2017, "Prototypical Networks for Few-shot Learning",
  NeurIPS). The label assignment of an episode is carried by the prototypes, the weights
  adapt the metric. NIW-Meta's few-shot classification experiments put the NIW prior on such
  a backbone (ProtoNet-style PMF; Kim & Hospedales 2024, spec section 4).
"""

from __future__ import annotations

from collections.abc import Callable

import jax
import jax.numpy as jnp

HEADS = ("linear", "prototype")

__all__ = ["HEADS", "episode_apply", "prototype_logits"]


def prototype_logits(
    support: jax.Array, support_y: jax.Array, query: jax.Array, ways: int
) -> jax.Array:
    """``-||query - c_k||^2`` with ``c_k`` the mean of the support points of class ``k``.

    ``support (S, E)``, ``support_y (S,)`` integer labels, ``query (Q, E)``; returns
    ``(Q, ways)``.
    """
    onehot = jax.nn.one_hot(support_y, ways, dtype=support.dtype)  # (S, K)
    centroids = (onehot.T @ support) / jnp.sum(onehot, axis=0)[:, None]
    sq = (
        jnp.sum(query**2, axis=1)[:, None]
        - 2.0 * query @ centroids.T
        + jnp.sum(centroids**2, axis=1)[None, :]
    )
    return -sq


def episode_apply(
    apply: Callable, head: str, ways: int, support_x: jax.Array, support_y: jax.Array
) -> Callable[[jax.Array, jax.Array], jax.Array]:
    """``apply_i(theta, x)``: the predictions of one episode's model at inputs ``x``.

    ``head="linear"`` returns ``apply`` itself; ``head="prototype"`` closes over the
    episode's support set, whose embeddings under the same ``theta`` give the prototypes.
    """
    if head == "linear":
        return apply

    def with_prototypes(theta: jax.Array, x: jax.Array) -> jax.Array:
        return prototype_logits(apply(theta, support_x), support_y, apply(theta, x), ways)

    return with_prototypes
