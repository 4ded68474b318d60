"""Training small regression networks on masked, fixed-shape data in plain JAX + optax.

The networks are :func:`bayesuq.nn.mlp` (flat parameter vectors); everything here is pure
and fixed-shape, so it runs inside compiled loops and ``vmap`` over ensemble members and
seeds:

* :func:`train_steps` - ``steps`` Adam steps, each on one shuffled mini-batch of the valid
  rows (DEUP's main predictor in Lahlou et al.'s SMO runs: 200 such steps per refit, batch
  ``min(16, n // 2)``; the authors' code calls each of these an "epoch");
* :func:`train_epochs` - ``epochs`` passes over the valid rows in shuffled mini-batches
  (their MC-dropout and ensemble baselines);
* :func:`dropout_moments`, :func:`ensemble_moments` - predictive mean and variance of MC
  dropout (Gal & Ghahramani 2016) and of a deep ensemble (Lakshminarayanan et al. 2017).

Networks compute in float32 (their parameters' dtype) even inside a float64 program: the
input is cast on entry and the output cast back.
"""

from __future__ import annotations

from typing import Any

import jax
import jax.numpy as jnp
import optax

from bayesuq.nn import Network

__all__ = [
    "dropout_moments",
    "ensemble_moments",
    "forward",
    "max_batches",
    "train_epochs",
    "train_steps",
]


def forward(net: Network, theta: jax.Array, x: jax.Array, key: jax.Array | None = None):
    """``net.apply`` on ``x`` (``(..., d)``) in the parameters' dtype; returns ``(...)``."""
    out = net.apply(theta, x.astype(theta.dtype), key=key)
    return out[..., 0].astype(x.dtype)


def _batch_size(n: jax.Array, batch: int, half: bool) -> jax.Array:
    """``min(batch, n // 2)`` (at least 1) if ``half`` else ``min(batch, n)``."""
    cap = jnp.maximum(n // 2, 1) if half else n
    return jnp.minimum(batch, cap)


def _weighted_mse(net, theta, X, y, weights, key):
    pred = forward(net, theta, X, key)
    return jnp.sum(weights * (pred - y) ** 2) / jnp.maximum(jnp.sum(weights), 1.0)


def train_steps(
    net: Network,
    optimizer: optax.GradientTransformation,
    theta: jax.Array,
    opt_state: Any,
    X: jax.Array,
    y: jax.Array,
    mask: jax.Array,
    key: jax.Array,
    *,
    steps: int,
    batch: int | None,
    half: bool = True,
    dropout: bool = False,
) -> tuple[jax.Array, Any, jax.Array]:
    """``steps`` optimiser steps on the mean squared error, one random mini-batch each.

    Each step draws ``b = min(batch, n // 2)`` distinct valid rows uniformly (``n`` valid
    rows; ``half=False`` gives ``min(batch, n)``; ``batch=None`` uses all valid rows) and
    takes one step on ``mean_i (f(x_i) - y_i)^2`` over them.

    Returns
    -------
    (theta, opt_state, last loss)
    """
    n_rows = X.shape[0]
    n = jnp.sum(mask)
    size = n if batch is None else _batch_size(n, batch, half)
    width = n_rows if batch is None else min(batch, n_rows)
    slots = jnp.arange(width)

    def step(carry, k):
        theta, state = carry
        k_pick, k_drop = jax.random.split(k)
        u = jnp.where(mask, jax.random.uniform(k_pick, (n_rows,), X.dtype), 2.0)
        _, rows = jax.lax.top_k(-u, width)
        weights = (slots < size).astype(X.dtype)
        loss, grad = jax.value_and_grad(_weighted_mse, argnums=1)(
            net, theta, X[rows], y[rows], weights, k_drop if dropout else None
        )
        updates, state = optimizer.update(grad, state, theta)
        return (optax.apply_updates(theta, updates), state), loss

    (theta, opt_state), losses = jax.lax.scan(
        step, (theta, opt_state), jax.random.split(key, steps)
    )
    return theta, opt_state, losses[-1]


def max_batches(sizes: range | list[int], batch: int, half: bool = True) -> int:
    """Largest number of mini-batches per epoch over the data sizes ``sizes`` (host side)."""
    most = 1
    for n in sizes:
        b = min(batch, max(n // 2, 1) if half else n)
        most = max(most, -(-n // b))
    return most


def train_epochs(
    net: Network,
    optimizer: optax.GradientTransformation,
    theta: jax.Array,
    opt_state: Any,
    X: jax.Array,
    y: jax.Array,
    mask: jax.Array,
    key: jax.Array,
    *,
    epochs: int,
    batch: int,
    batches: int,
    half: bool = True,
    dropout: bool = False,
) -> tuple[jax.Array, Any, jax.Array]:
    """``epochs`` passes over the valid rows in shuffled mini-batches of ``min(batch, n // 2)``.

    An epoch is a random permutation of the ``n`` valid rows cut into ``ceil(n / b)``
    consecutive mini-batches (the last one smaller), one optimiser step each, as PyTorch's
    ``DataLoader(shuffle=True)``. ``batches`` (static, from :func:`max_batches`) bounds the
    number of mini-batches per epoch; slots beyond ``ceil(n / b)`` are skipped.
    """
    n_rows = X.shape[0]
    n = jnp.sum(mask)
    size = _batch_size(n, batch, half)
    width = min(batch, n_rows)
    slots = jnp.arange(width)

    def epoch(carry, k):
        k_perm, k_drop = jax.random.split(k)
        u = jnp.where(mask, jax.random.uniform(k_perm, (n_rows,), X.dtype), 2.0)
        order = jnp.argsort(u)

        def minibatch(carry, j):
            theta, state = carry
            position = j * size + slots
            weights = ((slots < size) & (position < n)).astype(X.dtype)
            rows = order[jnp.minimum(position, n_rows - 1)]
            loss, grad = jax.value_and_grad(_weighted_mse, argnums=1)(
                net,
                theta,
                X[rows],
                y[rows],
                weights,
                jax.random.fold_in(k_drop, j) if dropout else None,
            )
            updates, new_state = optimizer.update(grad, state, theta)
            new_theta = optax.apply_updates(theta, updates)
            run = j * size < n
            theta = jnp.where(run, new_theta, theta)
            state = jax.tree.map(lambda a, b: jnp.where(run, a, b), new_state, state)
            return (theta, state), loss

        return jax.lax.scan(minibatch, carry, jnp.arange(batches))

    (theta, opt_state), losses = jax.lax.scan(
        epoch, (theta, opt_state), jax.random.split(key, epochs)
    )
    return theta, opt_state, losses[-1, 0]


def dropout_moments(
    net: Network, theta: jax.Array, x: jax.Array, keys: jax.Array
) -> tuple[jax.Array, jax.Array]:
    """MC-dropout predictive at one point ``x`` (``(d,)``): eval-mode mean, variance over passes.

    ``mean = f(x; theta)`` without dropout and ``var = Var_k f(x; theta, mask_k)`` over
    the ``len(keys)`` dropout masks (Gal & Ghahramani 2016, "Dropout as a Bayesian
    approximation", ICML, eq. 8, without the ``tau^-1`` term, as in Lahlou et al.'s
    baseline). The same ``keys`` give the same masks at every ``x`` (common random
    numbers), so the acquisition is a smooth function of ``x``.
    """
    mean = forward(net, theta, x[None, :])[0]
    passes = jax.vmap(lambda k: forward(net, theta, x[None, :], k)[0])(keys)
    return mean, jnp.var(passes)


def ensemble_moments(net: Network, thetas: jax.Array, x: jax.Array) -> tuple[jax.Array, jax.Array]:
    """Deep-ensemble predictive at one point: mean and variance of the members' outputs."""
    outputs = jax.vmap(lambda th: forward(net, th, x[None, :])[0])(thetas)
    return jnp.mean(outputs), jnp.var(outputs)
