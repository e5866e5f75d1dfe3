"""The retailer's own offer records: what it planned for the decided period, what it ran before.

* `planned_offers.{csv,parquet}`: item_id, optional customer_id (empty = every consumer), offer_pct,
  optional start_date / end_date (checked against the decided period). The status quo of the
  forward plan.
* `offer_history.{csv,parquet}`: item_id, optional customer_id, start_date, end_date, offer_pct:
  the offers the retailer ran. Its entries for a backtest's decided period are that decision's
  status quo (the retailer's recorded plan).

Both are optional; offer_pct is a percentage in [0, 100].
"""

from __future__ import annotations

import datetime as dt
from pathlib import Path

import polars as pl

from offerwise.errors import InputError, input_error

PLANNED = "planned_offers"
HISTORY = "offer_history"


def find_plan_file(folder: str | Path, name: str) -> Path | None:
    """`name`.parquet or `name`.csv in a data folder (None for the embedded data or when absent)."""
    folder = Path(folder)
    if not folder.is_dir():
        return None
    for suffix in (".parquet", ".csv"):
        if (folder / f"{name}{suffix}").is_file():
            return folder / f"{name}{suffix}"
    return None


def _read(path: Path) -> pl.DataFrame:
    try:
        frame = pl.read_parquet(path) if path.suffix == ".parquet" else pl.read_csv(path, infer_schema=False)
    except Exception as exc:  # polars raises several types for unreadable files
        raise InputError(f"{path}: cannot be read ({type(exc).__name__}: {str(exc).splitlines()[0]}).") from None
    return frame.with_columns(pl.all().cast(pl.String))


def _cast(frame: pl.DataFrame, path: Path, column: str, dtype: pl.DataType, what: str) -> pl.DataFrame:
    raw = pl.col(column).str.strip_chars()
    cast = raw.str.to_date(strict=False) if dtype == pl.Date else raw.cast(dtype, strict=False)
    bad = frame.with_row_index("row", offset=2).filter(cast.is_null() & raw.is_not_null() & (raw != ""))
    if bad.height:
        raise input_error(file=str(path), column=column, problem=f"expected {what}.", examples=bad.select("row", column))
    return frame.with_columns(cast.alias(column))


def read_offer_table(path: str | Path, *, items: pl.DataFrame, dated: bool) -> pl.DataFrame:
    """Validated offers: item_id, customer_id (null = all), offer_pct, start_date, end_date (null when
    the file has no dates). Unknown items, offers outside 0-100 %, duplicate keys and (for dated
    tables) overlapping periods stop with an InputError naming the file, column and rows."""
    path = Path(path)
    if not path.is_file():
        raise InputError(f"{path}: file not found.")
    frame = _read(path)
    required = ["item_id", "offer_pct"] + (["start_date", "end_date"] if dated else [])
    missing = [c for c in required if c not in frame.columns]
    if missing:
        raise input_error(file=str(path), column=missing[0], problem=f"missing; the file needs columns {required} (has {frame.columns}).")
    for column in ("customer_id", "start_date", "end_date"):
        if column not in frame.columns:
            frame = frame.with_columns(pl.lit(None, pl.String).alias(column))
    frame = _cast(frame, path, "item_id", pl.Int64, "whole-number item ids")
    frame = _cast(frame, path, "customer_id", pl.Int64, "whole-number customer ids or empty (every consumer)")
    frame = _cast(frame, path, "offer_pct", pl.Float64, "an offer in percent (a number from 0 to 100)")
    for column in ("start_date", "end_date"):
        frame = _cast(frame, path, column, pl.Date, "an ISO date (YYYY-MM-DD)")
    frame = frame.select("item_id", "customer_id", "offer_pct", "start_date", "end_date").with_row_index("row", offset=2)
    _check(frame, path, items, dated)
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
    if dated:
        problems.append(
            (
                "start_date",
                frame.filter(pl.col("start_date").is_null() | pl.col("end_date").is_null()),
                "start_date and end_date must both be given.",
            )
        )
        problems.append(("end_date", frame.filter(pl.col("end_date") < pl.col("start_date")), "ends before it starts."))
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
    plan) applies as a whole; with `strict`, dated entries that miss the period stop the run."""
    dated = table.filter(pl.col("start_date").is_not_null())
    if dated.height == 0:
        return table.select("item_id", "customer_id", "offer_pct")
    covering = (pl.col("start_date") <= end) & (pl.col("end_date") >= start)
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
