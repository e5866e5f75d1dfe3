"""The forward plan's numbers for a person (pure, over the offers frame): what it is worth and what it
costs against the status quo, per category and in total, with the interval the offer-response
estimate gives; and the backtest's predicted against realised purchase rates.

Worth: expected net revenue Σ p(o)·price·(1 − o/100) of the plan against the status quo's.
Cost: expected discount spend Σ p(o)·price·o/100, the discount given on the expected purchases.
Interval (response "dml" only): each category's slope moved to the ends of its interval (response.level)
with the pairs' own deviations kept, all categories together; the other offers' effect on a pair's
logit is held. It covers the offer response's uncertainty, not the purchase model's error in p.
"""

from __future__ import annotations

import numpy as np
import polars as pl
from scipy.stats import norm

from offerwise.columns import PAIR
from offerwise.optimize.recommendations import expected_revenue
from offerwise.probability import clipped_logit, expit


def plan_columns(offers: pl.DataFrame) -> tuple[str, str]:
    """(offer, probability) of the plan: without its experiment (holdout, exploration) where one ran."""
    return ("plan_offer_pct", "p_plan") if "plan_offer_pct" in offers.columns else ("recommended_offer_pct", "p_recommended")


def with_response_ends(offers: pl.DataFrame, pairs: pl.DataFrame, *, quantile: float, level: float) -> pl.DataFrame:
    """offers with p_plan_low / p_plan_high: the plan's probability with each pair's double-ML slope at
    the low and high end of its category slope's interval (module docstring); as the optimiser, never
    below 0. Unchanged where the pairs carry no double-ML estimate."""
    needed = ["dml_slope", "dml_slope_sd", "dml_slope_category_se"]
    if not set(needed) <= set(pairs.columns):
        return offers
    offer, prob = plan_columns(offers)
    joined = offers.join(pairs.select(*PAIR, *needed).unique(PAIR), on=PAIR, how="left")
    base = (
        joined.get_column("dml_slope").fill_null(0.0).to_numpy()
        + norm.ppf(quantile) * joined.get_column("dml_slope_sd").fill_null(0.0).to_numpy()
    )
    half = norm.ppf(0.5 + level / 2) * joined.get_column("dml_slope_category_se").fill_null(0.0).to_numpy()
    moved = joined.get_column(offer).to_numpy() - joined.get_column("reference_offer_pct").to_numpy()
    logit = clipped_logit(joined.get_column(prob).to_numpy())
    ends = {
        name: expit(logit + (np.maximum(base + sign * half, 0.0) - np.maximum(base, 0.0)) * moved)
        for name, sign in (("p_plan_low", -1.0), ("p_plan_high", 1.0))
    }
    return offers.with_columns(**{name: pl.Series(values) for name, values in ends.items()})


def worth_by_category(offers: pl.DataFrame) -> pl.DataFrame:
    """Per category: pairs, offers given, the status quo's and the plan's mean offer, expected net
    revenue, retention (mean purchase probability) and discount spend, and the change in net revenue
    with its interval where `with_response_ends` gave one."""
    offer, prob = plan_columns(offers)
    ends = [
        (expected_revenue(end, offer) - expected_revenue("p_reference", "reference_offer_pct")).sum().alias(f"change_{side}")
        for end, side in (("p_plan_low", "low"), ("p_plan_high", "high"))
        if end in offers.columns
    ]
    return (
        offers.group_by("category")
        .agg(
            pairs=pl.len(),
            consumers=pl.col("customer_id").n_unique(),
            offers=(pl.col(offer) > 0).sum(),
            offer_status_quo=pl.col("reference_offer_pct").mean(),
            offer_plan=pl.col(offer).mean(),
            revenue_status_quo=expected_revenue("p_reference", "reference_offer_pct").sum(),
            revenue_plan=expected_revenue(prob, offer).sum(),
            retention_status_quo=pl.col("p_reference").mean(),
            retention_plan=pl.col(prob).mean(),
            spend_status_quo=(pl.col("p_reference") * pl.col("price") * pl.col("reference_offer_pct") / 100).sum(),
            spend_plan=(pl.col(prob) * pl.col("price") * pl.col(offer) / 100).sum(),
            *ends,
        )
        .with_columns(change=pl.col("revenue_plan") - pl.col("revenue_status_quo"))
        .sort("revenue_status_quo", descending=True)
    )


def totals(by_category: pl.DataFrame, offers: pl.DataFrame) -> dict:
    """The plan in total: the sums of `worth_by_category`, retention weighted by pairs, consumers counted once."""
    sums = {c: float(by_category.get_column(c).sum()) for c in by_category.columns if c.startswith(("revenue", "spend", "change"))}
    weights = by_category.get_column("pairs")
    retention = {c: float((by_category.get_column(c) * weights).sum() / weights.sum()) for c in ("retention_status_quo", "retention_plan")}
    offer, _ = plan_columns(offers)
    return {
        **sums,
        **retention,
        "pairs": offers.height,
        "consumers": offers.get_column("customer_id").n_unique(),
        "offers": int((offers.get_column(offer) > 0).sum()),
        "interval": "change_low" in sums,
    }


def backtest_rates(predictions: pl.DataFrame, model: str) -> pl.DataFrame:
    """Per category, the decision model's mean predicted purchase probability against the realised
    rate on the backtest's decided fortnight (the last labelled fold's test split), and its pairs."""
    test = predictions.filter((pl.col("split") == "test") & pl.col("label").is_not_null() & (pl.col("model") == model))
    if "fold" in test.columns:
        test = test.filter(pl.col("fold") == test.get_column("fold").max())
    return (
        test.group_by("category")
        .agg(pairs=pl.len(), predicted=pl.col("probability").mean(), realised=pl.col("label").cast(pl.Float64).mean())
        .sort("pairs", descending=True)
    )


def backtest_verdict(rates: pl.DataFrame, *, tolerance: float = 0.2) -> str:
    """The backtest in one sentence: the predicted against the realised purchase rate over every pair,
    and in how many categories the prediction lies within `tolerance` (relative) of what happened."""
    if rates.is_empty():
        return "There is no backtest fortnight with known purchases to check the model against."
    weights = rates.get_column("pairs")
    predicted = float((rates.get_column("predicted") * weights).sum() / weights.sum())
    realised = float((rates.get_column("realised") * weights).sum() / weights.sum())
    close = int(((rates.get_column("predicted") - rates.get_column("realised")).abs() <= tolerance * rates.get_column("realised")).sum())
    return (
        f"Backtest (the same decision one fortnight earlier): predicted purchase rate {predicted:.3f}, realised {realised:.3f}; "
        f"within ±{tolerance:.0%} of the realised rate in {close} of {rates.height} categories."
    )
