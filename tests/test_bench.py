"""Every bench script answers --help: it imports, using public names only (nothing runs them otherwise)."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import pytest

BENCH = Path(__file__).resolve().parents[1] / "bench"
SRC = Path(__file__).resolve().parents[1] / "src"


@pytest.mark.parametrize("script", sorted(p.name for p in BENCH.glob("*.py")))
def test_bench_script_answers_help(script: str) -> None:
    env = {**os.environ, "PYTHONPATH": f"{SRC}{os.pathsep}{os.environ.get('PYTHONPATH', '')}"}
    result = subprocess.run([sys.executable, str(BENCH / script), "--help"], capture_output=True, text=True, env=env, timeout=120)
    assert result.returncode == 0 and "usage" in result.stdout.lower(), result.stdout + result.stderr


def test_bench_scripts_use_public_names_only() -> None:
    private = [
        f"{p.name}: {line.strip()}"
        for p in BENCH.glob("*.py")
        for line in p.read_text().splitlines()
        if line.lstrip().startswith("from offerwise")
        and " import " in line
        and any(n.strip().startswith("_") for n in line.split(" import ", 1)[1].split(","))
    ]
    assert private == []
