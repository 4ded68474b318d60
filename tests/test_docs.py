"""The documentation builds without warnings, and its pages hold what they should.

One Sphinx build (``-W``: warnings are errors) into a temporary folder, shared by the tests
of this module. The build executes every case study in smoke mode (myst-nb), so this is
also where the case studies run in the default suite; ``tests/test_case_studies.py`` runs
them as programs under ``-m slow``.
"""

from __future__ import annotations

import html
import importlib
import json
import os
import re
import subprocess
import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[1]
DOCS = ROOT / "docs"
STUDIES = sorted(p.stem for p in (ROOT / "case_studies").glob("*.py"))
# Rendered but not executed by the docs build (see NOT_EXECUTED in docs/conf.py).
UNEXECUTED = {
    "aggregate_drug_trials",
    "deup_misspecified",
    "deup_optimisation",
    "metalearn_digits",
    "metalearn_linear_gaussian",
    "metalearn_memory",
    "metalearn_sine",
}
EXECUTED = [s for s in STUDIES if s not in UNEXECUTED]
# The figures each study writes under --out (at least these), shown on its page.
MIN_FIGURES = {
    "aggregate_drug_trials": 2,  # modes.png, noise_study.png
    "deup_misspecified": 1,  # misspecified.png
    "deup_optimisation": 2,  # smo_curves.png, turbo_curves.png
    "eight_schools": 0,
    "metalearn_digits": 0,  # not executed: figures in docs/metalearn.md
    "metalearn_linear_gaussian": 0,
    "metalearn_memory": 0,
    "metalearn_sine": 0,
    "martingale_posteriors": 1,  # martingale.png
    "presto_rare_events": 2,  # mse_boxplots.png, bayes_rare_intervals.png
}
BUILD_TIMEOUT_S = 900


@pytest.fixture(scope="module")
def site(tmp_path_factory):
    """Build the docs once; return the HTML folder and the build log."""
    base = tmp_path_factory.mktemp("docs")
    html_dir = base / "html"
    env = {**os.environ, "BAYESUQ_CASE_STUDY_ARGS": "--smoke"}
    command = [sys.executable, "-m", "sphinx", "-W", "--keep-going", "-b", "html"]
    result = subprocess.run(
        [*command, str(DOCS), str(html_dir)],
        capture_output=True,
        text=True,
        env=env,
        timeout=BUILD_TIMEOUT_S,
        check=False,
    )
    log = result.stdout + result.stderr
    assert result.returncode == 0, f"sphinx-build failed:\n{log[-6000:]}"
    return html_dir, log


def page_text(path: Path) -> str:
    """The visible text of an HTML page (tags dropped, entities decoded)."""
    return html.unescape(re.sub(r"<[^>]+>", " ", path.read_text(encoding="utf-8")))


def executed_notebook(site_dir: Path, study: str) -> dict:
    """The notebook myst-nb executed for a case study (next to the HTML folder)."""
    path = site_dir.parent / "jupyter_execute" / "case_studies" / f"{study}.ipynb"
    return json.loads(path.read_text(encoding="utf-8"))


def stream_text(notebook: dict) -> str:
    return "".join(
        "".join(output.get("text", ""))
        for cell in notebook["cells"]
        if cell["cell_type"] == "code"
        for output in cell.get("outputs", [])
        if output["output_type"] == "stream" and output.get("name") == "stdout"
    )


def test_build_has_no_warnings(site):
    _, log = site
    assert "WARNING" not in log.replace("[IPKernelApp] WARNING", ""), log[-6000:]
    assert "build succeeded" in log


def test_landing_page_links_every_part(site):
    site_dir, _ = site
    index = (site_dir / "index.html").read_text(encoding="utf-8")
    for target in (
        "user_guide.html",
        "architecture.html",
        "benchmarks.html",
        "contributing.html",
        "api/index.html",
        "report.html",
        "calibration.html",
        *(f"case_studies/{study}.html" for study in STUDIES),
    ):
        assert f'href="{target}' in index, target


def test_api_reference_is_generated_from_docstrings(site):
    site_dir, _ = site
    core = (site_dir / "api" / "core.html").read_text(encoding="utf-8")
    names = ("nuts", "svi", "diagnose", "Diagnostics", "save", "load", "enable_x64")
    for name in (*names, "report", "sbc", "SBCResult", "nuts_many", "ManyFits"):
        assert f'id="bayesuq.{name}"' in core, name
    # numpydoc rendered the Parameters section of nuts (a docstring sentence, not a name).
    assert "target_accept" in page_text(site_dir / "api" / "core.html")
    for family in ("presto", "martingale", "aggregate", "metalearn", "deup"):
        module = importlib.import_module(f"bayesuq.models.{family}")
        page = (site_dir / "api" / f"{family}.html").read_text(encoding="utf-8")
        # Every public function and class; module constants need a `#:` doc comment to
        # be documented, which is checked by eye, not here.
        missing = [
            name
            for name in module.__all__
            if callable(getattr(module, name))
            and f'id="bayesuq.models.{family}.{name}"' not in page
        ]
        assert not missing, f"{family}: not documented: {missing}"


def test_unexecuted_study_pages_show_their_code(site):
    site_dir, _ = site
    for study in sorted(UNEXECUTED):
        page = (site_dir / "case_studies" / f"{study}.html").read_text(encoding="utf-8")
        assert "highlight-ipython3" in page or "cell_input" in page, study
        assert "not executed" in page, f"{study}: the page must say it is not executed"


@pytest.mark.parametrize("study", EXECUTED)
def test_case_study_page_shows_executed_output(site, study):
    site_dir, _ = site
    page = (site_dir / "case_studies" / f"{study}.html").read_text(encoding="utf-8")
    assert "cell_output" in page, f"{study}: no executed output on the page"
    images = re.findall(r'<img[^>]+src="([^"]+\.png)"', page)
    assert len(images) >= MIN_FIGURES[study], f"{study}: figures {images}"
    assert len(set(images)) == len(images), f"{study}: a figure is shown twice: {images}"
    for src in images:
        assert (site_dir / "case_studies" / src).resolve().is_file(), src
    notebook = executed_notebook(site_dir, study)
    errors = [
        output
        for cell in notebook["cells"]
        for output in cell.get("outputs", [])
        if output["output_type"] == "error"
    ]
    assert not errors


def test_eight_schools_centred_fit_fails_its_diagnostics(site):
    """The rendered study shows what it claims: divergences in the centred model."""
    site_dir, _ = site
    text = stream_text(executed_notebook(site_dir, "eight_schools"))
    match = re.search(r"'centred_divergences': (\d+)", text)
    assert match, text[-2000:]
    assert int(match.group(1)) > 0
    assert "'centred_ok': False" in text
