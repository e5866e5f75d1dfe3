"""Every bench script answers --help: it imports, using public names only (nothing runs them otherwise)."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

BENCH = Path(__file__).resolve().parents[1] / "bench"
SRC = Path(__file__).resolve().parents[1] / "src"

# One interpreter for all scripts (each import of torch, polars and friends costs seconds): every
# script runs as __main__ with --help; argparse exits 0 after printing its usage.
DRIVER = """
import contextlib, io, json, runpy, sys
answers = {}
for script in sys.argv[1:]:
    sys.argv, out = [script, "--help"], io.StringIO()
    try:
        with contextlib.redirect_stdout(out):
            runpy.run_path(script, run_name="__main__")
        code = 0
    except SystemExit as exc:
        code = exc.code or 0
    except Exception as exc:
        code = f"{type(exc).__name__}: {exc}"
    answers[script] = [code, out.getvalue()[:200]]
print(json.dumps(answers))
"""


def test_every_bench_script_answers_help() -> None:
    scripts = sorted(str(p) for p in BENCH.glob("*.py"))
    env = {**os.environ, "PYTHONPATH": os.pathsep.join([str(SRC), str(BENCH), os.environ.get("PYTHONPATH", "")])}
    result = subprocess.run([sys.executable, "-c", DRIVER, *scripts], capture_output=True, text=True, env=env, timeout=300)
    answers = json.loads(result.stdout.strip().splitlines()[-1])
    failed = {Path(s).name: a for s, a in answers.items() if a[0] != 0 or "usage" not in a[1].lower()}
    assert len(answers) == len(scripts) and failed == {}, failed


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
