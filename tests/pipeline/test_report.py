"""pipeline/report.py: the plan's summary a person reads first."""

from __future__ import annotations

from pathlib import Path

from offerwise.config import Config
from offerwise.pipeline.report import summary


def test_the_summary_says_how_the_plan_was_valued(quick_run: Path) -> None:
    cautious = summary(quick_run, Config())["valuation"]
    assert "Valued cautiously" in cautious and "25%" in cautious
    assert summary(quick_run, Config().override("optimize", response_quantile=0.5))["valuation"] == ""  # at the mean
    assert summary(quick_run)["valuation"] == ""  # no config: nothing claimed
