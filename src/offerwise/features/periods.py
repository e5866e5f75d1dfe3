"""Bi-weekly periods: anchoring, assignment and the rolling train / validation / test split."""

from __future__ import annotations

import datetime as dt

import polars as pl

from offerwise.errors import InputError


def default_anchor(first_day: dt.date) -> dt.date:
    """The first Monday on or before the first transaction."""
    return first_day - dt.timedelta(days=first_day.weekday())


def period_of(*, anchor: dt.date, period_days: int) -> pl.Expr:
    """The 0-based index of the period containing a line's `timestamp`."""
    return ((pl.col("timestamp").dt.date() - pl.lit(anchor)).dt.total_days() // period_days).cast(pl.Int32)


def assign_periods(transactions: pl.DataFrame, *, anchor: dt.date, period_days: int) -> pl.DataFrame:
    """Add `period` (0-based index of the period containing the line's date)."""
    return transactions.with_columns(period=period_of(anchor=anchor, period_days=period_days))


def complete_periods(last_day: dt.date, *, anchor: dt.date, period_days: int) -> int:
    """Number of whole periods up to the last day of data; a trailing partial period is not modelled."""
    return ((last_day - anchor).days + 1) // period_days


def period_dates(period: int, *, anchor: dt.date, period_days: int) -> tuple[dt.date, dt.date]:
    """First and last day of a period."""
    start = anchor + dt.timedelta(days=period_days * period)
    return start, start + dt.timedelta(days=period_days - 1)


def period_starts(n_periods: int, *, anchor: dt.date, period_days: int) -> list[dt.date]:
    return [period_dates(t, anchor=anchor, period_days=period_days)[0] for t in range(n_periods)]


def data_dates(transactions: pl.DataFrame | pl.LazyFrame) -> tuple[dt.date | None, dt.date | None]:
    """The first and the last day with a transaction (None, None without any). Lazy frames run on
    Polars' streaming engine, so a sharded build's driver never holds the lines."""
    dates = transactions.lazy().select(first=pl.col("timestamp").min().dt.date(), last=pl.col("timestamp").max().dt.date())
    return dates.collect(engine="streaming").row(0)


def rolling_splits(n_periods: int, *, train_periods: int, folds: int) -> pl.DataFrame:
    """Folds of `train_periods` training periods, then one validation and one test period.

    The last fold tests on the last period; each earlier fold is shifted back by one period.
    Columns: fold, period, split ("train" / "validation" / "test").
    """
    first_validation = n_periods - 2 - (folds - 1)
    if first_validation < 1:
        raise InputError(
            f"Too little history to split: the data has {n_periods} period(s), and {folds} rolling fold(s) need at least "
            f"{folds + 2} (training, then one validation and one test period per fold). "
            "Use fewer folds (panel.folds, --folds), shorter periods (panel.period_days) or a longer export."
        )
    rows = []
    for fold in range(folds):
        validation = first_validation + fold
        start = max(validation - train_periods, 0)
        rows += [(fold, p, "train") for p in range(start, validation)]
        rows += [(fold, validation, "validation"), (fold, validation + 1, "test")]
    return pl.DataFrame(rows, schema={"fold": pl.Int32, "period": pl.Int32, "split": pl.String}, orient="row")
