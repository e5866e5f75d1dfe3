"""The measurement's page and figure, from the frames `offerwise measure` writes and reads back."""

from __future__ import annotations

from pathlib import Path

import polars as pl

from offerwise.experiment.measure import measure
from offerwise.report.measurement import headline, measurement_page
from tests.experiment.world import design, plan_world


def _read_back(tmp_path: Path, **world) -> dict[str, pl.DataFrame]:
    """The frames as the run's report reads them: through CSV (dates as text, empty columns as text)."""
    offers, tx = plan_world(consumers=200, **world)
    result = measure(offers, tx, design(**world), level=0.9, bootstrap=20, response=None)
    frames = {}
    for name in ("summary", "by_category", "slopes"):
        getattr(result, name).write_csv(tmp_path / f"{name}.csv")
        frames[name] = pl.read_csv(tmp_path / f"{name}.csv")
    return frames


def test_the_page_shows_the_headline_the_figure_and_the_tables(tmp_path: Path) -> None:
    frames = _read_back(tmp_path)
    html, png = measurement_page(frames, title="measured")
    assert png.startswith(b"\x89PNG") and html.count("<img") == 1 and html.count("<table") == 3
    assert "The fortnight 2024-03-04 – 2024-03-17: plan − holdout net revenue per consumer" in html
    assert "the model expected" in headline(frames["summary"])


def test_the_page_without_holdout_or_exploration_says_so(tmp_path: Path) -> None:
    frames = _read_back(tmp_path, holdout=0.0, explore=0.0)
    html, _ = measurement_page(frames, title="measured")
    assert "had no holdout: plan − holdout cannot be measured" in html and "not identified" in html
