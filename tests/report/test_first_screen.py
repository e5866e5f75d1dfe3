"""The report's first screen (offerwise.report.first_screen): four answers, the status quo named for what it is."""

from __future__ import annotations

import datetime as dt

from offerwise.report.first_screen import first_screen

TOTALS = {"pairs": 1000, "consumers": 120, "offers": 600, "revenue_status_quo": 5000.0, "revenue_plan": 5250.0, "change": 250.0,
          "retention_status_quo": 0.08, "retention_plan": 0.09, "spend_status_quo": 400.0, "spend_plan": 500.0, "interval": False}  # fmt: skip
EXPERIMENT = {"consumers": {"holdout": 12, "plan": 108}, "pairs": {"explore": 40}, "given_up_share": 0.012,
              "power": {"detectable_difference_per_consumer": 3.0, "expected_difference_per_consumer": 0.5}}  # fmt: skip


def _plan(planned_share: float, experiment: dict | None = EXPERIMENT) -> dict:
    return {"planned_share": planned_share, "period_start": dt.date(2026, 1, 5), "period_end": dt.date(2026, 1, 18),
            "offers": "run/recommendations/offers.csv", "experiment": experiment}  # fmt: skip


def test_the_four_answers_with_worth_cost_and_the_holdout() -> None:
    page = first_screen(_plan(0.0), TOTALS, verdict="In the backtest ...", measured=None, level=0.9)
    for anchor in ("what-to-do", "what-it-is-worth", "what-it-costs", "how-to-check-it"):
        assert f"id='{anchor}'" in page
    assert "600 offers to 120 consumers" in page and "40% of them get no offer" in page
    assert "+5.0% net revenue" in page and "with the reference offers: +250" in page and "interval" not in page
    assert "500 discount spend" in page and "(+25.0%)" in page and "gives up 1.2%" in page
    assert (
        "12 consumers held out" in page
        and "one fortnight&#x27;s holdout detects 3.00, so pool fortnights" in page
        and "the model's expectation for a fortnight" in page
    )


def test_the_retailers_plan_is_named_only_where_it_was_given_and_the_interval_shown_where_estimated() -> None:
    page = first_screen(
        _plan(1.0, None), TOTALS | {"interval": True, "change_low": 100.0, "change_high": 400.0}, verdict="v", measured=None, level=0.9
    )
    assert "the retailer&#x27;s plan" in page and "reference offers" not in page
    assert "90% interval +100 to +400" in page and "The backtest only" in page and "experiment.holdout_share = 0" in page


def test_a_measured_fortnight_answers_how_to_check_it() -> None:
    page = first_screen(_plan(0.0), TOTALS, verdict="v", measured="The fortnight ...: plan − holdout +1.20", level=0.9)
    assert "Measured" in page and "plan − holdout +1.20" in page


def test_what_it_is_worth_says_how_the_plan_was_valued() -> None:
    page = first_screen(_plan(0.0), TOTALS, verdict="v", measured=None, level=0.9, valuation="Valued cautiously: ...")
    worth = page[page.index("what-it-is-worth") : page.index("what-it-costs")]
    assert "Valued cautiously" in worth
    assert "Valued cautiously" not in first_screen(_plan(0.0), TOTALS, verdict="v", measured=None, level=0.9)
