"""One precision policy: each computation runs in the precision its numerics need.

JAX computes in float32 unless ``jax_enable_x64`` is on. bayesuq never asks a user to flip
that global switch before using a model family:

* every family chooses the precision of its own numerics and runs them inside
  :func:`computing_in` (a thread-local context, whatever the global setting), converting
  its inputs inside the context; float64 only where a test shows float32 is not accurate
  enough (simulated likelihoods with large cancellations, GP and KL algebra, FISTA);
* each family's estimators take ``precision=None`` (the family's default) or an explicit
  ``"float32"`` / ``"float64"`` override, checked by :func:`resolve_precision`;
* :func:`enable_x64` stays for users' own NumPyro models passed to :func:`bayesuq.nuts`
  and :func:`bayesuq.svi`, which run in the global precision.
"""

from __future__ import annotations

import functools
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from typing import Any

import jax

PRECISIONS = ("float32", "float64")


def enable_x64(use_x64: bool = True) -> None:
    """Switch JAX to float64 (``True``) or back to float32, globally.

    For users' own models: call it before creating any arrays (arrays made earlier keep
    their dtype); ``JAX_ENABLE_X64=1`` does the same. Model families do not need it: they
    choose their own precision (see the module docstring).
    """
    jax.config.update("jax_enable_x64", bool(use_x64))


def x64_enabled() -> bool:
    """Whether JAX currently computes in float64 by default (in this context)."""
    return bool(jax.config.read("jax_enable_x64"))


def resolve_precision(precision: str | None, default: str) -> str:
    """The precision to use: ``precision`` if given (checked), else the family's ``default``."""
    chosen = default if precision is None else precision
    if chosen not in PRECISIONS:
        raise ValueError(f"precision must be one of {list(PRECISIONS)} or None, got {precision!r}")
    return chosen


@contextmanager
def computing_in(precision: str) -> Iterator[None]:
    """Run the enclosed JAX code in ``"float32"`` or ``"float64"``, whatever the global flag.

    Thread-local and re-entrant (it wraps ``jax.enable_x64``); arrays created inside take
    the chosen default dtype. Compiled programs are specialised on it, so the same function
    may hold one compiled program per precision.
    """
    if precision not in PRECISIONS:
        raise ValueError(f"precision must be one of {list(PRECISIONS)}, got {precision!r}")
    with jax.enable_x64(precision == "float64"):
        yield


def in_callers_precision(fn: Callable[..., Any]) -> Callable[..., Any]:
    """``fn``, to be called from another thread, in the precision of the thread creating it.

    ``jax.enable_x64`` is thread-local: work handed to a pool from inside
    :func:`computing_in` would otherwise run in the pool thread's (global) precision.
    """
    x64 = x64_enabled()

    @functools.wraps(fn)
    def in_precision(*args: Any, **kwargs: Any) -> Any:
        with jax.enable_x64(x64):
            return fn(*args, **kwargs)

    return in_precision


def float_dtype() -> str:
    """The default floating dtype in the current context: ``"float64"`` or ``"float32"``."""
    return "float64" if x64_enabled() else "float32"
