"""report.html as a person sees it: rendered offline in headless Chromium, with every figure drawn."""

from __future__ import annotations

import io
import os
import shutil
from pathlib import Path

import numpy as np
import polars as pl
import pytest
from matplotlib import image

from offerwise.report.build import FIGURES
from offerwise.report.html import SNAKE, _cell

CHROMIUM = shutil.which("chromium") or shutil.which("chromium-browser")
# No network on the test machines: without these flags Chromium keeps retrying Google's hosts.
FLAGS = ["--no-sandbox", "--disable-gpu", "--disable-quic", "--no-first-run", "--disable-background-networking",
         "--disable-component-update", "--disable-sync"]  # fmt: skip


def _browser_or_skip():
    if CHROMIUM is None:
        if os.environ.get("CI"):
            pytest.fail("CI must install Debian's chromium (.ci/run does)")
        pytest.skip("chromium is not installed (apt-get install chromium)")
    return pytest.importorskip("playwright.sync_api")


def _open(sync_api, report: Path, width: int, height: int):
    """The page at one width, with every request it makes recorded."""
    pw = sync_api.sync_playwright().start()
    browser = pw.chromium.launch(executable_path=CHROMIUM, args=FLAGS)
    page = browser.new_page(viewport={"width": width, "height": height})
    requests: list[str] = []
    page.on("request", lambda request: requests.append(request.url))
    page.goto(report.as_uri(), wait_until="load")
    return pw, browser, page, requests


FIRST_SCREEN = ("what-to-do", "what-it-is-worth", "what-it-costs", "how-to-check-it")
HEADERS = "Array.from(document.querySelectorAll('th')).filter(th => th.offsetParent !== null).map(th => th.innerText)"


@pytest.mark.slow
def test_report_renders_table_and_every_figure_in_headless_chromium(quick_run: Path, tmp_path: Path) -> None:
    sync_api = _browser_or_skip()
    report = quick_run / "report" / "report.html"
    pw, browser, page, requests = _open(sync_api, report, 1280, 900)
    try:
        answers = {a: page.evaluate(f"document.getElementById('{a}').getBoundingClientRect().bottom") for a in FIRST_SCREEN}
        page_width, page_height = page.evaluate("[document.documentElement.scrollWidth, document.documentElement.scrollHeight]")
        details = page.locator("details").count()
        for i in range(details):  # every fold opens and shows what it holds
            page.locator("details > summary").nth(i).click()
        headers = page.evaluate(HEADERS)  # every table's, the folds open
        opened = page.evaluate(
            "Array.from(document.querySelectorAll('details')).map(d => d.open && d.lastElementChild.getBoundingClientRect().height > 0)"
        )
        images = page.evaluate(
            "Array.from(document.images).map(i => ({alt: i.alt, complete: i.complete, w: i.naturalWidth, h: i.naturalHeight}))"
        )
        crops = [page.locator("img").nth(i).screenshot() for i in range(len(images))]
        table1 = page.locator("details:has(summary:has-text('Table 1')) table").inner_text()
        page.screenshot(path=str(tmp_path / "report.png"), full_page=True)
    finally:
        browser.close()
        pw.stop()
    assert [r for r in requests if not r.startswith(("file:", "data:"))] == []  # self-contained: opens offline
    assert all(0 < bottom <= 900 for bottom in answers.values()), answers  # the four answers on the first screen
    assert page_width <= 1280 and page_height <= 3 * 900  # the evidence folded: at most three screens
    assert headers and not [h for h in headers if SNAKE.match(h)], headers  # headers in words
    assert details >= 8 and all(opened), opened
    assert len(images) == len(FIGURES)
    for figure in images:
        assert figure["complete"] and figure["w"] > 400 and figure["h"] > 200, figure
    for crop in crops:  # drawn, not a blank box: many distinct colours on screen
        pixels = image.imread(io.BytesIO(crop))[..., :3].reshape(-1, 3)
        assert len(np.unique((pixels * 255).astype(np.uint8), axis=0)) > 50
        assert (pixels.min(axis=1) < 0.5).mean() > 0.01  # ink, not just background
    assert "Pair-periods" in table1 and "tcn" in table1 and "stack" in table1
    assert (tmp_path / "report.png").stat().st_size > 50_000


@pytest.mark.slow
def test_report_fits_a_phone_without_sideways_scrolling(quick_run: Path) -> None:
    sync_api = _browser_or_skip()
    pw, browser, page, requests = _open(sync_api, quick_run / "report" / "report.html", 390, 844)
    try:
        folded = page.evaluate("document.documentElement.scrollWidth")
        for i in range(page.locator("details").count()):
            page.locator("details > summary").nth(i).click()
        headers = page.evaluate(HEADERS)  # every table's, the folds open
        opened = page.evaluate("document.documentElement.scrollWidth")  # wide tables scroll inside their own box
        tall = page.evaluate("document.documentElement.scrollHeight")
    finally:
        browser.close()
        pw.stop()
    assert folded <= 390 and opened <= 390, (folded, opened)
    assert [r for r in requests if not r.startswith(("file:", "data:"))] == []
    assert tall > 844  # the page rendered, not an empty document


def test_headers_in_words_long_text_in_notes_and_one_rounding_per_column() -> None:
    from offerwise.report.html import Section, render

    frame = pl.DataFrame({"category": ["A", "B"], "sample_size": [12345, 6], "slope": [0.01234, None], "expected_revenue_after": [1234.5, 2.0],
                          "method": ["double ML with a long explanation of what was pooled and why", "dml"], "some_new_column": [True, False]})  # fmt: skip
    page = render("t", [Section("Table", frame), Section("Folded", "text", folded=True)])
    assert "<th>Pair-periods (test)</th>" in page and "<th>Some new column</th>" in page and "<th>Expected net revenue, plan</th>" in page
    assert "<td>12,345</td>" in page and "<td>0.0123</td>" in page and "<td>–</td>" in page and "<td>1,234</td>" in page
    assert "<td>note 1</td>" in page and "<li>double ML with a long explanation" in page and "<td>yes</td>" in page
    assert "<details><summary><b>Folded</b></summary>" in page and "beforeprint" in page and "@media print" in page


def test_a_number_that_rounds_to_zero_reads_zero_not_minus_zero() -> None:
    assert _cell(-1e-12, 1) == "0.0" and _cell(-0.04, 1) == "0.0" and _cell(-0.06, 1) == "-0.1" and _cell(1234.5678, 2) == "1,234.57"
