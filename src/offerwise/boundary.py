"""The command line's boundary: bad input ends as one red line and exit code 2, never a traceback,
and a command stopped that way leaves its --out folder as it found it."""

from __future__ import annotations

import contextlib
import functools
import itertools
import shutil
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import typer
from rich.console import Console
from rich.markup import escape

from offerwise.config import OptionError
from offerwise.errors import InputError
from offerwise.lock import FolderBusy

err_console = Console(stderr=True)

PATH_ERRORS = (FileExistsError, NotADirectoryError, IsADirectoryError, PermissionError)  # an --out or input path the user gave


def clear_errors(command: Callable[..., Any]) -> Callable[..., Any]:
    """Bad input ends as one red line and exit code 2, never a traceback. An option found wrong only
    against the data (OptionError) is put after the --config file, like a value wrong in itself."""

    @functools.wraps(command)
    def wrapper(*args: Any, **kwargs: Any) -> Any:
        try:
            return command(*args, **kwargs)
        except InputError as exc:
            source = kwargs.get("config") if isinstance(exc, OptionError) else None
            message = f"{source}: {exc}" if source else str(exc)
            err_console.print(f"[bold red]error:[/bold red] {escape(message)}", soft_wrap=True)
            raise typer.Exit(code=2) from None
        except PATH_ERRORS as exc:
            err_console.print(f"[bold red]error:[/bold red] {escape(_path_problem(exc, kwargs.get('out')))}", soft_wrap=True)
            raise typer.Exit(code=2) from None

    return wrapper


def _path_problem(exc: OSError, out: Path | None) -> str:
    """'<file>: <why>.', led by '--out <folder>' when the file is in the --out folder (the option the user can change)."""
    path = Path(str(exc.filename)) if exc.filename else None
    why = exc.strerror or str(exc)
    if out is not None and path is not None and path.resolve().is_relative_to(Path(out).resolve()):
        return f"--out {out}: cannot write {path.relative_to(out) if path.is_relative_to(out) else path} ({why}); give a folder you can write to."
    return f"{path or exc}: {why}."


@contextlib.contextmanager
def output_folder(out: Path) -> Iterator[Path]:
    """Create the --out folder (one clear line when it cannot be) and, when the command ends on bad
    input (exit 2), leave it as it was: a folder this command made is removed with what it wrote, an
    empty one is emptied again. A folder holding earlier results (a run to resume) is left alone."""
    if out.exists() and not out.is_dir():
        raise InputError(f"--out {out}: is a file; give a folder.")
    made = list(itertools.takewhile(lambda p: not p.exists(), [out, *out.parents]))  # the folders mkdir will make
    was_empty = out.is_dir() and not any(out.iterdir())
    try:
        out.mkdir(parents=True, exist_ok=True)
    except OSError as exc:
        raise InputError(f"--out {out}: cannot create this folder ({exc.strerror or exc}).") from None
    try:
        yield out
    except FolderBusy:
        raise  # another run's folder: not ours to tidy
    except (InputError, *PATH_ERRORS):
        if made:
            shutil.rmtree(made[-1], ignore_errors=True)
        elif was_empty:
            for child in out.iterdir():
                if child.is_dir() and not child.is_symlink():
                    shutil.rmtree(child, ignore_errors=True)
                else:
                    child.unlink(missing_ok=True)
        raise
