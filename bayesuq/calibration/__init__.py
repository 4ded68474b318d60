"""Simulation-based calibration: prior simulations, batched fits, rank uniformity."""

from bayesuq.calibration.sbc import SBCResult, sbc

__all__ = ["SBCResult", "sbc"]
