"""Benchmark: `make run` from a fresh clone, as a new user meets it, twice; each stage's minimum.

Each repetition clones this repository's HEAD into a new folder, times `make install` (a new .venv;
pip's download cache is kept, as on any machine that installed a Python package before: say so when
quoting the figure) and `make run`, and reads each stage's seconds from the run folder's
.stages/*.json. Run it alone: two heavy jobs on 2 cores slow each other several-fold.
Target (issue: make run in 5 minutes): install + run <= 300 s, stages <= 200 s together.
Results: bench/results/make-run.json.

    python bench/make_run.py [--repeat 2] [--keep]
"""

from __future__ import annotations

import argparse
import json
import platform
import shutil
import subprocess
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
RESULTS = ROOT / "bench" / "results" / "make-run.json"


def _timed(command: list[str], cwd: Path) -> float:
    start = time.perf_counter()
    subprocess.run(command, cwd=cwd, check=True, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE)
    return time.perf_counter() - start


def once(folder: Path) -> dict:
    """One fresh clone: install and run seconds, and each stage's seconds from its completion record."""
    subprocess.run(["git", "clone", "-q", str(ROOT), str(folder)], check=True)
    install = _timed(["make", "install"], folder)
    run = _timed(["make", "run"], folder)
    (out,) = (folder / "offerwise-out").iterdir()
    stages = {p.stem: json.loads(p.read_text())["seconds"] for p in (out / ".stages").glob("*.json")}
    return {"install_seconds": round(install, 1), "run_seconds": round(run, 1), "stages": stages}


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--repeat", type=int, default=2)
    parser.add_argument("--keep", action="store_true", help="keep the clones (their run folders) for a look")
    args = parser.parse_args()
    commit = subprocess.run(["git", "rev-parse", "--short", "HEAD"], cwd=ROOT, capture_output=True, text=True, check=True).stdout.strip()
    runs = []
    for i in range(args.repeat):
        folder = Path(tempfile.mkdtemp(prefix="offerwise-make-run-"))
        shutil.rmtree(folder)
        runs.append(once(folder))
        print(json.dumps(runs[-1]), flush=True)
        if not args.keep:
            shutil.rmtree(folder, ignore_errors=True)
    names = sorted({name for r in runs for name in r["stages"]})
    best = {name: min(r["stages"].get(name, float("inf")) for r in runs) for name in names}
    result = {
        "commit": commit,
        "machine": f"{platform.machine()}, {shutil.os.cpu_count()} cores",
        "repeat": args.repeat,
        "install_seconds_min": min(r["install_seconds"] for r in runs),
        "run_seconds_min": min(r["run_seconds"] for r in runs),
        "total_seconds_min": min(r["install_seconds"] + r["run_seconds"] for r in runs),
        "stage_seconds_min": best,
        "stages_total_min": round(sum(best.values()), 1),
        "runs": runs,
    }
    RESULTS.parent.mkdir(exist_ok=True)
    RESULTS.write_text(json.dumps(result, indent=2) + "\n")
    print(json.dumps({k: v for k, v in result.items() if k != "runs"}, indent=2))
    print(f"wrote {RESULTS}")


if __name__ == "__main__":
    main()
