"""bayesuq: Bayesian inference and uncertainty quantification on NumPyro and JAX.

Every engine returns an :class:`arviz.InferenceData`; :func:`diagnose`, :func:`save` and
:func:`load` work on all of them.
"""

from importlib.metadata import PackageNotFoundError, version

from bayesuq.infer.compilation import enable_compilation_cache

enable_compilation_cache()

from bayesuq.calibration import SBCResult, sbc  # noqa: E402
from bayesuq.diagnostics import Diagnostics, diagnose  # noqa: E402
from bayesuq.infer.many import ManyFits, nuts_many  # noqa: E402
from bayesuq.infer.nuts import nuts  # noqa: E402
from bayesuq.infer.svi import svi  # noqa: E402
from bayesuq.io import load, save  # noqa: E402
from bayesuq.precision import enable_x64  # noqa: E402
from bayesuq.report import report  # noqa: E402

try:
    __version__ = version("bayesuq")
except PackageNotFoundError:  # running from a source tree that is not installed
    __version__ = "0.0.0+unknown"

__all__ = [
    "Diagnostics",
    "ManyFits",
    "SBCResult",
    "__version__",
    "diagnose",
    "enable_compilation_cache",
    "enable_x64",
    "load",
    "nuts",
    "nuts_many",
    "report",
    "save",
    "sbc",
    "svi",
]
