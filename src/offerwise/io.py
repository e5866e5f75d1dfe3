"""Artifact I/O in one place: every output is written atomically (temp file + rename)."""

from __future__ import annotations

import json
import os
import re
import tempfile
from collections.abc import Callable, Sequence
from pathlib import Path
from typing import Any

import polars as pl

from offerwise.errors import InputError

TEMP_NAME = re.compile(r"^\..+\.[a-z0-9_]{8}\.tmp$")  # what mkstemp names below: .<file>.<8 random characters>.tmp


def _atomic_write(path: Path, write: Callable[[Path], None]) -> Path:
    path = Path(path)
    try:
        path.parent.mkdir(parents=True, exist_ok=True)
        fd, tmp = tempfile.mkstemp(dir=path.parent, prefix=f".{path.name}.", suffix=".tmp")
    except PermissionError as exc:  # name the file the user asked for, not the temporary one
        raise PermissionError(exc.errno, exc.strerror, str(path)) from None
    os.close(fd)
    try:
        write(Path(tmp))
        os.chmod(tmp, 0o644)  # mkstemp creates 0600; artifacts are meant to be shared
        os.replace(tmp, path)
    except BaseException:
        Path(tmp).unlink(missing_ok=True)
        raise
    return path


def remove_temp_files(folder: Path) -> int:
    """Remove what writes killed mid-way left behind (their temp files) under `folder`; how many.
    Only for a folder no other process writes into (pipeline.run holds its lock)."""
    leftovers = [p for p in Path(folder).rglob(".*.tmp") if p.is_file() and TEMP_NAME.match(p.name)]
    for path in leftovers:
        path.unlink(missing_ok=True)
    return len(leftovers)


def write_parquet(frame: pl.DataFrame, path: str | Path) -> Path:
    return _atomic_write(Path(path), lambda tmp: frame.write_parquet(tmp, statistics=False))


def write_csv(frame: pl.DataFrame, path: str | Path) -> Path:
    return _atomic_write(Path(path), lambda tmp: frame.write_csv(tmp))


def write_text(text: str, path: str | Path) -> Path:
    return _atomic_write(Path(path), lambda tmp: tmp.write_text(text))


def write_bytes(data: bytes, path: str | Path) -> Path:
    return _atomic_write(Path(path), lambda tmp: tmp.write_bytes(data))


def write_json(obj: Any, path: str | Path) -> Path:
    return write_text(json.dumps(obj, indent=2, default=str) + "\n", path)


def read_json(path: str | Path, *, rerun: str = "write it again with the command that made it", require: Sequence[str] = ()) -> Any:
    """An artifact's JSON, or InputError naming it (missing, truncated, or an object without the keys required)."""
    path = Path(path)
    try:
        value = json.loads(path.read_text())
    except (OSError, UnicodeDecodeError, json.JSONDecodeError):
        raise damaged(path, "JSON file", rerun) from None
    if require and not isinstance(value, dict):
        raise damaged(path, "JSON file", rerun, "not the expected JSON object")
    missing = [k for k in require if k not in value]
    if missing:
        raise damaged(path, "JSON file", rerun, f"not the expected JSON: no key {', '.join(repr(k) for k in missing)}")
    return value


# ---------------------------------------------------------------- reading artifacts back
# A damaged or missing artifact is bad input, not a bug: one InputError line naming the file and
# the command that writes it again (`rerun`, e.g. "run `offerwise prepare --out run1/prepared` again").

UNREADABLE_PARQUET = (OSError, pl.exceptions.ComputeError)
UNREADABLE_CSV = (OSError, pl.exceptions.ComputeError, pl.exceptions.NoDataError)


def damaged(path: str | Path, what: str, rerun: str, problem: str | None = None) -> InputError:
    """The one line for an artifact that cannot be used: missing, or not a readable `what`."""
    path = Path(path)
    if problem is None:
        problem = "missing" if not path.exists() else f"not a readable {what} (truncated?)"
    return InputError(f"{path}: {problem}; {rerun}.")


def rerun(verb: str, out: str | Path) -> str:
    return f"run `offerwise {verb} --out {out}` again"


def _require(frame: pl.DataFrame, path: Path, what: str, rerun: str, columns: Sequence[str], numeric: Sequence[str]) -> pl.DataFrame:
    missing = [c for c in (*columns, *numeric) if c not in frame.columns]
    if missing:
        raise damaged(path, what, rerun, f"not a readable {what}: no column {', '.join(repr(c) for c in missing)}")
    text = [c for c in numeric if not frame.schema[c].is_numeric() or frame.get_column(c).null_count()]
    if text:
        raise damaged(
            path, what, rerun, f"not a readable {what}: column {', '.join(repr(c) for c in text)} is not all numbers (truncated?)"
        )
    return frame


def read_parquet(
    path: str | Path, *, rerun: str, columns: list[str] | None = None, require: Sequence[str] = (), numeric: Sequence[str] = ()
) -> pl.DataFrame:
    """An artifact's Parquet file, or InputError naming it (missing, truncated, or without the columns required)."""
    path = Path(path)
    try:
        frame = pl.read_parquet(path, columns=columns)
    except (*UNREADABLE_PARQUET, pl.exceptions.ColumnNotFoundError):
        raise damaged(path, "Parquet file", rerun) from None
    return _require(frame, path, "Parquet file", rerun, require, numeric)


def read_csv(path: str | Path, *, rerun: str, require: Sequence[str] = (), numeric: Sequence[str] = ()) -> pl.DataFrame:
    """An artifact's CSV file, or InputError naming it (missing, empty, or without the columns required;
    `numeric` columns must parse as numbers, which a file cut mid-row does not)."""
    path = Path(path)
    try:
        # every row decides a column's type: an artifact's column empty in its first 100 rows (cross_response.csv's
        # combined_z, filled on its last row only) would otherwise be read as text
        frame = pl.read_csv(path, infer_schema_length=None)
    except UNREADABLE_CSV:
        raise damaged(path, "CSV file", rerun) from None
    return _require(frame, path, "CSV file", rerun, require, numeric)
