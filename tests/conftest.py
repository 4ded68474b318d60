"""Shared test configuration: strict JAX numerics and small reusable models.

Warnings are errors (pyproject), rank promotion raises, and every test seeds explicitly.
"""

from __future__ import annotations

import signal

import jax
import pytest

jax.config.update("jax_numpy_rank_promotion", "raise")


@pytest.fixture
def eight_schools_data():
    from bayesuq.data import load_eight_schools

    frame = load_eight_schools()
    return {"sigma": frame["sigma"], "y": frame["y"]}


@pytest.fixture
def ctrl_c_raises():
    """Ctrl-C (SIGINT) raises ``KeyboardInterrupt`` during the test, as in a plain Python.

    pytest-xdist's worker processes ignore SIGINT; tests that send it need Python's handler.
    """
    previous = signal.signal(signal.SIGINT, signal.default_int_handler)
    yield
    signal.signal(signal.SIGINT, previous)
