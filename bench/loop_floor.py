"""Benchmark: the floor under the learning loop's slope error. Reads bench/loop.py's stored sequences
with one exploration share (results-work/loop/<policy>-<seed>-explore<e>[-full]) and, per round, sets
the loop's error (bench/loop.py: per category |Σ slope · p̂(1 − p̂) / Σ true_a · p(1 − p) − 1| over the
forward decision's pairs, mean over categories) beside what it would be

* `oracle`: with the double ML refitted on the round's own rows and config, the simulator's true
  baseline logit `true_b` (every demand shock and consumer-item intercept) added to its controls
  (bench/response_oracle.py's ORACLE). No confounder is then left out, so this is what an estimator
  that randomised rows had fully de-confounded could reach at best;
* `true_slopes`: with each pair's own true slope `true_a` in place of any estimate. What remains is
  the purchase model's probabilities p̂ against the truth's p: no slope estimate corrects it except
  by an error of its own.

The shipped and the oracle estimates are also given at the truth's probabilities (`*_at_true_p`: p
in place of p̂), the slope's own error. If the oracle's or the true slopes' error stays above 0.7 of round 1's, a 30 % fall cannot come
from what the loop learns about the slopes.

    python bench/loop_floor.py [--work results-work/loop] [--suffix -full] [--explore 0.05] [--seeds ...] [--rounds 1 6] [--label full]

Results: bench/results/loop-floor-<label>.json and a table on stdout.
"""

from __future__ import annotations

import json
import sys
from pathlib import Path

import polars as pl
from loop import category_errors, decision_scale  # bench/loop.py
from loop_evidence import rounds, sequence_parser, sequence_seed, stored_sequences  # bench/loop_evidence.py
from response_oracle import ORACLE, truth_rows  # bench/response_oracle.py

from offerwise.columns import PAIR
from offerwise.config import Config
from offerwise.elasticity.dml import OfferResponse
from offerwise.pipeline.decide import response_rows
from offerwise.pipeline.folders import read_prepared

RESULTS = Path(__file__).parent / "results"
SLOPES = {"shipped": "dml_slope", "oracle": "oracle_slope", "true_slopes": "true_a"}


def oracle_slopes(run: Path, data: Path, config: Path) -> pl.DataFrame:
    """The forward decision's pair slopes (customer_id, item_id, oracle_slope) from the round's double ML
    refitted with `true_b` among the controls, on the rows `offerwise run` fitted it on."""
    p = read_prepared(run / "prepared")
    cutoff = p.decided_period(p.forward_fold) - 1
    rows = response_rows(p.frame, p.forward_fold, cutoff)
    truth = truth_rows(data, p, rows).select("customer_id", "item_id", "period", "true_b")
    rows = rows.join(truth, on=["customer_id", "item_id", "period"], how="left")  # null only in the decided fortnight
    estimate = OfferResponse(Config.from_toml(config).response).fit(rows, [*p.features, ORACLE], cutoff=cutoff).estimate_
    return estimate.pair_slopes(rows.filter(pl.col("period") == cutoff + 1)).select(*PAIR, oracle_slope="slope_mean")


def errors(pairs: pl.DataFrame, slope: str, probability: str) -> float:
    """The loop's error with `slope` and `probability` on the decision's side, mean over categories."""
    return float(category_errors(pairs, slope, probability).get_column("error").mean())


def floor_row(folder: Path, r: int) -> dict:
    run, data = folder / f"run{r}", folder / f"data{r - 1}"
    pairs = decision_scale(run, data).join(oracle_slopes(run, data, folder / "config.toml"), on=PAIR, how="left")
    row = {"sequence": folder.name, "seed": sequence_seed(folder.name), "round": r}
    for name, slope in SLOPES.items():
        row[name] = errors(pairs, slope, "p_reference")
        if name != "true_slopes":  # the true slopes at the true probabilities are the truth itself
            row[f"{name}_at_true_p"] = errors(pairs, slope, "p")
    row["probability_level"] = float(pairs.get_column("p_reference").sum() / pairs.get_column("p").sum())
    return row


def summary(frame: pl.DataFrame) -> dict:
    """Per round the means over sequences, and each column's first and last round against the shipped
    estimate's first round (the loop's yardstick)."""
    columns = [c for c in frame.columns if c not in ("sequence", "seed", "round")]
    by_round = frame.group_by("round").agg(*[pl.col(c).mean() for c in columns]).sort("round")
    first, last = by_round.row(0, named=True), by_round.row(-1, named=True)
    return {
        "by_round": by_round.to_dicts(),
        "against_shipped_round_1": {
            c: {"first": first[c] / first["shipped"], "last": last[c] / first["shipped"]} for c in columns if c != "probability_level"
        },
    }


def main() -> None:
    parser = sequence_parser(__doc__.splitlines()[0])
    parser.add_argument("--rounds", type=int, nargs="+", help="only these rounds (default: every one stored)")
    args = parser.parse_args()
    sequences = stored_sequences(args)
    rows = []
    for folder in sequences:
        for r in [r for r in rounds(folder) if args.rounds is None or r in args.rounds]:
            rows.append(floor_row(folder, r))
            print(" ".join(f"{k} {v:.3f}" if isinstance(v, float) else f"{k} {v}" for k, v in rows[-1].items()), flush=True)
    frame = pl.DataFrame(rows)
    result = summary(frame)
    with pl.Config(tbl_cols=20, float_precision=3, tbl_width_chars=250):
        print(pl.DataFrame(result["by_round"]))
    print(json.dumps(result["against_shipped_round_1"], indent=1))
    out = RESULTS / f"loop-floor-{args.label}.json"
    out.write_text(json.dumps({"command": " ".join(["python", "bench/loop_floor.py", *sys.argv[1:]]), "rows": rows, **result}, indent=1))


if __name__ == "__main__":
    main()
