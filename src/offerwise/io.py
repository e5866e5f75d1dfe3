"""Artifact I/O in one place: every output is written atomically (temp file + rename)."""

from __future__ import annotations

import json
import os
import tempfile
from collections.abc import Callable
from pathlib import Path
from typing import Any

import polars as pl


def _atomic_write(path: Path, write: Callable[[Path], None]) -> Path:
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    fd, tmp = tempfile.mkstemp(dir=path.parent, prefix=f".{path.name}.", suffix=".tmp")
    os.close(fd)
    try:
        write(Path(tmp))
        os.chmod(tmp, 0o644)  # mkstemp creates 0600; artifacts are meant to be shared
        os.replace(tmp, path)
    except BaseException:
        Path(tmp).unlink(missing_ok=True)
        raise
    return path


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


def read_json(path: str | Path) -> Any:
    return json.loads(Path(path).read_text())
