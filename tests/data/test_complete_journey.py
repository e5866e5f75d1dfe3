from __future__ import annotations

import polars as pl
import pytest

from offerwise.data.complete_journey import read_complete_journey


@pytest.mark.slow
def test_complete_journey_loads_with_balanced_report() -> None:
    data = read_complete_journey(with_promotions=False)
    report = data.report
    assert report.raw_lines == 1_469_307
    assert report.zero_quantity_dropped > 0  # the source has coupon-only lines of quantity 0
    assert report.kept_lines == data.transactions.height
    assert data.transactions.get_column("customer_id").n_unique() == 2469
    assert data.customers.height == 2469
    assert data.customers.drop_nulls("age_range").height == 801
    tx = data.transactions
    assert tx.filter((pl.col("offer_pct") < 0) | (pl.col("offer_pct") > 100)).height == 0
    assert data.items.filter(pl.col("category") == "GROCERY").height > 1000
