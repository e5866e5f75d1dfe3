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

OFFER_RULE = __doc__.split("Rule (also written into the feature manifest):\n", 1)[1].strip()


def leave_one_out_rate(total_disc: np.ndarray, total_gross: np.ndarray, own_disc: np.ndarray, own_gross: np.ndarray) -> np.ndarray:
    """(N, T) rate among others' lines, NaN where nobody else bought."""
    others = total_gross - own_gross
    with np.errstate(invalid="ignore", divide="ignore"):
        return np.where(others > 1e-9, 100.0 * (total_disc - own_disc) / others, np.nan)


def carried_forward(rate: np.ndarray) -> np.ndarray:
    """(N, T): at t, the latest defined rate strictly before t (NaN if none)."""
    prev = last_before(~np.isnan(rate))
    rows = np.arange(rate.shape[0])[:, None]
    return np.where(prev >= 0, rate[rows, np.maximum(prev, 0)], np.nan)


def offer_matrix(
    *,
    item_disc: np.ndarray,
    item_gross: np.ndarray,
    pair_item: np.ndarray,
    pair_disc: np.ndarray,
    pair_gross: np.ndarray,
    cat_disc: np.ndarray,
    cat_gross: np.ndarray,
    pair_cat: np.ndarray,
    own_cat_disc: np.ndarray,
    own_cat_gross: np.ndarray,
) -> np.ndarray:
    """(P, T) offer % per pair and period by the rule above.

    item_*: (I, T) sums over all lines; pair_*: (P, T) the pair's own lines; cat_*: (K, T) sums over
    all lines of the category; own_cat_*: (P, T) the pair's consumer's own lines in that category.
    """
    with np.errstate(invalid="ignore", divide="ignore"):
        item_rate = np.where(item_gross > 1e-9, 100.0 * item_disc / item_gross, np.nan)
        cat_rate = np.where(cat_gross > 1e-9, 100.0 * cat_disc / cat_gross, np.nan)
    offer = leave_one_out_rate(item_disc[pair_item], item_gross[pair_item], pair_disc, pair_gross)
    offer = np.where(np.isnan(offer), carried_forward(item_rate)[pair_item], offer)
    cat_loo = leave_one_out_rate(cat_disc[pair_cat], cat_gross[pair_cat], own_cat_disc, own_cat_gross)
    offer = np.where(np.isnan(offer), cat_loo, offer)
    offer = np.where(np.isnan(offer), carried_forward(cat_rate)[pair_cat], offer)
    return np.nan_to_num(offer, nan=0.0).astype(np.float32)
