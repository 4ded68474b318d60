"""Command-line arguments of the case studies, from a shell or from a Jupyter kernel.

The case studies in ``case_studies/`` are Jupytext percent scripts that run as programs
(``python case_studies/x.py --smoke --out DIR``, ``bayesuq run case_studies/x.py -- ...``,
``runpy`` in the tests) and as notebooks (the docs build executes them with myst-nb). In a
kernel ``sys.argv`` holds the kernel's own arguments, so :func:`case_study_args` reads the
study's arguments from the environment variable ``BAYESUQ_CASE_STUDY_ARGS`` there instead.
"""

from __future__ import annotations

import argparse
import os
import shlex
import sys
from pathlib import Path

ENV_VAR = "BAYESUQ_CASE_STUDY_ARGS"

__all__ = ["ENV_VAR", "case_study_args"]


def _kernel_shell():
    """The IPython shell of the Jupyter kernel running this code, or None outside a kernel."""
    ipython = sys.modules.get("IPython")
    if ipython is None:
        return None
    shell = ipython.get_ipython()
    return shell if getattr(shell, "kernel", None) is not None else None


def case_study_args(parser: argparse.ArgumentParser, module_name: str) -> argparse.Namespace:
    """Parse a case study's arguments wherever the study runs.

    Parameters
    ----------
    parser : argparse.ArgumentParser
        The study's parser. It must define ``--out`` (the folder the study writes to).
    module_name : str
        The calling module's ``__name__``.

    Returns
    -------
    argparse.Namespace
        The parsed arguments: from ``sys.argv[1:]`` when the study runs as a program
        (``module_name == "__main__"`` outside a kernel); from ``shlex.split`` of the
        environment variable ``BAYESUQ_CASE_STUDY_ARGS`` (empty if unset) inside a Jupyter
        kernel; the parser's defaults when the study is imported.

    Notes
    -----
    Inside a kernel the study keeps its own matplotlib backend (the scripts select
    ``Agg``), and each PNG file written under ``--out`` during a cell is displayed below
    that cell, so a rendered notebook shows exactly the figures the program writes.

    Examples
    --------
    At the top of a case study::

        parser = argparse.ArgumentParser()
        parser.add_argument("--smoke", action="store_true")
        parser.add_argument("--out", default="results/my_study")
        args = case_study_args(parser, __name__)
    """
    shell = _kernel_shell()
    if shell is not None:
        args = parser.parse_args(shlex.split(os.environ.get(ENV_VAR, "")))
        _show_new_figures(shell, Path(args.out))
        return args
    return parser.parse_args(sys.argv[1:] if module_name == "__main__" else [])


def _show_new_figures(shell, out: Path) -> None:
    """After each cell, display the PNG files under ``out`` that the cell created or changed."""
    from IPython.display import Image, display

    def stamps() -> dict[Path, int]:
        return {path: path.stat().st_mtime_ns for path in sorted(out.glob("*.png"))}

    seen = stamps()

    def after_cell(_result) -> None:
        for path, stamp in stamps().items():
            if seen.get(path) != stamp:
                seen[path] = stamp
                display(Image(filename=str(path)))

    shell.events.register("post_run_cell", after_cell)
