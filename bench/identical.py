"""Check: a refactoring leaves the plan byte for byte as it was.

Runs `offerwise run --data simulated --quick` at two git commits (each in a temporary worktree, one
after the other, into run folders of the same name, so the run_id column matches) and compares the
forward plan's offers.csv and the backtest's, byte for byte.

    python bench/identical.py --before REF [--after REF]   # --after: default HEAD

Prints the SHA-256 of each file at both commits and writes bench/results/identical.json. Exit code 1
when a file differs. Timings are not compared (the two runs share nothing but the machine).
"""

from __future__ import annotations

import argparse
import hashlib
import json
import os
import subprocess
import sys
import tempfile
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
RESULTS = ROOT / "bench" / "results" / "identical.json"
COMPARED = ("recommendations/offers.csv", "optimize/offers.csv")


def run_at(ref: str, scratch: Path) -> dict[str, str]:
    """The compared files' SHA-256 after a quick simulated run at commit `ref`."""
    tree = scratch / "tree"
    subprocess.run(["git", "-C", str(ROOT), "worktree", "add", "--detach", str(tree), ref], check=True, capture_output=True)
    try:
        env = {**os.environ, "PYTHONPATH": str(tree / "src")}
        out = scratch / "run"
        command = [sys.executable, "-c", "from offerwise.cli import app; app()", "run", "--data", "simulated", "--quick", "--out", str(out)]
        subprocess.run(command, check=True, env=env, cwd=tree, capture_output=True)
        return {name: hashlib.sha256((out / name).read_bytes()).hexdigest() for name in COMPARED}
    finally:
        subprocess.run(["git", "-C", str(ROOT), "worktree", "remove", "--force", str(tree)], capture_output=True)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--before", required=True, help="the commit before the change")
    parser.add_argument("--after", default="HEAD", help="the commit after it (default HEAD)")
    args = parser.parse_args()
    commits = {
        side: subprocess.run(["git", "-C", str(ROOT), "rev-parse", ref], check=True, capture_output=True, text=True).stdout.strip()
        for side, ref in (("before", args.before), ("after", args.after))
    }
    hashes = {}
    for side, commit in commits.items():
        with tempfile.TemporaryDirectory(prefix=f"offerwise-{side}-") as scratch:
            hashes[side] = run_at(commit, Path(scratch))
    same = {name: hashes["before"][name] == hashes["after"][name] for name in COMPARED}
    for name in COMPARED:
        print(
            f"{name}: {'identical' if same[name] else 'DIFFERENT'}  before {hashes['before'][name][:16]}  after {hashes['after'][name][:16]}"
        )
    RESULTS.parent.mkdir(parents=True, exist_ok=True)
    RESULTS.write_text(json.dumps({"commits": commits, "sha256": hashes, "identical": same}, indent=1) + "\n")
    sys.exit(0 if all(same.values()) else 1)


if __name__ == "__main__":
    main()
