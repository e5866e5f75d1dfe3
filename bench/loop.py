"""Benchmark: the learning loop. Rounds of decide -> play -> measure -> decide on the project's simulator,
with the measured fortnight's offers (arm, propensity, expected_offer_pct) joining the offer history
before the next decision, as docs/experiment.md tells a retailer to do.

Per seed, with exploration on (experiment.explore_share = 0.05, the default) and off (0; the 10 %
holdout stays, and it is randomised too), for rounds 1..R:

    offerwise run --data data_r [--quick] --config C    ->  run_r     (the plan for data_r's next fortnight)
    offerwise simulate --play run_r --data data_r       ->  data_r+1  (that fortnight drawn from the true response)
    offerwise measure --data data_r+1 --run run_r       ->  run_r/measurement/
    data_r+1/offer_history.csv: the played fortnight's consumer rows replaced by measurement/offer_history.csv

Each round reports, for the forward decision of run_r against data_r's truth for its next fortnight:
* slope_error: per category |Σ dml_slope · p̂(1 − p̂) / Σ true_a · p(1 − p) − 1| over the decided
  pairs (the response on the decisions' scale, bench/response.py), and its mean over categories;
* forward_score: the plan's policy score against the rules oracle (report/policy_score.csv, "all");
* randomised_rows: the offer-history rows with expected_offer_pct so far.

    python bench/loop.py [--seeds 21 22 23 24 25] [--rounds 6] [--policy targeted] [--customers 300] [--label NAME] [--no-learn] [--full] [--holdout SHARE]

Each run is `--quick` (the 2 largest categories, 3 epochs, 100 boosting rounds) unless --full, which
runs the default config as a retailer would (every category, early-stopped epochs); at 300 consumers a
full run takes about 45 s against 30 s.

--no-learn is the control: the same rounds without returning the measured history, so the estimate
sees no randomised rows; what remains of the slope error's fall is the data's growth alone.

Results: bench/results/loop-<label>.json and a table on stdout. Seeds 21-25 were never used to
choose a setting.
"""

from __future__ import annotations

import argparse
import json
import shutil
import sys
import time
from pathlib import Path

import numpy as np
import polars as pl
from experiment import offerwise  # bench/experiment.py: runs the CLI, stops on a failure

from offerwise.columns import PAIR

RESULTS = Path(__file__).parent / "results"
WORK = Path("results-work") / "loop"


def decision_scale(run: Path, data: Path) -> pl.DataFrame:
    """The forward decision's pairs with the estimate's slope and probability beside the truth's
    (true_a, and p at the status quo offer)."""
    truth = pl.read_parquet(data / "ground_truth_future.parquet").select(*PAIR, "true_a", "true_b")
    offers = pl.read_parquet(run / "recommendations" / "offers.parquet").select(*PAIR, "category", "p_reference", "reference_offer_pct")
    slopes = pl.read_parquet(run / "recommendations" / "pair_elasticity.parquet").select(*PAIR, "dml_slope")
    return (
        offers.join(slopes, on=PAIR)
        .join(truth, on=PAIR)
        .with_columns(p=1 / (1 + (-(pl.col("true_b") + pl.col("true_a") * pl.col("reference_offer_pct"))).exp()))
    )


def category_errors(pairs: pl.DataFrame, slope: str = "dml_slope", probability: str = "p_reference") -> pl.DataFrame:
    """Per category (category, error) |Σ slope · q(1 − q) / Σ true_a · p(1 − p) − 1| over `pairs`
    (decision_scale's), q the `probability` column: the response error on the decisions' scale."""
    weight = pl.col(probability) * (1 - pl.col(probability))
    truth = pl.col("true_a") * pl.col("p") * (1 - pl.col("p"))
    return pairs.group_by("category").agg(error=((pl.col(slope) * weight).sum() / truth.sum() - 1).abs())


def slope_errors(run: Path, data: Path) -> dict[str, float]:
    """Per category the forward decision's response error on the decisions' scale (module docstring)."""
    per = category_errors(decision_scale(run, data))
    return dict(zip(per.get_column("category").to_list(), per.get_column("error").to_list(), strict=True))


def learned_history(data: Path, run: Path) -> int:
    """data's offer_history.csv with the played fortnight's consumer rows replaced by measure's
    (which carry expected_offer_pct); returns the randomised rows in the history."""
    path = data / "offer_history.csv"
    history = pl.read_csv(path, try_parse_dates=True, infer_schema_length=None)
    measured = pl.read_csv(run / "measurement" / "offer_history.csv", try_parse_dates=True, infer_schema_length=None)
    start = measured.get_column("start_date").min()
    kept = history.filter(~(pl.col("customer_id").is_not_null() & (pl.col("start_date") == start)))
    merged = pl.concat(
        [kept, measured.select([c for c in measured.columns if c in (*kept.columns, "expected_offer_pct")])], how="diagonal_relaxed"
    )
    merged.write_csv(path)
    return int(merged.get_column("expected_offer_pct").is_not_null().sum()) if "expected_offer_pct" in merged.columns else 0


def forward_score(run: Path) -> float:
    policy = pl.read_csv(run / "report" / "policy_score.csv")
    row = policy.filter((pl.col("decision") == "forward") & (pl.col("policy") == "ours") & (pl.col("category") == "all"))
    return float(row.get_column("score").item()) if row.height else float("nan")


def loop(seed: int, explore: float, args: argparse.Namespace, work: Path) -> list[dict]:
    holdout = "" if args.holdout is None else f"-holdout{args.holdout:g}"
    folder = work / f"{args.policy}-{seed}-explore{explore:g}{holdout}{'' if args.learn else '-nolearn'}{'-full' if args.full else ''}"
    shutil.rmtree(folder, ignore_errors=True)
    folder.mkdir(parents=True)
    config = folder / "config.toml"
    # the share as asked: never lowered for what it gives up (experiment.max_given_up_share = 1)
    holdout_line = "" if args.holdout is None else f"holdout_share = {args.holdout}\nmax_given_up_share = 1\n"
    config.write_text(f'[simulation]\npromotion_policy = "{args.policy}"\n\n[experiment]\nexplore_share = {explore}\n{holdout_line}')
    offerwise("simulate", "--out", str(folder / "data0"), "--customers", str(args.customers), "--seed", str(seed), "--config", str(config))
    rows, randomised = [], 0
    for r in range(1, args.rounds + 1):
        data, run, after = folder / f"data{r - 1}", folder / f"run{r}", folder / f"data{r}"
        start = time.perf_counter()
        offerwise("run", "--data", str(data), *([] if args.full else ["--quick"]), "--config", str(config), "--out", str(run))
        errors = slope_errors(run, data)
        offerwise("simulate", "--play", str(run), "--data", str(data), "--out", str(after))
        offerwise("measure", "--data", str(after), "--run", str(run), "--config", str(config))
        row = {
            "seed": seed,
            "explore_share": explore,
            "round": r,
            "slope_error": float(np.mean(list(errors.values()))),
            "slope_error_by_category": errors,
            "forward_score": forward_score(run),
            "randomised_rows": randomised,
            "seconds": time.perf_counter() - start,
        }
        randomised = learned_history(after, run) if args.learn else 0
        rows.append(row)
        print(
            f"seed {seed} explore {explore:g} round {r}: slope error {row['slope_error']:.3f}, forward score {row['forward_score']:.3f}, "
            f"{row['randomised_rows']:,} randomised rows, {row['seconds']:.0f} s",
            flush=True,
        )
    return rows


def summary(rows: list[dict]) -> dict:
    """Per exploration setting: mean slope error and forward score per round, and round R against round 1."""
    out = {}
    for explore in sorted({r["explore_share"] for r in rows}):
        part = pl.DataFrame([{k: v for k, v in r.items() if k != "slope_error_by_category"} for r in rows if r["explore_share"] == explore])
        by_round = part.group_by("round").agg(pl.col("slope_error").mean(), pl.col("forward_score").mean()).sort("round")
        first, last = by_round.row(0, named=True), by_round.row(-1, named=True)
        out[f"explore {explore:g}"] = {
            "by_round": by_round.to_dicts(),
            "slope_error_change": last["slope_error"] / first["slope_error"] - 1,
            "forward_score_change": last["forward_score"] - first["forward_score"],
        }
    return out


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--seeds", type=int, nargs="+", default=[21, 22, 23, 24, 25])
    parser.add_argument("--rounds", type=int, default=6)
    parser.add_argument("--explore", type=float, nargs="+", default=[0.05, 0.0])
    parser.add_argument("--policy", default="targeted")
    parser.add_argument("--customers", type=int, default=300)
    parser.add_argument("--label", default="default")
    parser.add_argument(
        "--no-learn",
        dest="learn",
        action="store_false",
        help="the control: the measured offer history is not returned to the data (no randomised rows)",
    )
    parser.add_argument(
        "--holdout",
        type=float,
        default=None,
        help="experiment.holdout_share, never lowered for its cost (default: the config's); 0.99 plays the status quo almost everywhere, a control for what the plan's offers do to the data",
    )
    parser.add_argument("--full", action="store_true", help="the default config for every run instead of --quick")
    args = parser.parse_args()
    rows: list[dict] = []
    path = RESULTS / f"loop-{args.label}.json"
    for seed in args.seeds:
        for explore in args.explore:
            rows += loop(seed, explore, args, WORK)
            path.write_text(json.dumps({"command": " ".join(sys.argv), "rounds": rows, "summary": summary(rows)}, indent=1))
    print(json.dumps(summary(rows), indent=1))


if __name__ == "__main__":
    main()
