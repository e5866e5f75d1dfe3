"""Where a plan's joint gain goes on the simulator with substitution: the model's view against the truth,
by kind of pair.

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

    python bench/substitution_breakdown.py [--label default] [--route interactions]

Results: bench/results/substitution-breakdown-<label>-<route>.json and a table on stdout. It reads the
runs only; nothing is fitted or chosen here.
"""

from __future__ import annotations

import argparse
import json
from pathlib import Path

import polars as pl

from offerwise.data.choice import true_probability_under
from offerwise.data.simulate_frames import choice_world
from offerwise.report.joint import joint_frame

RESULTS = Path(__file__).parent / "results"
WORK = Path("results-work") / "substitution"


def breakdown(run: Path) -> pl.DataFrame:
    """One run's change in true and model expected net revenue per kind of pair (module docstring)."""
    offers = pl.read_parquet(run / "recommendations" / "offers.parquet")
    plan, p_plan = ("plan_offer_pct", "p_plan") if "plan_offer_pct" in offers.columns else ("recommended_offer_pct", "p_recommended")
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


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--label", default="default")
    parser.add_argument("--route", default="interactions", choices=["interactions", "independent"])
    args = parser.parse_args()
    runs = sorted((WORK / args.label).glob(f"*-{args.route}"))
    if not runs:
        raise SystemExit(f"no runs under {WORK / args.label} for the route {args.route}: run bench/substitution.py --label {args.label} first")
    rows = pl.concat([breakdown(run).with_columns(run=pl.lit(run.name.removesuffix(f"-{args.route}"))) for run in runs])
    total = rows.group_by("kind").agg(pl.col("pairs", "true_change", "model_change").sum()).sort("kind")
    RESULTS.mkdir(parents=True, exist_ok=True)
    payload = {"label": args.label, "route": args.route, "total": total.to_dicts(), "per_run": rows.sort("run", "kind").to_dicts()}
    (RESULTS / f"substitution-breakdown-{args.label}-{args.route}.json").write_text(json.dumps(payload, indent=1) + "\n")
    with pl.Config(tbl_rows=200, tbl_cols=20, float_precision=3, tbl_width_chars=200):
        print(rows.sort("run", "kind"))
        print(total)


if __name__ == "__main__":
    main()
