"""Simulation-based calibration: prior simulations, batched fits, rank uniformity.

The public entry points are :func:`bayesuq.sbc` and :class:`bayesuq.SBCResult` (module
:mod:`bayesuq.calibration.sbc`). This package imports nothing at import time, so the
command line's parser (which imports :mod:`bayesuq.calibration.cli`) stays light.
"""
