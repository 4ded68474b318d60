"""``bayesuq.report``: one self-contained HTML file on a fit of any model family."""

from __future__ import annotations

import os
import time
from pathlib import Path

import arviz as az

from bayesuq.diagnostics import diagnose
from bayesuq.io import atomic_write
from bayesuq.reporting.figures import FigureEncoder, plotting_style
from bayesuq.reporting.method import classify
from bayesuq.reporting.panels import figure_panels
from bayesuq.reporting.sections import configuration_section, summary_section, verdict_section
from bayesuq.reporting.selection import scalar_index, select
from bayesuq.reporting.template import render_page

MAX_TABLE_ROWS = 50
MAX_PLOTTED = 6
IMAGE_BUDGET_BYTES = 2_500_000
DPI = 100


def report(
    idata: az.InferenceData,
    path: str | os.PathLike,
    *,
    title: str | None = None,
    max_rows: int = MAX_TABLE_ROWS,
    max_plotted: int = MAX_PLOTTED,
) -> Path:
    """Write an HTML report on a fit: verdict, provenance, summary table and plots.

    The file is self-contained (styles inline, figures as base64 PNG, no script, and a
    Content Security Policy that forbids any network request) and is written atomically.

    Parameters
    ----------
    idata
        Result of :func:`bayesuq.nuts`, :func:`bayesuq.svi` or any model family of the zoo
        (martingale posteriors and other non-MCMC draws included).
    path
        Where to write the ``.html`` file (parent folders are created).
    title
        Page title; by default ``"bayesuq report: <model or method>"``.
    max_rows
        Most rows in the summary table. A larger posterior is cut to the ``max_rows``
        worst-mixing scalars (MCMC; ranked by R-hat and ESS against their thresholds) or to
        the first ones with every variable represented (other methods), with a note of how
        many rows were left out.
    max_plotted
        Most scalars in the trace, rank and marginal plots (the pair plot takes the first
        four of them).

    Returns
    -------
    pathlib.Path
        The path written.

    Notes
    -----
    The verdict and the table are :func:`bayesuq.diagnose`'s. MCMC-only panels (rank,
    energy, divergences, R-hat and ESS columns) appear only for fits with sampler
    statistics (``sample_stats["diverging"]``); for other draws the report says why they are
    absent. Images are capped at ``IMAGE_BUDGET_BYTES`` (2.5 MB of base64) in total: a
    figure past the cap is replaced by a note.

    Examples
    --------
    >>> bayesuq.report(idata, "report.html", title="Eight schools")  # doctest: +SKIP
    """
    if not isinstance(idata, az.InferenceData):
        raise TypeError(f"idata must be an arviz.InferenceData, got {type(idata).__name__}")
    if "posterior" not in idata.groups():
        raise ValueError("idata has no posterior group: there is nothing to report")
    if title is not None and not isinstance(title, str):
        raise TypeError(f"title must be a string or None, got {type(title).__name__}")
    for name, value in (("max_rows", max_rows), ("max_plotted", max_plotted)):
        if isinstance(value, bool) or not isinstance(value, int) or value < 1:
            raise ValueError(f"{name} must be a positive integer, got {value!r}")
    path = Path(path)
    if path.is_dir():
        raise ValueError(f"path {str(path)!r} is a folder; expected a file such as report.html")

    diagnostics = diagnose(idata)
    kind = classify(idata)
    selection = select(
        diagnostics.table,
        scalar_index(idata.posterior),
        mcmc=kind.mcmc,
        chains=kind.chains,
        max_rows=max_rows,
        max_plotted=max_plotted,
    )
    encoder = FigureEncoder(budget_bytes=IMAGE_BUDGET_BYTES, dpi=DPI)
    with plotting_style():
        panels = figure_panels(idata, diagnostics, kind, selection, encoder)
    sections = [
        verdict_section(diagnostics, kind, selection),
        configuration_section(idata),
        summary_section(diagnostics, kind, selection),
        *panels,
    ]
    name = idata.attrs.get("model") or kind.label
    from bayesuq import __version__

    page = render_page(
        title=title if title is not None else f"bayesuq report: {name}",
        subtitle=f"{kind.label}, {kind.chains} chain(s) x {kind.draws} draws",
        sections=sections,
        footer=(
            f"Written by bayesuq {__version__} on "
            f"{time.strftime('%Y-%m-%d %H:%M:%S %Z')}. Self-contained: no network resources."
        ),
    )
    return atomic_write(path, lambda partial: partial.write_text(page, encoding="utf-8"))
