"""offerwise.elasticity.dml.design: the estimate's rows."""

from __future__ import annotations

import numpy as np
import polars as pl

from offerwise.columns import OFFER_DESIGN
from offerwise.elasticity.dml.design import _selected_rows, _subsample, _window


def test_subsample_keeps_small_categories_whole():
    frame = pl.DataFrame({"category": ["big"] * 1000 + ["small"] * 50, "x": np.arange(1050)})
    out = _subsample(frame, 300, seed=0)
    counts = dict(out.group_by("category").len().iter_rows())
    assert out.height == 300 and counts["small"] == 50 and counts["big"] == 250
    assert out.equals(_subsample(frame, 300, seed=0))


def test_selected_rows_are_the_window_s_sample_with_randomised_rows_kept():
    rng = np.random.default_rng(1)
    n = 3000
    frame = pl.DataFrame(
        {
            "category": rng.choice(["a", "b", "c"], n, p=[0.7, 0.25, 0.05]),
            "period": rng.integers(0, 12, n),
            "target": rng.integers(0, 2, n).astype(np.int8),
            OFFER_DESIGN: 20.0,
            "unlabelled": rng.random(n) < 0.1,
            "randomised": rng.random(n) < 0.05,
        }
    ).with_columns(
        target=pl.when(~pl.col("unlabelled")).then("target"),
        **{OFFER_DESIGN: pl.when(pl.col("randomised")).then(pl.col(OFFER_DESIGN))},
    )
    picked = frame[_selected_rows(frame, cutoff=9, periods=6, max_rows=500, seed=3)]
    assert picked.equals(_subsample(_window(frame, 9, 6), 500, seed=3).select(frame.columns))
    assert (
        picked.filter(pl.col(OFFER_DESIGN).is_not_null()).height == _window(frame, 9, 6).filter(pl.col(OFFER_DESIGN).is_not_null()).height
    )
