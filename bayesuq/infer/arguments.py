"""Checks of the scalar keyword arguments shared by the engines.

Each error names the argument, the value received and what was expected.
"""

from __future__ import annotations

import numbers
from typing import Any

import numpy as np


def check_int(name: str, value: Any, *, minimum: int) -> int:
    """Return ``value`` as an ``int`` if it is an integer ``>= minimum``."""
    if isinstance(value, bool) or not isinstance(value, numbers.Integral):
        raise TypeError(f"{name} must be an integer >= {minimum}, got {value!r}")
    if value < minimum:
        raise ValueError(f"{name} must be an integer >= {minimum}, got {value!r}")
    return int(value)


SEED_MAX = 2**32 - 1


def check_seed(value: Any) -> int:
    """Return ``value`` if it is an integer seed in ``[0, 2**32 - 1]`` (JAX's key range)."""
    if isinstance(value, bool) or not isinstance(value, numbers.Integral):
        raise TypeError(f"seed must be an integer in [0, {SEED_MAX}], got {value!r}")
    if not 0 <= value <= SEED_MAX:
        raise ValueError(f"seed must be an integer in [0, {SEED_MAX}], got {value!r}")
    return int(value)


def check_open_unit(name: str, value: Any) -> float:
    """Return ``value`` as a ``float`` if it lies strictly between 0 and 1."""
    if isinstance(value, bool) or not isinstance(value, numbers.Real) or not 0 < value < 1:
        raise ValueError(f"{name} must be a number strictly between 0 and 1, got {value!r}")
    return float(value)


def check_positive(name: str, value: Any) -> float:
    """Return ``value`` as a ``float`` if it is a finite number ``> 0``."""
    real = isinstance(value, numbers.Real) and not isinstance(value, bool)
    if not real or not 0 < value < float("inf"):
        raise ValueError(f"{name} must be a finite number > 0, got {value!r}")
    return float(value)


def check_choice(name: str, value: Any, choices: tuple[str, ...]) -> str:
    """Return ``value`` if it is one of ``choices``."""
    if value not in choices:
        raise ValueError(f"{name} must be one of {list(choices)}, got {value!r}")
    return value


def check_dense_mass(value: Any) -> bool | tuple[tuple[str, ...], ...]:
    """``dense_mass`` as ``bool`` or NumPyro's block structure (tuples of site names).

    Anything else (strings such as ``"no"``, numbers, overlapping blocks) is refused.
    Whether the names are latent sites is checked against the model by the sampler.
    """
    if isinstance(value, bool | np.bool_):
        return bool(value)
    if isinstance(value, list | tuple) and all(
        isinstance(block, tuple) and block and all(isinstance(n, str) for n in block)
        for block in value
    ):
        names = [n for block in value for n in block]
        if len(names) != len(set(names)):
            raise ValueError(f"dense_mass blocks must not share sites, got {value!r}")
        return tuple(tuple(block) for block in value)
    raise TypeError(
        f"dense_mass must be True, False or a list of tuples of latent site names (dense "
        f"blocks, e.g. [('mu', 'tau')]), got {value!r}"
    )
