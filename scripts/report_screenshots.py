"""Screenshots of a run's report as a person opens it: the first viewport at 1280 × 900 and 390 × 844,
in headless Chromium, offline. Prints each width's page height (evidence folded) in viewports and
whether the page scrolls sideways. The README's pictures come from `make run`'s report:

    python scripts/report_screenshots.py RUN/report/report.html docs/
"""

from __future__ import annotations

import argparse
import io
import json
import shutil
from pathlib import Path

from PIL import Image
from playwright.sync_api import sync_playwright

WIDTHS = {"desktop": (1280, 900), "phone": (390, 844)}
FLAGS = ["--no-sandbox", "--disable-gpu", "--disable-quic", "--no-first-run", "--disable-background-networking"]


def _small_png(png: bytes, path: Path, scale: float) -> None:
    """The screenshot at `scale` of its size, as a palette PNG (docs/ keeps small pictures)."""
    picture = Image.open(io.BytesIO(png)).convert("RGB")
    picture = picture.resize((round(picture.width * scale), round(picture.height * scale)), Image.LANCZOS)
    picture.quantize(colors=128).save(path, optimize=True)


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("report", type=Path)
    parser.add_argument("out", type=Path)
    parser.add_argument("--scale", type=float, default=0.6)
    args = parser.parse_args()
    browser_path = shutil.which("chromium") or shutil.which("chromium-browser")
    figures = {}
    with sync_playwright() as pw:
        browser = pw.chromium.launch(executable_path=browser_path, args=FLAGS)
        for name, (width, height) in WIDTHS.items():
            page = browser.new_page(viewport={"width": width, "height": height})
            page.goto(args.report.resolve().as_uri(), wait_until="load")
            size = page.evaluate("({w: document.documentElement.scrollWidth, h: document.documentElement.scrollHeight})")
            figures[name] = {"viewports_tall": round(size["h"] / height, 2), "scrolls_sideways": size["w"] > width}
            png = page.screenshot()
            args.out.mkdir(parents=True, exist_ok=True)
            _small_png(png, args.out / f"report-{width}.png", args.scale if name == "desktop" else 1.0)
            page.close()
        browser.close()
    print(json.dumps(figures))


if __name__ == "__main__":
    main()
