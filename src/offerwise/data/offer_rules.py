"""The retailer's offer rules: the offer levels each category may use (optimize/levels.py).

`offer_rules.{csv,parquet}` in the data folder, or `--offer-rules FILE`: one row per category with
* category: as in the item table;
* levels: the allowed offers in %, e.g. "10;15;20;30" (separated by ';', '|' or spaces; a list in Parquet),
  or min, max (and optional step, default 5): every level from min to max by step;
* allow_no_offer (optional, default true): whether "no offer" (0 %) is allowed;
* max_offers_per_category (optional): offers a consumer may get in the category at once (1 to 4;
  empty: `optimize.max_offers_per_category`).
Categories the file does not name take `optimize.levels`.
"""

from __future__ import annotations

from pathlib import Path

import numpy as np
import polars as pl

from offerwise.data.plans import cast_column, find_plan_file, read_table
from offerwise.errors import InputError, input_error

RULES = "offer_rules"
MAX_OFFERS = "max_offers_per_category"
BOOLEAN = {"true": True, "1": True, "yes": True, "false": False, "0": False, "no": False}


def find_rules_file(folder: str | Path) -> Path | None:
    return find_plan_file(folder, RULES)


def read_offer_rules(path: str | Path, *, categories: list[str]) -> pl.DataFrame:
    """category, levels (sorted list of offers %, 0 included when no offer is allowed). A category
    not in `categories`, a level outside 0-100 %, a repeated category, a row with neither or both of
    levels and min/max, or a bad allow_no_offer stop with an InputError naming file, column and rows."""
    path = Path(path)
    if not path.is_file():
        raise InputError(f"{path}: file not found.")
    frame = read_table(path)
    if "category" not in frame.columns:
        raise input_error(file=str(path), column="category", problem=f"missing; an offer rules file needs it (has {frame.columns}).")
    if "levels" not in frame.columns and not {"min", "max"} <= set(frame.columns):
        raise input_error(file=str(path), column="levels", problem=f"missing; give levels, or min and max (has {frame.columns}).")
    for column in [c for c in ("min", "max", "step") if c in frame.columns]:
        frame = cast_column(frame, path, column, pl.Float64, "an offer in percent (a number from 0 to 100)")
    if MAX_OFFERS in frame.columns:
        frame = cast_column(frame, path, MAX_OFFERS, pl.Int64, "a whole number of offers from 1 to 4")
    frame = frame.with_row_index("row", offset=2).with_columns(pl.col("category").cast(pl.String))
    _check_rows(frame, path, categories)
    levels = [_row_levels(row, path) for row in frame.iter_rows(named=True)]
    max_offers = frame.get_column(MAX_OFFERS) if MAX_OFFERS in frame.columns else pl.Series([None] * frame.height, dtype=pl.Int64)
    return pl.DataFrame(
        {"category": frame.get_column("category"), "levels": levels, "max_offers": max_offers},
        schema={"category": pl.String, "levels": pl.List(pl.Float64), "max_offers": pl.Int64},
    )


def _check_rows(frame: pl.DataFrame, path: Path, categories: list[str]) -> None:
    shown = lambda bad, column: bad.select(*dict.fromkeys(["row", "category", column]))  # noqa: E731
    problems = [
        ("category", frame.filter(pl.col("category").is_null()), "is empty."),
        ("category", frame.filter(pl.col("category").is_duplicated()), "names a category more than once."),
        (
            "category",
            frame.filter(~pl.col("category").is_in(categories)),
            f"names categories not in the item table (it has {sorted(categories)[:8]}…).",
        ),
    ]
    for column in ("min", "max", "step"):
        if column in frame.columns:
            problems.append((column, frame.filter(~pl.col(column).is_between(0, 100)), "must be between 0 and 100 (percent)."))
    if {"min", "max"} <= set(frame.columns):
        problems.append(("max", frame.filter(pl.col("max") < pl.col("min")), "is below min."))
    if MAX_OFFERS in frame.columns:
        problems.append((MAX_OFFERS, frame.filter(~pl.col(MAX_OFFERS).is_between(1, 4)), "must be a whole number from 1 to 4."))
    if "step" in frame.columns:
        problems.append(("step", frame.filter(pl.col("step") <= 0), "must be above 0."))
    for column, bad, problem in problems:
        if bad.height:
            raise input_error(file=str(path), column=column, problem=problem, examples=shown(bad, column))


def _row_levels(row: dict, path: Path) -> list[float]:
    """One row's levels: the list, or min..max by step; with 0 unless allow_no_offer is false."""
    where = {"file": str(path), "examples": pl.DataFrame([{"row": row["row"], "category": row["category"]}])}
    listed = _listed(row.get("levels"), path, row)
    ranged = row.get("min") is not None and row.get("max") is not None
    if (listed is None) == (not ranged):
        raise input_error(column="levels", problem="give either levels or min and max in each row, not both or neither.", **where)
    values = listed if listed is not None else list(np.arange(row["min"], row["max"] + 1e-9, row.get("step") or 5.0))
    no_offer = str(row.get("allow_no_offer") if row.get("allow_no_offer") is not None else "true").strip().lower()
    if no_offer not in BOOLEAN:
        raise input_error(column="allow_no_offer", problem="must be true or false.", **where)
    if not BOOLEAN[no_offer] and 0.0 in values:
        raise input_error(column="levels", problem="lists 0 % while allow_no_offer is false.", **where)
    levels = sorted({round(float(v), 6) for v in values} | ({0.0} if BOOLEAN[no_offer] else set()))
    if not levels:
        raise input_error(column="levels", problem="allows no level at all.", **where)
    return levels


def _listed(value, path: Path, row: dict) -> list[float] | None:
    """The levels cell as numbers in 0-100 (None when empty)."""
    if value is None or (isinstance(value, str) and not value.strip()):
        return None
    parts = list(value) if isinstance(value, list | pl.Series) else str(value).replace(";", " ").replace("|", " ").replace(",", " ").split()
    try:
        numbers = [float(v) for v in parts]
    except ValueError:
        numbers = []
    if not numbers or any(not 0 <= v <= 100 for v in numbers):
        examples = pl.DataFrame([{"row": row["row"], "category": row["category"], "levels": str(value)}])
        raise input_error(
            file=str(path), column="levels", problem="must be offers in percent from 0 to 100, e.g. '10;15;20'.", examples=examples
        )
    return numbers
