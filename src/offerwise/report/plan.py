"""The forward plan's numbers for a person (pure, over the offers frame): what it is worth and what it
costs against the status quo, per category and in total, with the interval the offer-response
estimate gives; and the backtest's predicted against realised purchase rates.

Worth: expected net revenue Σ p(o)·price·(1 − o/100) of the plan against the status quo's.
Cost: expected discount spend Σ p(o)·price·o/100, the discount given on the expected purchases.
Interval (response "dml" only): each category's slope moved across its interval (response.level), in
RANGE_STEPS even steps from end to end, with the pairs' own deviations kept, all categories together;
the other offers' effect on a pair's logit is held. The interval is the lowest and highest change over
those steps, not the change at the two ends: a plan that deepens some offers and cuts others gains
less at both ends than in between (on the Complete Journey the point lay outside the ends' span in some
departments). It covers the offer response's uncertainty, not the purchase model's error in p.
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


RANGE_STEPS = 21  # slopes from the interval's low end to its high end, evenly (the middle one is the point estimate)


def with_response_range(
    offers: pl.DataFrame, pairs: pl.DataFrame, *, quantile: float, level: float, caution: str = "slope"
) -> pl.DataFrame:
    """offers with p_plan_range: the plan's probability with each pair's double-ML slope at RANGE_STEPS
    even steps across its category slope's interval (module docstring), low end first; as the
    optimiser, never below 0 and at its quantile (caution "change": 1 − quantile where the plan lowers
    the offer). Unchanged where the pairs carry no double-ML estimate."""
    needed = ["dml_slope", "dml_slope_sd", "dml_slope_category_se"]
    if not set(needed) <= set(pairs.columns):
        return offers
    offer, prob = plan_columns(offers)
    joined = offers.join(pairs.select(*PAIR, *needed).unique(PAIR), on=PAIR, how="left", maintain_order="left")
    moved = joined.get_column(offer).to_numpy() - joined.get_column("reference_offer_pct").to_numpy()
    at_quantile = np.where((caution == "change") & (moved < 0), 1 - quantile, quantile)
    base = (
        joined.get_column("dml_slope").fill_null(0.0).to_numpy()
        + norm.ppf(at_quantile) * joined.get_column("dml_slope_sd").fill_null(0.0).to_numpy()
    )
    half = norm.ppf(0.5 + level / 2) * joined.get_column("dml_slope_category_se").fill_null(0.0).to_numpy()
    logit = clipped_logit(joined.get_column(prob).to_numpy())
    steps = np.linspace(-1.0, 1.0, RANGE_STEPS)
    at = expit(
        logit[:, None] + (np.maximum(base[:, None] + steps[None, :] * half[:, None], 0.0) - np.maximum(base, 0.0)[:, None]) * moved[:, None]
    )
    return offers.with_columns(p_plan_range=pl.Series(at).cast(pl.Array(pl.Float64, RANGE_STEPS)))


def worth_by_category(offers: pl.DataFrame) -> pl.DataFrame:
    """Per category: pairs, offers given, the status quo's and the plan's mean offer, expected net
    revenue, retention (mean purchase probability) and discount spend, and the change in net revenue;
    where `with_response_range` gave a range, also change_range (the change at each of its steps) and
    change_low / change_high (their lowest and highest)."""
    offer, prob = plan_columns(offers)
    steps = offers.schema["p_plan_range"].shape[0] if "p_plan_range" in offers.columns else 0
    revenue_at = lambda k: pl.col("p_plan_range").arr.get(k) * pl.col("price") * (1 - pl.col(offer) / 100)  # noqa: E731
    sq = expected_revenue("p_reference", "reference_offer_pct")
    table = (
        offers.group_by("category")
        .agg(
            pairs=pl.len(),
            consumers=pl.col("customer_id").n_unique(),
            offers=(pl.col(offer) > 0).sum(),
            offer_status_quo=pl.col("reference_offer_pct").mean(),
            offer_plan=pl.col(offer).mean(),
            revenue_status_quo=sq.sum(),
            revenue_plan=expected_revenue(prob, offer).sum(),
            retention_status_quo=pl.col("p_reference").mean(),
            retention_plan=pl.col(prob).mean(),
            spend_status_quo=(pl.col("p_reference") * pl.col("price") * pl.col("reference_offer_pct") / 100).sum(),
            spend_plan=(pl.col(prob) * pl.col("price") * pl.col(offer) / 100).sum(),
            *[(revenue_at(k) - sq).sum().alias(f"__change_{k}") for k in range(steps)],
        )
        .with_columns(change=pl.col("revenue_plan") - pl.col("revenue_status_quo"))
        .sort("revenue_status_quo", descending=True)
    )
    if not steps:
        return table
    at_steps = [f"__change_{k}" for k in range(steps)]
    return table.with_columns(  # the point itself too: a probability at 0 or 1 comes back from the logit a hair away
        change_low=pl.min_horizontal("change", *at_steps),
        change_high=pl.max_horizontal("change", *at_steps),
        change_range=pl.concat_list(at_steps),
    ).drop(at_steps)


def totals(by_category: pl.DataFrame, offers: pl.DataFrame) -> dict:
    """The plan in total: the sums of `worth_by_category`, retention weighted by pairs, consumers
    counted once; the change's interval is the lowest and highest of the summed change_range (every
    category's slope moves together)."""
    sums = {c: float(by_category.get_column(c).sum()) for c in by_category.columns if c.startswith(("revenue", "spend")) or c == "change"}
    if "change_range" in by_category.columns:
        summed = np.asarray(by_category.get_column("change_range").to_list(), dtype=float).sum(axis=0)
        sums |= {"change_low": min(float(summed.min()), sums["change"]), "change_high": max(float(summed.max()), sums["change"])}
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
