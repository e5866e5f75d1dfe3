"""One error form for bad input: file, column, what was expected, example rows."""

from __future__ import annotations

from typing import Any

import polars as pl


class InputError(ValueError):
    """Bad user input. The CLI prints it as one red line and exits with code 2."""


def input_error(*, file: str, column: str | None, problem: str, examples: pl.DataFrame | None = None) -> InputError:
    """Build an InputError naming the file, the column and up to 5 example rows."""
    where = f"{file}" + (f", column '{column}'" if column else "")
    message = f"{where}: {problem}"
    if examples is not None and examples.height:
        rows = examples.head(5).to_dicts()
        message += f" Examples ({examples.height:,} {'row' if examples.height == 1 else 'rows'} in all): {rows}"
    return InputError(message)


_BOUNDS = {"greater_than_equal": ">=", "greater_than": ">", "less_than_equal": "<=", "less_than": "<"}
_BOUND_KEYS = {"greater_than_equal": "ge", "greater_than": "gt", "less_than_equal": "le", "less_than": "lt"}


def config_error(exc: Any, *, source: str | None = None, section: str | None = None) -> InputError:
    """A pydantic ValidationError as one line naming each bad key.

    E.g. "The 'simulation.customers' option must be >= 1. Got 0 instead." `section` prefixes keys
    validated one section at a time; `source` (the config file) leads the line.
    """
    parts = [_option_problem(((section,) if section else ()) + tuple(error["loc"]), error) for error in exc.errors()]
    return InputError((f"{source}: " if source else "") + " ".join(parts))


def _option_problem(loc: tuple[Any, ...], error: dict[str, Any]) -> str:
    key = "".join(f"[{p}]" if isinstance(p, int) else f".{p}" for p in loc).lstrip(".")
    kind = error["type"]
    if kind == "extra_forbidden":
        return f"The '{key}' option is not known (check its spelling and section)."
    if kind == "missing":
        return f"The '{key}' option is required."
    if kind in _BOUNDS:
        problem = f"must be {_BOUNDS[kind]} {error['ctx'][_BOUND_KEYS[kind]]}"
    else:
        problem = str(error["msg"]).removeprefix("Value error, ").replace("Input should be", "must be")
    return f"The '{key}' option {problem.rstrip('.')}. Got {error.get('input')!r} instead."
