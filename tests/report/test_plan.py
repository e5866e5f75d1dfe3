"""The plan's worth and cost for a person (offerwise.report.plan)."""

from __future__ import annotations

import numpy as np
import polars as pl
import pytest

from offerwise.probability import clipped_logit, expit
from offerwise.report.plan import backtest_rates, backtest_verdict, totals, with_response_range, worth_by_category


def _offers(**plan) -> pl.DataFrame:
    frame = pl.DataFrame({
        "customer_id": [1, 1, 2], "item_id": [10, 20, 10], "category": ["A", "B", "A"], "price": [2.0, 4.0, 2.0],
        "reference_offer_pct": [0.0, 10.0, 20.0], "p_reference": [0.1, 0.2, 0.3],
        "recommended_offer_pct": [20.0, 0.0, 20.0], "p_recommended": [0.2, 0.15, 0.3],
    })  # fmt: skip
    return frame.with_columns(**{k: pl.Series(v) for k, v in plan.items()})


def test_worth_and_cost_per_category_are_the_expected_revenue_and_discount_sums() -> None:
    table = worth_by_category(_offers())
    a = table.filter(pl.col("category") == "A").row(0, named=True)
    assert a["pairs"] == 2 and a["offers"] == 2 and a["consumers"] == 2
    assert a["revenue_status_quo"] == pytest.approx(0.1 * 2 + 0.3 * 2 * 0.8)
    assert a["revenue_plan"] == pytest.approx(0.2 * 2 * 0.8 + 0.3 * 2 * 0.8)
    assert a["spend_plan"] == pytest.approx(0.2 * 2 * 0.2 + 0.3 * 2 * 0.2) and a["spend_status_quo"] == pytest.approx(0.3 * 2 * 0.2)
    assert a["change"] == pytest.approx(a["revenue_plan"] - a["revenue_status_quo"])
    assert "change_low" not in table.columns  # no double-ML slopes: no interval


def test_the_plan_without_its_experiment_is_what_is_valued() -> None:
    offers = _offers(plan_offer_pct=[0.0, 0.0, 0.0], p_plan=[0.1, 0.15, 0.25])  # a holdout changed recommended_offer_pct
    t = totals(worth_by_category(offers), offers)
    assert t["offers"] == 0 and t["spend_plan"] == 0.0 and t["consumers"] == 2 and t["pairs"] == 3


def test_response_ends_move_the_probability_with_the_offer_change_and_never_below_a_zero_slope() -> None:
    offers = _offers()
    pairs = offers.select("customer_id", "item_id").with_columns(
        dml_slope=pl.Series([0.01, 0.02, 0.02]), dml_slope_sd=pl.lit(0.0), dml_slope_category_se=pl.Series([0.05, 0.001, 0.05])
    )
    ended = with_response_range(offers, pairs, quantile=0.5, level=0.90)
    steps, plan = np.asarray(ended.get_column("p_plan_range").to_list()), ended.get_column("p_recommended").to_numpy()
    low, high = steps[:, 0], steps[:, -1]
    half = 1.6448536 * 0.05
    assert low[0] == pytest.approx(expit(clipped_logit(np.array([0.2])) - 0.01 * 20)[0])  # slope 0.01 - half < 0: clipped at 0
    assert high[0] == pytest.approx(expit(clipped_logit(np.array([0.2])) + half * 20)[0], rel=1e-6)
    assert low[1] > plan[1] > high[1]  # the offer fell (10 -> 0): a steeper slope loses more
    assert low[2] == pytest.approx(plan[2]) and high[2] == pytest.approx(plan[2])  # unchanged offer, unchanged probability
    t = totals(worth_by_category(ended), ended)
    assert t["interval"] and t["change_low"] < t["change"] < t["change_high"]


def test_the_change_interval_spans_every_slope_of_the_interval_not_only_its_ends() -> None:
    # One offer deepened and one cut in the same category: the plan gains less at both ends of the slope
    # interval than at the point, so the ends alone would give an "interval" that misses the point.
    offers = pl.DataFrame({
        "customer_id": [1, 2], "item_id": [10, 20], "category": ["A", "A"], "price": [2.0, 2.0],
        "reference_offer_pct": [0.0, 30.0], "p_reference": [0.1, 0.3], "recommended_offer_pct": [30.0, 0.0], "p_recommended": [0.25, 0.12],
    })  # fmt: skip
    pairs = offers.select("customer_id", "item_id").with_columns(
        dml_slope=pl.lit(0.03), dml_slope_sd=pl.lit(0.0), dml_slope_category_se=pl.lit(0.02)
    )
    ended = with_response_range(offers, pairs, quantile=0.5, level=0.90)
    table = worth_by_category(ended)
    row = table.row(0, named=True)
    at_ends = sorted([row["change_range"][0], row["change_range"][-1]])
    assert not at_ends[0] <= row["change"] <= at_ends[1]  # the case the ends miss
    assert row["change_low"] <= row["change"] <= row["change_high"] and row["change_low"] < at_ends[0]
    assert row["change_low"] == pytest.approx(min(row["change_range"])) and row["change_high"] == pytest.approx(max(row["change_range"]))
    t = totals(table, ended)
    assert t["change_low"] == pytest.approx(row["change_low"]) and t["change_high"] == pytest.approx(row["change_high"])


def test_the_backtest_verdict_counts_categories_within_a_fifth_of_what_happened() -> None:
    predictions = pl.DataFrame({
        "category": ["A"] * 4 + ["B"] * 4 + ["A"] * 2, "model": ["stack"] * 8 + ["tcn"] * 2, "split": ["test"] * 10,
        "probability": [0.5] * 4 + [0.9] * 4 + [0.1] * 2, "label": [1, 0, 1, 0, 1, 0, 0, 0, None, None], "fold": [0] * 10,
    })  # fmt: skip
    rates = backtest_rates(predictions, "stack")
    assert rates.sort("category").get_column("realised").to_list() == [0.5, 0.25]
    assert "predicted purchase rate 0.700, realised 0.375" in backtest_verdict(rates) and "in 1 of 2 categories" in backtest_verdict(rates)
    assert "no backtest" in backtest_verdict(rates.head(0))
