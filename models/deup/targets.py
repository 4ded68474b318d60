"""Out-of-sample error targets: K-fold splits and logged squared errors.

DEUP's error predictor must learn the error of the main predictor ``f`` at points ``f``
was *not* trained on (Lahlou et al. 2023, Section 3.3): in-sample errors of a flexible
``f`` are near zero everywhere and say nothing about its error elsewhere. Targets are
made out of sample by construction:

* the pre-fill: ``repeats`` random partitions of the data into ``folds`` folds; for each
  split a copy of ``f`` is trained on all folds but one, and its squared errors are
  logged - on the held-out fold (out of sample) and, as in the authors' code, also on the
  training folds (in sample, which the features ``phi_D`` describe: low variance, seen);
* in sequential optimisation, the error at each new point ``x_t`` under the ``f`` that
  chose it, before ``f`` is refitted with ``(x_t, y_t)``.
"""

from __future__ import annotations

import jax
import jax.numpy as jnp

__all__ = ["fold_masks", "log_squared_error"]


def fold_masks(key: jax.Array, n: int, folds: int, repeats: int) -> jax.Array:
    """Training masks of ``repeats`` random ``folds``-fold partitions of ``n`` points.

    Partition ``r`` assigns point ``perm_r[i]`` to fold ``i mod folds`` (``perm_r`` a random
    permutation), so fold sizes differ by at most one; split ``(r, k)`` trains on every
    fold but ``k``. With ``folds = 2`` this is the authors' random halving (each half
    trains once).

    Returns
    -------
    jax.Array
        Boolean ``(repeats * folds, n)``; row ``r * folds + k`` is true on the training
        points of split ``(r, k)`` (false on its held-out fold).
    """
    keys = jax.random.split(key, repeats)

    def partition(k):
        perm = jax.random.permutation(k, n)
        fold = jnp.zeros(n, jnp.int32).at[perm].set(jnp.arange(n, dtype=jnp.int32) % folds)
        return fold[None, :] != jnp.arange(folds, dtype=jnp.int32)[:, None]

    return jax.vmap(partition)(keys).reshape(repeats * folds, n)


def log_squared_error(prediction: jax.Array, y: jax.Array, floor) -> jax.Array:
    """``max(log (prediction - y)^2, floor)`` (an exact zero error gives ``floor``)."""
    squared = (prediction - y) ** 2
    safe = jnp.where(squared > 0, squared, 1.0)
    return jnp.where(squared > 0, jnp.maximum(jnp.log(safe), floor), floor)
