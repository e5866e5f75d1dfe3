"""What each estimate costs the joint score on the simulator with substitution: the forward fortnight of
bench/substitution.py's runs decided again with pieces of the truth in place of the estimates.

Pieces (combine with "+"; "none" is the default decision):
* "slopes": each pair's utility slope b_i is the truth's true_a (no conversion from the estimated slope);
* "lambda": λ is the truth's category expansion (simulation_config.json), the slopes converted at it;
* "status quo": the decision pairs' probabilities at the status quo, and the consumer-category's
  purchases outside the decision, are the truth's (every offer of the status quo in force);
* "phi_x point": φ_x valued at its point estimate even where its interval reaches 0;
* "phi_x shrunk": φ_x × max(0, 1 − 1/z²) (positive-part shrinkage toward 0) wherever estimated;
* "phi_x xK": φ_x (and θ_x) multiplied by K.
Each plan is the optimiser's (bench/substitution.decide) and is scored by bench/substitution.measure
(joint score against the interaction-aware oracle). The pieces replace internals of the decision
(monkeypatched here, never in the library): a diagnosis, not a route.

    python bench/substitution_truth_pieces.py --label logsum-pull [--pieces none slopes+lambda "status quo" ...]

Results: bench/results/substitution-truth-pieces-<label>.json and a table on stdout.
"""

from __future__ import annotations

import argparse
import json
import threading
from pathlib import Path

import numpy as np
import polars as pl
import substitution

from offerwise.config import Config
from offerwise.data.choice import true_probability_under
from offerwise.data.simulate_frames import choice_world
from offerwise.optimize import choice_model, consumer_category
from offerwise.report.joint import joint_frame

RESULTS = Path(__file__).parent / "results"
PAIR = ["customer_id", "item_id"]
STATE: dict = {}
LOCAL = threading.local()  # the decision solves a second problem in a thread: each thread's pairs
CALIBRATE, BUNDLE_PROBLEM = choice_model.calibrate, consumer_category.bundle_problem


def _calibrate(f, slope, unit, theta, outside, others=float("nan")):
    b, lam = CALIBRATE(f, slope, unit, theta, outside, others)
    pieces = STATE["pieces"]
    if "lambda" in pieces:
        lam = STATE["expansion"]
        b = choice_model.utility_slopes(f, slope, np.bincount(unit, f)[unit] + outside, lam)
    if "slopes" in pieces:
        b = LOCAL.true_a
    return b, lam


def _bundle_problem(pairs: pl.DataFrame, cfg, levels):
    pieces = STATE["pieces"]
    if "status quo" in pieces:
        pairs = (
            pairs.join(STATE["true_p"], on=PAIR, how="left")
            .with_columns(probability=pl.coalesce("true_p", "probability"))
            .drop("true_p")
            .join(STATE["true_outside"], on=["customer_id", "category"], how="left")
            .with_columns(outside_purchases=pl.col("true_outside").fill_null(0.0))
            .drop("true_outside")
        )
    phi, se = STATE["phi_x"]
    if "phi_x point" in pieces or "phi_x shrunk" in pieces:
        value = phi * max(0.0, 1 - (se / phi) ** 2) if "phi_x shrunk" in pieces else phi
        pairs = pairs.with_columns(cross_category_others=pl.lit(value))
    for piece in pieces:
        if piece.startswith("phi_x x") and "cross_category_others" in pairs.columns:
            k = float(piece.removeprefix("phi_x x"))
            pairs = pairs.with_columns(pl.col("cross_category_others", "cross_category_slope") * k)
    LOCAL.true_a = pairs.sort(PAIR).join(STATE["truth"], on=PAIR, how="left").get_column("true_a").to_numpy()
    return BUNDLE_PROBLEM(pairs, cfg, levels)


def _truth(out: Path) -> None:
    """The run's truth as the pieces read it, into STATE."""
    truth_all = pl.read_parquet(out / "data" / "ground_truth_future.parquet")
    decided = pl.read_parquet(out / "recommendations" / "offers.parquet").select(*PAIR, "category", "price", "reference_offer_pct")
    frame = joint_frame(decided, truth_all)
    world = choice_world(out / "data")
    frame = frame.with_columns(true_p=true_probability_under(frame.with_columns(offer=pl.col("reference")), "offer", world))
    cross = pl.read_csv(out / "recommendations" / "cross_response.csv").filter(pl.col("category") == "cross-category")
    STATE.update(
        truth=truth_all.select(*PAIR, "true_a"),
        true_p=frame.filter(pl.col("in_plan")).select(*PAIR, "true_p"),
        true_outside=frame.filter(~pl.col("in_plan")).group_by("customer_id", "category").agg(true_outside=pl.col("true_p").sum()),
        expansion=world.expansion,
        phi_x=(float(cross.get_column("others_slope")[0]), float(cross.get_column("others_se")[0])),
    )


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--label", default="logsum-pull", help="bench/substitution.py's label whose interactions runs are decided again")
    parser.add_argument("--pieces", nargs="+", default=["none", "slopes+lambda", "status quo", "phi_x point", "phi_x x1.5"])
    args = parser.parse_args()
    runs = sorted((substitution.WORK / args.label).glob("*-interactions"))
    if not runs:
        raise SystemExit(f"no runs under {substitution.WORK / args.label}: run bench/substitution.py --label {args.label} first")
    choice_model.calibrate, consumer_category.bundle_problem = _calibrate, _bundle_problem
    rows = []
    for out in runs:
        # the pieces replace the estimates' mean: decided there (plain slopes, which _calibrate may replace)
        cfg = Config.model_validate_json((out / "config.json").read_text()).override(
            "optimize", response_quantile=0.5, response_caution="slope"
        )
        _truth(out)
        for name in args.pieces:
            STATE["pieces"] = set(name.split("+")) - {"none"}
            row = substitution.measure(out, *substitution.decide(out, cfg, "interactions"))
            rows.append({"run": out.name.removesuffix("-interactions"), "pieces": name, "joint_score": row["joint_score"]})
            print(f"{rows[-1]['run']:12} {name:20} joint {row['joint_score']:.3f}", flush=True)
    table = (
        pl.DataFrame(rows)
        .group_by("pieces", maintain_order=True)
        .agg(median=pl.col("joint_score").median(), mean=pl.col("joint_score").mean())
    )
    RESULTS.mkdir(parents=True, exist_ok=True)
    payload = {"label": args.label, "rows": rows, "summary": table.to_dicts()}
    (RESULTS / f"substitution-truth-pieces-{args.label}.json").write_text(json.dumps(payload, indent=1) + "\n")
    print(table)


if __name__ == "__main__":
    main()
