"""Benchmark: `make run` from a fresh clone, as a new user meets it, twice; each stage's minimum.

Each repetition clones this repository's HEAD into a new folder, times `make install` (a new .venv;
pip's download cache is kept, as on any machine that installed a Python package before: say so when
quoting the figure) and `make run` (with its peak memory), and reads each stage's seconds from the run folder's
.stages/*.json. Run it alone: two heavy jobs on 2 cores slow each other several-fold.
Target (issue: make run in 5 minutes): install + run <= 300 s, stages <= 200 s together.
Results: bench/results/make-run.json.

With --against REV each repetition also clones REV (an earlier commit) and the two alternate, REV
first: this machine's speed drifts by 20 % within an hour, so a comparison needs its runs interleaved.
The result then also holds REV's runs and minima, and HEAD's minima over REV's per stage.

    python bench/make_run.py [--repeat 2] [--keep] [--against REV]
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import shutil
import subprocess
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
RESULTS = ROOT / "bench" / "results" / "make-run.json"


def _timed(command: list[str], cwd: Path) -> tuple[float, float]:
    """Seconds, and the peak resident memory (GiB) of the command's largest process (wait4's rusage
    covers the child and the descendants it waited for: `make`'s Python)."""
    start = time.perf_counter()
    child = subprocess.Popen(command, cwd=cwd, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    _, status, usage = os.wait4(child.pid, 0)
    child.returncode = os.waitstatus_to_exitcode(status)
    if child.returncode:
        raise subprocess.CalledProcessError(child.returncode, command)
    return time.perf_counter() - start, usage.ru_maxrss / 2**20  # ru_maxrss: KiB on Linux


def once(folder: Path, revision: str | None = None) -> dict:
    """One fresh clone (of `revision`, default HEAD): install and run seconds, and each stage's seconds from its completion record."""
    subprocess.run(["git", "clone", "-q", str(ROOT), str(folder)], check=True)
    if revision is not None:
        subprocess.run(["git", "checkout", "-q", revision], cwd=folder, check=True)
    install, _ = _timed(["make", "install"], folder)
    run, peak = _timed(["make", "run"], folder)
    (out,) = (folder / "offerwise-out").iterdir()
    stages = {p.stem: json.loads(p.read_text())["seconds"] for p in (out / ".stages").glob("*.json")}
    return {"install_seconds": round(install, 1), "run_seconds": round(run, 1), "peak_memory_gib": round(peak, 2), "stages": stages}


def minima(runs: list[dict]) -> dict:
    """Each stage's minimum over the runs, and the install, run and total minima."""
    names = sorted({name for r in runs for name in r["stages"]})
    best = {name: min(r["stages"].get(name, float("inf")) for r in runs) for name in names}
    return {
        "install_seconds_min": min(r["install_seconds"] for r in runs),
        "run_seconds_min": min(r["run_seconds"] for r in runs),
        "total_seconds_min": round(min(r["install_seconds"] + r["run_seconds"] for r in runs), 1),
        "stage_seconds_min": best,
        "stages_total_min": round(sum(best.values()), 1),
        "peak_memory_gib_max": max((r.get("peak_memory_gib", 0.0) for r in runs), default=0.0),
    }


def _short(revision: str) -> str:
    return subprocess.run(["git", "rev-parse", "--short", revision], cwd=ROOT, capture_output=True, text=True, check=True).stdout.strip()


def _fresh(revision: str | None, keep: bool) -> dict:
    folder = Path(tempfile.mkdtemp(prefix="offerwise-make-run-"))
    shutil.rmtree(folder)
    run = once(folder, revision) | {"commit": revision or "HEAD"}
    print(json.dumps(run), flush=True)
    if not keep:
        shutil.rmtree(folder, ignore_errors=True)
    return run


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--repeat", type=int, default=2)
    parser.add_argument("--keep", action="store_true", help="keep the clones (their run folders) for a look")
    parser.add_argument("--against", default=None, help="an earlier commit, run interleaved with HEAD (module docstring)")
    args = parser.parse_args()
    runs, earlier = [], []
    for _ in range(args.repeat):
        if args.against:
            earlier.append(_fresh(args.against, args.keep))
        runs.append(_fresh(None, args.keep))
    result = {
        "commit": _short("HEAD"),
        "machine": f"{platform.machine()}, {shutil.os.cpu_count()} cores",
        "repeat": args.repeat,
        **minima(runs),
    }
    if earlier:
        before = minima(earlier)
        result["against"] = {"commit": _short(args.against), **before, "runs": earlier}
        result["ratio_to_against"] = {
            "total": round(result["total_seconds_min"] / before["total_seconds_min"], 3),
            "stages": round(result["stages_total_min"] / before["stages_total_min"], 3),
        } | {
            name: round(v / before["stage_seconds_min"][name], 3)
            for name, v in result["stage_seconds_min"].items()
            if name in before["stage_seconds_min"]
        }
    result["runs"] = runs
    RESULTS.parent.mkdir(exist_ok=True)
    RESULTS.write_text(json.dumps(result, indent=2) + "\n")
    print(json.dumps({k: v for k, v in result.items() if k not in ("runs", "against")}, indent=2))
    print(f"wrote {RESULTS}")


if __name__ == "__main__":
    main()
