"""Statistical tolerances shared by the tests (importable as ``tolerances``)."""

from __future__ import annotations

import numpy as np


def assert_moment(estimate: float, truth: float, mcse: float, *, name: str, z: float = 4.0):
    """``|estimate - truth| <= z * mcse``: a Monte Carlo tolerance (4 MCSE: p < 1e-4)."""
    assert np.isfinite(mcse) and mcse > 0, f"{name}: MCSE {mcse} is not usable"
    assert abs(estimate - truth) <= z * mcse, (
        f"{name}: estimate {estimate:.5g}, truth {truth:.5g}, |diff| "
        f"{abs(estimate - truth):.3g} > {z} x MCSE {mcse:.3g}"
    )
