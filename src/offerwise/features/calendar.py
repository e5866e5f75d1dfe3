"""Datetime features of each period (known in advance, so period t's own values are allowed)."""

from __future__ import annotations

import datetime as dt

import polars as pl

from offerwise.features.periods import period_dates


def _thanksgiving(year: int) -> dt.date:
    nov1 = dt.date(year, 11, 1)
    return nov1 + dt.timedelta(days=(3 - nov1.weekday()) % 7 + 21)


def _holidays(year: int) -> list[dt.date]:
    return [
        dt.date(year, 1, 1),
        dt.date(year, 2, 14),
        dt.date(year, 7, 4),
        dt.date(year, 10, 31),
        _thanksgiving(year),
        dt.date(year, 12, 24),
        dt.date(year, 12, 25),
        dt.date(year, 12, 31),
    ]


def calendar_features(starts: list[dt.date], period_days: int) -> pl.DataFrame:
    """One row per period: period, period_start, week_of_year, month, quarter, season, holiday."""
    rows = []
    for t, start in enumerate(starts):
        end = period_dates(0, anchor=start, period_days=period_days)[1]
        holidays = _holidays(start.year) + (_holidays(end.year) if end.year != start.year else [])
        rows.append(
            {
                "period": t,
                "period_start": start,
                "week_of_year": start.isocalendar()[1],
                "month": start.month,
                "quarter": (start.month - 1) // 3 + 1,
                "season": ["winter", "spring", "summer", "autumn"][(start.month % 12) // 3],
                "holiday": int(any(start <= h <= end for h in holidays)),
            }
        )
    return pl.DataFrame(rows).with_columns(pl.col("period").cast(pl.Int32))
