from __future__ import annotations

import datetime as dt

import polars as pl
import pytest

from offerwise.features.periods import assign_periods, complete_periods, default_anchor, rolling_splits


def test_anchor_is_first_monday_on_or_before() -> None:
    assert default_anchor(dt.date(2017, 1, 1)) == dt.date(2016, 12, 26)  # a Sunday
    assert default_anchor(dt.date(2018, 1, 1)) == dt.date(2018, 1, 1)  # a Monday


@pytest.mark.parametrize(
    ("stamp", "period"),
    [
        ("2020-01-06 00:00:00", 0),
        ("2020-01-19 23:59:59", 0),  # last second of the first period
        ("2020-01-20 00:00:00", 1),
        ("2020-02-29 12:00:00", 3),  # leap day: 54 days after the anchor
        ("2020-03-01 00:00:00", 3),
        ("2020-03-02 00:00:00", 4),
    ],
)
def test_period_boundaries(stamp: str, period: int) -> None:
    frame = pl.DataFrame({"timestamp": [dt.datetime.fromisoformat(stamp)]})
    out = assign_periods(frame, anchor=dt.date(2020, 1, 6), period_days=14)
    assert out.get_column("period").item() == period


def test_first_transaction_mid_period_and_partial_last_period() -> None:
    anchor = default_anchor(dt.date(2020, 1, 9))  # a Thursday
    assert anchor == dt.date(2020, 1, 6)
    assert complete_periods(dt.date(2020, 2, 2), anchor=anchor, period_days=14) == 2  # exactly 28 days
    assert complete_periods(dt.date(2020, 2, 1), anchor=anchor, period_days=14) == 1


def test_rolling_splits() -> None:
    splits = rolling_splits(30, train_periods=24, folds=2)
    last = splits.filter(pl.col("fold") == 1)
    assert last.filter(pl.col("split") == "test").get_column("period").item() == 29
    assert last.filter(pl.col("split") == "validation").get_column("period").item() == 28
    assert last.filter(pl.col("split") == "train").get_column("period").to_list() == list(range(4, 28))
    assert splits.filter((pl.col("fold") == 0) & (pl.col("split") == "test")).get_column("period").item() == 28
    with pytest.raises(ValueError, match="need at least"):
        rolling_splits(3, train_periods=24, folds=3)
