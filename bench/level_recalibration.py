"""Diagnosis: the decision's probabilities recalibrated per category to the realised purchase rate.

Each category's probabilities in the optimiser's inputs are shifted on the logit scale by
w · log(Σ labels / Σ p) over the decision model's labelled rows known at the decision (the
validation fortnights of folds ≤ f and the decided fortnights of folds < f, each row once), then
another bench decides and scores as usual. Monkeypatched here (pipeline.decide.decision_inputs),
never in the library: a diagnosis, not a route.

    python bench/level_recalibration.py --weight 1 no_substitution --seeds 21 22 23 24 25 26 --reuse --label levelfix-1
    python bench/level_recalibration.py --weight 1 substitution --rescore q2-41-45 ... --label levelfix-1-41-83

Results: the other bench's file under its --label (docs/findings.md, Decision rules and objective).
"""

from __future__ import annotations

import argparse
import sys
from pathlib import Path

import polars as pl

import offerwise.pipeline.decide as decide

ORIGINAL = decide.decision_inputs


def level_shifts(evaluation: Path, fold: int, model: str) -> pl.DataFrame:
    """category, shift: log(Σ labels / Σ p) over the labelled rows a decision of `fold` may read."""
    rows = pl.read_parquet(evaluation / "predictions.parquet").filter(pl.col("model") == model, pl.col("label").is_not_null())
    known = (pl.col("split") == "validation") & (pl.col("fold") <= fold) | (pl.col("split") == "test") & (pl.col("fold") < fold)
    rows = rows.filter(known).unique(subset=["customer_id", "item_id", "period"], keep="first")
    return rows.group_by("category").agg(shift=(pl.col("label").sum() / pl.col("probability").sum()).log())


def recalibrating(weight: float):
    def decision_inputs(panel, evaluation, response_folder, cfg, *, fold=None, decision_model="tcn"):
        inputs, levels = ORIGINAL(panel, evaluation, response_folder, cfg, fold=fold, decision_model=decision_model)
        shifts = level_shifts(evaluation, decide.read_prepared(panel).decision_fold(fold), decision_model)
        logit = (pl.col("probability") / (1 - pl.col("probability"))).log() + weight * pl.col("shift").fill_null(0.0)
        return inputs.join(shifts, on="category", how="left").with_columns(probability=1 / (1 + (-logit).exp())).drop("shift"), levels

    return decision_inputs


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--weight", type=float, default=1.0, help="w: the share of the log ratio applied (0: no change)")
    parser.add_argument("bench", choices=["no_substitution", "substitution"], help="the bench that decides and scores")
    args, rest = parser.parse_known_args()
    decide.decision_inputs = recalibrating(args.weight)
    sys.path.insert(0, str(Path(__file__).parent))
    sys.argv = [f"{args.bench}.py", *rest]
    __import__(args.bench).main()


if __name__ == "__main__":
    main()
