"""``bayesuq.report``: content of the page for each kind of fit, escaping, atomic writes.

The pages are checked for what they say and show (verdict, highlighted rows, which
figures), not only for existing: figures are counted by their ``data-figure`` kind.
"""

from __future__ import annotations

import html
import re

import numpy as np
import pytest

import bayesuq
from bayesuq.reporting import build, figures
from bayesuq.reporting.selection import badness, scalar_index, select

IMG = re.compile(r"<img\b[^>]*>")
PAYLOAD = re.compile(r'src="data:image/png;base64,([A-Za-z0-9+/=]+)"')
FIGURE_KIND = re.compile(r'data-figure="([a-z]+)"')
MCMC_FIGURES = ["trace", "rank", "pair", "energy"]
# a resource fetched from the network: src/href (or CSS url()/@import) with a scheme or //
REMOTE = re.compile(r"""(?:src|href)\s*=\s*["']?\s*(?:[a-z]+:)?//|url\(|@import""", re.I)


def figure_kinds(page: str) -> list[str]:
    """The ``data-figure`` kinds of the page's ``<img>`` tags, in page order."""
    return [FIGURE_KIND.search(tag).group(1) for tag in IMG.findall(page)]


def section_ids(page: str) -> list[str]:
    return re.findall(r'<section id="([^"]+)"', page)


def write(idata, tmp_path, name="report.html", **kwargs) -> str:
    path = bayesuq.report(idata, tmp_path / name, **kwargs)
    assert path == tmp_path / name
    return path.read_text(encoding="utf-8")


def assert_self_contained(page: str) -> None:
    assert not REMOTE.search(page), REMOTE.search(page).group(0)
    assert "<script" not in page and "<link" not in page
    assert "default-src 'none'" in page  # the CSP that forbids any request
    for tag in IMG.findall(page):
        assert 'src="data:image/png;base64,' in tag


@pytest.fixture(scope="module")
def centred_page(centred_fit, tmp_path_factory):
    return write(centred_fit, tmp_path_factory.mktemp("centred"))


def test_centred_fit_reports_problems_and_highlights_rows(centred_fit, centred_page):
    page = centred_page
    diagnostics = bayesuq.diagnose(centred_fit)
    assert not diagnostics.ok and diagnostics.divergences > 0
    assert '<div class="verdict problems"' in page and "PROBLEMS FOUND" in page
    assert "do not rely on these results" in page
    for message in diagnostics.messages:  # the advice of diagnose, verbatim and escaped
        assert html.escape(message) in page
    assert f"{diagnostics.divergences} divergent transition(s)" in page
    flagged = diagnostics.table.index[diagnostics.table["problem"] != ""]
    rows = re.findall(r'<tr class="problem"><th>([^<]*)</th>', page)
    assert sorted(html.unescape(r) for r in rows) == sorted(flagged)
    assert page.count("<td class='bad'>") >= len(flagged)  # the failing figures themselves
    for header in ("mean", "sd", "HDI 3%", "HDI 97%", "MCSE mean", "bulk ESS", "tail ESS"):
        assert f"<th>{header}</th>" in page
    assert "<th>R-hat</th>" in page
    assert figure_kinds(page) == MCMC_FIGURES
    assert "predictive-0" not in section_ids(page)  # no posterior_predictive group
    assert "no-mcmc-panels" not in page
    assert_self_contained(page)


def test_provenance_is_shown(centred_fit, centred_page):
    page = centred_page
    for key in ("seed", "chains", "warmup", "jax_version", "jax_devices", "sampling_seconds"):
        assert f"<th>{key}</th>" in page
    assert f"<td>{centred_fit.attrs['jax_version']}</td>" in page
    assert "<title>bayesuq report: eight_schools_centered</title>" in page


def test_posterior_predictive_check_panel(centred_fit_with_ppc, tmp_path):
    page = write(centred_fit_with_ppc, tmp_path)
    assert figure_kinds(page) == [*MCMC_FIGURES, "ppc"]
    assert "Posterior predictive check: y" in page


def test_svi_report_has_elbo_and_no_mcmc_panels(svi_fit, tmp_path):
    page = write(svi_fit, tmp_path)
    assert figure_kinds(page) == ["elbo", "marginals", "pair"]
    assert '<div class="verdict ok"' in page
    assert html.escape(svi_fit.attrs["svi_convergence"]) in page
    assert 'id="no-mcmc-panels"' in page and "variational approximation" in page
    assert "<th>R-hat</th>" not in page and "bulk ESS" not in page
    assert not {"trace", "rank", "energy"} & set(section_ids(page))
    assert_self_contained(page)


def test_martingale_report_leaves_out_mcmc_panels(martingale_normal_fit, tmp_path):
    page = write(martingale_normal_fit, tmp_path)
    assert figure_kinds(page) == ["marginals"]  # one scalar: no pair plot
    assert "Only one scalar is plotted" in page
    note = re.search(r'<p class="note" id="no-mcmc-panels">([^<]*)</p>', page).group(1)
    assert "martingale (normal)" in note and "do not apply" in note
    assert "<th>R-hat</th>" not in page and "divergent" not in page.lower()
    assert not {"trace", "rank", "energy"} & set(section_ids(page))
    assert '<div class="verdict ok"' in page
    assert "<th>theta_n</th>" in page  # the method's own attrs are shown
    assert_self_contained(page)


def test_bootstrap_report_plots_pairs_of_draws(bootstrap_fit, tmp_path):
    page = write(bootstrap_fit, tmp_path)
    assert figure_kinds(page) == ["marginals", "pair"]
    assert "<th>statistic[0]</th>" in page and "<th>statistic[1]</th>" in page
    assert "bayesian_bootstrap_dirichlet" in page


def test_multidimensional_labels_and_unmatched_predictive(presto_shaped_fit, tmp_path):
    page = write(presto_shaped_fit, tmp_path)
    assert html.escape("<th>beta[a, <=low]</th>") != "<th>beta[a, <=low]</th>"
    assert "<th>beta[a, &lt;=low]</th>" in page
    assert figure_kinds(page) == [*MCMC_FIGURES, "predictive"]
    assert "observed_data has no variable of that name" in page


def test_labels_match_the_summary_table(centred_fit, presto_shaped_fit):
    for idata in (centred_fit, presto_shaped_fit):
        table = bayesuq.diagnose(idata).table
        index = scalar_index(idata.posterior)
        assert list(index) == list(table.index)
        last = index[table.index[-1]]
        values = idata.posterior[last.var].values
        assert last.index == values[0, 0].size - 1


def test_badness_orders_worst_first(centred_fit):
    table = bayesuq.diagnose(centred_fit).table
    score = badness(table, chains=2)
    assert (score[table["problem"] != ""] > 1).all()
    chosen = select(
        table, scalar_index(centred_fit.posterior), mcmc=True, chains=2, max_rows=3, max_plotted=2
    )
    assert chosen.table_rows == list(score.sort_values(ascending=False, kind="stable").index[:3])
    assert chosen.flagged_hidden == chosen.flagged - 3
    assert [s.label for s in chosen.plotted] == chosen.table_rows[:2]


def test_pair_plot_marks_every_divergent_draw(centred_fit):
    post = centred_fit.posterior
    draws = {"tau": post["tau"].values, "mu": post["mu"].values}
    divergent = centred_fit.sample_stats["diverging"].values
    fig = figures.pair_figure(draws, divergent)
    marked = [line for ax in fig.axes for line in ax.get_lines() if line.get_label() == "divergent"]
    assert len(marked) == 1 and len(marked[0].get_xdata()) == int(divergent.sum()) > 0


def test_user_strings_are_escaped(martingale_normal_fit, tmp_path):
    idata = martingale_normal_fit.copy()
    idata.attrs["model"] = "<script>alert(1)</script>"
    idata.attrs["note"] = '"><img src=x onerror=alert(1)>'
    idata.posterior = idata.posterior.rename({"theta": "th<e>ta"})
    page = write(idata, tmp_path, title="<b>My & fit</b>")
    assert "<script>" not in page and "<b>My" not in page and "<img src=x" not in page
    assert "<title>&lt;b&gt;My &amp; fit&lt;/b&gt;</title>" in page
    assert "&lt;script&gt;alert(1)&lt;/script&gt;" in page
    assert "<th>th&lt;e&gt;ta</th>" in page
    assert len(IMG.findall(page)) == 1


def test_write_is_atomic(martingale_normal_fit, tmp_path, monkeypatch):
    path = tmp_path / "report.html"
    path.write_text("previous report")

    def broken(**_):
        raise RuntimeError("rendering failed")

    monkeypatch.setattr(build, "render_page", broken)
    with pytest.raises(RuntimeError, match="rendering failed"):
        bayesuq.report(martingale_normal_fit, path)
    assert path.read_text() == "previous report"
    monkeypatch.undo()
    bayesuq.report(martingale_normal_fit, path)
    assert path.read_text().startswith("<!DOCTYPE html>")
    assert sorted(p.name for p in tmp_path.iterdir()) == ["report.html"]


def test_image_budget_caps_the_file(bootstrap_fit, tmp_path, monkeypatch):
    full = write(bootstrap_fit, tmp_path, name="full.html")
    sizes = [len(data) for data in PAYLOAD.findall(full)]
    assert len(sizes) == 2
    budget = sizes[0] + 10  # room for the first figure only
    monkeypatch.setattr(build, "IMAGE_BUDGET_BYTES", budget)
    page = write(bootstrap_fit, tmp_path)
    assert figure_kinds(page) == ["marginals"]
    assert page.count("reached its size cap") == 1
    assert sum(len(data) for data in PAYLOAD.findall(page)) <= budget


@pytest.mark.parametrize(
    ("arguments", "error", "match"),
    [
        ({"idata": {"x": 1}}, TypeError, "idata must be an arviz.InferenceData, got dict"),
        ({"title": 3}, TypeError, "title must be a string or None, got int"),
        ({"max_rows": 0}, ValueError, "max_rows must be a positive integer, got 0"),
        ({"path": "."}, ValueError, "is a folder"),
    ],
)
def test_bad_arguments_are_named(martingale_normal_fit, tmp_path, arguments, error, match):
    kwargs = {"idata": martingale_normal_fit, "path": tmp_path / "r.html", **arguments}
    with pytest.raises(error, match=match):
        bayesuq.report(kwargs.pop("idata"), kwargs.pop("path"), **kwargs)


def test_no_posterior_is_refused(martingale_normal_fit, tmp_path):
    idata = martingale_normal_fit.copy()
    del idata.posterior
    with pytest.raises(ValueError, match="no posterior group"):
        bayesuq.report(idata, tmp_path / "r.html")


def test_non_finite_draws_still_give_a_report(bootstrap_fit, tmp_path):
    idata = bootstrap_fit.copy()
    values = idata.posterior["statistic"].values.copy()
    values[0, :5, 0] = np.nan
    idata.posterior["statistic"] = (idata.posterior["statistic"].dims, values)
    page = write(idata, tmp_path)
    assert "PROBLEMS FOUND" in page and "non-finite draws in statistic" in page
    assert figure_kinds(page) == ["marginals", "pair"]
