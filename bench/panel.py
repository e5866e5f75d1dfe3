"""Benchmark: build the full Complete Journey panel with all features; print rows, seconds, peak RSS.

Each configuration runs in a fresh subprocess so its peak RSS is its own. In memory (shards 1,
the panel as one frame) and sharded (runtime.shards N, local engine: one shard's matrices at a time,
written to hive-partitioned Parquet). Targets (2 cores): <= 60 s and <= 4 GB for all pairs with >= 2
purchases in memory; all pairs ever bought (min_purchases 1) <= 6 GB peak sharded (#13).
Results: bench/results/panel.json. `python bench/panel.py [--shards N]`.
Also prints a leakage diagnostic: the purchase rate of rows whose item had no other buyer in the
period (offer carried forward) against the rest, and whether the offer value gives that away.
"""

from __future__ import annotations

import argparse
import json
import resource
import subprocess
import sys
import time
from pathlib import Path

RESULTS = Path(__file__).parent / "results" / "panel.json"


def run_sharded(min_purchases: int, shards: int) -> dict[str, float]:
    import tempfile

    from offerwise.config import PanelConfig
    from offerwise.data.load import load_data
    from offerwise.features.shards import build_panel_shards
    from offerwise.runtime import Runtime

    data = load_data("complete-journey")
    loaded_gb = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024**2
    with tempfile.TemporaryDirectory() as out:
        start = time.perf_counter()
        panel = build_panel_shards(data, PanelConfig(min_purchases=min_purchases), Path(out), shards=shards, runtime=Runtime())
        seconds = time.perf_counter() - start
        disk_gb = sum(f.stat().st_size for f in Path(out).rglob("*.parquet")) / 1024**3
    return {
        "min_purchases": min_purchases,
        "shards": shards,
        "rows": panel.info["rows"],
        "pairs": panel.info["pairs"],
        "features": len(panel.features),
        "seconds": round(seconds, 1),
        "peak_rss_gb_including_data_load": round(resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024**2, 2),
        "rss_gb_after_data_load": round(loaded_gb, 2),
        "parquet_gb_on_disk": round(disk_gb, 2),
    }


def run_one(min_purchases: int) -> dict[str, float]:
    import numpy as np
    import polars as pl

    from offerwise.config import PanelConfig
    from offerwise.data.load import load_data
    from offerwise.features.build import build_panel

    data = load_data("complete-journey")
    start = time.perf_counter()
    panel = build_panel(data, PanelConfig(min_purchases=min_purchases))
    seconds = time.perf_counter() - start
    peak_gb = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024**2
    frame = panel.frame
    # Diagnostic: does the offer's *source* (anyone else bought?) show in its value?
    same_as_before = (
        frame.sort("customer_id", "item_id", "period")
        .with_columns(prev=pl.col("offer_pct").shift(1).over("customer_id", "item_id"))
        .filter(pl.col("period") > 0)
    )
    equal = same_as_before.filter(pl.col("offer_pct") == pl.col("prev"))
    unequal = same_as_before.filter(pl.col("offer_pct") != pl.col("prev"))
    return {
        "min_purchases": min_purchases,
        "rows": frame.height,
        "pairs": panel.info["pairs"],
        "features": len(panel.features),
        "seconds": round(seconds, 1),
        "peak_rss_gb_including_data_load": round(peak_gb, 2),
        "purchase_rate": round(float(frame.get_column("target").mean()), 4),
        "rate_offer_equal_to_previous_period": round(float(equal.get_column("target").mean()), 4),
        "rate_offer_changed": round(float(unequal.get_column("target").mean()), 4),
        "share_offer_equal_to_previous": round(equal.height / max(same_as_before.height, 1), 3),
        "offer_pct_mean": round(float(np.mean(frame.get_column("offer_pct").to_numpy())), 2),
    }


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--shards", type=int, default=16, help="shards of the sharded builds (default 16)")
    parser.add_argument("min_purchases", type=int, nargs="?", help=argparse.SUPPRESS)  # one configuration, in a subprocess
    parser.add_argument("one_shards", type=int, nargs="?", help=argparse.SUPPRESS)
    args = parser.parse_args()
    if args.min_purchases is not None:
        one = run_one(args.min_purchases) if args.one_shards is None else run_sharded(args.min_purchases, args.one_shards)
        print(json.dumps(one))
        return
    shards = args.shards
    results = []
    # All pairs in memory (min_purchases 1, no shards) was killed for memory on a 24 GB machine (exit -9,
    # the earlier bench/results/panel.json): not rerun by default, it would take the machine down with it.
    for config in (["2"], ["2", str(shards)], ["1", str(shards)]):
        min_purchases = int(config[0])
        out = subprocess.run([sys.executable, __file__, *config], capture_output=True, text=True)
        if out.returncode != 0:  # e.g. killed for memory: report it, don't hide it
            result = {"min_purchases": min_purchases, "failed": f"exit code {out.returncode}", "stderr_tail": out.stderr[-500:]}
        else:
            result = json.loads(out.stdout.strip().splitlines()[-1])
        results.append(result)
        print(f"pairs with >= {min_purchases} purchases{f', {config[1]} shards' if len(config) > 1 else ', in memory'}: {result}")
    RESULTS.parent.mkdir(exist_ok=True)
    RESULTS.write_text(json.dumps(results, indent=2) + "\n")
    print(f"wrote {RESULTS}")


if __name__ == "__main__":
    main()
