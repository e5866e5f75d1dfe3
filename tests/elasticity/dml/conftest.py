"""The offer-response estimator's tests (offerwise.elasticity.dml): a tiny synthetic panel with a
known logit offer slope and a retailer that promotes after weak sales."""

from __future__ import annotations

import numpy as np
import polars as pl
import pytest

from offerwise.features.manifest import Feature

TRUE_SLOPE = 0.04  # logit change per offer point
CUTOFF = 12


def synthetic_panel(
    seed: int = 0, items: int = 60, customers: int = 200, per_customer: int = 10, periods: int = 14
) -> tuple[pl.DataFrame, list[Feature]]:
    """Category A: logistic purchases, logit p = affinity + TRUE_SLOPE · offer + item demand shock (AR(1),
    unrecorded); the retailer promotes an item more often after weak sales, which it sees in
    i_buyers_last against i_buyers_mean (recorded features). Category B: a fixed 10 % offer (not
    identified). Period 13 is after the cutoff."""
    rng = np.random.default_rng(seed)
    item_cat = np.where(np.arange(items) < items * 2 // 3, "A", "B")
    popularity = rng.normal(0, 0.5, items)
    item = np.concatenate([rng.choice(items, per_customer, replace=False) for _ in range(customers)])
    cust = np.repeat(np.arange(customers), per_customer)
    affinity = -2.0 + popularity[item] + rng.normal(0, 0.5, item.size)
    age = rng.choice(["18-25", "36-45", "70+"], customers)
    shock, buyers_prev, history, last = np.zeros(items), np.zeros(items), [], np.zeros(item.size)
    frames = []
    for t in range(periods):
        shock = 0.8 * shock + rng.normal(0, 0.5, items)
        mean = np.mean(history, axis=0) if history else np.zeros(items)
        weak = (buyers_prev - mean) / np.sqrt(mean + 1) if history else np.zeros(items)
        promoted = rng.random(items) < 1 / (1 + np.exp(0.8 + 1.5 * weak))
        offer = np.where(item_cat == "B", 10.0, np.where(promoted, rng.choice([10.0, 20.0, 30.0, 40.0], items), 0.0))[item]
        y = (rng.random(item.size) < 1 / (1 + np.exp(-(affinity + TRUE_SLOPE * offer + shock[item])))).astype(np.int8)
        frames.append(pl.DataFrame({
            "customer_id": cust, "item_id": item + 1000, "category": item_cat[item], "period": np.full(item.size, t), "target": y,
            "offer_pct": offer.astype(np.float32), "i_buyers_last": buyers_prev[item].astype(np.float32), "i_buyers_mean": mean[item].astype(np.float32),
            "lag_target_mean_2": last.astype(np.float32), "i_regular_price": (1 + popularity[item]).astype(np.float32),
            "ci_hist_offer_pct": np.zeros(item.size, np.float32), "demo_age_range": age[cust],
        }))  # fmt: skip
        buyers_prev = np.bincount(item, weights=y, minlength=items)
        history.append(buyers_prev)
        last = y
    frame = pl.concat(frames).with_columns(pl.col("target").cast(pl.Int8))
    features = [
        Feature("customer_id", "attribute", "static_categorical", "int64", "", is_id=True),
        Feature("item_id", "attribute", "static_categorical", "int64", "", is_id=True),
        Feature("category", "attribute", "static_categorical", "category", ""),
        Feature("offer_pct", "price_offer", "temporal_continuous", "float32", "", known_in_advance=True),
        *(Feature(c, "profile", "temporal_continuous", "float32", "") for c in ("i_buyers_last", "i_buyers_mean", "lag_target_mean_2", "i_regular_price", "ci_hist_offer_pct")),
        Feature("demo_age_range", "attribute", "static_categorical", "category", ""),
    ]  # fmt: skip
    return frame, features


@pytest.fixture(scope="module")
def panel() -> tuple[pl.DataFrame, list[Feature]]:
    return synthetic_panel()
