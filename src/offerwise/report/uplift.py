"""Predicted offer uplift by decile against realised purchase rates, on the backtest's decided fortnight.

The backtest decides the last fortnight in the data, whose purchases are known afterwards. Its pairs
are cut into deciles of predicted uplift: the decision model's probability at the recommended offer
minus its probability at the status quo offer. Per decile the table gives both predictions beside the
realised purchase rate.

What it can show on observational data: the pairs *faced* the status quo offer (on the simulator
exactly, the retailer's recorded plan; on real data without an offer history the reference rule,
which only approximates what ran), so the realised rate should match the predicted rate at the
status quo in every decile. A gap that grows with the decile says the base probabilities are wrong
exactly where the optimiser expects the largest uplift, and the uplift (slope × p(1 − p) × offer
change on the logit scale) inherits that error. What it cannot show: whether the uplift itself is
realised. The recommended offers were never run, so p at the recommendation has no realised
counterpart; that needs offers randomised across pairs (a holdout test), not a better report.
"""

from __future__ import annotations

import matplotlib

matplotlib.use("Agg")
import numpy as np
import polars as pl

from offerwise.columns import PAIR
from offerwise.report.figures import _grid, _png

DECILES = 10
ALL = "all"


def uplift_deciles(offers: pl.DataFrame, labels: pl.DataFrame) -> pl.DataFrame:
    """offers: the backtest's optimiser output (customer_id, item_id, category, reference_offer_pct,
    recommended_offer_pct, probability = p at the status quo, predicted_probability = p at the
    recommendation); labels: customer_id, item_id, label (bought in the decided fortnight).

    Returns one row per category ("all" pools them) and decile (1 = lowest predicted uplift, equal
    row counts): category, decile, rows, predicted_uplift, p_status_quo, p_recommended,
    realised_rate, status_quo_offer_pct, recommended_offer_pct. Pairs without a label are dropped."""
    need = {"customer_id", "item_id", "label"} - set(labels.columns)
    if need:
        raise ValueError(f"The 'labels' frame must have the columns customer_id, item_id, label. Got no {sorted(need)}.")
    rows = offers.select(
        *PAIR,
        pl.col("category").cast(pl.String),
        uplift=pl.col("predicted_probability") - pl.col("probability"),
        p_status_quo="probability",
        p_recommended="predicted_probability",
        status_quo_offer_pct="reference_offer_pct",
        recommended_offer_pct="recommended_offer_pct",
    ).join(labels.select(*PAIR, realised=pl.col("label").cast(pl.Float64)), on=PAIR, how="inner")
    rows = rows.filter(pl.col("realised").is_not_null())
    both = pl.concat([rows, rows.with_columns(category=pl.lit(ALL))])
    decile = ((pl.col("uplift").rank("ordinal").over("category") - 1) * DECILES // pl.len().over("category") + 1).cast(pl.Int32)
    return (
        both.with_columns(decile=decile)
        .group_by("category", "decile")
        .agg(
            rows=pl.len().cast(pl.Int64),
            predicted_uplift=pl.col("uplift").mean(),
            p_status_quo=pl.col("p_status_quo").mean(),
            p_recommended=pl.col("p_recommended").mean(),
            realised_rate=pl.col("realised").mean(),
            status_quo_offer_pct=pl.col("status_quo_offer_pct").mean(),
            recommended_offer_pct=pl.col("recommended_offer_pct").mean(),
        )
        .sort(pl.col("category") != ALL, "category", "decile")
    )


def uplift_figure(table: pl.DataFrame) -> bytes:
    """Per category ("all" first): by decile of predicted uplift, the predicted purchase rate at the
    status quo offer, the realised rate (the pairs faced the status quo) and the predicted rate at the
    recommended offer. PNG bytes."""
    cats = table.get_column("category").unique(maintain_order=True).to_list()
    fig, axes = _grid(len(cats))
    for ax, cat in zip(axes, cats):
        part = table.filter(pl.col("category") == cat)
        x = part.get_column("decile").to_numpy()
        ax.plot(x, part.get_column("p_status_quo").to_numpy(), "o-", color="#4C72B0", ms=4, label="predicted, status quo offer")
        ax.plot(x, part.get_column("realised_rate").to_numpy(), "s--", color="#C44E52", ms=4, label="realised (status quo offer ran)")
        ax.plot(x, part.get_column("p_recommended").to_numpy(), "^:", color="#55A868", ms=4, label="predicted, recommended offer")
        ax.set_xticks(np.arange(1, DECILES + 1))
        ax.set_title(f"{cat} · {int(part.get_column('rows').sum()):,} pairs", fontsize=9)
        ax.set_xlabel("decile of predicted uplift (1 = lowest)")
        ax.set_ylabel("purchase rate")
        ax.legend(fontsize=6, loc="best")
    fig.suptitle("Backtest fortnight: predicted uplift by decile against realised purchases", fontsize=10)
    return _png(fig)
