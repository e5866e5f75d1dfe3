"""offerwise.elasticity.dml.placebo: offers permuted within item, re-estimated."""

from __future__ import annotations

import polars as pl

from offerwise.config import ResponseConfig
from offerwise.elasticity.dml import placebo
from tests.elasticity.dml.conftest import CUTOFF


def test_placebo_covers_zero(panel):
    frame, features = panel
    out = placebo(frame, features, ResponseConfig(), cutoff=CUTOFF, seed=0)
    assert out.columns == ["category", "slope", "low", "high", "covers_zero"]
    assert out.filter(pl.col("category") == "A").get_column("covers_zero").item()
