"""Read a case study (Jupytext percent script) as a notebook for myst-nb.

``jupytext.reads`` plus one fix-up: a script header whose ``kernelspec`` gives the kernel's
``name`` but no ``display_name`` (which nbformat requires, so jupytext refuses the script)
gets ``display_name: Python 3`` added before it is read. Headers that are complete are
read unchanged.
"""

from __future__ import annotations

import re

import jupytext
import nbformat

# `#   kernelspec:` in the YAML header, then its indented children.
_KERNELSPEC = re.compile(r"^(#\s+)kernelspec:\n((?:\1\s+\S.*\n)+)", re.MULTILINE)


def _complete_kernelspec(text: str) -> str:
    match = _KERNELSPEC.search(text)
    if match is None or "display_name:" in match.group(2):
        return text
    child = re.match(r"#\s+", match.group(2)).group(0)
    return text[: match.end()] + f"{child}display_name: Python 3\n" + text[match.end() :]


def read(text: str) -> nbformat.NotebookNode:
    """The notebook of a percent-format script, with a complete kernelspec.

    ``language_info`` (which a kernel fills in when it runs the notebook) is set to Python
    too, so that the code cells are highlighted when the notebook is not executed.
    """
    notebook = jupytext.reads(_complete_kernelspec(text), fmt="py:percent")
    notebook.metadata.setdefault("language_info", {"name": "python", "pygments_lexer": "ipython3"})
    return notebook
