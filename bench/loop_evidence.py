"""Benchmark: how much the learning loop's randomised rows can tell. Reads bench/loop.py's stored
sequences with one exploration share (results-work/loop/<policy>-<seed>-explore<e>[-full]); runs nothing.

Per sequence and category, the explore arm's randomised slopes (measure's slopes.csv: each round's
logistic fit, logit P(bought) = logit p_reference + α + β (given − reference)) pooled by inverse
variance over the rounds, against the truth (true_a weighted by p(1 − p) over the decided pairs, mean
over the rounds) and against the last round's double-ML slope, all on the logit scale. The pooled
SE relative to the true slope says how large an error in the estimate the randomised rows could
show; the double-ML slope's own error says how large an error there is to show. Beside them, what
the experiment gave up in the model's view (summary.csv's expected_revenue_given_up over the plan's
expected net revenue, mean over the rounds).

    python bench/loop_evidence.py [--work results-work/loop] [--suffix -full] [--explore 0.05] [--seeds ...] [--label full]

Results: bench/results/loop-evidence-<label>.json and the figures on stdout.
"""

from __future__ import annotations

import argparse
import json
from pathlib import Path

import polars as pl
from loop import decision_scale  # bench/loop.py

from offerwise.experiment.pool import pooled_slopes

RESULTS = Path(__file__).parent / "results"
WEIGHT = pl.col("p") * (1 - pl.col("p"))


def rounds(folder: Path) -> list[int]:
    return sorted(int(p.name.removeprefix("run")) for p in folder.glob("run*") if (p / "recommendations" / "offers.parquet").is_file())


def explore_share(name: str, suffix: str) -> float:
    """A learning sequence's exploration share (bench/loop.py names it <policy>-<seed>-explore<e>[-nolearn][suffix]);
    NaN for another suffix's folder and for the --no-learn control, whose estimate never saw the randomised rows."""
    share = name.split("-explore")[1].removesuffix(suffix)
    return float(share) if share.replace(".", "", 1).isdigit() else float("nan")


def sequence_seed(name: str) -> int:
    """A sequence folder's simulator seed (bench/loop.py names it <policy>-<seed>-explore...)."""
    return int(name.split("-")[1])


def true_slopes(folder: Path) -> pl.DataFrame:
    """Per category the true logit slope over each round's decided pairs, weighted by p(1 − p); mean over rounds."""
    frames = [
        decision_scale(folder / f"run{r}", folder / f"data{r - 1}")
        .group_by("category")
        .agg(true_slope=(pl.col("true_a") * WEIGHT).sum() / WEIGHT.sum())
        for r in rounds(folder)
    ]
    return pl.concat(frames).group_by("category").agg(pl.col("true_slope").mean())


def given_up_share(folder: Path) -> float:
    """What the experiment gave up in the model's view, mean over the rounds: Σ expected_revenue_given_up
    over Σ the plan's expected net revenue (recommendations/summary.csv)."""
    shares = []
    for r in rounds(folder):
        summary = pl.read_csv(folder / f"run{r}" / "recommendations" / "summary.csv")
        shares.append(summary.get_column("expected_revenue_given_up").sum() / summary.get_column("expected_revenue_after").sum())
    return sum(shares) / len(shares)


def explore_evidence(folder: Path) -> pl.DataFrame:
    """Per category the explore arm's slopes pooled over the measured rounds (`offerwise pool`'s
    pooling), against the truth."""
    measured = [
        pl.read_csv(folder / f"run{r}" / "measurement" / "slopes.csv").with_columns(round=pl.lit(r))
        for r in rounds(folder)
        if (folder / f"run{r}" / "measurement" / "slopes.csv").is_file()
    ]
    slopes = pl.concat(measured, how="diagonal_relaxed")
    pooled = pooled_slopes(measured).select("category", identified_rounds="fortnights", explore_slope="slope", explore_se="se")
    explored = slopes.group_by("category").agg(explored_pairs=pl.col("n").sum())  # every round's, identified or not
    last = slopes.filter(pl.col("round") == pl.col("round").max()).select("category", "estimator_slope", "estimator_se")
    return (
        explored.join(pooled, on="category")
        .join(last, on="category")
        .join(true_slopes(folder), on="category")
        .with_columns(
            explore_error=pl.col("explore_slope") / pl.col("true_slope") - 1,
            estimator_error=pl.col("estimator_slope") / pl.col("true_slope") - 1,
            explore_relative_se=pl.col("explore_se") / pl.col("true_slope"),
        )
        .sort("category")
    )


def sequence_parser(description: str) -> argparse.ArgumentParser:
    """The command line of the benches that read bench/loop.py's stored sequences with one exploration share."""
    parser = argparse.ArgumentParser(description=description)
    parser.add_argument("--work", type=Path, default=Path("results-work") / "loop")
    parser.add_argument("--suffix", default="-full", help="the sequences' folder suffix ('' for the quick loop's)")
    parser.add_argument("--explore", type=float, default=0.05, help="the sequences' exploration share")
    parser.add_argument("--seeds", type=int, nargs="+", help="only these seeds' sequences (default: every one stored)")
    parser.add_argument("--label", default="full")
    return parser


def stored_sequences(args: argparse.Namespace) -> list[Path]:
    """The stored sequences `sequence_parser`'s arguments name; stops with one line where there is none."""
    sequences = sorted(
        f
        for f in args.work.glob(f"*-explore*{args.suffix}")
        if explore_share(f.name, args.suffix) == args.explore and (args.seeds is None or sequence_seed(f.name) in args.seeds) and rounds(f)
    )
    if not sequences:
        raise SystemExit(
            f"no stored loop sequence with exploration {args.explore:g} and suffix {args.suffix!r} under {args.work}: run bench/loop.py first"
        )
    return sequences


def main() -> None:
    args = sequence_parser(__doc__.splitlines()[0]).parse_args()
    sequences = stored_sequences(args)
    evidence_frame = pl.concat(
        [explore_evidence(folder).with_columns(sequence=pl.lit(folder.name), given_up_share=given_up_share(folder)) for folder in sequences]
    )
    summary = {
        "explore_relative_se_median": evidence_frame.get_column("explore_relative_se").median(),
        "explore_abs_error_mean": evidence_frame.get_column("explore_error").abs().mean(),
        "estimator_abs_error_mean": evidence_frame.get_column("estimator_error").abs().mean(),
        "explored_pairs_median": evidence_frame.get_column("explored_pairs").median(),
        "given_up_share_mean": evidence_frame.unique("sequence").get_column("given_up_share").mean(),
    }
    with pl.Config(tbl_rows=100, tbl_cols=20, tbl_width_chars=200):
        print(evidence_frame)
    print(json.dumps(summary, indent=1))
    out = RESULTS / f"loop-evidence-{args.label}.json"
    out.write_text(
        json.dumps(
            {
                "work": str(args.work),
                "suffix": args.suffix,
                "explore": evidence_frame.to_dicts(),
                "summary": summary,
            },
            indent=1,
        )
    )


if __name__ == "__main__":
    main()
