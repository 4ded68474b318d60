"""Convergence diagnostics and their verdict."""

from bayesuq.diagnostics.chains import find_stuck_chains
from bayesuq.diagnostics.checks import Diagnostics, diagnose

__all__ = ["Diagnostics", "diagnose", "find_stuck_chains"]
