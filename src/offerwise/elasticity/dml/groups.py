"""The heterogeneity groups of a row (docs/response.md): age, price tercile, past-response quintile
and share tercile (the pair's share of the consumer's category purchases: an item a consumer mostly
buys gains less from its own offer, the purchase it adds is one the category would have had), the
quantiles cut within each category on the estimate's rows and stored with it, so that the decided
pairs are labelled by the same cut points."""

from __future__ import annotations

import numpy as np
import polars as pl

from offerwise.columns import age_column

PRICE_COLUMN = "i_regular_price"
LEVELS = ("age", "price", "past_response", "share")
QUANTILES = {"price": 3, "past_response": 5, "share": 3}  # groups per level (quantiles within category)
CUT = ("price", "past_response", "share")  # the levels cut into quantiles
SHARE_COLUMN = "ci_category_share"  # the pair's share of the consumer's category purchases (features/interactions.py)
MISSING = "missing"


def _past_response(frame: pl.DataFrame) -> pl.Expr:
    """The consumer's past response to offers at the row's period: the mean over the consumer's rows
    of that period of (offer % on the pair's own purchases − the offer % the item carried over the
    last 8 periods). A consumer who buys when offers are deep scores high; pairs without purchases
    (ci_hist_offer_pct falls back to the item's history) score about 0. Pre-period features only."""
    if "ci_hist_offer_pct" not in frame.columns:
        return pl.lit(None, pl.Float64)
    lag = next((c for c in ("lag_offer_pct_mean_8", "lag_offer_pct_mean_4", "lag_offer_pct_mean_2") if c in frame.columns), None)
    own = pl.col("ci_hist_offer_pct").cast(pl.Float64) - (pl.col(lag).cast(pl.Float64).fill_null(0.0) if lag else 0.0)
    return own.mean().over("customer_id", "period")


def _group_frame(frame: pl.DataFrame) -> pl.DataFrame:
    """customer_id, item_id, category and the raw values behind the groups."""
    age = age_column(frame)
    return frame.select(
        "customer_id",
        "item_id",
        pl.col("category").cast(pl.String),
        __age=(pl.col(age).cast(pl.String).fill_null(MISSING) if age else pl.lit(MISSING)),
        __price=(pl.col(PRICE_COLUMN).cast(pl.Float64) if PRICE_COLUMN in frame.columns else pl.lit(None, pl.Float64)),
        __past_response=_past_response(frame) if "period" in frame.columns else pl.lit(None, pl.Float64),
        __share=(pl.col(SHARE_COLUMN).cast(pl.Float64) if SHARE_COLUMN in frame.columns else pl.lit(None, pl.Float64)),
    )


def _quantile_cuts(values: np.ndarray, k: int) -> list[float]:
    v = values[np.isfinite(values)]
    return [float(x) for x in np.unique(np.quantile(v, np.arange(1, k) / k))] if v.size else []


def _quantile_label(expr: pl.Expr, cuts: list[float] | None) -> pl.Expr:
    """q1 (lowest) ... qk; MISSING for nulls and for a category without cut points."""
    if cuts is None:
        return pl.lit(MISSING)
    label = pl.lit("q1")
    for k, c in enumerate(cuts, start=2):
        label = pl.when(expr > c).then(pl.lit(f"q{k}")).otherwise(label)
    return pl.when(expr.is_null() | expr.is_nan()).then(pl.lit(MISSING)).otherwise(label)


def _fit_cuts(frame: pl.DataFrame) -> dict:
    cuts = {}
    for (category,), part in _group_frame(frame).group_by("category"):
        for level in CUT:
            cuts[(category, level)] = _quantile_cuts(part.get_column(f"__{level}").to_numpy(), QUANTILES[level])
    return cuts


def _group_columns(frame: pl.DataFrame, cuts: dict) -> pl.DataFrame:
    """customer_id, item_id, category, __g_age, __g_price, __g_past_response, __g_share (group labels),
    in the frame's order."""
    g = _group_frame(frame).with_row_index("__row")
    parts = [
        part.with_columns(**{f"__g_{lv}": _quantile_label(pl.col(f"__{lv}"), cuts.get((category, lv))) for lv in CUT})
        for (category,), part in g.group_by("category")
    ]
    if not parts:
        return g.select("customer_id", "item_id", "category", *(pl.lit(None, pl.String).alias(f"__g_{lv}") for lv in LEVELS))
    return (
        pl.concat(parts)
        .sort("__row")
        .select("customer_id", "item_id", "category", pl.col("__age").alias("__g_age"), *(f"__g_{lv}" for lv in CUT))
    )


def _labels(groups: pl.DataFrame) -> dict[str, np.ndarray]:
    return {lv: groups.get_column(f"__g_{lv}").cast(pl.String).fill_null(MISSING).to_numpy() for lv in LEVELS}
