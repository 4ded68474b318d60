"""PRNG keys from an integer seed, computed in NumPy (no JAX compilation before sampling).

``jax.random.split(jax.random.PRNGKey(seed), n)`` run eagerly compiles two small XLA
programs in every new process (a few tenths of a second on a busy CPU): more than loading
a cached sampler. :func:`seed_keys` computes the same keys with NumPy, bit for bit, for
JAX's default key type (Threefry-2x32, Salmon et al. 2011, "Parallel random numbers: as
easy as 1, 2, 3", SC'11) with ``jax_threefry_partitionable`` on (the default since
jax 0.5); under any other configuration it calls JAX.
"""

from __future__ import annotations

import jax
import numpy as np

_ROTATIONS = ((13, 15, 26, 6), (17, 29, 16, 24))
_PARITY = np.uint32(0x1BD11BDA)


def _rotate_left(x: np.ndarray, d: int) -> np.ndarray:
    return (x << np.uint32(d)) | (x >> np.uint32(32 - d))


def threefry2x32(key: np.ndarray, x0: np.ndarray, x1: np.ndarray) -> tuple[np.ndarray, ...]:
    """Threefry-2x32 with 20 rounds: the block cipher of ``key`` applied to counters.

    With key words ``k0, k1`` and ``k2 = k0 ^ k1 ^ 0x1BD11BDA``, the counter pair
    ``(x0, x1)`` is offset by ``(k0, k1)``, then 5 groups of 4 rounds
    ``x0 += x1; x1 = rotl(x1, r) ^ x0`` (rotations 13, 15, 26, 6 and 17, 29, 16, 24 in
    alternate groups) each end with the key injection
    ``x0 += k[g mod 3]; x1 += k[(g + 1) mod 3] + g`` for group ``g = 1..5``
    (Salmon et al. 2011, sec. 3.2). Arithmetic is modulo ``2**32``.
    """
    ks = (key[0], key[1], key[0] ^ key[1] ^ _PARITY)
    with np.errstate(over="ignore"):
        x0, x1 = x0 + ks[0], x1 + ks[1]
        for group in range(1, 6):
            for r in _ROTATIONS[(group - 1) % 2]:
                x0 = x0 + x1
                x1 = _rotate_left(x1, r) ^ x0
            x0 = x0 + ks[group % 3]
            x1 = x1 + ks[(group + 1) % 3] + np.uint32(group)
    return x0, x1


def _numpy_keys_apply() -> bool:
    return (
        jax.config.jax_default_prng_impl == "threefry2x32"
        and bool(jax.config.jax_threefry_partitionable)
        and not jax.config.jax_enable_custom_prng
    )


def seed_keys(seed: int, n: int) -> np.ndarray:
    """``jax.random.split(jax.random.PRNGKey(seed), n)`` as a ``(n, 2)`` uint32 array.

    The key of a seed is ``(seed >> 32, seed & 0xFFFFFFFF)``; split key ``i`` is
    ``threefry2x32(key, (0, i))`` (the 64-bit counter ``i`` as two 32-bit words).
    """
    if not _numpy_keys_apply():
        return np.asarray(jax.random.split(jax.random.PRNGKey(seed), n))
    seed = int(seed)
    key = np.array([(seed >> 32) & 0xFFFFFFFF, seed & 0xFFFFFFFF], dtype=np.uint32)
    counters = np.arange(n, dtype=np.uint64)
    high = (counters >> np.uint64(32)).astype(np.uint32)
    low = (counters & np.uint64(0xFFFFFFFF)).astype(np.uint32)
    bits = threefry2x32(key, high, low)
    return np.stack(bits, axis=-1)
