"""Lines within the formatter's width, not `# fmt: skip`: the source is as ruff formats it."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

SRC = Path(__file__).resolve().parents[1] / "src"


def test_source_is_formatted_and_has_no_format_escapes() -> None:
    result = subprocess.run([sys.executable, "-m", "ruff", "format", "--check", str(SRC)], capture_output=True, text=True)
    assert result.returncode == 0, result.stdout + result.stderr
    escapes = [str(p) for p in SRC.rglob("*.py") if "fmt: skip" in p.read_text()]
    assert escapes == []
