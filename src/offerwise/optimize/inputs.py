"""Join the stages' outputs into the optimiser's per-pair inputs (pure, over frames)."""

from __future__ import annotations

import polars as pl

from offerwise.columns import PAIR
from offerwise.features.interactions import CATEGORY_SHARE, TOTAL_SHARE

# What every optimiser row carries from its inputs to its offers.
PAIR_COLUMNS = [*PAIR, "category", "price", "reference_offer_pct", "probability", "threshold", "elasticity"]


def optimization_inputs(
    panel: pl.DataFrame,
    pair_elasticity: pl.DataFrame,
    thresholds: pl.DataFrame,
    fits: pl.DataFrame,
    *,
    model: str = "tcn",
    fold: int | None = None,
    outside: pl.DataFrame | None = None,
) -> pl.DataFrame:
    """Columns: customer_id, item_id, category, price, reference_offer_pct, probability, threshold,
    elasticity, category_a, pair_slope, cutoff_offer_pct (the offer each pair faced in the cutoff
    period: the offer ranges come from these); where estimated, the double-ML slopes and the cross
    slopes; where the panel has them, category_share and total_share (optimize/bundles.py); with
    `outside` (customer_id, category, outside_purchases, outside_unit_value: features/outside.py), those
    two per pair's consumer-category, 0 where the consumer bought nothing else there.

    price is the item's regular price before the decided period; probability is the model's at the
    reference offer; threshold is the consumer's cut-off fitted in `fold` (default: the last fold in
    `thresholds`), the category's where they have none.
    """
    period = pair_elasticity.get_column("period").first()
    shares = {"category_share": CATEGORY_SHARE, "total_share": TOTAL_SHARE}
    shares = {name: pl.col(column) for name, column in shares.items() if column in panel.columns}
    price = panel.filter(pl.col("period") == period).select(*PAIR, price="i_regular_price", **shares)
    cut = thresholds.filter(pl.col("model") == model)
    if "fold" in cut.columns:
        cut = cut.filter(pl.col("fold") == (cut.get_column("fold").max() if fold is None else fold))
    category_cut = cut.group_by("category").agg(category_threshold=pl.col("threshold").median())
    paper = fits.filter(pl.col("source") == "model_at_historical_offers").select("category", paper_a="a")
    counterfactual = fits.filter(pl.col("source") == "counterfactual").select("category", cf_a="a")
    extra = {}
    if outside is not None:
        pair_elasticity = pair_elasticity.join(outside, on=["customer_id", "category"], how="left")
        extra = {name: pl.col(name).fill_null(0.0) for name in ("outside_purchases", "outside_unit_value")}
    return (
        pair_elasticity.join(price, on=PAIR, how="left")
        .join(cut.select("customer_id", "category", "threshold"), on=["customer_id", "category"], how="left")
        .join(category_cut, on="category", how="left")
        .join(paper, on="category", how="left")
        .join(counterfactual, on="category", how="left")
        .with_columns(
            # A category with no fitted cut-off at all (no validation purchase) takes the median over categories, not a made-up 0.5.
            threshold=pl.coalesce("threshold", "category_threshold", pl.lit(category_cut.get_column("category_threshold").median())),
            category_a=pl.when(pl.col("paper_a").is_finite()).then("paper_a").otherwise(pl.col("cf_a").fill_nan(0.0)),
            probability=pl.col("probability_at_reference"),
            price=pl.col("price").fill_null(0.0),
        )
        .select(
            *PAIR_COLUMNS,
            "category_a",
            "pair_slope",
            "cutoff_offer_pct",
            *[c for c in ("dml_slope", "dml_slope_sd", "dml_slope_category_se") if c in pair_elasticity.columns],
            *[
                c
                for c in (
                    "cross_slope",
                    "cross_slope_high",
                    "cross_category_slope",
                    "others_slope",
                    "others_se",
                    "cross_category_others",
                    "cross_category_others_se",
                )
                if c in pair_elasticity.columns
            ],
            *shares,
            **extra,
        )
    )


def cross_category_sensitivity(inputs: pl.DataFrame, unit_cost_share: float | None) -> pl.DataFrame:
    """inputs with cross_category_value and cross_category_retention: for each pair's consumer-category,
    G over the consumer's pairs in other categories (optimize/bundles.py), at the status quo; and
    cross_category_unit_value, their mean unit value per expected purchase (what a purchase the
    cross-category pull φ_x moves is worth); with the purchases outside the decision, cross_category_outside
    and cross_category_outside_value, the expected purchases of the items outside the decision in the
    consumer's other categories and their value (a pull on a category's incidence takes from them too,
    though φ_x, measured on the decided pairs, does not see them)."""
    q = pl.col("probability") * (1 - pl.col("probability"))
    unit_value = pl.col("price") * (1 - pl.col("reference_offer_pct") / 100 - (unit_cost_share or 0.0))
    elsewhere = lambda column: pl.col(column).sum().over("customer_id") - pl.col(column).sum().over("customer_id", "category")  # noqa: E731
    outside = "outside_purchases" in inputs.columns
    per_unit = pl.len().over("customer_id", "category")  # the unit's value on each of its rows: summed, once per unit
    return (
        inputs.with_columns(
            __gv=q * unit_value,
            __gr=q,
            __pv=pl.col("probability") * unit_value,
            __p=pl.col("probability"),
            __f=pl.col("outside_purchases") / per_unit if outside else pl.lit(0.0),
            __fv=(
                pl.col("outside_purchases") * pl.col("outside_unit_value") * (1 - (unit_cost_share or 0.0)) / per_unit
                if outside
                else pl.lit(0.0)
            ),
        )
        .with_columns(
            cross_category_value=elsewhere("__gv"),
            cross_category_retention=elsewhere("__gr"),
            cross_category_unit_value=pl.when(elsewhere("__p") > 0).then(elsewhere("__pv") / elsewhere("__p")).otherwise(0.0),
            cross_category_outside=elsewhere("__f"),
            cross_category_outside_value=elsewhere("__fv"),
        )
        .drop("__gv", "__gr", "__pv", "__p", "__f", "__fv")
    )
