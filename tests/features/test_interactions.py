from __future__ import annotations

import datetime as dt
from pathlib import Path

import numpy as np
import polars as pl
import pytest
from polars.testing import assert_frame_equal

from offerwise.config import PanelConfig
from offerwise.data.amexpert import read_amexpert
from offerwise.data.schema import LoadReport, RetailData
from offerwise.features.build import build_panel
from offerwise.features.history import count_before
from offerwise.features.interactions import (
    CATEGORY_SHARE,
    CROSS_PRESSURE,
    INTERACTION_FEATURES,
    OFFERED_SHARE,
    OTHER_OFFER_MAX,
    OTHER_OFFERS,
    PRESSURE,
    TOTAL_SHARE,
    interaction_features,
)

NEW = (CATEGORY_SHARE, TOTAL_SHARE, *INTERACTION_FEATURES)
# Pairs: consumer 0 buys items 1, 2 (category A) and 3 (B); consumer 1 items 1 (A) and 4 (B). A pair
# is a member of its group at t once bought in >= 1 period before t - 1: at t = 2, pairs 0 to 3.
CUST, CAT = np.array([0, 0, 0, 1, 1]), np.array([0, 0, 1, 0, 1])
BOUGHT = np.array([[1, 1, 0], [1, 0, 1], [1, 1, 0], [1, 0, 0], [0, 1, 1]], bool)  # orders before t = 2: 2, 1, 2, 1, 1
OFFER = np.array([[10, 0, 20], [30, 40, 0], [5, 50, 15], [10, 0, 20], [0, 60, 0]], np.float32)


def _features(bought=BOUGHT, offer=OFFER, cust=CUST, cat=CAT, min_orders: int = 1) -> dict[str, np.ndarray]:
    return interaction_features(offer, count_before(bought), cust, cat, min_orders=min_orders)


def test_hand_example() -> None:
    got = _features()
    assert list(got) == list(NEW)
    assert not any(got[n][:, :2].any() for n in INTERACTION_FEATURES)  # no member before t = 2
    assert got[CATEGORY_SHARE][:, :2].tolist() == [[1, 1]] * 5  # alone with its own orders: (o + 1) / (o + 1)
    expected = {  # t = 2
        CATEGORY_SHARE: [3 / 5, 2 / 5, 1, 1, 1],  # pairs 0, 1: (2 + 1) / (3 + 2), (1 + 1) / 5
        TOTAL_SHARE: [3 / 8, 2 / 8, 3 / 8, 1, 2 / 4],  # pair 4 (not a member): (1 + 1) / (1 + 1 + 1 + 1)
        OTHER_OFFERS: [0, 1, 0, 0, 0],
        OTHER_OFFER_MAX: [0, 20, 0, 0, 0],
        PRESSURE: [0, 3 / 5 * 20, 0, 0, 0],
        OFFERED_SHARE: [0, 3 / 5, 0, 0, 0],
        CROSS_PRESSURE: [3 / 8 * 15, 3 / 8 * 15, 3 / 8 * 20 + 2 / 8 * 0, 0, 1 * 20],  # pair 3 sees no member in B
    }
    for name, values in expected.items():
        np.testing.assert_allclose(got[name][:, 2], values, rtol=1e-12, err_msg=name)


@pytest.mark.parametrize(
    ("offers", "expected"),
    [([30, 30, 10], [30, 30, 30]), ([30, 20, 10], [20, 30, 30]), ([0, 0, 0], [0, 0, 0]), ([5, 0, 0], [0, 5, 5])],
)
def test_other_offer_max_from_the_top_its_count_and_the_second(offers: list[float], expected: list[float]) -> None:
    bought, offer = np.ones((3, 3), bool), np.array(offers, np.float32)[:, None].repeat(3, 1)  # all members at t = 2
    assert _features(bought, offer, np.zeros(3, int), np.zeros(3, int))[OTHER_OFFER_MAX][:, 2].tolist() == expected


def test_a_pair_alone_in_its_category_gets_zeros() -> None:
    got = _features()
    for name in (OTHER_OFFERS, OTHER_OFFER_MAX, PRESSURE, OFFERED_SHARE):
        assert not got[name][[2, 3, 4]].any(), name  # pairs 2, 3, 4 are alone in their (consumer, category)


def test_a_pair_not_yet_in_its_group_sees_the_members_and_adds_nothing() -> None:
    # At t = 2 pair 0 (bought at 0) is a member, pair 1 (bought at 1 only) is not yet.
    bought, offer = np.array([[1, 0, 0], [0, 1, 0]], bool), np.array([[0, 0, 10], [0, 0, 30]], np.float32)
    got = _features(bought, offer, np.zeros(2, int), np.zeros(2, int))
    assert got[CATEGORY_SHARE][:, 2].tolist() == [1, 0.5]  # pair 1: (1 + 1) / (1 + 1 + 1 + 1)
    assert [got[n][0, 2] for n in INTERACTION_FEATURES] == [0, 0, 0, 0, 0]
    assert [got[n][1, 2] for n in INTERACTION_FEATURES] == [1, 10, 10, 1, 0]


@pytest.mark.parametrize("t", [1, 2, 3, 5])
def test_features_at_t_ignore_purchases_from_t_on(t: int) -> None:
    rng = np.random.default_rng(t)
    cust, cat = rng.integers(0, 3, 20), rng.integers(0, 2, 20)
    bought, offer = rng.random((20, 7)) < 0.4, np.where(rng.random((20, 7)) < 0.5, rng.uniform(5, 50, (20, 7)), 0.0)
    changed = bought.copy()
    changed[:, t:] = rng.random((20, 7 - t)) < 0.7
    before, after = _features(bought, offer, cust, cat), _features(changed, offer, cust, cat)
    assert any(not np.array_equal(before[n], after[n]) for n in NEW)  # the change reaches later periods
    for name in NEW:
        np.testing.assert_array_equal(before[name][:, : t + 1], after[name][:, : t + 1], err_msg=name)


ANCHOR = dt.datetime(2020, 1, 6)
TINY = PanelConfig(min_purchases=1, min_pairs_per_category=1, train_periods=2, lag_windows=[2])


def _tiny() -> RetailData:
    def line(customer: int, item: int, day: int, disc: float) -> dict:
        return {
            "customer_id": customer, "item_id": item, "timestamp": ANCHOR + dt.timedelta(days=day, hours=10), "basket_id": None,
            "quantity": 1.0, "paid": 10.0 - disc, "retail_discount": disc, "coupon_discount": 0.0, "list_price": 10.0,
            "offer_pct": 10 * disc,
        }  # fmt: skip

    lines = [
        line(1, 1, 0, 2.0), line(1, 2, 1, 0.0), line(2, 1, 2, 5.0),  # period 0: category A
        line(1, 1, 15, 1.0), line(1, 3, 16, 0.0),  # period 1: consumer 1 in A and B
        line(2, 4, 30, 3.0), line(2, 4, 69, 0.0),  # periods 2 and 4: consumer 2 alone in B
    ]  # fmt: skip
    items = pl.DataFrame({"item_id": [1, 2, 3, 4], "category": ["A", "A", "B", "B"]})
    return RetailData(pl.DataFrame(lines), items, pl.DataFrame({"customer_id": [1, 2]}), LoadReport("tiny"))


def _at(frame: pl.DataFrame, customer: int, item: int, period: int, column: str) -> float:
    at = (pl.col("customer_id") == customer) & (pl.col("item_id") == item) & (pl.col("period") == period)
    return frame.filter(at).get_column(column).item()


def test_the_panel_carries_the_shares_and_a_lone_pair_zeros() -> None:
    panel = build_panel(_tiny(), TINY)
    assert _at(panel.frame, 1, 1, 2, CATEGORY_SHARE) == pytest.approx(3 / 5)  # orders 2 and 1 before period 2, two pairs
    assert _at(panel.frame, 1, 2, 2, CATEGORY_SHARE) == pytest.approx(2 / 5)
    assert _at(panel.frame, 1, 1, 2, TOTAL_SHARE) == pytest.approx(3 / 5)  # item 3 (B), first bought in period 1, not yet
    assert _at(panel.frame, 1, 1, 3, TOTAL_SHARE) == pytest.approx(3 / 7)  # now one more order and pair
    lone = panel.frame.filter((pl.col("customer_id") == 2) & pl.col("item_id").is_in([1, 4]))
    assert lone.select(OTHER_OFFERS, OTHER_OFFER_MAX, PRESSURE, OFFERED_SHARE).to_numpy().max() == 0
    manifest = {f.name: f for f in panel.features}
    assert all(manifest[n].family == "interaction" and manifest[n].group == "temporal_continuous" for n in NEW)
    assert {n for n in NEW if manifest[n].known_in_advance} == set(INTERACTION_FEATURES)  # the offers at t


def test_without_interactions_the_panel_is_the_independent_pairs_one() -> None:
    on = build_panel(_tiny(), TINY)
    off = build_panel(_tiny(), TINY.model_copy(update={"interactions": False}))
    assert not set(NEW) & set(off.frame.columns) and [f for f in on.features if f.family != "interaction"] == off.features
    assert_frame_equal(on.frame.drop(NEW), off.frame, check_exact=True)


def test_panel_values_equal_their_definitions_pair_by_pair(small_sim_dir: Path) -> None:
    """Against a brute-force self-join of the panel's own columns: each pair j != i of the consumer
    that is a member at t (ci_orders at t - 1 >= min_purchases)."""
    cfg = PanelConfig()
    frame = build_panel(read_amexpert(small_sim_dir), cfg).frame
    keys = ["customer_id", "item_id", "period"]
    rows = frame.select(*keys, "category", "offer_pct", "ci_orders", *NEW).cast({n: pl.Float64 for n in ("offer_pct", "ci_orders", *NEW)})
    before = pl.col("ci_orders").shift(1, fill_value=0).over("customer_id", "item_id", order_by="period")
    members = rows.filter(before >= cfg.min_purchases).drop(*INTERACTION_FEATURES)
    pairs = rows.select(*keys, "category").join(members, on=["customer_id", "period"], suffix="_j")
    pairs = pairs.filter(pl.col("item_id") != pl.col("item_id_j"))
    same, offered, offer = pl.col("category") == pl.col("category_j"), pl.col("offer_pct") > 0, pl.col("offer_pct")
    sums = pairs.group_by(keys).agg(
        (same & offered).sum().cast(pl.Float64).alias(OTHER_OFFERS),
        offer.filter(same).max().alias(OTHER_OFFER_MAX),
        (pl.col(CATEGORY_SHARE) * offer).filter(same).sum().alias(PRESSURE),
        pl.col(CATEGORY_SHARE).filter(same & offered).sum().alias(OFFERED_SHARE),
        (pl.col(TOTAL_SHARE) * offer).filter(~same).sum().alias(CROSS_PRESSURE),
        pl.col("ci_orders").filter(same).sum().alias("o_same"),
        same.sum().cast(pl.Float64).alias("n_same"),
        pl.col("ci_orders").sum().alias("o_all"),
        pl.len().cast(pl.Float64).alias("n_all"),
    )
    want = rows.select(*keys, "ci_orders").join(sums, on=keys, how="left").with_columns(pl.exclude(keys).fill_null(0.0))
    want = want.with_columns(
        ((pl.col("ci_orders") + 1) / (pl.col("o_same") + pl.col("ci_orders") + pl.col("n_same") + 1)).alias(CATEGORY_SHARE),
        ((pl.col("ci_orders") + 1) / (pl.col("o_all") + pl.col("ci_orders") + pl.col("n_all") + 1)).alias(TOTAL_SHARE),
    )
    assert rows.get_column(PRESSURE).max() > 0 and rows.get_column(CROSS_PRESSURE).max() > 0
    assert_frame_equal(rows.select(*keys, *NEW).sort(keys), want.select(*keys, *NEW).sort(keys), rel_tol=1e-5, abs_tol=1e-4)
