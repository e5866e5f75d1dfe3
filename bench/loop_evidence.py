"""Benchmark: what the learning loop's slope error is made of, and how much its randomised rows can
tell. Reads bench/loop.py's stored sequences (results-work/loop/<policy>-<seed>-explore<e>[-full]);
runs nothing.

Per sequence and round, the loop's error on the decisions' scale per category,
|Σ slope · p̂(1 − p̂) / Σ true_a · p(1 − p) − 1|, splits into two factors:
* level: Σ slope · p̂(1 − p̂) / Σ slope · p(1 − p), the forward probabilities against the truth's
  at the status quo offer (the purchase model's forecast of that fortnight; no offer corrects it);
* slope: Σ slope · p(1 − p) / Σ true_a · p(1 − p), the estimate's slope at the truth's weights.

Per sequence with exploration and category, the explore arm's randomised slopes (measure's
slopes.csv, each round's logistic fit) pooled by inverse variance over the rounds, against the truth
(true_a weighted by p(1 − p) over the decided pairs, mean over rounds) and against the last round's
double-ML slope: the pooled SE relative to the true slope says how large an error in the estimate
the randomised rows could show.

    python bench/loop_evidence.py [--work results-work/loop] [--suffix -full] [--label full]

Results: bench/results/loop-evidence-<label>.json and the figures on stdout.
"""

from __future__ import annotations

import argparse
import json
from pathlib import Path

import polars as pl
from loop import decision_scale  # bench/loop.py

RESULTS = Path(__file__).parent / "results"
WEIGHT = pl.col("p") * (1 - pl.col("p"))


def rounds(folder: Path) -> list[int]:
    return sorted(int(p.name.removeprefix("run")) for p in folder.glob("run*") if (p / "recommendations" / "offers.parquet").is_file())


def error_parts(folder: Path) -> pl.DataFrame:
    """Per round and category: the total error's ratio and its level and slope factors."""
    frames = []
    for r in rounds(folder):
        scale = decision_scale(folder / f"run{r}", folder / f"data{r - 1}")
        estimated = (pl.col("dml_slope") * pl.col("p_reference") * (1 - pl.col("p_reference"))).sum()
        frames.append(
            scale.group_by("category")
            .agg(
                total=estimated / (pl.col("true_a") * WEIGHT).sum(),
                level=estimated / (pl.col("dml_slope") * WEIGHT).sum(),
                slope=(pl.col("dml_slope") * WEIGHT).sum() / (pl.col("true_a") * WEIGHT).sum(),
                true_slope=(pl.col("true_a") * WEIGHT).sum() / WEIGHT.sum(),
            )
            .with_columns(round=pl.lit(r))
        )
    return pl.concat(frames)


def explore_evidence(folder: Path, parts: pl.DataFrame) -> pl.DataFrame:
    """Per category the explore arm's slopes pooled over the measured rounds, against the truth."""
    measured = [
        pl.read_csv(folder / f"run{r}" / "measurement" / "slopes.csv").with_columns(round=pl.lit(r))
        for r in rounds(folder)
        if (folder / f"run{r}" / "measurement" / "slopes.csv").is_file()
    ]
    slopes = pl.concat(measured, how="diagonal_relaxed")
    precision = 1 / pl.col("se") ** 2
    identified = pl.col("se").is_not_null()
    pooled = slopes.group_by("category").agg(
        explored_pairs=pl.col("n").sum(),
        identified_rounds=identified.sum(),
        explore_slope=(pl.col("slope") * precision).filter(identified).sum() / precision.filter(identified).sum(),
        explore_se=precision.filter(identified).sum() ** -0.5,
    )
    last = slopes.filter(pl.col("round") == pl.col("round").max()).select("category", "estimator_slope", "estimator_se")
    truth = parts.group_by("category").agg(pl.col("true_slope").mean())
    return (
        pooled.join(last, on="category")
        .join(truth, on="category")
        .with_columns(
            explore_error=pl.col("explore_slope") / pl.col("true_slope") - 1,
            estimator_error=pl.col("estimator_slope") / pl.col("true_slope") - 1,
            explore_relative_se=pl.col("explore_se") / pl.col("true_slope"),
        )
        .sort("category")
    )


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--work", type=Path, default=Path("results-work") / "loop")
    parser.add_argument("--suffix", default="-full", help="the sequences' folder suffix ('' for the quick loop's)")
    parser.add_argument("--label", default="full")
    args = parser.parse_args()
    sequences = sorted(f for f in args.work.glob(f"*-explore*{args.suffix}") if f.name.endswith(args.suffix) and rounds(f))
    parts, evidence = [], []
    for folder in sequences:
        part = error_parts(folder).with_columns(sequence=pl.lit(folder.name))
        parts.append(part)
        if not folder.name.split("-explore")[1].startswith("0" + args.suffix):
            evidence.append(explore_evidence(folder, part).with_columns(sequence=pl.lit(folder.name)))
    parts_frame = pl.concat(parts)
    by_round = (
        parts_frame.group_by("sequence", "round")
        .agg(
            total_error=(pl.col("total") - 1).abs().mean(),
            level_error=(pl.col("level") - 1).abs().mean(),
            slope_error=(pl.col("slope") - 1).abs().mean(),
            level=pl.col("level").mean(),
        )
        .with_columns(exploration=pl.col("sequence").str.contains("explore0.05"))
        .group_by("exploration", "round")
        .agg(pl.exclude("sequence").mean())
        .sort("exploration", "round")
    )
    evidence_frame = pl.concat(evidence)
    summary = {
        "explore_relative_se_median": evidence_frame.get_column("explore_relative_se").median(),
        "explore_abs_error_mean": evidence_frame.get_column("explore_error").abs().mean(),
        "estimator_abs_error_mean": evidence_frame.get_column("estimator_error").abs().mean(),
        "explored_pairs_median": evidence_frame.get_column("explored_pairs").median(),
    }
    with pl.Config(tbl_rows=100, tbl_cols=20, tbl_width_chars=200):
        print(by_round)
        print(evidence_frame)
    print(json.dumps(summary, indent=1))
    out = RESULTS / f"loop-evidence-{args.label}.json"
    out.write_text(
        json.dumps(
            {
                "work": str(args.work),
                "suffix": args.suffix,
                "by_round": by_round.to_dicts(),
                "explore": evidence_frame.to_dicts(),
                "summary": summary,
            },
            indent=1,
        )
    )


if __name__ == "__main__":
    main()
