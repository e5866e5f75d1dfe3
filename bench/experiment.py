"""Benchmark: does `offerwise measure` cover the truth? Per seed and promotion policy, as a user would:

    offerwise simulate --customers C --seed S --config policy   ->  sim/
    offerwise run --data sim --quick                             ->  run/   (the plan, with its experiment)
    offerwise simulate --play run --data sim                     ->  next/  (the fortnight drawn from the true response)
    offerwise measure --data next --run run                      ->  run/measurement/

and compares the measurement with the simulator's truth for the played fortnight
(offerwise.experiment.truth: plan − holdout per consumer, the plan's value per pair, the explored
pairs' true slope per category).

    python bench/experiment.py [--seeds 21 ... 40] [--policies random targeted] [--customers 300] [--label NAME]

Results: bench/results/experiment-<label>.json (one row per run, and the coverage table) and a table on
stdout. Seeds 21-40 were never used to choose a setting.
"""

from __future__ import annotations

import argparse
import json
import shutil
import subprocess
import sys
import time
from pathlib import Path

import numpy as np
import polars as pl

from offerwise.experiment.truth import true_values

RESULTS = Path(__file__).parent / "results"
WORK = Path("results-work") / "experiment"
OFFERWISE = str(Path(sys.executable).parent / "offerwise")


def offerwise(*args: str) -> None:
    done = subprocess.run([OFFERWISE, *args], capture_output=True, text=True, check=False)
    if done.returncode != 0:
        raise RuntimeError(f"offerwise {' '.join(args)} failed (exit {done.returncode}):\n{done.stdout[-2000:]}\n{done.stderr[-2000:]}")


def truth(run: Path, played: Path) -> dict:
    """The true values of what measure estimates (experiment/truth.py)."""
    design = json.loads((run / "recommendations" / "experiment.json").read_text())
    offers = pl.read_parquet(run / "recommendations" / "offers.parquet")
    return true_values(offers, pl.read_parquet(played / "played_truth.parquet"), design["explore_share"], design["levels"])


def one(seed: int, policy: str, customers: int, work: Path) -> dict:
    folder = work / f"{policy}-{seed}"
    shutil.rmtree(folder, ignore_errors=True)
    folder.mkdir(parents=True)
    (folder / "sim.toml").write_text(f'[simulation]\npromotion_policy = "{policy}"\n')
    start = time.perf_counter()
    offerwise(
        "simulate", "--out", str(folder / "sim"), "--customers", str(customers), "--seed", str(seed), "--config", str(folder / "sim.toml")
    )
    offerwise("run", "--data", str(folder / "sim"), "--quick", "--out", str(folder / "run"))
    offerwise("simulate", "--play", str(folder / "run"), "--data", str(folder / "sim"), "--out", str(folder / "next"))
    offerwise("measure", "--data", str(folder / "next"), "--run", str(folder / "run"))
    seconds = time.perf_counter() - start
    true = truth(folder / "run", folder / "next")
    summary = pl.read_csv(folder / "run" / "measurement" / "summary.csv")
    design = json.loads((folder / "run" / "recommendations" / "experiment.json").read_text())
    row = {
        "seed": seed,
        "policy": policy,
        "seconds": seconds,
        "true_difference": true["difference"],
        "true_plan_value": true["plan_value"],
        "given_up_share": design["given_up_share"],
        "detectable_difference": design["power"]["detectable_difference_per_consumer"],
        "expected_difference": design["power"]["expected_difference_per_consumer"],
    }
    for estimate, target in (
        ("plan_minus_holdout_cuped", true["difference"]),
        ("plan_minus_holdout_bootstrap", true["difference"]),
        ("plan_minus_holdout_plain", true["difference"]),
        ("plan_minus_holdout_expected", true["difference"]),
        ("plan_value_ips", true["plan_value"]),
        ("plan_value_dr", true["plan_value"]),
        ("plan_value_expected", true["plan_value"]),
    ):
        found = summary.filter(pl.col("estimate") == estimate)
        if found.height:
            value, low, high = found.row(0, named=True)["value"], found.row(0, named=True)["low"], found.row(0, named=True)["high"]
            row[estimate] = value
            if low is not None and high is not None:
                row[f"{estimate}_covers"] = bool(low <= target <= high)
                row[f"{estimate}_width"] = high - low
    slopes = pl.read_csv(folder / "run" / "measurement" / "slopes.csv").join(true["slopes"], on="category", how="left")
    row["slopes"] = [
        {
            "category": s["category"],
            "identified": s["identified"],
            "slope": s["slope"],
            "low": s["low"],
            "high": s["high"],
            "true_slope": s["true_slope"],
            "true_slope_mean": s["true_slope_mean"],
            "estimator_slope": s.get("estimator_slope"),
            "estimator_low": s.get("estimator_low"),
            "estimator_high": s.get("estimator_high"),
        }
        for s in slopes.iter_rows(named=True)
    ]
    return row


def coverage(rows: list[dict]) -> dict:
    """Per estimate: runs, coverage of its interval, median width; the explore and estimator slopes' coverage."""
    out = {}
    for key in [k.removesuffix("_covers") for k in rows[0] if k.endswith("_covers")]:
        covers = [r[f"{key}_covers"] for r in rows if f"{key}_covers" in r]
        out[key] = {
            "runs": len(covers),
            "coverage": float(np.mean(covers)),
            "median_width": float(np.median([r[f"{key}_width"] for r in rows])),
        }
    slopes = [s for r in rows for s in r["slopes"] if s["identified"] and s["true_slope"] is not None]
    for name, truth_key in (("explore_slope", "true_slope"), ("explore_slope_vs_mean", "true_slope_mean")):
        hits = [s["low"] <= s[truth_key] <= s["high"] for s in slopes]
        out[name] = {"slopes": len(hits), "coverage": float(np.mean(hits)) if hits else float("nan")}
    est = [s for r in rows for s in r["slopes"] if s["estimator_low"] is not None and s["true_slope"] is not None]
    out["estimator_slope"] = {
        "slopes": len(est),
        "coverage": float(np.mean([s["estimator_low"] <= s["true_slope"] <= s["estimator_high"] for s in est])) if est else float("nan"),
    }
    out["identified_share"] = float(np.mean([s["identified"] for r in rows for s in r["slopes"]]))
    return out


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--seeds", type=int, nargs="+", default=list(range(21, 41)))
    parser.add_argument("--policies", nargs="+", default=["random", "targeted"])
    parser.add_argument("--customers", type=int, default=300)
    parser.add_argument("--label", default="default")
    args = parser.parse_args()
    rows = []
    path = RESULTS / f"experiment-{args.label}.json"
    for seed in args.seeds:
        for policy in args.policies:
            row = one(seed, policy, args.customers, WORK)
            rows.append(row)
            print(
                f"{policy:9s} seed {seed:3d}: plan − holdout {row['plan_minus_holdout_cuped']:+.3f} (truth {row['true_difference']:+.3f}, "
                f"covers {row.get('plan_minus_holdout_cuped_covers')}), DR {row['plan_value_dr']:.3f} (truth {row['true_plan_value']:.3f}), "
                f"{row['seconds']:.0f} s",
                flush=True,
            )
            path.write_text(json.dumps({"command": " ".join(sys.argv), "runs": rows, "coverage": coverage(rows)}, indent=1, default=str))
    table = coverage(rows)
    for policy in args.policies:
        table[policy] = coverage([r for r in rows if r["policy"] == policy])
    path.write_text(json.dumps({"command": " ".join(sys.argv), "runs": rows, "coverage": table}, indent=1, default=str))
    print(json.dumps(table, indent=1))


if __name__ == "__main__":
    main()
