"""Diagnostic benchmark: where the double-ML category slopes' error comes from, on the project's simulator.

For each seed and promotion policy it estimates the forward decision's category slopes (the labelled
periods up to the last cutoff, as `offerwise run` does) four ways and compares each with the mean
true slope (`true_a`) over the same labelled rows:

* `linear`, `logistic`: the estimator as shipped, with either final stage;
* `oracle_linear`, `oracle_logistic`: the same with the simulator's true baseline logit `true_b`
  (every demand shock and every consumer-item intercept) added to the controls. No confounder is
  then left out; what error remains comes from the nuisances' fit and the final stage;

and, for scale, `offset_mle`: one logistic slope per category fitted by maximum likelihood with
`true_b` as a known offset, on every considered pair of the ground truth (no estimation of any
nuisance). It says how far the truth's own spread of slopes, weighted as a likelihood weighs it, sits
from their plain mean.

    python bench/response_oracle.py [--seeds 7 11 12 13 14] [--policies random targeted] [--work results-work/response/oracle]

Each (policy, seed) is simulated and prepared in its work folder unless already there. Results:
bench/results/response-oracle.json and a table on stdout.
"""

from __future__ import annotations

import argparse
import datetime as dt
import json
import time
from pathlib import Path

import numpy as np
import polars as pl
import statsmodels.api as sm

from offerwise import pipeline
from offerwise.config import Config
from offerwise.elasticity.dml import OfferResponse
from offerwise.features.manifest import Feature

RESULTS = Path(__file__).parent / "results" / "response-oracle.json"
ORACLE = Feature("true_b", "lag", "temporal_continuous", "float32", "the simulator's true baseline logit (oracle)")


def _prepared(out: Path, cfg: Config) -> pipeline.Prepared:
    from offerwise.data.simulate import simulate
    from offerwise.data.simulate_frames import write_simulation

    if not (out / "prepared" / "splits.csv").is_file():
        write_simulation(simulate(cfg.simulation), out / "data", cfg.simulation)
        pipeline.prepare(str(out / "data"), out / "prepared", cfg)
    return pipeline.read_prepared(out / "prepared")


def truth_rows(data: Path, p: pipeline.Prepared, like: pl.DataFrame) -> pl.DataFrame:
    """A simulation's ground truth rows (`data`: its folder) with the panel's period index and id
    types of `like`: customer_id, item_id, period, category, offer_pct, purchased, true_a, true_b, ..."""
    anchor, days = dt.date.fromisoformat(p.manifest["anchor"]), int(p.manifest["period_days"])
    return (
        pl.read_parquet(data / "ground_truth.parquet")
        .with_columns(period=((pl.col("period_start") - pl.lit(anchor)).dt.total_days() // days).cast(like.schema["period"]))
        .cast({"customer_id": like.schema["customer_id"], "item_id": like.schema["item_id"]})
    )


def offset_mle(t: np.ndarray, y: np.ndarray, offset: np.ndarray) -> float:
    """The logistic slope of y on t (no intercept) with a known offset: statsmodels' binomial GLM."""
    return float(sm.GLM(y, t[:, None], family=sm.families.Binomial(), offset=offset).fit().params[0])


def measure(out: Path, cfg: Config) -> list[dict]:
    p = _prepared(out, cfg)
    fold = p.forward_fold
    cutoff = p.decided_period(fold) - 1
    rows = p.frame.filter((pl.col("relevant_from_fold") <= fold) & (pl.col("period") <= cutoff + 1))
    truth = truth_rows(out / "data", p, rows)
    rows = rows.join(
        truth.select("customer_id", "item_id", "period", "true_a", "true_b"), on=["customer_id", "item_id", "period"], how="left"
    )
    periods = cfg.response.periods
    labelled = rows.filter((pl.col("period") > cutoff - periods) & (pl.col("period") <= cutoff) & pl.col("target").is_not_null())
    result = labelled.group_by(pl.col("category").cast(pl.String)).agg(true_mean=pl.col("true_a").mean(), rows=pl.len())
    window = truth.filter((pl.col("period") > cutoff - periods) & (pl.col("period") <= cutoff))
    mle = [
        {
            "category": str(c),
            "offset_mle": offset_mle(*(g.get_column(k).to_numpy().astype(float) for k in ("offer_pct", "purchased", "true_b"))),
            "true_mean_considered": float(g.get_column("true_a").mean()),
        }
        for (c,), g in window.group_by("category")
    ]
    result = result.join(pl.DataFrame(mle), on="category", how="left")
    for name, stage, features in (
        ("linear", "linear", p.features),
        ("logistic", "logistic", p.features),
        ("oracle_linear", "linear", [*p.features, ORACLE]),
        ("oracle_logistic", "logistic", [*p.features, ORACLE]),
    ):
        options = cfg.response.model_copy(update={"periods": periods, "final_stage": stage})
        est = OfferResponse(options).fit(rows, features, cutoff=cutoff).estimate_.categories
        result = result.join(
            est.select("category", pl.col("slope").alias(name), pl.col("se").alias(f"{name}_se")), on="category", how="left"
        )
    names = ["linear", "logistic", "oracle_linear", "oracle_logistic", "offset_mle"]
    return result.with_columns(
        *[(pl.col(n) / pl.col("true_mean") - 1).alias(f"{n}_error") for n in names],
        *[(pl.col(f"{n}_se") / pl.col("true_mean")).alias(f"{n}_se_rel") for n in names[:4]],
    ).to_dicts()


def run_arguments(results: Path) -> argparse.Namespace:
    """The command line of this bench and of its siblings that read the same work folders."""
    parser = argparse.ArgumentParser()
    parser.add_argument("--seeds", type=int, nargs="+", default=[7, 11, 12, 13, 14])
    parser.add_argument("--policies", nargs="+", default=["random", "targeted"])
    parser.add_argument("--config", type=Path, default=None)
    parser.add_argument("--work", type=Path, default=Path("results-work") / "response" / "oracle")
    parser.add_argument("--results", type=Path, default=results)
    return parser.parse_args()


def main() -> None:
    args = run_arguments(RESULTS)
    base, results = Config.from_toml(args.config), []
    for policy in args.policies:
        for seed in args.seeds:
            started = time.perf_counter()
            rows = measure(args.work / f"{policy}-{seed}", base.override("simulation", seed=seed, promotion_policy=policy))
            results += [{"policy": policy, "seed": seed, "seconds": round(time.perf_counter() - started), **r} for r in rows]
            print(f"{policy:8} seed {seed:3}: " + "  ".join(
                f"{r['category'][:8]} {r['linear_error']:+.0%}/{r['logistic_error']:+.0%}/{r['oracle_linear_error']:+.0%}/"
                f"{r['oracle_logistic_error']:+.0%}/{r['offset_mle_error']:+.0%}" for r in rows), flush=True)  # fmt: skip
            args.results.parent.mkdir(parents=True, exist_ok=True)
            args.results.write_text(json.dumps({"config": str(args.config), "rows": results}, indent=1) + "\n")
    table = (
        pl.DataFrame(results)
        .group_by("policy")
        .agg(
            *[
                pl.col(f"{n}_error").abs().mean().alias(f"{n}_mae")
                for n in ("linear", "logistic", "oracle_linear", "oracle_logistic", "offset_mle")
            ],
            *[
                pl.col(f"{n}_error").mean().alias(f"{n}_bias")
                for n in ("linear", "logistic", "oracle_linear", "oracle_logistic", "offset_mle")
            ],
        )
    )
    with pl.Config(tbl_cols=20, float_precision=3, tbl_width_chars=250):
        print(table)


if __name__ == "__main__":
    main()
