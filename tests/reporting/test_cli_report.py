"""``bayesuq report``: a saved fit (netCDF round trip) to an HTML file."""

from __future__ import annotations

import html
import re

import bayesuq
from bayesuq.cli import main


def test_report_from_saved_fit(centred_fit, tmp_path, capsys):
    results = bayesuq.save(centred_fit, tmp_path / "results" / "posterior.nc")
    out = tmp_path / "out" / "report.html"
    title = "Schools <centred> & co"
    assert main(["report", str(results), "-o", str(out), "--title", title]) == 0
    assert capsys.readouterr().out.startswith(f"wrote {out} (")
    page = out.read_text(encoding="utf-8")
    assert f"<title>{html.escape(title)}</title>" in page
    assert "PROBLEMS FOUND" in page  # the verdict survives the round trip
    assert page.count('<tr class="problem">') == int(
        (bayesuq.diagnose(centred_fit).table["problem"] != "").sum()
    )
    assert page.count("<img ") == 4  # trace, rank, pair, energy
    assert f"<td>{centred_fit.attrs['seed']}</td>" in page


def test_report_default_output_next_to_results(martingale_normal_fit, tmp_path):
    results = bayesuq.save(martingale_normal_fit, tmp_path / "mp.nc")
    assert main(["report", str(results)]) == 0
    page = (tmp_path / "mp.html").read_text(encoding="utf-8")
    assert re.search(r"<title>bayesuq report: martingale \(\w*normal\)</title>", page)


def test_report_missing_results_is_a_usage_error(tmp_path, capsys):
    assert main(["report", str(tmp_path / "nope.nc")]) == 2
    err = capsys.readouterr().err
    assert "bayesuq report: error: no results file at" in err and "nope.nc" in err
    assert not list(tmp_path.iterdir())
