"""The offer % a consumer faced on an item in a period, whether or not they bought it.

Rule (also written into the feature manifest):
1. the item x period discount rate among *other* consumers' lines (leave-one-out, so a consumer's
   own purchase never reveals its label): 100 * sum(retail_discount) / sum(gross);
2. when no other consumer bought the item in the period: the item's rate in the latest earlier
   period in which anybody bought it (carried forward; known before the period starts);
3. then the category x period rate among other consumers (leave-one-out), then the category's
   latest earlier rate, then 0.
No indicator of which rule applied is a feature: whether anybody else bought the item in period t
is period-t demand, not a planned offer.
"""

from __future__ import annotations

import numpy as np

from offerwise.features.history import last_before

OFFER_NOISE = "offer_noise_var"  # panel column: the inferred offer's sampling variance (offer points²)
ROUNDING_RESIDUE = 1e-9  # offer points: an inferred offer this close to 0 is 0
OFFER_RULE = __doc__.split("Rule (also written into the feature manifest):\n", 1)[1].strip()


def leave_one_out_rate(total_disc: np.ndarray, total_gross: np.ndarray, own_disc: np.ndarray, own_gross: np.ndarray) -> np.ndarray:
    """(N, T) rate among others' lines, NaN where nobody else bought."""
    others = total_gross - own_gross
    with np.errstate(invalid="ignore", divide="ignore"):
        return np.where(others > 1e-9, 100.0 * (total_disc - own_disc) / others, np.nan)


def carried_forward(rate: np.ndarray, values: np.ndarray | None = None) -> np.ndarray:
    """(N, T): at t, the latest defined rate strictly before t (NaN if none); with `values`, the
    values at that period instead (a carried rate keeps its sampling variance)."""
    prev = last_before(~np.isnan(rate))
    rows = np.arange(rate.shape[0])[:, None]
    values = rate if values is None else values
    return np.where(prev >= 0, values[rows, np.maximum(prev, 0)], np.nan)


def loo_rate_and_variance(total: dict[str, np.ndarray], own_disc: np.ndarray, own_gross: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """(rate %, its sampling variance in offer points²) among the lines of everyone but the own
    consumer; NaN where nobody else bought (variance also where fewer than 2 others did).

    `total`: sums over every consumer (disc, gross, and per consumer dd = Σ d², dg = Σ d·g,
    gg = Σ g², clusters = consumers). The rate D / G is a ratio estimator over consumers, so its
    delta-method variance is Σ_c (d_c − R g_c)² / G² · n / (n − 1), clustered by consumer: one
    consumer's lines share a coupon or a loyalty card. This is the measurement error of the
    inferred offer (docs/response.md); a recorded offer has none."""
    rate = leave_one_out_rate(total["disc"], total["gross"], own_disc, own_gross)
    gross = total["gross"] - own_gross
    r = rate / 100.0
    resid = (total["dd"] - own_disc**2) - 2 * r * (total["dg"] - own_disc * own_gross) + r**2 * (total["gg"] - own_gross**2)
    n = total["clusters"] - (own_gross > 1e-9)
    with np.errstate(invalid="ignore", divide="ignore"):
        var = np.where(n >= 2, 1e4 * np.maximum(resid, 0.0) / gross**2 * n / np.maximum(n - 1, 1), np.nan)
    return rate, np.where(np.isnan(rate), np.nan, var)


def offer_matrix(
    *,
    item: dict[str, np.ndarray],
    pair_item: np.ndarray,
    pair_disc: np.ndarray,
    pair_gross: np.ndarray,
    cat: dict[str, np.ndarray],
    pair_cat: np.ndarray,
    own_cat_disc: np.ndarray,
    own_cat_gross: np.ndarray,
) -> tuple[np.ndarray, np.ndarray]:
    """(P, T) offer % per pair and period by the rule above, and (P, T) its sampling variance
    (`loo_rate_and_variance`; a carried rate keeps the variance it had; NaN where no rate applied
    or fewer than 2 other consumers bought).

    item: (I, T) sums over all lines (disc, gross, dd, dg, gg, clusters); pair_*: (P, T) the pair's
    own lines; cat: (K, T) the same sums by category; own_cat_*: (P, T) the pair's consumer's own
    lines in that category.
    """
    zero_items, zero_cats = np.zeros_like(item["disc"]), np.zeros_like(cat["disc"])
    item_rate, item_var = loo_rate_and_variance(item, zero_items, zero_items)
    cat_rate, cat_var = loo_rate_and_variance(cat, zero_cats, zero_cats)
    pair_total = {k: v[pair_item] for k, v in item.items()}
    offer, var = loo_rate_and_variance(pair_total, pair_disc, pair_gross)
    cat_total = {k: v[pair_cat] for k, v in cat.items()}
    steps = (
        (carried_forward(item_rate)[pair_item], carried_forward(item_rate, item_var)[pair_item]),
        loo_rate_and_variance(cat_total, own_cat_disc, own_cat_gross),
        (carried_forward(cat_rate)[pair_cat], carried_forward(cat_rate, cat_var)[pair_cat]),
    )
    for rate, rate_var in steps:
        missing = np.isnan(offer)
        offer = np.where(missing, rate, offer)
        var = np.where(missing, rate_var, var)
    offer = np.nan_to_num(offer, nan=0.0)
    # The leave-one-out subtraction leaves rounding residue (±1e-14 points) where the other consumers
    # paid no discount: that is no offer, and the interaction features count offers above 0.
    offer = np.where(np.abs(offer) < ROUNDING_RESIDUE, 0.0, offer)
    return offer.astype(np.float32), var.astype(np.float32)
