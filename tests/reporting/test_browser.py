"""Reports opened in a real browser: headless Chromium driven by Playwright.

Checks: no console errors, no page errors, no network request other than the report
itself (``file://``) and its inline ``data:`` images, every ``<img>`` decoded
(``naturalWidth > 0``), and a full-page screenshot (kept in pytest's tmp dir; also copied
to ``$BAYESUQ_REPORT_SCREENSHOT`` when that is set).

Chromium is Debian's ``chromium`` package, found on ``PATH``; Playwright never downloads
a browser here. Without Chromium or Playwright the test is skipped with the reason, unless
``BAYESUQ_REQUIRE_BROWSER=1`` (set by CI), which turns the absence into a failure.
"""

from __future__ import annotations

import os
import shutil

import pytest

import bayesuq

ARGS = [
    "--headless",
    "--no-sandbox",
    "--disable-gpu",
    "--disable-quic",
    "--no-first-run",
    "--disable-background-networking",
    "--disable-component-update",
    "--disable-sync",
]


def _unavailable(reason: str) -> None:
    if os.environ.get("BAYESUQ_REQUIRE_BROWSER") == "1":
        pytest.fail(f"BAYESUQ_REQUIRE_BROWSER=1 but {reason}")
    pytest.skip(reason)


@pytest.fixture(scope="module")
def browser():
    executable = shutil.which("chromium") or shutil.which("chromium-browser")
    if executable is None:
        _unavailable("no chromium on PATH (Debian: apt-get install chromium)")
    try:
        from playwright.sync_api import sync_playwright
    except ImportError:
        _unavailable("the playwright package is not installed (pip install playwright)")
    with sync_playwright() as playwright:
        browser = playwright.chromium.launch(executable_path=executable, args=ARGS)
        yield browser
        browser.close()


def _open(browser, path, screenshot):
    """Load ``path``; return console errors, page errors, other requests and image states."""
    page = browser.new_page(viewport={"width": 1200, "height": 900})
    console, errors, requests = [], [], []
    page.on("console", lambda m: console.append(m.text) if m.type == "error" else None)
    page.on("pageerror", lambda e: errors.append(str(e)))
    page.on(
        "request",
        lambda r: requests.append(r.url) if not r.url.startswith(("file://", "data:")) else None,
    )
    page.goto(path.as_uri(), wait_until="load")
    images = page.eval_on_selector_all(
        "img", "els => els.map(e => [e.complete, e.naturalWidth, e.dataset.figure])"
    )
    verdict = page.inner_text("#verdict-box")
    page.screenshot(path=str(screenshot), full_page=True)
    page.close()
    return console, errors, requests, images, verdict


@pytest.mark.parametrize(
    ("fit", "figures", "verdict"),
    [
        ("centred_fit_with_ppc", ["trace", "rank", "pair", "energy", "ppc"], "PROBLEMS FOUND"),
        ("svi_fit", ["elbo", "marginals", "pair"], "OK"),
        ("martingale_normal_fit", ["marginals"], "OK"),
    ],
)
def test_report_renders_cleanly_in_chromium(browser, request, tmp_path, fit, figures, verdict):
    path = bayesuq.report(request.getfixturevalue(fit), tmp_path / "report.html")
    screenshot = tmp_path / "report.png"
    console, errors, requests, images, shown = _open(browser, path, screenshot)
    assert console == [] and errors == [], (console, errors)
    assert requests == [], f"the report asked the network for {requests}"
    assert [figure for _, _, figure in images] == figures
    assert all(complete and width > 0 for complete, width, _ in images), images
    assert shown.startswith(verdict)
    assert screenshot.stat().st_size > 10_000
    copy_to = os.environ.get("BAYESUQ_REPORT_SCREENSHOT")
    if copy_to and fit == "centred_fit_with_ppc":
        shutil.copyfile(screenshot, copy_to)
