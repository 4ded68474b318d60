"""Test functions of the DEUP optimisation experiments (maximisation, noiseless).

Each is a :class:`TestFunction`: box ``bounds``, the known ``optimum`` value and its
``argmax``, and a pure JAX ``__call__`` on inputs of shape ``(..., d)`` returning ``(...)``.

* :data:`MULTI_OPTIMA` - ``sin(x) cos(5x) cos(22x)`` on ``[-1, 2]``: 13 local maxima, the
  global one 0.94989 at ``x = 1.85723`` (Lahlou et al. 2023, Section 5.1);
* :data:`LEVI_N13` - the negated Levi function N.13 on ``[-10, 10]^2``, maximum 0 at
  ``(1, 1)``;
* :func:`ackley` - the negated Ackley function (``a = 20, b = 0.2, c = 2 pi``) on
  ``[-10, 15]^d``, maximum 0 at the origin (the TuRBO experiments of Lahlou et al.).
"""

from __future__ import annotations

import functools
import math
from collections.abc import Callable
from dataclasses import dataclass

import jax
import jax.numpy as jnp
import numpy as np

__all__ = ["FUNCTIONS", "LEVI_N13", "MULTI_OPTIMA", "TestFunction", "ackley", "get_function"]


@dataclass(frozen=True)
class TestFunction:
    """A box-bounded test function to maximise.

    Attributes
    ----------
    name
        Short name (used in results and on the command line).
    lower, upper
        The box ``[lower, upper]`` (one entry per input dimension).
    optimum
        The maximum value.
    argmax
        A maximiser.
    fn
        Pure JAX function of ``x`` with shape ``(..., d)`` returning ``(...)``. A
        module-level function, so that equal test functions compare (and hash) equal and
        share compiled programs.
    """

    name: str
    lower: tuple[float, ...]
    upper: tuple[float, ...]
    optimum: float
    argmax: tuple[float, ...]
    fn: Callable[[jax.Array], jax.Array]

    __test__ = False  # not a pytest test class

    @property
    def dim(self) -> int:
        """Input dimension ``d``."""
        return len(self.lower)

    @property
    def bounds(self) -> np.ndarray:
        """``(2, d)`` array: lower bounds, then upper bounds."""
        return np.array([self.lower, self.upper], dtype=float)

    def __call__(self, x: jax.Array) -> jax.Array:
        x = jnp.asarray(x)
        if x.ndim == 0 or x.shape[-1] != self.dim:
            raise ValueError(
                f"{self.name}: x must have shape (..., {self.dim}), got shape {x.shape}"
            )
        return self.fn(x)


def _multi_optima(x: jax.Array) -> jax.Array:
    """``sin(x) cos(5x) cos(22x)``."""
    x = x[..., 0]
    return jnp.sin(x) * jnp.cos(5.0 * x) * jnp.cos(22.0 * x)


def _levi_n13(x: jax.Array) -> jax.Array:
    """Negated Levi N.13.

    ``-[sin^2(3 pi u) + (u-1)^2 (1 + sin^2(3 pi v)) + (v-1)^2 (1 + sin^2(2 pi v))]``.
    """
    u, v = x[..., 0], x[..., 1]
    return -(
        jnp.sin(3.0 * math.pi * u) ** 2
        + (u - 1.0) ** 2 * (1.0 + jnp.sin(3.0 * math.pi * v) ** 2)
        + (v - 1.0) ** 2 * (1.0 + jnp.sin(2.0 * math.pi * v) ** 2)
    )


def _ackley(x: jax.Array) -> jax.Array:
    """Negated Ackley: ``20 exp(-0.2 sqrt(mean x^2)) + exp(mean cos 2 pi x) - 20 - e``."""
    mean_square = jnp.mean(x**2, axis=-1)
    # sqrt has an infinite derivative at 0; the value there is exact either way.
    safe = jnp.where(mean_square > 0, mean_square, 1.0)
    root = jnp.where(mean_square > 0, jnp.sqrt(safe), 0.0)
    return (
        20.0 * jnp.exp(-0.2 * root)
        + jnp.exp(jnp.mean(jnp.cos(2.0 * math.pi * x), axis=-1))
        - 20.0
        - math.e
    )


#: ``sin(x) cos(5x) cos(22x)`` on ``[-1, 2]``; maximum 0.94989 at ``x = 1.85723``.
MULTI_OPTIMA = TestFunction(
    name="multi_optima",
    lower=(-1.0,),
    upper=(2.0,),
    optimum=0.9498949195432108,
    argmax=(1.857228462841931,),
    fn=_multi_optima,
)

#: Negated Levi N.13 on ``[-10, 10]^2``; maximum 0 at ``(1, 1)``.
LEVI_N13 = TestFunction(
    name="levi_n13",
    lower=(-10.0, -10.0),
    upper=(10.0, 10.0),
    optimum=0.0,
    argmax=(1.0, 1.0),
    fn=_levi_n13,
)


@functools.cache
def ackley(d: int) -> TestFunction:
    """The negated Ackley function in ``d`` dimensions on ``[-10, 15]^d`` (maximum 0 at 0).

    ``f(x) = 20 exp(-0.2 sqrt(mean_i x_i^2)) + exp(mean_i cos(2 pi x_i)) - 20 - e``
    (Ackley 1987; BoTorch's ``Ackley(negate=True)`` with the box of Lahlou et al.'s TuRBO
    runs).
    """
    if isinstance(d, bool) or not isinstance(d, int | np.integer) or d < 1:
        raise ValueError(f"d must be a positive integer, got {d!r}")
    d = int(d)
    return TestFunction(
        name=f"ackley{d}",
        lower=(-10.0,) * d,
        upper=(15.0,) * d,
        optimum=0.0,
        argmax=(0.0,) * d,
        fn=_ackley,
    )


FUNCTIONS = ("multi_optima", "levi_n13", "ackley2", "ackley5", "ackley10")
"""Names accepted by :func:`get_function` (any ``ackley<d>`` works)."""


def get_function(name: str) -> TestFunction:
    """The test function called ``name``: ``multi_optima``, ``levi_n13`` or ``ackley<d>``."""
    if name == "multi_optima":
        return MULTI_OPTIMA
    if name == "levi_n13":
        return LEVI_N13
    if name.startswith("ackley") and name[6:].isdigit() and int(name[6:]) >= 1:
        return ackley(int(name[6:]))
    raise ValueError(
        f"function must be 'multi_optima', 'levi_n13' or 'ackley<d>' (e.g. 'ackley2'), got {name!r}"
    )
