"""Benchmark: the decision layer on the project's simulator (offer levels, both oracles, efficiency).

For each seed and promotion policy it runs `offerwise run --data simulated` once (default config, or
--config), then decides the forward fortnight again from the same estimates under each variant:
levels "history" (the default) or "paper" (the relative grid in the cutoff fortnight's range),
retention_scope "category" (the default) or "plan", and under the default levels and scope the
independent-pairs decision ("pairs": optimize.decision = "pair") or up to 4 offers per
consumer-category ("4 offers") instead of the default one. Per variant and category (and 'all'):
* `score`: the forward policy score against the rules oracle (the same allowed levels, the true
  response); `score_unconstrained`: against the unconstrained oracle (every whole % from 0 to the
  deepest offer run). Both oracles keep the retention target and share no estimate with the plan;
* `no_offer_share`, `range_edge_share`: pairs given no offer, and held at the edge of the rules;
* `true_retention`, `true_retention_plan`: mean true purchase probability at the plan's offers and at
  the planned (status quo) offers; `retention_short` counts the categories where the first is lower;
* `efficiency`: the plan's gain over the status quo in its own (model) view, against the exact
  optimum's under the same rules (HiGHS MILP, the same inputs and constraints); `efficiency_no_rules`:
  against the exact optimum with every level of the grid allowed.

    python bench/decision.py [--seeds 7 11 12 13 14] [--policies random targeted] [--config C] [--label NAME] [--remeasure [--runs LABEL]]

--remeasure --runs LABEL decides LABEL's run folders again under --config's optimiser settings (e.g. a
margin objective, where retention binds) and writes the results under --label.

Results: bench/results/decision-<label>.json and a table on stdout. The defaults (levels, step 5 %,
95th percentile cap) were set before any seed was run; seeds 7, 11-14 are the project's tuning seeds
for the estimator, 21-23 fresh ones.
"""

from __future__ import annotations

import argparse
import json
import time
from pathlib import Path

import numpy as np
import polars as pl

from offerwise import pipeline
from offerwise.config import Config, OptimizeConfig
from offerwise.optimize.offers import optimize_all
from offerwise.report.policy import score_against_truth

RESULTS = Path(__file__).parent / "results"
WORK = Path("results-work") / "decision"
VARIANTS = {
    "history/category": {},
    "history/category/pairs": {"decision": "pair"},
    "history/category/4 offers": {"max_offers_per_category": 4},
    "history/plan": {"retention_scope": "plan"},
    "paper/category": {"levels": "paper"},
    "paper/plan": {"levels": "paper", "retention_scope": "plan"},
}


def decide(out: Path, cfg: Config, name: str, update: dict) -> tuple[Path, OptimizeConfig]:
    """The forward decision again under one variant of the optimiser, into out/variants/<name>."""
    variant = cfg.optimize.model_copy(update=update)
    folder = out / "variants" / name.replace("/", "-").replace(" ", "-")
    p = pipeline.read_prepared(out / "prepared")
    pipeline.optimize(
        out / "prepared",
        out / "evaluation",
        out / "recommendations",
        folder,
        variant,
        fold=p.forward_fold,
        decision_model=cfg.model.decision_model,
    )
    return folder, variant


def efficiency(out: Path, cfg: Config, variant: OptimizeConfig) -> dict[str, float]:
    """The Lagrangian plan's model-view gain against the exact (MILP) optimum's, with and without the rules."""
    p = pipeline.read_prepared(out / "prepared")
    inputs, levels = pipeline.decision_inputs(
        out / "prepared", out / "evaluation", out / "recommendations", variant, fold=p.forward_fold, decision_model=cfg.model.decision_model
    )
    exact = variant.model_copy(update={"solver": "milp", "milp_time_limit": 300.0})
    free = {c: lv.without_rules() for c, lv in levels.items()}

    def gain(chosen_cfg: OptimizeConfig, chosen_levels: dict) -> tuple[float, float]:
        rows = [row for _, row in optimize_all(inputs, chosen_cfg, chosen_levels)]
        return sum(r.get("objective_after", np.nan) - r["objective_before"] for r in rows), max(r.get("gap", 0.0) or 0.0 for r in rows)

    plan, _ = gain(variant, levels)
    best, milp_gap = gain(exact, levels)
    best_free, _ = gain(exact.model_copy(update={"retention_scope": variant.retention_scope}), free)
    return {"efficiency": plan / best, "efficiency_no_rules": plan / best_free, "milp_gap": milp_gap}


def measure(out: Path, folder: Path, cfg: Config, variant: OptimizeConfig) -> list[dict]:
    """Rows per category and 'all' of one variant's forward plan."""
    p = pipeline.read_prepared(out / "prepared")
    truth = pl.read_parquet(out / "data" / "ground_truth_future.parquet").select("customer_id", "item_id", "true_a", "true_b")
    offers = pl.read_parquet(folder / "offers.parquet")
    score = score_against_truth(
        p.frame,
        pl.read_parquet(out / "recommendations" / "pair_elasticity.parquet"),
        pl.read_parquet(out / "evaluation" / "thresholds.parquet"),
        pl.read_csv(out / "recommendations" / "elasticity.csv"),
        offers,
        truth,
        variant,
        pipeline.read_levels(folder),
        fold=p.forward_fold,
        model=cfg.model.decision_model,
    )
    per_pair = offers.with_columns(no_offer=pl.col("recommended_offer_pct") == 0, edge=pl.col("binding") == "range edge")
    rows = []
    for category in [*sorted(per_pair.get_column("category").unique().to_list()), "all"]:
        part = per_pair if category == "all" else per_pair.filter(pl.col("category") == category)
        mine = score.filter(pl.col("category") == category)
        retention = dict(zip(mine.get_column("policy"), mine.get_column("true_retention"), strict=True))
        rows.append(
            {
                "category": category,
                "pairs": part.height,
                "score": mine.get_column("score").first(),
                "score_unconstrained": mine.get_column("score_unconstrained").first(),
                "no_offer_share": float(part.get_column("no_offer").mean()),
                "range_edge_share": float(part.get_column("edge").mean()),
                "true_retention": retention.get("ours"),
                "true_retention_plan": retention.get("status quo"),
            }
        )
    short = sum(r["true_retention"] < r["true_retention_plan"] - 1e-9 for r in rows if r["category"] != "all")
    rows[-1]["retention_short"] = short
    return rows


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--seeds", type=int, nargs="+", default=[7, 11, 12, 13, 14])
    parser.add_argument("--policies", nargs="+", default=["random", "targeted"])
    parser.add_argument("--variants", nargs="+", default=list(VARIANTS), choices=list(VARIANTS))
    parser.add_argument("--config", type=Path, default=None)
    parser.add_argument("--label", default="default")
    parser.add_argument("--no-efficiency", action="store_true", help="skip the exact (MILP) optimum the efficiency needs")
    parser.add_argument("--remeasure", action="store_true", help="decide and measure the label's existing runs again, without running them")
    parser.add_argument("--runs", default=None, help="with --remeasure: the label whose run folders to decide again (default: --label)")
    args = parser.parse_args()
    base, results = Config.from_toml(args.config), []
    for policy in args.policies:
        for seed in args.seeds:
            cfg = base.override("simulation", seed=seed, promotion_policy=policy)
            out = WORK / (args.runs or args.label) / f"{policy}-{seed}"
            started = time.perf_counter()
            if not args.remeasure:
                pipeline.run("simulated", out, cfg, log=lambda m: None)
            for name in args.variants:
                folder, variant = decide(out, cfg, name, VARIANTS[name])
                rows = measure(out, folder, cfg, variant)
                nan = float("nan")
                rows[-1] |= {"efficiency": nan, "efficiency_no_rules": nan} if args.no_efficiency else efficiency(out, cfg, variant)
                results += [{"policy": policy, "seed": seed, "variant": name, **r} for r in rows]
                a = rows[-1]
                print(
                    f"{policy:8} seed {seed:3} {name:16}: score {a['score']:.3f}  unconstrained {a['score_unconstrained']:.3f}  "
                    f"no offer {a['no_offer_share']:.2f}  edge {a['range_edge_share']:.2f}  retention {a['true_retention']:.3f} "
                    f"(plan {a['true_retention_plan']:.3f}, short in {a['retention_short']})  efficiency {a['efficiency']:.4f} "
                    f"(no rules {a['efficiency_no_rules']:.3f})  [{time.perf_counter() - started:.0f} s]",
                    flush=True,
                )
            RESULTS.mkdir(parents=True, exist_ok=True)  # after every run: a long benchmark keeps what it measured
            (RESULTS / f"decision-{args.label}.json").write_text(json.dumps({"config": str(args.config), "rows": results}, indent=1) + "\n")
    summary = pl.DataFrame(results).filter(pl.col("category") == "all")
    with pl.Config(tbl_rows=200, tbl_cols=20, float_precision=3, tbl_width_chars=200):
        print(summary.drop("category", "pairs"))


if __name__ == "__main__":
    main()
