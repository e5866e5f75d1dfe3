"""The canonical data model every reader returns (documented in docs/data.md)."""

from __future__ import annotations

from dataclasses import dataclass, field

import polars as pl

TRANSACTION_SCHEMA: dict[str, pl.DataType] = {
    "customer_id": pl.Int64(),
    "item_id": pl.Int64(),
    "timestamp": pl.Datetime("us"),
    "basket_id": pl.Int64(),  # null where the source has no baskets (AmExpert)
    "quantity": pl.Float64(),
    "paid": pl.Float64(),  # what the consumer paid for the line
    "retail_discount": pl.Float64(),  # retailer's own offer on the line, >= 0
    "coupon_discount": pl.Float64(),  # coupons (manufacturer and retailer match), >= 0
    "list_price": pl.Float64(),  # unit price before any discount
    "offer_pct": pl.Float64(),  # 100 * retail_discount / gross line value
}
ITEM_REQUIRED: dict[str, pl.DataType] = {
    "item_id": pl.Int64(),
    "category": pl.String(),
    "brand": pl.String(),
    "brand_type": pl.String(),
}
CUSTOMER_REQUIRED: dict[str, pl.DataType] = {"customer_id": pl.Int64()}
PROMOTION_SCHEMA: dict[str, pl.DataType] = {
    "item_id": pl.Int64(),
    "week_start": pl.Date(),
    "display": pl.Float64(),  # share of stores showing the item on display, 0-1
    "mailer": pl.Float64(),  # share of stores featuring it in the mailer, 0-1
}
CAMPAIGN_SCHEMA: dict[str, pl.DataType] = {
    "campaign_id": pl.Int64(),
    "customer_id": pl.Int64(),
    "start_date": pl.Date(),
    "end_date": pl.Date(),
}
COUPON_SCHEMA: dict[str, pl.DataType] = {"campaign_id": pl.Int64(), "item_id": pl.Int64()}


@dataclass
class LoadReport:
    """What loading did: counts for every documented cleaning rule, so nothing vanishes silently."""

    source: str
    raw_lines: int = 0
    returns_dropped: int = 0
    zero_quantity_dropped: int = 0
    zero_value_dropped: int = 0
    duplicates_dropped: int = 0
    unknown_item_lines_dropped: int = 0
    missing_discounts_filled: int = 0
    unknown_items: int = 0
    kept_lines: int = 0
    notes: list[str] = field(default_factory=list)

    def as_rows(self) -> list[tuple[str, str]]:
        rows = [
            ("raw transaction lines", self.raw_lines),
            ("returns (quantity < 0) dropped", self.returns_dropped),
            ("zero-quantity lines dropped", self.zero_quantity_dropped),
            ("zero-value lines dropped", self.zero_value_dropped),
            ("exact duplicate lines dropped", self.duplicates_dropped),
            ("lines of items missing from the item table dropped", self.unknown_item_lines_dropped),
            ("missing discounts read as 0", self.missing_discounts_filled),
            ("lines kept", self.kept_lines),
        ]
        return [(k, f"{v:,}") for k, v in rows] + [("note", n) for n in self.notes]

    def check_balance(self) -> None:
        dropped = (
            self.returns_dropped
            + self.zero_quantity_dropped
            + self.zero_value_dropped
            + self.duplicates_dropped
            + self.unknown_item_lines_dropped
        )
        if dropped + self.kept_lines != self.raw_lines:  # an internal bug, not bad input
            raise RuntimeError(f"load report does not balance: {self}")


@dataclass
class RetailData:
    """The canonical tables of one source."""

    transactions: pl.DataFrame
    items: pl.DataFrame
    customers: pl.DataFrame
    report: LoadReport
    promotions: pl.DataFrame | None = None
    campaigns: pl.DataFrame | None = None
    coupons: pl.DataFrame | None = None
    name: str = "data"
