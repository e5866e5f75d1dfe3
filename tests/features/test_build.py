from __future__ import annotations

import datetime as dt
from pathlib import Path

import polars as pl
import pytest
from polars.testing import assert_frame_equal

from offerwise.config import PanelConfig
from offerwise.data.amexpert import read_amexpert
from offerwise.data.schema import LoadReport, RetailData
from offerwise.features.build import build_panel

ANCHOR = dt.datetime(2020, 1, 6)
TINY = PanelConfig(min_purchases=1, min_pairs_per_category=1, train_periods=2, lag_windows=[2])


def _line(customer: int, item: int, day: int, disc: float, gross: float = 10.0) -> dict:
    return {
        "customer_id": customer, "item_id": item, "timestamp": ANCHOR + dt.timedelta(days=day, hours=10),
        "basket_id": None, "quantity": 1.0, "paid": gross - disc, "retail_discount": disc, "coupon_discount": 0.0,
        "list_price": gross, "offer_pct": 100 * disc / gross,
    }  # fmt: skip


def _tiny() -> RetailData:
    lines = [
        _line(1, 1, 0, 2.0), _line(2, 1, 1, 5.0),  # period 0: item 1 at 20 % and 50 %
        _line(1, 1, 15, 0.0), _line(3, 3, 16, 1.0),  # period 1
        _line(2, 2, 30, 3.0),  # period 2: item 2, nobody else in category A
        _line(3, 3, 69, 0.0),  # last day of period 4 fixes the horizon
    ]  # fmt: skip
    items = pl.DataFrame({"item_id": [1, 2, 3], "category": ["A", "A", "B"], "brand": ["x", "y", "z"], "brand_type": ["N", "N", "P"]})
    return RetailData(
        transactions=pl.DataFrame(lines), items=items, customers=pl.DataFrame({"customer_id": [1, 2, 3]}), report=LoadReport("tiny")
    )


def _value(panel, customer: int, item: int, period: int, column: str):
    row = panel.frame.filter((pl.col("customer_id") == customer) & (pl.col("item_id") == item) & (pl.col("period") == period))
    return row.get_column(column).item()


def test_offer_rule_leave_one_out_carry_forward_and_category_fallback() -> None:
    panel = build_panel(_tiny(), TINY)
    assert panel.info["periods"] == 6  # five complete periods and the fortnight after them
    assert panel.info["complete_periods"] == 5
    assert _value(panel, 1, 1, 0, "offer_pct") == pytest.approx(50.0)  # the other buyer's offer
    assert _value(panel, 2, 1, 0, "offer_pct") == pytest.approx(20.0)
    assert _value(panel, 1, 1, 1, "offer_pct") == pytest.approx(35.0)  # alone: carried forward (7 / 20)
    assert _value(panel, 2, 1, 1, "offer_pct") == pytest.approx(0.0)  # not a buyer: consumer 1's 0 %
    assert _value(panel, 2, 2, 0, "offer_pct") == pytest.approx(20.0)  # category A without consumer 2
    assert _value(panel, 2, 2, 2, "offer_pct") == pytest.approx(0.0)  # category A carried from period 1


def test_targets_and_pair_profile_by_hand() -> None:
    panel = build_panel(_tiny(), TINY)
    targets = panel.frame.filter((pl.col("customer_id") == 1) & (pl.col("item_id") == 1)).get_column("target").to_list()
    assert targets == [1, 1, 0, 0, 0, None]  # the future period has no label
    assert _value(panel, 1, 1, 2, "ci_orders") == 2
    assert _value(panel, 1, 1, 2, "ci_streak") == 2
    assert _value(panel, 1, 1, 3, "ci_periods_since_last") == 2
    assert _value(panel, 1, 1, 0, "ci_periods_since_last") == 1  # never: t + 1, whatever follows
    assert _value(panel, 3, 3, 0, "ci_periods_since_last") == 1 and _value(panel, 3, 3, 1, "ci_periods_since_last") == 2
    assert _value(panel, 1, 1, 2, "ci_hist_offer_pct") == pytest.approx(10.0)  # 2 of 20 gross
    assert _value(panel, 1, 1, 3, "lag_target_mean_2") == pytest.approx(0.5)
    assert _value(panel, 2, 1, 1, "c_orders") == 1
    assert _value(panel, 1, 1, 1, "i_buyers_last") == 2
    assert sorted(panel.frame.select("customer_id", "item_id").unique().rows()) == [(1, 1), (2, 1), (2, 2), (3, 3)]


def test_every_feature_is_in_one_of_the_four_groups() -> None:
    panel = build_panel(_tiny(), TINY)
    groups = {f.group for f in panel.features}
    assert groups <= {"static_categorical", "temporal_categorical", "static_continuous", "temporal_continuous"}
    assert {"static_categorical", "temporal_categorical", "temporal_continuous"} <= groups
    for feature in panel.features:
        assert feature.name in panel.frame.columns
        assert panel.frame.get_column(feature.name).null_count() == 0, feature.name  # the future period's too


def _perturb_from(data: RetailData, period: int, anchor: dt.date, *, keep_last_day: bool = True) -> RetailData:
    """Delete half of the lines from `period` on and double the discount of the rest."""
    start = dt.datetime.combine(anchor + dt.timedelta(days=14 * period), dt.time())
    tx = data.transactions
    late = tx.filter(pl.col("timestamp") >= start)
    kept = late.filter(pl.int_range(pl.len()) % 2 == 0).with_columns(
        retail_discount=pl.col("retail_discount") * 2, paid=pl.col("paid") - pl.col("retail_discount")
    )
    last = tx.filter(pl.col("timestamp") == tx.get_column("timestamp").max()).head(1)
    new = pl.concat([tx.filter(pl.col("timestamp") < start), kept, last if keep_last_day else last.clear()])
    return RetailData(transactions=new, items=data.items, customers=data.customers, report=data.report)


def _compare(before, after, period: int, names: list[str]) -> None:
    keys = ["customer_id", "item_id", "period"]
    names = [n for n in names if n not in keys]
    a = before.frame.filter(pl.col("period") <= period).select(keys + names)
    b = after.frame.filter(pl.col("period") <= period).select(keys + names)
    joined = a.join(b.select(keys), on=keys, how="semi").sort(keys)
    assert joined.height > 0
    assert_frame_equal(joined, b.join(a.select(keys), on=keys, how="semi").sort(keys), check_exact=True)


@pytest.mark.parametrize("cut", [10, "validation"])
def test_no_feature_at_or_before_t_sees_transactions_from_t_on(small_sim_dir: Path, cut) -> None:
    data = read_amexpert(small_sim_dir)
    before = build_panel(data, PanelConfig())
    anchor = dt.date.fromisoformat(before.info["anchor"])
    backtest = (pl.col("split") == "validation") & (pl.col("decision") == "backtest")
    t = before.splits.filter(backtest).get_column("period").item() if cut == "validation" else cut
    after = build_panel(_perturb_from(data, t, anchor), PanelConfig())
    assert not before.frame.equals(after.frame)  # the perturbation did change something
    temporal = [f.name for f in before.features if f.group.startswith("temporal")]
    advance = {f.name for f in before.features if f.known_in_advance and f.family in ("price_offer", "interaction")}
    _compare(before, after, t - 1, temporal)
    _compare(before, after, t, [n for n in temporal if n not in advance])
    _compare(before, after, t, [f.name for f in before.features if f.group.startswith("static")])


def test_own_purchase_in_period_t_does_not_move_the_offer_the_consumer_faced(small_sim_dir: Path) -> None:
    data = read_amexpert(small_sim_dir)
    before = build_panel(data, PanelConfig())
    t = before.info["complete_periods"] - 1
    buyer = before.frame.filter((pl.col("period") == t) & (pl.col("target") == 1)).row(0, named=True)
    start = dt.datetime.combine(dt.date.fromisoformat(before.info["anchor"]) + dt.timedelta(days=14 * t), dt.time())
    own = (pl.col("customer_id") == buyer["customer_id"]) & (pl.col("item_id") == buyer["item_id"]) & (pl.col("timestamp") >= start)
    changed = RetailData(transactions=data.transactions.filter(~own), items=data.items, customers=data.customers, report=data.report)
    after = build_panel(changed, PanelConfig())
    mine = (pl.col("customer_id") == buyer["customer_id"]) & (pl.col("period") == t)
    assert after.frame.filter(mine & (pl.col("item_id") == buyer["item_id"])).get_column("target").item() == 0
    assert_frame_equal(before.frame.filter(mine).select("item_id", "offer_pct"), after.frame.filter(mine).select("item_id", "offer_pct"))


def _three_buyers() -> RetailData:
    lines = [
        _line(1, 1, 0, 1.0), _line(2, 1, 1, 3.0), _line(3, 1, 2, 0.0),  # period 0: item 1 at 10, 30 and 0 %
        _line(1, 1, 30, 2.0),  # period 2: item 1, consumer 1 alone
        _line(2, 1, 69, 0.0),  # last day of period 4 fixes the horizon
    ]  # fmt: skip
    items = pl.DataFrame({"item_id": [1], "category": ["A"], "brand": ["x"], "brand_type": ["N"]})
    customers = pl.DataFrame({"customer_id": [1, 2, 3]})
    return RetailData(transactions=pl.DataFrame(lines), items=items, customers=customers, report=LoadReport("three"))


def test_the_inferred_offer_carries_its_sampling_variance_and_a_recorded_one_none() -> None:
    """Delta-method variance of the others' discount rate D / G, clustered by consumer:
    Σ_c (d_c − R g_c)² / G² · n / (n − 1), in offer points²."""
    panel = build_panel(_three_buyers(), TINY)
    # Consumer 1 in period 0: the others are (3 of 10) and (0 of 10): R = 15 %, residuals ±1.5.
    assert _value(panel, 1, 1, 0, "offer_pct") == pytest.approx(15.0)
    assert _value(panel, 1, 1, 0, "offer_noise_var") == pytest.approx(1e4 * (1.5**2 + 1.5**2) / 20**2 * 2 / 1)
    # Period 1: nobody bought, so period 0's rate over all three (4 of 30) is carried, with its variance.
    r = 4 / 30
    expected = 1e4 * ((1 - 10 * r) ** 2 + (3 - 10 * r) ** 2 + (0 - 10 * r) ** 2) / 30**2 * 3 / 2
    assert _value(panel, 1, 1, 1, "offer_pct") == pytest.approx(100 * r, rel=1e-5)
    assert _value(panel, 1, 1, 1, "offer_noise_var") == pytest.approx(expected, rel=1e-5)
    # Period 2: one other buyer cannot measure the variance; the rate itself is still known.
    assert _value(panel, 2, 1, 2, "offer_pct") == pytest.approx(20.0)
    assert _value(panel, 2, 1, 2, "offer_noise_var") is None
    assert "offer_noise_var" not in [f.name for f in panel.features]  # no model reads it

    history = pl.DataFrame(
        {
            "item_id": [1],
            "customer_id": [None],
            "start_date": [ANCHOR.date()],
            "end_date": [ANCHOR.date() + dt.timedelta(days=13)],
            "offer_pct": [25.0],
        },
        schema_overrides={"customer_id": pl.Int64},
    )
    recorded = build_panel(_three_buyers(), TINY, offer_history=history)
    assert _value(recorded, 1, 1, 0, "offer_pct") == pytest.approx(25.0)
    assert _value(recorded, 1, 1, 0, "offer_noise_var") == 0.0
    assert _value(recorded, 1, 1, 1, "offer_noise_var") == pytest.approx(expected, rel=1e-5)  # not recorded: inferred


def test_a_randomised_offer_carries_its_design_mean_and_nothing_else_does() -> None:
    history = pl.DataFrame(
        {
            "item_id": [1, 1],
            "customer_id": [None, 2],
            "start_date": [ANCHOR.date()] * 2,
            "end_date": [ANCHOR.date() + dt.timedelta(days=13)] * 2,
            "offer_pct": [25.0, 40.0],
            "expected_offer_pct": [None, 22.5],
        },
        schema_overrides={"customer_id": pl.Int64},
    )
    panel = build_panel(_three_buyers(), TINY, offer_history=history)
    assert _value(panel, 2, 1, 0, "offer_pct") == pytest.approx(40.0) and _value(panel, 2, 1, 0, "offer_design_mean") == pytest.approx(22.5)
    assert _value(panel, 1, 1, 0, "offer_design_mean") is None  # recorded, not randomised
    assert _value(panel, 2, 1, 1, "offer_design_mean") is None
    assert "offer_design_mean" not in [f.name for f in panel.features]  # no model reads it
