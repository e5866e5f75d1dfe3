"""Why a plan loses on the simulator with substitution: where its joint gain goes, and whether the estimates
or the way bundles are valued is to blame.

Table 1, by kind of pair: the model's view against the truth.

For each run folder that bench/substitution.py left (results-work/substitution/<label>/<policy>-<seed>-<route>),
every truth pair of the decision's consumers (report/joint.joint_frame: the items outside the decision at
the offers the truth records) is put in one of four kinds:
* "offer up" / "offer down": a decision pair whose plan offer is above / below its status quo offer;
* "same": a decision pair whose offer the plan keeps;
* "outside": a pair the consumer considers but the decision does not hold (bought in fewer than
  panel.min_purchases periods), so the model has no probability for it.
Per kind: the change in true expected net revenue, plan against status quo, with every offer in force
jointly (data/choice.py), beside the model's own change (p_plan against p_reference, the logit-shift
view the decision used; 0 outside); and the mean probabilities before and after.

    python bench/substitution_diagnosis.py [--label default] [--route interactions]

Table 2, estimates inside the true choice structure: the interaction-aware oracle (report/joint.py: the
true nested logit, up to 2 offers per consumer-category, the plan's retention target) decides once with
the truth and once with the model's estimates in place of the truth's pair parameters, everything else
of the structure kept (category expansion λ, cross-category pull, the items outside the decision):
* the pair's utility slope from its double-ML slope s, converted as optimize/choice_model.calibrate
  does at the true λ, a = s (1 − f) / (1 − share (1 − λ)) (f the model's probability at the status quo,
  share its part of the consumer-category's Σ f);
* the pair's base utility moved by log(f / true p at the status quo), so the structure's probability at
  the status quo is the model's.
Each plan is scored jointly under the real truth: `estimates_in_true_structure` is its share of the
oracle's gain; `... without_outside` the same when the decision also does not see the items outside it;
`ours` the plan the run made.

Results: bench/results/substitution-diagnosis-<label>-<route>.json and the tables on stdout. It reads
the runs only; nothing is fitted or chosen here.
"""

from __future__ import annotations

import argparse
import json
from pathlib import Path

import polars as pl

from offerwise import pipeline
from offerwise.config import Config
from offerwise.data.choice import true_probability_under
from offerwise.data.simulate_frames import choice_world
from offerwise.report.joint import joint_frame, joint_oracle, joint_scored

RESULTS = Path(__file__).parent / "results"
WORK = Path("results-work") / "substitution"


def breakdown(run: Path) -> pl.DataFrame:
    """One run's change in true and model expected net revenue per kind of pair (module docstring)."""
    offers = pl.read_parquet(run / "recommendations" / "offers.parquet")
    plan = _plan_column(offers)
    p_plan = "p_plan" if plan == "plan_offer_pct" else "p_recommended"
    truth = pl.read_parquet(run / "data" / "ground_truth_future.parquet")
    world = choice_world(run / "data")
    frame = (
        joint_frame(offers, truth)
        .join(
            offers.select("customer_id", "item_id", "p_reference", plan=pl.col(plan), p_plan=pl.col(p_plan)),
            on=["customer_id", "item_id"],
            how="left",
        )
        .with_columns(plan=pl.coalesce("plan", "reference"))
    )
    frame = frame.with_columns(
        true_before=true_probability_under(frame.with_columns(offer=pl.col("reference")), "offer", world),
        true_after=true_probability_under(frame, "plan", world),
        kind=pl.when(~pl.col("in_plan"))
        .then(pl.lit("outside"))
        .when(pl.col("plan") > pl.col("reference"))
        .then(pl.lit("offer up"))
        .when(pl.col("plan") < pl.col("reference"))
        .then(pl.lit("offer down"))
        .otherwise(pl.lit("same")),
    )
    net = lambda offer: pl.col("price") * (1 - pl.col(offer) / 100)  # noqa: E731
    return frame.group_by("kind").agg(
        pairs=pl.len(),
        true_change=(pl.col("true_after") * net("plan") - pl.col("true_before") * net("reference")).sum(),
        model_change=(pl.col("p_plan") * net("plan") - pl.col("p_reference") * net("reference")).sum(),
        true_before=pl.col("true_before").mean(),
        model_before=pl.col("p_reference").mean(),
        true_after=pl.col("true_after").mean(),
        model_after=pl.col("p_plan").mean(),
    )


PAIR = ["customer_id", "item_id"]


def _plan_column(offers: pl.DataFrame) -> str:
    return "plan_offer_pct" if "plan_offer_pct" in offers.columns else "recommended_offer_pct"


def structure(run: Path) -> dict:
    """Table 2's shares of the oracle's joint gain for one run (module docstring)."""
    cfg = Config.model_validate_json((run / "config.json").read_text())
    offers = pl.read_parquet(run / "recommendations" / "offers.parquet")
    truth_all = pl.read_parquet(run / "data" / "ground_truth_future.parquet")
    world = choice_world(run / "data")
    pairs = (
        pl.read_parquet(run / "recommendations" / "pair_elasticity.parquet")
        .select(*PAIR, "category", "probability", "dml_slope", "reference_offer_pct")
        .join(offers.select(*PAIR, "price"), on=PAIR)
        .join(truth_all.select(*PAIR, "true_a", "true_b"), on=PAIR)
        .with_columns(threshold=pl.lit(0.5))  # read by the oracle's arrays, used by the indicator objective only
    )
    frame = joint_frame(pairs, truth_all)
    at_status_quo = frame.select(*PAIR).with_columns(
        true_p=true_probability_under(frame.with_columns(offer=pl.col("reference")), "offer", world)
    )
    share = pl.col("probability") / pl.col("probability").sum().over("customer_id", "category")
    estimated = pairs.join(at_status_quo, on=PAIR).with_columns(
        true_a=pl.col("dml_slope").clip(0.0) * (1 - pl.col("probability")) / (1 - share * (1 - world.expansion)),
        true_b=pl.col("true_b") + pl.col("probability").log() - pl.col("true_p").log(),
    )
    levels = pipeline.read_levels(run / "recommendations")
    value = lambda chosen: joint_scored("plan", chosen, frame, world, None).get_column("joint_true_expected_value").sum()  # noqa: E731
    status_quo = value(pairs.select(*PAIR, offer=pl.col("reference_offer_pct")))

    def decided(decision_pairs: pl.DataFrame, outside: bool) -> float:
        replaced = truth_all.join(decision_pairs.select(*PAIR, a="true_a", b="true_b"), on=PAIR, how="left").with_columns(
            true_a=pl.coalesce("a", "true_a"), true_b=pl.coalesce("b", "true_b")
        )
        seen = joint_frame(decision_pairs, replaced.drop("a", "b"))
        seen = seen if outside else seen.filter(pl.col("in_plan"))
        return value(joint_oracle(decision_pairs, seen, world, cfg.optimize, levels)) - status_quo

    oracle = decided(pairs, True)
    ours = value(offers.select(*PAIR, offer=pl.col(_plan_column(offers)))) - status_quo
    return {
        "run": run.name,
        "oracle_gain": oracle,
        "estimates_in_true_structure": decided(estimated, True) / oracle,
        "estimates_in_true_structure_without_outside": decided(estimated, False) / oracle,
        "ours": ours / oracle,
    }


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--label", default="default")
    parser.add_argument("--route", default="interactions", choices=["interactions", "independent"])
    args = parser.parse_args()
    runs = sorted((WORK / args.label).glob(f"*-{args.route}"))
    if not runs:
        raise SystemExit(
            f"no runs under {WORK / args.label} for the route {args.route}: run bench/substitution.py --label {args.label} first"
        )
    rows = pl.concat([breakdown(run).with_columns(run=pl.lit(run.name.removesuffix(f"-{args.route}"))) for run in runs])
    total = rows.group_by("kind").agg(pl.col("pairs", "true_change", "model_change").sum()).sort("kind")
    shares = pl.DataFrame([structure(run) for run in runs])
    RESULTS.mkdir(parents=True, exist_ok=True)
    payload = {
        "label": args.label,
        "route": args.route,
        "by_kind_total": total.to_dicts(),
        "by_kind_per_run": rows.sort("run", "kind").to_dicts(),
        "structure": shares.to_dicts(),
        "structure_median": shares.drop("run").median().to_dicts()[0],
    }
    (RESULTS / f"substitution-diagnosis-{args.label}-{args.route}.json").write_text(json.dumps(payload, indent=1) + "\n")
    with pl.Config(tbl_rows=200, tbl_cols=20, float_precision=3, tbl_width_chars=200):
        print(rows.sort("run", "kind"))
        print(total)
        print(shares)


if __name__ == "__main__":
    main()
