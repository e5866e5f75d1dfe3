"""Profile: where `make run`'s seconds go, per stage and per step, before any change is made for speed.

Runs `offerwise run --data complete-journey --config configs/make-run.toml` under cProfile (main
thread: PyTorch's and LightGBM's own threads show as the calls that wait on them) and writes
bench/results/profile-make-run.json: the command, each stage's seconds from the run's completion
records, offerwise's functions by cumulative seconds and every function by its own seconds.
cProfile adds roughly 5-10 % here (many small polars calls); compare shares, not totals.

    python bench/profile_make_run.py [--out /tmp/profile-run] [--prof existing.prof --run RUN]
"""

from __future__ import annotations

import argparse
import cProfile
import json
import pstats
import sys
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
RESULTS = ROOT / "bench" / "results" / "profile-make-run.json"
COMMAND = ["run", "--data", "complete-journey", "--config", str(ROOT / "configs" / "make-run.toml")]


def _name(key: tuple) -> str:
    file, line, function = key
    short = file.split("/src/offerwise/")[-1].split("site-packages/")[-1]
    return f"{short}:{line} {function}"


def summary(stats: pstats.Stats, top: int) -> dict:
    """offerwise's functions by cumulative seconds, and every function by its own seconds."""
    rows = [(key, value) for key, value in stats.stats.items()]
    ours = sorted((r for r in rows if "/src/offerwise/" in r[0][0]), key=lambda r: -r[1][3])
    own = sorted(rows, key=lambda r: -r[1][2])
    as_row = lambda r: {"function": _name(r[0]), "calls": r[1][1], "own_s": round(r[1][2], 1), "cumulative_s": round(r[1][3], 1)}  # noqa: E731
    return {"offerwise_by_cumulative": [as_row(r) for r in ours[:top]], "by_own_time": [as_row(r) for r in own[:top]]}


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--out", type=Path, default=Path("/tmp/offerwise-profile-run"))
    parser.add_argument("--prof", type=Path, help="summarise this cProfile file (with --run) instead of running")
    parser.add_argument("--run", type=Path, help="the run folder the --prof file profiled")
    parser.add_argument("--top", type=int, default=40)
    args = parser.parse_args()
    run = args.run or args.out
    if args.prof is None:
        from offerwise.cli import app

        args.prof = run.with_suffix(".prof")
        profiler, start = cProfile.Profile(), time.perf_counter()
        profiler.enable()
        try:
            app([*COMMAND, "--out", str(run)], standalone_mode=False)
        finally:
            profiler.disable()
        profiler.dump_stats(args.prof)
        print(f"run: {time.perf_counter() - start:.0f} s under the profiler", file=sys.stderr)
    stages = {p.stem: json.loads(p.read_text())["seconds"] for p in sorted((run / ".stages").glob("*.json"))}
    result = {
        "command": "offerwise " + " ".join(COMMAND[:-1] + ["configs/make-run.toml"]) + " (under cProfile)",
        "stage_seconds": stages,
        "stages_total": round(sum(stages.values()), 1),
        **summary(pstats.Stats(str(args.prof)), args.top),
    }
    RESULTS.parent.mkdir(exist_ok=True)
    RESULTS.write_text(json.dumps(result, indent=2) + "\n")
    print(json.dumps({k: result[k] for k in ("stage_seconds", "stages_total")}, indent=2))
    print(f"wrote {RESULTS}")


if __name__ == "__main__":
    main()
