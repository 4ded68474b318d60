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


@pytest.fixture
def program_store(tmp_path):
    """bayesuq stores and finds compiled programs (and hints) in an empty folder in this test.

    Tests that count compilations or traces of a first fit need it: the default folder
    keeps what earlier test sessions stored.
    """
    previous = jax.config.jax_compilation_cache_dir
    jax.config.update("jax_compilation_cache_dir", str(tmp_path / "jax-cache"))
    try:
        yield tmp_path / "jax-cache" / "bayesuq-programs"
    finally:
        jax.config.update("jax_compilation_cache_dir", previous)
