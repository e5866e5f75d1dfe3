"""Which file is each input, and is it a text CSV: name variants, two candidates for one input,
spreadsheets and other binary files, encodings and delimiters, each said in one line."""

from __future__ import annotations

import gzip
from collections.abc import Iterator
from pathlib import Path
from typing import IO

from offerwise.errors import input_error

SUFFIXES = (".parquet", ".csv", ".csv.gz")  # every input name is accepted in each of these forms
GZIP_MAGIC = b"\x1f\x8b"
# Leading bytes of files that are not text CSV, and what to tell the user they are.
BINARY_KINDS = (
    (b"PK\x03\x04", "a ZIP archive (an Excel .xlsx workbook?), not a text CSV file; save the sheet as CSV (comma-separated)"),
    (b"\xd0\xcf\x11\xe0", "an Excel .xls workbook, not a text CSV file; save the sheet as CSV (comma-separated)"),
    (b"PAR1", "a Parquet file named .csv; rename it to .parquet"),
    (b"%PDF", "a PDF document, not a CSV file"),
    (b"\xff\xfe", "UTF-16 text (Excel's 'Unicode text'), not UTF-8; save it as 'CSV UTF-8'"),
    (b"\xfe\xff", "UTF-16 text, not UTF-8; save it as 'CSV UTF-8'"),
)
OTHER_DELIMITERS = {";": "';'", "\t": "tabs", "|": "'|'"}
SNIFF_BYTES = 64 * 1024


def input_names(stem: str) -> list[str]:
    return [f"{stem}{suffix}" for suffix in SUFFIXES]


def find_input(folder: str | Path, stem: str) -> Path | None:
    """`stem`.parquet, .csv or .csv.gz in `folder` (any case: Windows exports write .CSV); None when
    none is there. Two of them is an InputError naming both: which one holds the data cannot be known."""
    folder = Path(folder)
    names = {name.lower() for name in input_names(stem)}
    found = sorted((p for p in folder.iterdir() if p.name.lower() in names and p.is_file()), key=lambda p: SUFFIXES.index(suffix_of(p)))
    if len(found) > 1:
        names = " and ".join(p.name for p in found)
        raise input_error(
            file=str(folder), column=None, problem=f"{names} are both here; which one is the {stem} file cannot be known. Keep one of them."
        )
    return found[0] if found else None


def suffix_of(path: Path) -> str:
    """'.parquet', '.csv' or '.csv.gz' (lower case) for an input file's name."""
    name = path.name.lower()
    return next((s for s in sorted(SUFFIXES, key=len, reverse=True) if name.endswith(s)), path.suffix.lower())


def is_parquet(path: Path) -> bool:
    return suffix_of(Path(path)) == ".parquet"


def similar_files(folder: Path, stems: tuple[str, ...]) -> list[str]:
    """Files named like an input but in a form offerwise does not read (transactions.xlsx, item_data.tsv)."""
    return sorted(p.name for p in Path(folder).iterdir() if p.name.split(".")[0].lower() in stems and suffix_of(p) not in SUFFIXES)


def require_input(folder: str | Path, stem: str) -> Path:
    """find_input, or an InputError naming the file that is missing."""
    path = find_input(folder, stem)
    if path is None:
        problem = f"required file '{stem}.csv' is missing from {folder} (read also as {stem}.csv.gz or {stem}.parquet)."
        raise input_error(file=str(Path(folder) / f"{stem}.csv"), column=None, problem=problem)
    return path


def open_text(path: Path, *, errors: str = "replace") -> IO[str]:
    """A CSV file as text, gzip-compressed or not (a UTF-8 byte-order mark is skipped)."""
    if _head(path, 2) == GZIP_MAGIC:
        return gzip.open(path, "rt", newline="", encoding="utf-8-sig", errors=errors)
    return open(path, newline="", encoding="utf-8-sig", errors=errors)


def _head(path: Path, size: int) -> bytes:
    with open(path, "rb") as handle:
        return handle.read(size)


def _raw_lines(path: Path) -> Iterator[bytes]:
    opener = gzip.open if _head(path, 2) == GZIP_MAGIC else open
    with opener(path, "rb") as handle:
        yield from handle


def check_text_csv(path: Path, header: list[str]) -> None:
    """An InputError when the file is not comma-separated text: a spreadsheet or other binary file,
    or fields separated by another character (said with the decimal comma it often comes with)."""
    file = str(path)
    head = _head(path, SNIFF_BYTES)
    if head[:2] == GZIP_MAGIC:
        try:
            with gzip.open(path, "rb") as handle:
                head = handle.read(SNIFF_BYTES)
        except (OSError, EOFError) as exc:
            raise input_error(file=file, column=None, problem=f"not a readable gzip file ({exc}; truncated?).") from None
    for magic, what in BINARY_KINDS:
        if head.startswith(magic):
            raise input_error(file=file, column=None, problem=f"this is {what}.")
    if b"\x00" in head:
        raise input_error(file=file, column=None, problem="this is a binary file (it holds NUL bytes), not a text CSV file.")
    if len(header) == 1:
        delimiter = next((d for d in OTHER_DELIMITERS if d in header[0]), None)
        if delimiter is not None:
            raise input_error(file=file, column=None, problem=_delimiter_problem(path, delimiter))


def _delimiter_problem(path: Path, delimiter: str) -> str:
    with open_text(path) as handle:
        handle.readline()
        sample = handle.readline()
    fields = sample.rstrip("\r\n").split(delimiter)
    decimal_comma = next((f for f in fields if "," in f and f.replace(",", "", 1).lstrip("-").isdigit()), None)
    comma = f", and numbers have a decimal comma ('{decimal_comma}' on line 2)" if decimal_comma else ""
    return (
        f"fields are separated by {OTHER_DELIMITERS[delimiter]}, not commas{comma}. offerwise reads comma-separated files "
        "with a decimal point: export again as CSV with ',' between fields and '.' in numbers."
    )


def first_non_utf8_line(path: Path) -> str | None:
    """Where the file stops being UTF-8 ('line 7 has the byte 0xe9 ...'), or None when it all is."""
    for number, line in enumerate(_raw_lines(path), start=1):
        try:
            line.decode("utf-8")
        except UnicodeDecodeError as exc:
            shown = line[max(exc.start - 20, 0) : exc.start + 20].decode("utf-8", errors="backslashreplace").strip()
            return f"line {number} has the byte {line[exc.start]:#04x} ({shown!r})"
    return None


def not_utf8_problem(where: str) -> str:
    return f"not UTF-8 text: {where}. Save the file as UTF-8 (it may be Latin-1 or Windows-1252)."
