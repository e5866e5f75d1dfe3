"""offerwise.elasticity.dml.design: the estimate's rows."""

from __future__ import annotations

import numpy as np
import polars as pl

from offerwise.elasticity.dml.design import _subsample


def test_subsample_keeps_small_categories_whole():
    frame = pl.DataFrame({"category": ["big"] * 1000 + ["small"] * 50, "x": np.arange(1050)})
    out = _subsample(frame, 300, seed=0)
    counts = dict(out.group_by("category").len().iter_rows())
    assert out.height == 300 and counts["small"] == 50 and counts["big"] == 250
    assert out.equals(_subsample(frame, 300, seed=0))
