"""bayesuq: Bayesian inference and uncertainty quantification on NumPyro and JAX.

Every engine returns an :class:`arviz.InferenceData`; :func:`diagnose`, :func:`save`,
:func:`load` and :func:`report` work on all of them.

The public names, and ``__version__``, are looked up on first use (PEP 562), so
``import bayesuq`` and the ``bayesuq`` command start fast (``importlib.metadata`` alone
costs more than the rest of the import); the persistent compilation cache is switched on
when the first engine is imported.
"""

from __future__ import annotations

import importlib
from typing import Any

_EXPORTS = {
    "Diagnostics": "bayesuq.diagnostics.checks",
    "ManyFits": "bayesuq.infer.many",
    "SBCResult": "bayesuq.calibration.sbc",
    "diagnose": "bayesuq.diagnostics.checks",
    "enable_compilation_cache": "bayesuq.infer.compilation",
    "enable_x64": "bayesuq.precision",
    "hmc": "bayesuq.infer.hmc",
    "load": "bayesuq.io",
    "nuts": "bayesuq.infer.nuts",
    "nuts_many": "bayesuq.infer.many",
    "report": "bayesuq.reporting.build",
    "save": "bayesuq.io",
    "sbc": "bayesuq.calibration.sbc",
    "svi": "bayesuq.infer.svi",
}

__all__ = ["__version__", *sorted(_EXPORTS)]


def _version() -> str:
    from importlib.metadata import PackageNotFoundError, version

    try:
        return version("bayesuq")
    except PackageNotFoundError:  # running from a source tree that is not installed
        return "0.0.0+unknown"


def __getattr__(name: str) -> Any:
    if name == "__version__":
        globals()[name] = value = _version()
        return value
    module = _EXPORTS.get(name)
    if module is None:
        raise AttributeError(f"module 'bayesuq' has no attribute {name!r}")
    value = getattr(importlib.import_module(module), name)
    globals()[name] = value  # later look-ups skip this function
    return value


def __dir__() -> list[str]:
    return sorted(set(globals()) | set(_EXPORTS) | {"__version__"})
