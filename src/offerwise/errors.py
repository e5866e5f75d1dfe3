"""One error form for bad input: file, column, what was expected, example rows."""

from __future__ import annotations

import polars as pl


class InputError(ValueError):
    """Bad user input. The CLI prints it as one red line and exits with code 2."""


def input_error(
    *, file: str, column: str | None, problem: str, examples: pl.DataFrame | None = None
) -> InputError:
    """Build an InputError naming the file, the column and up to 5 example rows."""
    where = f"{file}" + (f", column '{column}'" if column else "")
    message = f"{where}: {problem}"
    if examples is not None and examples.height:
        rows = examples.head(5).to_dicts()
        message += f" Examples ({examples.height} rows in all): {rows}"
    return InputError(message)
