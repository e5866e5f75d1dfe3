"""The experiment in every forward plan: a randomised holdout and a little exploration (docs/experiment.md).

Arms come from a hash of (key, customer_id[, item_id]), key = "<experiment.seed>:<the decided
fortnight's first day>": the same data and config give the same arms whatever the row order, and
each fortnight draws a fresh holdout.
* holdout: within each of `strata` quantiles of the consumers' expected uplift, the consumers with
  the smallest hash, round(share x stratum size) of them: they keep the status quo offers.
* explore: a pair of another consumer whose own hash is below `explore_share` gets an allowed level
  of its category drawn uniformly (a third hash), the status quo's level too if it is one.
* plan: the rest.
propensity = the probability the pair had of its given offer, given its consumer's arm: 1 in the
holdout; (1 - e) 1[given = plan] + e 1[given in L] / |L| otherwise (e = explore_share, L = levels).
"""

from __future__ import annotations

import datetime as dt
import hashlib

import numpy as np
import polars as pl

MASK = np.uint64(0xFFFFFFFFFFFFFFFF)
HOLDOUT, EXPLORE, PLAN = "holdout", "explore", "plan"


def experiment_key(seed: int, period_start: dt.date) -> str:
    return f"{seed}:{period_start.isoformat()}"


def _mix(x: np.ndarray) -> np.ndarray:
    """splitmix64's finaliser: a stable, vectorised hash of 64-bit integers (numpy's and polars' own
    hashes are not promised stable across versions, and arms must be reproducible)."""
    with np.errstate(over="ignore"):
        x = (x ^ (x >> np.uint64(30))) * np.uint64(0xBF58476D1CE4E5B9)
        x = (x ^ (x >> np.uint64(27))) * np.uint64(0x94D049BB133111EB)
        return x ^ (x >> np.uint64(31))


def uniform(key: str, purpose: str, *ids: np.ndarray) -> np.ndarray:
    """A uniform number in [0, 1) per row of `ids` (integer columns), fixed by key and purpose."""
    seed = int.from_bytes(hashlib.blake2b(f"{key}/{purpose}".encode(), digest_size=8).digest(), "little")
    h = np.full(len(ids[0]), seed, dtype=np.uint64)
    with np.errstate(over="ignore"):
        for column in ids:
            h = _mix(h ^ np.asarray(column).astype(np.int64).view(np.uint64))
    return (h >> np.uint64(11)).astype(np.float64) / float(1 << 53)


def holdout_consumers(plan: pl.DataFrame, share: float, strata: int, key: str) -> pl.DataFrame:
    """customer_id, holdout (bool): round(share x n) consumers of each uplift stratum, by hash order."""
    consumers = plan.group_by("customer_id").agg(uplift=pl.col("expected_uplift").sum()).sort("customer_id")
    n = consumers.height
    consumers = consumers.with_columns(
        u=pl.Series(uniform(key, HOLDOUT, consumers.get_column("customer_id").to_numpy())),
        stratum=(pl.col("uplift").rank("ordinal") - 1) * min(strata, max(n, 1)) // max(n, 1),
    )
    ranked = consumers.with_columns(
        order=pl.col("u").rank("ordinal").over("stratum"),
        size=pl.len().over("stratum"),
    )
    return ranked.select("customer_id", holdout=pl.col("order") <= (pl.col("size") * share).round(0))


def with_arms(
    plan: pl.DataFrame, levels: dict[str, list[float]], *, holdout_share: float, explore_share: float, strata: int, key: str
) -> pl.DataFrame:
    """The plan (recommended_offer_pct: the plan's offer) with arm, propensity, plan_offer_pct and the
    offer to give in recommended_offer_pct. `levels`: each category's allowed levels for exploration."""
    arms = holdout_consumers(plan, holdout_share, strata, key)
    frame = plan.join(arms, on="customer_id", how="left").with_columns(plan_offer_pct=pl.col("recommended_offer_pct"))
    ids = (frame.get_column("customer_id").to_numpy(), frame.get_column("item_id").to_numpy())
    allowed = pl.DataFrame(
        {"_category": list(levels), "_levels": [list(v or []) for v in levels.values()]},
        schema={"_category": pl.String, "_levels": pl.List(pl.Float64)},
    )
    frame = (  # each row's category levels, by a join: a list column built row by row took seconds
        frame.with_columns(_category=pl.col("category").cast(pl.String), _u=pl.Series(uniform(key, "level", *ids)))
        .join(allowed, on="_category", how="left", maintain_order="left")
        .with_columns(pl.col("_levels").fill_null(pl.lit([], pl.List(pl.Float64))))
        .with_columns(_size=pl.col("_levels").list.len().cast(pl.Float64))
        .with_columns(_drawn=pl.col("_levels").list.get((pl.col("_u") * pl.col("_size")).floor().cast(pl.Int64), null_on_oob=True))
    )
    explore = (uniform(key, EXPLORE, *ids) < explore_share) & ~frame.get_column("holdout").to_numpy()
    explore &= frame.get_column("_size").to_numpy() > 0  # a category without levels is not explored
    frame = frame.with_columns(
        arm=pl.when("holdout").then(pl.lit(HOLDOUT)).when(pl.Series(explore)).then(pl.lit(EXPLORE)).otherwise(pl.lit(PLAN))
    ).with_columns(
        recommended_offer_pct=pl.when(pl.col("arm") == HOLDOUT)
        .then(pl.col("reference_offer_pct"))
        .when(pl.col("arm") == EXPLORE)
        .then(pl.col("_drawn"))
        .otherwise(pl.col("plan_offer_pct"))
    )
    e = pl.when(pl.col("_size") > 0).then(explore_share).otherwise(0.0)  # a category without levels is never explored
    in_levels = pl.col("_levels").list.contains(pl.col("recommended_offer_pct")).cast(pl.Float64)
    same = (pl.col("recommended_offer_pct") == pl.col("plan_offer_pct")).cast(pl.Float64)
    logged = (1 - e) * same + pl.when(pl.col("_size") > 0).then(e * in_levels / pl.col("_size")).otherwise(0.0)
    frame = frame.with_columns(propensity=pl.when(pl.col("arm") == HOLDOUT).then(1.0).otherwise(logged))
    return frame.drop("holdout", "_category", "_u", "_drawn", "_levels", "_size")
