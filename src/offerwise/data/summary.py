"""Headline figures of a loaded dataset (what `offerwise data summary` prints)."""

from __future__ import annotations

import polars as pl
from rich.markup import escape

from offerwise.data.schema import LoadReport, RetailData


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


LOUD_DROP_SHARE = 0.1  # above this share of dropped lines the load line is shown in yellow


def load_lines(report: LoadReport) -> list[str]:
    """The load report in a few lines for a run's log: lines read and kept, what was dropped and why,
    then each note (rich markup; yellow when cleaning dropped over a tenth of the lines)."""
    dropped = [(key.removesuffix(" dropped"), value) for key, value in report.as_rows() if key.endswith("dropped") and value != "0"]
    share = 1 - report.kept_lines / report.raw_lines if report.raw_lines else 0.0
    why = "; dropped: " + ", ".join(f"{value} {key}" for key, value in dropped) + f" ({share:.1%})" if dropped else ", nothing dropped"
    line = f"load: {report.raw_lines:,} lines read, {report.kept_lines:,} kept{why}"
    return [f"[yellow]{escape(line)}[/yellow]" if share > LOUD_DROP_SHARE else escape(line)] + [
        f"[dim]load: {escape(note)}[/dim]" for note in report.notes
    ]
