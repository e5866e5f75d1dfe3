"""One run per run folder: `offerwise run` holds <out>/.lock while it writes, so two runs into one
--out can never mix their stages. A second run stops with one line naming the holder (pid, host,
start time). The lock is an OS file lock (flock), released by the kernel when its process ends,
however it ends: the file's text only says who held it, so a killed run's lock is taken over, and said."""

from __future__ import annotations

import contextlib
import datetime as dt
import fcntl
import json
import os
import socket
import sys
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import IO

from offerwise.errors import InputError

LOCK = ".lock"


class FolderBusy(InputError):
    """Another process holds the run folder's lock. Nothing of that folder may be touched (cli.output_folder)."""


@contextlib.contextmanager
def run_lock(out: Path, *, log: Callable[[str], None]) -> Iterator[None]:
    """Hold `out`/.lock for the block; FolderBusy naming the holder when another process has it."""
    handle = _open(out)
    try:
        fcntl.flock(handle, fcntl.LOCK_EX | fcntl.LOCK_NB)
    except BlockingIOError:
        holder = _describe(handle.read())
        handle.close()
        raise FolderBusy(
            f"--out {out}: another offerwise run is writing into this folder ({holder}); wait for it to end, or give another --out."
        ) from None
    if previous := handle.read().strip():  # a holder that ended without releasing: killed, or its machine stopped
        log(f"[yellow]--out {out}: the lock of a run that did not end cleanly ({_describe(previous)}) was taken over[/yellow]")
    _write(handle, json.dumps(_me()))
    try:
        yield
    finally:
        _write(handle, "")  # empty: released cleanly
        fcntl.flock(handle, fcntl.LOCK_UN)
        handle.close()


def _open(out: Path) -> IO[str]:
    try:
        out.mkdir(parents=True, exist_ok=True)
        handle = open(out / LOCK, "a+")  # noqa: SIM115 (held open for the lock's lifetime)
    except OSError as exc:
        raise InputError(f"--out {out}: cannot write into this folder ({exc.strerror or exc}); give a folder you can write to.") from None
    handle.seek(0)
    return handle


def _write(handle: IO[str], text: str) -> None:
    handle.seek(0)
    handle.truncate()
    handle.write(text)
    handle.flush()


def _me() -> dict[str, object]:
    return {"pid": os.getpid(), "host": socket.gethostname(), "started": f"{dt.datetime.now():%Y-%m-%d %H:%M:%S}", "command": sys.argv[1:3]}


def _describe(text: str) -> str:
    """'pid 123 on host, started 2024-05-01 10:00:00', from the lock file's text."""
    if not text.strip():
        return "a run that is just starting"
    try:
        holder = json.loads(text)
        return f"pid {holder['pid']} on {holder['host']}, started {holder['started']}"
    except (ValueError, KeyError, TypeError):
        return "a process that left no record"
