"""Rerunnable results: prepare -> train -> evaluate -> thresholds on one dataset, then a Markdown report.

    python scripts/results.py --data complete-journey --work results-work/cj --epochs 12
    python scripts/results.py --data simulated --work results-work/sim --epochs 20

Writes docs/results-<data>.md (per category: TCN vs LightGBM vs recency/frequency, BCE and ROC-AUC
on test; F1 of every decision rule; on simulated data, calibration against the true probabilities).
Each step is skipped when its output exists, so an interrupted run resumes.
"""

from __future__ import annotations

import argparse
import datetime as dt
import subprocess
import sys
from pathlib import Path

import numpy as np
import polars as pl

from offerwise.features.shards import read_panel

ROOT = Path(__file__).resolve().parents[1]


def offerwise(*args: str) -> None:
    print("+ offerwise", " ".join(args), flush=True)
    subprocess.run([sys.executable, "-m", "offerwise.cli", *args], check=True)


def run_pipeline(data: str, work: Path, epochs: int, config: Path | None) -> None:
    cfg = ["--config", str(config)] if config else []
    if data == "simulated" and not (work / "data" / "ground_truth.parquet").is_file():
        offerwise("simulate", "--out", str(work / "data"), *cfg)
    source = str(work / "data") if data == "simulated" else data
    steps = [
        (work / "prepared" / "panel.parquet", ["prepare", "--data", source, "--out", str(work / "prepared"), *cfg]),
        (work / "models" / "training.json", ["train", "--panel", str(work / "prepared"), "--out", str(work / "models"), "--epochs", str(epochs), *cfg]),
        (work / "evaluation" / "predictions.parquet", ["evaluate", "--panel", str(work / "prepared"), "--models", str(work / "models"), "--out", str(work / "evaluation")]),
        (work / "evaluation" / "f1.csv", ["thresholds", "--evaluation", str(work / "evaluation"), "--panel", str(work / "prepared")]),
        (work / "evaluation" / "elasticity.csv", ["elasticity", "--panel", str(work / "prepared"), "--models", str(work / "models"), "--out", str(work / "evaluation")]),
        (work / "optimize" / "optimization_summary.csv", ["optimize", "--panel", str(work / "prepared"), "--evaluation", str(work / "evaluation"), "--out", str(work / "optimize"), "--compare", *cfg]),
    ]
    for output, args in steps:
        if not output.is_file():
            offerwise(*args)


def markdown(frame: pl.DataFrame, digits: int = 3) -> str:
    def fmt(v: object) -> str:
        return f"{v:.{digits}f}" if isinstance(v, float) else f"{v:,}" if isinstance(v, int) else str(v)

    lines = ["| " + " | ".join(frame.columns) + " |", "|" + "---|" * frame.width]
    lines += ["| " + " | ".join(fmt(v) for v in row) + " |" for row in frame.iter_rows()]
    return "\n".join(lines)


def model_table(metrics: pl.DataFrame) -> pl.DataFrame:
    test = metrics.filter(pl.col("split") == "test")
    wide = test.pivot(on="model", index=["category", "rows", "positives"], values=["bce", "roc_auc"])
    order = [f"{m}_{k}" if f"{m}_{k}" in wide.columns else f"{k}_{m}" for k in ("bce", "roc_auc") for m in ("tcn", "lightgbm", "recency_frequency")]
    return wide.select("category", "rows", "positives", *[c for c in order if c in wide.columns]).sort("rows", descending=True)


def f1_summary(f1: pl.DataFrame) -> pl.DataFrame:
    wide = f1.with_columns(column=pl.col("rule") + " · " + pl.col("model")).pivot(on="column", index="category", values="f1")
    return wide.select("category", *sorted(c for c in wide.columns if c != "category"))


def calibration(work: Path) -> str:
    """TCN test probabilities against the simulator's true probabilities."""
    import json

    anchor = dt.date.fromisoformat(json.loads((work / "prepared" / "features.json").read_text())["anchor"])
    truth = pl.read_parquet(work / "data" / "ground_truth.parquet")
    preds = pl.read_parquet(work / "evaluation" / "predictions.parquet").filter(pl.col("split") == "test")
    preds = preds.with_columns(period_start=pl.lit(anchor) + pl.duration(days=14 * pl.col("period")))
    joined = preds.join(truth.select("customer_id", "item_id", "period_start", "true_probability"), on=["customer_id", "item_id", "period_start"])
    mae = joined.group_by("model").agg(
        rows=pl.len(), mae_to_truth=(pl.col("probability") - pl.col("true_probability")).abs().mean(),
        mean_predicted=pl.col("probability").mean(), mean_true=pl.col("true_probability").mean(), purchase_rate=pl.col("label").mean(),
    ).sort("model")  # fmt: skip
    tcn = joined.filter(pl.col("model") == "tcn").with_columns(bin=(pl.col("probability") * 10).floor().clip(0, 9).cast(pl.Int32))
    reliability = tcn.group_by("bin").agg(
        rows=pl.len(), mean_predicted=pl.col("probability").mean(), mean_true=pl.col("true_probability").mean(), purchase_rate=pl.col("label").mean()
    ).sort("bin").with_columns(bin=pl.format("{}–{}", (pl.col("bin") / 10).round(1), ((pl.col("bin") + 1) / 10).round(1)))
    return (
        "### Calibration against the true probabilities (test period)\n\n" + markdown(mae, 4)
        + "\n\nReliability of the TCN (bins of predicted probability):\n\n" + markdown(reliability, 4) + "\n"
    )  # fmt: skip


def _with_truth(work: Path, frame: pl.DataFrame) -> pl.DataFrame:
    import json

    anchor = dt.date.fromisoformat(json.loads((work / "prepared" / "features.json").read_text())["anchor"])
    truth = pl.read_parquet(work / "data" / "ground_truth.parquet")
    frame = frame.with_columns(period_start=pl.lit(anchor) + pl.duration(days=14 * pl.col("period")))
    return frame.join(truth.drop("category", "offer_pct"), on=["customer_id", "item_id", "period_start"])


def elasticity_vs_truth(work: Path) -> str:
    """Estimated category a and pair elasticities against the simulator's true response."""
    fits = pl.read_csv(work / "evaluation" / "elasticity.csv")
    pairs = _with_truth(work, pl.read_parquet(work / "evaluation" / "pair_elasticity.parquet"))
    k = pl.col("reference_offer_pct")
    true_f = 1 / (1 + (-(pl.col("true_a") * k + pl.col("true_b"))).exp())
    pairs = pairs.with_columns(true_elasticity=pl.col("true_a") * k * (1 - true_f))
    a_table = (
        pairs.group_by("category").agg(true_a=pl.col("true_a").mean(), true_avg_elasticity=pl.col("true_elasticity").mean())
        .join(fits.pivot(on="source", index="category", values="a").rename(
            {"model_at_historical_offers": "a_paper_route", "counterfactual": "a_counterfactual"}), on="category")
        .with_columns(
            rel_err_paper=(pl.col("a_paper_route") - pl.col("true_a")) / pl.col("true_a"),
            rel_err_counterfactual=(pl.col("a_counterfactual") - pl.col("true_a")) / pl.col("true_a"),
        ).sort("category")
    )  # fmt: skip
    err = lambda c: (pl.col(c) - pl.col("true_elasticity")).abs().mean()  # noqa: E731
    rel = lambda c: ((pl.col(c) - pl.col("true_elasticity")).abs() / pl.col("true_elasticity").abs().clip(1e-9)).median()  # noqa: E731
    e_table = pairs.group_by("category").agg(
        pairs=pl.len(), true_mean=pl.col("true_elasticity").mean(),
        mae_paper=err("elasticity"), mae_counterfactual_category=err("elasticity_counterfactual"), mae_pair_slope=err("elasticity_pair"),
        median_rel_err_paper=rel("elasticity"), median_rel_err_counterfactual_category=rel("elasticity_counterfactual"),
        median_rel_err_pair_slope=rel("elasticity_pair"),
    ).sort("category")  # fmt: skip
    return (
        "## Elasticity against the simulator's truth\n\nCategory slope a (per offer %-point): the true value is the mean "
        "of the scored pairs' true a.\n\n" + markdown(a_table, 4)
        + "\n\nElasticity at the reference offers, per pair (true ε = a·k·(1 − p_true(k))):\n\n" + markdown(e_table, 4) + "\n"
    )


def policy_vs_truth(work: Path) -> str:
    """True expected revenue and retention of the status quo and of every variant's offers."""
    rows = []
    for path in sorted((work / "optimize" / "variants").glob("offers_*.parquet")):
        offers = _with_truth(work, pl.read_parquet(path).with_columns(period=pl.lit(_scored_period(work))))
        true_p = lambda o: 1 / (1 + (-(pl.col("true_a") * o + pl.col("true_b"))).exp())  # noqa: E731
        scored = offers.with_columns(p_new=true_p(pl.col("recommended_offer_pct")), p_old=true_p(pl.col("reference_offer_pct")))
        for label, p, o in (("status quo", "p_old", "reference_offer_pct"), (path.stem.removeprefix("offers_"), "p_new", "recommended_offer_pct")):
            if label == "status quo" and rows and rows[0]["policy"] == "status quo":
                continue
            rows.append({
                "policy": label, "pairs": scored.height,
                "true_expected_revenue": scored.select((pl.col(p) * pl.col("price") * (1 - pl.col(o) / 100)).sum()).item(),
                "true_retention": scored.get_column(p).mean(),
                "mean_offer_pct": scored.get_column(o).mean(),
            })  # fmt: skip
    table = pl.DataFrame(rows)
    base = table.filter(pl.col("policy") == "status quo").row(0, named=True)
    table = table.with_columns(
        revenue_change_pct=100 * (pl.col("true_expected_revenue") / base["true_expected_revenue"] - 1),
        retention_change_pct=100 * (pl.col("true_retention") / base["true_retention"] - 1),
    )
    return (
        "## Offers scored by the simulator's true response\n\nAll categories together; true purchase probability "
        "σ(true_a·offer + true_b) at the recommended offers vs at the reference (status-quo) offers.\n\n" + markdown(table, 3) + "\n"
    )


def oracle_score(work: Path) -> str:
    """Ours vs the oracle (the same optimisation on the true response), per category."""
    from offerwise import io
    from offerwise.config import Config
    from offerwise.report.policy import score_against_truth

    manifest = io.read_json(work / "prepared" / "features.json")
    ev, opt = work / "evaluation", work / "optimize"
    table = score_against_truth(
        read_panel(work / "prepared"), manifest["anchor"], manifest["period_days"],
        pl.read_parquet(ev / "pair_elasticity.parquet"), pl.read_parquet(ev / "thresholds.parquet"), pl.read_csv(ev / "elasticity.csv"),
        pl.read_parquet(opt / "offers.parquet"), pl.read_parquet(work / "data" / "ground_truth.parquet"), Config().optimize,
    )  # fmt: skip
    return (
        "## Policy score: ours vs the oracle\n\nThe oracle solves the same problem (default config) on the true response. "
        "score = (ours − status quo) / (oracle − status quo) of true expected net revenue.\n\n" + markdown(table, 3) + "\n"
    )


def pooling_table(works: dict[int, Path]) -> str:
    """Overall policy score (all categories) by simulator seed and optimize.pair_slope_weight."""
    from offerwise import io
    from offerwise.config import Config
    from offerwise.optimize.inputs import optimization_inputs
    from offerwise.optimize.pipeline import category_ranges, optimize_category
    from offerwise.report.policy import score_against_truth

    rows = []
    for seed, work in works.items():
        manifest, ev = io.read_json(work / "prepared" / "features.json"), work / "evaluation"
        panel = read_panel(work / "prepared")
        pe, th, fits = pl.read_parquet(ev / "pair_elasticity.parquet"), pl.read_parquet(ev / "thresholds.parquet"), pl.read_csv(ev / "elasticity.csv")
        inputs, truth = optimization_inputs(panel, pe, th, fits), pl.read_parquet(work / "data" / "ground_truth.parquet")
        ranges = category_ranges(inputs, Config().optimize.offer_range_percentiles)
        for w in (0.0, 0.25, 0.5, 0.75, 1.0):
            cfg = Config().optimize.model_copy(update={"pair_slope_weight": w})
            offers = [optimize_category(g, cfg, ranges[c])[0] for (c,), g in inputs.group_by("category")]
            table = score_against_truth(panel, manifest["anchor"], manifest["period_days"], pe, th, fits, pl.concat(offers, how="diagonal_relaxed"), truth, cfg)
            retention = table.pivot(on="policy", index="category", values="true_retention").filter(pl.col("category") != "all")
            overall = table.filter((pl.col("category") == "all") & (pl.col("policy") == "ours"))
            rows.append({"seed": seed, "pair_slope_weight": w, "score_all": overall["score"].item(), "retention_all": overall["true_retention"].item(),
                         "categories_below_status_quo_retention": int((retention["ours"] < retention["status quo"]).sum())})  # fmt: skip
    return (
        "## Policy score by simulator seed and slope pooling\n\nOverall score (summed gains over all categories) of the counterfactual / "
        "expected offers when each pair's slope is w × its own counterfactual slope + (1 − w) × its category's mean. w = 0.25 (the "
        "default) was chosen on seed 7; the TCN's intercept recalibration (`model.calibrate`) was adopted after comparing it on seeds "
        "7, 11 and 12; seeds 13 and 14 were first run after both choices were made.\n\n" + markdown(pl.DataFrame(rows), 3) + "\n"
    )


def _scored_period(work: Path) -> int:
    return int(pl.read_parquet(work / "evaluation" / "pair_elasticity.parquet", columns=["period"]).get_column("period").first())


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--data", default="complete-journey", choices=["complete-journey", "simulated"])
    parser.add_argument("--work", type=Path, default=None)
    parser.add_argument("--epochs", type=int, default=12)
    parser.add_argument("--config", type=Path, default=None)
    parser.add_argument("--seeds", type=int, nargs="*", default=[], help="simulated: extra simulator seeds for the pooling table")
    args = parser.parse_args()
    work = args.work or ROOT / "results-work" / args.data
    run_pipeline(args.data, work, args.epochs, args.config)
    metrics = pl.read_csv(work / "evaluation" / "metrics.csv")
    f1 = pl.read_csv(work / "evaluation" / "f1.csv")
    text = [
        f"# Results: {args.data}\n",
        f"Produced by `python scripts/results.py --data {args.data} --epochs {args.epochs}{' --seeds ' + ' '.join(map(str, args.seeds)) if args.seeds else ''}` on {dt.date.today()}; "
        "test = the last complete bi-weekly period, one fold, per-category models.\n",
        "## Purchase model: test BCE and ROC-AUC\n\n" + markdown(model_table(metrics), 3) + "\n",
        "## Decisions: test F1 (micro over rows) by rule · model\n\n"
        "`consumer_cutoff` = per-consumer F1 cut-offs fitted on validation (paper §3.2); `category_cutoff` = one cut-off "
        "per category fitted on validation; `expected_f1` = label-free expected-F1 top-k; `recent_purchase` = bought in "
        "either of the last 2 periods; `oracle_test` = cut-offs chosen on the test labels (**not a real result**).\n\n"
        + markdown(f1_summary(f1), 3) + "\n",
    ]
    fits = pl.read_csv(work / "evaluation" / "elasticity.csv")
    text.append("## Elasticity: category sigmoids\n\n" + markdown(fits.select([c for c in ("category", "source", "a", "b", "r2", "n", "avg_elasticity") if c in fits.columns]), 4) + "\n")
    summary = pl.read_csv(work / "optimize" / "optimization_summary.csv")
    keep = [c for c in ("category", "response", "objective_form", "status", "retention_before", "retention_after", "expected_revenue_before",
                        "expected_revenue_after", "weighted_offer_pct_after", "gap", "seconds") if c in summary.columns]  # fmt: skip
    text.append("## Optimisation (model's view of its own recommendations)\n\n" + markdown(summary.select(keep), 3) + "\n")
    if args.data == "simulated":
        text.append(calibration(work))
        text.append(elasticity_vs_truth(work))
        text.append(policy_vs_truth(work))
        text.append(oracle_score(work))
        works = {7: work}
        for seed in args.seeds:
            seeded = work.parent / f"{work.name}-seed{seed}"
            seeded.mkdir(parents=True, exist_ok=True)
            (seeded / "seed.toml").write_text(f"[simulation]\nseed = {seed}\n")
            run_pipeline(args.data, seeded, args.epochs, seeded / "seed.toml")
            works[seed] = seeded
        text.append(pooling_table(works))
    out = ROOT / "docs" / f"results-{args.data}.md"
    out.write_text("\n".join(text))
    print(f"wrote {out}")


if __name__ == "__main__":
    main()
