"""The optimiser's inputs (offerwise.optimize.inputs): what a consumer's other categories hold."""

from __future__ import annotations

import polars as pl
import pytest

from offerwise.optimize.inputs import cross_category_sensitivity


def test_the_other_categories_sums_leave_out_the_pairs_own_category_and_count_each_unit_outside_once():
    inputs = pl.DataFrame(
        {
            "customer_id": [1, 1, 1, 1, 2],
            "category": ["A", "A", "B", "C", "A"],
            "probability": [0.2, 0.1, 0.3, 0.5, 0.4],
            "price": [2.0, 4.0, 1.0, 3.0, 2.0],
            "reference_offer_pct": [0.0, 50.0, 0.0, 0.0, 0.0],
            "outside_purchases": [0.4, 0.4, 0.1, 0.0, 0.3],  # per consumer-category, on each of its pairs
            "outside_unit_value": [1.0, 1.0, 5.0, 0.0, 2.0],
        }
    )
    out = cross_category_sensitivity(inputs, 0.5).to_dicts()
    a, b, c, alone = out[0], out[2], out[3], out[4]
    assert a["cross_category_retention"] == pytest.approx(0.3 * 0.7 + 0.5 * 0.5)  # B and C, not A
    assert a["cross_category_value"] == pytest.approx(0.3 * 0.7 * 0.5 + 0.5 * 0.5 * 1.5)  # net of the cost share
    assert a["cross_category_outside"] == pytest.approx(0.1) and a["cross_category_outside_value"] == pytest.approx(0.1 * 5 * 0.5)
    assert b["cross_category_outside"] == pytest.approx(0.4)  # A's outside purchases once, though A has two pairs
    assert c["cross_category_outside"] == pytest.approx(0.5) and c["cross_category_outside_value"] == pytest.approx(0.4 * 0.5 + 0.05 * 5)
    assert alone["cross_category_retention"] == 0 and alone["cross_category_outside"] == 0  # a consumer with one category
