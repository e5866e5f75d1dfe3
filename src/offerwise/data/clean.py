"""The documented cleaning policy shared by every reader (docs/data.md, "Cleaning policy")."""

from __future__ import annotations

import dataclasses
import datetime as dt
from typing import Literal

import polars as pl

from offerwise.data.sanity import require_plausible_dates
from offerwise.data.schema import TRANSACTION_SCHEMA, LoadReport
from offerwise.errors import input_error

UnknownItemPolicy = Literal["drop", "error"]

OUTLIER_FACTOR = 1000.0  # a quantity or unit price this many times its reference (or 1 / this) is an outlier
MIN_ITEM_LINES = 3  # an item's own median is its reference from this many lines on
DATE_FENCE_IQRS = 3.0  # dates beyond the middle half of the dates by this many times its length ...
MIN_DATE_FENCE = dt.timedelta(days=365)  # ... and by at least a year are outside the bulk of the data


@dataclasses.dataclass
class CleaningReport(LoadReport):
    """The load report with the robust outlier rules' counters (quantities, unit prices, dates)."""

    quantity_outliers_dropped: int = 0
    price_outliers_dropped: int = 0
    far_dates_dropped: int = 0
    catch_all_lines_dropped: int = 0  # data/sanity.py: consumers with far more lines than the rest

    def as_rows(self) -> list[tuple[str, str]]:
        rows = super().as_rows()
        at = [key for key, _ in rows].index("lines kept")
        extra = [
            (f"quantity outliers (over {OUTLIER_FACTOR:,.0f}x the item's median) dropped", self.quantity_outliers_dropped),
            (f"unit price outliers ({OUTLIER_FACTOR:,.0f}x off the item's median) dropped", self.price_outliers_dropped),
            ("lines dated far outside the bulk of the data dropped", self.far_dates_dropped),
            ("lines of catch-all consumer ids dropped", self.catch_all_lines_dropped),
        ]
        return rows[:at] + [(k, f"{v:,}") for k, v in extra] + rows[at:]

    def check_balance(self) -> None:
        outliers = self.quantity_outliers_dropped + self.price_outliers_dropped + self.far_dates_dropped + self.catch_all_lines_dropped
        LoadReport.check_balance(dataclasses.replace(self, kept_lines=self.kept_lines + outliers))


def clean_transactions(
    raw: pl.DataFrame,
    items: pl.DataFrame,
    *,
    file: str,
    report: CleaningReport,
    unknown_items: UnknownItemPolicy = "drop",
    max_unknown_share: float = 0.05,
    date_column: str = "timestamp",
) -> pl.DataFrame:
    """Apply the cleaning policy to raw lines with canonical names and discounts >= 0 (returns, with
    quantity < 0, may have amounts of either sign: they are dropped and counted).

    Expects customer_id, item_id, timestamp, basket_id, quantity, paid, retail_discount,
    coupon_discount; `date_column` is the file's name for timestamp. Returns the canonical
    transaction table (TRANSACTION_SCHEMA).
    """
    report.raw_lines = raw.height
    _reject_invalid(raw, ["quantity", "paid", "retail_discount", "coupon_discount"], file=file)
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
    lines = _drop_outliers(lines, gross, report)
    lines = _handle_unknown_items(lines, items, file=file, report=report, policy=unknown_items, max_share=max_unknown_share)
    report.kept_lines = lines.height
    report.check_balance()
    _require_lines_left(report, file=file)
    require_plausible_dates(lines, file=file, column=date_column)
    _note_lost_items(raw, lines, items, report)
    return lines.with_columns(
        list_price=gross / pl.col("quantity"),
        offer_pct=100.0 * pl.col("retail_discount") / gross,
    ).select([pl.col(c).cast(t) for c, t in TRANSACTION_SCHEMA.items()])


def _drop(frame: pl.DataFrame, condition: pl.Expr) -> tuple[pl.DataFrame, int]:
    kept = frame.filter(~condition)
    return kept, frame.height - kept.height


def _reject_invalid(frame: pl.DataFrame, columns: list[str], *, file: str) -> None:
    for column in columns:
        bad = frame.filter(pl.col(column).is_nan() | pl.col(column).is_infinite())
        if bad.height:
            raise input_error(file=file, column=column, problem="values that are not finite numbers (NaN or infinity).", examples=bad)
        # A negative quantity is a return, dropped and counted whatever the signs of its amounts.
        bad = frame.filter((pl.col(column) < 0) & (pl.col("quantity") >= 0))
        if bad.height and column != "quantity":
            problem = "negative amounts on lines with a positive quantity (returns, with a negative quantity, are dropped and counted)."
            raise input_error(file=file, column=column, problem=problem, examples=bad)


def _note_lost_items(raw: pl.DataFrame, kept: pl.DataFrame, items: pl.DataFrame, report: LoadReport) -> None:
    """A note naming the known items that cleaning left without a line: they get no offers at all."""
    lost = (
        raw.select("item_id")
        .unique()
        .join(items.select("item_id"), on="item_id", how="semi")
        .join(kept.select("item_id"), on="item_id", how="anti")
    )
    if lost.height:
        ids = ", ".join(str(i) for i in lost.get_column("item_id").sort().head(5))
        report.notes.append(
            f"{lost.height:,} item(s) lost every line to cleaning and get no offers: {ids}{' ...' if lost.height > 5 else ''}"
        )


def _drop_outliers(lines: pl.DataFrame, gross: pl.Expr, report: CleaningReport) -> pl.DataFrame:
    """Quantities and unit prices 1000x away from their item's median, then dates far outside the bulk (docs/data.md)."""
    many = pl.len().over("item_id") >= MIN_ITEM_LINES
    quantity, price = pl.col("quantity"), gross / pl.col("quantity")
    far = many & (quantity > OUTLIER_FACTOR * quantity.median().over("item_id"))
    lines, report.quantity_outliers_dropped = _drop_noted(
        lines, far, report, quantity, f"a quantity over {OUTLIER_FACTOR:,.0f}x their item's median quantity"
    )
    reference = pl.when(many).then(price.median().over("item_id")).otherwise(price.median())
    far = (price > OUTLIER_FACTOR * reference) | (price < reference / OUTLIER_FACTOR)
    what = f"a unit price over {OUTLIER_FACTOR:,.0f}x or under 1/{OUTLIER_FACTOR:,.0f} of their item's median (all lines' for items with under {MIN_ITEM_LINES} lines)"
    lines, report.price_outliers_dropped = _drop_noted(lines, far, report, price, what)
    if lines.height:
        low, high = _date_window(lines)
        far = (pl.col("timestamp") < low) | (pl.col("timestamp") > high)
        what = f"a date outside {low:%Y-%m-%d} to {high:%Y-%m-%d}, far from the bulk of the data's dates"
        lines, report.far_dates_dropped = _drop_noted(lines, far, report, pl.col("timestamp").dt.date(), what)
    return lines


def _drop_noted(lines: pl.DataFrame, condition: pl.Expr, report: LoadReport, value: pl.Expr, what: str) -> tuple[pl.DataFrame, int]:
    """Drop the lines matching `condition`; a note says how many, why, and the most extreme values."""
    dropped = lines.filter(condition).select(value.alias("v")).get_column("v")
    if dropped.len():
        extremes = ", ".join(str(v) for v in dict.fromkeys([dropped.min(), dropped.max()]))
        report.notes.append(f"{dropped.len():,} lines with {what} were dropped as outliers (from {extremes})")
    return lines.filter(~condition), dropped.len()


def _date_window(lines: pl.DataFrame) -> tuple[dt.datetime, dt.datetime]:
    """The bulk of the dates: the middle half widened by max(3 x its length, 365 days) on each side."""
    stamp = pl.col("timestamp")
    q1, q3 = lines.select(stamp.quantile(0.25, "lower").alias("q1"), stamp.quantile(0.75, "higher").alias("q3")).row(0)
    fence = max(DATE_FENCE_IQRS * (q3 - q1), MIN_DATE_FENCE)
    return q1 - fence, q3 + fence


def _require_lines_left(report: LoadReport, *, file: str) -> None:
    if report.kept_lines == 0:
        dropped = "; ".join(f"{key}: {value}" for key, value in report.as_rows() if key.endswith("dropped") and value != "0")
        raise input_error(
            file=file, column=None, problem=f"no lines left after cleaning: all {report.raw_lines:,} were dropped ({dropped})."
        )


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
