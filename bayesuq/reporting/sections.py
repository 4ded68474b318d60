"""HTML fragments of a report: verdict, configuration and provenance, summary table, panels.

Every string that comes from the user (titles, attrs, variable names, coordinates,
messages) is escaped with :func:`html.escape` here, at the point where it becomes HTML.
"""

from __future__ import annotations

import html
import math
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

import arviz as az
import numpy as np
import pandas as pd

from bayesuq.diagnostics import Diagnostics
from bayesuq.diagnostics.checks import ESS_PER_CHAIN_MIN, RHAT_MAX
from bayesuq.reporting.method import FitKind
from bayesuq.reporting.selection import Selection

SOFTWARE_KEYS = (
    "inference_library",
    "python_version",
    "jax_backend",
    "jax_devices",
    "x64",
    "created_at",
)
MAX_LISTED_VARIABLES = 30


def esc(value: Any) -> str:
    """``str(value)`` escaped for HTML text and attribute values."""
    return html.escape(str(value), quote=True)


@dataclass(frozen=True)
class Section:
    """One titled part of the page; ``body`` is HTML that is already escaped."""

    anchor: str
    title: str
    body: str


def figure_section(anchor: str, title: str, figure_html: str, caption: str) -> Section:
    """A figure (an ``<img>`` tag or a note) with a caption saying what to look for."""
    return Section(
        anchor, title, f"<figure>{figure_html}<figcaption>{esc(caption)}</figcaption></figure>"
    )


def note_section(anchor: str, title: str, text: str) -> Section:
    return Section(anchor, title, f'<p class="note">{esc(text)}</p>')


def _headline(diagnostics: Diagnostics, kind: FitKind) -> str:
    if not diagnostics.ok:
        return (
            "Problems found: do not rely on these results until the problems below are "
            "fixed. Each item says what to do."
        )
    if kind.mcmc and kind.chains > 1:
        return (
            "No problems found: the chains agree, there are enough effective draws and the "
            "sampler followed the posterior. You can use these results."
        )
    if kind.mcmc:
        return (
            "No problems found within the one chain, but agreement between chains could not "
            "be checked: run several chains before relying on these results."
        )
    if kind.svi:
        return (
            "The optimisation converged. The draws come from an approximation of the "
            "posterior; see the note below."
        )
    return "No problems found by the checks that apply: " + "; ".join(diagnostics.checked) + "."


def _glance(diagnostics: Diagnostics, kind: FitKind, selection: Selection) -> list[str]:
    table = diagnostics.table
    items = [
        f"{kind.label}: {kind.chains} chain(s) x {kind.draws} draws",
        f"{selection.total} scalar(s), {selection.flagged} flagged",
    ]
    if kind.mcmc:
        if "r_hat" in table and kind.chains > 1 and table["r_hat"].notna().any():
            items.append(f"max R-hat {table['r_hat'].max():.3f} (limit {RHAT_MAX})")
        for column, name in (("ess_bulk", "bulk"), ("ess_tail", "tail")):
            if column in table and table[column].notna().any():
                items.append(
                    f"min {name} ESS {table[column].min():.0f} "
                    f"(need {ESS_PER_CHAIN_MIN * kind.chains})"
                )
        items.append(f"{diagnostics.divergences} divergent transition(s)")
        if diagnostics.bfmi is not None:
            items.append("E-BFMI " + ", ".join(f"{b:.2f}" for b in np.ravel(diagnostics.bfmi)))
    return items


def verdict_section(diagnostics: Diagnostics, kind: FitKind, selection: Selection) -> Section:
    """The verdict of :func:`bayesuq.diagnose` in plain language, with its advice."""
    state = "ok" if diagnostics.ok else "problems"
    label = "OK" if diagnostics.ok else "PROBLEMS FOUND"
    messages = "".join(f"<li>{esc(m)}</li>" for m in diagnostics.messages)
    glance = "".join(f"<li>{esc(g)}</li>" for g in _glance(diagnostics, kind, selection))
    body = (
        f'<div class="verdict {state}" id="verdict-box">'
        f'<p class="headline"><span class="badge">{label}</span> '
        f"{esc(_headline(diagnostics, kind))}</p>"
        f'<ul class="messages">{messages}</ul></div>'
        f'<ul class="glance">{glance}</ul>'
    )
    if not kind.mcmc:
        body += f'<p class="note" id="no-mcmc-panels">{esc(kind.why_no_mcmc_panels)}</p>'
    return Section("verdict", "Verdict", body)


def _format_attr(key: str, value: Any) -> str:
    if isinstance(value, float | np.floating):
        if key.endswith("_seconds"):
            return f"{float(value):.3g} s"
        return f"{float(value):.6g}"
    return str(value) if str(value) != "" else "(none)"


def _attr_table(items: list[tuple[str, Any]]) -> str:
    rows = "".join(
        f"<tr><th>{esc(k)}</th><td>{esc(_format_attr(k, v))}</td></tr>" for k, v in items
    )
    return f'<table class="attrs">{rows}</table>'


def _contents(idata: az.InferenceData) -> str:
    rows = []
    for group in idata.groups():
        dataset = getattr(idata, group)
        names = list(dataset.data_vars)
        shown = []
        for name in names[:MAX_LISTED_VARIABLES]:
            array = dataset[name]
            dims = ", ".join(f"{d}={array.sizes[d]}" for d in array.dims)
            shown.append(f"{esc(name)} <span class='dims'>({esc(dims)})</span>")
        if len(names) > MAX_LISTED_VARIABLES:
            shown.append(f"and {len(names) - MAX_LISTED_VARIABLES} more")
        rows.append(f"<tr><th>{esc(group)}</th><td>{'; '.join(shown)}</td></tr>")
    return f'<table class="attrs">{"".join(rows)}</table>'


def configuration_section(idata: az.InferenceData) -> Section:
    """Run configuration, timings and provenance from ``attrs``, and the groups' contents."""
    attrs: Mapping[str, Any] = dict(idata.attrs)
    timings = [(k, v) for k, v in attrs.items() if k.endswith("_seconds")]
    software = [(k, v) for k, v in attrs.items() if k in SOFTWARE_KEYS or k.endswith("_version")]
    taken = {k for k, _ in timings + software}
    run = [(k, v) for k, v in attrs.items() if k not in taken]
    parts = []
    for heading, items in (
        ("Run configuration", run),
        ("Timings", timings),
        ("Software and device", software),
    ):
        if items:
            parts.append(f"<div><h3>{heading}</h3>{_attr_table(items)}</div>")
    if not attrs:
        parts.append('<p class="note">This InferenceData carries no attrs (no provenance).</p>')
    body = f'<div class="columns">{"".join(parts)}</div><h3>Contents</h3>{_contents(idata)}'
    return Section("configuration", "Configuration and provenance", body)


COLUMN_NAMES = {
    "mean": "mean",
    "sd": "sd",
    "mcse_mean": "MCSE mean",
    "mcse_sd": "MCSE sd",
    "ess_bulk": "bulk ESS",
    "ess_tail": "tail ESS",
    "r_hat": "R-hat",
    "problem": "problem",
}


def _columns(table: pd.DataFrame) -> list[str]:
    hdi = [c for c in table.columns if str(c).startswith("hdi_")]
    order = ["mean", "sd", *hdi, "mcse_mean", "mcse_sd", "ess_bulk", "ess_tail", "r_hat"]
    return [c for c in order if c in table.columns] + ["problem"]


def _cell(column: str, value: Any, chains: int) -> str:
    if column == "problem":
        return f"<td class='problem-text'>{esc(value)}</td>"
    if value is None or (isinstance(value, float) and math.isnan(value)):
        return "<td class='na'>n/a</td>"
    value = float(value)
    bad = (column == "r_hat" and value > RHAT_MAX) or (
        column in ("ess_bulk", "ess_tail") and value < ESS_PER_CHAIN_MIN * chains
    )
    if column in ("ess_bulk", "ess_tail"):
        text = f"{value:.0f}"
    elif column == "r_hat":
        text = f"{value:.3f}"
    elif column.startswith("mcse"):
        text = f"{value:.2g}"
    else:
        text = f"{value:.3g}"
    return f"<td class='bad'>{text}</td>" if bad else f"<td>{text}</td>"


def summary_section(diagnostics: Diagnostics, kind: FitKind, selection: Selection) -> Section:
    """The summary table of the selected rows; rows with a problem are highlighted."""
    table = diagnostics.table
    columns = _columns(table)
    head = "".join(
        f"<th>{esc(COLUMN_NAMES.get(c, str(c).replace('hdi_', 'HDI ')))}</th>" for c in columns
    )
    rows = []
    for label in selection.table_rows:
        row = table.loc[label]
        flagged = str(row.get("problem", "")) != ""
        cells = "".join(_cell(c, row.get(c, ""), kind.chains) for c in columns)
        css = ' class="problem"' if flagged else ""
        rows.append(f"<tr{css}><th>{esc(label)}</th>{cells}</tr>")
    shown = len(selection.table_rows)
    intro = (
        "Rows with a problem are highlighted; the failing figures are in bold red "
        f"(R-hat above {RHAT_MAX}, ESS below {ESS_PER_CHAIN_MIN} per chain)."
        if kind.mcmc
        else "Summary of the draws; convergence columns do not apply to this method."
    )
    notes = [f'<p class="note">{esc(intro)}</p>']
    if shown < selection.total:
        order = (
            "the worst by R-hat and ESS (worst first)"
            if kind.mcmc
            else "the first of each variable, then in model order"
        )
        omitted = (
            f"Showing {shown} of {selection.total} scalars: {order}. "
            f"{selection.total - shown} rows are omitted"
        )
        if selection.flagged_hidden:
            omitted += f", {selection.flagged_hidden} of them flagged"
        omitted += (
            ". The full table is bayesuq.diagnose(idata).table "
            "(or `bayesuq diagnose` on the saved file)."
        )
        notes.append(f'<p class="note" id="rows-omitted">{esc(omitted)}</p>')
    body = (
        "".join(notes)
        + '<div class="table-wrap"><table class="summary">'
        + f"<thead><tr><th>parameter</th>{head}</tr></thead>"
        + f"<tbody>{''.join(rows)}</tbody></table></div>"
    )
    return Section("summary", "Posterior summary", body)
