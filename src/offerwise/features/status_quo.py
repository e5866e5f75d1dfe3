"""Reference offer k of each consumer-item (paper §3.3), by the first rule that applies:

a) `pair_recent`: mean of the pair's non-zero offers on its purchases in the last 4 weeks
   (the two periods before the scored one);
b) `pair_history`: mean of the pair's non-zero offers on all its earlier purchases;
c) `age_category_recent`: mean of the last 4 weeks' non-zero purchase offers of consumers of the
   same age bracket in the category ("missing" age is a bracket of its own);
d) `category_history`: mean of all earlier non-zero purchase offers in the category;
e) `none`: 0.
The offer on a purchase is the panel's offer_pct in a period the pair bought.

The status quo of a decision is the retailer's plan for the decided period where it has one
(`planned`: its planned_offers, or its offer history's entry for that period; a consumer-specific
plan before an item-wide one), else, by `panel.status_quo_rule`:
- `recent_offers` (default): the mean of the pair's offer_pct over the last 4 weeks (the two
  periods before the decided one), zeros included: the offer the pair will most likely face if
  the retailer carries on, on the scale the model learned the offer from (every period's offer,
  bought or not);
- `paper`: the reference offer above. It averages only non-zero offers on purchases, so it sits
  far above the offers pairs actually face (Complete Journey folds 0-2: +9.3 to +9.9 points of
  bias, mean absolute error 13-14 points against the decided fortnight's offer, against -0.3 to
  +0.6 and 5.1-5.9 for `recent_offers`; docs/results.md), and the model then scores the decided
  fortnight at offers it rarely saw.
"""

from __future__ import annotations

import polars as pl

from offerwise.columns import PAIR


def reference_offers(panel: pl.DataFrame, period: int, *, age_column: str | None) -> pl.DataFrame:
    """panel: rows of the pairs to score (all periods). Columns: customer_id, item_id, category,
    reference_offer_pct, reference_rule."""
    age = pl.col(age_column).cast(pl.String) if age_column else pl.lit("all")
    rows = panel.select(*PAIR, "category", "period", "target", "offer_pct", age=age).filter(pl.col("period") <= period)
    bought = rows.filter((pl.col("period") < period) & (pl.col("target") == 1) & (pl.col("offer_pct") > 0))
    recent = bought.filter(pl.col("period") >= period - 2)
    pairs = rows.filter(pl.col("period") == period).select(*PAIR, "category", "age")
    rules = [
        ("pair_recent", recent.group_by(PAIR).agg(k=pl.col("offer_pct").mean()), PAIR),
        ("pair_history", bought.group_by(PAIR).agg(k=pl.col("offer_pct").mean()), PAIR),
        ("age_category_recent", recent.group_by("age", "category").agg(k=pl.col("offer_pct").mean()), ["age", "category"]),
        ("category_history", bought.group_by("category").agg(k=pl.col("offer_pct").mean()), ["category"]),
    ]
    out = pairs.with_columns(reference_offer_pct=pl.lit(None, pl.Float64), reference_rule=pl.lit(None, pl.String))
    for name, table, keys in rules:
        out = (
            out.join(table, on=keys, how="left")
            .with_columns(
                reference_rule=pl.when(pl.col("reference_offer_pct").is_null() & pl.col("k").is_not_null())
                .then(pl.lit(name))
                .otherwise("reference_rule"),
                reference_offer_pct=pl.coalesce("reference_offer_pct", "k"),
            )
            .drop("k")
        )
    return out.select(*PAIR, "category", pl.col("reference_offer_pct").fill_null(0.0), pl.col("reference_rule").fill_null("none"))


RECENT_PERIODS = 2  # `recent_offers`: 4 weeks of bi-weekly periods, the paper's "recent" window


def recent_offers(panel: pl.DataFrame, period: int) -> pl.DataFrame:
    """The mean offer_pct of each pair over the RECENT_PERIODS periods before `period`, zeros
    included (0 for a pair without rows there). Columns as reference_offers', rule "recent_offers"."""
    recent = (
        panel.select(*PAIR, "period", "offer_pct")
        .filter(pl.col("period").is_between(period - RECENT_PERIODS, period - 1))
        .group_by(PAIR)
        .agg(reference_offer_pct=pl.col("offer_pct").cast(pl.Float64).mean())
    )
    return (
        panel.select(*PAIR, "category", "period")
        .filter(pl.col("period") == period)
        .drop("period")
        .join(recent, on=PAIR, how="left", maintain_order="left")
        .select(*PAIR, "category", pl.col("reference_offer_pct").fill_null(0.0), reference_rule=pl.lit("recent_offers"))
    )


PAPER_RULES = ("pair_recent", "pair_history", "age_category_recent", "category_history", "none")


def rule_of(status_quo: pl.DataFrame) -> str:
    """The panel.status_quo_rule a status quo table was made with (its reference_rule values)."""
    rules = set(status_quo.get_column("reference_rule").unique().to_list()) if "reference_rule" in status_quo.columns else set()
    return "paper" if rules & set(PAPER_RULES) else "recent_offers"


def unplanned_offers(panel: pl.DataFrame, period: int, *, age_column: str | None, rule: str = "recent_offers") -> pl.DataFrame:
    """The status quo where the retailer has no plan, by `panel.status_quo_rule`."""
    return recent_offers(panel, period) if rule == "recent_offers" else reference_offers(panel, period, age_column=age_column)


def status_quo_offers(
    panel: pl.DataFrame, period: int, *, age_column: str | None, planned: pl.DataFrame | None = None, rule: str = "recent_offers"
) -> pl.DataFrame:
    """The unplanned status quo (`rule`), replaced by the retailer's plan where it has one
    (reference_rule "planned"). planned: item_id, customer_id (null = every consumer), offer_pct.
    Columns: customer_id, item_id, category, reference_offer_pct, reference_rule."""
    out = unplanned_offers(panel, period, age_column=age_column, rule=rule)
    if planned is None or planned.height == 0:
        return out
    per_consumer = planned.filter(pl.col("customer_id").is_not_null()).select(*PAIR, __pair=pl.col("offer_pct").cast(pl.Float64))
    per_item = planned.filter(pl.col("customer_id").is_null()).select("item_id", __item=pl.col("offer_pct").cast(pl.Float64))
    plan = pl.coalesce("__pair", "__item")
    return (
        out.join(per_consumer, on=PAIR, how="left")
        .join(per_item, on="item_id", how="left")
        .with_columns(
            reference_rule=pl.when(plan.is_not_null()).then(pl.lit("planned")).otherwise("reference_rule"),
            reference_offer_pct=pl.coalesce(plan, "reference_offer_pct"),
        )
        .select(*PAIR, "category", "reference_offer_pct", "reference_rule")
    )
