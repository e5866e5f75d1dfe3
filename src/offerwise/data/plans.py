"""The retailer's own offer records: what it planned for the decided period, what it ran before.

* `planned_offers.{csv,parquet}`: item_id, optional customer_id (empty = every consumer), offer_pct,
  optional start_date / end_date (checked against the decided period). The status quo of the
  forward plan.
* `offer_history.{csv,parquet}`: item_id, optional customer_id, start_date, end_date, offer_pct:
  the offers the retailer ran. Its entries for a backtest's decided period are that decision's
  status quo (the retailer's recorded plan).

Both are optional; offer_pct is a percentage in [0, 100]. offer_history may carry
`expected_offer_pct` (DESIGN_MEAN) on rows whose offer a randomised design drew.
"""

from __future__ import annotations

import datetime as dt
from pathlib import Path

import polars as pl

from offerwise.columns import DESIGN_MEAN
from offerwise.data.files import find_input, is_parquet
from offerwise.data.sanity import check_offer_scale
from offerwise.data.validate import FOUR_DIGIT_YEAR, first_line, read_csv_text
from offerwise.errors import InputError, input_error

PLANNED = "planned_offers"
HISTORY = "offer_history"
OFFER_COLUMNS = ["item_id", "customer_id", "offer_pct", "start_date", "end_date"]


def find_plan_file(folder: str | Path, name: str) -> Path | None:
    """`name`.parquet, .csv or .csv.gz in a data folder (None for the embedded data or when absent;
    two of them is an InputError naming both)."""
    return find_input(folder, name) if Path(folder).is_dir() else None


def read_table(path: Path) -> pl.DataFrame:
    if not is_parquet(path):
        return read_csv_text(path)  # every column as text; a malformed line or a repeated column name stops
    try:
        return pl.read_parquet(path)
    except Exception as exc:  # polars raises several types for unreadable files
        raise InputError(f"{path}: cannot be read ({type(exc).__name__}: {first_line(exc)}).") from None


def cast_column(frame: pl.DataFrame, path: Path, column: str, dtype: pl.DataType, what: str) -> pl.DataFrame:
    if dtype == pl.Date:
        return _cast_dates(frame, path, column, what)
    found = frame.schema[column]
    if found.is_nested() or isinstance(found, (pl.Binary, pl.Object, pl.Date, pl.Datetime, pl.Duration, pl.Time)):
        raise input_error(file=str(path), column=column, problem=f"the column has type {found}; expected {what}.")
    raw = pl.col(column).cast(pl.String).str.strip_chars()
    return _checked(frame, path, column, raw, raw.cast(dtype, strict=False), what)


def _cast_dates(frame: pl.DataFrame, path: Path, column: str, what: str) -> pl.DataFrame:
    """ISO dates (YYYY-MM-DD) and nothing else: a guessed format could read 01/02/2018 as either day
    first or month first. Date columns (Parquet) are used as they are, date-times at midnight (also
    as text, 2018-01-01 00:00:00) as their date; a time of day is refused, an offer runs whole days."""
    found = frame.schema[column]
    if isinstance(found, (pl.Date, pl.Null)):
        return frame.with_columns(pl.col(column).cast(pl.Date))
    if isinstance(found, pl.Datetime):
        stamp = pl.col(column).dt.replace_time_zone(None) if found.time_zone else pl.col(column)
        return _checked(frame, path, column, stamp, pl.when(stamp == stamp.dt.truncate("1d")).then(stamp.dt.date()), what)
    if not isinstance(found, (pl.String, pl.Categorical, pl.Enum)):
        raise input_error(file=str(path), column=column, problem=f"the column has type {found}; expected {what}.")
    raw = pl.col(column).cast(pl.String).str.strip_chars()
    text = pl.when(raw.str.contains(FOUR_DIGIT_YEAR)).then(raw)  # %Y reads '19-02-25' as the year 19
    midnight = pl.coalesce(
        [text.str.to_datetime(fmt, strict=False, time_unit="us") for fmt in ("%Y-%m-%d %H:%M:%S%.f", "%Y-%m-%dT%H:%M:%S%.f")]
    )
    cast = text.str.to_date("%Y-%m-%d", strict=False).fill_null(pl.when(midnight == midnight.dt.truncate("1d")).then(midnight.dt.date()))
    return _checked(frame, path, column, raw, cast, what)


def _checked(frame: pl.DataFrame, path: Path, column: str, raw: pl.Expr, cast: pl.Expr, what: str) -> pl.DataFrame:
    """`cast` as the column; a value that is given but does not convert stops, naming its rows."""
    given = raw.is_not_null() & (raw.cast(pl.String) != "")
    bad = frame.with_row_index("row", offset=2).filter(cast.is_null() & given)
    if bad.height:
        shown = bad.select("row", pl.col(column).cast(pl.String))
        raise input_error(file=str(path), column=column, problem=f"expected {what}.", examples=shown)
    return frame.with_columns(cast.alias(column))


def read_offer_table(path: str | Path, *, items: pl.DataFrame, dated: bool, transactions: pl.DataFrame | None = None) -> pl.DataFrame:
    """Validated offers: item_id, customer_id (null = all), offer_pct, start_date, end_date (null when
    the file has no dates). A file without rows, unknown items, offers outside 0-100 %, duplicate keys,
    (for dated tables) overlapping periods and (given the `transactions`) offers that look like
    fractions stop with an InputError naming the file, column and rows."""
    path = Path(path)
    if not path.is_file():
        raise InputError(f"{path}: file not found.")
    frame = read_table(path)
    if (frame.filter(~pl.all_horizontal(pl.all().is_null())).height if frame.width else 0) == 0:
        what, without = (
            ("offer history", "offers are inferred from discounts")
            if dated
            else ("planned offers", "the status quo is the pair's recent offers")
        )
        raise InputError(f"{path}: no {what}: the file has a header and nothing else. Fill it, or remove it (without it {without}).")
    required = ["item_id", "offer_pct"] + (["start_date", "end_date"] if dated else [])
    missing = [c for c in required if c not in frame.columns]
    if missing:
        raise input_error(file=str(path), column=missing[0], problem=f"missing; the file needs columns {required} (has {frame.columns}).")
    dates = [c for c in ("start_date", "end_date") if c in frame.columns]
    if len(dates) == 1:
        other = "end_date" if dates == ["start_date"] else "start_date"
        problem = f"missing; a file with {dates[0]} needs {other} too (has {frame.columns})."
        raise input_error(file=str(path), column=other, problem=problem)
    designed = dated and DESIGN_MEAN in frame.columns  # randomised offers (`offerwise measure`'s history): the design's mean offer
    wanted = OFFER_COLUMNS + ([DESIGN_MEAN] if designed else [])
    frame = frame.select(pl.col(c) if c in frame.columns else pl.lit(None, pl.String).alias(c) for c in wanted)
    frame = cast_column(frame, path, "item_id", pl.Int64, "whole-number item ids")
    frame = cast_column(frame, path, "customer_id", pl.Int64, "whole-number customer ids or empty (every consumer)")
    frame = cast_column(frame, path, "offer_pct", pl.Float64, "an offer in percent (a number from 0 to 100)")
    for column in ("start_date", "end_date"):
        frame = cast_column(frame, path, column, pl.Date, "an ISO date (YYYY-MM-DD, e.g. 2018-01-31; a date-time only at midnight)")
    if designed:
        frame = cast_column(frame, path, DESIGN_MEAN, pl.Float64, "the design's mean offer in percent, or empty (not randomised)")
    frame = frame.select("item_id", "customer_id", "offer_pct", "start_date", "end_date", *([DESIGN_MEAN] if designed else []))
    frame = frame.with_row_index("row", offset=2)
    _check(frame, path, items, dated)
    if transactions is not None:
        check_offer_scale(frame, transactions, file=str(path))
    return frame.drop("row")


def _check(frame: pl.DataFrame, path: Path, items: pl.DataFrame, dated: bool) -> None:
    problems = [
        ("item_id", frame.filter(pl.col("item_id").is_null()), "is empty."),
        ("offer_pct", frame.filter(pl.col("offer_pct").is_null()), "is empty."),
        (
            "offer_pct",
            frame.filter(~pl.col("offer_pct").is_between(0, 100) | pl.col("offer_pct").is_nan()),
            "must be between 0 and 100 (percent).",
        ),
        ("item_id", frame.join(items.select("item_id"), on="item_id", how="anti"), "names items that are not in the item table."),
    ]
    start, end = pl.col("start_date"), pl.col("end_date")
    both = "start_date and end_date must both be given" + ("." if dated else " (or both left empty: the whole decided period).")
    if dated:
        problems.append(("start_date", frame.filter(start.is_null()), both))
    problems.append(("end_date", frame.filter(end.is_null() & (start.is_not_null() | dated)), both))
    problems.append(("start_date", frame.filter(start.is_null() & end.is_not_null()), both))
    problems.append(("end_date", frame.filter(end < start), "ends before it starts."))
    key = ["item_id", "customer_id"] + (["start_date"] if dated else [])
    problems.append((key[-1], frame.filter(pl.struct(key).is_duplicated()), f"duplicate rows for the same {' / '.join(key)}."))
    if dated:
        ordered = frame.sort("item_id", "customer_id", "start_date", nulls_last=True)
        previous_end = pl.col("end_date").shift(1).over("item_id", "customer_id")
        problems.append(
            (
                "start_date",
                ordered.filter(pl.col("start_date") <= previous_end),
                "overlaps the previous period of the same item and consumer.",
            )
        )
    for column, bad, problem in problems:
        if bad.height:
            shown = list(dict.fromkeys(["row", "item_id", "customer_id", column]))
            raise input_error(file=str(path), column=column, problem=problem, examples=bad.select(shown))


def offers_for_period(
    table: pl.DataFrame, start: dt.date, end: dt.date, *, path: str | Path | None = None, strict: bool = False
) -> pl.DataFrame:
    """item_id, customer_id, offer_pct of the entries covering [start, end]. An undated table (a
    plan) applies as a whole, and so does an undated row of a dated plan; with `strict`, dated entries
    that miss the period (or lack one of their dates) stop the run."""
    undated = pl.col("start_date").is_null() & pl.col("end_date").is_null()
    dated = table.filter(~undated)
    if dated.height == 0:
        return table.select("item_id", "customer_id", "offer_pct")
    covering = undated | ((pl.col("start_date") <= end) & (pl.col("end_date") >= start)).fill_null(False)
    if strict and dated.filter(~covering).height:
        raise input_error(
            file=str(path),
            column="start_date",
            problem=f"planned offers must cover the decided period {start} – {end}.",
            examples=dated.filter(~covering).select("item_id", "customer_id", "start_date", "end_date"),
        )
    # The latest-starting entry wins where several overlap the period.
    return (
        table.filter(covering)
        .sort("start_date")
        .unique(["item_id", "customer_id"], keep="last")
        .select("item_id", "customer_id", "offer_pct")
    )
