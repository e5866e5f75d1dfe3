"""What a consumer buys in a category outside the decision's items (offerwise.features.outside)."""

from __future__ import annotations

import polars as pl
import pytest

from offerwise.features.outside import WINDOW, outside_purchases

PAIRS = pl.DataFrame({"customer_id": [1, 1], "item_id": [10, 11], "relevant_from_fold": [0, 1]})
DECIDED = {0: 12, 1: 13}  # fold -> decided period


def lines(rows: list[tuple[int, int, str, int, float]]) -> pl.DataFrame:
    return pl.DataFrame(rows, schema=["customer_id", "item_id", "category", "period", "net_unit"], orient="row")


BASE = lines(
    [
        (1, 10, "A", 11, 2.0),  # a decision pair from fold 0: never outside
        (1, 11, "A", 10, 4.0),  # outside at fold 0, decided from fold 1
        (1, 12, "A", 9, 6.0),
        (1, 12, "A", 9, 8.0),  # two lines of one item-period: one purchase at their mean price
        (1, 12, "A", 11, 3.0),
        (1, 12, "A", 12 - WINDOW - 1, 100.0),  # before the window
        (1, 20, "B", 12, 5.0),  # in fold 1's window only
    ]
)


def test_purchases_outside_the_decision_are_counted_per_period_of_the_window():
    out = {(r["fold"], r["category"]): r for r in outside_purchases(BASE, PAIRS, DECIDED).iter_rows(named=True)}
    assert out[(0, "A")]["outside_purchases"] == pytest.approx(3 / WINDOW)  # items 11 (period 10) and 12 (periods 9, 11)
    assert out[(0, "A")]["outside_unit_value"] == pytest.approx((4.0 + 7.0 + 3.0) / 3)
    assert out[(1, "A")]["outside_purchases"] == pytest.approx(2 / WINDOW)  # item 11 is decided from fold 1
    assert out[(1, "B")]["outside_purchases"] == pytest.approx(1 / WINDOW)
    assert (0, "B") not in out  # its only purchase is in the decided period


def test_lines_from_the_decided_period_on_move_nothing():
    later = pl.concat([BASE, lines([(1, 12, "A", 12, 9.0), (1, 13, "A", 14, 9.0), (1, 21, "B", 13, 1.0)])])
    before, after = (outside_purchases(f, PAIRS, DECIDED).filter(pl.col("fold") == 0) for f in (BASE, later))
    assert after.equals(before)


def test_the_values_do_not_depend_on_the_order_of_the_lines():
    """Floats added in another order differ in their last bits ((0.1 + 0.2) + 0.3 != (0.3 + 0.2) + 0.1):
    the means add each group's values in one order, whatever order the lines came in."""
    prices = [0.1, 0.2, 0.3, 0.7, 1e-3, 0.05]
    many = lines([(1, 12 + k % 2, "A", 9 + k % 3, prices[k % 6] * (1 + k // 6)) for k in range(36)])
    once = outside_purchases(many, PAIRS, DECIDED)
    for seed in range(5):
        shuffled = outside_purchases(many.sample(fraction=1.0, shuffle=True, seed=seed), PAIRS, DECIDED)
        assert shuffled.equals(once)
