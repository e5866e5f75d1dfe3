"""Typed reading of raw columns: every failure names the file, the column and example rows."""

from __future__ import annotations

from pathlib import Path

import polars as pl

from offerwise.errors import input_error


_KINDS = {pl.Float64: "numbers", pl.Int64: "whole numbers (ids)", pl.Datetime: "timestamps", pl.Date: "dates"}


def require_file(folder: Path, name: str) -> Path:
    path = Path(folder) / name
    if not path.is_file():
        raise input_error(
            file=str(path), column=None, problem=f"required file '{name}' is missing from {folder}."
        )
    return path


def read_csv_strings(path: Path) -> pl.DataFrame:
    """Read every column as text so that typing errors can be reported row by row."""
    try:
        return pl.read_csv(path, infer_schema=False)
    except pl.exceptions.PolarsError as exc:
        raise input_error(file=str(path), column=None, problem=f"not a readable CSV file ({exc}).") from exc


def require_columns(frame: pl.DataFrame, columns: list[str], *, file: str) -> None:
    missing = [c for c in columns if c not in frame.columns]
    if missing:
        raise input_error(
            file=file,
            column=missing[0],
            problem=f"required column(s) {missing} missing; found {frame.columns}.",
        )


def cast_strict(
    frame: pl.DataFrame, column: str, dtype: pl.DataType, *, file: str, required: bool = True
) -> pl.Series:
    """Cast one column; raise with examples when a value does not parse or a required one is empty."""
    raw = frame.get_column(column)
    if raw.dtype == pl.String:
        raw = raw.str.strip_chars().replace("", None)
    if raw.dtype == pl.String and isinstance(dtype, pl.Datetime):
        cast = _to_datetime(raw)
    else:
        cast = raw.cast(dtype, strict=False)
    _reject(frame, cast.is_null() & raw.is_not_null(), file=file, column=column, problem=f"values that are not {_KINDS.get(type(dtype), dtype)}.")
    if required:
        _reject(frame, cast.is_null(), file=file, column=column, problem="missing values.")
    return cast


def _reject(frame: pl.DataFrame, bad: pl.Series, *, file: str, column: str, problem: str) -> None:
    if bad.any():
        raise input_error(file=file, column=column, problem=problem, examples=frame.filter(bad))


def _to_datetime(raw: pl.Series) -> pl.Series:
    """ISO-like timestamps (date, or date and time); anything else becomes null and is reported."""
    for fmt in ("%Y-%m-%d %H:%M:%S%.f", "%Y-%m-%dT%H:%M:%S%.f", "%Y-%m-%d %H:%M:%S", "%Y-%m-%dT%H:%M:%S", "%Y-%m-%d"):
        parsed = raw.str.to_datetime(fmt, strict=False, time_unit="us")
        if parsed.null_count() == raw.null_count():
            return parsed
    return raw.str.to_datetime("%Y-%m-%d %H:%M:%S", strict=False, time_unit="us")


def parse_dates(frame: pl.DataFrame, column: str, fmt: str, *, file: str) -> pl.Series:
    raw = frame.get_column(column).cast(pl.String).str.strip_chars()
    parsed = raw.str.strptime(pl.Date, fmt, strict=False)
    _reject(frame, parsed.is_null(), file=file, column=column, problem=f"dates that do not parse as {fmt}.")
    return parsed
