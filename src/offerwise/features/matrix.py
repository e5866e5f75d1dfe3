"""The (pairs x periods) feature matrices the panel is assembled from: the columns being built, the
per-level totals they come from, and the profile block every level shares (rows pair-major)."""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
import polars as pl

from offerwise.features import history as h
from offerwise.features.manifest import Family, Feature, Group

SINCE_START = "since_start"


class Columns:
    """Collects panel columns (flattened pair-major) and their manifest entries."""

    def __init__(self, n_pairs: int, n_periods: int) -> None:
        self.P, self.T = n_pairs, n_periods
        self.data: dict[str, pl.Series] = {}
        self.features: list[Feature] = []

    def temporal(self, name: str, values: np.ndarray, family: Family, how: str, *, fill: float | str = 0.0, advance: bool = False) -> None:
        """values: (P, T); NaN (undefined history) is filled with `fill`, stated in the manifest.

        fill = SINCE_START fills with t + 1, the periods since the panel's start: a lower bound of
        the true value that, unlike the panel's length, no later data can move.
        """
        fill_values = np.arange(1, self.T + 1, dtype=np.float32)[None, :] if fill == SINCE_START else np.float32(fill)
        v = np.where(np.isnan(values), fill_values, values).astype(np.float32).ravel()
        text = "t + 1 (periods since the data's start)" if fill == SINCE_START else f"{fill:g}"
        how = how + (f" Undefined (no history yet) -> {text}." if np.isnan(values).any() else "")
        self._add(name, v, family, "temporal_continuous", how, advance=advance)

    def per_period(self, name: str, values: np.ndarray, family: Family, group: Group, how: str) -> None:
        self._add(name, np.tile(values, self.P), family, group, how, advance=True)

    def static(self, name: str, values: np.ndarray | pl.Series, family: Family, group: Group, how: str, *, is_id: bool = False) -> None:
        if isinstance(values, pl.Series):  # text attributes: categorical keeps the panel small
            repeated = values.cast(pl.Categorical).gather(np.repeat(np.arange(self.P), self.T))
        else:
            repeated = np.repeat(values, self.T)
        self._add(name, repeated, family, group, how, is_id=is_id)

    def _add(self, name, values, family, group, how, *, advance: bool = False, is_id: bool = False) -> None:
        dtype = "category" if isinstance(values, pl.Series) else str(values.dtype)
        # Hold each column once, as a Series: the panel of all Complete Journey pairs is ~20 M rows.
        self.data[name] = values if isinstance(values, pl.Series) else pl.Series(name, values)
        self.features.append(Feature(name, family, group, dtype, how, known_in_advance=advance, is_id=is_id))


def dense(frame: pl.DataFrame, row: str, value: str, n_rows: int, n_periods: int) -> np.ndarray:
    """Scatter (row, period, value) into an (n_rows, n_periods) matrix (0 where absent)."""
    out = np.zeros((n_rows, n_periods), dtype=np.float64)
    out[frame.get_column(row).to_numpy(), frame.get_column("period").to_numpy()] = frame.get_column(value).to_numpy()
    return out


def index_of(values: pl.Series, name: str) -> pl.DataFrame:
    return pl.DataFrame({name: values.unique().sort()}).with_row_index(f"{name}_idx").with_columns(pl.col(f"{name}_idx").cast(pl.Int64))


def group_sums(frame: pl.DataFrame, keys: list[str], **sums: pl.Expr) -> pl.DataFrame:
    """keys and, per group, each expression summed, sorted by the keys. The rows are added in one
    fixed order (by key, then as they come), whatever the engine or its threads: polars' parallel
    group-by adds floats in an order that varies from run to run (pola-rs/polars#25163), and the
    offers' leave-one-out variances subtract these totals, where the last bits show."""
    values = frame.select(*keys, **sums).sort(keys, maintain_order=True)
    if values.height == 0:
        return values
    new_group = pl.any_horizontal(pl.col(k).ne_missing(pl.col(k).shift(1)) for k in keys).fill_null(True)
    starts = np.flatnonzero(values.select(new_group).to_series().to_numpy())
    # np.add.reduceat: each group's slice added in a fixed order (polars has no deterministic grouped float sum)
    out = values.select(keys).gather(starts)
    return out.with_columns(pl.Series(name, np.add.reduceat(values.get_column(name).to_numpy(), starts)) for name in sums)


@dataclass(frozen=True)
class Totals:
    """Item x period and category x period sums over *every* consumer's lines: all a consumer's
    features need from other consumers. Each consumer's lines live in one shard, so the totals of
    the whole data are the sums of the shards' totals (`combine`), exactly for the counts.

    items: item_id, period, disc, gross, qty, listv, hits, new, buyers, dd, dg, gg, clusters;
    categories: the same by category without buyers. hits = consumer-items bought in the period;
    new = those bought for the first time (their repurchase exposure starts); buyers = distinct
    consumers; dd, dg, gg = sums over consumers of their discount², discount × gross and gross²,
    clusters = consumers with lines (the offer's sampling variance)."""

    items: pl.DataFrame
    categories: pl.DataFrame

    @classmethod
    def of(cls, tx: pl.DataFrame) -> Totals:
        """tx: prepared lines (customer_id, item_id, category, period, retail_discount, gross, quantity, list_price)."""
        first = pl.col("period").min().over("customer_id", "item_id")
        bought = (
            tx.select("customer_id", "item_id", "category", "period")
            .unique()
            .with_columns(hits=pl.lit(1.0), new=(pl.col("period") == first).cast(pl.Float64))
        )

        def by(key: str) -> pl.DataFrame:
            sums = group_sums(
                tx,
                [key, "period"],
                disc=pl.col("retail_discount"),
                gross=pl.col("gross"),
                qty=pl.col("quantity"),
                listv=pl.col("list_price") * pl.col("quantity"),
            )
            counts = bought.group_by(key, "period").agg(pl.col("hits").sum(), pl.col("new").sum(), buyers=pl.col("customer_id").n_unique())
            # Per-consumer sums of squares: the sampling variance of the discount rate, clustered by
            # consumer (offers.loo_rate_and_variance); they add up over shards like the sums.
            per_consumer = group_sums(tx, [key, "period", "customer_id"], d=pl.col("retail_discount"), g=pl.col("gross"))
            squares = group_sums(
                per_consumer.with_columns(clusters=pl.lit(1.0)),
                [key, "period"],
                dd=pl.col("d") ** 2,
                dg=pl.col("d") * pl.col("g"),
                gg=pl.col("g") ** 2,
                clusters=pl.col("clusters"),
            )
            return (
                sums.join(counts, on=[key, "period"], how="left")
                .join(squares, on=[key, "period"], how="left")
                .with_columns(pl.col("period").cast(pl.Int64))
            )

        return cls(items=by("item_id"), categories=by("category").drop("buyers"))

    @classmethod
    def combine(cls, parts: list[Totals]) -> Totals:
        def add(frames: list[pl.DataFrame], key: str) -> pl.DataFrame:
            both = pl.concat(frames)
            floats = {c: pl.col(c) for c, t in both.schema.items() if c not in (key, "period") and t.is_float()}
            counts = both.group_by(key, "period").agg(pl.exclude(key, "period", *floats).sum())  # whole numbers: any order
            return group_sums(both, [key, "period"], **floats).join(counts, on=[key, "period"]).select(both.columns).sort(key, "period")

        return cls(items=add([p.items for p in parts], "item_id"), categories=add([p.categories for p in parts], "category"))


def profile_block(cols: Columns, prefix: str, level: str, events: np.ndarray, gather: np.ndarray) -> None:
    """Time since first / last order, gaps, reorder rate and frequency, streak, order count."""
    first, last = h.first_before(events), h.last_before(events)
    gap_mean, gap_last = h.gaps(events)
    reorder, frequency = h.rates(events)
    what = f"{level}'s orders in periods before t"
    undefined_until_ordered = {  # "never happened" is t + 1 (SINCE_START), not the panel's length
        "periods_since_first": (h.periods_since(first), f"Periods since the {level}'s first order (before t)."),
        "periods_since_last": (h.periods_since(last), f"Periods since the {level}'s last order (before t)."),
        "gap_mean": (gap_mean, f"Mean gap in periods between the {what}."),
        "gap_last": (gap_last, f"Gap between the last two of the {what}."),
    }
    for name, (values, how) in undefined_until_ordered.items():
        cols.temporal(f"{prefix}_{name}", values[gather], "profile", how, fill=SINCE_START)
    cols.temporal(f"{prefix}_reorder_rate", reorder[gather], "profile", f"(orders - 1) / periods since the first order; {what}.")
    cols.temporal(f"{prefix}_order_frequency", frequency[gather], "profile", f"Share of periods before t with an order; {what}.")
    cols.temporal(
        f"{prefix}_streak", h.streak_before(events)[gather], "profile", f"Periods in a row with an order, ending at t-1; {level}."
    )
    cols.temporal(f"{prefix}_orders", h.count_before(events)[gather], "profile", f"Number of periods with an order before t; {level}.")
