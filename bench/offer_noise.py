"""Benchmark: is the inferred offer's sampling variance (panel column offer_noise_var) right?

An offer inferred from other buyers' discounts is a ratio estimator, D / G over consumers, and
`offerwise.features.offers.loo_rate_and_variance` gives its delta-method variance clustered by
consumer. The offer response divides each category's slope by the share of the offer variation that
is not this variance (docs/response.md), so a variance that is too small under-corrects and one too
large over-corrects. Split-half check on real data: each item-period's buyers are split at random
into two halves; each half's rate is an independent estimate of the same offer, so
E[(R_A − R_B)²] = var_A + var_B. Per category, the ratio of the observed mean squared difference to
the predicted one should be near 1.

    python bench/offer_noise.py [--data complete-journey] [--seeds 0 1 2]

Writes bench/results/offer-noise-<data>.json and a table on stdout.
"""

from __future__ import annotations

import argparse
import json
from pathlib import Path

import numpy as np
import polars as pl

from offerwise.data.load import load_data
from offerwise.features.offers import loo_rate_and_variance

RESULTS = Path(__file__).parent / "results"
PERIOD_DAYS = 14
MIN_HALF = 2  # consumers per half: fewer cannot measure a variance


def consumer_sums(data) -> pl.DataFrame:
    """One row per item, period and consumer: discount d and gross g (as the panel builder sums them)."""
    tx = data.transactions.join(data.items.select("item_id", "category"), on="item_id")
    day = pl.col("timestamp").dt.date()
    return (
        tx.with_columns(
            gross=pl.col("paid") + pl.col("retail_discount") + pl.col("coupon_discount"),
            period=(day - day.min()).dt.total_days() // PERIOD_DAYS,
        )
        .group_by("category", "item_id", "period", "customer_id")
        .agg(d=pl.col("retail_discount").sum(), g=pl.col("gross").sum())
        .filter(pl.col("g") > 0)
    )


def split_half(sums: pl.DataFrame, seed: int) -> pl.DataFrame:
    """Per item-period with enough buyers in both halves: each half's rate and predicted variance."""
    half = pl.Series("half", np.random.default_rng(seed).integers(0, 2, sums.height))
    per_half = (
        sums.with_columns(half)
        .group_by("category", "item_id", "period", "half")
        .agg(
            disc=pl.col("d").sum(),
            gross=pl.col("g").sum(),
            dd=(pl.col("d") ** 2).sum(),
            dg=(pl.col("d") * pl.col("g")).sum(),
            gg=(pl.col("g") ** 2).sum(),
            clusters=pl.len().cast(pl.Float64),
        )
        .filter(pl.col("clusters") >= MIN_HALF)
    )
    arrays = {c: per_half.get_column(c).to_numpy() for c in ("disc", "gross", "dd", "dg", "gg", "clusters")}
    zero = np.zeros(per_half.height)
    rate, var = loo_rate_and_variance(arrays, zero, zero)
    halves = per_half.select("category", "item_id", "period", "half").with_columns(rate=rate, var=var)
    a, b = (halves.filter(pl.col("half") == h).drop("half") for h in (0, 1))
    return a.join(b, on=["category", "item_id", "period"], suffix="_b").drop_nulls()


def check(data_name: str, seeds: list[int]) -> pl.DataFrame:
    sums = consumer_sums(load_data(data_name))
    parts = [split_half(sums, seed).with_columns(seed=pl.lit(seed)) for seed in seeds]
    both = pl.concat(parts)
    return (
        both.group_by("category")
        .agg(
            item_periods=(pl.len() / len(seeds)).round(0).cast(pl.Int64),
            observed=((pl.col("rate") - pl.col("rate_b")) ** 2).mean(),
            predicted=(pl.col("var") + pl.col("var_b")).mean(),
            rate_sd=pl.concat_list("rate", "rate_b").list.mean().std(),
        )
        .with_columns(ratio=pl.col("observed") / pl.col("predicted"))
        .sort("item_periods", descending=True)
    )


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--data", default="complete-journey")
    parser.add_argument("--seeds", type=int, nargs="+", default=[0, 1, 2])
    args = parser.parse_args()
    table = check(args.data, args.seeds)
    with pl.Config(tbl_rows=40, tbl_width_chars=120, float_precision=3, tbl_hide_dataframe_shape=True):
        print("Split-half check of the inferred offer's variance (offer points²): observed E[(R_A − R_B)²] / predicted var_A + var_B")
        print(table)
    pooled = float(
        table.get_column("observed").dot(table.get_column("item_periods"))
        / table.get_column("predicted").dot(table.get_column("item_periods"))
    )
    print(f"all categories (weighted by item-periods): observed / predicted = {pooled:.3f}")
    RESULTS.mkdir(exist_ok=True)
    name = Path(args.data).name or args.data
    out = RESULTS / f"offer-noise-{name}.json"
    out.write_text(json.dumps({"data": args.data, "seeds": args.seeds, "pooled_ratio": pooled, "rows": table.to_dicts()}, indent=1))
    print(f"wrote {out}")


if __name__ == "__main__":
    main()
