"""HTML posterior reports; :func:`bayesuq.report` writes one self-contained file on any fit.

Modules, one job each: ``method`` (what kind of fit), ``selection`` (which scalars to show),
``figures`` (matplotlib drawings, inline PNG), ``panels`` (which figures for which fit),
``sections`` (HTML fragments), ``template`` (the page), ``build`` (:func:`report`).
"""

from bayesuq.reporting.build import report

__all__ = ["report"]
