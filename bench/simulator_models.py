"""Benchmark: the purchase models' mean absolute error to the simulator's true probabilities.

For each seed: simulate (configs/make-run.toml's [simulation] with that seed), prepare, then for each
variant (a dict of [model] overrides) train, evaluate (the stack fitted on validation) and compare
each backtest fold's decided-period probabilities of the TCN, LightGBM and the stack with the
true purchase probabilities at the offers the retailer ran (the status quo the decided period is
scored at). Also test BCE against the realised purchases.

    python bench/simulator_models.py [--seeds 1,2,3,4,5] [--folds 1] \
        [--variants '{"default": {}, "per_consumer": {"customer_buckets": null}}'] [--out NAME]

Results: bench/results/<NAME>.json (default simulator-models.json) and a table on stdout.
"""

from __future__ import annotations

import argparse
import json
import time
from pathlib import Path

import numpy as np
import polars as pl

from offerwise import pipeline
from offerwise.config import Config
from offerwise.data.simulate import simulate
from offerwise.data.simulate_frames import write_simulation
from offerwise.model.metrics import bce

RESULTS = Path(__file__).parent / "results"
WORK = Path("results-work") / "simulator-models"
MODELS = ("stack", "tcn", "lightgbm")


def _with_truth(prepared: Path, evaluation: Path, data: Path) -> pl.DataFrame:
    """Labelled decided-period rows with the true probability: fold, model, category, probability, label, true_probability."""
    p = pipeline.read_prepared(prepared)
    truth = pl.read_parquet(data / "ground_truth.parquet").select("customer_id", "item_id", "period_start", "true_probability")
    test = pl.read_parquet(evaluation / "predictions.parquet").filter((pl.col("split") == "test") & pl.col("label").is_not_null())
    starts = pl.DataFrame(
        {"period": (periods := test.get_column("period").unique().to_list()), "period_start": [p.period_dates(int(t))[0] for t in periods]},
        schema_overrides={"period": test.schema["period"]},
    )
    joined = test.join(starts, on="period").join(
        truth.cast({"customer_id": test.schema["customer_id"], "item_id": test.schema["item_id"]}),
        on=["customer_id", "item_id", "period_start"],
        how="left",
    )
    if joined.get_column("true_probability").null_count():
        raise ValueError("ground truth: a decided-period row has no true probability")
    return joined


def _summary(rows: pl.DataFrame) -> list[dict]:
    out = []
    for (fold, model), g in rows.filter(pl.col("model").is_in(MODELS)).group_by("fold", "model", maintain_order=True):
        p, q, y = (g.get_column(c).to_numpy() for c in ("probability", "true_probability", "label"))
        out.append(
            {
                "fold": fold,
                "model": model,
                "rows": g.height,
                "mae_true": float(np.abs(p - q).mean()),
                "bce": bce(y, p),
                "bce_true": bce(y, q),
                "mean_p": float(p.mean()),
                "mean_true": float(q.mean()),
            }
        )
    return out


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--seeds", default="1,2,3,4,5")
    parser.add_argument("--folds", type=int, default=1)
    parser.add_argument("--config", type=Path, default=Path("configs/make-run.toml"))
    parser.add_argument("--variants", default='{"default": {}}')
    parser.add_argument("--out", default="simulator-models")
    args = parser.parse_args()
    base = Config.from_toml(args.config).override("panel", folds=args.folds).override("model", forward_models="reuse")
    variants, results = json.loads(args.variants), []
    for seed in (int(s) for s in args.seeds.split(",")):
        cfg = base.override("simulation", seed=seed)
        work = WORK / f"seed{seed}"
        write_simulation(simulate(cfg.simulation), work / "data", cfg.simulation)
        pipeline.prepare(str(work / "data"), work / "prepared", cfg)
        for name, overrides in variants.items():
            vcfg = cfg.model_copy(update={"model": cfg.model.model_validate({**cfg.model.model_dump(), **overrides})})
            models, evaluation = work / name / "models", work / name / "evaluation"
            started = time.perf_counter()
            pipeline.train(work / "prepared", models, vcfg, reuse_for_forward=True, progress=False)
            seconds = time.perf_counter() - started
            pipeline.evaluate(work / "prepared", models, evaluation)
            for row in _summary(_with_truth(work / "prepared", evaluation, work / "data")):
                results.append({"seed": seed, "variant": name, "train_seconds": round(seconds, 1), **row})
            with pl.Config(tbl_cols=20, float_precision=4):
                print(pl.DataFrame([r for r in results if r["seed"] == seed and r["variant"] == name]), flush=True)
            _write(args, variants, results)  # after every training: a run cut short keeps what it measured


def _write(args: argparse.Namespace, variants: dict, results: list[dict]) -> None:
    overall = (
        pl.DataFrame(results)
        .group_by("variant", "model", maintain_order=True)
        .agg(
            pl.col("mae_true").mean().alias("mae_true_mean"),
            pl.col("mae_true").max().alias("mae_true_max"),
            pl.col("bce").mean().alias("bce_mean"),
            pl.col("seed").n_unique().alias("seeds"),
        )
    )
    document = {"config": str(args.config), "seeds": args.seeds, "folds": args.folds, "variants": variants}
    (RESULTS / f"{args.out}.json").write_text(json.dumps({**document, "summary": overall.to_dicts(), "per_seed": results}, indent=1) + "\n")
    with pl.Config(tbl_rows=100, tbl_cols=20, float_precision=4):
        print(overall, flush=True)


if __name__ == "__main__":
    main()
