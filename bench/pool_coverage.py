"""Benchmark: does `offerwise pool`'s interval cover the truth? On the learning loop's stored rounds
(bench/loop.py's folders: each sequence's measured fortnights, and the simulator's truth for each
played fortnight), per sequence:

* each fortnight's plan − holdout per consumer (CUPED) against its true difference (experiment/truth.py);
* the fortnights pooled (experiment/pool.py) against the same inverse-variance mean of their true
  differences (what the pooled estimate estimates).

    python bench/pool_coverage.py [--work results-work/loop]

Results: bench/results/pool-coverage.json and the figures on stdout. Run bench/loop.py first.
"""

from __future__ import annotations

import argparse
import json
from pathlib import Path

import numpy as np
import polars as pl
from scipy.stats import norm

from offerwise.experiment.pool import pooled_summary
from offerwise.experiment.truth import true_values

RESULTS = Path(__file__).parent / "results"
CUPED = "plan_minus_holdout_cuped"


def sequence(folder: Path) -> dict | None:
    """One loop sequence's fortnights: each one's estimate and truth, and the pooled pair."""
    summaries, truths, rows = [], [], []
    for run in sorted(folder.glob("run*"), key=lambda p: int(p.name.removeprefix("run"))):
        played = folder / f"data{int(run.name.removeprefix('run'))}"
        if not (run / "measurement" / "summary.csv").is_file() or not (played / "played_truth.parquet").is_file():
            continue
        design = json.loads((run / "recommendations" / "experiment.json").read_text())
        offers = pl.read_parquet(run / "recommendations" / "offers.parquet")
        truth = true_values(offers, pl.read_parquet(played / "played_truth.parquet"), design["explore_share"], design["levels"])[
            "difference"
        ]
        summary = pl.read_csv(run / "measurement" / "summary.csv")
        cuped = summary.filter(pl.col("estimate") == CUPED).row(0, named=True)
        rows.append({"run": run.name, **{k: cuped[k] for k in ("value", "low", "high", "level")}, "truth": truth})
        summaries.append(summary)
        truths.append(truth)
    if len(summaries) < 2:
        return None
    se = np.array([(r["high"] - r["low"]) / (2 * norm.ppf(0.5 + r["level"] / 2)) for r in rows])
    target = float((np.array(truths) / se**2).sum() / (1 / se**2).sum())
    pooled = pooled_summary(summaries).filter(pl.col("estimate") == CUPED).row(0, named=True)
    return {
        "sequence": folder.name,
        "fortnights": rows,
        "pooled": {k: pooled[k] for k in ("value", "low", "high", "fortnights")} | {"truth": target},
    }


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--work", type=Path, default=Path("results-work") / "loop")
    args = parser.parse_args()
    found = [s for s in (sequence(f) for f in sorted(args.work.iterdir()) if f.is_dir()) if s is not None]
    if not found:
        raise SystemExit(f"no measured loop sequences under {args.work}: run bench/loop.py first")
    covers = lambda r: r["low"] <= r["truth"] <= r["high"]  # noqa: E731
    single = [covers(r) for s in found for r in s["fortnights"]]
    pooled = [covers(s["pooled"]) for s in found]
    for s in found:
        p = s["pooled"]
        print(
            f"{s['sequence']:28} {p['fortnights']} fortnights: {p['value']:+.3f} [{p['low']:+.3f}, {p['high']:+.3f}], truth {p['truth']:+.3f}"
        )
    print(f"90 % intervals covering the truth: single fortnights {sum(single)} of {len(single)}, pooled {sum(pooled)} of {len(pooled)}")
    RESULTS.mkdir(parents=True, exist_ok=True)
    payload = {
        "work": str(args.work),
        "single_covered": [sum(single), len(single)],
        "pooled_covered": [sum(pooled), len(pooled)],
        "sequences": found,
    }
    (RESULTS / "pool-coverage.json").write_text(json.dumps(payload, indent=1) + "\n")


if __name__ == "__main__":
    main()
