"""The documented cleaning policy shared by every reader (docs/data.md, "Cleaning policy")."""

from __future__ import annotations

from typing import Literal

import polars as pl

from offerwise.data.schema import TRANSACTION_SCHEMA, LoadReport
from offerwise.errors import input_error

UnknownItemPolicy = Literal["drop", "error"]


def clean_transactions(
    raw: pl.DataFrame,
    items: pl.DataFrame,
    *,
    file: str,
    report: LoadReport,
    unknown_items: UnknownItemPolicy = "drop",
    max_unknown_share: float = 0.05,
) -> pl.DataFrame:
    """Apply the cleaning policy to raw lines with canonical names and discounts >= 0.

    Expects customer_id, item_id, timestamp, basket_id, quantity, paid, retail_discount,
    coupon_discount. Returns the canonical transaction table (TRANSACTION_SCHEMA).
    """
    report.raw_lines = raw.height
    _reject_negative(raw, ["paid", "retail_discount", "coupon_discount"], file=file)
    report.missing_discounts_filled = int(
        raw.select(pl.col("retail_discount").is_null().sum() + pl.col("coupon_discount").is_null().sum()).item()
    )
    lines = raw.with_columns(pl.col("retail_discount", "coupon_discount").fill_null(0.0))
    lines, report.returns_dropped = _drop(lines, pl.col("quantity") < 0)
    lines, report.zero_quantity_dropped = _drop(lines, pl.col("quantity") == 0)
    gross = pl.col("paid") + pl.col("retail_discount") + pl.col("coupon_discount")
    lines, report.zero_value_dropped = _drop(lines, gross <= 0)
    before = lines.height
    lines = lines.unique(maintain_order=True)
    report.duplicates_dropped = before - lines.height
    lines = _handle_unknown_items(lines, items, file=file, report=report, policy=unknown_items, max_share=max_unknown_share)
    report.kept_lines = lines.height
    report.check_balance()
    return lines.with_columns(
        list_price=gross / pl.col("quantity"),
        offer_pct=100.0 * pl.col("retail_discount") / gross,
    ).select([pl.col(c).cast(t) for c, t in TRANSACTION_SCHEMA.items()])


def _drop(frame: pl.DataFrame, condition: pl.Expr) -> tuple[pl.DataFrame, int]:
    kept = frame.filter(~condition)
    return kept, frame.height - kept.height


def _reject_negative(frame: pl.DataFrame, columns: list[str], *, file: str) -> None:
    for column in columns:
        bad = frame.filter(pl.col(column) < 0)
        if bad.height:
            raise input_error(file=file, column=column, problem="negative amounts.", examples=bad)


def _handle_unknown_items(
    lines: pl.DataFrame,
    items: pl.DataFrame,
    *,
    file: str,
    report: LoadReport,
    policy: UnknownItemPolicy,
    max_share: float,
) -> pl.DataFrame:
    unknown = lines.join(items.select("item_id"), on="item_id", how="anti")
    if unknown.height == 0:
        return lines
    share = unknown.height / max(lines.height, 1)
    if policy == "error" or share > max_share:
        why = "" if policy == "error" else f" ({share:.1%} of lines, above the {max_share:.0%} that suggests the wrong item file)"
        raise input_error(
            file=file,
            column="item_id",
            problem=f"items missing from the item table{why}.",
            examples=unknown,
        )
    report.unknown_items = unknown.get_column("item_id").n_unique()
    report.unknown_item_lines_dropped = unknown.height
    report.notes.append(f"{report.unknown_items:,} item ids are not in the item table; their lines were dropped")
    return lines.join(items.select("item_id"), on="item_id", how="semi")
