"""Headline figures of a loaded dataset (what `offerwise data summary` prints)."""

from __future__ import annotations

import polars as pl

from offerwise.data.schema import RetailData


def summarize(data: RetailData) -> dict[str, object]:
    tx = data.transactions
    first, last = tx.select(first=pl.col("timestamp").min(), last=pl.col("timestamp").max()).row(0)
    demo_cols = [c for c in data.customers.columns if c != "customer_id"]
    with_demo = data.customers.filter(pl.any_horizontal(pl.col(demo_cols).is_not_null())).height if demo_cols else 0
    return {
        "households": tx.get_column("customer_id").n_unique(),
        "households with demographics": with_demo,
        "items bought": tx.get_column("item_id").n_unique(),
        "transaction lines": tx.height,
        "baskets": tx.get_column("basket_id").n_unique() if tx.get_column("basket_id").null_count() < tx.height else None,
        "categories": tx.join(data.items.select("item_id", "category"), on="item_id").get_column("category").n_unique(),
        "date range": f"{first:%Y-%m-%d} to {last:%Y-%m-%d}",
        "lines with an offer (retail discount > 0)": f"{(tx.get_column('retail_discount') > 0).mean():.1%}",
        "mean offer % on discounted lines": _one_decimal(tx.filter(pl.col("retail_discount") > 0).get_column("offer_pct").mean()),
    }


def _one_decimal(value: float | None) -> str:
    return "none" if value is None else f"{value:.1f}"


def category_table(data: RetailData, top: int = 12) -> pl.DataFrame:
    """Per category: lines, households, items, sales and offer share, largest first."""
    return (
        data.transactions.join(data.items.select("item_id", "category"), on="item_id")
        .group_by("category")
        .agg(
            lines=pl.len(),
            households=pl.col("customer_id").n_unique(),
            items=pl.col("item_id").n_unique(),
            sales=pl.col("paid").sum(),
            offer_share=(pl.col("retail_discount") > 0).mean(),
        )
        .sort("lines", descending=True)
        .head(top)
    )
