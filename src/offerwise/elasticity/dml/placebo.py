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
    rng = np.random.default_rng(seed)
    ip = labelled.select("item_id", "period").unique().sort("item_id", "period")
    perm = np.concatenate(
        [rng.permutation(part.get_column("period").to_numpy()) for _, part in ip.group_by("item_id", maintain_order=True)]
    )
    mapping = ip.with_columns(pl.Series("__from", perm).cast(labelled.schema["period"]))
    pair_offer = labelled.select("customer_id", "item_id", pl.col("period").alias("__from"), pl.col(OFFER).alias("__pair"))
    item_offer = (
        labelled.select("item_id", "period", OFFER)
        .group_by("item_id", "period")
        .agg(pl.col(OFFER).mean().alias("__item"))
        .rename({"period": "__from"})
    )
    permuted = (  # on the key columns only: the joins and the sort would otherwise move every column
        labelled.select("customer_id", "item_id", "period")
        .with_row_index("__row")
        .join(mapping, on=["item_id", "period"], how="left")
        .join(pair_offer, on=["customer_id", "item_id", "__from"], how="left")
        .join(item_offer, on=["item_id", "__from"], how="left")
        .sort("__row")
        .select(pl.coalesce("__pair", "__item").cast(labelled.schema[OFFER]).alias(OFFER))
    )
    return labelled.with_columns(permuted.get_column(OFFER))


def placebo(rows: pl.DataFrame, features: list[Feature], cfg: ResponseConfig, *, cutoff: int, seed: int = 0) -> pl.DataFrame:
    """Offers permuted across periods within item (their link to purchases broken), re-estimated on at
    most cfg.placebo_max_rows rows: every slope should be 0. Returns category, slope, low, high,
    covers_zero."""
    permuted = permute_offers(rows, cutoff=cutoff, seed=seed)
    small = cfg.model_copy(update={"max_rows": min(cfg.max_rows, cfg.placebo_max_rows)})
    est = OfferResponse(small, seed=seed).fit(permuted, features, cutoff=cutoff).estimate_
    return est.categories.select("category", "slope", "low", "high").with_columns(covers_zero=(pl.col("low") <= 0) & (pl.col("high") >= 0))
