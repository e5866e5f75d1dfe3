"""Typed reading of raw columns: every failure names the file, the column and example rows."""

from __future__ import annotations

import csv
from pathlib import Path

import polars as pl

from offerwise.data.files import check_text_csv, first_non_utf8_line, is_parquet, not_utf8_problem, open_text
from offerwise.errors import input_error

_KINDS = {pl.Float64: "numbers", pl.Int64: "whole numbers (ids)", pl.Date: "dates"}
# Date-times are read as the wall-clock time written in the file: a trailing Z or UTC offset is
# accepted and dropped (never used to move a line to another day), so one column may mix them.
_ZONE = r"(?i)(\d{2}:\d{2}(?::\d{2}(?:\.\d+)?)?)\s*(?:z|utc|[+-]\d{2}(?::?\d{2})?)$"
_ISO_FORMATS = ("%Y-%m-%d %H:%M:%S%.f", "%Y-%m-%dT%H:%M:%S%.f", "%Y-%m-%d %H:%M", "%Y-%m-%dT%H:%M", "%Y-%m-%d")
# %Y also reads '18-01-01' as the year 18: a year must be written with 4 digits.
FOUR_DIGIT_YEAR = r"^\d{4}-"
DATE_PROBLEM = (
    "values that do not parse as ISO dates or date-times; accepted: 2017-01-02, 2017-01-02 10:00[:00[.123]] "
    "(a space or T before the time; the year in 4 digits), optionally ending in Z or an offset such as +01:00."
)


def first_line(exc: BaseException) -> str:
    """An exception's message cut to its first line (polars appends multi-line advice for its own API)."""
    text = str(exc).strip()
    return text.splitlines()[0].rstrip(" .:") if text else type(exc).__name__


def read_csv_text(path: Path) -> pl.DataFrame:
    """Every column as text, blank lines kept (as all-null rows, so row i is line i + 2); gzip-compressed
    files (.csv.gz) are read the same way.

    A spreadsheet or other binary file, another delimiter than ',', text that is not UTF-8, a header
    naming a column twice, a line with more fields than the header or an unclosed quote is an
    InputError naming the file (and the column or line)."""
    file = str(path)
    check_text_csv(path, header := _csv_header(path))
    repeated = [name for name in dict.fromkeys(header) if header.count(name) > 1]
    if repeated:
        raise input_error(file=file, column=repeated[0], problem=f"the header has this column more than once ({header}).")
    try:
        return pl.read_csv(path, infer_schema=False)
    except pl.exceptions.PolarsError as exc:
        try:
            if (where := first_non_utf8_line(path)) is not None:
                raise input_error(file=file, column=None, problem=not_utf8_problem(where)) from exc
            where = _malformed_line(path, len(header))
        except (OSError, EOFError):  # a gzip file cut short
            where = None
        raise input_error(file=file, column=None, problem=f"not a readable CSV file ({where or first_line(exc)}).") from exc


def _csv_header(path: Path) -> list[str]:
    try:
        with open_text(path) as handle:
            return next(csv.reader(handle), [])
    except (csv.Error, OSError, EOFError):
        return []  # polars reports the problem


def _malformed_line(path: Path, fields: int) -> str | None:
    """The first line polars cannot read, found by a plain second pass with Python's csv module."""
    start = 1
    with open_text(path) as handle:
        reader = csv.reader(handle, strict=True)
        try:
            for row in reader:
                if start > 1 and len(row) > fields:
                    return f"line {start} has {len(row)} fields, the header has {fields}"
                start = reader.line_num + 1
        except csv.Error as exc:
            return f"line {start}: {first_line(exc)}; check the quotes from that line on"
    return None


def read_csv_strings(path: Path) -> pl.DataFrame:
    """Read every column as text so that typing errors can be reported row by row; blank lines are skipped."""
    frame = read_csv_text(path)
    return frame.filter(~pl.all_horizontal(pl.all().is_null())) if frame.width else frame


def read_table(path: Path) -> pl.DataFrame:
    """A .csv (or .csv.gz) file as text columns, a .parquet file with its own column types."""
    if not is_parquet(path):
        return read_csv_strings(path)
    try:
        return pl.read_parquet(path)
    except (pl.exceptions.PolarsError, OSError) as exc:
        raise input_error(file=str(path), column=None, problem=f"not a readable Parquet file ({first_line(exc)}).") from exc


def require_rows(frame: pl.DataFrame, *, file: str, what: str) -> None:
    if frame.height == 0:
        raise input_error(file=file, column=None, problem=f"no {what}: the file has a header and nothing else.")


def require_columns(frame: pl.DataFrame, columns: list[str], *, file: str) -> None:
    missing = [c for c in columns if c not in frame.columns]
    if missing:
        raise input_error(
            file=file,
            column=missing[0],
            problem=f"required column(s) {missing} missing; found {frame.columns}.",
        )


def cast_strict(frame: pl.DataFrame, column: str, dtype: pl.DataType, *, file: str, required: bool = True) -> pl.Series:
    """Cast one column; raise with the failing rows when a value does not parse, is not finite or a required one is empty."""
    kind = "dates or date-times" if isinstance(dtype, pl.Datetime) else _KINDS.get(type(dtype), str(dtype))
    refuse = (pl.Boolean, pl.Duration, pl.Time) + (() if isinstance(dtype, pl.Datetime) else (pl.Date, pl.Datetime))
    raw = _readable(frame.get_column(column), file=file, kind=kind, refuse=refuse)
    if raw.dtype == pl.String:
        raw = raw.str.strip_chars().replace("", None)
    cast = _convert(raw, dtype)
    problem = DATE_PROBLEM if isinstance(dtype, pl.Datetime) else f"values that are not {kind}."
    _reject(frame, cast.is_null() & raw.is_not_null(), file=file, column=column, problem=problem)
    if dtype == pl.Float64:
        problem = "values that are not finite numbers (NaN or infinity); fix or remove those lines."
        _reject(frame, cast.is_not_null() & ~cast.is_finite(), file=file, column=column, problem=problem)
    if required:
        _reject(frame, cast.is_null(), file=file, column=column, problem="missing values.")
    return cast


def text_column(frame: pl.DataFrame, column: str, *, file: str) -> pl.Series:
    """A text column (names, codes, demographics) as String; Categorical and Enum (pandas 'category') are read as their text."""
    return _readable(frame.get_column(column), file=file, kind="text", refuse=()).cast(pl.String)


def _readable(raw: pl.Series, *, file: str, kind: str, refuse: tuple[type[pl.DataType], ...]) -> pl.Series:
    """Categorical / Enum columns as their text; a column type that cannot hold `kind` (lists, structs, binary,
    objects, and the types in `refuse`) is an InputError naming the file, the column and the type found."""
    if isinstance(raw.dtype, (pl.Categorical, pl.Enum)):
        return raw.cast(pl.String)
    if raw.dtype.is_nested() or isinstance(raw.dtype, (pl.Binary, pl.Object, *refuse)):
        raise input_error(file=file, column=raw.name, problem=f"the column has type {raw.dtype}, which cannot hold {kind}.")
    return raw


def _convert(raw: pl.Series, dtype: pl.DataType) -> pl.Series:
    if isinstance(dtype, pl.Datetime):
        return _to_datetime(raw)
    if dtype == pl.Int64:
        return _to_whole_numbers(raw)
    return raw.cast(dtype, strict=False)


def _to_whole_numbers(raw: pl.Series) -> pl.Series:
    """Integers, and numbers with a zero fraction (1.0, as some exports write ids); 1.5 or 'x' become null."""
    direct = raw.cast(pl.Int64, strict=False)
    if raw.dtype.is_integer():
        return direct
    number = raw.cast(pl.Float64, strict=False)
    whole = number.is_finite() & (number == number.floor()) & (number.abs() < 2.0**53)
    from_number = pl.select(pl.when(whole).then(number)).to_series().cast(pl.Int64)
    return direct.fill_null(from_number) if raw.dtype == pl.String else from_number


def _reject(frame: pl.DataFrame, bad: pl.Series, *, file: str, column: str, problem: str) -> None:
    if bad.any():
        raise input_error(file=file, column=column, problem=problem, examples=frame.filter(bad))


def _to_datetime(raw: pl.Series) -> pl.Series:
    """Dates and date-times, each value in any of the ISO forms above; anything else becomes null and is reported."""
    if raw.dtype == pl.Date or raw.dtype == pl.Datetime:
        naive = raw.dt.replace_time_zone(None) if getattr(raw.dtype, "time_zone", None) else raw
        return naive.cast(pl.Datetime("us"))
    text = raw.cast(pl.String).str.replace(_ZONE, "${1}")
    tries = [text.str.to_datetime(fmt, strict=False, time_unit="us") for fmt in _ISO_FORMATS]
    parsed = pl.select(pl.when(text.str.contains(FOUR_DIGIT_YEAR)).then(pl.coalesce(tries))).to_series()
    return parsed.alias(raw.name)


def parse_dates(frame: pl.DataFrame, column: str, fmt: str, *, file: str) -> pl.Series:
    raw = frame.get_column(column).cast(pl.String).str.strip_chars().replace("", None)
    parsed = raw.str.strptime(pl.Date, fmt, strict=False)
    _reject(frame, parsed.is_null() & raw.is_not_null(), file=file, column=column, problem=f"dates that do not parse as {fmt}.")
    _reject(frame, parsed.is_null(), file=file, column=column, problem="missing values.")
    return parsed
