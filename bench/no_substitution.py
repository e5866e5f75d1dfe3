"""Benchmark: without substitution, the consumer-category valuation that counts outside purchases and the
estimated pulls (φ, φ_x) against the valuation before them, on the same estimates.

For each seed and promotion policy the simulator runs with its default independent pairs; the forward
decision is made twice from the run's estimates by pipeline.optimize (no experiment arms):
* "current": as `offerwise run` decides;
* "previous": with the inputs the valuation had before (no prepared/outside_items.parquet, no
  others_slope / cross_category_others columns: the cross slopes θ alone);
* "cautious slopes": as "current", each pair's slope at the 25th percentile of its posterior whichever
  way the offer moves (bench/substitution.py's variant; optimize.response_caution = "slope");
* "mean slopes": as "current", each pair's slope at its posterior mean (optimize.response_quantile = 0.5),
  the default before the change caution (the 25th percentile where an offer rises, the 75th where it falls).
Results before that default (e.g. no-substitution-caution-change.json) have "current" at the mean and
the change caution as "cautious change".
Per plan: the per-pair policy score against the rules oracle (report/policy.py) and the no-offer share.
The target (#28): the current valuation within 0.02 of the previous one.

    python bench/no_substitution.py [--seeds 21 22 23] [--label NAME] [--reuse]

--reuse decides again from the run folders a previous call left (their estimates, today's decision).

Results: bench/results/no-substitution.json (with --label, no-substitution-<label>.json) and one line per run on stdout.
"""

from __future__ import annotations

import argparse
import json
import shutil
from pathlib import Path

import substitution
from decision import measure

import offerwise.pipeline.decide as decide
from offerwise import pipeline
from offerwise.config import Config

RESULTS = Path(__file__).parent / "results"
WORK = Path("results-work") / "no-substitution"
NEW_COLUMNS = ["others_slope", "cross_category_others"]


def decided(out: Path, cfg: Config, name: str, previous: bool, variant: str = "interactions") -> Path:
    """The forward decision from the run's estimates (substitution.decide, one of its VARIANTS) into out/variants/<name>."""
    folder = out / "variants" / name
    shutil.rmtree(folder, ignore_errors=True)
    inputs, outside = decide.optimization_inputs, decide._outside_items
    if previous:  # the inputs as the valuation before outside purchases and the pulls had them
        decide.optimization_inputs = lambda *a, **k: inputs(*a, **{**k, "outside": None}).drop(NEW_COLUMNS, strict=False)
        decide._outside_items = lambda panel, fold: None
    try:
        made, _ = substitution.decide(out, cfg, variant)
    finally:
        decide.optimization_inputs, decide._outside_items = inputs, outside
    made.rename(folder)
    return folder


def score(out: Path, folder: Path, cfg: Config) -> dict:
    """The plan's per-pair policy score and no-offer share (bench/decision.py's 'all' row)."""
    row = measure(out, folder, cfg, cfg.optimize)[-1]
    return {"score": row["score"], "no_offer_share": row["no_offer_share"]}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--seeds", type=int, nargs="+", default=[21, 22, 23])
    parser.add_argument("--label", default=None, help="results in no-substitution-<label>.json (default: no-substitution.json)")
    parser.add_argument("--reuse", action="store_true", help="decide again from the run folders a previous call left")
    args = parser.parse_args()
    rows = []
    for policy in ("random", "targeted"):
        for seed in args.seeds:
            cfg = Config().override("simulation", seed=seed, promotion_policy=policy, substitution=False)
            out = WORK / f"{policy}-{seed}"
            if not args.reuse:
                shutil.rmtree(out, ignore_errors=True)  # a run left by older code would resume with its estimates
            pipeline.run("simulated", out, cfg, log=lambda m: None)
            current, previous = (score(out, decided(out, cfg, name, name == "previous"), cfg) for name in ("current", "previous"))
            cautious = score(out, decided(out, cfg, "cautious", False, "cautious slopes"), cfg)
            mean = score(out, decided(out, cfg, "mean-slopes", False, "mean slopes"), cfg)
            row = {
                "policy": policy,
                "seed": seed,
                **current,
                **{f"{k}_previous": v for k, v in previous.items()},
                **{f"{k}_cautious_slopes": v for k, v in cautious.items()},
                **{f"{k}_mean_slopes": v for k, v in mean.items()},
            }
            print(
                f"{policy:8} seed {seed}: per-pair score {row['score']:.3f} (previous {row['score_previous']:.3f}, "
                f"cautious slopes {row['score_cautious_slopes']:.3f}, mean slopes {row['score_mean_slopes']:.3f})",
                flush=True,
            )
            rows.append(row)
    RESULTS.mkdir(parents=True, exist_ok=True)
    (RESULTS / ("no-substitution.json" if args.label is None else f"no-substitution-{args.label}.json")).write_text(
        json.dumps({"rows": rows}, indent=1) + "\n"
    )


if __name__ == "__main__":
    main()
