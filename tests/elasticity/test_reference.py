from __future__ import annotations

import polars as pl
import pytest

from offerwise.elasticity.reference import reference_offers


def _rows(customer, item, age, history):
    """history: list of (period, target, offer_pct) up to the scored period 5."""
    return [
        {"customer_id": customer, "item_id": item, "category": "A", "demo_age_range": age, "period": p, "target": y, "offer_pct": o}
        for p, y, o in history
    ]


def test_each_rule_in_order() -> None:
    panel = pl.DataFrame(
        _rows(1, 1, "30-39", [(3, 1, 10.0), (4, 1, 20.0), (1, 1, 40.0), (5, 0, 0.0)])  # a) recent: 15
        + _rows(1, 2, "30-39", [(1, 1, 30.0), (4, 1, 0.0), (5, 0, 0.0)])  # b) history: 30 (zero offers ignored)
        + _rows(2, 3, "30-39", [(4, 0, 50.0), (5, 0, 0.0)])  # c) same age, recent: (10 + 20) / 2
        + _rows(3, 3, "60+", [(4, 0, 50.0), (5, 0, 0.0)])  # d) category history: (10+20+40+30) / 4
    )
    ref = reference_offers(panel, 5, age_column="demo_age_range").sort("customer_id", "item_id")
    assert ref.get_column("reference_rule").to_list() == ["pair_recent", "pair_history", "age_category_recent", "category_history"]
    assert ref.get_column("reference_offer_pct").to_list() == pytest.approx([15.0, 30.0, 15.0, 25.0])


def test_no_discount_anywhere_gives_zero_with_rule_none() -> None:
    panel = pl.DataFrame(_rows(1, 1, None, [(4, 1, 0.0), (5, 0, 0.0)]))
    ref = reference_offers(panel, 5, age_column="demo_age_range")
    assert ref.row(0, named=True)["reference_rule"] == "none" and ref.row(0, named=True)["reference_offer_pct"] == 0.0
