"""Feature computation on dense matrices, assembled into the panel frame (rows pair-major)."""

from __future__ import annotations

import datetime as dt
from concurrent.futures import ThreadPoolExecutor

import numpy as np
import polars as pl

from offerwise.columns import DESIGN_MEAN, OFFER_DESIGN
from offerwise.features import history as h
from offerwise.features.calendar import calendar_features
from offerwise.features.interactions import add_interactions
from offerwise.features.lags import rolling_stats
from offerwise.features.manifest import Feature
from offerwise.features.matrix import Columns, Totals, dense, index_of, profile_block
from offerwise.features.offers import OFFER_NOISE, offer_matrix

MAX_ITEM_ATTRIBUTE_LEVELS = 5000
TE_SMOOTHING = 20.0


def assemble(
    tx: pl.DataFrame,
    items: pl.DataFrame,
    customers: pl.DataFrame,
    pairs: pl.DataFrame,
    *,
    n_periods: int,
    labelled: int,
    starts: list[dt.date],
    period_days: int,
    lag_windows: list[int],
    interactions: bool,
    min_purchases: int,
    promotions: pl.DataFrame | None,
    exposure: pl.DataFrame | None,
    recorded: pl.DataFrame | None = None,
    totals: Totals | None = None,
) -> tuple[pl.DataFrame, list[Feature]]:
    """Compute every feature for `pairs` (sorted) over `n_periods` periods; periods >= `labelled`
    have no data yet (the future), so their target is null.

    `tx` needs every line of the pairs' consumers; `totals` are the sums over all consumers (by
    default those of `tx`: then `tx` must hold every consumer's lines). interactions, min_purchases: features/interactions.py."""
    totals = totals or Totals.of(tx)
    P, T = pairs.height, n_periods
    cust_index, item_index, cat_index = (
        index_of(pairs["customer_id"], "customer_id"),
        index_of(totals.items["item_id"], "item_id"),
        index_of(totals.categories["category"], "category"),
    )
    tx = tx.join(cust_index, on="customer_id", how="left").join(item_index, on="item_id").join(cat_index, on="category")
    item_totals = totals.items.join(item_index, on="item_id")
    cat_totals = totals.categories.join(cat_index, on="category")
    pairs = (
        pairs.with_row_index("pair_idx")
        .join(cust_index, on="customer_id", maintain_order="left")
        .join(item_index, on="item_id", maintain_order="left")
        .join(cat_index, on="category", maintain_order="left")
    )
    p_cust, p_item, p_cat = (pairs.get_column(f"{c}_idx").to_numpy() for c in ("customer_id", "item_id", "category"))
    pair_lines = tx.join(pairs.select("customer_id", "item_id", "pair_idx"), on=["customer_id", "item_id"])
    pp = pair_lines.group_by("pair_idx", "period").agg(
        disc=pl.col("retail_discount").sum(), gross=pl.col("gross").sum(), position=pl.col("position").mean(), one=pl.lit(1.0)
    )
    bought = dense(pp, "pair_idx", "one", P, T) > 0
    cols = Columns(P, T)
    _datetime_features(cols, starts, period_days)
    profile_block(cols, "ci", "consumer-item pair", bought, np.arange(P))
    cols.temporal(
        "ci_basket_position",
        h.expanding_mean(dense(pp, "pair_idx", "position", P, T), bought),
        "profile",
        "Mean position of the item in the consumer's baskets (line order / basket lines, 0-1] before t.",
        fill=0.5,
    )
    c_baskets = _consumer_features(cols, tx, cust_index.height, T, p_cust)
    _item_features(cols, item_totals, item_index.height, T, p_item)
    offer, offer_noise, design = _price_offer_features(
        cols, tx, pp, item_totals, cat_totals, item_index.height, cat_index.height, T, p_item, p_cat, p_cust, recorded
    )
    _retailer_plans(cols, pairs, promotions, exposure, starts, period_days, T)
    _lag_features(cols, {"target": bought.astype(np.float32), "offer_pct": offer, "c_baskets": c_baskets}, lag_windows)
    if interactions:
        add_interactions(cols, offer, bought, p_cust, p_cat, min_orders=min_purchases)
    _static_features(cols, pairs, items, customers)
    _target_encodings(cols, tx, pairs, item_totals, cat_totals, T)
    keys = _row_keys(pairs, starts, bought, labelled, offer_noise, design)
    frame = pl.DataFrame({**keys, **{k: v for k, v in cols.data.items() if k not in keys}})
    return frame, cols.features


def _row_keys(
    pairs: pl.DataFrame, starts: list[dt.date], bought: np.ndarray, labelled: int, offer_noise: np.ndarray, design: np.ndarray
) -> dict:
    """The panel's key and bookkeeping columns, one row per pair and period (pair-major)."""
    P, T = bought.shape
    return {
        "customer_id": np.repeat(pairs.get_column("customer_id").to_numpy(), T),
        "item_id": np.repeat(pairs.get_column("item_id").to_numpy(), T),
        "category": pairs.get_column("category").gather(np.repeat(np.arange(P), T)),
        "period": np.tile(np.arange(T, dtype=np.int32), P),
        "period_start": pl.Series(starts * P, dtype=pl.Date),
        "target": pl.Series(bought.ravel().astype(np.int8)).scatter(np.flatnonzero(np.tile(np.arange(T) >= labelled, P)), None),
        "relevant_from_fold": np.repeat(pairs.get_column("relevant_from_fold").to_numpy(), T),
        # Not a feature (no model reads it): period t's value comes from period t's lines. Only the
        # offer-response estimate reads it, over labelled periods up to its cutoff.
        OFFER_NOISE: pl.Series(offer_noise.ravel()).fill_nan(None),
        # Not a feature either: a randomised design's mean offer (offer_history's expected_offer_pct), for the offer response.
        OFFER_DESIGN: pl.Series(design.ravel()).fill_nan(None),
    }


def _lag_features(cols: Columns, series: dict[str, np.ndarray], lag_windows: list[int]) -> None:
    jobs = [(name, w) for name in series for w in lag_windows]
    # Each window's statistics are whole-array numpy (which releases the GIL): two at a time use both
    # cores of a small machine; the columns are added in the same order as one after the other.
    with ThreadPoolExecutor(max_workers=2) as pool:
        for (name, w), stats in zip(jobs, pool.map(lambda job: rolling_stats(series[job[0]], job[1]), jobs), strict=True):
            for stat, v in stats.items():
                cols.temporal(f"lag_{name}_{stat}_{w}", v, "lag", f"Rolling {stat} of {name} over periods t-{w} .. t-1.", fill=0.0)


def _datetime_features(cols: Columns, starts: list[dt.date], period_days: int) -> None:
    cal = calendar_features(starts, period_days)
    cols.per_period(
        "period_index",
        cal.get_column("period").to_numpy().astype(np.float32),
        "datetime",
        "temporal_continuous",
        "Index of the period (trend).",
    )
    for name in ("week_of_year", "month", "quarter", "season", "holiday"):
        values = cal.get_column(name)
        values = values.to_numpy() if values.dtype != pl.String else values.to_numpy().astype(str)
        cols.per_period(
            name,
            values,
            "datetime",
            "temporal_categorical",
            f"{name.replace('_', ' ')} of the period's first day (holiday: the period contains a US holiday).",
        )


def _consumer_features(cols: Columns, tx: pl.DataFrame, n_cust: int, T: int, p_cust: np.ndarray) -> np.ndarray:
    cp = (
        tx.filter(pl.col("customer_id_idx").is_not_null())
        .group_by("customer_id_idx", "period")
        .agg(baskets=pl.col("basket").n_unique().cast(pl.Float64), lines=pl.len().cast(pl.Float64), spend=pl.col("paid").sum())
    )
    baskets = dense(cp, "customer_id_idx", "baskets", n_cust, T)
    profile_block(cols, "c", "consumer", baskets > 0, p_cust)
    lines = dense(cp, "customer_id_idx", "lines", n_cust, T)
    with np.errstate(invalid="ignore", divide="ignore"):
        size = np.where(baskets > 0, lines / baskets, np.nan)
    cols.temporal("c_basket_size", h.expanding_mean(size, baskets)[p_cust], "profile", "Mean lines per basket of the consumer before t.")
    cols.temporal("c_baskets_last", h.shift_right(baskets, 0.0)[p_cust], "profile", "Consumer's baskets in period t-1.")
    cols.temporal(
        "c_spend_last",
        h.shift_right(dense(cp, "customer_id_idx", "spend", n_cust, T), 0.0)[p_cust],
        "profile",
        "Consumer's spend in period t-1.",
    )
    return baskets[p_cust].astype(np.float32)


def _item_features(cols: Columns, item_totals: pl.DataFrame, n_items: int, T: int, p_item: np.ndarray) -> None:
    buyers = dense(item_totals.with_columns(pl.col("buyers").cast(pl.Float64)), "item_id_idx", "buyers", n_items, T)
    profile_block(cols, "i", "item (all consumers)", buyers > 0, p_item)
    cols.temporal("i_buyers_last", h.shift_right(buyers, 0.0)[p_item], "profile", "Consumers who bought the item in period t-1.")
    cols.temporal(
        "i_buyers_mean", h.expanding_mean(buyers, np.ones_like(buyers))[p_item], "profile", "Mean buyers per period of the item before t."
    )


def _sums(tx: pl.DataFrame, keys: list[str]) -> pl.DataFrame:
    return tx.group_by(*keys, "period").agg(
        disc=pl.col("retail_discount").sum(),
        gross=pl.col("gross").sum(),
        qty=pl.col("quantity").sum(),
        listv=(pl.col("list_price") * pl.col("quantity")).sum(),
    )


def _price_offer_features(
    cols, tx, pp, item, cat, n_items, n_cats, T, p_item, p_cat, p_cust, recorded=None
) -> tuple[np.ndarray, np.ndarray]:
    """item, cat: the item and category totals (over every consumer); tx: the pairs' consumers' lines.
    Returns the (P, T) offer, its sampling variance (0 where recorded) and the randomised design's mean
    offer (NaN where no design drew it)."""
    P = p_item.size
    # The consumer's own lines in the category, whether or not they bought this item: (C, K, T) -> (P, T).
    own = _sums(tx.filter(pl.col("customer_id_idx").is_not_null()), ["customer_id_idx", "category_idx"])
    own_cube = {v: np.zeros((int(p_cust.max()) + 1, n_cats, T)) for v in ("disc", "gross")}
    for v, cube in own_cube.items():
        cube[own["customer_id_idx"].to_numpy(), own["category_idx"].to_numpy(), own["period"].to_numpy()] = own[v].to_numpy()
    sums = ("disc", "gross", "dd", "dg", "gg", "clusters")
    item_sums = {v: dense(item, "item_id_idx", v, n_items, T) for v in sums}
    cat_sums = {v: dense(cat, "category_idx", v, n_cats, T) for v in sums}
    item_disc, item_gross = item_sums["disc"], item_sums["gross"]
    offer, noise = offer_matrix(
        item=item_sums,
        pair_item=p_item,
        pair_disc=dense(pp, "pair_idx", "disc", P, T),
        pair_gross=dense(pp, "pair_idx", "gross", P, T),
        cat=cat_sums,
        pair_cat=p_cat,
        own_cat_disc=own_cube["disc"][p_cust, p_cat],
        own_cat_gross=own_cube["gross"][p_cust, p_cat],
    )
    how = "Offer % available to the consumer in period t (see offer_rule)."
    design = np.full(offer.shape, np.nan)
    if recorded is not None:  # the retailer's own record beats an inference from other consumers' discounts
        at = recorded.get_column("pair_idx").to_numpy(), recorded.get_column("period").to_numpy()
        offer[at] = recorded.get_column("offer_pct").to_numpy()
        noise[at] = 0.0
        design[at] = recorded.get_column(DESIGN_MEAN).fill_null(np.nan).to_numpy()
        how = "Offer % the retailer recorded for the consumer and item in period t (offer_history); inferred by offer_rule where it has no record."
    cols.temporal("offer_pct", offer, "price_offer", how, advance=True)
    item_qty, cat_qty = dense(item, "item_id_idx", "qty", n_items, T), dense(cat, "category_idx", "qty", n_cats, T)
    with np.errstate(invalid="ignore", divide="ignore"):
        item_price = h.expanding_mean(dense(item, "item_id_idx", "listv", n_items, T) / np.where(item_qty > 0, item_qty, np.nan), item_qty)[
            p_item
        ]
        cat_price = h.expanding_mean(dense(cat, "category_idx", "listv", n_cats, T) / np.where(cat_qty > 0, cat_qty, np.nan), cat_qty)[
            p_cat
        ]
        regular = np.where(np.isnan(item_price), cat_price, item_price)
        relative = np.where(np.isnan(regular) | np.isnan(cat_price), 1.0, regular / cat_price)
        item_rate = h.expanding_mean(100.0 * item_disc / np.where(item_gross > 0, item_gross, np.nan), item_gross)[p_item]
        pair_gross = dense(pp, "pair_idx", "gross", P, T)
        pair_rate = h.expanding_mean(100.0 * dense(pp, "pair_idx", "disc", P, T) / np.where(pair_gross > 0, pair_gross, np.nan), pair_gross)
    cols.temporal(
        "i_regular_price", regular, "price_offer", "Item's mean unit list price before t (category's where the item has none).", fill=0.0
    )
    cols.temporal(
        "i_relative_price", relative, "price_offer", "Item's regular price / its category's mean unit list price, before t.", fill=1.0
    )
    cols.temporal(
        "ci_hist_offer_pct",
        np.where(np.isnan(pair_rate), item_rate, pair_rate),
        "price_offer",
        "Offer % on the pair's own purchases before t (the item's historical offer % where none).",
        fill=0.0,
    )
    return offer, noise, design


def _retailer_plans(cols, pairs, promotions, exposure, starts, period_days, T) -> None:
    """Display, mailer and coupon exposure of period t: planned by the retailer, so known in advance."""
    anchor, P = starts[0], pairs.height
    to_period = lambda c: ((pl.col(c) - pl.lit(anchor)).dt.total_days() // period_days).cast(pl.Int32)  # noqa: E731
    if promotions is not None and promotions.height:
        weeks = period_days / 7
        promo = (
            promotions.with_columns(period=to_period("week_start"))
            .filter(pl.col("period").is_between(0, T - 1))
            .group_by("item_id", "period")
            .agg(pl.col("display").sum() / weeks, pl.col("mailer").sum() / weeks)
            .join(pairs.select("item_id", "pair_idx"), on="item_id")
        )
        for name in ("display", "mailer"):
            cols.temporal(
                name,
                dense(promo, "pair_idx", name, P, T),
                "price_offer",
                f"Share of stores with the item on {name} in period t.",
                advance=True,
            )
    if exposure is not None and exposure.height:
        exposed = (
            exposure.with_columns(p0=to_period("start_date"), p1=to_period("end_date"))
            .with_columns(period=pl.int_ranges("p0", pl.col("p1") + 1))
            .explode("period")
            .filter(pl.col("period").is_between(0, T - 1))
            .select("pair_idx", pl.col("period").cast(pl.Int32))
            .unique()
            .with_columns(one=pl.lit(1.0))
        )
        cols.temporal(
            "coupon_exposure",
            dense(exposed, "pair_idx", "one", P, T),
            "price_offer",
            "1 if a coupon campaign covering the item targets the consumer during period t.",
            advance=True,
        )


def _static_features(cols, pairs, items, customers) -> None:
    cols.static(
        "customer_id", pairs.get_column("customer_id").to_numpy(), "attribute", "static_categorical", "Consumer id (embedding).", is_id=True
    )
    cols.static("item_id", pairs.get_column("item_id").to_numpy(), "attribute", "static_categorical", "Item id (embedding).", is_id=True)
    item_cols = [
        c
        for c in items.columns
        if c != "item_id" and items.schema[c] == pl.String and items.get_column(c).n_unique() <= MAX_ITEM_ATTRIBUTE_LEVELS
    ]
    attrs = _attach(pairs, items.select("item_id", *item_cols), "item_id", "items")
    for c in item_cols:
        cols.static(c, attrs.get_column(c).fill_null("missing"), "attribute", "static_categorical", f"Item attribute '{c}'.")
    demo_cols = [c for c in customers.columns if c != "customer_id"]
    demo = _attach(pairs, customers.select("customer_id", *demo_cols), "customer_id", "customers")
    for c in demo_cols:
        cols.static(
            f"demo_{c}",
            demo.get_column(c).cast(pl.String).fill_null("missing"),
            "attribute",
            "static_categorical",
            f"Consumer attribute '{c}' ('missing' where unknown).",
        )


def _attach(pairs: pl.DataFrame, table: pl.DataFrame, key: str, what: str) -> pl.DataFrame:
    """`table`'s row for each pair, in the pairs' order (null where it has none). A key listed twice
    in `table` would add rows and move every later attribute onto another pair's row, so it stops."""
    repeated = table.filter(pl.col(key).is_duplicated())
    if repeated.height:
        ids = repeated.get_column(key).unique().sort().head(5).to_list()
        raise ValueError(f"the {what} table lists {key} {ids} more than once; each needs exactly one row.")
    out = pairs.select(key).join(table, on=key, how="left", maintain_order="left")
    if out.height != pairs.height or not out.get_column(key).equals(pairs.get_column(key)):  # never a shifted row
        raise RuntimeError(f"the {what} attributes do not line up with the panel's pairs")
    return out


def _target_encodings(cols: Columns, tx: pl.DataFrame, pairs: pl.DataFrame, item_totals, cat_totals, T: int) -> None:
    """Repurchase rates of the item and of the consumer over every line before t (not only the
    panel's pairs, so that which pairs later become relevant never moves a value). The item's and
    the category's come from the totals over all consumers, the consumer's from its own lines."""
    lines = tx.filter(pl.col("customer_id_idx").is_not_null()).unique(["customer_id", "item_id_idx", "period"])
    first = pl.col("period").min().over("customer_id", "item_id_idx")
    own = lines.with_columns(new=(pl.col("period") == first).cast(pl.Float64), hits=pl.lit(1.0))
    cat_hits, cat_exposure = _repurchase_counts(cat_totals, "category_idx", int(cat_totals.get_column("category_idx").max()) + 1, T)
    with np.errstate(invalid="ignore", divide="ignore"):
        cat_rate = np.where(cat_exposure > 0, cat_hits / cat_exposure, 0.0)[pairs.get_column("category_idx").to_numpy()]
    for name, key, counts, level in (
        ("te_item", "item_id_idx", item_totals, "item"),
        (
            "te_customer",
            "customer_id_idx",
            own.group_by("customer_id_idx", "period").agg(pl.col("hits").sum(), pl.col("new").sum()),
            "consumer",
        ),
    ):
        rows = pairs.get_column(key).to_numpy()
        hits, exposure = _repurchase_counts(counts, key, max(int(rows.max()), int(counts.get_column(key).max() or 0)) + 1, T)
        value = (hits[rows] + TE_SMOOTHING * cat_rate) / (exposure[rows] + TE_SMOOTHING)
        cols.temporal(
            name,
            value,
            "target_encoding",
            f"Purchase periods per period since the first purchase, over every consumer-item of the {level} before t, "
            f"smoothed towards the pair's category rate with weight {TE_SMOOTHING:g}.",
        )


def _repurchase_counts(per: pl.DataFrame, key: str, n: int, T: int) -> tuple[np.ndarray, np.ndarray]:
    """per: key, period, hits, new. (n, T) each: purchase periods before t, and consumer-item
    periods of exposure before t (from each consumer-item's first purchase on)."""
    hits = np.cumsum(dense(per, key, "hits", n, T), axis=1)
    exposure = np.cumsum(np.cumsum(dense(per, key, "new", n, T), axis=1), axis=1)
    return h.shift_right(hits, 0.0).astype(np.float64), h.shift_right(exposure, 0.0).astype(np.float64)
