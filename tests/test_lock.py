"""One run per run folder (lock.py): two runs into one --out never mix; a dead run's lock is taken
over and said; what interrupted writes left is removed by the next run."""

from __future__ import annotations

import json
import os
import subprocess
import sys
import textwrap
import time
from pathlib import Path

import pytest
from typer.testing import CliRunner

from offerwise import io, pipeline
from offerwise.cli import app
from offerwise.config import Config
from offerwise.lock import LOCK, FolderBusy, run_lock
from offerwise.pipeline import api

runner = CliRunner()
SRC = Path(__file__).resolve().parents[1] / "src"

# A `run` whose stages are replaced by a slow stand-in that writes its own name into the folder
# stage by stage: the lock, the CLI and its error handling are the real ones.
RUN = textwrap.dedent(
    """
    import sys, time
    from offerwise import cli
    from offerwise.pipeline import api

    name = sys.argv[2]

    def stages(data, out, cfg, *, planned_offers, offer_rules, log):
        for stage in range(4):
            (out / f"stage{stage}.txt").write_text(name)
            deadline = time.monotonic() + 60
            while stage == 0 and not (out.parent / "release").exists() and time.monotonic() < deadline:
                time.sleep(0.05)  # hold the folder until the test has seen the second run refused
        return {}

    api._run_stages = stages
    cli.print_plan = lambda console, plan: print("done", name)
    cli.app(["run", "--data", "simulated", "--out", sys.argv[1]])
    """
)


def _start(out: Path, name: str) -> subprocess.Popen:
    env = {**os.environ, "PYTHONPATH": f"{SRC}{os.pathsep}{os.environ.get('PYTHONPATH', '')}", "COLUMNS": "300"}
    return subprocess.Popen(
        [sys.executable, "-c", RUN, str(out), name], env=env, stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True
    )


def test_two_runs_into_one_folder_never_mix(tmp_path: Path) -> None:
    out = tmp_path / "run"
    first = _start(out, "first")
    deadline = time.monotonic() + 60
    while not (out / "stage0.txt").exists():  # the first run holds the lock once it writes
        assert time.monotonic() < deadline and first.poll() is None, first.communicate()[0]
        time.sleep(0.05)
    second = _start(out, "second")
    said_second, _ = second.communicate(timeout=60)
    (tmp_path / "release").write_text("")
    said_first, _ = first.communicate(timeout=60)
    assert first.returncode == 0 and "done first" in said_first, said_first
    assert second.returncode == 2, said_second
    errors = [line for line in said_second.splitlines() if line.startswith("error:")]  # after run's opening line
    assert len(errors) == 1 and f"pid {first.pid} on " in errors[0] and "another offerwise run is writing into this folder" in errors[0]
    assert {p.read_text() for p in out.glob("stage*.txt")} == {"first"} and len(list(out.glob("stage*.txt"))) == 4


def test_run_on_a_held_folder_is_one_line_and_touches_nothing(tmp_path: Path) -> None:
    out = tmp_path / "run"
    out.mkdir()
    with run_lock(out, log=print):
        result = runner.invoke(app, ["run", "--data", "simulated", "--quick", "--out", str(out)])
        assert sorted(p.name for p in out.iterdir()) == [LOCK]  # neither removed nor written
    assert result.exit_code == 2, result.output
    errors = [line for line in result.output.splitlines() if line.startswith("error:")]
    assert len(errors) == 1 and f"--out {out}: another offerwise run" in errors[0] and f"pid {os.getpid()}" in errors[0], result.output


def test_a_dead_runs_lock_is_taken_over_and_said(tmp_path: Path) -> None:
    out = tmp_path / "run"
    out.mkdir()
    dead = subprocess.run([sys.executable, "-c", "import os; print(os.getpid())"], capture_output=True, text=True)
    holder = {"pid": int(dead.stdout), "host": "shop-1", "started": "2024-05-01 10:00:00", "command": ["run"]}
    (out / LOCK).write_text(json.dumps(holder))  # what a run killed with -9 leaves: text, but no OS lock
    said: list[str] = []
    with run_lock(out, log=said.append):
        assert json.loads((out / LOCK).read_text())["pid"] == os.getpid()
        with pytest.raises(FolderBusy, match=f"pid {os.getpid()}"):
            with run_lock(out, log=said.append):
                pass
    assert len(said) == 1 and f"pid {holder['pid']} on shop-1, started 2024-05-01 10:00:00" in said[0] and "taken over" in said[0]
    assert (out / LOCK).read_text() == ""  # released cleanly: the next run says nothing
    with run_lock(out, log=said.append):
        pass
    assert len(said) == 1


def test_the_next_run_removes_temporary_files_left_by_a_killed_write(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    out = tmp_path / "run"
    (out / "prepared").mkdir(parents=True)
    leftovers = [out / ".config.json.k2j4_x9a.tmp", out / "prepared" / ".panel.parquet.a1b2c3d4.tmp"]
    for path in leftovers:
        path.write_text("half")
    (out / "mine.tmp").write_text("a user's file")  # not a name io writes: kept
    monkeypatch.setattr(api, "_run_stages", lambda *a, **k: {})
    said: list[str] = []
    pipeline.run("simulated", out, Config(), log=said.append)
    assert not any(p.exists() for p in leftovers) and (out / "mine.tmp").exists()
    assert any("removed 2 temporary file(s)" in line for line in said)
    assert io.remove_temp_files(out) == 0


def test_an_out_folder_that_cannot_be_written_is_named_as_out(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    def refuse(*args: object, dir: str = "", prefix: str = "", **kwargs: object) -> tuple[int, str]:
        raise PermissionError(13, "Permission denied", f"{dir}/{prefix}x1y2z3w4.tmp")

    monkeypatch.setattr(io.tempfile, "mkstemp", refuse)
    out = tmp_path / "sim"
    result = runner.invoke(app, ["simulate", "--out", str(out), "--customers", "5", "--items", "4", "--weeks", "4"])
    assert result.exit_code == 2, result.output
    line = result.output.strip()
    assert "\n" not in line and f"--out {out}: cannot write customer_transaction_data.csv (Permission denied)" in line
    assert ".tmp" not in line


@pytest.mark.skipif(os.geteuid() == 0, reason="root writes into read-only folders")
def test_a_read_only_out_folder_is_named_before_anything_runs(tmp_path: Path) -> None:
    out = tmp_path / "run"
    out.mkdir()
    out.chmod(0o555)
    result = runner.invoke(app, ["run", "--data", "simulated", "--quick", "--out", str(out)])
    out.chmod(0o755)
    assert result.exit_code == 2 and f"--out {out}: cannot write into this folder" in result.output, result.output
