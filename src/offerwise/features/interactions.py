"""Features of the other offers a consumer faces in the same period (offers compete for one basket).

A pair's *group* at period t is the consumer's pairs in its category that take part in the decision
about t: bought in at least `min_orders` periods before t - 1, the panel's relevance rule at the
cutoff whose validation period is t - 1. So every member is in each fold that trains on or decides
t, in a panel built with or without later data. A pair that reaches the count later is in the panel
because of the future (`relevant_from_fold`) and must move no value at t. Every sum below runs over
members; a pair that is not yet one still gets its own share and sees its group.
"""

from __future__ import annotations

import numpy as np

from offerwise.features import history as h
from offerwise.features.matrix import Columns

CATEGORY_SHARE = "ci_category_share"
TOTAL_SHARE = "ci_total_share"
OTHER_OFFERS = "cc_other_offers"
OTHER_OFFER_MAX = "cc_other_offer_max"
PRESSURE = "cc_other_pressure"
OFFERED_SHARE = "cc_other_offered_share"
CROSS_PRESSURE = "cx_other_pressure"
INTERACTION_FEATURES = (OTHER_OFFERS, OTHER_OFFER_MAX, PRESSURE, OFFERED_SHARE, CROSS_PRESSURE)  # use period t's offers

_GROUP = "the consumer's pairs in the category bought in >= {n} periods before t - 1"
HOW = {
    CATEGORY_SHARE: "The pair's share of the consumer's category purchases before t: (orders + 1) / (sum of orders + pairs) "
    f"over the pair and {_GROUP}; orders = periods with a purchase before t.",
    TOTAL_SHARE: f"As {CATEGORY_SHARE}, over the pair and the consumer's pairs in every panel category "
    "bought in >= {n} periods before t - 1.",
    OTHER_OFFERS: f"Number of other pairs of the group ({_GROUP}) with an offer > 0 at t.",
    OTHER_OFFER_MAX: f"Deepest offer % at t among the other pairs of the group ({_GROUP}); 0 if none.",
    PRESSURE: f"Cross treatment of the cross-effect estimate and the optimiser: sum over the other pairs j of the group ({_GROUP}) "
    f"of {CATEGORY_SHARE}_j * offer_pct_j at t (offer points, share-weighted).",
    OFFERED_SHARE: f"Sum of {CATEGORY_SHARE} over the other pairs of the group ({_GROUP}) with an offer > 0 at t.",
    CROSS_PRESSURE: "Sum over the consumer's pairs j in other categories bought in >= {n} periods before t - 1 "
    f"of {TOTAL_SHARE}_j * offer_pct_j at t (cross-category pressure).",
}


def add_interactions(
    cols: Columns, offer: np.ndarray, bought: np.ndarray, p_cust: np.ndarray, p_cat: np.ndarray, *, min_orders: int
) -> None:
    """Register the shares and the other-offer features (family "interaction") on `cols`."""
    values = interaction_features(offer, h.count_before(bought), p_cust, p_cat, min_orders=min_orders)
    for name, v in values.items():
        cols.temporal(name, v, "interaction", HOW[name].format(n=min_orders), advance=name in INTERACTION_FEATURES)


def interaction_features(
    offer: np.ndarray, orders: np.ndarray, p_cust: np.ndarray, p_cat: np.ndarray, *, min_orders: int
) -> dict[str, np.ndarray]:
    """offer: (P, T) offer % at t; orders: (P, T) order periods before t; p_cust, p_cat: (P,) each
    pair's consumer and category. Returns (P, T) arrays by name (the constants above)."""
    T = offer.shape[1]
    offer, orders = offer.astype(np.float64), orders.astype(np.float64)
    member = (h.shift_right(orders, fill=0.0) >= min_orders).astype(np.float64)  # (P, T): orders before t - 1
    in_group, in_consumer = _cells(np.stack([p_cust, p_cat], axis=1), T), _cells(p_cust[:, None], T)
    share, total_share = _shares(orders, member, in_group), _shares(orders, member, in_consumer)
    offered = (offer > 0).astype(np.float64)

    def others(v: np.ndarray) -> np.ndarray:  # the group's sum less the pair's own term
        return _total(v * member, in_group) - v * member

    cross = total_share * offer * member
    return {
        CATEGORY_SHARE: share,
        TOTAL_SHARE: total_share,
        OTHER_OFFERS: others(offered),
        OTHER_OFFER_MAX: _others_max(offer, member > 0, in_group),
        PRESSURE: others(share * offer),
        OFFERED_SHARE: others(share * offered),
        CROSS_PRESSURE: _total(cross, in_consumer) - _total(cross, in_group),
    }


def _cells(keys: np.ndarray, T: int) -> np.ndarray:
    """(P*T,) flat index of each (pair, period) cell's (group, period), pair-major; keys: (P, k)."""
    _, group = np.unique(keys, axis=0, return_inverse=True)
    return (group.reshape(-1)[:, None] * T + np.arange(T)).ravel()


def _total(values: np.ndarray, cells: np.ndarray) -> np.ndarray:
    """(P, T): each cell's sum over its group in the same period. bincount adds in pair order, so
    a non-member's 0 never changes a sum's rounding (the shards and the perturbed panels agree)."""
    return np.bincount(cells, weights=values.ravel())[cells].reshape(values.shape)


def _shares(orders: np.ndarray, member: np.ndarray, cells: np.ndarray) -> np.ndarray:
    """(orders + 1) / (sum of orders + count) over the members and the pair itself (add-one smoothing)."""
    outsider = 1.0 - member  # not yet a member: added to its own denominator only
    return (orders + 1) / (_total(orders * member, cells) + outsider * orders + _total(member, cells) + outsider)


def _others_max(values: np.ndarray, member: np.ndarray, cells: np.ndarray) -> np.ndarray:
    """(P, T): the largest value among the other members of the group (0 if none), from the
    group's maximum, its count and the largest value below it."""
    v = np.where(member, values, -np.inf).ravel()
    top, second = np.full(cells.max(initial=-1) + 1, -np.inf), np.full(cells.max(initial=-1) + 1, -np.inf)
    np.maximum.at(top, cells, v)
    top = top[cells]
    n_top = np.bincount(cells, weights=(v == top).astype(np.float64))[cells]
    np.maximum.at(second, cells, np.where(v < top, v, -np.inf))
    out = np.where((v == top) & (n_top == 1), second[cells], top)
    return np.where(np.isneginf(out), 0.0, out).reshape(values.shape)
