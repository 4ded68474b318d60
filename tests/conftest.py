"""Shared test configuration: strict JAX numerics and small reusable models.

Warnings are errors (pyproject), rank promotion raises, and every test seeds explicitly.
"""

from __future__ import annotations

import jax
import pytest

jax.config.update("jax_numpy_rank_promotion", "raise")


@pytest.fixture
def eight_schools_data():
    from bayesuq.data import load_eight_schools

    frame = load_eight_schools()
    return {"sigma": frame["sigma"], "y": frame["y"]}
