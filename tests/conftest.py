"""Shared test configuration: strict JAX numerics and small reusable models.

Warnings are errors (pyproject), rank promotion raises, and every test seeds explicitly.
"""

from __future__ import annotations

import jax
import numpy as np
import pytest

jax.config.update("jax_numpy_rank_promotion", "raise")


def assert_moment(estimate: float, truth: float, mcse: float, *, name: str, z: float = 4.0):
    """``|estimate - truth| <= z * mcse``: a Monte Carlo tolerance (4 MCSE: p < 1e-4)."""
    assert np.isfinite(mcse) and mcse > 0, f"{name}: MCSE {mcse} is not usable"
    assert abs(estimate - truth) <= z * mcse, (
        f"{name}: estimate {estimate:.5g}, truth {truth:.5g}, |diff| "
        f"{abs(estimate - truth):.3g} > {z} x MCSE {mcse:.3g}"
    )


@pytest.fixture
def eight_schools_data():
    from bayesuq.data import load_eight_schools

    frame = load_eight_schools()
    return {"sigma": frame["sigma"], "y": frame["y"]}
