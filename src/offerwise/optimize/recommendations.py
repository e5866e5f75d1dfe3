"""The forward plan's contract: the offers file and the per-category summary (pure, over frames)."""

from __future__ import annotations

import datetime as dt

import polars as pl

RECOMMENDATION_COLUMNS = [
    "customer_id",
    "item_id",
    "category",
    "period_start",
    "period_end",
    "price",
    "reference_offer_pct",
    "recommended_offer_pct",
    "p_reference",
    "p_recommended",
    "expected_revenue_reference",
    "expected_revenue_recommended",
    "expected_uplift",
    "binding",
    "run_id",
]


def expected_revenue(probability: str, offer: str) -> pl.Expr:
    """Expected net revenue of a pair: its purchase probability x price x (1 - offer)."""
    return pl.col(probability) * pl.col("price") * (1 - pl.col(offer) / 100)


def recommendation_tables(
    offers: pl.DataFrame, summary: pl.DataFrame, start: dt.date, end: dt.date, run_id: str
) -> tuple[pl.DataFrame, pl.DataFrame]:
    """The forward plan's contract: offers (RECOMMENDATION_COLUMNS) and summary.csv per category."""
    plan = (
        offers.with_columns(
            period_start=pl.lit(start),
            period_end=pl.lit(end),
            p_reference=pl.col("probability"),
            p_recommended=pl.col("predicted_probability"),
            run_id=pl.lit(run_id),
        )
        .with_columns(
            expected_revenue_reference=expected_revenue("p_reference", "reference_offer_pct"),
            expected_revenue_recommended=expected_revenue("p_recommended", "recommended_offer_pct"),
        )
        .with_columns(expected_uplift=pl.col("expected_revenue_recommended") - pl.col("expected_revenue_reference"))
    )
    per_category = plan.group_by("category").agg(
        pairs=pl.len(),
        planned_offer_mean=pl.col("reference_offer_pct").mean(),
        recommended_offer_mean=pl.col("recommended_offer_pct").mean(),
        expected_revenue_before=pl.col("expected_revenue_reference").sum(),
        expected_revenue_after=pl.col("expected_revenue_recommended").sum(),
        retention_before=pl.col("p_reference").mean(),
        retention_after=pl.col("p_recommended").mean(),
        no_offer_share=(pl.col("recommended_offer_pct") == 0).mean(),
        bound_by_rules_share=(pl.col("binding") == "range edge").mean(),
        bound_by_retention_share=(pl.col("binding") == "retention").mean(),
    )
    per_category = per_category.join(offers_per_consumer_category(plan), on="category", how="left")
    main = summary.filter(pl.col("status") == "ok").unique("category", keep="first", maintain_order=True)
    extra = [c for c in ("retention_multiplier", "status", "levels", "expected_revenue_without_rules") if c in main.columns]
    per_category = per_category.join(main.select("category", *extra), on="category", how="left").sort("category")
    return plan.select(RECOMMENDATION_COLUMNS), per_category


def offers_per_consumer_category(plan: pl.DataFrame) -> pl.DataFrame:
    """Per category: consumer_categories (consumers with pairs in it), their mean number of offers, and
    the shares of them given no offer, one offer and several."""
    count = plan.group_by("category", "customer_id").agg(offers=(pl.col("recommended_offer_pct") > 0).sum())
    return count.group_by("category").agg(
        consumer_categories=pl.len(),
        offers_per_consumer_category=pl.col("offers").mean(),
        consumer_categories_no_offer=(pl.col("offers") == 0).mean(),
        consumer_categories_one_offer=(pl.col("offers") == 1).mean(),
        consumer_categories_several_offers=(pl.col("offers") > 1).mean(),
    )
