"""The placebo check: offers permuted across periods within each item, their link to purchases
broken, and the response re-estimated: every slope should be 0."""

from __future__ import annotations

import numpy as np
import polars as pl

from offerwise.columns import OFFER
from offerwise.config import ResponseConfig
from offerwise.elasticity.dml.design import OUTCOME
from offerwise.elasticity.dml.estimate import OfferResponse
from offerwise.features.manifest import Feature


def permute_offers(rows: pl.DataFrame, *, cutoff: int, seed: int = 0) -> pl.DataFrame:
    """The labelled rows up to the cutoff with their offers permuted across periods within each item
    (seeded): every row of item i in period t gets the offer its pair faced in period π_i(t) (the
    item's mean offer there when the pair has no row then). The whole history is permuted, not only
    the estimation window, so the item-history controls describe the permuted offers and the item's
    usual offer level stays known to the offer model. About 1 period in n keeps its own offer (a
    uniform permutation), which carries ~1/n of the true effect into the placebo (n ≈ 28 periods on
    the simulator: +0.5 SE on average, docs/response.md); a derangement carries about as much with
    the opposite sign."""
    labelled = rows.filter((pl.col("period") <= cutoff) & pl.col(OUTCOME).is_not_null())
    if labelled.height == 0:
        return labelled
    rng = np.random.default_rng(seed)
    ip = labelled.select("item_id", "period").unique().sort("item_id", "period")
    items, periods = ip.get_column("item_id").to_numpy(), ip.get_column("period").to_numpy().astype(np.int64)
    starts = np.flatnonzero(items[1:] != items[:-1]) + 1  # each item's periods, in item order
    sources = np.concatenate([rng.permutation(part) for part in np.split(periods, starts)])
    # Joined on one Int64 key each, (pair or item code) x span + period: 4x faster than on the id columns
    lo, span = int(periods.min()), int(periods.max() - periods.min()) + 1
    at = lambda code, period: pl.col(code) * span + (pl.col(period).cast(pl.Int64) - lo)  # noqa: E731
    keys = labelled.select(
        __pair=_pair_code(labelled), __item=pl.col("item_id") - int(items.min()), __period=pl.col("period"), __offer=pl.col(OFFER)
    )
    pair_offer = keys.select(__at=at("__pair", "__period"), __pair_offer=pl.col("__offer"))
    item_offer = keys.group_by(__at=at("__item", "__period")).agg(__item_offer=pl.col("__offer").mean())
    source = pl.DataFrame({"__at": (items - items.min()) * span + (periods - lo), "__from": sources}).cast(pl.Int64)

    def looked_up(frame: pl.DataFrame, table: pl.DataFrame, code: str, period: str) -> pl.DataFrame:
        return frame.with_columns(__at=at(code, period)).join(table, on="__at", how="left", maintain_order="left").drop("__at")

    sourced = looked_up(keys, source, "__item", "__period")  # each row's source period
    permuted = looked_up(looked_up(sourced, pair_offer, "__pair", "__from"), item_offer, "__item", "__from")
    permuted = permuted.select(pl.coalesce("__pair_offer", "__item_offer").cast(labelled.schema[OFFER]).alias(OFFER))
    return labelled.with_columns(_in_chunks_of(labelled, permuted.get_column(OFFER)))


def _in_chunks_of(frame: pl.DataFrame, values: pl.Series) -> pl.Series:
    """values cut into the chunks of frame's columns. A column chunked otherwise makes polars rechunk
    the whole frame at its next select (every column copied: ~3 s on the Complete Journey's panel)."""
    lengths, values = frame.get_column(frame.columns[0]).chunk_lengths(), values.rechunk()
    starts = np.cumsum([0, *lengths[:-1]])
    return pl.concat([values.slice(int(s), n) for s, n in zip(starts, lengths, strict=True)], rechunk=False)


def _pair_code(rows: pl.DataFrame) -> pl.Expr:
    """An Int64 code per (customer_id, item_id) pair: the ids packed in mixed radix where their ranges
    fit 2^40 pairs (a key with the periods then fits Int64), else the pair's dense rank."""
    ids = pl.col("customer_id", "item_id")
    lo_c, lo_i, hi_c, hi_i = rows.select(ids.min().name.suffix("_lo"), ids.max().name.suffix("_hi")).row(0)
    width = hi_i - lo_i + 1
    if (hi_c - lo_c + 1) * width < 2**40:
        return (pl.col("customer_id") - lo_c) * width + (pl.col("item_id") - lo_i)
    return pl.struct("customer_id", "item_id").rank("dense").cast(pl.Int64)


def placebo(rows: pl.DataFrame, features: list[Feature], cfg: ResponseConfig, *, cutoff: int, seed: int = 0) -> pl.DataFrame:
    """Offers permuted across periods within item (their link to purchases broken), re-estimated on at
    most cfg.placebo_max_rows rows: every slope should be 0. Returns category, slope, low, high,
    covers_zero."""
    permuted = permute_offers(rows, cutoff=cutoff, seed=seed)
    small = cfg.model_copy(update={"max_rows": min(cfg.max_rows, cfg.placebo_max_rows)})
    est = OfferResponse(small, seed=seed).fit(permuted, features, cutoff=cutoff).estimate_
    return est.categories.select("category", "slope", "low", "high").with_columns(covers_zero=(pl.col("low") <= 0) & (pl.col("high") >= 0))
