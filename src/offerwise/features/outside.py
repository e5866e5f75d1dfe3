"""What a consumer buys in a category outside the decision's items (optimize/choice_model.py).

A decision holds the pairs bought in at least `min_purchases` periods before its cutoff; the consumer
also buys the category's other items now and then. Under a nested logit an offer on a decision item
takes share from those purchases too, so the decision needs their mass. Per fold, for the consumer-
categories of its decided period t:

    outside_purchases = item-periods bought in t − WINDOW .. t − 1 of items that are not the
                        consumer's decision pairs at the fold, divided by the periods in that window
    outside_unit_value = their mean unit price net of the retailer's offer (list_price · (1 − offer %))

Only lines before t and the fold's own pair set enter: later data moves no value.
"""

from __future__ import annotations

import polars as pl

from offerwise.features.build import PanelPlan, coarsen_items
from offerwise.features.matrix import group_sums
from offerwise.features.periods import assign_periods

WINDOW = 8  # periods (16 weeks at 14 days): recent enough for a consumer's habits, long enough for rare items
OUTSIDE_COLUMNS = ["fold", "customer_id", "category", "outside_purchases", "outside_unit_value"]


def category_lines(transactions: pl.DataFrame, items: pl.DataFrame, plan: PanelPlan) -> pl.DataFrame:
    """customer_id, item_id, category, period, net_unit of the lines inside the complete periods and the
    consumer sample, the items at the modelled level (as the panel sees them)."""
    tx = transactions.select("customer_id", "item_id", "timestamp", "list_price", "offer_pct")
    if plan.cfg.item_level != "item_id":
        tx, items = coarsen_items(tx, items, plan.cfg.item_level)
    tx = assign_periods(tx.join(items.select("item_id", "category"), on="item_id"), anchor=plan.anchor, period_days=plan.cfg.period_days)
    tx = tx.filter(pl.col("period").is_between(0, plan.n_complete - 1))
    if plan.sampled is not None:
        tx = tx.filter(pl.col("customer_id").is_in(plan.sampled.implode()))
    return tx.select("customer_id", "item_id", "category", "period", net_unit=pl.col("list_price") * (1 - pl.col("offer_pct") / 100))


def outside_purchases(lines: pl.DataFrame, pairs: pl.DataFrame, decided: dict[int, int], *, window: int = WINDOW) -> pl.DataFrame:
    """lines: category_lines; pairs: customer_id, item_id, relevant_from_fold (the panel's pairs);
    decided: fold -> its decided period. Columns: OUTSIDE_COLUMNS (module docstring), one row per
    fold and consumer-category with such purchases."""
    bought = _means(lines, ["customer_id", "item_id", "category", "period"])
    parts = []
    for fold, t in sorted(decided.items()):
        periods = min(window, t)
        members = pairs.filter(pl.col("relevant_from_fold") <= fold).select("customer_id", "item_id")
        outside = bought.filter(pl.col("period").is_between(t - window, t - 1)).join(members, on=["customer_id", "item_id"], how="anti")
        per_category = _means(outside, ["customer_id", "category"])
        parts.append(
            per_category.select(
                "customer_id",
                "category",
                fold=pl.lit(fold, pl.Int32),
                outside_purchases=pl.col("rows") / max(periods, 1),
                outside_unit_value=pl.col("net_unit"),
            )
        )
    frame = pl.concat(parts) if parts else pl.DataFrame(schema={c: pl.Float64 for c in OUTSIDE_COLUMNS})
    return frame.select(OUTSIDE_COLUMNS).sort("fold", "customer_id", "category")


def _means(frame: pl.DataFrame, keys: list[str]) -> pl.DataFrame:
    """keys, net_unit (the group's mean of its non-null values) and rows (its count): the values added
    smallest first, so the mean's last bits do not depend on the order the rows came in (polars'
    parallel mean adds them in an order that varies from run to run)."""
    value = pl.col("net_unit")
    sums = group_sums(
        frame.sort([*keys, "net_unit"], nulls_last=True),
        keys,
        net_unit=value.fill_null(0.0),
        valued=value.is_not_null().cast(pl.Float64),
        rows=pl.lit(1.0),
    )
    return sums.select(*keys, "rows", net_unit=pl.when(pl.col("valued") > 0).then(pl.col("net_unit") / pl.col("valued")))
