"""The elasticity stage as one call: a decision's category fits, per-pair slopes and offer response.

The hub scores the pairs (per shard, on its engine) with `scores.pair_scores_of_shard`, reads the
stack's inputs and any earlier estimate, then calls `decision_response` once and writes what it returns.
"""

from __future__ import annotations

from collections.abc import Callable
from concurrent.futures import Executor, Future, ThreadPoolExecutor
from dataclasses import dataclass

import numpy as np
import polars as pl
from scipy.stats import norm

from offerwise.columns import PAIR
from offerwise.config import ResponseConfig
from offerwise.elasticity.dml import OfferResponse, ResponseEstimate, placebo
from offerwise.elasticity.dml.cross import CROSS_CATEGORY, POOLED, cross_response, has_interactions, with_own_identification
from offerwise.elasticity.scores import PairScores, from_scores, stacked
from offerwise.features.manifest import Feature


class _Now:
    """An executor that runs each call at once, in this thread (offer_response without a pool)."""

    def submit(self, fn, *args, **kwargs) -> Future:
        done: Future = Future()
        done.set_result(fn(*args, **kwargs))
        return done


_NOW = _Now()


@dataclass
class DecisionResponse:
    fits: pl.DataFrame  # elasticity.csv: the category sigmoids
    pairs: pl.DataFrame  # pair_elasticity.parquet: per pair, with the double-ML slopes when estimated
    estimate: ResponseEstimate | None = None  # the double-ML estimate (response.csv, response_groups.csv, response_estimate.json)
    placebo: pl.DataFrame | None = None  # response_placebo.csv
    cross: pl.DataFrame | None = None  # cross_response.csv: the cross effects (elasticity/dml/cross.py)
    cross_placebo: pl.DataFrame | None = None  # cross_response_placebo.csv


def response_rows(frame: pl.DataFrame, fold: int, cutoff: int, *, decided_only: bool = False) -> pl.DataFrame:
    """The panel rows the offer response of decision `fold` may read: pairs relevant by then, periods up
    to the decided one (`decided_only`: that period alone, all an estimate made before needs)."""
    periods = pl.col("period") == cutoff + 1 if decided_only else pl.col("period") <= cutoff + 1
    return frame.filter((pl.col("relevant_from_fold") <= fold) & periods)


def offer_response(
    rows: pl.DataFrame,
    features: list[Feature],
    *,
    cutoff: int,
    cfg: ResponseConfig,
    estimate: ResponseEstimate | None = None,
    with_placebo: bool = False,
    log: Callable[[str], None] = lambda message: None,
    pool: Executor | None = None,
) -> tuple[ResponseEstimate, pl.DataFrame | None, pl.DataFrame]:
    """Double/debiased-ML offer slopes from the periods up to the cutoff (elasticity/dml/), or the
    `estimate` given (an earlier decision's: it only read periods before this one's, so nothing leaks).
    Returns (estimate, placebo table or None, the decided pairs' customer_id, item_id, dml_slope,
    dml_slope_sd, dml_slope_category_se)."""
    placebo_job = None
    if with_placebo:
        log("offer response placebo (offers permuted within item)")
        placebo_job = (pool or _NOW).submit(placebo, rows, features, cfg, cutoff=cutoff)
    if estimate is None:
        log("offer response (double ML)")
        estimate = OfferResponse(cfg).fit(rows, features, cutoff=cutoff).estimate_
    permuted = None if placebo_job is None else placebo_job.result()
    slopes = estimate.pair_slopes(rows.filter(pl.col("period") == cutoff + 1))
    return estimate, permuted, slopes.select(*PAIR, dml_slope="slope_mean", dml_slope_sd="slope_sd", dml_slope_category_se="category_se")


def cross_effects(
    rows: pl.DataFrame,
    features: list[Feature],
    *,
    cutoff: int,
    cfg: ResponseConfig,
    cross: pl.DataFrame | None = None,
    with_placebo: bool = False,
    log: Callable[[str], None] = lambda message: None,
) -> tuple[pl.DataFrame | None, pl.DataFrame | None]:
    """(cross effects, their placebo or None), from the periods up to the cutoff or the `cross` table
    given (an earlier decision's); (None, None) when cfg.cross is off or the panel has no interaction features."""
    if not cfg.cross or not has_interactions(rows):
        return None, None
    if cross is not None:  # an earlier decision's estimate: its placebo is that decision's
        return cross, None
    log("cross effects (double ML)" + (", and their placebo (pressures permuted within category-period)" if with_placebo else ""))
    return cross_response(rows, features, cfg, cutoff=cutoff, placebo=with_placebo)


def _cross_category_pulls(cross: pl.DataFrame, level: float) -> tuple[dict[str, float], dict[str, float]]:
    """φ_x per category (its offers' pull on the consumer's other categories, shrunk toward the pooled
    φ_x) where a cross-category pull is found at `level`, else 0 for every category; and their SEs (0
    where none is counted). Found: the CROSS_CATEGORY row's combined_z (θ_x's and φ_x's evidence
    together, elasticity/dml/cross.py) beyond the level's z, or in a table without it (an earlier
    version's) φ_x's own interval excluding 0. One category's interval is too wide to find a pull
    alone, and the shrinkage keeps what its own rows say of it. A table without the per-category
    columns: the pooled φ_x for every category."""
    row = cross.filter(pl.col("category") == CROSS_CATEGORY).row(0, named=True)
    z = row.get("combined_z")
    if z is None or not np.isfinite(z):  # an earlier table: φ_x's own evidence
        z = row["others_slope"] / row["others_se"] if row["others_se"] > 0 else 0.0
    if abs(z) <= norm.ppf(0.5 + level / 2):
        return {POOLED: 0.0}, {POOLED: 0.0}
    if "others_x_slope" not in cross.columns:
        return {POOLED: float(row["others_slope"])}, {POOLED: float(row["others_se"])}
    per_category = cross.filter(pl.col("category") != CROSS_CATEGORY)
    return dict(per_category.select("category", "others_x_slope").rows()), dict(per_category.select("category", "others_x_se").rows())


def with_cross_slopes(pairs: pl.DataFrame, cross: pl.DataFrame, level: float = 0.9) -> pl.DataFrame:
    """pairs with cross_slope and cross_slope_high (their category's slope and its interval's upper end,
    the pooled one's where it has none), cross_category_slope, and others_slope, others_se (φ_c and its SE) and cross_category_others, cross_category_others_se
    (the category's φ_x and its SE where a cross-category pull is found at `level`, else 0: _cross_category_pulls) where the table has them (an earlier version's has not: the optimiser then uses the cross slopes alone)."""
    of = lambda column: dict(zip(cross.get_column("category").to_list(), cross.get_column(column).to_list(), strict=True))  # noqa: E731
    slope_of, high_of = of("cross_slope"), of("high")
    per_category = lambda values: pl.col("category").cast(pl.String).replace_strict(values, default=values[POOLED], return_dtype=pl.Float64)  # noqa: E731
    others = {}
    if "others_slope" in cross.columns:
        pulls, pull_ses = _cross_category_pulls(cross, level)
        others = {
            "others_slope": per_category(of("others_slope")),
            "others_se": per_category(of("others_se")),
            "cross_category_others": per_category(pulls),
            "cross_category_others_se": per_category(pull_ses),
        }
    return pairs.with_columns(
        cross_slope=per_category(slope_of),
        cross_slope_high=per_category(high_of),
        cross_category_slope=pl.lit(slope_of[CROSS_CATEGORY]),
        **others,
    )


def decision_response(
    parts: list[dict],
    status_quo: pl.DataFrame,
    *,
    decided: int,
    stack: tuple[pl.DataFrame, pl.DataFrame] | None = None,
    response: dict | None = None,
    log: Callable[[str], None] = lambda message: None,
) -> DecisionResponse:
    """parts: pair_scores_of_shard's answers, one per shard; stack: the fold's stack weights and
    LightGBM's probabilities (each pair's probability is then the stack's); response: offer_response's
    keyword arguments (rows, features, cutoff, cfg, estimate, with_placebo), None for no double-ML estimate."""
    fits, pairs = [], []
    for key in sorted({key for part in parts for key in part}):
        log(f"elasticity · {key[1]}")
        f, pr = from_scores(PairScores.combine([part[key] for part in parts if key in part]), status_quo)
        if stack is not None:
            pr = stacked(pr, *stack)
        fits += f
        pairs.append(pr.with_columns(period=pl.lit(decided, pl.Int32)))
    if not fits:
        return DecisionResponse(pl.DataFrame(), pl.DataFrame())
    out = DecisionResponse(pl.DataFrame(fits, infer_schema_length=None), pl.concat(pairs))
    if response is not None:  # the orthogonalised estimate, beside the model's counterfactual slopes
        cross_args = {"cross": response.pop("cross", None)}
        keys = ("rows", "features", "cutoff", "cfg", "with_placebo")
        # The estimate, its placebo and the cross effects are independent fits whose time is LightGBM's,
        # which releases the GIL: side by side they share the cores. Each fit is seeded and
        # single-threaded, so its numbers are the same as one after the other.
        with ThreadPoolExecutor(max_workers=2) as pool:
            cross = pool.submit(cross_effects, **{k: response[k] for k in keys}, **cross_args, log=log)
            out.estimate, out.placebo, slopes = offer_response(**response, log=log, pool=pool)
            out.cross, out.cross_placebo = cross.result()
        out.pairs = out.pairs.join(slopes, on=PAIR, how="left")
        if out.cross is not None:  # the pulls identified as the own slope is
            own = out.estimate.categories
            out.cross, out.cross_placebo = (None if t is None else with_own_identification(t, own) for t in (out.cross, out.cross_placebo))
            out.pairs = with_cross_slopes(out.pairs, out.cross, response["cfg"].level)
    return out
