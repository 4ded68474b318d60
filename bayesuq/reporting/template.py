"""The page around the sections: one self-contained HTML document.

Styles are inline, figures are ``data:`` URIs, there is no script, and a Content Security
Policy (``default-src 'none'``) tells the browser to fetch nothing, so the file opens the
same way offline, from an e-mail attachment or from an archive years later.
"""

from __future__ import annotations

from collections.abc import Sequence

from bayesuq.reporting.sections import Section, esc

CSP = "default-src 'none'; img-src data:; style-src 'unsafe-inline'"

STYLE = """
:root { --ok: #1a7f37; --bad: #c62828; --muted: #57606a; --line: #d0d7de; }
* { box-sizing: border-box; }
body { font: 14px/1.45 system-ui, -apple-system, "Segoe UI", Roboto, sans-serif;
       margin: 0; color: #1f2328; background: #fff; }
header { padding: 1.2rem 2rem 0.6rem; border-bottom: 1px solid var(--line); }
header h1 { margin: 0 0 0.2rem; font-size: 1.5rem; }
header p { margin: 0; color: var(--muted); }
nav { padding: 0.4rem 2rem; border-bottom: 1px solid var(--line); background: #f6f8fa; }
nav a { margin-right: 1rem; color: #0969da; text-decoration: none; }
main { padding: 0 2rem 2rem; max-width: 1200px; }
section { margin-top: 1.4rem; }
h2 { font-size: 1.2rem; border-bottom: 1px solid var(--line); padding-bottom: 0.2rem; }
h3 { font-size: 1rem; margin: 0.8rem 0 0.3rem; }
.verdict { border-radius: 6px; padding: 0.7rem 1rem; border: 2px solid; }
.verdict.ok { border-color: var(--ok); background: #dafbe1; }
.verdict.problems { border-color: var(--bad); background: #ffebe9; }
.verdict .headline { font-weight: 600; margin: 0 0 0.3rem; }
.badge { display: inline-block; padding: 0.05rem 0.5rem; border-radius: 4px; color: #fff;
         margin-right: 0.4rem; }
.ok .badge { background: var(--ok); }
.problems .badge { background: var(--bad); }
.messages { margin: 0.2rem 0 0; padding-left: 1.2rem; }
.glance { display: flex; flex-wrap: wrap; gap: 0.4rem 1.4rem; list-style: none;
          padding: 0; color: var(--muted); }
.note { color: var(--muted); font-style: italic; }
.columns { display: flex; flex-wrap: wrap; gap: 0 2rem; }
table { border-collapse: collapse; font-size: 13px; }
table.attrs th { text-align: left; font-weight: 500; color: var(--muted); padding: 0.1rem 1rem
                 0.1rem 0; vertical-align: top; white-space: nowrap; }
table.attrs td { padding: 0.1rem 0; max-width: 60ch; overflow-wrap: anywhere; }
.dims { color: var(--muted); }
.table-wrap { overflow-x: auto; }
table.summary th, table.summary td { padding: 0.15rem 0.6rem; border-bottom: 1px solid
                                     var(--line); text-align: right; white-space: nowrap; }
table.summary tbody th { text-align: left; font-weight: 500; }
table.summary thead th { background: #f6f8fa; position: sticky; top: 0; }
table.summary td.problem-text { text-align: left; color: var(--bad); }
tr.problem { background: #fff1f0; }
td.bad { color: var(--bad); font-weight: 700; }
td.na { color: var(--muted); }
figure { margin: 0; }
img.figure { max-width: 100%; height: auto; border: 1px solid var(--line); }
figcaption { color: var(--muted); margin-top: 0.3rem; max-width: 90ch; }
footer { padding: 1rem 2rem; color: var(--muted); border-top: 1px solid var(--line); }
"""


def render_page(*, title: str, subtitle: str, sections: Sequence[Section], footer: str) -> str:
    """The whole document; ``sections`` carry escaped HTML, ``title`` etc. are plain text."""
    links = "".join(f'<a href="#{esc(s.anchor)}">{esc(s.title)}</a>' for s in sections)
    body = "".join(
        f'<section id="{esc(s.anchor)}"><h2>{esc(s.title)}</h2>{s.body}</section>' for s in sections
    )
    return (
        "<!DOCTYPE html>\n"
        '<html lang="en"><head><meta charset="utf-8">'
        f'<meta http-equiv="Content-Security-Policy" content="{CSP}">'
        '<meta name="viewport" content="width=device-width, initial-scale=1">'
        f"<title>{esc(title)}</title><style>{STYLE}</style></head>"
        f"<body><header><h1>{esc(title)}</h1><p>{esc(subtitle)}</p></header>"
        f"<nav>{links}</nav><main>{body}</main>"
        f"<footer>{esc(footer)}</footer></body></html>\n"
    )
