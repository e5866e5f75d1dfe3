"""Checks of loaded data that no single value shows wrong: what real exports get wrong as a whole
(a catch-all loyalty id, category names spelt two ways, offers written as fractions, dates in no
plausible year). Each either repairs and counts (said in the load report) or stops with one line."""

from __future__ import annotations

import dataclasses
import datetime as dt

import polars as pl

from offerwise.data.schema import RetailData
from offerwise.errors import input_error

EARLIEST_DATE = dt.datetime(1990, 1, 1)  # before this, a date is a placeholder or a misread year, not retail data
FRACTION_MAX = 1.0  # offers all at most this (in %) look like fractions when the history's discounts are larger
HISTORY_OFFER_MIN = 2.0  # ... i.e. when the discounted lines' median offer is at least this many %


def latest_plausible_date(today: dt.date | None = None) -> dt.datetime:
    """The end of next year: an export cannot hold later lines."""
    return dt.datetime((today or dt.date.today()).year + 2, 1, 1)


def require_plausible_dates(lines: pl.DataFrame, *, file: str, column: str) -> None:
    """Dates of the bulk of the data (after outlier dates were dropped) before 1990 or after next year
    are an InputError naming the rows: a whole file in year 0018 or 2090 is misread, not history."""
    stamp = pl.col("timestamp")
    bad = lines.filter((stamp < EARLIEST_DATE) | (stamp >= latest_plausible_date()))
    if bad.height:
        problem = (
            f"dates before {EARLIEST_DATE:%Y} or after next year (the file's bulk, not a few outliers); "
            "is the year written with 4 digits and the day and month in ISO order (YYYY-MM-DD)?"
        )
        raise input_error(file=file, column=column, problem=problem, examples=bad.select(stamp.alias(column), "customer_id", "item_id"))


def drop_catch_all_consumers(data: RetailData, ratio: float) -> RetailData:
    """Consumers with more lines than `ratio` x the median consumer's (a store card swiped for walk-in
    customers) removed from every table: they would get offers and move the models and offer ranges
    of everyone else. Counted in the load report (catch_all_lines_dropped) with a note naming them."""
    lines = data.transactions.group_by("customer_id").agg(lines=pl.len())
    median = float(lines.get_column("lines").median() or 0.0)
    heavy = lines.filter(pl.col("lines") > ratio * median).sort("lines", descending=True)
    if heavy.height == 0:
        return data
    ids = heavy.get_column("customer_id")
    transactions = data.transactions.filter(~pl.col("customer_id").is_in(ids.implode()))
    report = data.report
    dropped = data.transactions.height - transactions.height
    report.catch_all_lines_dropped += dropped
    report.kept_lines -= dropped
    shown = ", ".join(f"{c} ({n:,} lines)" for c, n in heavy.head(5).iter_rows())
    report.notes.append(
        f"{heavy.height:,} consumer id(s) with over {ratio:g}x the median consumer's {median:,.0f} lines dropped from offers and "
        f"training: {shown}; a card shared by walk-in customers? (data.max_lines_per_consumer_ratio)"
    )
    customers = data.customers.filter(~pl.col("customer_id").is_in(ids.implode()))
    return dataclasses.replace(data, transactions=transactions, customers=customers)


def near_duplicate_names(items: pl.DataFrame, column: str, *, file: str) -> None:
    """Names of one column that differ only in case or spacing ('Grocery', 'grocery', 'Frozen  food')
    are an InputError: they would be separate categories with separate models, shown alike."""
    key = pl.col(column).str.to_lowercase().str.replace_all(r"\s+", " ")
    spellings = (
        items.filter(pl.col(column).is_not_null())
        .group_by(column)
        .agg(items=pl.len())
        .with_columns(key=key)
        .filter(pl.len().over("key") > 1)
        .sort("key", "items", descending=[False, True])
    )
    if spellings.height:
        plural = pl.when(pl.col("items") == 1).then(pl.lit("")).otherwise(pl.lit("s"))
        named = pl.format("'{}' on {} item{}", pl.col(column), pl.col("items"), plural)
        groups = spellings.group_by("key", maintain_order=True).agg(named.str.join(" / ").alias("shown"))
        shown = "; ".join(groups.get_column("shown").head(3))
        raise input_error(
            file=file,
            column=column,
            problem=f"names that differ only in case or spacing: {shown}. Are they one {column}? Write each one way.",
        )


def check_offer_scale(table: pl.DataFrame, transactions: pl.DataFrame, *, file: str) -> None:
    """Offers in percent: a table whose offers all lie in [0, 1] while the transactions' discounted
    lines have a median offer of 2 % or more holds fractions (0.15 for 15 %), which would be read as
    0.15 %. An InputError naming the file, the column and the likely fraction."""
    largest = table.get_column("offer_pct").max()
    if largest is None or largest == 0 or largest > FRACTION_MAX:
        return
    discounted = transactions.filter(pl.col("retail_discount") > 0).get_column("offer_pct")
    typical = discounted.median() if discounted.len() else None
    if typical is None or typical < HISTORY_OFFER_MIN:
        return
    example = table.filter(pl.col("offer_pct") > 0).get_column("offer_pct").max()
    problem = (
        f"every offer is between 0 and {FRACTION_MAX:g} (largest {largest:g}) while the transactions' discounted lines have a median "
        f"offer of {typical:.1f} %. offer_pct is in percent: {example:g} reads as {example:g} %, not {100 * example:g} %. "
        "If these are fractions, multiply them by 100."
    )
    raise input_error(file=file, column="offer_pct", problem=problem)
