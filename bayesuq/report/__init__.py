"""HTML posterior reports: :func:`report` writes one self-contained file on any fit.

Modules, one job each: ``method`` (what kind of fit), ``selection`` (which scalars to show),
``figures`` (matplotlib drawings, inline PNG), ``panels`` (which figures for which fit),
``sections`` (HTML fragments), ``template`` (the page), ``build`` (:func:`report`).

``bayesuq.report`` (the attribute of ``bayesuq``) is the function; reach the modules with
``from bayesuq.report import figures`` (``import bayesuq.report.figures as f`` does not work,
because ``as`` follows the attribute).
"""

from bayesuq.report.build import report

__all__ = ["report"]
