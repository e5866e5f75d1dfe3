"""Benchmark: offers that compete, on the project's simulator with substitution (docs/simulator.md).

For each seed and promotion policy the simulator runs with `simulation.substitution = true` (a nested
logit: a buying consumer picks one item per category; category expansion 0.5; cross-category pull
--cross, default 0.3), and offerwise runs twice on the same data:
* "interactions": the default (interaction features, cross effects, one offer bundle per
  consumer-category, at most one offer each);
* "independent": the independent-pairs route (panel.interactions = false, response.cross = false,
  optimize.decision = "pair"): the plan as it was before offers competed.
The interactions run's forward fortnight is then decided again from the same estimates under:
* "no cross model": consumer-category bundles valued without the estimated cross effects;
* "no cap": with the cross effects, up to 4 offers per consumer-category;
* "nested logit": the bundles valued by optimize/choice_model.py (the default since it moved its incidence
  to the logit scale; bench/results/substitution-default.json predates that and has it as a variant);
* "logit shift": the bundles valued by each item's logistic curve moved by the cross effect (the former default);
* "pairs": every pair alone (optimize.decision = "pair") on the interaction-aware estimates;
* "point retention": the retention target held at the slopes' point estimates (optimize.retention_probability = 0);
* "cautious slopes": each pair's slope at the 25th percentile of its posterior whichever way the offer
  moves (optimize.response_caution = "slope");
* "mean slopes": each pair's slope at its posterior mean (optimize.response_quantile = 0.5), the default
  until the change caution (the 25th percentile where an offer rises, the 75th where it falls;
  bench/substitution_caution.py) became it.

Every plan is the optimiser's (pipeline.optimize on the run's estimates), without the forward plan's
experiment arms. Per variant (category "all"): `joint_score`, the whole plan's gain in true expected
net revenue over the status quo against the interaction-aware oracle's (report/joint.py: up to 2
offers per consumer-category, the rules' levels, the plan's retention target, the true nested logit
and the pull of its offers on related categories); `joint_score_unconstrained`, the same against
that oracle free to use every step of the grid "without rules" (optimize/levels.py);
`joint_score_equal_retention`, against that oracle at the rules' levels holding the plan's own true
retention instead of the target (the plan keeps the target only in its estimates); `score`,
the per-pair score (each offer valued alone) against the per-pair rules oracle; `joint_gain`, the
plan's joint gain in currency; `no_offer_share`; `offers_per_consumer_category`; `retention_ratio` and
`oracle_retention_ratio`, the true retention over the decision's pairs against the status quo's (the
oracle keeps the plan's per-category target in truth; a plan keeps it only in its own estimates), and
`categories_below_status_quo_retention`, the categories where the plan's true retention falls below it.

    python bench/substitution.py [--seeds 7 11 12 13 14] [--policies random targeted] [--cross 0.3] [--label NAME]
    python bench/substitution.py --rescore q2-41-45 fresh-64-65 ... --label NAME   # stored runs, today's decision

Results: bench/results/substitution-<label>.json and a table on stdout. Nothing here was tuned on
these seeds: the decision's defaults were set before the first run.
"""

from __future__ import annotations

import argparse
import json
import shutil
import time
from pathlib import Path

import polars as pl

from offerwise import pipeline
from offerwise.config import Config, OptimizeConfig
from offerwise.data.simulate_frames import choice_world
from offerwise.report.policy import JOINT_EQUAL_RETENTION, score_against_truth

RESULTS = Path(__file__).parent / "results"
WORK = Path("results-work") / "substitution"
INDEPENDENT = {"panel": {"interactions": False}, "response": {"cross": False}, "optimize": {"decision": "pair"}}
VARIANTS = {
    "interactions": {},
    "no cross model": {"cross_effects": False},
    "no cap": {"max_offers_per_category": 4},
    "nested logit": {"bundle_response": "nested_logit"},
    "logit shift": {"bundle_response": "logit_shift"},
    "pairs": {"decision": "pair"},
    "point retention": {"retention_probability": 0.0},
    "cautious slopes": {"response_quantile": 0.25, "response_caution": "slope"},
    "mean slopes": {"response_quantile": 0.5, "response_caution": "slope"},
}


def forward_truth(out: Path) -> pl.DataFrame:
    return pl.read_parquet(out / "data" / "ground_truth_future.parquet").select(
        "customer_id", "item_id", "category", "offer_pct", "true_a", "true_b"
    )


def measure(out: Path, offers_folder: Path, cfg: Config) -> dict:
    """The forward plan in `offers_folder` of the run in `out`, scored jointly and per pair ('all' row)."""
    p = pipeline.read_prepared(out / "prepared")
    truth_all = forward_truth(out)
    offers = pl.read_parquet(offers_folder / "offers.parquet")
    score = score_against_truth(
        p.frame,
        pl.read_parquet(out / "recommendations" / "pair_elasticity.parquet"),
        pl.read_parquet(out / "evaluation" / "thresholds.parquet"),
        pl.read_csv(out / "recommendations" / "elasticity.csv"),
        offers,
        truth_all.select("customer_id", "item_id", "true_a", "true_b"),
        cfg.optimize,
        pipeline.read_levels(offers_folder),
        fold=p.forward_fold,
        model=cfg.model.decision_model,
        world=choice_world(out / "data"),
        truth_all=truth_all,
    )
    overall = score.filter(pl.col("category") == "all")
    value = dict(zip(overall.get_column("policy"), overall.get_column("joint_true_expected_value"), strict=True))
    ours = overall.filter(pl.col("policy") == "ours").row(0, named=True)
    per_unit = offers.group_by("customer_id", "category").agg(offers=(pl.col("recommended_offer_pct") > 0).sum())
    retention = score.pivot(on="policy", index="category", values="joint_true_retention")
    by_category = retention.filter(pl.col("category") != "all")
    return {
        "joint_score": ours["joint_score"],
        "joint_score_unconstrained": ours["joint_score_unconstrained"],
        "joint_score_equal_retention": ours["joint_score_equal_retention"],
        "score": ours["score"],
        "joint_gain": value["ours"] - value["status quo"],
        "joint_oracle_gain": value["joint oracle"] - value["status quo"],
        "joint_unconstrained_oracle_gain": value["joint unconstrained oracle"] - value["status quo"],
        "joint_equal_retention_oracle_gain": value[JOINT_EQUAL_RETENTION] - value["status quo"],
        "status_quo_value": value["status quo"],
        # the truth's retention against the status quo's: the oracle keeps the per-category target, a plan may not
        "retention_ratio": float(retention.filter(pl.col("category") == "all").select(pl.col("ours") / pl.col("status quo")).item()),
        "oracle_retention_ratio": float(
            retention.filter(pl.col("category") == "all").select(pl.col("joint oracle") / pl.col("status quo")).item()
        ),
        "categories_below_status_quo_retention": int(by_category.filter(pl.col("ours") < pl.col("status quo") - 1e-9).height),
        "no_offer_share": float((offers.get_column("recommended_offer_pct") == 0).mean()),
        "offers_per_consumer_category": float(per_unit.get_column("offers").mean()),
    }


def decide(out: Path, cfg: Config, name: str) -> tuple[Path, Config]:
    """The forward decision of the run in `out` again under one variant, into out/variants/<name>."""
    variant = cfg.override("optimize", **VARIANTS[name])
    folder = out / "variants" / name.replace(" ", "-")
    p = pipeline.read_prepared(out / "prepared")
    pipeline.optimize(
        out / "prepared",
        out / "evaluation",
        out / "recommendations",
        folder,
        variant.optimize,
        fold=p.forward_fold,
        decision_model=cfg.model.decision_model,
    )
    return folder, variant


def rescore(labels: list[str], label: str) -> None:
    """The stored interactions runs of `labels` decided again with today's optimiser defaults (each
    run's other settings kept) and scored, into substitution-<label>.json: a change to the decision or
    its scoring measured on the runs already made, without running their stages again."""
    results = []
    for stored in labels:
        for out in sorted((WORK / stored).glob("*-interactions")):
            saved = Config.model_validate_json((out / "config.json").read_text())
            cfg = Config.model_validate(saved.model_dump() | {"optimize": OptimizeConfig().model_dump()})
            policy, seed = out.name.split("-")[:2]
            row = measure(out, *decide(out, cfg, "interactions"))
            results.append({"label": stored, "policy": policy, "seed": int(seed), "variant": "interactions", **row})
            print(
                f"{stored:15} {policy:8} seed {seed:>3}: joint {row['joint_score']:.3f}, at the plan's true retention "
                f"{row['joint_score_equal_retention']:.3f}  retention {row['retention_ratio']:.3f} of the status quo's",
                flush=True,
            )
    RESULTS.mkdir(parents=True, exist_ok=True)
    (RESULTS / f"substitution-{label}.json").write_text(json.dumps({"rescored": labels, "rows": results}, indent=1) + "\n")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--seeds", type=int, nargs="+", default=[7, 11, 12, 13, 14])
    parser.add_argument("--policies", nargs="+", default=["random", "targeted"])
    parser.add_argument("--cross", type=float, default=0.3, help="simulation.cross_category")
    parser.add_argument("--config", type=Path, default=None)
    parser.add_argument("--label", default="default")
    parser.add_argument("--routes", nargs="+", default=["interactions", "independent"], choices=["interactions", "independent"])
    parser.add_argument("--reuse", action="store_true", help="resume the run folders a previous call with this label left (same code)")
    parser.add_argument("--variants", nargs="+", default=list(VARIANTS), choices=list(VARIANTS))
    parser.add_argument("--rescore", nargs="+", metavar="LABEL", help="decide again and score the stored runs of these labels (rescore)")
    args = parser.parse_args()
    if args.rescore:
        return rescore(args.rescore, args.label)
    base, results = Config.from_toml(args.config), []
    for policy in args.policies:
        for seed in args.seeds:
            cfg = base.override("simulation", seed=seed, promotion_policy=policy, substitution=True, cross_category=args.cross)
            started = time.perf_counter()
            runs = {}
            for route, update in (("interactions", {}), ("independent", INDEPENDENT)):
                if route not in args.routes:
                    continue
                routed = cfg
                for section, values in update.items():
                    routed = routed.override(section, **values)
                runs[route] = (WORK / args.label / f"{policy}-{seed}-{route}", routed)
                if not args.reuse:  # a run left by older code would resume with its estimates
                    shutil.rmtree(runs[route][0], ignore_errors=True)
                pipeline.run("simulated", runs[route][0], routed, log=lambda m: None)
            rows = {}
            if "independent" in runs:  # decided again like the variants: the plan without the forward plan's experiment arms
                rows["independent"] = measure(runs["independent"][0], *decide(*runs["independent"], "interactions"))
            for name in args.variants if "interactions" in runs else []:
                folder, variant = decide(*runs["interactions"], name)
                rows[name] = measure(runs["interactions"][0], folder, variant)
            for name, row in rows.items():
                results.append({"policy": policy, "seed": seed, "variant": name, **row})
                print(
                    f"{policy:8} seed {seed:3} {name:15}: joint {row['joint_score']:.3f} (without the rules' levels "
                    f"{row['joint_score_unconstrained']:.3f}, at the plan's true retention {row['joint_score_equal_retention']:.3f})  "
                    f"per pair {row['score']:.3f}  "
                    f"gain {row['joint_gain']:9.1f} of {row['joint_oracle_gain']:9.1f}  no offer {row['no_offer_share']:.2f}  "
                    f"offers/consumer-category {row['offers_per_consumer_category']:.2f}  [{time.perf_counter() - started:.0f} s]",
                    flush=True,
                )
            RESULTS.mkdir(parents=True, exist_ok=True)  # after every seed: a long benchmark keeps what it measured
            payload = {"config": str(args.config), "cross_category": args.cross, "rows": results}
            (RESULTS / f"substitution-{args.label}.json").write_text(json.dumps(payload, indent=1) + "\n")
    with pl.Config(tbl_rows=200, tbl_cols=20, float_precision=3, tbl_width_chars=200):
        print(pl.DataFrame(results))


if __name__ == "__main__":
    main()
