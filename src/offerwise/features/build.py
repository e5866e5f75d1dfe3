"""Transactions -> the bi-weekly consumer-item panel with the paper's four feature families.

A row is one relevant consumer-item pair x one period. Every feature of period t uses only what was
known before t starts, except the retailer-set quantities of period t (offer, display, mailer,
coupon exposure), which are planned in advance (see offers.py for the offer rule). A feature's value
never depends on how many periods follow it.

The panel ends with one *future* period: the fortnight after the last complete one, with features
from history and no target. Each fold is a decision at a cutoff (its validation period) for the
period after it (its test period): the backtest folds decide periods that happened, the last fold,
`decision = "forward"`, decides the future period.
"""

from __future__ import annotations

import datetime as dt
from dataclasses import dataclass, field

import polars as pl

from offerwise.columns import DESIGN_MEAN
from offerwise.config import OptionError, PanelConfig
from offerwise.data.schema import RetailData
from offerwise.errors import InputError
from offerwise.features.assemble import assemble
from offerwise.features.manifest import Feature
from offerwise.features.matrix import Totals
from offerwise.features.offers import OFFER_RULE
from offerwise.features.periods import (
    assign_periods,
    complete_periods,
    data_dates,
    default_anchor,
    period_of,
    period_starts,
    rolling_splits,
)

SAMPLE_SALT = "offerwise"  # customer sampling hashes ids with this salt: a stable draw that no later data moves


@dataclass
class Panel:
    frame: pl.DataFrame  # one row per pair x period; see `manifest` for the feature columns
    features: list[Feature]
    splits: pl.DataFrame  # fold, period, split
    info: dict[str, object] = field(default_factory=dict)

    def manifest(self) -> dict[str, object]:
        return {**self.info, "features": [f.as_dict() for f in self.features], "offer_rule": OFFER_RULE}


def decision_splits(n_complete: int, *, train_periods: int, folds: int) -> pl.DataFrame:
    """`folds` backtest folds (the last tests on the last complete period) and one forward fold whose
    test period is the future period `n_complete`. Columns: fold, period, split, decision."""
    if n_complete < folds + 2:
        raise InputError(
            f"Too little history: the data has {n_complete} complete period(s); {folds} backtest fold(s) and the forward plan need "
            f"at least {folds + 2} (training, then a validation period before each decision). Use fewer folds (panel.folds, --folds), "
            "shorter periods (panel.period_days) or a longer export."
        )
    splits = rolling_splits(n_complete + 1, train_periods=train_periods, folds=folds + 1)
    return splits.with_columns(decision=pl.when(pl.col("fold") == folds).then(pl.lit("forward")).otherwise(pl.lit("backtest")))


@dataclass(frozen=True)
class PanelPlan:
    """What every shard of a panel build shares: the calendar, the folds and the consumer sample.
    Fixed on the driver from cheap scans (first and last day, the consumers seen before the first cutoff)."""

    cfg: PanelConfig
    anchor: dt.date
    n_complete: int
    splits: pl.DataFrame
    validations: list[int]
    sampled: pl.Series | None  # customer ids kept by max_customers; None = everyone

    @property
    def n_periods(self) -> int:
        return self.n_complete + 1  # the future period: features from history, no target

    @property
    def starts(self) -> list[dt.date]:
        return period_starts(self.n_periods, anchor=self.anchor, period_days=self.cfg.period_days)


def plan_panel(transactions: pl.DataFrame | pl.LazyFrame, cfg: PanelConfig) -> PanelPlan:
    """transactions: customer_id and timestamp of every line (other columns are ignored); lazy for a
    sharded build, so that only these two columns are read."""
    transactions = transactions.lazy().select("customer_id", "timestamp")
    # Projections, filters, min / max and unique: operations Polars' streaming engine runs natively, so
    # the driver never holds the lines (periods are arithmetic on dates, no group_by_dynamic / rolling).
    first, last = data_dates(transactions)
    anchor = cfg.start or default_anchor(first)
    n_complete = complete_periods(cfg.end or last, anchor=anchor, period_days=cfg.period_days)
    splits = decision_splits(n_complete, train_periods=cfg.train_periods, folds=cfg.folds)
    validations = splits.filter(pl.col("split") == "validation").sort("fold").get_column("period").unique(maintain_order=True).to_list()
    sampled = None
    if cfg.max_customers is not None:
        period = period_of(anchor=anchor, period_days=cfg.period_days)
        seen = transactions.filter(period.is_between(0, validations[0] - 1)).select("customer_id").unique().collect(engine="streaming")
        sampled = _sample_customers(seen, cfg.max_customers)
    return PanelPlan(cfg, anchor, n_complete, splits, validations, sampled)


def build_panel(data: RetailData, cfg: PanelConfig, *, offer_history: pl.DataFrame | None = None) -> Panel:
    """Columns: customer_id, item_id, category, period, period_start, target (null in the future
    period), relevant_from_fold, features.

    `offer_history` (item_id, customer_id (null = every consumer), start_date, end_date, offer_pct):
    the retailer's record of the offers it ran; where it covers a pair and period it replaces the
    offer inferred from other consumers' discounts (which carries measurement error).

    The whole panel in memory: one shard of the sharded build (features/shards.py), same functions."""
    plan = plan_panel(data.transactions, cfg)
    tx, items, outside = shard_lines(data.transactions, data.items, plan)
    kept, skipped = select_categories(category_sizes(pair_relevance(tx, plan)), cfg)
    frame, features = shard_panel(tx, items, data, plan, kept, Totals.of(tx), offer_history=offer_history)
    pairs = frame.select("customer_id", "item_id").n_unique() if frame.height else 0
    return Panel(
        frame=frame, features=features, splits=plan.splits, info=panel_info(plan, outside, pairs, frame.height, skipped, offer_history)
    )


def panel_info(plan: PanelPlan, outside: int, pairs: int, rows: int, skipped: dict[str, str], offer_history) -> dict[str, object]:
    """The manifest's facts about a built panel."""
    cfg = plan.cfg
    return {
        "anchor": plan.anchor.isoformat(),
        "period_days": cfg.period_days,
        "periods": plan.n_periods,
        "complete_periods": plan.n_complete,
        "future_period": plan.n_complete,
        "future_period_start": plan.starts[-1].isoformat(),
        "lines_outside_complete_periods": outside,
        "pairs": pairs,
        "rows": rows,
        "skipped_categories": skipped,
        "item_level": cfg.item_level,
        "offer_source": "offer_history where recorded, else inferred (offer_rule)"
        if offer_history is not None
        else "inferred (offer_rule)",
        "min_purchases": cfg.min_purchases,
        "splits": plan.splits.group_by("fold", "split")
        .agg(pl.col("period").min().alias("first"), pl.col("period").max().alias("last"))
        .sort("fold", "split")
        .to_dicts(),
    }


def shard_lines(transactions: pl.DataFrame, items: pl.DataFrame, plan: PanelPlan) -> tuple[pl.DataFrame, pl.DataFrame, int]:
    """One shard's lines prepared for the features (whole baskets: a basket is one consumer's),
    inside the complete periods and the consumer sample; the items at the modelled level; and the
    count of lines outside the periods."""
    tx, items = _prepare_lines(transactions, items, plan.cfg)
    tx = assign_periods(tx, anchor=plan.anchor, period_days=plan.cfg.period_days)
    inside = pl.col("period").is_between(0, plan.n_complete - 1)
    outside = tx.filter(~inside).height
    tx = tx.filter(inside)
    if plan.sampled is not None:
        tx = tx.filter(pl.col("customer_id").is_in(plan.sampled.implode()))
    return tx, items, outside


def shard_panel(
    tx: pl.DataFrame,
    items: pl.DataFrame,
    data: RetailData,
    plan: PanelPlan,
    categories: list[str],
    totals: Totals,
    *,
    offer_history: pl.DataFrame | None,
) -> tuple[pl.DataFrame, list[Feature]]:
    """The panel rows of the consumers whose lines `tx` holds (all of each one's lines) in the kept
    `categories`, with the totals over every consumer; `data` gives customers, promotions and
    campaigns (its transactions are not read). Empty frame and no features when none of these
    consumers has a relevant pair."""
    cfg = plan.cfg
    pairs = pair_relevance(tx, plan).filter(pl.col("category").is_in(categories)).sort("category", "customer_id", "item_id")
    if pairs.height == 0:
        return pl.DataFrame(), []
    item_level = cfg.item_level == "item_id"
    return assemble(
        tx,
        items,
        data.customers,
        pairs,
        n_periods=plan.n_periods,
        labelled=plan.n_complete,
        starts=plan.starts,
        period_days=cfg.period_days,
        lag_windows=cfg.lag_windows,
        interactions=cfg.interactions,
        min_purchases=cfg.min_purchases,
        promotions=data.promotions if item_level else None,
        exposure=_exposure(data, pairs) if item_level else None,
        recorded=_recorded_offers(offer_history, pairs, plan.anchor, cfg.period_days, plan.n_periods) if item_level else None,
        totals=totals,
    )


def _prepare_lines(transactions: pl.DataFrame, items: pl.DataFrame, cfg: PanelConfig) -> tuple[pl.DataFrame, pl.DataFrame]:
    tx = transactions.with_row_index("line")  # source order gives the position in the basket
    if cfg.item_level != "item_id":
        tx, items = coarsen_items(tx, items, cfg.item_level)
    basket = (
        pl.when(pl.col("basket_id").is_not_null())
        .then(pl.col("basket_id").cast(pl.String))
        .otherwise(pl.col("customer_id").cast(pl.String) + "@" + pl.col("timestamp").dt.date().cast(pl.String))
    )
    tx = (
        tx.join(items.select("item_id", "category"), on="item_id")
        .with_columns(basket=basket, gross=pl.col("paid") + pl.col("retail_discount") + pl.col("coupon_discount"))
        .with_columns(
            position=pl.col("line").rank("ordinal").over("basket") / pl.len().over("basket"),
            basket_size=pl.len().over("basket"),
        )
    )
    return tx, items


def _sample_customers(seen: pl.DataFrame, max_customers: int) -> pl.Series:
    """The `max_customers` consumers with the smallest salted hash of their id among those `seen`
    before the first cutoff, so the sample never depends on what happened after any decision's cutoff."""
    ids = (
        seen.with_columns(h=pl.col("customer_id").hash(seed=0) ^ pl.lit(SAMPLE_SALT).hash(seed=0))
        .sort("h", "customer_id")
        .head(max_customers)
    )
    return ids.get_column("customer_id")


def coarsen_items(tx: pl.DataFrame, items: pl.DataFrame, level: str) -> tuple[pl.DataFrame, pl.DataFrame]:
    """Model a coarser item attribute (e.g. product_type) as the item; ids become attribute codes."""
    if level not in items.columns:
        raise OptionError(f"The 'panel.item_level' option must be 'item_id' or an item column {items.columns}. Got {level!r} instead.")
    levels = (
        items.select(level=pl.col(level).cast(pl.String).fill_null("UNKNOWN"), category=pl.col("category"))
        .group_by("level")
        .agg(pl.col("category").mode().first())
        .sort("level")
        .with_row_index("new_id")
        .with_columns(pl.col("new_id").cast(pl.Int64))
    )
    mapping = items.select("item_id", level=pl.col(level).cast(pl.String).fill_null("UNKNOWN")).join(levels, on="level")
    tx = tx.join(mapping.select("item_id", "new_id"), on="item_id").drop("item_id").rename({"new_id": "item_id"})
    new_items = levels.select(
        item_id=pl.col("new_id"),
        category=pl.col("category"),
        brand=pl.lit("UNKNOWN"),
        brand_type=pl.lit("UNKNOWN"),
        item_label=pl.col("level"),
    )
    return tx, new_items


def pair_relevance(tx: pl.DataFrame, plan: PanelPlan) -> pl.DataFrame:
    """Pairs bought in >= min_purchases periods before a fold's validation period.

    Columns: customer_id, item_id, category, relevant_from_fold. History only grows with the fold,
    so a pair relevant in fold k is relevant in every later fold. Per consumer, so per shard."""
    bought = tx.select("customer_id", "item_id", "category", "period").unique()
    counts = bought.group_by("customer_id", "item_id", "category").agg(
        [(pl.col("period") < v).sum().alias(f"n{k}") for k, v in enumerate(plan.validations)]
    )
    fold_expr = pl.lit(None, pl.Int32)
    for k in reversed(range(len(plan.validations))):
        fold_expr = pl.when(pl.col(f"n{k}") >= plan.cfg.min_purchases).then(pl.lit(k, pl.Int32)).otherwise(fold_expr)
    return counts.select("customer_id", "item_id", "category", relevant_from_fold=fold_expr).drop_nulls()


def category_sizes(pairs: pl.DataFrame) -> pl.DataFrame:
    """category, len: relevant pairs per category (shards' sizes add up)."""
    return pairs.group_by("category").len()


def select_categories(sizes: pl.DataFrame, cfg: PanelConfig) -> tuple[list[str], dict[str, str]]:
    """The categories the panel keeps, and those it skips with the reason; `sizes` (category, len)
    over all consumers, shards' rows summed here. Raises when none is kept."""
    sizes = sizes.group_by("category").agg(pl.col("len").sum())
    if sizes.get_column("len").sum() == 0:
        raise OptionError(
            f"No consumer-item pair was bought in at least {cfg.min_purchases} periods before a cutoff, so no pair is relevant: "
            f"lower the 'panel.min_purchases' option ({cfg.min_purchases})"
            + (f" or raise panel.max_customers ({cfg.max_customers})." if cfg.max_customers is not None else ".")
        )
    skipped: dict[str, str] = {}
    if cfg.categories is not None:
        for cat in sorted(set(cfg.categories) - set(sizes.get_column("category").to_list())):
            skipped[cat] = "no relevant consumer-item pairs in this data"
        sizes = sizes.filter(pl.col("category").is_in(cfg.categories))
    for cat, n in sizes.filter(pl.col("len") < cfg.min_pairs_per_category).sort("category").iter_rows():
        skipped[cat] = f"{n} relevant pairs, fewer than min_pairs_per_category={cfg.min_pairs_per_category}"
    sizes = sizes.filter(~pl.col("category").is_in(list(skipped))).sort(["len", "category"], descending=[True, False])
    if cfg.top_categories is not None:
        for cat in sizes.get_column("category").to_list()[cfg.top_categories :]:
            skipped[cat] = f"not among the {cfg.top_categories} largest categories (top_categories)"
        sizes = sizes.head(cfg.top_categories)
    if sizes.height == 0:
        raise InputError(f"No category has at least {cfg.min_pairs_per_category} relevant consumer-item pairs; skipped: {skipped}.")
    return sorted(sizes.get_column("category").to_list()), skipped


def _recorded_offers(history: pl.DataFrame | None, pairs: pl.DataFrame, anchor, period_days: int, n_periods: int) -> pl.DataFrame | None:
    """pair_idx, period, offer_pct, expected_offer_pct (null unless a randomised design drew the offer)
    from the retailer's offer history; a consumer-specific record wins over an item-wide one; where
    several cover one period, the latest-starting one."""
    if history is None or history.height == 0:
        return None
    to_period = lambda c: ((pl.col(c) - pl.lit(anchor)).dt.total_days() // period_days).cast(pl.Int32)  # noqa: E731
    periods = (
        history.with_columns(p0=to_period("start_date"), p1=to_period("end_date"), specific=pl.col("customer_id").is_not_null())
        .with_columns(period=pl.int_ranges("p0", pl.col("p1") + 1))
        .explode("period")
        .filter(pl.col("period").is_between(0, n_periods - 1))
    )
    indexed = pairs.with_row_index("pair_idx").select("pair_idx", "customer_id", "item_id")
    specific = periods.filter("specific").join(indexed, on=["customer_id", "item_id"])
    wide = periods.filter(~pl.col("specific")).drop("customer_id").join(indexed, on="item_id")
    design = pl.col(DESIGN_MEAN).cast(pl.Float64) if DESIGN_MEAN in history.columns else pl.lit(None, pl.Float64).alias(DESIGN_MEAN)
    columns = ["pair_idx", "period", "offer_pct", "specific", "start_date", design]
    both = pl.concat([specific.select(columns), wide.select(columns)])
    return (
        both.sort("specific", "start_date")
        .unique(["pair_idx", "period"], keep="last")
        .select(pl.col("pair_idx").cast(pl.Int64), pl.col("period").cast(pl.Int64), pl.col("offer_pct").cast(pl.Float64), DESIGN_MEAN)
    )


def _exposure(data: RetailData, pairs: pl.DataFrame) -> pl.DataFrame | None:
    """Coupon campaigns per relevant pair: pair_idx, start_date, end_date."""
    if data.campaigns is None or data.coupons is None:
        return None
    indexed = pairs.with_row_index("pair_idx").select("pair_idx", "customer_id", "item_id")
    return (
        indexed.join(data.campaigns, on="customer_id")
        .join(data.coupons, on=["campaign_id", "item_id"])
        .select("pair_idx", "start_date", "end_date")
    )
