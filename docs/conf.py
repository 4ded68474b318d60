"""Sphinx configuration of the bayesuq documentation.

Build (warnings are errors): ``.venv/bin/python -m sphinx -W --keep-going -b html docs
docs/_build/html``. Pages are MyST markdown; the API reference is generated from the
numpydoc docstrings by autodoc; the case studies (``docs/case_studies/*.py``, links to the
Jupytext percent scripts in ``case_studies/``) are read by myst-nb through jupytext and
executed in smoke mode at build time, so the pages show current output.
"""

from __future__ import annotations

import os
import re
import sys
from importlib.metadata import version as _version
from pathlib import Path

from bayesuq.case_study import ENV_VAR

sys.path.insert(0, str(Path(__file__).parent / "_ext"))

project = "bayesuq"
author = "bayesuq developers"
copyright = "2026, bayesuq developers"
release = _version("bayesuq")

extensions = [
    "myst_nb",  # MyST markdown pages and executed notebooks (it includes myst_parser)
    "sphinx.ext.autodoc",
    "sphinx.ext.autosummary",
    "sphinx.ext.mathjax",
    "numpydoc",
]

exclude_patterns = ["_build", "_ext", "conf.py", "**/.ipynb_checkpoints"]
templates_path: list[str] = []
html_static_path: list[str] = []

# --- MyST and myst-nb ----------------------------------------------------------------
myst_enable_extensions = ["dollarmath", "colon_fence", "deflist"]
myst_heading_anchors = 3  # `[text](#a-heading)` links between and inside pages
# The case studies are Jupytext percent scripts: read them as notebooks (`_ext/`).
nb_custom_formats = {".py": "case_study_reader.read"}
# Execute at build time (cached between local builds in `<outdir>/../.jupyter_cache`; a
# fresh output folder, as in `tests/test_docs.py`, always executes). A failing cell fails
# the build; each cell gets at most `nb_execution_timeout` seconds.
nb_execution_mode = "cache"
nb_execution_raise_on_error = True
nb_execution_show_tb = True
nb_execution_timeout = 300
# The aggregate-data study compiles NUTS programs for four likelihood modes (about 3 min of
# CPU on a cold cache, more than the rest of the build): CI could not afford it within its
# 15-minute test budget. Its page shows the code and prose unexecuted and links to the
# full-run results in the aggregate guide; the study itself runs in `pytest -m slow`.
# The meta-learning studies train networks (minutes each), and the two DEUP studies compile
# several optimisation programs even in smoke mode: same treatment, full-run results in
# docs/metalearn.md and docs/deup.md.
NOT_EXECUTED = [
    "aggregate_drug_trials",
    "deup_misspecified",
    "deup_optimisation",
    "metalearn_digits",
    "metalearn_linear_gaussian",
    "metalearn_memory",
    "metalearn_sine",
]
nb_execution_excludepatterns = [f"*/{name}.py" for name in NOT_EXECUTED]
# Run each notebook in a temporary folder, so the results the studies write (their default
# `--out results/<study>`) do not land in the source tree.
nb_execution_in_temp = True
nb_merge_streams = True
# Inside the kernel the case studies take their arguments from this variable (see
# `bayesuq.case_study.case_study_args`): smoke mode, the size the test suite runs.
os.environ.setdefault(ENV_VAR, "--smoke")
# bayesuq's progress bars use `tqdm.auto`, which warns on import in a kernel without
# ipywidgets ("IProgress not found"); the studies run with progress=False, so that warning
# would only clutter the pages. This one message is ignored in the kernels (they inherit
# the environment); every other warning still shows as cell output.
_TQDM_FILTER = "ignore:IProgress not found"  # category: tqdm is not importable at startup
os.environ["PYTHONWARNINGS"] = ",".join(
    filter(None, [os.environ.get("PYTHONWARNINGS", ""), _TQDM_FILTER])
)

# --- API reference -------------------------------------------------------------------
autosummary_generate = False  # summary tables only; the entries are on the same page
autodoc_default_options = {"members": True, "member-order": "bysource"}
numpydoc_show_class_members = False  # members are documented by autodoc's :members:
numpydoc_class_members_toctree = False
numpydoc_xref_param_type = False
# scikit-learn adds `set_<method>_request` methods (metadata routing) to every estimator
# class; they are sklearn's API, not ours, and their docstrings cite sklearn's own docs.
_SKLEARN_REQUEST = re.compile(r"^set_\w+_request$")

# --- HTML ----------------------------------------------------------------------------
html_theme = "pydata_sphinx_theme"
html_title = f"bayesuq {release}"
html_theme_options = {
    "navigation_with_keys": False,
    "show_toc_level": 2,
}
html_show_sourcelink = False


def _skip_sklearn_request(app, what, name, obj, skip, options):
    return True if what == "class" and _SKLEARN_REQUEST.match(name) else None


def setup(app):
    app.connect("autodoc-skip-member", _skip_sklearn_request)
