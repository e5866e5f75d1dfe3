from __future__ import annotations

import polars as pl
import pytest

from offerwise.features.status_quo import reference_offers, status_quo_offers


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


def test_recent_offers_average_every_offer_of_the_last_four_weeks_zeros_included() -> None:
    panel = pl.DataFrame(
        _rows(1, 1, "30-39", [(2, 1, 40.0), (3, 1, 10.0), (4, 0, 0.0), (5, 0, 99.0)])  # (10 + 0) / 2: bought or not, period 2 too old
        + _rows(1, 2, "30-39", [(5, 0, 99.0)])  # no earlier rows: 0
    )
    sq = status_quo_offers(panel, 5, age_column="demo_age_range").sort("customer_id", "item_id")
    assert sq.get_column("reference_rule").to_list() == ["recent_offers", "recent_offers"]
    assert sq.get_column("reference_offer_pct").to_list() == [5.0, 0.0]  # the decided period's own offer (99) is never read
    paper = status_quo_offers(panel, 5, age_column="demo_age_range", rule="paper").sort("customer_id", "item_id")
    assert paper.get_column("reference_rule").to_list() == ["pair_recent", "age_category_recent"]


def test_a_plan_overrides_either_rule() -> None:
    panel = pl.DataFrame(_rows(1, 1, None, [(4, 1, 20.0), (5, 0, 0.0)]))
    planned = pl.DataFrame({"item_id": [1], "customer_id": [None], "offer_pct": [35.0]}, schema_overrides={"customer_id": pl.Int64})
    for rule in ("recent_offers", "paper"):
        sq = status_quo_offers(panel, 5, age_column=None, planned=planned, rule=rule)
        assert sq.row(0, named=True)["reference_rule"] == "planned" and sq.row(0, named=True)["reference_offer_pct"] == 35.0


def test_stacked_probabilities_keep_the_response_models_slope_and_stay_monotone() -> None:
    import numpy as np

    from offerwise.elasticity.scores import stacked
    from offerwise.optimize.problem import response

    pairs = pl.DataFrame({
        "customer_id": [1, 2], "item_id": [5, 5], "category": ["A", "A"], "reference_offer_pct": [10.0, 0.0],
        "probability": [0.2, 0.6], "probability_at_reference": [0.2, 0.6], "pair_slope": [0.03, 0.0], "elasticity_pair": [0.0, 0.0],
    })  # fmt: skip
    weights = pl.DataFrame(
        {"fold": [0, 0], "category": ["A", "__pooled__"], "w_tcn": [0.2, 0.5], "w_lightgbm": [0.9, 0.5], "intercept": [0.1, 0.0]}
    )
    lightgbm = pl.DataFrame({"customer_id": [1, 2], "item_id": [5, 5], "p_lightgbm": [0.3, 0.5]})
    out = stacked(pairs, weights, lightgbm)
    assert out.get_column("pair_slope").to_list() == [0.03, 0.0]  # the response model's slope, not scaled by w_tcn
    z = 0.2 * np.log(0.2 / 0.8) + 0.9 * np.log(0.3 / 0.7) + 0.1
    assert out.get_column("probability").item(0) == pytest.approx(1 / (1 + np.exp(-z)))
    curve = response("counterfactual", out["probability_at_reference"].to_numpy(), out["reference_offer_pct"].to_numpy(),
                     out["pair_slope"].to_numpy(), np.tile(np.arange(0, 60, 5.0), (2, 1)))  # fmt: skip
    assert (np.diff(curve, axis=1) >= 0).all()  # a deeper offer never lowers the probability


def test_rule_of_a_status_quo_table() -> None:
    from offerwise.features.status_quo import rule_of

    panel = pl.DataFrame(_rows(1, 1, "30-39", [(4, 1, 20.0), (5, 0, 0.0)]))
    for rule in ("recent_offers", "paper"):
        assert rule_of(status_quo_offers(panel, 5, age_column="demo_age_range", rule=rule)) == rule
