"""Benchmark: model evidence on the Complete Journey over rolling backtest folds, with intervals.

Runs prepare (k backtest folds), train, evaluate and thresholds with configs/make-run.toml (the
forward plan reuses the last backtest fold's models: it is not scored here) and writes, for the six
largest departments and every fold: test BCE and category-cut-off F1 of the stack, the TCN and
LightGBM, and the paired household-bootstrap differences with 90 % intervals.

    python bench/models.py [--folds 3] [--config configs/make-run.toml]
    python bench/models.py --prepared results-work/models/prepared --train-folds 2,3 --results bench/results/X.json
        (reuse a prepared panel; train and score only some folds: a cheaper, partial check)

Results: bench/results/models-complete-journey.json and a table on stdout.
"""

from __future__ import annotations

import argparse
import json
import time
from pathlib import Path

import polars as pl

from offerwise import pipeline
from offerwise.config import Config

RESULTS = Path(__file__).parent / "results" / "models-complete-journey.json"
WORK = Path("results-work") / "models"
LARGEST = 6


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--folds", type=int, default=3)
    parser.add_argument("--config", type=Path, default=Path("configs/make-run.toml"))
    parser.add_argument("--prepared", type=Path, default=None, help="reuse this prepared folder (no prepare stage)")
    parser.add_argument("--train-folds", default=None, help="e.g. '2,3': train only these folds (default: all)")
    parser.add_argument("--results", type=Path, default=RESULTS)
    parser.add_argument("--skip-train", action="store_true", help="score the models already in the work folder")
    args = parser.parse_args()
    cfg = Config.from_toml(args.config).override("panel", folds=args.folds).override("model", forward_models="reuse")
    prepared, models, evaluation = args.prepared or WORK / "prepared", WORK / "models", WORK / "evaluation"
    folds = [int(f) for f in args.train_folds.split(",")] if args.train_folds else None
    seconds = {}
    for name, action in (
        ("prepare", (lambda: None) if args.prepared else lambda: pipeline.prepare("complete-journey", prepared, cfg)),
        (
            "train",
            (lambda: None)
            if args.skip_train
            else lambda: pipeline.train(prepared, models, cfg, folds=folds, reuse_for_forward=True, progress=False),
        ),
        ("evaluate", lambda: pipeline.evaluate(prepared, models, evaluation)),
        ("thresholds", lambda: pipeline.thresholds(evaluation, evaluation)),
    ):
        started = time.perf_counter()
        action()
        seconds[name] = round(time.perf_counter() - started)
        print(f"{name}: {seconds[name]} s", flush=True)
    metrics = pl.read_csv(evaluation / "metrics.csv").filter(pl.col("split") == "test")
    largest = (
        metrics.filter(pl.col("model") == "stack").group_by("category").agg(pl.col("rows").sum()).sort("rows", descending=True)
        .head(LARGEST).get_column("category").to_list()
    )  # fmt: skip
    f1 = (
        pl.read_csv(evaluation / "f1.csv")
        .filter(pl.col("rule") == "category_cutoff")
        .select("fold", "category", "model", f1_category_cutoff="f1")
    )
    table = (
        metrics.filter(pl.col("category").is_in(largest) & pl.col("model").is_in(["stack", "tcn", "lightgbm"]))
        .join(f1, on=["fold", "category", "model"], how="left")
        .select("fold", "category", "model", "rows", "bce", "bce_low", "bce_high", "roc_auc", "f1_category_cutoff")
        .sort("category", "fold", "model")
    )
    differences = pl.read_csv(evaluation / "model_differences.csv").filter(pl.col("category").is_in(largest))
    args.results.parent.mkdir(parents=True, exist_ok=True)
    args.results.write_text(json.dumps({
        "config": str(args.config), "folds": args.folds, "trained_folds": folds, "prepared": str(prepared), "seconds": seconds,
        "metrics": table.to_dicts(), "differences": differences.to_dicts(),
    }, indent=1, default=str) + "\n")  # fmt: skip
    with pl.Config(tbl_rows=200, tbl_cols=20, float_precision=4, tbl_width_chars=200):
        print(table)
        print(
            differences.select("fold", "category", "metric", "model_a", "model_b", "estimate", "low", "high", "verdict").sort(
                "metric", "category", "fold"
            )
        )


if __name__ == "__main__":
    main()
