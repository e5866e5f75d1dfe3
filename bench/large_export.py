"""Benchmark: the library's default config on a retailer-sized export (#32's target: <= 10 minutes on 2 cores).

Simulates an export of about 720,000 transaction lines (1,500 consumers, 250 items in 25 categories,
60 weeks, 130 items considered per consumer; the simulator's defaults otherwise, seed 51), then times
`offerwise run --data SIM` with no config file, as a retailer's first run would be: the wall time, each
stage's seconds (the run folder's .stages/*.json), the peak resident memory of the run, and the
training's epochs (early stopping ends it before model.epochs).

    python bench/large_export.py [--work results-work/large-export] [--label default] [--config C]

Results: bench/results/large-export-<label>.json and the figures on stdout. Run it alone: a second heavy
job on 2 cores slows both several-fold.
"""

from __future__ import annotations

import argparse
import json
import resource
import shutil
import subprocess
import sys
import time
from pathlib import Path

RESULTS = Path(__file__).parent / "results"
SIMULATION = {"customers": 1500, "items": 250, "categories": 25, "weeks": 60, "items_per_customer": 130, "seed": 51}
STAGES = ("prepare", "train", "evaluate", "thresholds", "elasticity", "optimize", "recommend", "report")


def offerwise(*args: str) -> list[str]:
    """The offerwise command of this interpreter's environment."""
    return [str(Path(sys.executable).parent / "offerwise"), *args]


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--work", type=Path, default=Path("results-work") / "large-export")
    parser.add_argument("--label", default="default")
    parser.add_argument("--config", type=Path, default=None, help="a config for the run (default: none, the library's defaults)")
    args = parser.parse_args()
    sim, run = args.work / "sim", args.work / f"run-{args.label}"
    if not (sim / "customer_transaction_data.csv").is_file():
        args.work.mkdir(parents=True, exist_ok=True)
        toml = args.work / "simulation.toml"
        toml.write_text("[simulation]\n" + "".join(f"{k} = {v}\n" for k, v in SIMULATION.items()))
        subprocess.run(offerwise("simulate", "--out", str(sim), "--config", str(toml)), check=True)
    lines = sum(1 for _ in (sim / "customer_transaction_data.csv").open()) - 1
    shutil.rmtree(run, ignore_errors=True)
    command = offerwise("run", "--data", str(sim), "--out", str(run), *(["--config", str(args.config)] if args.config else []))
    started = time.perf_counter()
    subprocess.run(command, check=True)
    wall = time.perf_counter() - started
    peak_gib = resource.getrusage(resource.RUSAGE_CHILDREN).ru_maxrss / 2**20  # kB on Linux
    stages = {s: json.loads((run / ".stages" / f"{s}.json").read_text())["seconds"] for s in STAGES}
    training = json.loads((run / "models" / "training.json").read_text())["models"]
    result = {
        "command": " ".join(command[1:]),
        "simulation": SIMULATION,
        "transaction_lines": lines,
        "config": str(args.config),
        "wall_seconds": round(wall, 1),
        "stage_seconds": stages,
        "stages_total": round(sum(stages.values()), 1),
        "peak_memory_gib": round(peak_gib, 2),
        "epochs_trained": [m.get("epochs") for m in training if "reused_from_fold" not in m],
    }
    RESULTS.mkdir(parents=True, exist_ok=True)
    (RESULTS / f"large-export-{args.label}.json").write_text(json.dumps(result, indent=1) + "\n")
    print(json.dumps(result, indent=1))


if __name__ == "__main__":
    main()
