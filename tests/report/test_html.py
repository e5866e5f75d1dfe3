"""report.html as a person sees it: rendered offline in headless Chromium, with every figure drawn."""

from __future__ import annotations

import io
import os
import shutil
from pathlib import Path

import numpy as np
import pytest
from matplotlib import image

from offerwise.report.build import FIGURES

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


@pytest.mark.slow
def test_report_renders_table_and_every_figure_in_headless_chromium(quick_run: Path, tmp_path: Path) -> None:
    sync_api = _browser_or_skip()
    report = quick_run / "report" / "report.html"
    with sync_api.sync_playwright() as pw:
        browser = pw.chromium.launch(executable_path=CHROMIUM, args=FLAGS)
        page = browser.new_page(viewport={"width": 1400, "height": 1000})
        requests: list[str] = []
        page.on("request", lambda request: requests.append(request.url))
        page.goto(report.as_uri(), wait_until="load")
        images = page.evaluate(
            "Array.from(document.images).map(i => ({alt: i.alt, complete: i.complete, w: i.naturalWidth, h: i.naturalHeight}))"
        )
        tables = page.locator("table").count()
        first_table = page.locator("table").first.inner_text()
        table1 = page.locator("section:has(h2:has-text('Table 1')) table").inner_text()
        crops = [page.locator("img").nth(i).screenshot() for i in range(len(images))]
        page.screenshot(path=str(tmp_path / "report.png"), full_page=True)
        browser.close()
    assert [r for r in requests if not r.startswith(("file:", "data:"))] == []  # self-contained: opens offline
    assert len(images) == len(FIGURES)
    for figure in images:
        assert figure["complete"] and figure["w"] > 400 and figure["h"] > 200, figure
    for crop in crops:  # drawn, not a blank box: many distinct colours on screen
        pixels = image.imread(io.BytesIO(crop))[..., :3].reshape(-1, 3)
        assert len(np.unique((pixels * 255).astype(np.uint8), axis=0)) > 50
        assert (pixels.min(axis=1) < 0.5).mean() > 0.01  # ink, not just background
    assert tables >= 3 and "planned_offer_mean" in first_table  # the plan opens the report
    assert "sample_size" in table1 and "tcn" in table1 and "stack" in table1
    assert (tmp_path / "report.png").stat().st_size > 50_000
